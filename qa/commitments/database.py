"""Commitments as data: targets, projects and responsibilities in SQLite, searchable and linked.

Questions such as "某镇2024年一般公共预算收入目标是多少" are answered best from a record
that holds the number exactly as printed and the passage it came from. `build_commitments`
extracts records (qa.commitments.extract) into `commitments.sqlite` in the index folder;
qa.commitments.search reads them back. The schema evolves through
numbered migrations applied on open (the simonw/llm pattern), so an old file upgrades in place.
"""
from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path
from typing import Callable

from qa.commitments.extract import extract
from qa.commitments.models import Record
from qa.ingest.divisions import short_forms
from qa.text import Tokenizer, normalise

DB_NAME = "commitments.sqlite"
KINDS = ("target", "project", "responsibility")
KIND_NAMES = {"target": "目标指标", "project": "项目", "responsibility": "责任分工"}
COLUMNS = ("id", "kind", "name", "doc", "title", "short_title", "place", "period", "date", "heading",
           "node_id", "start", "end", "text", "value", "unit", "year", "fields", "group_key", "status",
           "sentence")

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


@migration
def m006_status_and_sentence(db: sqlite3.Connection) -> None:
    # planned / reported (targets), planned / under construction / completed (projects), and the
    # sentence a record was read from, which every name, actor and figure of it is printed in
    db.executescript("""
        ALTER TABLE commitments ADD COLUMN status TEXT NOT NULL DEFAULT '';
        ALTER TABLE commitments ADD COLUMN sentence TEXT NOT NULL DEFAULT '';
        CREATE INDEX commitments_status ON commitments(kind, status, year);
    """)


def place_token(place: str) -> str:
    """One full-text token per place; the bare prefix stands for a record of no known place."""
    return "p" + re.sub(r"\W", "", place or "")


def migrate(db: sqlite3.Connection, forms: dict[str, Callable] | None = None) -> None:
    """Run the steps this database has not seen, each once. `forms`: another engine's form of
    the steps that use what only SQLite has (FTS5), by name (qa.commitments.postgres)."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
    for name, fn in MIGRATIONS:
        if name not in done:
            (forms or {}).get(name, fn)(db)
            db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, time.strftime("%Y-%m-%dT%H:%M:%S")))
    db.commit()


def open_db(path: str | Path = ":memory:") -> sqlite3.Connection:
    """Open (or create) a commitments database and bring its schema up to date."""
    db = sqlite3.connect(str(path))
    db.row_factory = sqlite3.Row
    migrate(db)
    return db


# ---------------------------------------------------------------- building

ADMIN_PREFIX = re.compile(r"^(?:[\u4e00-\u9fff]{2,4}?(?:省|市|区|县|镇|乡|街道))+")


def group_key(kind: str, name: str, place: str = "") -> str:
    """One key for the same indicator or project named in several documents ("某镇第三小学
    项目", "某第三小学项目" and "第三小学项目" are one project: the place a document is about,
    written in full or short, and any leading division name are left out)."""
    if kind == "responsibility":
        return ""
    s = re.sub(r"[\s“”\"'《》「」]", "", normalise(name))
    for form in sorted(([place] + short_forms(place)) if place else [], key=len, reverse=True):
        if s.startswith(form) and len(s) > len(form) + 1:
            s = s[len(form):]
            break
    s = re.sub(r"^(?:全区|全镇|全市|全县|全社会|全年|完成|实现|新增|培育|打造|建成|新建|推进|推动)+", "", s)
    if kind == "target":
        s = re.sub(r"(?:同比)?(?:增长率|增速|增长|增幅)$", "", s)
        s = re.sub(r"(?:品牌|数量|总数)$", "", s)
    else:
        s = ADMIN_PREFIX.sub("", s) or s
        s = re.sub(r"(?:建设)?(?:项目|工程)$", "", s)
    return f"{kind}:{s}" if len(s) >= 2 else ""


def _segment(tokenizer: Tokenizer, *parts: str) -> str:
    return " ".join(tokenizer.segment(" ".join(p for p in parts if p)))


def _fts_body(tokenizer: Tokenizer, fields: dict, heading: str) -> str:
    """What besides its name a record is found by: its measure, category, box, lead, partners."""
    return _segment(tokenizer, fields.get("measure", ""), fields.get("category", ""),
                    fields.get("box", ""), fields.get("lead", ""), " ".join(fields.get("partners") or []),
                    fields.get("location", ""), heading.split(" › ")[-1])


def build_into(db: sqlite3.Connection, documents, nodes, tokenizer: Tokenizer,
               replace: bool = True) -> dict[str, int]:
    """Extract the documents' records into an open database (replacing what it held, unless
    `replace` is false), segmented for full-text search by the index's `tokenizer`; returns the
    database's counts by kind and the records dropped."""
    by_doc: dict[str, list] = {}
    for node in nodes:
        by_doc.setdefault(node.metadata.get("doc"), []).append(node)
    dropped = 0
    with db:
        if replace:
            db.execute("DELETE FROM commitments")
            db.execute("DELETE FROM commitments_fts")
        for document in documents:
            extraction = extract(document, by_doc.get(document.metadata["doc"], []))
            dropped += len(extraction.dropped)
            for record in extraction.records:
                _insert(db, record, document.metadata, tokenizer)
        _link(db)
        counts = {k: 0 for k in KINDS} | dict(db.execute("SELECT kind, COUNT(*) FROM commitments GROUP BY kind"))
        counts["dropped"] = dropped
        db.execute("INSERT OR REPLACE INTO meta VALUES ('counts', ?)", (json.dumps(counts),))
    return counts


def _insert(db: sqlite3.Connection, record: Record, meta: dict, tokenizer: Tokenizer) -> None:
    source, facts, place = record.source, record.facts(), meta.get("place", "")
    cur = db.execute(
        "INSERT INTO commitments (kind, name, doc, title, short_title, place, period, date, heading,"
        " node_id, start, \"end\", text, value, unit, year, fields, group_key, status, sentence)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (record.kind, record.name, source.doc, meta.get("title", ""), meta.get("short_title", ""),
         place, meta.get("period", ""), meta.get("date", ""), source.heading, source.node_id,
         source.start, source.end, source.passage, record.value, record.unit, record.year,
         json.dumps(facts, ensure_ascii=False), group_key(record.kind, record.name, place),
         record.status, source.sentence))
    db.execute("INSERT INTO commitments_fts (rowid, name, body, place) VALUES (?, ?, ?, ?)",
               (cur.lastrowid, _segment(tokenizer, record.name), _fts_body(tokenizer, facts, source.heading),
                place_token(meta.get("place", ""))))


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


def _resegment_records(db: sqlite3.Connection, changed_terms: set[str], tokenizer: Tokenizer) -> None:
    """Copied records whose words include a term added or dropped since they were indexed are
    segmented again for full-text search, as a full build would segment them."""
    with db:
        for rid, name, fields, heading in db.execute(
                "SELECT id, name, fields, heading FROM commitments").fetchall():
            if any(term in normalise(name + fields + heading) for term in changed_terms):
                db.execute("UPDATE commitments_fts SET name = ?, body = ? WHERE rowid = ?",
                           (_segment(tokenizer, name), _fts_body(tokenizer, json.loads(fields), heading),
                            rid))


def build_commitments(index_dir: str | Path, documents, nodes, tokenizer: Tokenizer,
                      previous: Path | None = None, kept: list[str] = (),
                      changed_terms: set[str] = frozenset()) -> Path:
    """Write `commitments.sqlite` into an index folder (the build's temporary one): records of
    the `kept` documents copied from the `previous` database (segmented again where
    `changed_terms` touch them), the documents given extracted."""
    path = Path(index_dir) / DB_NAME
    path.unlink(missing_ok=True)
    db = open_db(path)
    try:
        copy = previous is not None and Path(previous).exists() and kept
        if copy:
            _copy_records(db, Path(previous), list(kept))
            if changed_terms:
                _resegment_records(db, changed_terms, tokenizer)
        build_into(db, documents, nodes, tokenizer, replace=not copy)
    finally:
        db.close()
    return path
