"""Answering from commitment records: targets, projects and responsibilities as data.

The records (qa.commitments.database, read through qa.commitments.search) point at the passages that hold a plan's figures. They add those
passages to what the answerer reads, render an indicator-table row as one short fact, and link
the same indicator or project across documents so an answer can show each figure with its own
source, newest first. Records are looked up per passage when needed, never all at start-up:
a district's corpus shares indicator names across hundreds of documents.
"""
from __future__ import annotations

import re
from functools import lru_cache

from qa.index.passage import NodeWithScore
from qa.commitments.projects import INVESTMENT
from qa.commitments.search import Commitment, match_for_question, records_at, related_of
from qa.index.index import Index
from qa.search.query import Query

NUMBER = re.compile(r"\d")
EMPTY_VALUES = ("", "——", "-", "—")
RECORDS_READ = 3  # records whose passages join the retrieved ones


RECORDS_CACHED = 4096
ASKS_INVESTMENT = re.compile(r"投资|多少钱|资金")
ASKS_MORE = re.compile(r"哪些|什么|多大|面积|占地|规模|建设内容|何时|什么时候|哪年|位置|在哪")  # passages whose records an answerer remembers


class RecordAnswers:
    """The commitments of one index, read through the connection the index owns."""

    def __init__(self, index: Index):
        self.index = index
        self.nodes = index.passages
        self.available = index.commitments is not None
        self._db = index.commitments
        self.at = lru_cache(maxsize=RECORDS_CACHED)(self._at)

    def _at(self, node_id: str) -> tuple[Commitment, ...]:
        """The records extracted from one passage."""
        return tuple(records_at(self._db, node_id)) if self.available else ()

    def passages(self, query: Query) -> list[NodeWithScore]:
        """Passages of the records that best match the question (recall beyond retrieval)."""
        if not self.available or not query.terms:
            return []
        records = match_for_question(self._db, self.index.tokenizer, query.terms, query.places,
                                     query.years, limit=RECORDS_READ, with_related=False,
                                     counts=self.index.commitment_counts)
        found = []
        for record in records:
            node = self.nodes.get(record.node_id)
            if node is not None and node.node_id not in {n.node.node_id for n in found}:
                found.append(NodeWithScore(node=node, score=record.score))
        return found

    def year_of(self, node_id: str) -> str:
        """How new a passage's figures are: its first record's year, a span by its last year
        ("2021-2025" is newer than "2024")."""
        year = next((r.year for r in self.at(node_id) if r.year), "")
        return max(re.findall(r"(?:19|20)\d{2}", year), default=year)

    def fact(self, node_id: str, sentence: str, query: Query) -> str | None:
        """What a record says, as the answer's text for a cited sentence: an indicator-table row,
        or, asked only how much a project invests, its investment."""
        asks_investment = ASKS_INVESTMENT.search(query.text) and not ASKS_MORE.search(query.text)
        return self.table_fact(node_id) or (self.project_fact(node_id, sentence) if asks_investment else None)

    def table_fact(self, node_id: str) -> str | None:
        """「指标（单位）：2030年目标3.8；2025年3.2；预期性指标。」for an indicator-table row."""
        record = next((r for r in self.at(node_id)
                       if r.kind == "target" and r.fields.get("origin") == "table"), None)
        if record is None:
            return None
        f = record.fields
        unit = f"（{record.unit}）" if record.unit else ""
        parts = [f"{record.year}年目标{record.value}"]
        if f.get("baseline") not in EMPTY_VALUES:
            parts.append(f"{f.get('baseline_year', '')}年{f['baseline']}")
        if f.get("growth") not in EMPTY_VALUES:
            parts.append(f"年均增长{f['growth']}")
        text = f"{record.name}{unit}：" + "；".join(parts)
        text += f"；{f.get('attribute', '')}指标"
        values = record.value + f.get("baseline", "") + f.get("growth", "")
        if f.get("note") and re.search(r"[\[\]〔〕﹝﹞*]", values):
            text += f"（注：{f['note'].rstrip('。')}）"
        return text + "。"

    def project_fact(self, node_id: str, sentence: str) -> str | None:
        """「某某地块城市更新项目：总投资32.65亿元，其中建设投资29.34亿元」for a project whose
        sentence is the one cited; every label and figure is printed in that sentence."""
        for record in self.at(node_id):
            f = record.fields
            if record.kind != "project" or not f.get("investment") \
                    or not sentence.strip() or sentence.strip() not in record.sentence:
                continue
            label = INVESTMENT.search(record.sentence)
            parts = [(label.group(1) if label and label.group(2) == f["investment"] else "投资") + f["investment"]]
            parts += [f"其中{i['label']}{i['value']}" for i in f.get("investment_items") or []]
            return f"{record.name}：" + "，".join(parts)
        return None

    def linked(self, node_id: str, query: Query, exclude: set[str]) -> list[dict]:
        """The same indicator or project, with a figure, in other documents of the same place,
        newest first (each a dict with node_id, value, year, doc, place)."""
        if query.years or not self.available:
            return []  # a question about one year wants that year's figure only
        out: dict[str, dict] = {}
        for record in self.at(node_id):
            for other in related_of(self._db, record):
                if (other["node_id"] in exclude or other["doc"] == record.doc
                        or other["place"] != record.place or not NUMBER.search(other["value"] or "")):
                    continue
                out.setdefault(other["node_id"], other)
        return sorted(out.values(), key=lambda o: o["year"], reverse=True)
