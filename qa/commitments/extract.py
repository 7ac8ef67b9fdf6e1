"""Commitments of one document: targets, projects and responsibilities, each checked against
the sentence it came from.

Every passage is read sentence by sentence (qa.commitments.statements); indicator-table rows
and 专栏 items have their own readers. A figure that describes a project (its investment or
scale, any figure of a numbered 专栏 project) belongs to the project, not to a target of its own.
A record whose name, actors or figures are not printed in its sentence is dropped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Callable

from qa.commitments.models import Record
from qa.commitments.project_filter import accept as accept_project
from qa.commitments.projects import BOX_ITEM, Candidate, candidates, item_candidate, to_project, unique
from qa.commitments.responsibilities import responsibilities
from qa.commitments.statements import Statement, statements
from qa.commitments.targets import table_targets, text_targets

EXTRACTOR_VERSION = 11  # bump when what extraction produces changes: indexes re-extract
DOCUMENT_TITLE = re.compile(r"(?:的|之)(?:通知|意见|决定|批复|复函|通告|公告)[”\"]?$")
CONTINUES = re.compile(r"^(?:该|本|此)?项目(?!建设内容)")


@dataclass
class Extraction:
    records: list[Record] = field(default_factory=list)
    dropped: list[Record] = field(default_factory=list)


def _box(heading: str) -> str:
    return next((h for h in reversed(heading.split(" › ")) if h.startswith("专栏")), "")


def _joined(sentences: list[Statement]) -> list[Statement]:
    """A sentence and the next one when that one goes on about it ("项目更新范围…，总投资…")."""
    joined: list[Statement] = []
    for s in sentences:
        if joined and CONTINUES.match(s.text):
            joined[-1] = replace(joined[-1], text=joined[-1].text + s.text)
        else:
            joined.append(s)
    return joined


def _items(node, meta: dict) -> list[list[Statement]]:
    """A passage's sentences in groups, a new group at each numbered item ("2 某某工程。")."""
    groups: list[list[Statement]] = [[]]
    for s in _joined(statements(node, meta)):
        if DOCUMENT_TITLE.search(s.text):
            continue  # "关于印发…规划等9个专项规划的通知": the cover notice's title commits nothing
        if BOX_ITEM.match(s.text) and groups[-1]:
            groups.append([])
        groups[-1].append(s)
    return [g for g in groups if g]


def project_candidates(group: list[Statement], box: str) -> tuple[list[Candidate], Candidate | None]:
    """A group's project candidates, and its numbered item's name when it has one."""
    return [c for s in group for c in candidates(s, box)], item_candidate(group, box)


def _group(group: list[Statement], box: str, accept: Callable[[Candidate], bool]) -> list[Record]:
    found, item = project_candidates(group, box)
    numbered = item is not None and accept(item)
    projects = unique([to_project(c) for c in ([item] if numbered else []) + found if accept(c)])
    described = {v for p in projects for v in [p.investment, p.scale] + [i.value for i in p.investment_items] if v}
    targets = [] if numbered else [t for s in group for t in text_targets(s) if t.value not in described]
    duties = [r for s in group for r in responsibilities(s)]
    return targets + projects + duties


def passage_groups(node, meta: dict) -> list[tuple[list[Statement], str]]:
    box = _box(node.metadata.get("heading", ""))
    return [(group, box) for group in _items(node, meta)]


def extract(document, nodes, accept: Callable[[Candidate], bool] = accept_project) -> Extraction:
    """All records of one document from its passages (table rows, text, 专栏 items); `accept`
    decides which project candidates are projects."""
    meta = dict(document.metadata)
    found: list[Record] = table_targets(document, nodes)
    for node in nodes:
        if node.metadata.get("type") in ("text", "box_item"):
            found += [r for group, box in passage_groups(node, meta) for r in _group(group, box, accept)]
    result = Extraction()
    for record in found:
        (result.records if record.verbatim() else result.dropped).append(record)
    return result
