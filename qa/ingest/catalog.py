"""A document's catalog entry: corpus/catalog.json where it has a field, inferred from the text
where it has none.

Government documents announce themselves in a few set forms: a cover notice ("关于印发《…》的
通知") with its signature date, a heading block, a delivery line ("——2024年1月18日在…会议上"),
a 落款 of issuing body and date. Inference reads those, never a year somewhere in the body, and
places the document in the gazetteer's hierarchy (湖北省 › 武汉市 › 江夏区 › 五里界街道).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from qa.errors import DocumentError
from qa.ingest.divisions import Divisions, Place, level_of
from qa.ingest.gazetteer import Gazetteer
from qa.ingest.headings import MARKDOWN_HEADING
from qa.text import simplified

CATALOG_NAME = "catalog.json"
# The fields of corpus/catalog.json, in its order; `place_path` is the place's hierarchy.
FIELDS = ("title", "short_title", "issuer", "place", "level", "kind", "date", "period", "source")
INFERRED = ("title", "short_title", "issuer", "place", "place_path", "level", "kind", "date", "period")
KINDS_FILE = Path(__file__).resolve().parents[1] / "data" / "document_kinds.tsv"
HEADER_LINES = 40  # non-empty lines at the top where a document's own heading and notice sit
TAIL_LINES = 12  # and at the bottom, where a 落款 may sit
MAX_TITLE = 80
NOTICE_LINES = 12  # a cover notice's heading starts within these first lines…
HEADING_SPAN = 4  # …and is broken over at most this many
COVER_LINES = 15  # from its heading to its signature date
OPENING_LINES = 10  # where "现将《…》印发给你们" or a 《title》 names the document printed
OTHER_KIND = "其他"

CN_DIGITS = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"零": 0, "○": 0, "Ｏ": 0, "O": 0}
NUMERAL = r"[〇○零一二三四五六七八九十]"
DATE = re.compile(rf"(\d{{4}}|{NUMERAL}{{4}})\s*年\s*(\d{{1,2}}|{NUMERAL}{{1,3}})\s*月"
                  rf"(?:\s*(\d{{1,2}}|{NUMERAL}{{1,3}})\s*日)?")
DATE_LINE = re.compile(rf"^[（(]?\s*{DATE.pattern}\s*[)）]?$")
DELIVERY = re.compile(rf"^[—－-]+\s*{DATE.pattern}\s*在")
ADOPTED = re.compile(rf"^[（(]\s*{DATE.pattern}.{{4,60}}(?:通过|批准)\s*[)）]$")
NOTICE = re.compile(r"^(?P<issuer>.{0,40}?)关于印发(?P<what>.+?)的通知$")
PRINTED = re.compile(r"(?:现将|将)?《(?P<what>[^》]{4,80})》(?:已经[^，。]{0,30}(?:通过|同意)，)?"
                     r"(?:现)?印发给你们")
QUOTED_TITLE = re.compile(r"《([^》]{4,80})》")
BUNDLE = re.compile(r"等\s*[\d一二三四五六七八九十]+\s*[个项部份]")
TITLE_END = re.compile(r"(纲要|规划|报告|方案|意见|办法|细则|规定|条例|决定|通知|公告|通告|计划|要点|"
                       r"批复|函|[)）])$")
BODY_PUNCT = re.compile(r"[，。；：！？]")
DOC_NUMBER = re.compile(r"〔\d{4}〕\s*\d+\s*号|\[\d{4}\]\s*\d+\s*号")
ORGAN = re.compile(r"(人民政府|政府办公室|办公厅|办公室|办事处|委员会|人民代表大会|局|厅|委|办)$")
CJK_SPACE = re.compile(r"(?<=[\u4e00-\u9fff“”《》（）])\s+(?=[\u4e00-\u9fff“”《》（）\d])|"
                       r"(?<=[\u4e00-\u9fff\d])\s+(?=[\u4e00-\u9fff“”《》（）])")
PERIOD_SPAN = re.compile(r"(\d{4})\s*[—\-–－~至到]+\s*(\d{4})\s*年?")
YEAR = re.compile(r"(?<!\d)(20\d{2}|19\d{2})(?!\d)")
# "十四五" (the 11th to 19th plans), "十五计划" (the 10th), "第十五个五年规划"
PLAN_NAME = re.compile(rf"十([一二三四五六七八九])五|十五(?=计划|规划|时期|期间)|第({NUMERAL}{{1,3}})个五年")
PLACE_LIKE = re.compile(r"([\u4e00-\u9fff]{2,8}?(?:自治区|自治州|自治县|街道|省|市|区|县|旗|镇|乡|街|村))")
# What follows a place that opens a title ("…镇2025年", "…镇国民经济", "…镇人民政府关于")
AFTER_PLACE = re.compile(r"^(?:$|\d|[〇一二三四五六七八九]{4}|国民经济|人民|政府|党委|关于|第|“|《|（|\()")


# ---------------------------------------------------------------- numbers, years, periods

def chinese_number(text: str) -> int:
    """"二〇二四" → 2024 (digit by digit), "十八" → 18, "二十三" → 23; digits pass through."""
    if text.isdigit():
        return int(text)
    if "十" not in text:
        return int("".join(str(CN_DIGITS[c]) for c in text))
    tens, _, units = text.partition("十")
    return (CN_DIGITS[tens] if tens else 1) * 10 + (CN_DIGITS[units] if units else 0)


def five_year_plan(number: int) -> str:
    """Years of the n-th five-year plan: the 3rd began in 1966 (after 1963–65's adjustment)."""
    start = 1953 + 5 * (number - 1) if number <= 2 else 1966 + 5 * (number - 3)
    return f"{start}-{start + 4}"


FIVE_YEAR_PLAN_NAMES = {f"十{'' if n == 10 else '一二三四五六七八九'[n - 11]}五" if n >= 10 else
                        f"{'一二三四五六七八九'[n - 1]}五": five_year_plan(n) for n in range(1, 20)}
FIVE_YEAR_PLAN_NAMES.pop("十五", None)  # "十五" is also plain fifteen; "十五五" is the 15th plan
FIVE_YEAR_PLAN_NAMES["十五五"] = five_year_plan(15)


def five_year_periods(text: str) -> list[str]:
    """Spans of the five-year plans a text names (“十四五”, 第十五个五年规划)."""
    spans = []
    for match in PLAN_NAME.finditer(text):
        if match.group(1):
            number = 10 + CN_DIGITS[match.group(1)]
        else:
            number = chinese_number(match.group(2)) if match.group(2) else 10
        if 1 <= number <= 30:
            spans.append(five_year_plan(number))
    return list(dict.fromkeys(spans))


def iso_date(match: re.Match) -> str:
    year, month, day = match.group(1), match.group(2), match.group(3)
    out = f"{chinese_number(year)}-{chinese_number(month):02d}"
    return out + (f"-{chinese_number(day):02d}" if day else "")


# ---------------------------------------------------------------- the catalog file

def load_catalog(corpus_dir: Path) -> dict[str, dict]:
    """Per-file metadata from catalog.json; a missing catalog means none, a broken one an error."""
    path = Path(corpus_dir) / CATALOG_NAME
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DocumentError(f"目录文件 {CATALOG_NAME} 无法解析：{exc}") from exc
    return {name: dict(entry) for name, entry in data.items() if isinstance(entry, dict)}


@lru_cache(maxsize=1)
def document_kinds() -> tuple[tuple[re.Pattern, str, str], ...]:
    """(title pattern, kind, where) from the data file, in its order."""
    rows = []
    for line in KINDS_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            pattern, kind, where = line.split("\t")
            rows.append((re.compile(pattern), kind.strip(), where.strip()))
    return tuple(rows)


# ---------------------------------------------------------------- inference

@dataclass
class Header:
    """The lines where a document says what it is: the top, and the bottom for a 落款."""

    top: list[str]
    tail: list[str]

    @classmethod
    def of(cls, text: str) -> "Header":
        lines = [line for line in text.split("\n") if line.strip()]
        tail = lines[-TAIL_LINES:] if len(lines) > HEADER_LINES + TAIL_LINES else lines[HEADER_LINES:]
        return cls([tidy(line) for line in lines[:HEADER_LINES]], [tidy(line) for line in tail])


def tidy(line: str) -> str:
    """A line as a title reads: no edge or stray inner spaces left by the converter, no Markdown
    heading marks ("# 某区2024年政府工作报告")."""
    line = line.strip().replace("\u3000", " ")
    marked = MARKDOWN_HEADING.match(line)
    return CJK_SPACE.sub("", marked.group(2) if marked else line)


def _is_title_line(line: str) -> bool:
    return (len(line) <= 60 and not BODY_PUNCT.search(line) and not DATE_LINE.match(line)
            and not ADOPTED.match(line) and not DELIVERY.match(line)
            and not DOC_NUMBER.search(line) and not line.endswith(("：", ":")))


def notice(header: Header) -> tuple[str, str, int] | None:
    """(issuer, what is printed, line index) of a cover notice "…关于印发…的通知", whose heading
    may be broken over several lines."""
    for i in range(min(len(header.top), NOTICE_LINES)):
        joined = ""
        for j in range(i, min(i + HEADING_SPAN, len(header.top))):
            if not _is_title_line(header.top[j]):
                break
            joined += header.top[j]
            match = NOTICE.match(joined)
            if match:
                return match.group("issuer").strip(), match.group("what").strip("《》 "), j
    return None


def _cover_end(header: Header, start: int) -> int:
    """Index of the first line after a cover notice: past its signature date."""
    for i in range(start, min(start + COVER_LINES, len(header.top))):
        if DATE_LINE.match(header.top[i]):
            end = i + 1
            while end < len(header.top) and re.match(r"^[（(].{2,12}[)）]$", header.top[end]):
                end += 1  # "（此件主动公开）"
            return end
    return start + 1


def heading_block(lines: list[str]) -> str:
    """The first run of title lines, joined until the title reads complete ("…纲要")."""
    title = ""
    for line in lines:
        if not _is_title_line(line) or ORGAN.search(line) and title:
            if title:
                break
            continue
        if title and TITLE_END.search(title) and not line.startswith(("（", "(")):
            break
        title += line
        if len(title) > MAX_TITLE:
            break
    return title[:MAX_TITLE]


def infer_title(header: Header, stem: str) -> tuple[str, bool]:
    """(title, generic): `generic` when the title names no place or year ("政府工作报告")."""
    title = ""
    found = notice(header)
    if found and not BUNDLE.search(found[1]):
        title = found[1]
    if not title:
        for line in header.top[:OPENING_LINES]:
            match = PRINTED.search(line)
            if match and not BUNDLE.search(match.group("what")):
                title = match.group("what")
                break
    if not title:
        start = _cover_end(header, found[2] + 1) if found else 0
        title = heading_block(header.top[start:])
    if not title:
        quoted = next((m.group(1) for line in header.top[:OPENING_LINES]
                       for m in QUOTED_TITLE.finditer(line)), "")
        title = quoted or next((line[:MAX_TITLE] for line in header.top if len(line) >= 6), stem)
    title = title.strip("《》 ")
    return title, not (PLACE_LIKE.search(title) or YEAR.search(title) or five_year_periods(title))


def infer_date(header: Header) -> str:
    """The delivery or adoption date of a report or plan, else the date a cover notice or a 落款
    is signed with."""
    for line in header.top:
        match = DELIVERY.match(line) or ADOPTED.match(line)
        if match:
            return iso_date(match)
    for line in header.top + header.tail[::-1]:
        match = DATE_LINE.match(line)
        if match:
            return iso_date(match)
    return ""


def infer_period(title: str, kind: str, date: str) -> str:
    """十五五 → 2026-2030; "（2023—2025年）" → 2023-2025; a 政府工作报告 of year Y reviews Y-1 and
    plans Y; otherwise the span of the years the title names."""
    plans = five_year_periods(title)
    if plans:
        return plans[0]
    span = PERIOD_SPAN.search(title)
    if span:
        return f"{span.group(1)}-{span.group(2)}"
    years = sorted({int(y) for y in YEAR.findall(title)})
    if kind == "政府工作报告":
        year = years[-1] if years else int(date[:4]) if date[:4].isdigit() else None
        return f"{year - 1}-{year}" if year else ""
    if years:
        return f"{years[0]}-{years[-1]}" if len(years) > 1 else str(years[0])
    return ""


def infer_kind(title: str) -> str:
    """What the title says the document is about, else its genre word nearest the end."""
    kinds = document_kinds()
    found = next((kind for pattern, kind, where in kinds if where == "anywhere" and pattern.search(title)), None)
    if found:
        return found
    ends = [(max(m.end() for m in pattern.finditer(title)), -i, kind)
            for i, (pattern, kind, where) in enumerate(kinds) if where == "end" and pattern.search(title)]
    return max(ends)[2] if ends else OTHER_KIND


def _deepest(mentions: list, context: str) -> Place | None:
    """The most specific place named: written in full rather than short ("…县", not a short form
    inside a longer word), its ancestors best attested by the `context`, named last."""
    candidates = [(p, m.text == p.name, m.start) for m in mentions for p in m.places]
    if not candidates:
        return None
    depth = max(len(p.path) for p, _, _ in candidates)
    return max(((p, full, at) for p, full, at in candidates if len(p.path) == depth),
               key=lambda c: (c[1], sum(context.count(a) for a in c[0].path[:-1]), c[2]))[0]


def infer_place(title: str, issuer: str, header: Header, text: str, gazetteer: Gazetteer) -> Place | None:
    """The place the title names, else the issuer's, else the heading's, else the one the text
    names most; a name the divisions lack (a new town) hangs under the places named before it."""
    context = " ".join(header.top)
    organ = title.split("关于")[0] if "关于" in title else ""  # "…人民政府关于…的批复": the issuer's
    for source in (organ, title, issuer, context):
        mentions = gazetteer.find(source)
        place = _deepest(mentions, context)
        unknown = _unknown_place(source, mentions)
        if unknown and (place is None or source.find(unknown) > source.find(place.name)):
            return Place((place.path if place else ()) + (unknown,))
        if place is not None:
            return place
    counts: dict[Place, int] = {}
    for mention in gazetteer.find(text):
        for place in mention.places:
            counts[place] = counts.get(place, 0) + 1
    return max(counts, key=counts.get) if counts else None


def _unknown_place(source: str, mentions) -> str | None:
    """A place-like name opening the text after the known ones ("湖北省某区新设镇…")."""
    rest = source[mentions[-1].end:] if mentions and mentions[0].start == 0 else source
    if mentions and mentions[0].start != 0:
        return None
    match = PLACE_LIKE.match(rest)
    if match and level_of(match.group(1)) and AFTER_PLACE.match(rest[match.end():]):
        return match.group(1)
    return None


def infer_issuer(header: Header, notice_found, place: Place | None) -> str:
    """The body that issues a cover notice or signs the 落款; else the place's government."""
    if notice_found and ORGAN.search(notice_found[0]):
        return notice_found[0]
    for lines in (header.top, header.tail):
        for i, line in enumerate(lines[1:], start=1):
            if DATE_LINE.match(line) and ORGAN.search(lines[i - 1]):
                return lines[i - 1]
    if place is None:
        return ""
    return "".join(place.path) + ("人民政府" if place.level in ("省", "市", "区", "县", "旗", "镇", "乡")
                                  else "办事处" if place.level == "街道" else "")


def short_title(title: str, place: Place | None, kind: str, period: str) -> str:
    """某镇“十五五”规划纲要; otherwise the title without the place's ancestors before it."""
    plans = {span: name for name, span in FIVE_YEAR_PLAN_NAMES.items()}
    if kind == "规划纲要" and period in plans and place is not None:
        return f"{place.name}“{plans[period]}”规划纲要"
    for ancestor in place.path[:-1] if place is not None else ():
        if title.startswith(ancestor):
            title = title[len(ancestor):]
    return title[:40]


def infer_metadata(text: str, stem: str, gazetteer: Gazetteer) -> dict:
    """Every catalog field for a document, from its text alone."""
    header = Header.of(text)
    found = notice(header)
    title, generic = infer_title(header, stem)
    date = infer_date(header)
    issuer_hint = found[0] if found else ""
    place = infer_place(title, issuer_hint, header, text, gazetteer)
    kind = infer_kind(title)
    if generic and place is not None:  # "政府工作报告" → "某镇2024年政府工作报告"
        title = f"{place.name}{date[:4] + '年' if date else ''}{title}"
    period = infer_period(title, kind, date)
    if not date and kind in ("规划纲要", "专项规划") and period[:4].isdigit():
        date = period[:4]  # an undated plan: its first year, the year plans are issued in
    return {"title": title, "short_title": short_title(title, place, kind, period),
            "issuer": infer_issuer(header, found, place),
            "place": place.name if place else "", "place_path": place.display if place else "",
            "level": place.level if place else "", "kind": kind, "date": date, "period": period}


def catalog_metadata(text: str, stem: str, entry: dict, gazetteer: Gazetteer) -> dict:
    """The catalog's fields where it has them, inferred ones elsewhere, and `inferred` naming the
    fields that were inferred (space-separated)."""
    # a catalog entry that names its place lacks at most the hierarchy and level, which follow
    # from that place: reading the whole header would be wasted at every build
    complete = all(entry.get(key) for key in INFERRED if key not in ("place_path", "level"))
    inferred = {} if complete else infer_metadata(text, stem, gazetteer)
    metadata, guessed = {}, []
    for key in INFERRED:
        if entry.get(key):
            metadata[key] = entry[key]
        else:
            metadata[key] = inferred.get(key, "")
            guessed.append(key)
    if entry.get("place") and not entry.get("place_path"):
        metadata["place_path"] = _path_of(entry["place"], text, gazetteer) or entry["place"]
        metadata["level"] = entry.get("level") or level_of(entry["place"])
    metadata["source"] = entry.get("source", "")
    metadata["inferred"] = " ".join(guessed)
    return metadata


def _path_of(name: str, text: str, gazetteer: Gazetteer) -> str:
    """The hierarchy of a place the catalog names, from the divisions (ancestors the text names
    decide between places of the same name); names are matched in simplified script."""
    name = simplified(name)
    mentions = gazetteer.find(name)
    if len(mentions) == 1 and mentions[0].text == name:
        place = _deepest(mentions, text[:20000])
        return place.display if place else ""
    return ""


def national_gazetteer() -> Gazetteer:
    """The divisions alone: what inference places a document by, before an index has places."""
    return Gazetteer(divisions=Divisions.load())

