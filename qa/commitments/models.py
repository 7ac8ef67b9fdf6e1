"""Typed commitment records: one dataclass per kind, every field taken from the text.

A record keeps where it came from (document, passage, heading path, character span and the
sentence itself). `quoted()` lists what must be printed verbatim in that sentence — the name,
the actors, every figure — so a record that claims more than its sentence says is dropped.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import ClassVar

PLANNED, REPORTED = "planned", "reported"
UNDER_CONSTRUCTION, COMPLETED = "under_construction", "completed"
STATUSES = {"target": (PLANNED, REPORTED), "project": (PLANNED, UNDER_CONSTRUCTION, COMPLETED),
            "responsibility": (PLANNED, REPORTED)}
STATUS_NAMES = {PLANNED: "计划", REPORTED: "已实现", UNDER_CONSTRUCTION: "在建", COMPLETED: "已完成"}


@dataclass
class Source:
    """Where a record was read: the passage (node) and the sentence inside it."""

    doc: str
    node_id: str
    heading: str
    start: int  # character span of `sentence` in the document text
    end: int
    sentence: str
    passage: str


@dataclass
class Record:
    """What every kind has: a name, a status, the figure with its unit and year, the source."""

    kind: ClassVar[str] = ""
    name: str
    source: Source
    status: str = PLANNED
    value: str = ""
    unit: str = ""
    year: str = ""

    def facts(self) -> dict:
        """The kind's own fields, as stored and as printed by `qa commitments --json`."""
        base = {f.name for f in fields(Record)}
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name not in base}

    def quoted(self) -> list[str]:
        return [self.name, self.value]

    def verbatim(self) -> bool:
        """Name, actors and figures all appear in the source sentence as printed."""
        return all(text in self.source.sentence for text in self.quoted() if text)


def _plain(value):
    return [asdict(v) if hasattr(v, "__dataclass_fields__") else v for v in value] \
        if isinstance(value, list) else value


@dataclass
class Target(Record):
    """A quantified indicator: planned (a commitment) or reported (an actual figure)."""

    kind: ClassVar[str] = "target"
    measure: str = ""  # 增长 / 占全区比重 … when the sentence prints it apart from the name
    qualifier: str = ""  # 力争 / 以上 / 左右 …
    baseline: str = ""
    baseline_year: str = ""
    attribute: str = ""  # 预期性 / 约束性
    growth: str = ""  # 年均增长 column of an indicator table
    category: str = ""
    table: str = ""
    number: str = ""
    note: str = ""
    value_note: str = ""  # what a bracketed table value means ("五年累计数")
    origin: str = "text"  # "table" (an indicator-table row) or "text"

    def quoted(self) -> list[str]:
        return super().quoted() + [self.measure, self.baseline, self.growth]


@dataclass
class Investment:
    label: str  # 总投资 / 建设投资 / 2024年计划投资 …
    value: str


@dataclass
class Project(Record):
    """A named undertaking: its investment, place, scale, timing and stage of construction."""

    kind: ClassVar[str] = "project"
    investment: str = ""  # the total as printed; also in `value`
    investment_items: list[Investment] = field(default_factory=list)
    location: str = ""
    scale: str = ""
    start_year: str = ""  # when work starts / finishes, as printed ("2025年…建成")
    completion_year: str = ""
    progress: str = ""  # the text's own words for the stage (建成投用, 加快建设 …)
    box: str = ""  # the 专栏 it is listed in
    origin: str = "text"  # "box" (a 专栏 item) or "text"

    def quoted(self) -> list[str]:
        return super().quoted() + [self.investment, self.location, self.scale, self.progress] + \
            [i.value for i in self.investment_items]


@dataclass
class Responsibility(Record):
    """Who does what: the lead, partners, the task and the text's own verb."""

    kind: ClassVar[str] = "responsibility"
    lead: str = ""
    partners: list[str] = field(default_factory=list)
    task: str = ""
    verb: str = ""  # 牵头 / 负责 / 统筹 / 配合 / 落实 …

    def quoted(self) -> list[str]:
        return super().quoted() + [self.lead, self.task, self.verb] + self.partners
