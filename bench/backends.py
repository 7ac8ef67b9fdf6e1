"""`python -m bench.backends [--scales 1,100]`: the two search back ends side by side.

Per scale (bench.scale's synthetic k× corpus, replica 0 the real documents) and per back end
(embedded FAISS + bm25s; Milvus Lite in a local .db): a full build, then a serving process that
answers the dev questions, each in its own subprocess so its peak RSS is its own. Prints build
time, retrieval and answer p50/p95, peak RSS, disk, dev accuracy and how often both back ends
put the same documents in a question's top 5; writes the table to bench/BACKENDS.md.

    nice -n 10 .venv/bin/python -m bench.backends --scales 1,100
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.run import GOLD, ROOT, run_child
from bench.scale import make_corpus

BACKENDS = ("embedded", "milvus")
OUT = ROOT / "bench" / "BACKENDS.md"


def config_for(corpus: Path, index: Path, backend: str):
    from qa.config import Config

    return Config(corpus_dir=corpus, index_dir=index, embed_model="lsa", search_backend=backend,
                  milvus_uri=str(index.parent / "milvus" / "milvus.db"))


def disk_mb(*paths: Path) -> float:
    return sum(f.stat().st_size for p in paths if p.exists() for f in p.rglob("*") if f.is_file()) / 2**20


def task_build(corpus: Path, index: Path, backend: str, passes: int) -> dict:
    from qa.index.build import ensure_index

    config = config_for(corpus, index, backend)
    started = time.perf_counter()
    report = ensure_index(config, force=True, progress=False)
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    return {"seconds": time.perf_counter() - started, "passages": report.passages,
            "publish_s": manifest.get("milvus", {}).get("seconds", 0.0),
            "index_mb": disk_mb(index), "milvus_mb": disk_mb(index.parent / "milvus")}


def task_serve(corpus: Path, index: Path, backend: str, passes: int) -> dict:
    from bench.worker import answer_quality, questions, timed
    from qa.app.api import Assistant
    from qa.search.query import analyse

    assistant = Assistant(config_for(corpus, index, backend), progress=False)
    answerer = assistant.answerer
    answerer.ask("张家窝镇一般公共预算收入是多少？")  # warm every path
    qs = questions(GOLD)
    out = {"retrieval": [], "answer": [], "top5": {}}
    for _ in range(passes):
        for q in qs:
            out["answer"].append(timed(answerer, answerer.ask, q))
            out["retrieval"].append(timed(answerer, lambda: answerer.retriever.retrieve_query(
                analyse(q, assistant.index))))
    for q in qs:
        found = answerer.retriever.retrieve_query(analyse(q, assistant.index))[:5]
        out["top5"][q] = sorted({n.node.metadata["doc"] for n in found})
    out.update(answer_quality(answerer, GOLD))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))] if ordered else 0.0


def measure(scale: int, work: Path, passes: int) -> list[dict]:
    corpus = make_corpus(ROOT / "corpus", work / f"corpus-{scale}", scale)
    rows = []
    for backend in BACKENDS:
        index = work / f"{backend}-{scale}" / "index"
        index.parent.mkdir(parents=True, exist_ok=True)
        results = {}
        for task in ("build", "serve"):
            cmd = [sys.executable, "-m", "bench.backends", "--worker", task, "--corpus", str(corpus),
                   "--index", str(index), "--backend", backend, "--passes", str(passes)]
            data, wall, rss, tail = run_child(cmd)
            if data is None:
                raise RuntimeError(f"{backend} {task} at {scale}× failed (peak RSS {rss:.0f} MB):\n{tail}")
            results[task] = data | {"rss_mb": rss, "wall_s": wall}
        b, s = results["build"], results["serve"]
        rows.append({"scale": scale, "backend": backend, "passages": b["passages"],
                     "build_s": b["seconds"], "publish_s": b["publish_s"], "build_rss_mb": b["rss_mb"],
                     "serve_rss_mb": s["rss_mb"], "index_mb": b["index_mb"], "milvus_mb": b["milvus_mb"],
                     "retr_p50": percentile(s["retrieval"], 50), "retr_p95": percentile(s["retrieval"], 95),
                     "answer_p50": percentile(s["answer"], 50), "answer_p95": percentile(s["answer"], 95),
                     "accuracy": s["accuracy"], "top5": s["top5"]})
        shutil.rmtree(index.parent, ignore_errors=True)
    base = rows[0]["top5"]
    for row in rows:
        row["top5_agree"] = 100.0 * sum(row["top5"][q] == base[q] for q in base) / max(1, len(base))
    return rows


COLUMNS = [("scale", "×", "{}"), ("backend", "back end", "{}"), ("passages", "passages", "{}"),
           ("build_s", "build s", "{:.1f}"), ("publish_s", "of which Milvus publish s", "{:.1f}"),
           ("build_rss_mb", "build RSS MB", "{:.0f}"), ("serve_rss_mb", "serve RSS MB", "{:.0f}"),
           ("index_mb", "index dir MB", "{:.0f}"), ("milvus_mb", "Milvus data MB", "{:.0f}"),
           ("retr_p50", "retrieval p50 ms", "{:.1f}"), ("retr_p95", "retrieval p95 ms", "{:.1f}"),
           ("answer_p50", "answer p50 ms", "{:.1f}"), ("answer_p95", "answer p95 ms", "{:.1f}"),
           ("accuracy", "dev acc %", "{:.1f}"), ("top5_agree", "top-5 docs = embedded %", "{:.1f}")]


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(c[1] for c in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(fmt.format(r[key]) for key, _, fmt in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def write_part(title: str | None, body: str) -> None:
    """Replace one part of bench/BACKENDS.md, keeping the others: the part before the first
    `## ` heading (title None: this bench's table), or the part under `## {title}`."""
    text = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
    parts = text.split("\n## ")
    head, rest = parts[0], ["## " + p for p in parts[1:]]
    if title is None:
        head = body.rstrip("\n") + "\n"
    else:
        part = f"## {title}\n\n{body.rstrip()}\n"
        found = [i for i, p in enumerate(rest) if p.startswith(f"## {title}\n")]
        if found:
            rest[found[0]] = part
        else:
            rest.append(part)
    OUT.write_text("\n".join([head] + [p.rstrip("\n") + "\n" for p in rest]), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="两种检索后端并排测量")
    parser.add_argument("--scales", default="1,100")
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--worker", choices=("build", "serve"))
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--index", type=Path)
    parser.add_argument("--backend", choices=BACKENDS)
    parser.add_argument("--no-write", action="store_true", help="不写 bench/BACKENDS.md")
    args = parser.parse_args(argv)
    if args.worker:
        from bench.worker import vm_hwm_mb

        task = {"build": task_build, "serve": task_serve}[args.worker]
        result = task(args.corpus, args.index, args.backend, args.passes)
        print(json.dumps(result | {"vm_hwm_mb": vm_hwm_mb()}, ensure_ascii=False))
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="qa-backends-") as work:
        for scale in (int(s) for s in args.scales.split(",")):
            rows += measure(scale, Path(work), args.passes)
    text = table(rows)
    print(text)
    if not args.no_write:
        write_part(None, f"# Search back ends side by side\n\n`nice -n 10 .venv/bin/python -m bench.backends "
                         f"--scales {args.scales}` on {platform.machine()} ({time.strftime('%Y-%m-%d %H:%M')}), "
                         f"dev questions × {args.passes} passes; Milvus = Milvus Lite "
                         f"(embedded .db), LSA vectors.\n\n{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
