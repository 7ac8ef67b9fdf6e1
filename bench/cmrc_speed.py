"""`python -m bench.cmrc_speed [--baseline REF] [--runs 2] [--passages 200]`: the one-process CMRC
check (`cmrc_check.py --passages 200`: index built inside `qa ask --json --batch`), wall time and
stages, this checkout beside another commit's code in one run.

The corpus and questions are those cmrc_check.py writes (the first N passages of the CMRC 2018
dev set, one .txt each). Each run is a fresh process with an empty index folder; the codes
alternate run by run so that both see the same machine load (printed with the figures). The
`qa` package of each (bench.cold_start.export) runs with this environment's packages and model.
CPU is user+sys of the process and of every process it started (the e5 encoder's child, reaped
here as their subreaper). Stages are timed inside the process by wrapping the functions that
exist in that code: start offset and wall seconds (a build's stages overlap where the code runs
them concurrently). The answers of both codes are scored as cmrc_check.py scores them.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

from bench.cold_start import ROOT, export
from qa.config import DEFAULT_EMBED_MODEL

CMRC_DEV = ROOT.parent / "shared" / "bench" / "cmrc2018" / "cmrc2018_dev.json"
# stage → the functions timed for it (module, qualified name); absent ones are skipped
STAGES = {
    "build": [("qa.index.build", "_build")],
    "read + chunk": [("qa.ingest.loading", "scan_corpus"), ("qa.index.build", "_chunk")],
    "e5 passages": [("qa.index.reuse", "vectors")],  # its first call: the model's vectors
    "LSA fit": [("qa.index.lsa", "LSAEmbedder.fit")],
    "commitments": [("qa.commitments.database", "build_commitments")],
    "prepare questions": [("qa.app.api", "Assistant.prepare")],
    "batch (prepare + answers)": [("qa.app.cli", "_batch")],
}
LAUNCH = """
import functools, importlib, json, os, sys, time
T0 = time.perf_counter()
stages = {}
def wrap(stage, module, name):
    try:
        owner = importlib.import_module(module)
        *path, attr = name.split(".")
        for part in path:
            owner = getattr(owner, part)
        function = getattr(owner, attr)
    except (ImportError, AttributeError):
        return
    @functools.wraps(function)
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            stages.setdefault(stage, []).append([started - T0, time.perf_counter() - started])
    setattr(owner, attr, timed)
for stage, functions in json.loads(os.environ["BENCH_STAGES"]).items():
    for module, name in functions:
        wrap(stage, module, name)
from qa.app.cli import main
try:
    code = main()
finally:
    stages["process"] = [[0.0, time.perf_counter() - T0]]
    with open(os.environ["BENCH_STAGES_OUT"], "w") as handle:
        json.dump(stages, handle)
sys.exit(code)
"""


def write_corpus(folder: Path, cmrc: Path, passages: int) -> list[dict]:
    """cmrc_check.py's corpus and questions; returns the gold (id, doc, reference answers)."""
    data = json.loads(cmrc.read_text(encoding="utf-8"))
    (folder / "corpus").mkdir(parents=True)
    gold, n = [], 0
    for paragraph in (p for article in data["data"] for p in article["paragraphs"]):
        if n >= passages:
            break
        n += 1
        name = f"p{n:04d}.txt"
        (folder / "corpus" / name).write_text(paragraph["context"].strip() + "\n", encoding="utf-8")
        gold += [{"id": q["id"], "question": q["question"], "doc": name,
                  "refs": [a["text"] for a in q["answers"]]} for q in paragraph["qas"]]
    with open(folder / "q.jsonl", "w", encoding="utf-8") as handle:
        for g in gold:
            handle.write(json.dumps({"id": g["id"], "question": g["question"]}, ensure_ascii=False) + "\n")
    return gold


def score(gold: list[dict], output: str) -> dict:
    """cmrc_check.py's figures: document recall@1/@5, containment, abstention rate."""
    def norm(text: str) -> str:
        return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or "").lower())

    def strip(text: str) -> str:
        return re.sub(r"\[\d+(?:[,，]\s*\d+)*\]", "", text or "")

    pred = {}
    for line in output.splitlines():
        record = json.loads(line)
        pred[record.get("id")] = record
    h1 = h5 = contained = abstained = 0
    for g in gold:
        p = pred.get(g["id"], {})
        docs = [Path(x.get("doc", "")).name for x in (p.get("retrieved") or [])]
        h1 += docs[:1] == [g["doc"]]
        h5 += g["doc"] in docs[:5]
        answer = norm(strip(p.get("answer", "")))
        abstained += bool(p.get("abstained"))
        contained += ((not p.get("abstained")) and len(answer) <= 400
                      and any(norm(r) in answer for r in g["refs"]))
    q = max(1, len(gold))
    return {"recall@1": 100 * h1 / q, "recall@5": 100 * h5 / q, "containment": 100 * contained / q,
            "abstain": 100 * abstained / q}


def one_run(code_dir: Path, folder: Path, gold: list[dict], model: str) -> dict:
    """One `qa ask --json --batch` process on an empty index folder, as cmrc_check.py runs it."""
    index, stages_out = folder / "index", folder / "stages.json"
    shutil.rmtree(index, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(code_dir), "QA_EMBED_MODEL": model,
           "QA_CORPUS_DIR": str(folder / "corpus"), "QA_INDEX_DIR": str(index),
           "BENCH_STAGES": json.dumps(STAGES), "BENCH_STAGES_OUT": str(stages_out)}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, "ask", "--json", "--batch",
                             str(folder / "q.jsonl")], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, cwd=code_dir, env=env)
    output = proc.stdout.read().decode("utf-8")
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    cpu = usage.ru_utime + usage.ru_stime
    while True:  # the encoder's child, orphaned when the qa process exited: reaped here
        try:
            _, _, orphan = os.wait4(-1, 0)
        except ChildProcessError:
            break
        cpu += orphan.ru_utime + orphan.ru_stime
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"qa ask --batch failed in {code_dir}")
    stages = json.loads(stages_out.read_text())
    return {"wall": wall, "cpu": cpu, "stages": stages, **score(gold, output)}


def stage_cells(runs: list[dict]) -> list[str]:
    """Per stage, the median start offset and wall seconds (summed over its calls)."""
    cells = []
    for stage in [*STAGES, "process"]:
        found = [r["stages"][stage] for r in runs if stage in r["stages"]]
        if not found:
            cells.append("–")
            continue
        starts = [min(c[0] for c in calls) for calls in found]
        if stage == "e5 passages":  # the call that started first (the LSA's follows or overlaps)
            walls = [min(calls)[1] for calls in found]
        else:
            walls = [sum(c[1] for c in calls) for calls in found]
        cells.append(f"{statistics.median(walls):.1f} (at {statistics.median(starts):.1f})")
    return cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.cmrc_speed", description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="main", help="git ref whose code runs beside this checkout's")
    parser.add_argument("--runs", type=int, default=2, help="processes per code (medians reported)")
    parser.add_argument("--passages", type=int, default=200)
    parser.add_argument("--cmrc", type=Path, default=CMRC_DEV, help="the CMRC 2018 dev set (JSON)")
    parser.add_argument("--model", default=os.environ.get("QA_EMBED_MODEL", DEFAULT_EMBED_MODEL))
    args = parser.parse_args(argv)
    libc = ctypes.CDLL(None)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphaned grandchildren come back here
    scratch = Path(tempfile.mkdtemp(prefix="qa-cmrc-speed-"))
    try:
        gold = write_corpus(scratch / "cmrc", args.cmrc, args.passages)
        codes = {f"baseline {args.baseline}": export(args.baseline, scratch / "baseline", True),
                 "this checkout": export(None, scratch / "current", True)}
        runs: dict[str, list[dict]] = {name: [] for name in codes}
        load_before = os.getloadavg()
        for _ in range(args.runs):
            for name, code_dir in codes.items():
                runs[name].append(one_run(code_dir, scratch / "cmrc", gold, args.model))
        load_after = os.getloadavg()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"`{' '.join(['python -m bench.cmrc_speed', *(argv if argv is not None else sys.argv[1:])])}` — "
          f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPU, load average "
          f"{' / '.join(f'{x:.2f}' for x in load_before)} before, "
          f"{' / '.join(f'{x:.2f}' for x in load_after)} after; {args.passages} passages, "
          f"{len(gold)} questions, one process each")
    print()
    print("| code | wall s (median) | every wall s | CPU s incl. children | recall@1 / @5 | containment | abstain |")
    print("|---|---:|---|---:|---|---:|---:|")
    for name, rs in runs.items():
        med = {key: statistics.median(r[key] for r in rs)
               for key in ("wall", "cpu", "recall@1", "recall@5", "containment", "abstain")}
        walls = " ".join(f"{r['wall']:.1f}" for r in rs)
        print(f"| {name} | {med['wall']:.1f} | {walls} | {med['cpu']:.1f} | "
              f"{med['recall@1']:.1f} / {med['recall@5']:.1f} | {med['containment']:.1f} | "
              f"{med['abstain']:.1f} |")
    print()
    print("Stages, wall s (at: start, s after the process began; median of the runs):")
    print()
    print("| code | " + " | ".join([*STAGES, "process"]) + " |")
    print("|---|" + "---:|" * (len(STAGES) + 1))
    for name, rs in runs.items():
        print(f"| {name} | " + " | ".join(stage_cells(rs)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
