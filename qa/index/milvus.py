"""Milvus as the search engine: one collection per index version, behind a stable alias.

A build publishes its passages into a new collection (`<alias>_v<time>`): the passage row (the
primary key, aligned with the passage store), node id, text hash, text, the metadata scoping
filters on (doc, place, kind, period, heading), the dense vector, and a BM25 sparse vector that
Milvus computes itself from a text field (its full-text function). Only when the collection is
complete does the alias move to it, so readers, which always search the alias, see the old
version until the switch and never a half-built one; the version before is kept for readers
still holding it, older ones are dropped.

What the BM25 function reads (QA_MILVUS_ANALYZER):
- "segmented" (default): the passage's own jieba tokens (the index's tokenizer, with its terms),
  space-joined, each token made of word characters only, split back by Milvus's whitespace
  tokenizer (a server) or standard tokenizer (Milvus Lite has no whitespace one; on
  word-character tokens both give the tokens back unchanged): the same terms as our BM25.
- "jieba": the normalised text, segmented by Milvus's own jieba analyzer.

QA_MILVUS_URI is a local `.db` path (embedded Milvus Lite) or `http://host:19530` (a Milvus
server, or Milvus Lite served over gRPC); the client code is the same.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

import numpy as np

from qa.errors import QAError

ANALYZERS = ("segmented", "jieba")
TEXT_BYTES = 65535  # VARCHAR limits are bytes; a passage with its heading is a few KB of UTF-8
NAME_BYTES = 1024
INSERT_BATCH = 1000
KEEP_VERSIONS = 2  # the live one and the one before, which replicas may still be reading
OUTPUT_FIELDS = ["row", "node_id", "text_hash"]
# BM25 parameters of bm25s's defaults (our embedded BM25), so both rank alike
BM25_K1, BM25_B = 1.5, 0.75
# dense index: exact below the config's ANN threshold, else IVF sized like the FAISS store's
IVF_LISTS_PER_ROOT, IVF_MIN_POINTS_PER_LIST, IVF_PROBED_SHARE, IVF_MIN_PROBES = 4, 39, 16, 8
GRPC_OPTIONS = {"grpc.keepalive_time_ms": 60000, "grpc.keepalive_permit_without_calls": False}
NON_WORD = re.compile(r"\W", re.UNICODE)


def connect(uri: str):
    """A pymilvus client for a `.db` file (Milvus Lite, embedded) or a server URI."""
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:  # the [scale] extra is not installed
        raise QAError("QA_SEARCH_BACKEND=milvus 需要 pymilvus：pip install -e '.[scale]'") from exc
    if "://" not in uri:
        from pathlib import Path

        Path(uri).expanduser().parent.mkdir(parents=True, exist_ok=True)
    try:
        if "://" not in uri:
            return MilvusClient(uri=uri)
        # pymilvus pings an idle channel every 10 s; gRPC servers that keep gRPC's default ping
        # policy (Milvus Lite's server) answer that with GOAWAY "too_many_pings"
        return MilvusClient(uri=uri, grpc_options=GRPC_OPTIONS)
    except Exception as exc:  # pymilvus raises its own MilvusException and grpc errors
        raise QAError(f"无法连接 Milvus（{uri}）：{exc}") from exc


def word_token(token: str) -> str:
    """A token Milvus's whitespace and standard tokenizers both return whole: non-word
    characters ("3.5%") become underscores ("3_5_"), done alike to passages and questions."""
    return NON_WORD.sub("_", token)


def segmented(tokens) -> str:
    return " ".join(word_token(t) for t in tokens)


def quote(value: str) -> str:
    """A string literal of a Milvus filter expression."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def expression(places=(), periods=(), docs=()) -> str:
    """A filter expression on the collection's scalar fields; "" when nothing is asked."""
    parts = []
    for field, values in (("place", places), ("period", periods), ("doc", docs)):
        values = sorted(set(values))
        if values:
            parts.append(f"{field} in [{', '.join(quote(v) for v in values)}]")
    return " and ".join(parts)


def _schema(client, dim: int, analyzer: str, lsa_dim: int = 0):
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("row", DataType.INT64, is_primary=True)
    schema.add_field("node_id", DataType.VARCHAR, max_length=NAME_BYTES)
    schema.add_field("text_hash", DataType.VARCHAR, max_length=64)
    for name in ("doc", "place", "kind", "period"):
        schema.add_field(name, DataType.VARCHAR, max_length=NAME_BYTES)
    schema.add_field("heading", DataType.VARCHAR, max_length=TEXT_BYTES)
    if analyzer == "jieba":
        schema.add_field("text", DataType.VARCHAR, max_length=TEXT_BYTES, enable_analyzer=True,
                         analyzer_params={"tokenizer": "jieba"})
        source = "text"
    else:
        schema.add_field("text", DataType.VARCHAR, max_length=TEXT_BYTES)
        schema.add_field("tokens", DataType.VARCHAR, max_length=TEXT_BYTES, enable_analyzer=True,
                         analyzer_params={"tokenizer": "whitespace"})
        source = "tokens"
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    if lsa_dim:  # the corpus-fitted LSA rows an index keeps beside a neural model's
        schema.add_field("lsa", DataType.FLOAT_VECTOR, dim=lsa_dim)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                 input_field_names=[source], output_field_names=["sparse"]))
    return schema


def dense_index(n: int, ann_min_passages: int) -> tuple[str, dict, dict]:
    """(index type, build params, search params) of the dense field."""
    if n < max(ann_min_passages, 1):
        return "FLAT", {}, {}
    lists = max(1, min(int(IVF_LISTS_PER_ROOT * n ** 0.5), n // IVF_MIN_POINTS_PER_LIST))
    return "IVF_FLAT", {"nlist": lists}, {"nprobe": max(IVF_MIN_PROBES, lists // IVF_PROBED_SHARE)}


def _create(client, name: str, dim: int, analyzer: str, n: int, ann_min_passages: int,
            lsa_dim: int = 0) -> dict:
    from pymilvus import MilvusException

    kind, build, search = dense_index(n, ann_min_passages)
    params = client.prepare_index_params()
    for field in ("dense", "lsa") if lsa_dim else ("dense",):
        params.add_index(field_name=field, index_type=kind, metric_type="IP", params=build)
    params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                     params={"bm25_k1": BM25_K1, "bm25_b": BM25_B})
    for field in ("place", "period", "doc"):
        params.add_index(field_name=field, index_type="INVERTED")
    quiet = logging.getLogger("pymilvus")  # a refused tokenizer is expected of Milvus Lite: not logged
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        client.create_collection(name, schema=_schema(client, dim, analyzer, lsa_dim), index_params=params)
        tokenizer = "jieba" if analyzer == "jieba" else "whitespace"
    except MilvusException:
        if analyzer == "jieba":
            raise
        # Milvus Lite has no whitespace tokenizer; its standard one (\w+) splits word tokens alike
        client.drop_collection(name) if client.has_collection(name) else None
        schema = _schema(client, dim, analyzer, lsa_dim)
        schema.fields[[f.name for f in schema.fields].index("tokens")].params["analyzer_params"] = {
            "tokenizer": "standard"}
        client.create_collection(name, schema=schema, index_params=params)
        tokenizer = "standard"
    finally:
        quiet.setLevel(level)
    return {"dense_index": kind, "dense_search": search, "tokenizer": tokenizer}


@dataclass
class PublishedVersion:
    collection: str
    alias: str
    analyzer: str
    dense_search: dict
    seconds: float
    tokenizer: str = ""
    lsa: bool = False


    def record(self) -> dict:
        return {"collection": self.collection, "alias": self.alias, "analyzer": self.analyzer,
                "dense_search": self.dense_search, "tokenizer": self.tokenizer, "lsa": self.lsa,
                "seconds": round(self.seconds, 2)}


def publish(uri: str, alias: str, analyzer: str, rows: list[dict], vectors: np.ndarray,
            ann_min_passages: int, lsa: np.ndarray | None = None) -> PublishedVersion:
    """Write one index version into a new collection (not yet behind the alias).

    `rows` are passages in row order: node_id, text_hash, text, tokens and the metadata fields;
    `lsa` the LSA rows an index keeps beside a neural model's `vectors`, if any.
    """
    if analyzer not in ANALYZERS:
        raise QAError(f"QA_MILVUS_ANALYZER 只能是 {'、'.join(ANALYZERS)}，而不是 {analyzer}")
    started = time.perf_counter()
    client = connect(uri)
    name = f"{alias}_v{time.strftime('%Y%m%d%H%M%S')}_{time.time_ns() % 10**9:09d}"
    created = _create(client, name, vectors.shape[1], analyzer, len(rows), ann_min_passages,
                      lsa.shape[1] if lsa is not None else 0)
    for start in range(0, len(rows), INSERT_BATCH):
        batch = []
        for row in range(start, min(start + INSERT_BATCH, len(rows))):
            passage = rows[row]
            entity = {"row": row, "dense": np.asarray(vectors[row], dtype=np.float32).tolist(),
                      **{k: passage.get(k, "") for k in ("node_id", "text_hash", "doc", "place",
                                                         "kind", "period", "heading")}}
            if lsa is not None:
                entity["lsa"] = np.asarray(lsa[row], dtype=np.float32).tolist()
            if analyzer == "jieba":
                entity["text"] = passage["normalised"]
            else:
                entity["text"] = passage["text"]
                entity["tokens"] = segmented(passage["tokens"]) or "_"
            batch.append(entity)
        client.insert(name, batch)
    client.load_collection(name)
    client.close()
    return PublishedVersion(name, alias, analyzer, created["dense_search"], time.perf_counter() - started,
                            created["tokenizer"], lsa is not None)


def switch_alias(uri: str, version: PublishedVersion) -> list[str]:
    """Point the alias at the new version, then drop versions older than the one it replaced;
    returns the dropped collections."""
    client = connect(uri)
    try:
        if version.alias in client.list_aliases().get("aliases", []):
            client.alter_alias(version.collection, version.alias)
        else:
            client.create_alias(version.collection, version.alias)
        ours = sorted(c for c in client.list_collections() if c.startswith(version.alias + "_v"))
        dropped = [c for c in ours[:-KEEP_VERSIONS] if c != version.collection]
        for name in dropped:
            client.drop_collection(name)
        return dropped
    finally:
        client.close()


def live_collection(uri: str, alias: str) -> str | None:
    """The collection the alias points at, or None when there is none."""
    client = connect(uri)
    try:
        if alias not in client.list_aliases().get("aliases", []):
            return None
        return client.describe_alias(alias).get("collection_name")
    finally:
        client.close()


def publish_passages(config, passages, vectors: np.ndarray, lsa: np.ndarray | None = None) -> PublishedVersion:
    """Publish a build's passages (qa.index.store.Passages, in row order) and vectors."""
    import json

    from qa.index.store import embed_text, node_from_json
    from qa.text import normalise

    rows = []
    for i, node_id in enumerate(passages.node_ids):
        meta = json.loads(passages.nodes[i])["metadata"]
        text = passages.texts[i] or embed_text(node_from_json(node_id, passages.nodes[i]))
        rows.append({"node_id": node_id, "text_hash": passages.keys[i], "text": text,
                     "normalised": normalise(text), "tokens": passages.tokens[i] or [],
                     **{k: str(meta.get(k, "")) for k in ("doc", "place", "kind", "period", "heading")}})
    return publish(config.milvus_uri, config.milvus_collection, config.milvus_analyzer, rows, vectors,
                   config.ann_min_passages, lsa)


def stale_reason(config, manifest: dict) -> str | None:
    """Why a Milvus index must be published again (in Chinese), or None."""
    if config.search_backend not in ("embedded", "milvus"):
        raise QAError(f"QA_SEARCH_BACKEND 只能是 embedded 或 milvus，而不是 {config.search_backend}")
    if config.search_backend != "milvus":
        return None
    record = manifest.get("milvus") or {}
    if (record.get("uri"), record.get("alias"), record.get("analyzer")) != (
            config.milvus_uri, config.milvus_collection, config.milvus_analyzer):
        return "索引尚未发布到所配置的 Milvus"
    if live_collection(config.milvus_uri, config.milvus_collection) is None:
        return "Milvus 中没有该索引的集合"
    return None


def stored_rows(index_dir) -> list[dict]:
    """A built index folder's passages as `publish` takes them (to publish it again)."""
    import json
    import sqlite3
    from pathlib import Path

    from qa.index.store import PASSAGES, embed_text, node_from_json
    from qa.text import normalise

    rows = []
    with sqlite3.connect(f"file:{Path(index_dir) / PASSAGES}?mode=ro", uri=True) as db:
        for node_id, key, data, tokens in db.execute(
                "SELECT node_id, text_hash, node, tokens FROM passages ORDER BY row"):
            meta = json.loads(data)["metadata"]
            text = embed_text(node_from_json(node_id, data))
            rows.append({"node_id": node_id, "text_hash": key, "text": text, "normalised": normalise(text),
                         "tokens": tokens.split(" ") if tokens else [],
                         **{k: str(meta.get(k, "")) for k in ("doc", "place", "kind", "period", "heading")}})
    return rows


def republish(config) -> tuple[PublishedVersion, list[str]]:
    """Publish the built index of `config.index_dir` as a new version and switch the alias to
    it (a re-index of the search engine alone); returns the version and the dropped ones."""
    from qa.index.store import LSA_VECTORS, VECTORS

    vectors = np.load(config.index_dir / VECTORS)
    lsa = np.load(config.index_dir / LSA_VECTORS) if (config.index_dir / LSA_VECTORS).exists() else None
    version = publish(config.milvus_uri, config.milvus_collection, config.milvus_analyzer,
                      stored_rows(config.index_dir), vectors, config.ann_min_passages, lsa)
    return version, switch_alias(config.milvus_uri, version)
