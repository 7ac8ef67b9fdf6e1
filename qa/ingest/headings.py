"""Chinese heading patterns of planning documents, shared by text repair and chunking.

Repair needs them so a heading is never glued to the paragraph after it; chunking needs
them to build heading paths. Levels are relative: a smaller number is a higher heading.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

CN_NUM = "一二三四五六七八九十百零〇两"

# (kind, level, pattern). Order matters: the first match wins.
HEADING_PATTERNS: list[tuple[str, int, re.Pattern]] = [
    ("chapter", 1, re.compile(rf"^第[{CN_NUM}\d]+章\s*\S.*$")),
    ("section", 2, re.compile(rf"^第[{CN_NUM}\d]+节\s*\S.*$")),
    ("cn_item", 3, re.compile(rf"^[{CN_NUM}]+、\s*\S.*$")),
    ("cn_paren", 4, re.compile(rf"^[（(][{CN_NUM}]+[)）]\s*\S.*$")),
    ("box", 5, re.compile(r"^专栏\s*(?:\d+|[:：])\s*\S.*$")),
    ("num_item", 6, re.compile(r"^\d{1,2}[.．、](?!\d)\s*\S.*$")),
    ("num_paren", 7, re.compile(r"^[（(]\d{1,2}[)）]\s*\S.*$")),
]

# A heading line is short and is not a full sentence; numbered list items inside
# 专栏 boxes ("1.南站综合片区。位于…") are long and end with 。, so they are not headings.
MAX_HEADING_CHARS = 60
MARKDOWN_HEADING = re.compile(r"^(#{1,6})[ \t]+(\S.*?)(?:[ \t]+#+)?$")  # "## 标题", "## 标题 ##"


@dataclass(frozen=True)
class Heading:
    kind: str
    level: int
    text: str


def match_heading(line: str) -> Heading | None:
    """Return the heading a line opens with, or None for body text. A Markdown heading
    ("## 一、工作回顾") is one at its number of #s, named without them, of the kind its text has."""
    text = line.strip()
    if not text:
        return None
    marked = MARKDOWN_HEADING.match(text)
    if marked:
        inner = marked.group(2)
        numbered = _numbered(inner)
        return Heading(numbered.kind if numbered else "markdown", len(marked.group(1)), inner)
    return _numbered(text)


def _numbered(text: str) -> Heading | None:
    for kind, level, pattern in HEADING_PATTERNS:
        if pattern.match(text):
            if kind != "box" and (len(text) > MAX_HEADING_CHARS or text.endswith(("。", "；", ";"))):
                return None
            return Heading(kind, level, text)
    return None


def is_heading(line: str) -> bool:
    return match_heading(line) is not None
