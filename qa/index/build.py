"""Build, check and load the index: FAISS vectors, jieba BM25, the passage store and a manifest.

A build writes into a temporary folder and swaps it in, under a lock, so a failed or killed
build leaves the previous index serving and two builds never interleave. Only what is stale is
redone: a document whose bytes and catalog entry are unchanged is not read again; its passages,
tokens, vectors and commitment records are copied from the previous index, and the
corpus-fitted LSA model is kept while few passages are new. What spans the whole corpus (the
FAISS and BM25 indexes, cross-document links) is rebuilt from those parts.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from qa.commitments.extract import EXTRACTOR_VERSION
from qa.config import Config
from qa.errors import QAError
from qa.index import reuse
from qa.index.e5_convert import sha256_file  # the one file digest: manifests and the model weights
from qa.index.store import MANIFEST
from qa.memory import release_memory

INDEX_FORMAT = 10  # bump when what a build writes changes (10: the LSA model as JSON + .npy, no pickle)


def corpus_fingerprint(corpus_dir: Path) -> dict[str, str]:
    """sha256 of every visible file of the corpus (catalog included): what staleness compares."""
    if not corpus_dir.is_dir():
        raise QAError(f"语料目录不存在：{corpus_dir}")
    return {p.name: sha256_file(p) for p in sorted(corpus_dir.iterdir())
            if p.is_file() and not p.name.startswith(".")}


def expected_state(config: Config) -> dict:
    from qa.ingest.chunking import CHUNKER_VERSION
    from qa.index.embeddings import make_embedder

    embedder = make_embedder(config.embed_model, config.lsa_dim)
    return {"format": INDEX_FORMAT, "chunker": CHUNKER_VERSION, "extractor": EXTRACTOR_VERSION,
            "embedder": embedder.id, "lsa": _second_lsa_id(embedder, config),
            "chunk_chars": [config.chunk_max_chars, config.chunk_min_chars],
            "files": corpus_fingerprint(config.corpus_dir)}


def second_lsa(embedder, config: Config, tokenize=None):
    """The corpus-fitted LSA fused beside a neural model (None when LSA is the model itself)."""
    from qa.index.embeddings import LSAEmbedder

    return None if isinstance(embedder, LSAEmbedder) else LSAEmbedder(config.lsa_dim, tokenize)


def _second_lsa_id(embedder, config: Config) -> str | None:
    lsa = second_lsa(embedder, config)
    return lsa.id if lsa is not None else None


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
    if manifest.get("extractor") != state["extractor"]:
        return "承诺抽取规则已更新"
    if manifest.get("embedder", {}).get("id") != state["embedder"]:
        return "向量模型已更换"
    if (manifest.get("lsa") or {}).get("id") != state["lsa"]:
        return "LSA 向量参数已更改"
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
    from qa.commitments.postgres import stale_reason as commitments_stale
    from qa.index.milvus import stale_reason as milvus_stale

    return milvus_stale(config, manifest) or commitments_stale(config, manifest)


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
    model: object = field(default=None, repr=False)  # the loaded embedder, for Index.open to reuse


def ensure_index(config: Config, force: bool = False, progress: bool = True) -> BuildReport:
    """Build when missing, stale or damaged; otherwise do nothing. A build frees the memory its
    model needed to embed the corpus (e5: the torch encoder): questions never use it."""
    reason = "强制重建" if force else stale_reason(config)
    if reason is None:
        return BuildReport(rebuilt=False, reason=None)
    with build_lock(config.index_dir):
        recover_interrupted_build(config.index_dir)
        reason = "强制重建" if force else stale_reason(config)  # another process may have built it
        if reason is None:
            return BuildReport(rebuilt=False, reason=None)
        return _build(config, reason, progress, reuse_previous=not force)


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


def _previous_index(config: Config) -> reuse.PreviousIndex | None:
    manifest = read_manifest(config.index_dir)
    if manifest is None or stale_reason_ignoring_files(config, manifest):
        return None
    return reuse.open_previous(config.index_dir, manifest)


def stale_reason_ignoring_files(config: Config, manifest: dict) -> bool:
    from qa.ingest.chunking import CHUNKER_VERSION

    return (manifest.get("format") != INDEX_FORMAT or manifest.get("chunker") != CHUNKER_VERSION
            or manifest.get("extractor") != EXTRACTOR_VERSION
            or manifest.get("chunk_chars") != [config.chunk_max_chars, config.chunk_min_chars])


def _build(config: Config, reason: str, progress: bool, reuse_previous: bool = True) -> BuildReport:
    from qa.index.embeddings import make_embedder

    previous = _previous_index(config) if reuse_previous else None  # --force: nothing reused, LSA refitted
    embedder = make_embedder(config.embed_model, config.lsa_dim)
    same_model = previous is not None and previous.manifest.get("embedder", {}).get("id") == embedder.id
    if not same_model:  # every passage is embedded: the model loads while the corpus is read
        embedder.preload()
    try:
        return _build_from(config, reason, progress, previous, same_model, embedder)
    except BaseException:  # a failed build keeps no model (e5: its encoder's process)
        embedder.release()
        raise


def _build_from(config: Config, reason: str, progress: bool, previous, same_model: bool,
                embedder) -> BuildReport:
    from qa.ingest.chunking import CHUNKER_VERSION
    from qa.commitments.database import DB_NAME, build_commitments
    from qa.index.embeddings import LSAEmbedder, embedder_record, make_embedder
    from qa.ingest.loading import scan_corpus
    from qa.index.store import PASSAGES, PLACES, TERMS, write_lsa_vectors, write_passages, write_vectors
    from qa.index.vocabulary import places_and_names
    from qa.text import Tokenizer, normalise

    started = time.perf_counter()
    files = corpus_fingerprint(config.corpus_dir)
    scan = scan_corpus(config.corpus_dir, previous.documents() if previous else None)
    for item in scan.skipped:
        print(f"跳过 {item.path}：{item.reason}", file=sys.stderr)
    if not scan.fingerprints:
        raise QAError(f"语料目录 {config.corpus_dir} 中没有可读取的文档。")

    fresh_nodes, entries = _chunk(config, scan, progress)
    passages = reuse.collect(scan, fresh_nodes, entries, previous, same_model)
    kept = previous if same_model else None
    # a neural model needs no tokens: its vectors are computed (in its own process) while the
    # passages are segmented, the LSA fitted and the commitments extracted
    pending = None if isinstance(embedder, LSAEmbedder) else _embed_in_background(
        embedder, passages, kept, progress)

    places, names = places_and_names({doc: e.metadata for doc, e in entries.items()})
    terms = sorted(names.union(*(e.terms for e in entries.values())))
    tokenizer = Tokenizer(terms, names=names)
    if pending is None:  # LSA is the model: its words come from the index's tokenizer
        embedder = make_embedder(config.embed_model, config.lsa_dim, tokenizer.tokenize)
    lsa = second_lsa(embedder, config, tokenizer.tokenize)
    changed_terms = {normalise(t) for t in set(terms) ^ previous.terms()} if previous else set()
    resegmented = reuse.resegment(passages, changed_terms, keep_vectors=lsa is not None) if changed_terms else set()
    passages.tokens = [t if t is not None else list(tokenizer.segment(passages.texts[i]))
                       for i, t in enumerate(passages.tokens)]
    vectors = None
    if pending is None:
        vectors = reuse.vectors(embedder, passages, passages.old_rows,
                                kept.vectors if kept else None, kept.directory if kept else None,
                                progress)
    lsa_vectors = None
    if lsa is not None:  # the corpus-fitted LSA beside the model: its rows depend on the tokens
        lsa_rows = [None if i in resegmented else row for i, row in enumerate(passages.old_rows)]
        usable = kept is not None and kept.lsa_vectors is not None
        lsa_vectors = reuse.vectors(lsa, passages, lsa_rows, kept.lsa_vectors if usable else None,
                                    kept.directory if usable else None, progress)

    tmp = config.index_dir.parent / f".{config.index_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        write_passages(tmp / PASSAGES, list(entries.values()), passages)
        if lsa is not None:
            lsa.save(tmp)
        (tmp / TERMS).write_text(json.dumps({"terms": terms, "names": sorted(names)}, ensure_ascii=False),
                                 encoding="utf-8")
        (tmp / PLACES).write_text(json.dumps([p.to_json() for p in places], ensure_ascii=False),
                                  encoding="utf-8")
        (tmp / "skipped.json").write_text(json.dumps([s.__dict__ for s in scan.skipped],
                                                     ensure_ascii=False), encoding="utf-8")
        new_nodes = [n for doc in sorted(fresh_nodes) for n in fresh_nodes[doc]]
        build_commitments(tmp, scan.documents, new_nodes,
                          previous=previous.directory / DB_NAME if previous else None,
                          kept=sorted(scan.unchanged), changed_terms=changed_terms,
                          tokenizer=tokenizer)
        if pending is not None:
            vectors = pending.result()
        embedder.release()  # e5: the encoder's process (torch, the tokenizer); questions use the engine
        release_memory()
        embedder.save(tmp)
        write_vectors(tmp, vectors, passages.tokens, config.ann_min_passages)
        if lsa is not None:
            write_lsa_vectors(tmp, lsa_vectors, config.ann_min_passages)
        published = None
        if config.search_backend == "milvus":  # a new collection version, behind the alias below
            from qa.index.milvus import publish_passages, switch_alias

            published = publish_passages(config, passages, vectors, lsa_vectors)
        artifacts = [p.relative_to(tmp).as_posix() for p in sorted(tmp.rglob("*")) if p.is_file()]
        manifest = {
            "format": INDEX_FORMAT, "chunker": CHUNKER_VERSION, "extractor": EXTRACTOR_VERSION,
            "embedder": embedder_record(embedder),
            "lsa": embedder_record(lsa) if lsa is not None else None,
            "chunk_chars": [config.chunk_max_chars, config.chunk_min_chars],
            "files": files,
            "documents": {doc: entries[doc].fingerprint for doc in sorted(entries)},
            "catalog": {doc: entries[doc].metadata for doc in sorted(entries)},
            "passages": len(passages.node_ids),
            "ann": len(passages.node_ids) >= config.ann_min_passages,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "artifacts": {name: sha256_file(tmp / name) for name in artifacts},
        }
        if published is not None:
            manifest["milvus"] = {"uri": config.milvus_uri, **published.record()}
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1),
                                    encoding="utf-8")
        _swap(tmp, config.index_dir)
        if published is not None:
            switch_alias(config.milvus_uri, published)
        if config.database_url:  # the replicas' commitments, replaced in one transaction
            from qa.commitments.postgres import publish
            publish(config.database_url, config.index_dir / DB_NAME, manifest["artifacts"][DB_NAME])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return BuildReport(rebuilt=True, reason=reason, seconds=time.perf_counter() - started,
                       documents=len(entries), passages=len(passages.node_ids),
                       reused_documents=len(scan.unchanged), skipped=scan.skipped,
                       embedder=embedder.description, model=embedder)


def _embed_in_background(embedder, passages, kept, progress: bool) -> Future:
    """The model's rows of every passage (old ones copied when `kept`), on a thread that mostly
    waits for the encoder's process; it works on its own copy of the lists the build goes on
    changing (tokens)."""
    own = replace(passages, texts=list(passages.texts), tokens=list(passages.tokens),
                  old_rows=list(passages.old_rows))
    pool = ThreadPoolExecutor(1, thread_name_prefix="qa-embed")
    try:
        return pool.submit(reuse.vectors, embedder, own, own.old_rows,
                           kept.vectors if kept else None, kept.directory if kept else None,
                           progress)
    finally:
        pool.shutdown(wait=False)  # the thread ends with its one task


def _chunk(config: Config, scan, progress: bool) -> tuple[dict[str, list], dict[str, object]]:
    """Passages and catalog entries of the documents read in this build (new or changed)."""
    from qa.ingest.node_parser import HeadingNodeParser
    from qa.ingest.divisions import Divisions, place_from_path
    from qa.ingest.gazetteer import named_places
    from qa.index.store import DocumentEntry, prepare_node
    from qa.index.vocabulary import document_terms

    fresh_nodes: dict[str, list] = {}
    entries: dict[str, DocumentEntry] = {}
    parser = HeadingNodeParser(max_chars=config.chunk_max_chars, min_chars=config.chunk_min_chars)
    iterator = scan.documents
    if progress and scan.documents:
        from tqdm import tqdm
        iterator = tqdm(scan.documents, desc="分块", unit="篇", file=sys.stderr)
    divisions = Divisions.load() if scan.documents else None
    for document in iterator:
        doc = document.metadata["doc"]
        fresh_nodes[doc] = [prepare_node(n) for n in parser.get_nodes_from_documents([document])]
        place = place_from_path(document.metadata.get("place_path", ""))
        named = named_places(place, document.text, divisions) if place else []
        entries[doc] = DocumentEntry(doc, scan.fingerprints[doc],
                                     {**document.metadata, "named_places": named},
                                     document_terms(document))
    return fresh_nodes, entries


def _swap(tmp: Path, index_dir: Path) -> None:
    """Replace the live index in two renames; the old one is removed only after the swap."""
    old = index_dir.parent / f".{index_dir.name}.old-{os.getpid()}"
    if index_dir.exists():
        os.rename(index_dir, old)
    os.rename(tmp, index_dir)
    shutil.rmtree(old, ignore_errors=True)
