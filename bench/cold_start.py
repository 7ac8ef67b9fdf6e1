"""`python -m bench.cold_start [--baseline REF] [--runs 5]`: cold start to the first CLI answer,
this checkout beside another commit's code, on the same built index.

Each run is a fresh `qa ask` process (wall seconds, its own user+sys CPU seconds and peak RSS
from wait4); the codes alternate run by run so that all see the same machine load, and the load
average is printed with the figures. The `qa` package of the baseline (`git archive`) and of this
checkout (its working tree) are copied into a temporary folder and run with this environment's
packages, each twice: from source, as a process with PYTHONDONTWRITEBYTECODE set runs it (it
never caches bytecode; this machine's shells set it), and compiled beforehand, as an installed
package (or scripts/setup.sh's compileall) runs it. Corpus, index and model are given
explicitly, so all read the same index (it must be current: run `qa build` first).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qa.config import DEFAULT_EMBED_MODEL

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "张家窝镇研发投入强度目标是多少？"
LAUNCH = "import sys; from qa.app.cli import main; sys.exit(main())"


def export(ref: str | None, into: Path, compiled: bool) -> Path:
    """The `qa` package of `ref` (None: this working tree) in a folder of its own, without
    bytecode, or `compiled` into bytecode beforehand."""
    into.mkdir(parents=True)
    if ref is None:
        shutil.copytree(ROOT / "qa", into / "qa", ignore=shutil.ignore_patterns("__pycache__"))
    else:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "qa"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    if compiled:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(into / "qa")], check=True)
    return into


def one_run(code_dir: Path, args: argparse.Namespace) -> dict:
    """One cold `qa ask` process running the `qa` package found in `code_dir`."""
    cmd = [sys.executable, "-c", LAUNCH, "--corpus", str(args.corpus), "--index", str(args.index),
           "ask", "--json", args.question]
    env = {**os.environ, "PYTHONPATH": str(code_dir), "QA_EMBED_MODEL": args.model,
           "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=code_dir, env=env)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"qa ask failed in {code_dir}")
    answer = json.loads(out.decode("utf-8").strip().splitlines()[-1])
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
            "answer": answer["answer"]}


def summary(name: str, runs: list[dict]) -> str:
    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    walls = " ".join(f"{r['wall']:.2f}" for r in runs)
    return (f"| {name} | {len(runs)} | {med('wall'):.2f} | {med('cpu'):.2f} | {med('rss_mb'):.0f} | "
            f"{min(r['wall'] for r in runs):.2f} | {walls} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.cold_start", description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="main", help="git ref whose code runs beside this checkout's")
    parser.add_argument("--runs", type=int, default=5, help="cold processes per code (median reported)")
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--index", type=Path, default=ROOT / "index")
    parser.add_argument("--model", default=os.environ.get("QA_EMBED_MODEL", DEFAULT_EMBED_MODEL))
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="qa-cold-"))
    try:
        codes = {f"{name}{' + bytecode' if compiled else ''}": export(ref, scratch / f"{name}-{compiled}", compiled)
                 for compiled in (False, True)
                 for name, ref in ((f"baseline {args.baseline}", args.baseline), ("this checkout", None))}
        for code_dir in codes.values():  # warm the page cache and the per-machine caches
            one_run(code_dir, args)
        runs: dict[str, list[dict]] = {name: [] for name in codes}
        load_before = os.getloadavg()
        for _ in range(args.runs):
            for name, code_dir in codes.items():
                runs[name].append(one_run(code_dir, args))
        load_after = os.getloadavg()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    answers = {r["answer"] for rs in runs.values() for r in rs}
    print(f"`{' '.join(['python -m bench.cold_start', *(argv if argv is not None else sys.argv[1:])])}` — "
          f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPU, load average "
          f"{' / '.join(f'{x:.2f}' for x in load_before)} before, "
          f"{' / '.join(f'{x:.2f}' for x in load_after)} after; question “{args.question}”")
    print()
    print("| code | runs | wall s (median) | CPU s user+sys (median) | peak RSS MB | best wall s | every wall s |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, rs in runs.items():
        print(summary(name, rs))
    print()
    print("same answer in every run" if len(answers) == 1 else f"ANSWERS DIFFER: {sorted(answers)}")
    return 0 if len(answers) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
