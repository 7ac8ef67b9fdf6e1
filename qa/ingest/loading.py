"""Loading the corpus: repaired llama-index Documents with their catalog metadata.

Converted Word/PDF text carries residue (bookmarks, a table of contents, sentences cut by
page breaks, tables in two layouts). Each repair is a small named str -> str step so it can
be tested alone; `repair_text` applies them in order.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from llama_index.core import Document

from qa.errors import DocumentError
from qa.ingest.catalog import CATALOG_NAME, catalog_metadata, load_catalog, national_gazetteer
from qa.ingest.headings import is_heading
from qa.ingest.reading import SUPPORTED_SUFFIXES, read_text
from qa.ingest.tables import canonicalize_tables


@dataclass
class SkippedFile:
    path: str
    reason: str


# ---------------------------------------------------------------- repair steps

SENTENCE_END = "。！？；：…”」）!?;:"
CJK = r"\u3400-\u9fff"
CJK_PUNCT = r"\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\u2018-\u201d"
CLOSING_PUNCT = "，。、；：！？）」』”’％"
_MARKUP = re.compile(r"\[(?:bookmark|image):[^\]\n]*\]")
_TOC_TITLE = re.compile(r"^目\s*录$")
_TOC_ENTRY = re.compile(r"^(?P<body>.*\S)(?:\t+|\s*\.{2,}\s*|\s+)\d{1,3}$")
_CAPTION = re.compile(r"^图\s*(\d+)\s*(\S.*)$")
_TABLE_TITLE = re.compile(r"^表\s*\d+|主要指标$")
_LIST_START = re.compile(rf"^(?:——|[-•·*]|\d+[.．、)）]|[（(][\d{CJK}]{{1,3}}[)）])")
# "培育特色文旅消费品牌。结合…": a short lead sentence opens a new paragraph.
_PARAGRAPH_LEAD = re.compile(r"^[^，。；、：（）“”\t 0-9]{4,14}。.")
_BODY_PUNCT = re.compile(r"[，。；、]")


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def strip_bom(text: str) -> str:
    return text.replace("\ufeff", "")


def fullwidth_to_ascii(text: str) -> str:
    """Full-width digits and latin letters become ASCII; Chinese punctuation stays as printed."""
    def convert(m: re.Match) -> str:
        return chr(ord(m.group()) - 0xFEE0)
    return re.sub(r"[０-９Ａ-Ｚａ-ｚ]", convert, text)


def collapse_spaces(text: str) -> str:
    """NBSP / ideographic spaces become spaces; runs collapse; lines lose edge spaces (not tabs)."""
    lines = []
    for line in text.split("\n"):
        line = re.sub(r"[ \u00a0\u2002\u2003\u3000]+", " ", line)
        lines.append(line.strip(" "))
    return "\n".join(lines)


def remove_markup(text: str) -> str:
    """Drop '[bookmark: …]' and '[image: …]' left by the converter; emptied lines become blank."""
    lines = []
    for line in text.split("\n"):
        if _MARKUP.search(line):
            line = _MARKUP.sub("", line)
            line = "" if not line.strip() else line.strip()
        lines.append(line)
    return "\n".join(lines)


def drop_toc(text: str) -> str:
    """Remove a '目录' line and the entries after it (lines ending in a page number).

    An entry without a page number between numbered entries is part of the TOC too; the
    TOC ends at the first line that is neither an entry nor blank and is followed by body.
    """
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if not _TOC_TITLE.match(line.strip()):
            continue
        j, last_entry = i + 1, None
        while j < len(lines):
            current = lines[j].strip()
            if not current or _TOC_ENTRY.match(current):
                last_entry = j if current else last_entry
                j += 1
                continue
            # An unnumbered line between two numbered entries is still an entry.
            k = j + 1
            while k < len(lines) and not lines[k].strip():
                k += 1
            if k < len(lines) and _TOC_ENTRY.match(lines[k].strip()) and len(current) <= 40:
                j += 1
                continue
            break
        if last_entry is None:
            return text
        return "\n".join(lines[:i] + lines[last_entry + 1:])
    return text


def tighten_number_spacing(text: str) -> str:
    """'78.46 亿元'→'78.46亿元', '2023 年'→'2023年', '> 99'→'>99'; digits are never changed.

    A number opening a line ("2 城关镇第一小学工程") keeps its space: it is a list marker.
    """
    def fix(line: str) -> str:
        m = re.match(r"^\d{1,2} ", line)
        head, rest = (line[:m.end()], line[m.end():]) if m else ("", line)
        rest = re.sub(rf"(?<=[0-9A-Za-z%‰])[ ]+(?=[{CJK}{CLOSING_PUNCT}])", "", rest)
        rest = re.sub(rf"(?<=[{CJK}{CJK_PUNCT}])[ ]+(?=[0-9A-Za-z])", "", rest)
        rest = re.sub(r"(?<=[<>≤≥＜＞])[ ]+(?=\d)", "", rest)
        return head + rest
    return "\n".join(fix(line) for line in text.split("\n"))


def untab_stray_lines(text: str) -> str:
    """A single tab-indented cell outside any table ("\t专栏1…") is plain text, not a table."""
    return "\n".join(line.strip("\t") if line.count("\t") == len(line) - len(line.lstrip("\t"))
                     else line for line in text.split("\n"))


def isolate_captions(text: str) -> str:
    """'图 1 “…”城关镇区位图' → '图1 “…”城关镇区位图' on a line of its own."""
    out: list[str] = []
    for line in text.split("\n"):
        m = _CAPTION.match(line.strip())
        if m and len(line.strip()) <= 60 and not line.strip().endswith("。"):
            if out and out[-1].strip():
                out.append("")
            out.extend([f"图{m.group(1)} {m.group(2)}", ""])
        else:
            out.append(line)
    return "\n".join(out)


def is_caption(line: str) -> bool:
    return bool(re.match(r"^图\d+ ", line.strip()))


def _is_title_like(line: str) -> bool:
    """Short lines without body punctuation (titles, dates, signatures) are never joined."""
    stripped = line.strip()
    return len(stripped) < 20 or not _BODY_PUNCT.search(stripped)


def _can_join(prev: str, nxt: str, next_after: str | None) -> bool:
    p, n = prev.strip(), nxt.strip()
    if not p or not n or p.endswith(tuple(SENTENCE_END)):
        return False
    if "\t" in prev or "\t" in nxt or is_caption(p) or is_caption(n):
        return False
    if is_heading(p) or is_heading(n) or _TABLE_TITLE.search(p) or _TABLE_TITLE.search(n):
        return False
    if next_after is not None and "\t" in next_after:
        return False  # nxt is the title of a table
    if _is_title_like(p) or n.startswith("注") or _LIST_START.match(n):
        return False
    return not _PARAGRAPH_LEAD.match(n)


def join_broken_lines(text: str, log: list[tuple[str, str]] | None = None) -> str:
    """Glue a sentence cut by a page break: 'GDP步伐更加坚定稳' + '' + '健。' → one line.

    `log`, when given, receives (end of first line, start of second) for each join.
    """
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        while True:
            k = i + 1
            while k < len(lines) and not lines[k].strip():
                k += 1
            if k >= len(lines):
                break
            after = next((lines[m] for m in range(k + 1, len(lines)) if lines[m].strip()), None)
            if not _can_join(line, lines[k], after):
                break
            if log is not None:
                log.append((line.strip()[-12:], lines[k].strip()[:12]))
            line = line.rstrip() + lines[k].strip()
            i = k
        out.append(line)
        i += 1
    return "\n".join(out)


def squeeze_blank_lines(text: str) -> str:
    """At most one blank line between paragraphs; no blank edges."""
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n"


REPAIR_STEPS = (
    normalize_newlines,
    strip_bom,
    fullwidth_to_ascii,
    collapse_spaces,
    remove_markup,
    drop_toc,
    tighten_number_spacing,
    canonicalize_tables,
    untab_stray_lines,
    isolate_captions,
    join_broken_lines,
    squeeze_blank_lines,
)


def repair_text(raw: str) -> str:
    """Apply every repair step in order."""
    text = raw
    for step in REPAIR_STEPS:
        text = step(text)
    return text


# ---------------------------------------------------------------- documents

def _candidates(corpus_dir: Path) -> list[Path]:
    return sorted(p for p in Path(corpus_dir).iterdir()
                  if p.is_file() and p.name != CATALOG_NAME and not p.name.startswith("."))


def document_fingerprint(data: bytes, entry: dict) -> str:
    """Same file bytes and the same catalog entry give the same passages: a rebuild may reuse
    a document whose fingerprint it has seen."""
    digest = hashlib.sha256(data)
    digest.update(json.dumps(entry, ensure_ascii=False, sort_keys=True).encode("utf-8"))
    return digest.hexdigest()


@dataclass
class CorpusScan:
    """The corpus as a build sees it: documents read and repaired, documents it already has."""

    documents: list[Document]
    unchanged: dict[str, str]  # file name -> fingerprint, not read again
    fingerprints: dict[str, str]  # every indexed file's fingerprint
    skipped: list[SkippedFile]


def scan_corpus(corpus_dir: Path, known: dict[str, str] | None = None) -> CorpusScan:
    """Every readable supported file as a repaired Document, except files whose fingerprint is
    in `known` (the caller holds their passages); unreadable or unsupported ones as SkippedFile."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise DocumentError(f"文档目录不存在：{corpus_dir}")
    catalog = load_catalog(corpus_dir)
    known = known or {}
    gazetteer = None  # the divisions are read only when a document needs its metadata
    scan = CorpusScan([], {}, {}, [])
    for path in _candidates(corpus_dir):
        suffix = path.suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            scan.skipped.append(SkippedFile(str(path), f"不支持的文件类型 {suffix or '（无扩展名）'}，已跳过"))
            continue
        entry = catalog.get(path.name, {})
        try:
            data = path.read_bytes()
            fingerprint = document_fingerprint(data, entry)
            if known.get(path.name) == fingerprint:
                scan.unchanged[path.name] = scan.fingerprints[path.name] = fingerprint
                continue
            raw = read_text(path)
        except DocumentError as exc:
            scan.skipped.append(SkippedFile(str(path), f"{exc}，已跳过"))
            continue
        except OSError as exc:
            scan.skipped.append(SkippedFile(str(path), f"无法读取文件（{exc}），已跳过"))
            continue
        text = repair_text(raw)
        gazetteer = gazetteer or national_gazetteer()
        metadata = {"doc": path.name, **catalog_metadata(text, path.stem, entry, gazetteer),
                    "sha256": hashlib.sha256(data).hexdigest()}
        document = Document(text=text, id_=path.name, metadata=metadata)
        document.excluded_embed_metadata_keys = list(metadata)
        document.excluded_llm_metadata_keys = list(metadata)
        scan.documents.append(document)
        scan.fingerprints[path.name] = fingerprint
    return scan


def load_documents(corpus_dir: Path) -> tuple[list[Document], list[SkippedFile]]:
    """Every readable supported file as a repaired Document; the rest as SkippedFile."""
    scan = scan_corpus(corpus_dir)
    return scan.documents, scan.skipped
