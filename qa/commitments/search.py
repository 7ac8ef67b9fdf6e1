"""Reading the commitments database: records by passage, by filter or for a question.

The answerer asks for the records that best match a question (full-text search within the asked
place, ranked by how much of the question a record's name covers) and for a passage's records;
`qa commitments` and the web table filter and list them.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Iterable

from qa.commitments.database import COLUMNS, DB_NAME, KIND_NAMES, KINDS
from qa.commitments.models import PLANNED, STATUS_NAMES
from qa.commitments.stores import session as _connection
from qa.text import Tokenizer, normalise

__all__ = ["DB_NAME", "KIND_NAMES", "Commitment", "TermCounts", "search_commitments",
           "match_for_question", "records_at", "related_of", "format_commitments"]


@dataclass
class Commitment:
    """One record and the passage it came from; `fields` holds the kind-specific columns."""

    id: int
    kind: str
    name: str
    doc: str
    title: str
    short_title: str
    place: str
    period: str
    date: str
    heading: str
    node_id: str
    start: int
    end: int
    text: str
    value: str
    unit: str
    year: str
    fields: dict = field(default_factory=dict)
    group_key: str = ""
    status: str = ""
    sentence: str = ""
    related: list[dict] = field(default_factory=list)
    score: float = 0.0

    def summary(self) -> str:
        """One Chinese line: what, how much, when, its status, with the qualifier or 属性."""
        f, status = self.fields, STATUS_NAMES.get(self.status, self.status)
        if self.kind == "responsibility":
            partners = f"（与{'、'.join(f['partners'])}）" if f.get("partners") else ""
            return f"{f.get('lead', '')}{partners}｜{f.get('verb', '')}｜{f.get('task', '')}"
        if self.kind == "project":
            facts = [f"{k}：{f[key]}" for k, key in (("投资", "investment"), ("规模", "scale"),
                                                     ("位置", "location"), ("进度", "progress")) if f.get(key)]
            return "｜".join([self.name, status] + facts)
        value = self.value + (self.unit if re.search(r"\d", self.value) and not self.value.endswith(self.unit)
                              else "")
        extra = [x for x in (f.get("qualifier"), f.get("attribute"), f.get("value_note"), status) if x]
        when = f"{self.year}年" if self.year.isdigit() else self.year
        return f"{self.name}{f.get('measure', '')}：{when} {value}" + (f"（{'，'.join(extra)}）" if extra else "")

    def to_json(self) -> dict:
        """The `qa commitments --json` record: kind, doc, name, status, value, unit, year, the
        kind's own fields and the sentence at the top level, then where it came from."""
        data = {k: getattr(self, k) for k in ("kind", "doc", "name", "status", "value", "unit", "year")}
        data |= self.fields | {"sentence": self.sentence}
        data |= {k: getattr(self, k) for k in ("id", "title", "short_title", "place", "period", "date",
                                               "heading", "node_id", "start", "end", "text", "group_key",
                                               "related")}
        data["summary"] = self.summary()
        return data


def _row(row) -> Commitment:
    data = {k: row[k] for k in COLUMNS}
    data["fields"] = json.loads(data["fields"] or "{}")
    return Commitment(**data)


def _fts_ids(conn, tokenizer: Tokenizer, text: str, any_term: bool,
             limit: int = -1, places: Iterable[str] = (),
             counts: TermCounts | None = None) -> dict[int, float]:
    """Full-text matches of the text's words (all of them, or any distinctive one), segmented
    by the index's tokenizer and ranked by BM25; only records of the `places` given (or of no
    known place) when any are given."""
    tokens = list(dict.fromkeys(tokenizer.tokenize(text)))
    if any_term:
        tokens = _distinctive(conn, tokens, counts)
    if not tokens:
        return {}
    return conn.fts(tokens, any_term, limit, list(places))


COMMON_TERM_SHARE = 0.02  # a word in more records than this barely ranks, yet costs the most


@dataclass
class TermCounts:
    """How many records hold each word: read once per process by whoever asks many questions
    (fts5vocab counts a word by walking its postings, ~70 µs a word at 76k records)."""

    total: int
    records: dict[str, int]

    @classmethod
    def read(cls, db, terms: Iterable[str] | None = None) -> "TermCounts":
        with _connection(db) as conn:
            stored = conn.one("SELECT value FROM meta WHERE key = 'counts'")
            total = sum(json.loads(stored[0]).get(k, 0) for k in KINDS) if stored else 0
            return cls(total, conn.term_counts(None if terms is None else list(terms)))


def _distinctive(conn, tokens: list[str],
                 counts: TermCounts | None = None) -> list[str]:
    """The words worth matching records on: a question's very common words (建设, 发展) add
    little to BM25 but make the full-text search score a large share of all records. The
    rarest word is always kept. Ranking afterwards still uses every word of the question."""
    if len(tokens) < 2:
        return tokens
    counts = counts or TermCounts.read(conn, tokens)
    held = counts.records
    kept = [t for t in tokens if held.get(t, 0) <= COMMON_TERM_SHARE * counts.total]
    return kept or [min(tokens, key=lambda t: held.get(t, 0))]


MATCH_CANDIDATES = 200  # best full-text hits ranked further in Python
RELATED_LIMIT = 20  # a name shared by hundreds of towns must not fan out without bound


def records_at(db, node_id: str) -> list[Commitment]:
    """Records extracted from one passage (no cross-document links attached). `db`, here and
    below: a commitments file's path, an open sqlite3 connection or a store (qa.commitments.stores)."""
    with _connection(db) as conn:
        return [_row(r) for r in conn.rows("SELECT * FROM commitments WHERE node_id = ?"
                                           " ORDER BY id", (node_id,))]


def related_of(db, item: Commitment) -> list[dict]:
    """The same indicator or project in other records, newest first, at most RELATED_LIMIT."""
    with _connection(db) as conn:
        return _related(conn, item)


def _with_related(conn, items: list[Commitment]) -> list[Commitment]:
    for item in items:
        item.related = _related(conn, item)
    return items


def _related(conn, item: Commitment) -> list[dict]:
    rows = conn.rows(
        "SELECT c.* FROM links l JOIN commitments c ON c.id = l.commitment_id"
        " WHERE l.group_key = ? ORDER BY l.position LIMIT ?",
        (item.group_key, RELATED_LIMIT + 1)) if item.group_key else []
    return [{"id": r["id"], "doc": r["doc"], "short_title": r["short_title"], "date": r["date"],
             "place": r["place"], "name": r["name"], "value": r["value"], "unit": r["unit"],
             "year": r["year"], "node_id": r["node_id"], "status": r["status"]}
            for r in rows if r["id"] != item.id]


def search_commitments(db, kind: str | None = None,
                       place: str | None = None, doc: str | None = None, query: str | None = None,
                       limit: int | None = 100, with_related: bool = True,
                       tokenizer: Tokenizer | None = None, status: str | None = None,
                       attribute: str | None = None,
                       years: tuple[int | None, int | None] | None = None) -> list[Commitment]:
    """Records filtered by kind/place/doc/status/属性 and a year range (a record's year or span
    overlapping it), ranked by a Chinese full-text query when given (the query segmented by the
    index's `tokenizer`, which a query needs).
    `with_related=False` skips the cross-document links (one query per record)."""
    with _connection(db) as conn:
        where, params = [], []
        if kind:
            where.append("kind = ?")
            params.append(kind)
        if place:
            where.append(f"(place = ? OR {conn.contains('place', '?')} OR {conn.contains('?', 'place')})")
            params += [place, place, place]
        if doc:
            where.append(f"(doc = ? OR {conn.contains('doc', '?')} OR {conn.contains('short_title', '?')})")
            params += [doc, doc, doc]
        if status:
            where.append("status = ?")
            params.append(status)
        if attribute:
            where.append(conn.contains(f"coalesce({conn.json_text('attribute')}, '')", "?"))
            params.append(attribute)
        sql = "SELECT * FROM commitments" + (" WHERE " + " AND ".join(where) if where else "")
        items = [_row(r) for r in conn.rows(sql + f" ORDER BY {conn.binary('doc')}, start, id", params)]
        if years and any(y is not None for y in years):
            items = [c for c in items if _overlaps(c.year, *years)]
        if query:
            if tokenizer is None:
                raise ValueError("a full-text query needs the index's tokenizer")
            scores = (_fts_ids(conn, tokenizer, query, any_term=False)
                      or _fts_ids(conn, tokenizer, query, any_term=True))
            if not scores:  # a phrase jieba splits differently: fall back to substring search
                scores = {c.id: 1.0 for c in items if query in c.name or query in c.text}
            items = [c for c in items if c.id in scores]
            for c in items:
                c.score = scores[c.id]
            items.sort(key=lambda c: -c.score)
        items = items[:limit] if limit else items
        return _with_related(conn, items) if with_related else items


def _overlaps(year: str, first: int | None, last: int | None) -> bool:
    """Whether '2024' or '2026-2030' falls in [first, last] (either end open)."""
    found = [int(y) for y in re.findall(r"(?:19|20)\d{2}", year or "")]
    if not found:
        return False
    return (first is None or max(found) >= first) and (last is None or min(found) <= last)


def match_for_question(db, tokenizer: Tokenizer,
                       question_terms: Iterable[str], places: Iterable[str] = (),
                       years: Iterable[str] = (), kind_hint: str | None = None, limit: int = 5,
                       with_related: bool = True, counts: TermCounts | None = None) -> list[Commitment]:
    """Records that answer a number/target/project/responsibility question, best first.

    Score = FTS relevance × share of question terms the record's name covers, favouring the asked
    place and year; records of another place are dropped when a place was asked.
    """
    terms = [t for t in question_terms if t and t.strip()]
    if not terms:
        return []
    places, years = [p for p in places if p], [str(y) for y in years if y]
    with _connection(db) as conn:
        scores = _fts_ids(conn, tokenizer, " ".join(terms), any_term=True, limit=MATCH_CANDIDATES,
                          places=places, counts=counts)
        if not scores:
            return []
        marks = ",".join("?" * len(scores))
        # rank on the few columns scoring needs; whole records only for the winners
        rows = conn.rows(
            f"SELECT id, kind, place, year, name || coalesce({conn.json_text('measure')}, '')"
            f" || coalesce({conn.json_text('lead')}, ''), status"
            f" FROM commitments WHERE id IN ({marks})", list(scores))
        wanted = [normalise(t) for t in terms]
        ranked = []
        for rid, kind, place, year, label, status in rows:
            place, year = place or "", year or ""
            if kind_hint and kind != kind_hint:
                continue
            if places and not any(p in place or place in p for p in places):
                continue
            label = normalise(label or "")
            coverage = sum(1 for t in wanted if t in label) / len(wanted)
            if coverage == 0:
                continue
            year_match = any(y == year or y in year.split("-") for y in years)
            ranked.append((scores[rid] * (0.5 + coverage) * (1.5 if year_match else 1.0)
                           * (1.2 if kind == "target" and status == PLANNED else 1.0), rid))
        ranked.sort(reverse=True)
        results = []
        for score, rid in ranked[:limit]:
            c = _row(conn.one("SELECT * FROM commitments WHERE id = ?", (rid,)))
            c.score = score
            results.append(c)
        return _with_related(conn, results) if with_related else results


# ---------------------------------------------------------------- CLI support

CSV_COLUMNS = ("kind", "status", "place", "short_title", "name", "measure", "value", "unit", "year",
               "baseline", "baseline_year", "attribute", "investment", "location", "scale", "lead",
               "partners", "task", "verb", "summary", "heading", "sentence", "doc", "node_id", "start",
               "end")


def _cell(value) -> str:
    if isinstance(value, list):
        return "、".join(v if isinstance(v, str) else f"{v['label']}{v['value']}" for v in value)
    return str(value)


def format_commitments(items: list[Commitment], style: str = "text") -> str:
    """JSON (one array), CSV (one row per record) or readable lines with the source of each."""
    if style == "json":
        return json.dumps([c.to_json() for c in items], ensure_ascii=False, indent=1) + "\n"
    if style == "csv":  # no cell starts a formula (qa.csvsafe)
        from qa.csvsafe import csv_text

        return csv_text(CSV_COLUMNS, ([_cell(data.get(k, "")) for k in CSV_COLUMNS]
                                      for data in (c.to_json() for c in items)))
    if not items:
        return "没有找到符合条件的记录。\n"
    lines = [f"[{KIND_NAMES[c.kind]}] {c.summary()}\n    出处：{c.short_title} › {c.heading}（{c.node_id}）"
             for c in items]
    return "\n".join(lines) + f"\n共 {len(items)} 条。\n"
