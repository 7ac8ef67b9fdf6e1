"""A stored passage and a retrieved one, as answering reads them.

Answering reads passages back from the index's SQLite store and passes retrieval results around;
both need only a few fields, so they are plain classes here rather than llama-index's pydantic
`TextNode` and `NodeWithScore`, whose package takes about 1.5 s to import (half of a cold
`qa ask`). Names follow llama-index (`node_id`, `text`, `metadata`, `get_content()`,
`NodeWithScore(node=…, score=…)`), so the answer code reads either: the build still chunks into
llama-index nodes, and the evaluations hand llama-index results to the same code.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Passage:
    """One passage of the index: its text, its metadata (doc, heading, type, …) and where it
    starts and ends in its document."""

    node_id: str
    text: str
    metadata: dict
    start_char_idx: int | None = None
    end_char_idx: int | None = None

    def get_content(self) -> str:
        """The passage's own text (llama-index's `get_content()` with no metadata)."""
        return self.text


@dataclass
class NodeWithScore:
    """A passage and the score that ranked it."""

    node: Passage
    score: float | None = None

    @property
    def node_id(self) -> str:
        return self.node.node_id

    @property
    def text(self) -> str:
        return self.node.text

    @property
    def metadata(self) -> dict:
        return self.node.metadata

    def get_content(self) -> str:
        return self.node.get_content()
