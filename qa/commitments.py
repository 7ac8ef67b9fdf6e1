"""Commitments as data: targets, projects and responsibilities in SQLite, searchable and linked.

Questions such as "张家窝镇2024年一般公共预算收入目标是多少" are answered best from a record
that holds the number exactly as printed and the passage it came from. `build_commitments`
extracts records (qa.commitments_extract) into `commitments.sqlite` in the index folder;
`search_commitments` and `match_for_question` read them back. The schema evolves through
numbered migrations applied on open (the simonw/llm pattern), so an old file upgrades in place.
"""
from __future__ import annotations

import json
import re
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from qa.commitments_extract import Record, extract
from qa.text import add_terms, corpus_terms, normalise, tokenize

DB_NAME = "commitments.sqlite"
KINDS = ("target", "project", "responsibility")
KIND_NAMES = {"target": "目标指标", "project": "项目", "responsibility": "责任分工"}
# Fields holding measured values: each must appear verbatim in the source passage.
VALUE_FIELDS = ("value", "base_value", "target_value", "growth", "investment", "scale")
COLUMNS = ("id", "kind", "name", "doc", "title", "short_title", "place", "period", "date", "heading",
           "node_id", "start", "end", "text", "value", "unit", "year", "fields", "group_key")

MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = []


def migration(fn: Callable[[sqlite3.Connection], None]):
    """Register a schema step; steps run once each, in the order they are defined."""
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_commitments(db: sqlite3.Connection) -> None:
    db.executescript("""
        CREATE TABLE commitments (
            id INTEGER PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL,
            doc TEXT NOT NULL, title TEXT, short_title TEXT, place TEXT, period TEXT, date TEXT,
            heading TEXT, node_id TEXT NOT NULL, start INTEGER, "end" INTEGER, text TEXT NOT NULL,
            value TEXT, unit TEXT, year TEXT, fields TEXT NOT NULL DEFAULT '{}');
        CREATE INDEX commitments_kind ON commitments(kind, place, doc);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
    """)


@migration
def m002_fts(db: sqlite3.Connection) -> None:
    # jieba-segmented text, space separated, so unicode61 sees Chinese words as tokens.
    db.execute("CREATE VIRTUAL TABLE commitments_fts USING fts5(name, body, tokenize='unicode61')")


@migration
def m003_links(db: sqlite3.Connection) -> None:
    db.executescript("""
        ALTER TABLE commitments ADD COLUMN group_key TEXT NOT NULL DEFAULT '';
        CREATE INDEX commitments_group ON commitments(group_key);
        CREATE TABLE links (group_key TEXT NOT NULL, commitment_id INTEGER NOT NULL,
                            position INTEGER NOT NULL, PRIMARY KEY (group_key, commitment_id));
    """)


@migration
def m004_node_index(db: sqlite3.Connection) -> None:
    # the answerer looks records up by the passage it is about to cite
    db.execute("CREATE INDEX commitments_node ON commitments(node_id)")


@migration
def m005_place_and_term_counts(db: sqlite3.Connection) -> None:
    # the record's place as a full-text column, so a question about one town searches that
    # town's records only (a district's corpus holds hundreds of towns); and how many records
    # hold each word, so a question's very common words are left out of matching
    db.executescript("""
        DROP TABLE commitments_fts;
        CREATE VIRTUAL TABLE commitments_fts USING fts5(name, body, place, tokenize='unicode61');
        CREATE VIRTUAL TABLE commitments_vocab USING fts5vocab(commitments_fts, 'row');
    """)


def place_token(place: str) -> str:
    """One full-text token per place; the bare prefix stands for a record of no known place."""
    return "p" + re.sub(r"\W", "", place or "")


def migrate(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
    for name, fn in MIGRATIONS:
        if name not in done:
            fn(db)
            db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, time.strftime("%Y-%m-%dT%H:%M:%S")))
    db.commit()


def open_db(path: str | Path = ":memory:") -> sqlite3.Connection:
    """Open (or create) a commitments database and bring its schema up to date."""
    db = sqlite3.connect(str(path))
    db.row_factory = sqlite3.Row
    migrate(db)
    return db


# ---------------------------------------------------------------- building

def numbers_verbatim(record: Record) -> bool:
    """Every measured value must be printed in the passage; years may come from heading or period."""
    values = [record.value] + [record.fields.get(k, "") for k in VALUE_FIELDS]
    if any(v and re.search(r"\d", v) and v not in record.passage for v in values):
        return False
    context = record.passage + record.heading + json.dumps(record.fields, ensure_ascii=False)
    return not record.year or record.year in context or bool(re.fullmatch(r"\d{4}-\d{4}", record.year))


def group_key(kind: str, name: str) -> str:
    """One key for the same indicator or project named in several documents."""
    if kind == "responsibility":
        return ""
    s = re.sub(r"[\s“”\"'《》「」]", "", normalise(name))
    s = re.sub(r"^(?:全区|全镇|全市|全社会|全年|完成|实现|新增|培育|打造|建成|新建|推进|推动)+", "", s)
    if kind == "target":
        s = re.sub(r"(?:同比)?(?:增长率|增速|增长|增幅)$", "", s)
        s = re.sub(r"(?:品牌|数量|总数)$", "", s)
    else:
        s = re.sub(r"^(?:天津市|西青区|静海区|张家窝镇|张家窝|静海镇|静海)", "", s)
        s = re.sub(r"(?:建设)?(?:项目|工程)$", "", s)
    return f"{kind}:{s}" if len(s) >= 2 else ""


def _segment(*parts: str) -> str:
    return " ".join(tokenize(" ".join(p for p in parts if p)))


def build_into(db: sqlite3.Connection, documents, nodes, replace: bool = True) -> dict[str, int]:
    """Extract the documents' records into an open database (replacing what it held, unless
    `replace` is false); returns the database's counts by kind and the records dropped."""
    by_doc: dict[str, list] = {}
    for node in nodes:
        by_doc.setdefault(node.metadata.get("doc"), []).append(node)
    add_terms(corpus_terms(d.text for d in documents))
    dropped = 0
    with db:
        if replace:
            db.execute("DELETE FROM commitments")
            db.execute("DELETE FROM commitments_fts")
        for document in documents:
            meta = document.metadata
            for rec in extract(document, by_doc.get(meta["doc"], [])):
                if not numbers_verbatim(rec):
                    dropped += 1
                    continue
                assert all(v in rec.passage for v in [rec.value] if v and re.search(r"\d", v))
                cur = db.execute(
                    "INSERT INTO commitments (kind, name, doc, title, short_title, place, period, date,"
                    " heading, node_id, start, \"end\", text, value, unit, year, fields, group_key)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (rec.kind, rec.name, rec.doc, meta.get("title", ""), meta.get("short_title", ""),
                     meta.get("place", ""), meta.get("period", ""), meta.get("date", ""), rec.heading,
                     rec.node_id, rec.start, rec.end, rec.passage, rec.value, rec.unit, rec.year,
                     json.dumps(rec.fields, ensure_ascii=False), group_key(rec.kind, rec.name)))
                f = rec.fields
                body = _segment(f.get("subject", ""), f.get("indicator", ""), f.get("category", ""),
                                f.get("box", ""), f.get("actor", ""), f.get("task", ""),
                                f.get("partner", ""), rec.heading.split(" › ")[-1])
                db.execute("INSERT INTO commitments_fts (rowid, name, body, place) VALUES (?, ?, ?, ?)",
                           (cur.lastrowid, _segment(rec.name), body, place_token(meta.get("place", ""))))
        _link(db)
        counts = {k: 0 for k in KINDS} | dict(db.execute("SELECT kind, COUNT(*) FROM commitments GROUP BY kind"))
        counts["dropped"] = dropped
        db.execute("INSERT OR REPLACE INTO meta VALUES ('counts', ?)", (json.dumps(counts),))
    return counts


def _link(db: sqlite3.Connection) -> None:
    """Groups named in two or more documents, ordered newest document first."""
    db.execute("DELETE FROM links")
    db.execute("""
        INSERT INTO links
        SELECT group_key, id, ROW_NUMBER() OVER (PARTITION BY group_key
                                                 ORDER BY date DESC, year DESC, id) - 1
        FROM commitments WHERE group_key IN (
            SELECT group_key FROM commitments WHERE group_key != '' GROUP BY group_key
            HAVING COUNT(DISTINCT doc) > 1)""")


def _copy_records(db: sqlite3.Connection, previous: Path, docs: list[str]) -> None:
    """Unchanged documents keep their records (and full-text rows) from the previous index."""
    columns = ", ".join(f'"{c}"' for c in COLUMNS)
    db.execute("ATTACH DATABASE ? AS old", (f"file:{previous}?mode=ro",))
    try:
        with db:
            db.execute("CREATE TEMP TABLE kept (doc TEXT PRIMARY KEY)")
            db.executemany("INSERT INTO kept VALUES (?)", ((d,) for d in docs))
            db.execute(f"INSERT INTO commitments ({columns}) SELECT {columns} FROM old.commitments"
                       " WHERE doc IN (SELECT doc FROM kept)")
            db.execute("INSERT INTO commitments_fts (rowid, name, body, place)"
                       " SELECT rowid, name, body, place"
                       " FROM old.commitments_fts WHERE rowid IN (SELECT id FROM commitments)")
            db.execute("DROP TABLE kept")
    finally:
        db.execute("DETACH DATABASE old")


def build_commitments(index_dir: str | Path, documents, nodes, previous: Path | None = None,
                      kept: list[str] = ()) -> Path:
    """Write `commitments.sqlite` into an index folder (the build's temporary one): records of
    the `kept` documents copied from the `previous` database, the documents given extracted."""
    path = Path(index_dir) / DB_NAME
    path.unlink(missing_ok=True)
    db = open_db(path)
    try:
        copy = previous is not None and Path(previous).exists() and kept
        if copy:
            _copy_records(db, Path(previous), list(kept))
        build_into(db, documents, nodes, replace=not copy)
    finally:
        db.close()
    return path


# ---------------------------------------------------------------- reading

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
    related: list[dict] = field(default_factory=list)
    score: float = 0.0

    def summary(self) -> str:
        """One Chinese line: what, how much, when, with the qualifier or 属性."""
        f = self.fields
        if self.kind == "responsibility":
            partner = f"（配合{f['partner']}）" if f.get("partner") else ""
            return f"{f.get('actor', '')}{partner}｜{f.get('role', '')}｜{f.get('task', '')}"
        if self.kind == "project":
            facts = [f"{k}：{f[key]}" for k, key in (("投资", "investment"), ("规模", "scale"),
                                                     ("位置", "location"), ("进度", "status")) if f.get(key)]
            return "｜".join([self.name] + facts)
        value = self.value + (self.unit if re.search(r"\d", self.value) and not self.value.endswith(self.unit)
                              else "")
        extra = [x for x in (f.get("qualifier"), f.get("attribute"), f.get("value_note"), f.get("stance"))
                 if x]
        when = f"{self.year}年" if self.year.isdigit() else self.year
        return f"{self.name}：{when} {value}" + (f"（{'，'.join(extra)}）" if extra else "")

    def to_json(self) -> dict:
        data = asdict(self)
        data["summary"] = self.summary()
        return data


def _connect(db: str | Path | sqlite3.Connection) -> tuple[sqlite3.Connection, bool]:
    if isinstance(db, sqlite3.Connection):
        return db, False
    path = Path(db)
    if not path.exists():
        from qa.errors import IndexError_
        raise IndexError_(f"承诺数据库不存在：{path}。请运行 qa build --force 重建索引。")
    terms = path.parent / "terms.json"
    if terms.exists():  # segment queries with the same dictionary the build used
        add_terms(json.loads(terms.read_text(encoding="utf-8")))
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return conn, True


def _row(row) -> Commitment:
    data = {k: row[k] for k in COLUMNS}
    data["fields"] = json.loads(data["fields"] or "{}")
    return Commitment(**data)


def _fts_ids(conn: sqlite3.Connection, text: str, any_term: bool, limit: int = -1,
             places: Iterable[str] = (), counts: TermCounts | None = None) -> dict[int, float]:
    """Full-text matches of the text's words (all of them, or any distinctive one), ranked by
    BM25; only records of the `places` given (or of no known place) when any are given."""
    tokens = list(dict.fromkeys(tokenize(text)))
    if any_term:
        tokens = _distinctive(conn, tokens, counts)
    if not tokens:
        return {}
    quoted = ['"' + t.replace('"', '""') + '"' for t in tokens]
    match = "{name body} : (" + (" OR " if any_term else " ").join(quoted) + ")"
    places = list(places)
    if places:
        tokens = [place_token(p) for p in places] + [place_token("")]
        match = "place : (" + " OR ".join(f'"{t}"' for t in tokens) + ") AND " + match
    rows = conn.execute("SELECT rowid, bm25(commitments_fts, 2.0, 1.0, 0.0) FROM commitments_fts"
                        " WHERE commitments_fts MATCH ? ORDER BY 2 LIMIT ?", (match, limit)).fetchall()
    return {r[0]: -r[1] for r in rows}


COMMON_TERM_SHARE = 0.02  # a word in more records than this barely ranks, yet costs the most


@dataclass
class TermCounts:
    """How many records hold each word: read once per process by whoever asks many questions
    (fts5vocab counts a word by walking its postings, ~70 µs a word at 76k records)."""

    total: int
    records: dict[str, int]

    @classmethod
    def read(cls, conn: sqlite3.Connection, terms: Iterable[str] | None = None) -> "TermCounts":
        stored = conn.execute("SELECT value FROM meta WHERE key = 'counts'").fetchone()
        total = sum(json.loads(stored[0]).get(k, 0) for k in KINDS) if stored else 0
        if terms is None:
            rows = conn.execute("SELECT term, doc FROM commitments_vocab")
        else:
            terms = list(terms)
            marks = ",".join("?" * len(terms))
            rows = conn.execute(f"SELECT term, doc FROM commitments_vocab WHERE term IN ({marks})", terms)
        return cls(total, dict(rows))


def _distinctive(conn: sqlite3.Connection, tokens: list[str],
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


def records_at(db: str | Path | sqlite3.Connection, node_id: str) -> list[Commitment]:
    """Records extracted from one passage (no cross-document links attached)."""
    conn, owned = _connect(db)
    try:
        return [_row(r) for r in conn.execute("SELECT * FROM commitments WHERE node_id = ?"
                                              " ORDER BY id", (node_id,))]
    finally:
        if owned:
            conn.close()


def related_of(db: str | Path | sqlite3.Connection, item: Commitment) -> list[dict]:
    """The same indicator or project in other records, newest first, at most RELATED_LIMIT."""
    conn, owned = _connect(db)
    try:
        return _related(conn, item)
    finally:
        if owned:
            conn.close()


def _related(conn: sqlite3.Connection, item: Commitment) -> list[dict]:
    rows = conn.execute(
        "SELECT c.* FROM links l JOIN commitments c ON c.id = l.commitment_id"
        " WHERE l.group_key = ? ORDER BY l.position LIMIT ?",
        (item.group_key, RELATED_LIMIT + 1)).fetchall() if item.group_key else []
    return [{"id": r["id"], "doc": r["doc"], "short_title": r["short_title"], "date": r["date"],
             "place": r["place"], "name": r["name"], "value": r["value"], "unit": r["unit"],
             "year": r["year"], "node_id": r["node_id"],
             "stance": json.loads(r["fields"]).get("stance", "")} for r in rows if r["id"] != item.id]


def search_commitments(db: str | Path | sqlite3.Connection, kind: str | None = None,
                       place: str | None = None, doc: str | None = None, query: str | None = None,
                       limit: int | None = 100, with_related: bool = True) -> list[Commitment]:
    """Records filtered by kind/place/doc, ranked by a Chinese full-text query when given.
    `with_related=False` skips the cross-document links (one query per record)."""
    conn, owned = _connect(db)
    try:
        where, params = [], []
        if kind:
            where.append("kind = ?")
            params.append(kind)
        if place:
            where.append("(place = ? OR instr(place, ?) > 0 OR instr(?, place) > 0)")
            params += [place, place, place]
        if doc:
            where.append("(doc = ? OR instr(doc, ?) > 0 OR instr(short_title, ?) > 0)")
            params += [doc, doc, doc]
        sql = "SELECT * FROM commitments" + (" WHERE " + " AND ".join(where) if where else "")
        items = [_row(r) for r in conn.execute(sql + " ORDER BY doc, start, id", params)]
        if query:
            scores = _fts_ids(conn, query, any_term=False) or _fts_ids(conn, query, any_term=True)
            if not scores:  # a phrase jieba splits differently: fall back to substring search
                scores = {c.id: 1.0 for c in items if query in c.name or query in c.text}
            items = [c for c in items if c.id in scores]
            for c in items:
                c.score = scores[c.id]
            items.sort(key=lambda c: -c.score)
        items = items[:limit] if limit else items
        for c in items if with_related else ():
            c.related = _related(conn, c)
        return items
    finally:
        if owned:
            conn.close()


def match_for_question(db: str | Path | sqlite3.Connection, question_terms: Iterable[str],
                       places: Iterable[str] = (), years: Iterable[str] = (),
                       kind_hint: str | None = None, limit: int = 5,
                       with_related: bool = True, counts: TermCounts | None = None) -> list[Commitment]:
    """Records that answer a number/target/project/responsibility question, best first.

    Score = FTS relevance × share of question terms the record's name covers, favouring the asked
    place and year; records of another place are dropped when a place was asked.
    """
    terms = [t for t in question_terms if t and t.strip()]
    if not terms:
        return []
    places, years = [p for p in places if p], [str(y) for y in years if y]
    conn, owned = _connect(db)
    try:
        scores = _fts_ids(conn, " ".join(terms), any_term=True, limit=MATCH_CANDIDATES, places=places,
                          counts=counts)
        if not scores:
            return []
        marks = ",".join("?" * len(scores))
        # rank on the few columns scoring needs; whole records only for the winners
        rows = conn.execute(
            "SELECT id, kind, place, year, name || coalesce(json_extract(fields, '$.subject'), '')"
            " || coalesce(json_extract(fields, '$.task'), ''), json_extract(fields, '$.stance')"
            f" FROM commitments WHERE id IN ({marks})", list(scores)).fetchall()
        wanted = [normalise(t) for t in terms]
        ranked = []
        for rid, kind, place, year, label, stance in rows:
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
                           * (1.2 if kind == "target" and stance == "目标" else 1.0), rid))
        ranked.sort(reverse=True)
        results = []
        for score, rid in ranked[:limit]:
            c = _row(conn.execute("SELECT * FROM commitments WHERE id = ?", (rid,)).fetchone())
            c.score = score
            results.append(c)
        for c in results if with_related else ():
            c.related = _related(conn, c)
        return results
    finally:
        if owned:
            conn.close()


# ---------------------------------------------------------------- CLI support

CSV_COLUMNS = ("kind", "place", "short_title", "name", "value", "unit", "year", "summary", "heading",
               "node_id", "doc", "start", "end", "text")


def load_commitments(config, **filters) -> list[Commitment]:
    """Ensure the index (and its commitments database) exists, then search it."""
    from qa.indexing import ensure_index

    ensure_index(config, progress=False)
    path = Path(config.index_dir) / DB_NAME
    if not path.exists():  # an index built before commitments existed
        ensure_index(config, force=True, progress=False)
    return search_commitments(path, limit=None, **filters)


def format_commitments(items: list[Commitment], style: str = "text") -> str:
    """JSON (one array), CSV (one row per record) or readable lines with the source of each."""
    if style == "json":
        return json.dumps([c.to_json() for c in items], ensure_ascii=False, indent=1) + "\n"
    if style == "csv":
        import csv
        import io

        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for c in items:
            data = c.to_json()
            writer.writerow([data[k] for k in CSV_COLUMNS])
        return out.getvalue()
    if not items:
        return "没有找到符合条件的记录。\n"
    lines = [f"[{KIND_NAMES[c.kind]}] {c.summary()}\n    出处：{c.short_title} › {c.heading}（{c.node_id}）"
             for c in items]
    return "\n".join(lines) + f"\n共 {len(items)} 条。\n"
