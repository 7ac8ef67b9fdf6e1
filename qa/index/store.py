"""On-disk form of the index: a SQLite passage store, FAISS vectors (llama-index's FAISS store)
and jieba BM25, all aligned by row.

Passages live in SQLite rather than llama-index's single JSON docstore so that a query reads
only the passages it touches (a district's corpus need not sit in memory) and a rebuild copies
an unchanged document's passages, tokens and vectors instead of chunking it again.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.index.passage import Passage
from qa.text import simplified

if TYPE_CHECKING:
    from llama_index.core.schema import TextNode

MANIFEST = "manifest.json"
BM25_DIR = "bm25"
VECTORS = "vectors.npy"
FAISS_FILE = "default__vector_store.json"  # the model's FAISS index, as llama-index's FaissVectorStore names it
LSA_VECTORS = "lsa_vectors.npy"  # the corpus-fitted LSA rows fused beside a neural model's
LSA_FAISS = "lsa.faiss"
PASSAGES = "passages.sqlite"
TERMS = "terms.json"  # {"terms": every term the tokenizer keeps whole, "names": places and periods}
PLACES = "places.json"  # the corpus's own places (qa.ingest.gazetteer.OwnPlace)
PASSAGES_CACHED = 16384  # passages (and their scoping contexts) a loaded index keeps in memory
PLACES_CACHED = 256  # places whose passage rows a loaded index remembers
SQL_BATCH = 500  # keys per IN (…) query, below SQLite's parameter limit
# FAISS IVF above QA_ANN_MIN_PASSAGES: ~4·√N lists (FAISS's guidance), each trained on ≥ 39
# points (FAISS warns below), 1/16 of the lists (at least 8) probed per question
IVF_LISTS_PER_ROOT = 4
IVF_MIN_POINTS_PER_LIST = 39
IVF_PROBED_SHARE = 16
IVF_MIN_PROBES = 8

SCHEMA = """
CREATE TABLE passages (
    row INTEGER PRIMARY KEY,     -- the passage's row in vectors.npy, FAISS and BM25
    node_id TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL,
    text_hash TEXT NOT NULL,     -- sha1 of embed_text: what vectors and tokens depend on
    node TEXT NOT NULL,          -- JSON: text, metadata, start, end
    tokens TEXT NOT NULL         -- BM25 tokens, space-joined
);
CREATE INDEX passages_doc ON passages(doc);
CREATE INDEX passages_hash ON passages(text_hash);
CREATE TABLE documents (
    doc TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,   -- file bytes and catalog entry: unchanged means reusable
    metadata TEXT NOT NULL,      -- the document's catalog metadata (JSON)
    terms TEXT NOT NULL          -- names it teaches the tokenizer (JSON list)
);
"""


def embed_text(node: TextNode | Passage) -> str:
    """What both retrievers see of a passage: its document, its heading path and its text."""
    meta = node.metadata
    return f"{meta.get('short_title', '')} › {meta.get('heading', '')}\n{node.get_content()}"


def prepare_node(node: TextNode) -> TextNode:
    """Which metadata an embedding or a prompt shows, for a build's fresh llama-index nodes."""
    from qa.ingest.chunking import EMBED_KEYS

    node.excluded_embed_metadata_keys = [k for k in node.metadata if k not in EMBED_KEYS]
    node.excluded_llm_metadata_keys = list(node.metadata)
    node.metadata_template = "{value}"
    return node


def node_json(node: TextNode) -> str:
    return json.dumps({"text": node.text, "metadata": node.metadata, "start": node.start_char_idx,
                       "end": node.end_char_idx}, ensure_ascii=False)


def node_from_json(node_id: str, data: str) -> Passage:
    fields = json.loads(data)
    return Passage(node_id, fields["text"], fields["metadata"], fields["start"], fields["end"])


@dataclass
class StoredDocument:
    """One document's rows as a rebuild reuses them."""

    doc: str
    metadata: dict
    terms: list[str]
    node_ids: list[str]
    nodes: list[str]  # node JSON
    keys: list[str]
    tokens: list[list[str]]
    rows: list[int]


class PassageStore:
    """Passages by row or node id, read from SQLite on demand and kept in a bounded cache.

    Each thread gets its own read-only connection (the web app answers on several threads).
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()
        self.count = self._conn().execute("SELECT COUNT(*) FROM passages").fetchone()[0]
        self.at = lru_cache(maxsize=PASSAGES_CACHED)(self._at)
        self.get = lru_cache(maxsize=PASSAGES_CACHED)(self._get)
        self.context = lru_cache(maxsize=PASSAGES_CACHED)(self._context)
        self.rows_of_place = lru_cache(maxsize=PLACES_CACHED)(self._rows_of_place)  # rows of a place's documents
        self.row_of = lru_cache(maxsize=PASSAGES_CACHED)(self._row_of)  # a passage's row by node id (None: not here)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._local.conn = conn
        return conn

    def __len__(self) -> int:
        return self.count

    def _at(self, row: int) -> Passage:
        found = self._conn().execute("SELECT node_id, node FROM passages WHERE row = ?", (row,)).fetchone()
        if found is None:
            raise KeyError(row)
        return node_from_json(*found)

    def _context(self, row: int) -> str:
        """Heading path and text joined, in simplified script: what scoping searches for places,
        periods and years."""
        node = self.at(row)
        return simplified(node.metadata.get("heading", "") + node.text)

    def _get(self, node_id: str) -> Passage | None:
        row = self.row_of(node_id)
        return None if row is None else self.at(row)

    def _row_of(self, node_id: str) -> int | None:
        found = self._conn().execute("SELECT row FROM passages WHERE node_id = ?", (node_id,)).fetchone()
        return int(found[0]) if found else None

    def __getitem__(self, node_id: str) -> Passage:
        node = self.get(node_id)
        if node is None:
            raise KeyError(node_id)
        return node

    def _rows_of_place(self, place: str) -> np.ndarray:
        return np.array([r for (r,) in self._conn().execute(
            "SELECT p.row FROM passages p JOIN documents d ON d.doc = p.doc"
            " WHERE json_extract(d.metadata, '$.place') = ? ORDER BY p.row", (place,))], dtype=np.int64)

    @cached_property
    def document_names(self) -> list[str]:
        """The documents in the order of their first row: `document_numbers` index this list."""
        rows = self._conn().execute("SELECT doc FROM passages ORDER BY row").fetchall()
        return list(dict.fromkeys(doc for (doc,) in rows))

    @cached_property
    def document_numbers(self) -> np.ndarray:
        """Each row's document as a small integer (rows of one document share it): what adds
        passage scores up by document in one pass."""
        numbers = {doc: n for n, doc in enumerate(self.document_names)}
        rows = self._conn().execute("SELECT doc FROM passages ORDER BY row").fetchall()
        return np.array([numbers[doc] for (doc,) in rows], dtype=np.int64)

    def count_of(self, doc: str) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM passages WHERE doc = ?", (doc,)).fetchone()[0]

    def document_fingerprints(self) -> dict[str, str]:
        return dict(self._conn().execute("SELECT doc, fingerprint FROM documents"))

    def stored_document(self, doc: str) -> StoredDocument:
        conn = self._conn()
        entry = conn.execute("SELECT metadata, terms FROM documents WHERE doc = ?", (doc,)).fetchone()
        rows = conn.execute("SELECT row, node_id, text_hash, node, tokens FROM passages WHERE doc = ?"
                            " ORDER BY row", (doc,)).fetchall()
        return StoredDocument(doc=doc, metadata=json.loads(entry[0]),
                              terms=json.loads(entry[1]),
                              node_ids=[r[1] for r in rows], nodes=[r[3] for r in rows],
                              keys=[r[2] for r in rows], tokens=[_split(r[4]) for r in rows],
                              rows=[r[0] for r in rows])

    def rows_by_hash(self, keys: list[str]) -> dict[str, tuple[int, list[str]]]:
        """Row and tokens of passages whose text a rebuild meets again (in a changed document)."""
        out: dict[str, tuple[int, list[str]]] = {}
        conn = self._conn()
        for start in range(0, len(keys), SQL_BATCH):
            part = keys[start:start + SQL_BATCH]
            marks = ",".join("?" * len(part))
            for row, key, tokens in conn.execute(
                    f"SELECT row, text_hash, tokens FROM passages WHERE text_hash IN ({marks})", part):
                out.setdefault(key, (row, _split(tokens)))
        return out


def _split(tokens: str) -> list[str]:
    return tokens.split(" ") if tokens else []


@dataclass
class DocumentEntry:
    """What the passage store records of a document besides its passages."""

    doc: str
    fingerprint: str
    metadata: dict
    terms: list[str]


@dataclass
class Passages:
    """Every passage of a new index in row order, as parallel lists: what a build writes."""

    node_ids: list[str] = field(default_factory=list)
    docs: list[str] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)  # node JSON
    texts: list[str | None] = field(default_factory=list)  # embed_text; None when reused
    keys: list[str] = field(default_factory=list)
    tokens: list[list[str] | None] = field(default_factory=list)  # None = still to segment
    old_rows: list[int | None] = field(default_factory=list)  # previous row of a reusable vector

    def add(self, node_id: str, doc: str, node: str, text: str | None, key: str,
            tokens: list[str] | None = None, old_row: int | None = None) -> None:
        self.node_ids.append(node_id)
        self.docs.append(doc)
        self.nodes.append(node)
        self.texts.append(text)
        self.keys.append(key)
        self.tokens.append(tokens)
        self.old_rows.append(old_row)


def write_passages(path: Path, documents: list[DocumentEntry], passages: Passages) -> None:
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA)
        db.executemany("INSERT INTO passages VALUES (?,?,?,?,?,?)", (
            (row, node_id, doc, key, data, " ".join(tokens)) for row, (node_id, doc, key, data, tokens)
            in enumerate(zip(passages.node_ids, passages.docs, passages.keys, passages.nodes,
                             passages.tokens))))
        db.executemany("INSERT INTO documents VALUES (?,?,?,?)",
                       ((d.doc, d.fingerprint, json.dumps(d.metadata, ensure_ascii=False),
                         json.dumps(d.terms, ensure_ascii=False)) for d in documents))
    db.close()


def faiss_index(vectors: np.ndarray, ann_min_passages: int):
    """Exact inner-product search, or IVF once the corpus is large enough that exact search is
    the query's main cost (the IVF_* constants above)."""
    import faiss

    n, dim = vectors.shape
    if n < max(ann_min_passages, 1):
        index = faiss.IndexFlatIP(dim)
    else:
        lists = max(1, min(int(IVF_LISTS_PER_ROOT * n ** 0.5), n // IVF_MIN_POINTS_PER_LIST))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.nprobe = max(IVF_MIN_PROBES, lists // IVF_PROBED_SHARE)
    index.add(vectors)
    return index


def token_ids(documents: list[list[str]]) -> tuple[list[list[int]], dict[str, int]]:
    """Each document's tokens as ids of a vocabulary in sorted order: bm25s numbers the tokens it
    is given by set order, which changes with PYTHONHASHSEED, so the same corpus gave other index
    files (and, through ties, another answer) from one run to the next."""
    vocabulary = {token: i for i, token in enumerate(sorted({t for document in documents for t in document}))}
    return [[vocabulary[t] for t in document] for document in documents], vocabulary


def write_vectors(directory: Path, vectors: np.ndarray, tokens: list[list[str]],
                  ann_min_passages: int) -> None:
    """FAISS (through llama-index's FAISS store), BM25 and the raw vectors a rebuild reuses."""
    from llama_index.vector_stores.faiss import FaissVectorStore

    FaissVectorStore(faiss_index=faiss_index(vectors, ann_min_passages)).persist(
        str(directory / FAISS_FILE))
    np.save(directory / VECTORS, vectors)
    write_bm25(directory, tokens)


def write_bm25(directory: Path, tokens: list[list[str]]) -> None:
    """The passages' bm25s index, the same bytes for the same tokens in every run."""
    import bm25s

    bm25 = bm25s.BM25()
    bm25.index(token_ids([t or ["∅"] for t in tokens]), show_progress=False)
    (directory / BM25_DIR).mkdir()
    bm25.save(str(directory / BM25_DIR))


def write_lsa_vectors(directory: Path, vectors: np.ndarray, ann_min_passages: int) -> None:
    """The second dense signal beside a neural model: LSA rows and their FAISS index."""
    import faiss

    np.save(directory / LSA_VECTORS, vectors)
    faiss.write_index(faiss_index(vectors, ann_min_passages), str(directory / LSA_FAISS))
