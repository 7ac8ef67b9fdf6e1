"""Answering from commitment records: targets, projects and responsibilities as data.

The records (qa.commitments) point at the passages that hold a plan's figures. They add those
passages to what the answerer reads, render an indicator-table row as one short fact, and link
the same indicator or project across documents so an answer can show each figure with its own
source, newest first.
"""
from __future__ import annotations

import re
from pathlib import Path

from llama_index.core.schema import NodeWithScore

from qa.commitments import DB_NAME, Commitment, match_for_question, search_commitments
from qa.query import Query

NUMBER = re.compile(r"\d")
EMPTY_VALUES = ("", "——", "-", "—")
RECORDS_READ = 3  # records whose passages join the retrieved ones


class RecordAnswers:
    """The commitments database of one index, opened once per process."""

    def __init__(self, index_dir: Path, node_by_id: dict):
        self.path = Path(index_dir) / DB_NAME
        self.nodes = node_by_id
        self.by_node: dict[str, list[Commitment]] = {}
        if self.path.exists():
            for record in search_commitments(self.path, limit=None):
                self.by_node.setdefault(record.node_id, []).append(record)

    @property
    def available(self) -> bool:
        return bool(self.by_node)

    def passages(self, query: Query) -> list[NodeWithScore]:
        """Passages of the records that best match the question (recall beyond retrieval)."""
        if not self.available or not query.terms:
            return []
        records = match_for_question(self.path, query.terms, query.places, query.years,
                                     limit=RECORDS_READ)
        found = []
        for record in records:
            node = self.nodes.get(record.node_id)
            if node is not None and node.node_id not in {n.node.node_id for n in found}:
                found.append(NodeWithScore(node=node, score=record.score))
        return found

    def table_fact(self, node_id: str) -> str | None:
        """「指标（单位）：2030年目标3.8；2025年3.2；预期性指标。」for an indicator-table row."""
        record = next((r for r in self.by_node.get(node_id, [])
                       if r.kind == "target" and r.fields.get("source") == "table"), None)
        if record is None:
            return None
        f = record.fields
        unit = f"（{record.unit}）" if record.unit else ""
        parts = [f"{f.get('target_year', '')}年目标{f.get('target_value', '')}"]
        if f.get("base_value") not in EMPTY_VALUES:
            parts.append(f"{f.get('base_year', '')}年{f['base_value']}")
        if f.get("growth") not in EMPTY_VALUES:
            parts.append(f"年均增长{f['growth']}")
        text = f"{f.get('indicator', record.name)}{unit}：" + "；".join(parts)
        text += f"；{f.get('attribute', '')}指标"
        values = f.get("target_value", "") + f.get("base_value", "") + f.get("growth", "")
        if f.get("note") and re.search(r"[\[\]〔〕﹝﹞*]", values):
            text += f"（注：{f['note'].rstrip('。')}）"
        return text + "。"

    def linked(self, node_id: str, query: Query, exclude: set[str]) -> list[tuple[str, Commitment]]:
        """The same indicator or project, with a figure, in other documents of the same place,
        newest first: (node id, record) pairs."""
        if query.years:
            return []  # a question about one year wants that year's figure only
        out = []
        for record in self.by_node.get(node_id, []):
            for other in record.related:
                if (other["node_id"] in exclude or other["doc"] == record.doc
                        or other["place"] != record.place or not NUMBER.search(other["value"] or "")):
                    continue
                match = next((r for r in self.by_node.get(other["node_id"], []) if r.id == other["id"]), None)
                if match is not None:
                    out.append((other["node_id"], match))
        out.sort(key=lambda pair: pair[1].year, reverse=True)
        unique = {}
        for node, record in out:
            unique.setdefault(node, record)
        return list(unique.items())
