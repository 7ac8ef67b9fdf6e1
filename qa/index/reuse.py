"""What a rebuild reuses from the index it replaces: an unchanged document's passages, tokens
and vectors (and any passage met again by its text), the corpus-fitted LSA model while little
text is new; only the rest is chunked, segmented and embedded.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.index.e5_convert import sha256_file

REFIT_SHARE = 0.25  # refit the corpus-fitted LSA model when more than this share of text is new
EMBED_BATCH = 1024  # passages per embed call: the encoder sorts and batches within it


@dataclass
class PreviousIndex:
    """What a rebuild may reuse: unchanged documents' passages, vectors and tokens (and any
    passage met again by its text), the LSA model and the commitment records."""

    directory: Path
    manifest: dict
    passages: object  # qa.index.store.PassageStore
    vectors: np.ndarray  # memory-mapped rows of vectors.npy
    lsa_vectors: np.ndarray | None = None  # rows of lsa_vectors.npy, beside a neural model

    def documents(self) -> dict[str, str]:
        return self.passages.document_fingerprints()

    def terms(self) -> set[str]:
        from qa.index.store import TERMS

        return set(json.loads((self.directory / TERMS).read_text(encoding="utf-8"))["terms"])


def open_previous(index_dir: Path, manifest: dict) -> PreviousIndex | None:
    """The index in `index_dir` as a rebuild reuses it, or None when a file it needs is damaged
    (the rebuild then starts from scratch)."""
    try:
        from qa.commitments.database import DB_NAME
        from qa.index.store import LSA_VECTORS, PASSAGES, TERMS, VECTORS, PassageStore

        artifacts = manifest.get("artifacts", {})
        for name in (PASSAGES, VECTORS, DB_NAME, TERMS):  # a damaged index is rebuilt from scratch
            if name not in artifacts or sha256_file(index_dir / name) != artifacts[name]:
                return None
        passages = PassageStore(index_dir / PASSAGES)
        vectors = np.load(index_dir / VECTORS, mmap_mode="r")
        lsa_vectors = None
        if manifest.get("lsa") and artifacts.get(LSA_VECTORS):
            if sha256_file(index_dir / LSA_VECTORS) != artifacts[LSA_VECTORS]:
                return None
            lsa_vectors = np.load(index_dir / LSA_VECTORS, mmap_mode="r")
    except (OSError, ValueError, KeyError, sqlite3.Error):
        return None
    return PreviousIndex(index_dir, manifest, passages, vectors, lsa_vectors)


def collect(scan, fresh_nodes: dict[str, list], entries: dict, previous: PreviousIndex | None,
             same_model: bool):
    """Every passage of the new index in row order (documents by name): fresh ones from this
    build's chunks, unchanged documents' rows copied from the previous index with their tokens
    and (same model) vectors, and any fresh passage whose text the previous index holds given
    that text's tokens and vector. Fills `entries` for the unchanged documents."""
    from qa.index.store import DocumentEntry, Passages, embed_text, node_json

    passages = Passages()
    for doc in sorted(scan.fingerprints):
        if doc in fresh_nodes:
            for node in fresh_nodes[doc]:
                text = embed_text(node)
                node.metadata["text_hash"] = hashlib.sha1(text.encode("utf-8")).hexdigest()
                passages.add(node.node_id, doc, node_json(node), text, node.metadata["text_hash"])
        else:  # unchanged: its rows are copied, never chunked or segmented again
            stored = previous.passages.stored_document(doc)
            entries[doc] = DocumentEntry(doc, scan.fingerprints[doc], stored.metadata, stored.terms)
            for i, node_id in enumerate(stored.node_ids):
                passages.add(node_id, doc, stored.nodes[i], None, stored.keys[i], stored.tokens[i],
                             stored.rows[i] if same_model else None)
    if previous is not None:
        missing = [k for k, t in zip(passages.keys, passages.tokens) if t is None]
        known = previous.passages.rows_by_hash(missing)
        for i, key in enumerate(passages.keys):
            if passages.tokens[i] is None and key in known:
                row, passages.tokens[i] = known[key]
                passages.old_rows[i] = row if same_model else None
    return passages


def resegment(passages, changed_terms: set[str], keep_vectors: bool) -> set[int]:
    """A term added or dropped since the previous index changes how the text holding it is
    segmented (and nothing else: qa.text.Tokenizer keeps jieba's total fixed), so only those passages
    lose their reused tokens, and their LSA vectors, which come from the tokens (a neural model's
    vectors are kept when `keep_vectors`). Returns the rows segmented again."""
    from qa.index.store import embed_text, node_from_json
    from qa.text import normalise

    resegmented = set()
    for i, tokens in enumerate(passages.tokens):
        if tokens is None:
            continue
        text = passages.texts[i] or embed_text(node_from_json(passages.node_ids[i], passages.nodes[i]))
        if any(term in normalise(text) for term in changed_terms):
            passages.texts[i], passages.tokens[i] = text, None
            resegmented.add(i)
            if not keep_vectors:
                passages.old_rows[i] = None
    return resegmented


def vectors(embedder, passages, old_rows: list, previous_vectors: np.ndarray | None,
             previous_dir: Path | None, progress: bool) -> np.ndarray:
    """Embed only text the previous index has not seen (`old_rows[i]` is its row in
    `previous_vectors`, or None), when its model can be kept.

    A neural model is fixed, so its old vectors stay valid. The corpus-fitted LSA model is kept
    (and only new passages embedded) while few passages changed; past REFIT_SHARE new text it is
    fitted again on the whole corpus, as on a first build.
    """
    from qa.index.store import embed_text, node_from_json

    if previous_vectors is None:
        old_rows = [None] * len(old_rows)
    new = [i for i, row in enumerate(old_rows) if row is None]
    if embedder.name == "lsa":
        if previous_dir is not None and len(new) <= REFIT_SHARE * len(passages.keys):
            embedder.load(previous_dir)
        else:
            texts = [t if t is not None else embed_text(node_from_json(passages.node_ids[i], passages.nodes[i]))
                     for i, t in enumerate(passages.texts)]
            return np.asarray(embedder.fit(texts, passages.tokens), dtype=np.float32)
    texts = {i: passages.texts[i] or embed_text(node_from_json(passages.node_ids[i], passages.nodes[i]))
             for i in new}
    fresh = {}
    steps = range(0, len(new), EMBED_BATCH)
    if progress and len(new) > EMBED_BATCH:
        from tqdm import tqdm
        steps = tqdm(steps, desc="向量化", unit="批", file=sys.stderr)
    for start in steps:
        ids = new[start:start + EMBED_BATCH]
        for i, vector in zip(ids, embedder.embed([texts[i] for i in ids],
                                                 [passages.tokens[i] for i in ids])):
            fresh[i] = vector
    dim = next(iter(fresh.values())).shape[0] if fresh else previous_vectors.shape[1]
    matrix = np.empty((len(passages.keys), dim), dtype=np.float32)
    for i, row in enumerate(old_rows):
        matrix[i] = fresh[i] if row is None else previous_vectors[row]
    return matrix
