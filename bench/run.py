"""`python -m bench.run [--scales 1,10,100 | --quick]`: every figure of issue #6 in one run.

Per scale: a synthetic corpus (bench.scale), a full build, an incremental rebuild after one
appended paragraph, a cold `qa ask`, then floor / retrieval / answer latencies and the peer,
each in its own subprocess so its peak RSS is its own. Figures are printed side by side,
plotted to docs/bench.png and written to bench/RESULTS.md with the checks of the issue.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.scale import append_paragraph, make_corpus
from qa.config import DEFAULT_EMBED_MODEL

ROOT = Path(__file__).resolve().parent.parent
GOLD = ROOT.parent / "shared" / "eval" / "dev.jsonl"
COLD_QUESTION = "张家窝镇“十五五”期间要新建哪些学校？"


def run_child(cmd: list[str], env: dict | None = None) -> tuple[dict | None, float, float, str]:
    """Run one child; (its last JSON line, wall seconds, its own peak RSS in MB, stderr tail)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT,
                                env={**os.environ, "TQDM_DISABLE": "1", **(env or {})})
        try:
            _, status, usage = os.wait4(proc.pid, 0)  # per-child rusage, unlike RUSAGE_CHILDREN
        except KeyboardInterrupt:
            proc.kill()
            raise
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        lines = out.read().decode("utf-8", "replace").strip().splitlines()
        tail = err.read().decode("utf-8", "replace")[-600:]
    data = None
    if proc.returncode == 0 and lines:
        try:
            data = json.loads(lines[-1])
        except ValueError:
            data = None
    return data, wall, usage.ru_maxrss / 1024, tail


def worker(task: str, corpus: Path, index: Path, passes: int, *extra: str, model: str = "lsa"):
    cmd = [sys.executable, "-m", "bench.worker", task, "--corpus", str(corpus), "--index", str(index),
           "--gold", str(GOLD), "--passes", str(passes), "--embed-model", model, *extra]
    data, wall, rss, tail = run_child(cmd)
    if data is None:
        raise RuntimeError(f"bench worker {task} failed (exit or OOM kill; peak RSS {rss:.0f} MB):\n{tail}")
    data["rss_mb"], data["wall_s"] = rss, wall
    return data


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def model_label(model: str) -> str:
    return "lsa" if model == "lsa" else "e5" if model == DEFAULT_EMBED_MODEL else Path(model).name


def measure_scale(factor: int, work: Path, passes: int, peer: bool, log, model: str = "lsa") -> dict:
    label = model_label(model)
    corpus, index = work / f"x{factor}" / "corpus", work / f"x{factor}" / f"index-{label}"
    if not corpus.exists():
        make_corpus(ROOT / "corpus", corpus, factor)
    row: dict = {"model": label, "scale": factor,
                 "corpus_mb": sum(p.stat().st_size for p in corpus.iterdir()) / 2**20}
    log(f"[{factor}× {label}] full build …")
    full = worker("build", corpus, index, passes, "--force", model=model)
    row.update(passages=full["passages"], build_s=full["seconds"], build_rss_mb=full["rss_mb"],
               build_wall_s=full["wall_s"])
    row["index_mb"] = sum(p.stat().st_size for p in index.rglob("*") if p.is_file()) / 2**20
    row["passages_mb"] = (index / "passages.sqlite").stat().st_size / 2**20
    snapshot = {p: p.read_bytes() for p in corpus.iterdir()}
    append_paragraph(corpus)
    log(f"[{factor}× {label}] incremental rebuild …")
    inc = worker("build", corpus, index, passes, model=model)
    row.update(incremental_s=inc["seconds"], incremental_rss_mb=inc["rss_mb"],
               incremental_wall_s=inc["wall_s"], reused_documents=inc["reused"])
    try:
        _serving(row, factor, corpus, index, passes, peer, log, model)
    except RuntimeError as exc:  # e.g. the OOM killer: keep the build figures of this scale
        row["error"] = str(exc).strip().splitlines()[0]
        log(f"[{factor}×] {row['error']}")
    for path, data in snapshot.items():  # the next model starts from the same corpus
        path.write_bytes(data)
    return row


def _serving(row: dict, factor: int, corpus: Path, index: Path, passes: int, peer: bool, log,
             model: str = "lsa") -> None:
    """Cold start, then warm latencies and the peer; fills `row`."""
    log(f"[{factor}×] cold start …")
    qa = [sys.executable, "-m", "qa.app.cli", "--corpus", str(corpus), "--index", str(index),
          "ask", "--json", COLD_QUESTION]
    data, wall, rss, tail = run_child(qa, {"QA_EMBED_MODEL": model})
    if data is None:
        raise RuntimeError(f"cold qa ask failed (peak RSS {rss:.0f} MB):\n{tail}")
    row.update(cold_start_s=wall, cold_rss_mb=rss)
    log(f"[{factor}×] latencies (floor, retrieval, answer) …")
    serve = worker("serve", corpus, index, passes, model=model)
    row.update(serve_load_s=serve["load_s"], serve_rss_mb=serve["rss_mb"])
    for name in ("floor", "retrieval", "answer"):
        row[f"{name}_p50"], row[f"{name}_p95"] = pct(serve[name], 0.5), pct(serve[name], 0.95)
    row["answer_first_p50"] = pct(serve["answer"][:serve["questions"]], 0.5)
    row.update(dev_accuracy=serve["accuracy"], dev_false_abstain=serve["false_abstain"])
    if peer:
        log(f"[{factor}×] peer …")
        p = worker("peer", corpus, index, passes)
        row.update(peer_build_s=p["build_s"], peer_rss_mb=p["rss_mb"],
                   peer_p50=pct(p["answer"], 0.5), peer_p95=pct(p["answer"], 0.95))


COLUMNS = [("model", "model", "{}"), ("scale", "×", "{:d}"), ("passages", "passages", "{:d}"), ("corpus_mb", "corpus MB", "{:.1f}"),
           ("dev_accuracy", "dev acc %", "{:.1f}"), ("dev_false_abstain", "false abstain %", "{:.1f}"),
           ("floor_p50", "floor p50", "{:.2f}"), ("floor_p95", "floor p95", "{:.2f}"),
           ("retrieval_p50", "retr p50", "{:.2f}"), ("retrieval_p95", "retr p95", "{:.2f}"),
           ("answer_p50", "answer p50", "{:.2f}"), ("answer_p95", "answer p95", "{:.2f}"),
           ("answer_first_p50", "answer p50 1st pass", "{:.2f}"), ("peer_p50", "peer p50", "{:.1f}"), ("peer_p95", "peer p95", "{:.1f}"),
           ("build_s", "build s", "{:.2f}"), ("incremental_s", "incr s", "{:.2f}"),
           ("build_wall_s", "build wall s", "{:.1f}"), ("incremental_wall_s", "incr wall s", "{:.1f}"),
           ("cold_start_s", "cold ask s", "{:.1f}"), ("peer_build_s", "peer build s", "{:.1f}"),
           ("build_rss_mb", "build RSS MB", "{:.0f}"), ("serve_rss_mb", "serve RSS MB", "{:.0f}"),
           ("cold_rss_mb", "cold RSS MB", "{:.0f}"), ("peer_rss_mb", "peer RSS MB", "{:.0f}"),
           ("passages_mb", "passage store MB", "{:.1f}"), ("index_mb", "index MB", "{:.1f}")]


def table(rows: list[dict]) -> str:
    """Markdown table, latencies in ms; scales as rows so figures sit side by side."""
    head = "| " + " | ".join(label for _, label, _ in COLUMNS) + " |"
    lines = [head, "|" + "---:|" * len(COLUMNS)]
    for row in rows:
        cells = [fmt.format(row[key]) if isinstance(row.get(key), (int, float, str)) else "-"
                 for key, _, fmt in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def checks(rows: list[dict]) -> list[tuple[str, bool | None, str]]:
    """The done-when criteria of issues #6 and #11: (criterion, holds, figures)."""
    out = []
    for row in rows:  # issue 11: the floor includes one query embedding by the same model
        if row["scale"] == 1 and "answer_p50" in row:
            out.append((f"full-answer p50 ≤ 2× the floor ({row['model']}, 1×)",
                        row["answer_p50"] <= 2 * row["floor_p50"],
                        f"{row['answer_p50']:.2f} ms vs floor {row['floor_p50']:.2f} ms"))
    for row in rows:
        out.append((f"incremental rebuild ≤ 20% of full build ({row['model']}, {row['scale']}×)",
                    row["incremental_s"] <= 0.2 * row["build_s"],
                    f"{row['incremental_s']:.2f} s vs {row['build_s']:.2f} s "
                    f"({100 * row['incremental_s'] / row['build_s']:.0f}%)"))
    models = list(dict.fromkeys(r.get("model") for r in rows))
    for model in models:  # each model's own smallest and largest scale
        out += _scale_checks([r for r in rows if r.get("model") == model],
                             f" ({model})" if len(models) > 1 else "")
    return out


def _scale_checks(rows: list[dict], label: str) -> list[tuple[str, bool | None, str]]:
    """One model's rows, smallest scale first: the peer, floor, scaling and memory criteria."""
    out = []
    base, top = rows[0], rows[-1]
    if "peer_p50" in base:
        out.append((f"full-answer p50 ≤ 1/3 of the peer's (1×){label}", base["answer_p50"] <= base["peer_p50"] / 3,
                    f"{base['answer_p50']:.1f} ms vs peer {base['peer_p50']:.1f} ms"))
    out.append((f"retrieval p50 ≤ 2× the floor (1×){label}", base["retrieval_p50"] <= 2 * base["floor_p50"],
                f"{base['retrieval_p50']:.2f} ms vs floor {base['floor_p50']:.2f} ms"))
    if "error" in top:
        out.append((f"serving at {top['scale']}×{label}", False, top["error"]))
    elif top is not base:
        out.append((f"query p50 at {top['scale']}× ≤ 3× the 1× figure{label}",
                    top["answer_p50"] <= 3 * base["answer_p50"],
                    f"answer {top['answer_p50']:.1f} vs {base['answer_p50']:.1f} ms; "
                    f"retrieval {top['retrieval_p50']:.1f} vs {base['retrieval_p50']:.1f} ms"))
    peak = max(top.get(k, 0) for k in ("build_rss_mb", "incremental_rss_mb", "serve_rss_mb", "cold_rss_mb"))
    out.append((f"peak RSS ≤ 2 GB at {top['scale']}×{label}", peak <= 2048, f"{peak:.0f} MB (max of build, "
                f"rebuild, cold ask, serving)"))
    return out


def _plot_series(ax, scales: list[int], rows: list[dict], series) -> None:
    for key, label in series:
        if key in rows[0]:
            ax.plot(scales, [r.get(key, float("nan")) for r in rows], "o-", label=label)


def plot(rows: list[dict], path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scales = [r["scale"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    ax = axes[0]
    for key, label in (("floor", "floor (raw FAISS+bm25s)"), ("retrieval", "retrieval"),
                       ("answer", "full answer"), ("peer", "peer (stock llama-index)")):
        if f"{key}_p50" in rows[0]:
            ax.plot(scales, [r.get(f"{key}_p50", float("nan")) for r in rows], "o-", label=f"{label} p50")
            ax.plot(scales, [r.get(f"{key}_p95", float("nan")) for r in rows], "x:", color=ax.lines[-1].get_color(),
                    label=f"{label} p95")
    ax.set(xscale="log", yscale="log", xlabel="corpus ×", ylabel="ms", title="query latency")
    ax.legend(fontsize=7)
    ax = axes[1]
    _plot_series(ax, scales, rows, (("build_s", "full build"), ("incremental_s", "incremental rebuild"),
                                    ("cold_start_s", "cold start → first answer"),
                                    ("peer_build_s", "peer build")))
    ax.set(xscale="log", yscale="log", xlabel="corpus ×", ylabel="s", title="build and start")
    ax.legend(fontsize=7)
    ax = axes[2]
    _plot_series(ax, scales, rows, (("build_rss_mb", "build"), ("serve_rss_mb", "serving"),
                                    ("cold_rss_mb", "cold ask"), ("peer_rss_mb", "peer")))
    ax.axhline(2048, color="red", lw=0.8, ls="--", label="2 GB")
    ax.set(xscale="log", xlabel="corpus ×", ylabel="MB", title="peak RSS")
    ax.legend(fontsize=7)
    fig.suptitle(f"planning-qa benchmarks ({os.cpu_count()} CPU, {platform.python_version()})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def report(rows: list[dict], command: str, seconds: float) -> str:
    lines = [f"Command: `{command}` ({seconds / 60:.1f} min, {os.cpu_count()} CPU, "
             f"{time.strftime('%Y-%m-%d %H:%M')}; latencies in ms over {GOLD.name}, caches cleared "
             "before every timed call)", "", table(rows), "", "| criterion | holds | figures |", "|---|---|---|"]
    for name, ok, figures in checks(rows):
        lines.append(f"| {name} | {'yes' if ok else 'NO'} | {figures} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1,10,100", help="corpus multiples, e.g. 1,10,100")
    parser.add_argument("--quick", action="store_true", help="scales 1,10 and one pass")
    parser.add_argument("--passes", type=int, default=3, help="passes over the dev questions")
    parser.add_argument("--peer-scales", help="scales at which to run the peer (default: all)")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temp dir, removed)")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "bench.png")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument("--models", default="lsa",
                        help="embedders side by side: lsa, e5 (the converted default) or a path")
    args = parser.parse_args(argv)
    scales = [1, 10] if args.quick else [int(s) for s in args.scales.split(",")]
    passes = 1 if args.quick else args.passes
    peer_scales = set(scales if args.peer_scales is None else
                      [int(s) for s in args.peer_scales.split(",") if s])
    work = args.work or Path(tempfile.mkdtemp(prefix="qa-bench-"))
    log = lambda msg: print(msg, file=sys.stderr, flush=True)
    started = time.perf_counter()
    rows: list[dict] = []
    try:
        models = [DEFAULT_EMBED_MODEL if m == "e5" else m for m in args.models.split(",")]
        for factor, model in [(f, m) for f in scales for m in models]:
            try:
                rows.append(measure_scale(factor, work, passes, factor in peer_scales, log, model))
            except RuntimeError as exc:  # e.g. a worker killed by the OOM killer: keep the rest
                log(f"[{factor}×] stopped: {exc}")
                break
            if args.work:  # figures survive a later scale's failure
                (args.work / "rows.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    if not rows:
        return 1
    command = "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:])
    text = report(rows, command.strip(), time.perf_counter() - started)
    print(text)
    if args.results:
        old = args.results.read_text(encoding="utf-8") if args.results.exists() else ""
        notes = old[old.find("\n## Findings"):] if "\n## Findings" in old else ""  # hand-written
        args.results.write_text("# Benchmark results\n\n" + text + "\n" + notes, encoding="utf-8")
    if args.plot:
        log(f"plot: {plot(rows, args.plot)}")
    return 0 if len(rows) == len(scales) else 1


if __name__ == "__main__":
    sys.exit(main())
