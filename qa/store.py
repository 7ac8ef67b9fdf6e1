"""On-disk form of the index, through llama-index: docstore, FAISS vector store and jieba BM25.

`write_store` persists what a build produced; `open_store` loads it once per process so every
query after that costs only a search.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from llama_index.core import StorageContext, VectorStoreIndex, load_index_from_storage
from llama_index.core.schema import BaseNode, TextNode

from qa.config import Config
from qa.embeddings import Embedder, LlamaIndexEmbedding, restore_embedder
from qa.errors import IndexError_
from qa.text import add_terms

BM25_DIR = "bm25"
VECTORS = "vectors.npy"
TEXT_CACHE = "text_cache.json"


def embed_text(node: BaseNode) -> str:
    """What both retrievers see of a passage: its document, its heading path and its text."""
    meta = node.metadata
    return f"{meta.get('short_title', '')} › {meta.get('heading', '')}\n{node.get_content()}"


def _bm25_index(nodes: list[BaseNode], tokens: list[list[str]]):
    import bm25s

    bm25 = bm25s.BM25(corpus=[{"node_id": n.node_id} for n in nodes])
    bm25.index([t or ["∅"] for t in tokens], show_progress=False)
    return bm25


def write_store(directory: Path, nodes: list[TextNode], vectors: np.ndarray,
                embedder: Embedder, tokens: list[list[str]]) -> list[str]:
    """Persist nodes, FAISS vectors, BM25 and the per-text caches a later rebuild reuses;
    returns the files the manifest checksums."""
    import faiss
    from llama_index.vector_stores.faiss import FaissVectorStore

    for node, vector in zip(nodes, vectors):
        node.embedding = vector.tolist()
    vector_store = FaissVectorStore(faiss_index=faiss.IndexFlatIP(vectors.shape[1]))
    storage = StorageContext.from_defaults(vector_store=vector_store)
    # transformations=[]: the nodes are final; no default SentenceSplitter (and its tokenizer)
    index = VectorStoreIndex(nodes, storage_context=storage, embed_model=LlamaIndexEmbedding(embedder),
                             transformations=[], show_progress=False)
    for node in nodes:
        node.embedding = None  # the vectors live in FAISS and vectors.npy, not in the docstore
    index.storage_context.persist(persist_dir=str(directory))
    keys = [n.metadata["text_hash"] for n in nodes]
    np.save(directory / VECTORS, vectors)
    (directory / TEXT_CACHE).write_text(json.dumps(
        {"keys": keys, "tokens": {k: " ".join(t) for k, t in zip(keys, tokens)}},
        ensure_ascii=False), encoding="utf-8")
    (directory / BM25_DIR).mkdir()
    _bm25_index(nodes, tokens).save(str(directory / BM25_DIR),
                                    corpus=[{"node_id": n.node_id} for n in nodes])
    return [p.relative_to(directory).as_posix() for p in sorted(directory.rglob("*")) if p.is_file()]


def _node_order(node: BaseNode) -> tuple[str, int]:
    doc, _, number = node.node_id.rpartition("#")
    return doc, int(number) if number.isdigit() else 0


def load_text_cache(directory: Path) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """Vectors and BM25 tokens of an existing index keyed by passage-text hash, so a rebuild
    re-embeds and re-segments only text it has not seen."""
    cache = json.loads((directory / TEXT_CACHE).read_text(encoding="utf-8"))
    matrix = np.load(directory / VECTORS)
    vectors = dict(zip(cache["keys"], matrix))
    tokens = {k: v.split(" ") if v else [] for k, v in cache["tokens"].items()}
    return vectors, tokens


@dataclass
class Store:
    """Everything a query needs, loaded once."""

    nodes: list[TextNode]
    vector_index: VectorStoreIndex
    bm25: object
    embedder: Embedder
    manifest: dict

    @cached_property
    def node_by_id(self) -> dict[str, TextNode]:
        return {n.node_id: n for n in self.nodes}


def open_store(config: Config) -> Store:
    from llama_index.vector_stores.faiss import FaissVectorStore
    import bm25s

    directory = config.index_dir
    try:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        embedder = restore_embedder(manifest["embedder"], directory)
        vector_store = FaissVectorStore.from_persist_dir(str(directory))
        storage = StorageContext.from_defaults(vector_store=vector_store, persist_dir=str(directory))
        vector_index = load_index_from_storage(storage, embed_model=LlamaIndexEmbedding(embedder))
        nodes = sorted(storage.docstore.docs.values(), key=_node_order)
        bm25 = bm25s.BM25.load(str(directory / BM25_DIR), load_corpus=True)
        add_terms(json.loads((directory / "terms.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError) as exc:
        raise IndexError_(f"索引无法读取（{type(exc).__name__}）：请运行 qa build 重建。") from exc
    return Store(nodes=nodes, vector_index=vector_index, bm25=bm25, embedder=embedder,
                 manifest=manifest)
