"""`python -m bench.milvus_fusion [--scale 100]`: who fuses the Milvus back end's rankings.

One index built with QA_SEARCH_BACKEND=milvus (bench.scale's synthetic k× corpus) holds both back
ends' data (the index folder's bm25s and FAISS files, and the Milvus Lite collection), so the
three retrievers below search the same passages:
- embedded: bm25s + FAISS, fused in-process (the default back end);
- milvus client (QA_MILVUS_FUSION=client, the default): each Milvus request on its own, fused
  here as the embedded back end fuses;
- milvus rrf (QA_MILVUS_FUSION=rrf): one hybrid_search with Milvus's RRFRanker.
For the dev questions and our gold questions: how often each Milvus fusion puts the same
documents in a question's top 5 as the embedded back end, retrieval p50/p95, and accuracy on
the dev set and on our gold.

    nice -n 10 .venv/bin/python -m bench.milvus_fusion --scale 100
    (--corpus DIR --index DIR: an index built already; the Milvus Lite file beside it, as bench.backends puts it)
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench.backends import config_for, percentile, write_part
from bench.run import GOLD, ROOT

OURS = ROOT / "eval" / "questions.jsonl"
VARIANTS = (("embedded", "embedded", "client"), ("milvus client", "milvus", "client"),
            ("milvus rrf", "milvus", "rrf"))


def _questions(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line)["question"] for line in handle if line.strip()]


def measure(corpus: Path, index: Path, passes: int = 2, embed_model: str = "lsa") -> list[dict]:
    from bench.worker import answer_quality
    from qa.app.api import Assistant
    from qa.search.query import analyse

    sets = {"dev": _questions(GOLD), "gold": _questions(OURS)}
    rows = []
    for label, backend, fusion in VARIANTS:
        config = replace(config_for(corpus, index, backend), milvus_fusion=fusion, embed_model=embed_model)
        assistant = Assistant(config, progress=False)
        retriever = assistant.answerer.retriever
        top5, times = {}, []
        for name, qs in sets.items():
            for q in qs:
                query = analyse(q, assistant.index)
                for _ in range(passes):
                    started = time.perf_counter()
                    found = retriever.retrieve_query(query)
                    times.append((time.perf_counter() - started) * 1000)
                top5[(name, q)] = sorted({n.node.metadata["doc"] for n in found[:5]})
        gold = answer_quality(assistant.answerer, OURS)
        rows.append({"variant": label, "top5": top5, "retr_p50": percentile(times, 50),
                     "retr_p95": percentile(times, 95), **answer_quality(assistant.answerer, GOLD),
                     "gold_accuracy": gold["accuracy"]})
    base = rows[0]["top5"]
    for row in rows:
        for name in sets:
            keys = [k for k in base if k[0] == name]
            row[f"agree_{name}"] = 100.0 * sum(row["top5"][k] == base[k] for k in keys) / len(keys)
        del row["top5"]
    return rows


def table(args, rows: list[dict]) -> str:
    model = Path(args.embed_model).name
    lines = [f"`nice -n 10 .venv/bin/python -m bench.milvus_fusion --scale {args.scale}"
             + (f" --embed-model {args.embed_model}" if args.embed_model != "lsa" else "")
             + f"` ({time.strftime('%Y-%m-%d %H:%M')}, {model} vectors, one index searched by all three; "
             "Milvus = Milvus Lite, embedded .db; the machine shared with other jobs)", "",
             "| retriever | top-5 docs = embedded, dev % | top-5 docs = embedded, our gold % | retrieval p50 ms "
             "| retrieval p95 ms | dev acc % | dev abstain_ok % | our gold acc % |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['variant']} | {r['agree_dev']:.1f} | {r['agree_gold']:.1f} | {r['retr_p50']:.1f} "
              f"| {r['retr_p95']:.1f} | {r['accuracy']:.1f} | {r['abstain_ok']:.1f} | {r['gold_accuracy']:.1f} |"
              for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Milvus 后端由谁融合：客户端 RRF 与 Milvus RRFRanker 对比")
    parser.add_argument("--scale", type=int, default=100)
    parser.add_argument("--corpus", type=Path, help="已生成的语料目录（与 --index 一起给出时不再构建）")
    parser.add_argument("--index", type=Path)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="不写 bench/BACKENDS.md")
    parser.add_argument("--embed-model", default="lsa", help="QA_EMBED_MODEL（默认 lsa，与 bench.backends 相同）")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="qa-fusion-") as work:
        corpus, index = args.corpus, args.index
        if corpus is None or index is None:
            from bench.scale import make_corpus
            from qa.index.build import ensure_index

            corpus = make_corpus(ROOT / "corpus", Path(work) / "corpus", args.scale)
            index = Path(work) / "milvus" / "index"
            started = time.perf_counter()
            ensure_index(replace(config_for(corpus, index, "milvus"), embed_model=args.embed_model),
                         force=True, progress=False)
            print(f"build {time.perf_counter() - started:.1f} s", file=sys.stderr)
        rows = measure(corpus, index, args.passes, args.embed_model)
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    if not args.no_write:
        write_part(f"Who fuses the Milvus rankings, {args.scale}× (bench.milvus_fusion)", table(args, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
