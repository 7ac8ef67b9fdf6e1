"""A built index, loaded: the one object that owns what answering a question needs.

An `Index` holds its own tokenizer (jieba plus this index's terms), its term statistics, BM25
and vectors, its passages and its commitments connection. Retrieval, question analysis,
answering and the web app are handed an `Index` explicitly; nothing of it is process-global,
so two indexes in one process (a web app swapping in a rebuilt one, a benchmark comparing two)
never affect each other.
"""
from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from qa.config import Config
from qa.errors import IndexError_
from qa.index.embeddings import Embedder, restore_embedder
from qa.index.store import (BM25_DIR, FAISS_FILE, LSA_FAISS, LSA_VECTORS, MANIFEST, PASSAGES, PLACES, TERMS,
                            VECTORS, PassageStore)
from qa.ingest.divisions import Divisions
from qa.ingest.gazetteer import Gazetteer, OwnPlace
from qa.text import Tokenizer


def load_tokenizer(directory: Path) -> Tokenizer:
    """The tokenizer an index was built with: jieba plus the terms it recorded."""
    terms = json.loads((Path(directory) / TERMS).read_text(encoding="utf-8"))
    return Tokenizer(terms["terms"], names=terms["names"])


@dataclass
class TermStatistics:
    """How many passages hold each token, read off the BM25 index's sparse matrix once."""

    vocabulary: dict[str, int]
    counts: np.ndarray
    passages: int

    @classmethod
    def of(cls, bm25, passages: int) -> "TermStatistics":
        indptr = np.asarray(bm25.scores["indptr"])
        total = len(bm25.scores["indices"])
        counts = (np.diff(np.append(indptr, total)) if len(indptr) == len(bm25.vocab_dict)
                  else np.diff(indptr))
        return cls(bm25.vocab_dict, counts, int(bm25.scores.get("num_docs", passages)))

    def document_frequency(self, term: str) -> int:
        """Passages holding the token (0 for a token no passage has)."""
        return int(self.counts[self.vocabulary[term]]) if term in self.vocabulary else 0

    def idf(self, term: str) -> float | None:
        """Inverse document frequency over passages; None for a token no passage has."""
        df = self.document_frequency(term)
        return math.log(1 + self.passages / (df + 1)) if df else None


QUERY_VECTORS_CACHED = 4096  # question vectors an index remembers (a batch embeds them at once)
# questions per model call when a batch's questions are embedded ahead of answering them
# (`Index.prefetch_queries`): the first answers wait for one chunk, not for all of them
PREFETCH_CHUNK = 64


@dataclass
class FaissFile:
    """The model's FAISS index, read straight from the file llama-index's FaissVectorStore
    persists (a plain FAISS index), so opening an index does not import llama-index;
    `client` is the name that store gives it."""

    client: object


@dataclass
class DenseSignal:
    """One set of passage vectors and the model that embeds questions into the same space."""

    embedder: Embedder
    search: object  # a FAISS index; its ids are passage rows
    vectors: np.ndarray  # the same rows, memory-mapped: exact search within a few rows


class Index:
    """Everything one built index answers from, loaded once; see the module docstring."""

    def __init__(self, directory: Path, manifest: dict, tokenizer: Tokenizer, places: list[OwnPlace],
                 passages: PassageStore, vector_store, vectors: np.ndarray, bm25, embedder: Embedder,
                 commitments=None, milvus=None, lsa: DenseSignal | None = None):
        self.directory = Path(directory)
        self.manifest = manifest
        self.tokenizer = tokenizer
        self.places = places  # the corpus's own; with the national divisions, the gazetteer
        self.passages = passages
        self.vector_store = vector_store  # FaissFile (None under Milvus); FAISS ids are rows
        self.vectors = vectors  # the same vectors, memory-mapped: exact search within a few rows
        self.bm25 = bm25
        self.embedder = embedder  # the model: multilingual-e5-small by default, or LSA alone
        # the corpus-fitted LSA fused beside a neural model (None when LSA is the model)
        self.lsa = lsa
        self._query_vectors: OrderedDict[str, np.ndarray] = OrderedDict()  # least recently used first
        self._query_lock = threading.Lock()
        self._prefetching: dict[str, Future] = {}  # question → its chunk, being embedded ahead
        self.stats = TermStatistics.of(bm25, len(passages))
        # read-only (qa.commitments.stores): the index's SQLite file, or PostgreSQL where
        # QA_DATABASE_URL names it; None for an index without commitments
        self.commitments = commitments
        self.milvus = milvus  # a pymilvus client when QA_SEARCH_BACKEND=milvus (qa.index.milvus)
        self.commitment_counts = None
        if commitments is not None:
            from qa.commitments.search import TermCounts

            self.commitment_counts = TermCounts.read(commitments)

    @classmethod
    def open(cls, config: Config, embedder: Embedder | None = None) -> "Index":
        """Load the index in `config.index_dir`; a Chinese message when it cannot be read.
        `embedder`, the model a build in this process has loaded, is used when it is the one
        the index was built with (LSA is always restored from the index's own file)."""
        import bm25s
        import faiss

        from qa.commitments.database import DB_NAME

        directory = config.index_dir
        try:
            manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
            tokenizer = load_tokenizer(directory)
            places = [OwnPlace.from_json(p) for p in
                      json.loads((directory / PLACES).read_text(encoding="utf-8"))]
            if (embedder is None or embedder.id != manifest["embedder"]["id"]
                    or embedder.name == "lsa"):
                embedder = restore_embedder(manifest["embedder"], directory, tokenizer.tokenize)
            milvus = vector_store = None
            if config.search_backend == "milvus":
                from qa.index.milvus import connect

                if "milvus" not in manifest:
                    raise IndexError_("索引没有发布到 Milvus：请以 QA_SEARCH_BACKEND=milvus 运行 qa build。")
                milvus = connect(config.milvus_uri)
            else:  # Milvus serves dense search itself: the FAISS file is not loaded
                vector_store = FaissFile(faiss.read_index(str(directory / FAISS_FILE)))
                faiss.omp_set_num_threads(max(1, config.search_threads))
            passages = PassageStore(directory / PASSAGES)
            vectors = np.load(directory / VECTORS, mmap_mode="r")
            bm25 = bm25s.BM25.load(str(directory / BM25_DIR))
            lsa = None
            if manifest.get("lsa"):
                lsa = DenseSignal(restore_embedder(manifest["lsa"], directory, tokenizer.tokenize),
                                  faiss.read_index(str(directory / LSA_FAISS)),
                                  np.load(directory / LSA_VECTORS, mmap_mode="r"))
            commitments = None
            if config.database_url:
                from qa.commitments.postgres import PostgresRecords

                commitments = PostgresRecords(config.database_url)
            elif (directory / DB_NAME).exists():
                from qa.commitments.stores import SQLiteRecords, open_sqlite

                commitments = SQLiteRecords(open_sqlite(directory / DB_NAME, threads=True))
            index = cls(directory, manifest, tokenizer, places, passages, vector_store, vectors, bm25,
                        embedder, commitments, milvus, lsa)
            index.milvus_fusion = config.milvus_fusion  # read by qa.search.backends.MilvusBackend
            return index
        except (OSError, ValueError, KeyError, RuntimeError, sqlite3.Error) as exc:
            raise IndexError_(f"索引无法读取（{type(exc).__name__}）：请运行 qa build 重建。") from exc

    @property
    def commitments_db(self):
        """What one request reads commitments from (qa.commitments.search): the PostgreSQL store,
        or the index's commitments file, opened for that request."""
        if self.commitments is not None and self.commitments.dialect == "postgresql":
            return self.commitments
        from qa.commitments.database import DB_NAME

        return self.directory / DB_NAME

    @cached_property
    def gazetteer(self) -> Gazetteer:
        """Every place a question may name: China's divisions and the corpus's own places (the
        divisions are read on the first question, not when the index opens)."""
        return Gazetteer(self.places, Divisions.load())

    @property
    def catalog(self) -> dict[str, dict]:
        """Each document's metadata as the build recorded it, by file name."""
        return self.manifest.get("catalog") or {}

    @property
    def model(self) -> dict:
        """Which embedding model the index was built with: id, name and a Chinese description
        (what the CLI, the web page and the manifest show)."""
        return self.manifest.get("embedder", {})

    @property
    def reads_english(self) -> bool:
        """Whether the index's embedder reads an English question against Chinese passages: a
        multilingual model does; the corpus-fitted LSA knows only the corpus's words."""
        return self.embedder.name != "lsa"

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Questions as L2-normalised rows of the model's space (e5: with "query: "), comparable
        with the stored passage vectors and `embed_passages`. The last QUERY_VECTORS_CACHED are
        remembered per index (least recently used forgotten first), so a batch that embeds its
        questions at once answers each without embedding it again."""
        cache = self._query_vectors
        found = {}
        with self._query_lock:  # the web app answers on several threads
            pending = {self._prefetching[t] for t in texts if t in self._prefetching}
        for chunk in pending:  # embedded ahead by prefetch_queries: wait rather than embed again
            chunk.exception()  # (a chunk that failed leaves its questions to be embedded below)
        with self._query_lock:
            for text in texts:
                vector = cache.get(text)
                if vector is not None:
                    cache.move_to_end(text)
                    found[text] = vector
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            self._remember(missing, self.embedder.embed_queries(missing), found)
        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        return np.stack([found[t] for t in texts])

    def _remember(self, texts: list[str], vectors: np.ndarray, found: dict | None = None) -> None:
        with self._query_lock:
            for text, vector in zip(texts, vectors):
                self._query_vectors[text] = vector
                if found is not None:
                    found[text] = vector
            while len(self._query_vectors) > QUERY_VECTORS_CACHED:
                self._query_vectors.popitem(last=False)

    def prefetch_queries(self, texts: list[str]) -> None:
        """Embed many questions (a batch file) ahead of answering them: on a thread, PREFETCH_CHUNK
        at a time in their order, so answering the first overlaps embedding the rest (the model
        runs in another process or releases the GIL). `embed_queries` of a text still being
        embedded waits for its chunk."""
        with self._query_lock:
            texts = [t for t in dict.fromkeys(texts)
                     if t not in self._query_vectors and t not in self._prefetching]
        if len(texts) <= PREFETCH_CHUNK:
            self.embed_queries(texts)
            return
        chunks = [(texts[i:i + PREFETCH_CHUNK], Future()) for i in range(0, len(texts), PREFETCH_CHUNK)]
        with self._query_lock:
            self._prefetching.update((t, future) for chunk, future in chunks for t in chunk)

        def run() -> None:
            failed = None
            for chunk, future in chunks:
                try:
                    if failed is None:
                        self._remember(chunk, self.embedder.embed_queries(chunk))
                except BaseException as exc:  # each waiting question sees it; later ones embed themselves
                    failed = exc
                with self._query_lock:
                    for text in chunk:
                        self._prefetching.pop(text, None)
                if failed is None:
                    future.set_result(None)
                else:
                    future.set_exception(failed)

        threading.Thread(target=run, name="qa-prefetch-queries", daemon=True).start()

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Any passages or sentences as L2-normalised rows of the model's space (e5: with
        "passage: "); the dot product with `embed_queries` rows is their cosine similarity."""
        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        return self.embedder.embed_passages(texts)

    def passage_vectors(self, rows) -> np.ndarray:
        """The stored model vectors of passages by row (no embedding at question time)."""
        return np.asarray(self.vectors[np.asarray(rows, dtype=np.int64)])

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])

    def tokenize(self, text: str) -> list[str]:
        return self.tokenizer.tokenize(text)

    def clear_caches(self) -> None:
        """Forget memoised tokens and question vectors (a benchmark's fair start); passages stay cached."""
        self.tokenizer.clear_cache()
        with self._query_lock:
            self._query_vectors.clear()
