"""Sentences with what their place in a document says: planned or reported, and which year.

A plan reviews the past (发展基础, 执行情况, 工作回顾) before it commits to the future, so a figure's
status follows its section unless its own clause says otherwise (现有, 已; 到2030年, 力争). The
year of a reported figure is the year it reports: the year printed before it, else the section's
year, else the span before the plan's period (a 2026-2030 plan reviews 2021-2025); a planned
figure's year is its target year, else the section's year, else the plan's period.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from qa.commitments.models import PLANNED, REPORTED, Source

SENTENCE = re.compile(r"[^。；;！？!?\n]+[。；;！？!?]?")
YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?:年|—|-|－)")
CHANGED_TO = re.compile(r"\d[^，,]*?(?:增至|增加到|增加至|提高到|提高至|提升到|提升至|增长到|达到|降至|降低到|下降到|减少到|扩大到)")
TARGET_YEAR = re.compile(r"(?:到|至)\s*$")
FIVE_YEAR = re.compile(r"[“\"]?十([一二三四五六七八九])五[”\"]?")
CN_DIGITS = "一二三四五六七八九"
RETROSPECTIVE = re.compile(r"执行情况|回顾|发展基础|发展成就|主要成就|取得的成绩|工作成效|过去[一五]年")
PROSPECTIVE = re.compile(r"目标|任务|安排|环境|趋势|展望|远景|要求|指导|思路|重点")
PAST_CLAUSE = re.compile(r"现有|由现在|由现状|已经|已(?!有)|目前|截至|截止|前期已|上年|去年")
FUTURE_CLAUSE = re.compile(r"(?:到|至)\s*(?:19|20)\d{2}年|力争|争取|确保|预期|目标|计划|将|拟|新增|新建|再增加")


def five_year_span(number: str) -> str:
    """十三五 → 2016-2020 (the 10th plan began in 2001)."""
    n = 10 + CN_DIGITS.index(number) + 1
    start = 2001 + 5 * (n - 10)
    return f"{start}-{start + 4}"


def _span(period: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"(\d{4})\s*[-—–~至]\s*(\d{4})", period or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


@dataclass
class Section:
    """What a passage's heading path tells: whether it reviews the past, and its year."""

    retrospective: bool
    year: str

    @classmethod
    def of(cls, heading: str) -> "Section":
        parts = [p for p in heading.split(" › ") if p]
        retrospective, tie = False, None
        for part in parts:  # the broadest section that says decides: sub-headings name topics
            past, future = RETROSPECTIVE.search(part), PROSPECTIVE.search(part)
            if bool(past) != bool(future):
                retrospective = bool(past)
                break
            if past and tie is None:  # "发展基础与战略环境": the first named, unless a sub-heading says
                tie = past.start() < future.start()
        else:
            retrospective = bool(tie)
        year = next((m.group(1) for p in reversed(parts) for m in [YEAR.search(p)] if m), "")
        return cls(retrospective, year)


@dataclass
class Statement:
    """One sentence of a passage, with the defaults its document and section give."""

    text: str
    start: int  # offset in the document
    heading: str
    node_id: str
    doc: str
    passage: str
    section: Section
    period: str  # the document's period ("2026-2030")

    @property
    def annual(self) -> bool:
        span = _span(self.period)
        return span is not None and span[1] - span[0] <= 1

    def default_year(self, status: str) -> str:
        span = _span(self.period)
        if self.section.year:
            return self.section.year
        if span is None:
            return self.period
        if self.annual:
            return str(span[0] if status == REPORTED else span[1])
        if status == REPORTED and not self.section.retrospective:
            return str(span[0] - 1)  # "现有16家" in a plan: the year before it begins
        if status == REPORTED:
            length = span[1] - span[0] + 1
            return f"{span[0] - length}-{span[0] - 1}"
        return self.period

    def status_at(self, position: int) -> str:
        """Planned or reported, for a figure at `position` of the sentence."""
        clause = re.split(r"[，,：:]", self.text[:position])[-1]
        past = list(PAST_CLAUSE.finditer(clause))
        if past and not CHANGED_TO.search(clause[past[-1].end():]):
            return REPORTED  # "由现在的65.8%" is reported; "…增至85%" after it is not
        if self.section.retrospective:
            explicit = self.year_before(position)
            span = _span(self.period)
            later = explicit.isdigit() and span is not None and int(explicit) > span[0] and not self.annual
            return PLANNED if later and FUTURE_CLAUSE.search(self.text[:position]) else REPORTED
        return PLANNED

    def year_before(self, position: int, status: str = PLANNED) -> str:
        """The year (or five-year span) printed last before `position`, or ''; a reported
        figure does not take a target year ("到2025年…由现在的65.8%")."""
        before = self.text[:position]
        found = [(m.start(), m.group(1)) for m in YEAR.finditer(before)
                 if status != REPORTED or not TARGET_YEAR.search(before[:m.start()])]
        found += [(m.start(), five_year_span(m.group(1))) for m in FIVE_YEAR.finditer(before)]
        if not found:
            return ""
        at, year = max(found)
        # "由“十二五”末的62.93%提升至70.2%": the later figure is not of the year printed before the first
        after_year = re.sub(r"^(?:19|20)\d{2}", "", before[at:])
        return "" if CHANGED_TO.search(after_year) and not TARGET_YEAR.search(before[:at]) else year

    def year_at(self, position: int, status: str) -> str:
        return self.year_before(position, status) or self.default_year(status)

    def source(self, start: int = 0, end: int | None = None) -> Source:
        """The source of a record read from text[start:end] of this sentence (all of it by default)."""
        end = len(self.text) if end is None else end
        return Source(self.doc, self.node_id, self.heading, self.start + start, self.start + end,
                      self.text[start:end], self.passage)


def statements(node, meta: dict) -> list[Statement]:
    """The sentences of a passage, each knowing its section, period and offset."""
    text, heading = node.get_content(), node.metadata.get("heading", "")
    section = Section.of(heading)
    offset = node.start_char_idx or 0
    found = []
    for m in SENTENCE.finditer(text):
        sentence = m.group()
        stripped = sentence.strip()
        if not stripped:
            continue
        lead = sentence.index(stripped[0])
        found.append(Statement(stripped, offset + m.start() + lead, heading, node.node_id, meta["doc"],
                               text, section, meta.get("period", "")))
    return found
