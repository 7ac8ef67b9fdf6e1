"""The Python API the CLI and the web app share: build when needed, load once, ask."""
from __future__ import annotations

import sys

from qa.answer.answering import Answer, Answerer
from qa.config import Config
from qa.index.build import BuildReport, ensure_index
from qa.index.store import Store, open_store


class Assistant:
    """One loaded index and answerer; build it once per process."""

    def __init__(self, config: Config | None = None, progress: bool = True, mode: str = "hybrid"):
        self.config = config or Config.from_env()
        self.build_report: BuildReport = ensure_index(self.config, progress=progress)
        if self.build_report.rebuilt and progress:
            print(describe_build(self.build_report), file=sys.stderr)
        self.store: Store = open_store(self.config)
        self.answerer = Answerer(self.store, self.config, mode=mode)

    @property
    def embedder_description(self) -> str:
        return self.store.embedder.description

    def ask(self, question: str) -> Answer:
        return self.answerer.ask(question)


def describe_build(report: BuildReport) -> str:
    if not report.rebuilt:
        return "索引已是最新，无需重建。"
    return (f"索引已重建（原因：{report.reason}）：{report.documents} 篇文档，{report.passages} 个段落，"
            f"复用 {report.reused_documents} 篇，用时 {report.seconds:.1f} 秒；向量：{report.embedder}。")
