"""`python -m bench.analyzers`: which Milvus BM25 input matches our own BM25 (bm25s over the
index's jieba tokens) better: our tokens fed whole ("segmented") or Milvus's jieba analyzer
over the text ("jieba")? Per question of the team gold and the dev set, the overlap of the top
10 BM25 passages and whether the first is the same; on the real corpus, in Milvus Lite.
"""
from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.run import GOLD, ROOT

K = 10


def main() -> int:
    from qa.config import Config
    from qa.index.build import ensure_index
    from qa.index.index import Index
    from qa.index.milvus import connect, publish, segmented, stored_rows
    from qa.index.store import VECTORS
    from qa.search.backends import JiebaBM25Retriever
    from qa.text import normalise

    questions = [json.loads(line)["question"] for path in (ROOT / "eval" / "questions.jsonl", GOLD)
                 for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    with tempfile.TemporaryDirectory(prefix="qa-analyzers-") as work:
        config = replace(Config.from_env(), index_dir=Path(work) / "index", embed_model="lsa",
                         search_backend="embedded")
        ensure_index(config, progress=False)
        index = Index.open(config)
        bm25 = JiebaBM25Retriever(index, similarity_top_k=K)
        rows, vectors = stored_rows(config.index_dir), np.load(config.index_dir / VECTORS)
        uri = str(Path(work) / "milvus.db")
        print(f"{len(questions)} questions, {len(rows)} passages, top {K}")
        for analyzer in ("segmented", "jieba"):
            version = publish(uri, f"cmp_{analyzer}", analyzer, rows, vectors, config.ann_min_passages)
            client = connect(uri)
            client.load_collection(version.collection)
            overlap, first = [], 0
            for q in questions:
                ours = [r for r, _ in bm25.ranked(index.tokenize(q))][:K]
                data = segmented(index.tokenize(q)) if analyzer == "segmented" else normalise(q)
                hits = client.search(version.collection, data=[data], anns_field="sparse", limit=K,
                                     search_params={"metric_type": "BM25"}, output_fields=["row"])[0]
                theirs = [int(h["entity"]["row"]) for h in hits]
                overlap.append(len(set(ours) & set(theirs)) / max(1, len(ours)))
                first += bool(ours and theirs and ours[0] == theirs[0])
            print(f"{analyzer:9s} overlap@{K} {100 * np.mean(overlap):.1f} %  same first {100 * first / len(questions):.1f} %"
                  f"  publish {version.seconds:.1f} s")
            client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
