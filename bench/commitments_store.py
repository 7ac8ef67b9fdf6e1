"""`python -m bench.commitments_store --index DIR --corpus DIR`: the commitments of a built index
in SQLite and in PostgreSQL side by side.

Starts a throw-away PostgreSQL (bench.services), publishes the index's commitments.sqlite to it
(timed), then asks both stores the answerer's look-up (`match_for_question`) for every question
of the dev set and our gold, and a few `qa commitments --query` searches: whether the records
and scores are the same, and how long each takes.

    nice -n 10 .venv/bin/python -m bench.commitments_store --index <index> --corpus <its corpus>
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bench.backends import config_for, percentile
from bench.milvus_fusion import OURS, _questions
from bench.run import GOLD

QUERIES = ("小学", "一般公共预算收入", "招商引资", "绿色工厂", "道路")


def measure(corpus: Path, index_dir: Path) -> dict:
    from bench.services import postgres
    from qa.commitments.database import DB_NAME
    from qa.commitments.postgres import PostgresRecords, publish
    from qa.commitments.search import TermCounts, match_for_question, search_commitments
    from qa.index.index import Index
    from qa.search.query import analyse

    manifest = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))
    index = Index.open(config_for(corpus, index_dir, "embedded"))  # the embedder is the manifest's
    questions = _questions(GOLD) + _questions(OURS)
    out: dict = {}
    with postgres() as url:
        published = publish(url, index_dir / DB_NAME, manifest["artifacts"][DB_NAME])
        out["records"], out["publish_s"] = published["records"], published["seconds"]
        found = {}
        for name, store in (("sqlite", index_dir / DB_NAME), ("postgres", PostgresRecords(url))):
            counts, times, results = TermCounts.read(store), [], []
            for question in questions:
                query = analyse(question, index)
                started = time.perf_counter()
                records = match_for_question(store, index.tokenizer, query.terms, query.places, query.years,
                                             limit=3, with_related=False, counts=counts)
                times.append((time.perf_counter() - started) * 1000)
                results.append([(c.id, c.score) for c in records])
            found[name] = results
            out[f"{name}_match_p50_ms"] = round(percentile(times, 50), 1)
            out[f"{name}_match_p95_ms"] = round(percentile(times, 95), 1)
            searches = []
            for text in QUERIES:
                started = time.perf_counter()
                hits = search_commitments(store, query=text, tokenizer=index.tokenizer, limit=None, with_related=False)
                searches.append([text, len(hits), round((time.perf_counter() - started) * 1000, 1)])
            out[f"{name}_query_records_ms"] = searches
        out["questions"] = len(questions)
        out["same_look_ups"] = sum(a == b for a, b in zip(found["sqlite"], found["postgres"]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="承诺库：SQLite 与 PostgreSQL 并排（结果是否相同、用时）")
    parser.add_argument("--index", type=Path, required=True, help="已构建的索引目录")
    parser.add_argument("--corpus", type=Path, required=True, help="该索引的语料目录")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.corpus, args.index), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
