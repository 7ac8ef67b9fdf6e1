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
from qa.text import add_terms, tokenize

BM25_DIR = "bm25"
VECTORS = "vectors.npy"


def embed_text(node: BaseNode) -> str:
    """What both retrievers see of a passage: its document, its heading path and its text."""
    meta = node.metadata
    return f"{meta.get('short_title', '')} › {meta.get('heading', '')}\n{node.get_content()}"


def _bm25_index(nodes: list[BaseNode]):
    import bm25s

    bm25 = bm25s.BM25(corpus=[{"node_id": n.node_id} for n in nodes])
    bm25.index([tokenize(embed_text(n)) or ["∅"] for n in nodes], show_progress=False)
    return bm25


def write_store(directory: Path, nodes: list[TextNode], vectors: np.ndarray,
                embedder: Embedder) -> list[str]:
    """Persist nodes, FAISS vectors and BM25; returns the files the manifest checksums."""
    import faiss
    from llama_index.vector_stores.faiss import FaissVectorStore

    for node, vector in zip(nodes, vectors):
        node.embedding = vector.tolist()
    vector_store = FaissVectorStore(faiss_index=faiss.IndexFlatIP(vectors.shape[1]))
    storage = StorageContext.from_defaults(vector_store=vector_store)
    index = VectorStoreIndex(nodes, storage_context=storage, embed_model=LlamaIndexEmbedding(embedder),
                             show_progress=False)
    index.storage_context.persist(persist_dir=str(directory))
    for node in nodes:
        node.embedding = None
    np.save(directory / VECTORS, vectors)
    (directory / BM25_DIR).mkdir()
    _bm25_index(nodes).save(str(directory / BM25_DIR), corpus=[{"node_id": n.node_id} for n in nodes])
    names = [p.relative_to(directory).as_posix() for p in sorted(directory.rglob("*")) if p.is_file()]
    return names


def load_nodes(directory: Path) -> list[TextNode]:
    from llama_index.core.storage.docstore import SimpleDocumentStore

    docstore = SimpleDocumentStore.from_persist_dir(str(directory))
    return sorted(docstore.docs.values(), key=_node_order)


def _node_order(node: BaseNode) -> tuple[str, int]:
    doc, _, number = node.node_id.rpartition("#")
    return doc, int(number) if number.isdigit() else 0


def load_vectors(directory: Path) -> dict[str, np.ndarray]:
    """Vectors keyed by passage-text hash, so a rebuild can skip re-embedding unchanged text."""
    nodes = load_nodes(directory)
    matrix = np.load(directory / VECTORS)
    return {n.metadata.get("text_hash"): matrix[i] for i, n in enumerate(nodes)
            if i < len(matrix)}


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
