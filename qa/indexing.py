"""Build, check and load the index: FAISS vectors, jieba BM25, the node store and a manifest.

A build writes into a temporary folder and swaps it in, under a lock, so a failed or killed
build leaves the previous index serving and two builds never interleave. Only what is stale is
redone: unchanged documents keep their passages and (for neural models) their vectors.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.config import Config
from qa.errors import QAError

MANIFEST = "manifest.json"
REFIT_SHARE = 0.25  # refit the corpus-fitted LSA model when more than this share of text is new
EMBED_BATCH = 256
INDEX_FORMAT = 3  # bump when what a build writes changes


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def corpus_fingerprint(corpus_dir: Path) -> dict[str, str]:
    """sha256 of every visible file of the corpus (catalog included): what staleness compares."""
    if not corpus_dir.is_dir():
        raise QAError(f"语料目录不存在：{corpus_dir}")
    return {p.name: sha256_file(p) for p in sorted(corpus_dir.iterdir())
            if p.is_file() and not p.name.startswith(".")}


def expected_state(config: Config) -> dict:
    from qa.chunking import CHUNKER_VERSION
    from qa.embeddings import make_embedder

    return {"format": INDEX_FORMAT, "chunker": CHUNKER_VERSION,
            "embedder": make_embedder(config.embed_model, config.lsa_dim).id,
            "chunk_chars": [config.chunk_max_chars, config.chunk_min_chars],
            "files": corpus_fingerprint(config.corpus_dir)}


def read_manifest(index_dir: Path) -> dict | None:
    try:
        return json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def stale_reason(config: Config) -> str | None:
    """Why the index must be (re)built, in Chinese, or None when it is current and intact."""
    manifest = read_manifest(config.index_dir)
    if manifest is None:
        return "索引清单损坏：" + MANIFEST if (config.index_dir / MANIFEST).exists() else "索引不存在"
    state = expected_state(config)
    if manifest.get("format") != state["format"] or manifest.get("chunker") != state["chunker"]:
        return "索引格式或分块规则已更新"
    if manifest.get("embedder", {}).get("id") != state["embedder"]:
        return "向量模型已更换"
    if manifest.get("chunk_chars") != state["chunk_chars"]:
        return "分块参数已更改"
    if manifest.get("files") != state["files"]:
        return "语料文件有变化"
    for name, digest in manifest.get("artifacts", {}).items():
        path = config.index_dir / name
        if not path.exists():
            return f"索引文件缺失：{name}"
        if sha256_file(path) != digest:
            return f"索引文件损坏：{name}"
    return None


@contextmanager
def build_lock(index_dir: Path):
    """Serialise builds across processes; the second one waits, then finds the index fresh."""
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = index_dir.parent / f".{index_dir.name}.lock"
    with open(lock_path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("另一个进程正在构建索引，等待其完成…", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class BuildReport:
    rebuilt: bool
    reason: str | None
    seconds: float = 0.0
    documents: int = 0
    passages: int = 0
    reused_documents: int = 0
    skipped: list = field(default_factory=list)
    embedder: str = ""


def ensure_index(config: Config, force: bool = False, progress: bool = True) -> BuildReport:
    """Build when missing, stale or damaged; otherwise do nothing."""
    reason = "强制重建" if force else stale_reason(config)
    if reason is None:
        return BuildReport(rebuilt=False, reason=None)
    with build_lock(config.index_dir):
        recover_interrupted_build(config.index_dir)
        reason = "强制重建" if force else stale_reason(config)  # another process may have built it
        if reason is None:
            return BuildReport(rebuilt=False, reason=None)
        return _build(config, reason, progress, reuse=not force)


def recover_interrupted_build(index_dir: Path) -> None:
    """Under the build lock no build runs, so temp folders left by a killed one are removed; an
    index moved aside just before a killed swap is put back."""
    parent, name = index_dir.parent, index_dir.name
    for leftover in sorted(parent.glob(f".{name}.old-*")):
        if not index_dir.exists() and read_manifest(leftover) is not None:
            os.rename(leftover, index_dir)
            print(f"已恢复上次中断构建前的索引：{index_dir}", file=sys.stderr)
        else:
            shutil.rmtree(leftover, ignore_errors=True)
    for leftover in parent.glob(f".{name}.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)


@dataclass
class PreviousIndex:
    """What a rebuild may reuse: vectors and tokens by passage-text hash, and the LSA model."""

    directory: Path
    manifest: dict
    vectors: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)


def _previous_index(config: Config) -> PreviousIndex | None:
    manifest = read_manifest(config.index_dir)
    if manifest is None or stale_reason_ignoring_files(config, manifest):
        return None
    try:
        from qa.store import load_text_cache

        vectors, tokens = load_text_cache(config.index_dir)
    except (OSError, ValueError, KeyError):  # a damaged index is simply rebuilt from scratch
        return None
    return PreviousIndex(config.index_dir, manifest, vectors, tokens)


def stale_reason_ignoring_files(config: Config, manifest: dict) -> bool:
    from qa.chunking import CHUNKER_VERSION

    return (manifest.get("format") != INDEX_FORMAT or manifest.get("chunker") != CHUNKER_VERSION
            or manifest.get("chunk_chars") != [config.chunk_max_chars, config.chunk_min_chars])


def _build(config: Config, reason: str, progress: bool, reuse: bool = True) -> BuildReport:
    from qa.chunking import CHUNKER_VERSION, EMBED_KEYS, HeadingNodeParser
    from qa.embeddings import embedder_record, make_embedder
    from qa.loading import load_documents
    from qa.store import embed_text, write_store
    from qa.text import add_terms, tokenize

    started = time.perf_counter()
    files = corpus_fingerprint(config.corpus_dir)
    documents, skipped = load_documents(config.corpus_dir)
    for item in skipped:
        print(f"跳过 {item.path}：{item.reason}", file=sys.stderr)
    if not documents:
        raise QAError(f"语料目录 {config.corpus_dir} 中没有可读取的文档。")
    previous = _previous_index(config) if reuse else None  # --force: nothing reused, LSA refitted
    parser = HeadingNodeParser(max_chars=config.chunk_max_chars, min_chars=config.chunk_min_chars)
    iterator = documents
    if progress:
        from tqdm import tqdm
        iterator = tqdm(documents, desc="分块", unit="篇", file=sys.stderr)
    nodes = [node for document in iterator for node in parser.get_nodes_from_documents([document])]
    texts = [embed_text(node) for node in nodes]  # what both retrievers see of each passage
    keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
    for node, key in zip(nodes, keys):
        node.metadata["text_hash"] = key
        node.excluded_embed_metadata_keys = [k for k in node.metadata if k not in EMBED_KEYS]
        node.excluded_llm_metadata_keys = list(node.metadata)
        node.metadata_template = "{value}"
    old_docs = previous.manifest.get("documents", {}) if previous else {}
    reused = sum(old_docs.get(d.metadata["doc"]) == d.metadata["sha256"] for d in documents)

    terms = index_terms(documents)
    add_terms(terms)
    embedder = make_embedder(config.embed_model, config.lsa_dim)
    tokens = [previous.tokens[k] if previous and k in previous.tokens else tokenize(t)
              for k, t in zip(keys, texts)]
    vectors = _vectors(embedder, texts, tokens, keys, previous, progress)

    tmp = config.index_dir.parent / f".{config.index_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        embedder.save(tmp)
        artifacts = write_store(tmp, nodes, vectors, embedder, tokens)
        (tmp / "terms.json").write_text(json.dumps(terms, ensure_ascii=False), encoding="utf-8")
        (tmp / "skipped.json").write_text(json.dumps([s.__dict__ for s in skipped],
                                                     ensure_ascii=False), encoding="utf-8")
        artifacts += ["terms.json"] + (["lsa.pkl"] if (tmp / "lsa.pkl").exists() else [])
        from qa.commitments import DB_NAME, build_commitments
        build_commitments(tmp, documents, nodes)
        artifacts.append(DB_NAME)
        manifest = {
            "format": INDEX_FORMAT, "chunker": CHUNKER_VERSION,
            "embedder": embedder_record(embedder),
            "chunk_chars": [config.chunk_max_chars, config.chunk_min_chars],
            "files": files,
            "documents": {d.metadata["doc"]: d.metadata["sha256"] for d in documents},
            "catalog": {d.metadata["doc"]: {k: v for k, v in d.metadata.items()} for d in documents},
            "passages": len(nodes),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "artifacts": {name: sha256_file(tmp / name) for name in artifacts},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1),
                                    encoding="utf-8")
        _swap(tmp, config.index_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return BuildReport(rebuilt=True, reason=reason, seconds=time.perf_counter() - started,
                       documents=len(documents), passages=len(nodes), reused_documents=reused,
                       skipped=skipped, embedder=embedder.description)


def index_terms(documents) -> list[str]:
    """Words jieba must keep whole: places, quoted names and every indicator of every table."""
    from qa.tables import find_tables
    from qa.text import corpus_terms

    indicators = {row.indicator for d in documents for t in find_tables(d.text) for row in t.rows}
    return sorted(set(corpus_terms(d.text for d in documents)) | indicators)


def _vectors(embedder, texts: list[str], tokens: list[list[str]], keys: list[str],
             previous: PreviousIndex | None, progress: bool) -> np.ndarray:
    """Embed only text the previous index has not seen, when its model can be kept.

    A neural model is fixed, so its old vectors stay valid. The corpus-fitted LSA model is kept
    (and only new passages embedded) while few passages changed; past REFIT_SHARE new text it is
    fitted again on the whole corpus, as on a first build.
    """
    same_model = previous is not None and previous.manifest.get("embedder", {}).get("id") == embedder.id
    new = [i for i, k in enumerate(keys) if not (same_model and k in previous.vectors)]
    if embedder.name == "lsa":
        if same_model and len(new) <= REFIT_SHARE * len(texts):
            embedder.load(previous.directory)
        else:
            return np.asarray(embedder.fit(texts, tokens), dtype=np.float32)
    fresh = {}
    steps = range(0, len(new), EMBED_BATCH)
    if progress and len(new) > EMBED_BATCH:
        from tqdm import tqdm
        steps = tqdm(steps, desc="向量化", unit="批", file=sys.stderr)
    for start in steps:
        ids = new[start:start + EMBED_BATCH]
        for i, vector in zip(ids, embedder.embed([texts[i] for i in ids], [tokens[i] for i in ids])):
            fresh[i] = vector
    rows = [fresh[i] if i in fresh else previous.vectors[keys[i]] for i in range(len(texts))]
    return np.vstack(rows).astype(np.float32)


def _swap(tmp: Path, index_dir: Path) -> None:
    """Replace the live index in two renames; the old one is removed only after the swap."""
    old = index_dir.parent / f".{index_dir.name}.old-{os.getpid()}"
    if index_dir.exists():
        os.rename(index_dir, old)
    os.rename(tmp, index_dir)
    shutil.rmtree(old, ignore_errors=True)
