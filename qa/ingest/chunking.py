"""Heading-aware chunking: a repaired document's text → passages with heading paths
(qa.ingest.node_parser turns them into llama-index TextNodes).

Each passage keeps the path of headings above it (第X章 › 第X节 › 一、 › （一） › 1. › （1） / 专栏N,
plus the bold lead of its paragraph), its document metadata and its character span, so an
answer can cite exactly where a claim comes from. Indicator-table rows and 专栏 items become
passages of their own: they are what staff ask about most.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from qa.ingest.headings import Heading, match_heading
from qa.ingest.tables import find_tables

# Bump when chunk boundaries, node text or how text is normalised for matching (qa.text) change:
# the index manifest records it.
CHUNKER_VERSION = "8"
PATH_SEPARATOR = " › "

SENTENCE_END = re.compile(r"(?<=[。！？；!?;])")
# A paragraph's bold lead: a short phrase closed by 。 or ：, e.g. "制造业支撑更加强劲。…",
# "——城镇化水平和质量稳步提高。…", "（1）区位与交通：…".
LEAD = re.compile(r"^(?:——)?(?P<lead>[^。：:！？；\n]{2,28})[。：:]")
CAPTION = re.compile(r"^图\s*\d+\s*\S")
BOX_ITEM = re.compile(r"^\d{1,2}[.．、]")

# Only these metadata keys feed embeddings and BM25; the rest is for citation and scoping.
EMBED_KEYS = ("short_title", "heading")


@dataclass
class Block:
    """A run of text under one heading path, before sizing into passages."""

    path: list[str]
    kind: str  # "text" | "box_item" | "caption"
    parts: list[tuple[int, int]] = field(default_factory=list)  # spans in the document


def split_sentences(text: str) -> list[str]:
    """Split after Chinese sentence ends; keeps the punctuation with its sentence."""
    return [s for s in SENTENCE_END.split(text) if s.strip()]


def paragraph_lead(paragraph: str) -> str:
    """The lead phrase a paragraph opens with, or "" when it has none."""
    m = LEAD.match(paragraph.strip())
    if not m or len(paragraph.strip()) <= len(m.group(0)) + 4:
        return ""
    return m.group("lead").strip()


class HeadingChunker:
    """Text → passages along its Chinese heading hierarchy: (heading path, kind, start, end,
    text) in document order, kind "text", "box_item", "caption" or "table_row"."""

    def __init__(self, max_chars: int = 360, min_chars: int = 40):
        self.max_chars = max_chars
        self.min_chars = min_chars

    def passages(self, text: str) -> list[tuple[list[str], str, int, int, str]]:
        passages: list[tuple[list[str], str, int, int, str]] = []
        for block in self._blocks(text, passages):
            passages.extend(self._size(block, text))
        passages.sort(key=lambda p: p[2])
        return passages

    def _blocks(self, text: str, passages: list) -> list[Block]:
        """Walk the lines, keeping a heading stack; table rows go straight to `passages`."""
        tables = {t.start: t for t in find_tables(text)}
        stack: list[Heading] = []
        blocks: list[Block] = []
        current: Block | None = None
        pos = 0
        skip_until = -1
        for line in text.splitlines(keepends=True):
            start, pos = pos, pos + len(line)
            if start < skip_until:
                continue
            table = self._table_at(tables, start, pos)
            if table is not None:
                path = [h.text for h in stack] + [table.title]
                for row in table.rows:
                    passages.append((path, "table_row", table.start, table.end, row.text))
                skip_until = table.end
                current = None
                continue
            stripped = line.strip()
            if not stripped:
                continue
            lead_offset = start + line.index(stripped[0])
            heading = match_heading(stripped)
            if heading is not None:
                while stack and stack[-1].level >= heading.level:
                    stack.pop()
                stack.append(heading)
                current = None
                continue
            in_box = bool(stack) and stack[-1].kind == "box"
            if in_box and paragraph_lead(stripped) and not BOX_ITEM.match(stripped):
                stack.pop()  # body text resumes after a 专栏 box: it has a bold lead again
                in_box = False
            path = [h.text for h in stack]
            if CAPTION.match(stripped):
                blocks.append(Block(path, "caption", [(lead_offset, lead_offset + len(stripped))]))
                current = None
                continue
            kind = "box_item" if in_box else "text"
            if kind == "box_item" or current is None or current.path != path:
                current = Block(path, kind)
                blocks.append(current)
            current.parts.append((lead_offset, lead_offset + len(stripped)))
            if kind == "box_item":
                current = None
        return blocks

    @staticmethod
    def _table_at(tables: dict, start: int, end: int):
        for table_start, table in tables.items():
            if start <= table_start < end:
                return table
        return None

    def _size(self, block: Block, text: str) -> list[tuple[list[str], str, int, int, str]]:
        """Split long paragraphs at sentence ends; merge short whole paragraphs of one block."""
        pieces: list[list] = []  # [lead, start, end, is_whole_paragraph]
        for start, end in block.parts:
            paragraph = text[start:end]
            lead = paragraph_lead(paragraph)
            if len(paragraph) <= self.max_chars:
                pieces.append([lead, start, end, True])
                continue
            offset = chunk_start = start
            for sentence in split_sentences(paragraph):
                if offset + len(sentence) - chunk_start > self.max_chars and offset > chunk_start:
                    pieces.append([lead, chunk_start, offset, False])
                    chunk_start = offset
                offset += len(sentence)
            pieces.append([lead, chunk_start, end, False])
        merged: list[list] = []
        for piece in pieces:
            last = merged[-1] if merged else None
            if last and piece[3] and last[3] and (
                    piece[2] - last[1] <= self.max_chars or last[2] - last[1] < self.min_chars):
                last[0] = last[0] if last[0] == piece[0] else ""
                last[2] = piece[2]
                continue
            merged.append(piece)
        result = []
        for lead, start, end, _ in merged:
            path = block.path + ([lead] if lead and block.kind == "text" else [])
            result.append((path, block.kind, start, end, text[start:end].strip()))
        return result
