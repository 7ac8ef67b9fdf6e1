"""The Python API the CLI and the web app share: build when needed, load once, ask."""
from __future__ import annotations

import sqlite3
import sys
import threading
import time
from typing import Callable

from qa.answer.answering import Answer, Answerer
from qa.config import Config
from qa.errors import DISK_FULL, QAError, is_disk_full
from qa.index.build import BuildReport, ensure_index, read_manifest
from qa.index.index import Index, load_tokenizer
from qa.memory import release_memory


class Assistant:
    """One loaded index and its answerer; build it once per process (per index)."""

    def __init__(self, config: Config | None = None, progress: bool = True, mode: str = "hybrid",
                 build: bool = True):
        self.config = config or Config.from_env()
        # build=False: load what is on disk as it is (an instance following another's builds)
        self.build_report: BuildReport = (
            build_index(self.config, progress=progress) if build
            else BuildReport(rebuilt=False, reason=None))
        if self.build_report.rebuilt and progress:
            print(describe_build(self.build_report), file=sys.stderr)
        # a process that has just built reuses its embedder (e5: the engine questions go through)
        self.index = Index.open(self.config, embedder=self.build_report.model)
        self.answerer = Answerer(self.index, self.config, mode=mode)

    @property
    def embedder_description(self) -> str:
        """Which model the index was built with, as the manifest records it."""
        return self.index.model.get("description") or self.index.embedder.description

    def prepare(self, questions: list[str]) -> None:
        """Embed many questions at once before asking them one by one (a batch)."""
        self.answerer.prepare(questions)

    def ask(self, question: str) -> Answer:
        return self.answerer.ask(question)


class AssistantHolder:
    """The assistant a long-running app serves, replaced whole when the index is rebuilt.

    A request reads `current` once and answers from that assistant to the end, so it never mixes
    two indexes; the swap is a single reference assignment, so no request waits for a rebuild.

    Several instances may serve one index folder: with `follow_seconds` > 0, reading `current`
    looks (at most that often) at the manifest on disk, and when another process has built a new
    index (the manifest's build stamp differs from the one served), loads it in the background
    and swaps it in; requests keep the old one until the new one is ready.
    """

    def __init__(self, assistant: Assistant, follow_seconds: float = 0.0):
        self._current = assistant
        self._reload_lock = threading.Lock()
        self.follow_seconds = follow_seconds
        self._looked = time.monotonic()
        self._following: threading.Thread | None = None
        self.reloads = 0  # swaps made because the index on disk changed

    @property
    def current(self) -> Assistant:
        if self.follow_seconds > 0 and time.monotonic() - self._looked >= self.follow_seconds:
            self._looked = time.monotonic()
            self._follow()
        return self._current

    def swap(self, assistant: Assistant) -> Assistant:
        """Serve `assistant` from now on; returns the one it replaces."""
        previous, self._current = self._current, assistant
        return previous

    def reload(self, load: Callable[[], Assistant]) -> Assistant:
        """Load a fresh assistant (one reload at a time) and swap it in once it is ready."""
        with self._reload_lock:
            fresh = load()
            del load
            self.swap(fresh)
            release_memory()  # the replaced index's tokenizer, caches and buffers
            return fresh

    def changed_on_disk(self) -> bool:
        """Whether the index folder holds another build than the one served."""
        served = self._current.index
        found = read_manifest(served.directory)
        return found is not None and build_stamp(found) != build_stamp(served.manifest)

    def _follow(self) -> None:
        if (self._following is not None and self._following.is_alive()) or not self.changed_on_disk():
            return

        def load() -> None:
            config = self._current.config
            try:
                if self.changed_on_disk():
                    self.reload(lambda: Assistant(config, progress=False, build=False))
                    self.reloads += 1
            except QAError as exc:  # a build half-swapped in: look again next time
                print(f"索引已变化，但暂时无法载入：{exc}", file=sys.stderr)
        self._following = threading.Thread(target=load, name="qa-index-follow", daemon=True)
        self._following.start()

    def wait_for_follow(self, timeout: float = 60.0) -> None:
        """Tests and benchmarks: wait for a background reload to finish."""
        if self._following is not None:
            self._following.join(timeout)


def build_stamp(manifest: dict) -> tuple:
    """What tells two builds apart: when it was built and the digests of what it wrote."""
    return manifest.get("built_at"), tuple(sorted((manifest.get("artifacts") or {}).items()))


def build_index(config: Config, force: bool = False, progress: bool = True) -> BuildReport:
    """`ensure_index`, with a full disk said in Chinese: the half-written new index is removed
    and the old one keeps serving."""
    try:
        return ensure_index(config, force=force, progress=progress)
    except (OSError, RuntimeError, sqlite3.Error) as exc:
        if is_disk_full(exc):
            raise QAError(f"{DISK_FULL}，索引未更新，仍使用原有索引：请清理磁盘后重试。") from exc
        raise


def describe_build(report: BuildReport) -> str:
    if not report.rebuilt:
        return "索引已是最新，无需重建。"
    return (f"索引已重建（原因：{report.reason}）：{report.documents} 篇文档，{report.passages} 个段落，"
            f"复用 {report.reused_documents} 篇，用时 {report.seconds:.1f} 秒；向量：{report.embedder}。")


def list_documents(config: Config) -> list[dict]:
    """`qa docs`: every document of the corpus with its catalog fields (catalog.json's where it
    has them, inferred from the text elsewhere) and `inferred`, the fields that were inferred."""
    from qa.ingest.catalog import FIELDS
    from qa.ingest.loading import scan_corpus

    listed = []
    for document in scan_corpus(config.corpus_dir).documents:
        meta = document.metadata
        listed.append({"doc": meta["doc"], **{key: meta.get(key, "") for key in FIELDS},
                       "place_path": meta.get("place_path", ""),
                       "inferred": meta.get("inferred", "").split()})
    return listed


def list_commitments(config: Config, **filters) -> list:
    """`qa commitments`: build the index when needed, then filter its commitment records
    (a `query` segmented by the index's own tokenizer) without loading vectors or BM25."""
    from qa.commitments.search import search_commitments
    from qa.commitments.stores import records_source

    ensure_index(config, progress=False)
    return search_commitments(records_source(config), limit=None,
                              tokenizer=load_tokenizer(config.index_dir), **filters)
