"""Indicator tables: rebuilding them from converted Word/PDF text, and reading them back.

Converters print a table either one row per line (cells split by tabs) or one cell per
line (each cell line opening with a tab, rows split by blank lines, cells wrapped over two
lines). `canonicalize_tables` rewrites both into one canonical form so the chunker sees one
format; `find_tables` parses that form into rows that can each be cited on their own:

    <title line>
    <header cells joined by \\t>
    <one line per row, cells joined by \\t>   (no blank lines inside the block)
    注：<note>
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

CJK = r"\u3400-\u9fff"
# Spaces between two CJK characters inside a cell are wrap artefacts ("基 本同步").
_CJK_GAP = re.compile(rf"(?<=[{CJK}])\s+(?=[{CJK}])")
# A header cell naming the column of indicator names.
_INDICATOR_HEADERS = ("指标", "主要指标")
# Longest wrapped cell fragment printed on its own line ("化水平", "保持同步").
MAX_FRAGMENT_CHARS = 12
_YEAR_HEADER = re.compile(r"^\d{4}年$")
_TRAILING_UNIT = re.compile(r"^(.*\S)（([^（）]+)）$")


def clean_cell(cell: str) -> str:
    """Collapse whitespace as printed, keeping every other character."""
    cell = re.sub(r"[ \u00a0\u3000]+", " ", cell.strip())
    return _CJK_GAP.sub("", cell)


def _is_header(cells: list[str]) -> bool:
    """A table header names its indicator column and its 属性 or 序号 column."""
    has_indicator = any("指标" in c for c in cells)
    return has_indicator and any(c in ("属性", "序号") for c in cells)


def _is_note(line: str) -> bool:
    return line.strip().startswith("注")


def _note_text(line: str) -> str:
    """'注\\t…' / '注：…' → '…' (the note without its label)."""
    text = line.strip()
    text = re.sub(r"^注\s*[：:]?", "", text)
    cells = [clean_cell(c) for c in text.split("\t")]
    return "".join(c for c in cells if c)


# ---------------------------------------------------------------- raw → canonical

def _merge_headers(top: list[str], sub: list[str] | None) -> list[str]:
    """Merge a two-row header where one top cell spans the sub-header cells under it.

    a town plan's: top "序号 主要指标 单位 2020年 目标 属性", sub "- - - - 2025年 年均增长 -"
    → "序号 主要指标 单位 2020年 2025年目标 年均增长 属性".
    """
    if not sub or len(sub) <= len(top):
        return top
    extra = len(sub) - len(top)
    # The spanning top cell is the first one whose column has sub-header text.
    span_at = next((i for i, c in enumerate(sub) if c), None)
    if span_at is None or span_at >= len(top):
        return top + [""] * extra
    merged = top[:span_at]
    parent = top[span_at]
    for child in sub[span_at:span_at + extra + 1]:
        merged.append(child + parent if _YEAR_HEADER.match(child) else (child or parent))
    merged.extend(top[span_at + 1:])
    return merged


def _row_line(cells: list[str], ncol: int) -> str:
    cells = (cells + [""] * ncol)[:ncol] if len(cells) <= ncol else cells
    return "\t".join(cells)


def _emit(header: list[str], rows: list[list[str]], note: str | None) -> list[str]:
    ncol = len(header)
    out = [_row_line(header, ncol)] + [_row_line(r, ncol) for r in rows]
    if note is not None:
        out.append("注：" + note)
    return out


def _parse_row_per_line(lines: list[str], i: int) -> tuple[int, list[str], list[list[str]], str | None]:
    """Format (a): one row per line. Returns (end index, header, rows, note)."""
    header = [clean_cell(c) for c in lines[i].split("\t")]
    rows: list[list[str]] = []
    note = None
    j = i + 1
    while j < len(lines):
        line = lines[j]
        if not line.strip():
            k = j
            while k < len(lines) and not lines[k].strip():
                k += 1
            if k < len(lines) and "\t" in lines[k]:
                j = k
                continue
            break
        if "\t" not in line:
            if _is_note(line):
                note, j = _note_text(line), j + 1
            break
        if _is_note(line):
            note, j = _note_text(line), j + 1
            break
        cells = [clean_cell(c) for c in line.split("\t")]
        if cells != header:  # a header repeated after a page break
            rows.append(cells)
        j += 1
    return j, header, rows, note


def _cell_groups(lines: list[str], i: int) -> tuple[int, list[list[str]]]:
    """Format (b): read blank-separated groups of '\\t'-prefixed cell lines.

    A short line without the tab continues the cell before it, even across a blank line
    ("与GDP增长" / "" / "保持同步"), while that row is still short of cells.
    """
    groups: list[list[str]] = [[]]
    j = i
    while j < len(lines):
        line = lines[j]
        if not line.strip() and not line.startswith("\t"):
            if groups[-1]:
                groups.append([])
            j += 1
            continue
        if line.startswith("\t"):
            groups[-1].append(clean_cell(line))
        else:
            text = line.strip()
            current = groups[-1] or (groups[-2] if len(groups) > 1 else [])
            done = [g for g in groups if g and g is not current]
            short_row = not done or len(current) < max(len(g) for g in done)
            if (current and short_row and len(text) <= MAX_FRAGMENT_CHARS
                    and not _is_note(text) and not text.endswith("。")):
                if not groups[-1]:
                    groups.pop()  # the blank line was inside the cell: refill that row
                groups[-1][-1] += clean_cell(text)
            else:
                break
        j += 1
    groups = [g for g in groups if g]
    # Step back over trailing blank lines so the caller sees them.
    while j > i and not lines[j - 1].strip() and not lines[j - 1].startswith("\t"):
        j -= 1
    return j, groups


def _parse_cell_per_line(lines: list[str], i: int) -> tuple[int, list[str], list[list[str]], str | None]:
    j, groups = _cell_groups(lines, i)
    header, body = groups[0], groups[1:]
    sub = None
    if body and not body[0][0] and len(body[0]) > len(header):
        sub, body = body[0], body[1:]
    header = _merge_headers(header, sub)
    rows: list[list[str]] = []
    for cells in body:
        if sum(1 for c in cells if c) == 1 and cells[0] and len(cells) < len(header) // 2 + 1:
            rows.append([cells[0]] + [""] * (len(header) - 1))  # a category row
        else:
            rows.append(cells)
    note = None
    k = j
    while k < len(lines) and not lines[k].strip() and k - j < 3:
        k += 1
    if k < len(lines) and _is_note(lines[k]):
        note, j = _note_text(lines[k]), k + 1
    return j, header, rows, note


def canonicalize_tables(text: str) -> str:
    """Rewrite every indicator table into the canonical form (see module docstring)."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        parsed = None
        if "\t" in line and not line.startswith("\t") and _is_header(line.split("\t")):
            parsed = _parse_row_per_line(lines, i)
        elif line.startswith("\t") and line.strip():
            j, groups = _cell_groups(lines, i)
            if groups and _is_header(groups[0]):
                parsed = _parse_cell_per_line(lines, i)
        if parsed is None:
            out.append(line)
            i += 1
            continue
        end, header, rows, note = parsed
        while out and not out[-1].strip():  # title sits right above the rows
            out.pop()
        out.extend(_emit(header, rows, note))
        out.append("")
        i = end
    return "\n".join(out)


# ---------------------------------------------------------------- canonical → rows

@dataclass
class TableRow:
    table_title: str
    category: str
    number: str
    indicator: str
    unit: str
    values: list[tuple[str, str]]
    attribute: str
    note: str
    text: str


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[TableRow] = field(default_factory=list)
    note: str = ""
    start: int = 0
    end: int = 0


def split_unit(indicator: str) -> tuple[str, str]:
    """'地区工业总产值增速（%）' → ('地区工业总产值增速', '%'); no trailing parenthesis → no unit."""
    m = _TRAILING_UNIT.match(indicator)
    return (m.group(1), m.group(2)) if m else (indicator, "")


def row_sentence(title: str, category: str, indicator: str, unit: str,
                 values: list[tuple[str, str]], attribute: str, note: str) -> str:
    """One self-contained sentence per row, so a retrieved row can be quoted alone."""
    parts = [p for p in (title, category) if p]
    head = indicator + (f"（单位：{unit}）" if unit else "")
    body = "；".join(f"{h}{v}" for h, v in values if v)
    if attribute:
        body = f"{body}；属性：{attribute}" if body else f"属性：{attribute}"
    sentence = "｜".join(parts + [f"{head}：{body}。"])
    if note:
        sentence += "注：" + note + ("" if note.endswith("。") else "。")
    return sentence


def _columns(header: list[str]) -> dict[str, int]:
    roles: dict[str, int] = {}
    for idx, name in enumerate(header):
        if name == "序号":
            roles.setdefault("number", idx)
        elif name in _INDICATOR_HEADERS or ("指标" in name and "indicator" not in roles):
            roles.setdefault("indicator", idx)
        elif name == "单位":
            roles.setdefault("unit", idx)
        elif name == "属性":
            roles.setdefault("attribute", idx)
        elif name == "类别":
            roles.setdefault("category", idx)
    return roles


def _build_table(title: str, header: list[str], rows: list[list[str]], note: str) -> Table:
    roles = _columns(header)
    value_cols = [i for i in range(len(header)) if i not in roles.values()]
    table = Table(title=title, header=header, note=note)
    category = ""
    for cells in rows:
        cells = (cells + [""] * len(header))[:len(header)]
        filled = [c for c in cells if c]
        if len(filled) == 1 and cells[0] and not cells[0].isdigit():
            category = cells[0]  # a category row spanning the table
            continue
        if "category" in roles and cells[roles["category"]]:
            category = cells[roles["category"]]
        raw_indicator = cells[roles["indicator"]] if "indicator" in roles else ""
        if "unit" in roles:
            indicator, unit = raw_indicator, cells[roles["unit"]]
        else:
            indicator, unit = split_unit(raw_indicator)
        values = [(header[i], cells[i]) for i in value_cols]
        attribute = cells[roles["attribute"]] if "attribute" in roles else ""
        table.rows.append(TableRow(
            table_title=title, category=category,
            number=cells[roles["number"]] if "number" in roles else "",
            indicator=indicator, unit=unit, values=values, attribute=attribute, note=note,
            text=row_sentence(title, category, indicator, unit, values, attribute, note)))
    return table


def find_tables(text: str) -> list[Table]:
    """Every canonical table block in repaired text, with its character span."""
    tables: list[Table] = []
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    i = 0
    while i < len(lines):
        if "\t" not in lines[i] or not _is_header(lines[i].split("\t")):
            i += 1
            continue
        start_line = i
        title = ""
        if i > 0 and lines[i - 1].strip() and "\t" not in lines[i - 1]:
            start_line, title = i - 1, lines[i - 1].strip()
        header = lines[i].split("\t")
        j = i + 1
        rows = []
        while j < len(lines) and "\t" in lines[j]:
            rows.append(lines[j].split("\t"))
            j += 1
        note = ""
        if j < len(lines) and _is_note(lines[j]):
            note = _note_text(lines[j])
            j += 1
        table = _build_table(title, header, rows, note)
        table.start = offsets[start_line]
        table.end = offsets[j - 1] + len(lines[j - 1])
        tables.append(table)
        i = j
    return tables
