"""Commitment records in PostgreSQL (QA_DATABASE_URL=postgresql://…), read by every web replica.

`qa build` still writes the index's `commitments.sqlite` (an incremental build copies unchanged
documents' records from it), then `publish` copies it here in one transaction: readers see the
previous records until the commit and the new ones after, never a mix (each read is one
REPEATABLE READ snapshot; the build's digest of the file is stored beside them, so a stale check
sees what is published). The schema comes from the SQLite store's own numbered migrations
(qa.commitments.database.MIGRATIONS) run through a thin adapter; only the two steps that create
FTS5 tables have a PostgreSQL form: each record's full-text columns as token arrays, a GIN index
on their words, and a per-word record count, ranked by qa.commitments.fulltext as FTS5 ranks.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from qa.commitments import fulltext
from qa.commitments.database import COLUMNS, MIGRATIONS, migrate, place_token
from qa.commitments.stores import Reading
from qa.errors import QAError

MIGRATION_LOCK, PUBLISH_LOCK = 17018, 17019  # pg_advisory_xact_lock keys
IDLE_CONNECTIONS = 4  # kept open per store between reads


def _fts_table(db) -> None:
    db.executescript("""
        CREATE TABLE commitments_fts (id INTEGER PRIMARY KEY, name TEXT[] NOT NULL,
                                      body TEXT[] NOT NULL, terms TEXT[] NOT NULL);
        CREATE INDEX commitments_fts_terms ON commitments_fts USING GIN (terms)
    """)


def _fts_place_and_term_counts(db) -> None:
    db.executescript("""
        ALTER TABLE commitments_fts ADD COLUMN place TEXT NOT NULL DEFAULT '';
        ALTER TABLE commitments_fts ADD COLUMN length INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX commitments_fts_place ON commitments_fts(place);
        CREATE TABLE commitments_vocab (term TEXT PRIMARY KEY, records INTEGER NOT NULL,
                                        text_records INTEGER NOT NULL)
    """)


# PostgreSQL's form of the steps that create FTS5 tables; every other step runs as written
FORMS = {"m002_fts": _fts_table, "m005_place_and_term_counts": _fts_place_and_term_counts}


def _pg(sql: str) -> str:
    """A statement written for sqlite3 (`?` placeholders) as psycopg takes it."""
    return sql.replace("%", "%%").replace("?", "%s")


class _Migrating:
    """A psycopg connection driven as qa.commitments.database.migrate drives a sqlite3 one,
    inside the caller's transaction."""

    def __init__(self, conn):
        self.conn = conn

    def execute(self, sql: str, params=()):
        return self.conn.execute(_pg(sql), list(params) or None)

    def executescript(self, script: str) -> None:
        for statement in script.split(";"):
            if statement.strip():
                self.conn.execute(statement)

    def commit(self) -> None:
        """The transaction commits when the caller's block ends."""


def connect(url: str):
    try:
        import psycopg
    except ImportError as exc:
        raise QAError("QA_DATABASE_URL 需要 psycopg：pip install -e '.[scale]'") from exc
    try:
        return psycopg.connect(url, connect_timeout=10)
    except Exception as exc:  # psycopg.Error, or a malformed URL
        raise QAError(f"承诺数据库（PostgreSQL）无法打开：{type(exc).__name__}: {exc}") from exc


def migrate_postgres(conn) -> None:
    """Bring the schema up to date; replicas starting together run each step once."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        migrate(_Migrating(conn), FORMS)


def schema_is_current(conn) -> bool:
    """Whether every migration step has run, asked without writing, so that a read-only role
    (the usual grant for the web app's readers) can use a database a build has published to."""
    with conn.transaction():
        if conn.execute("SELECT to_regclass('_migrations')").fetchone()[0] is None:
            return False
        done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    return all(name in done for name, _ in MIGRATIONS)


def _bring_up_to_date(conn) -> None:
    """A database no build has published to yet gets empty tables, when this role may create them."""
    import psycopg

    if schema_is_current(conn):
        return
    try:
        migrate_postgres(conn)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise QAError("承诺数据库（PostgreSQL）尚未发布或表结构过旧，而当前账号只有读取权限："
                      "请先用有建表权限的账号运行 qa build 发布承诺记录。") from exc


def place_key(place: str) -> str:
    """A record's place as the FTS5 store's place column reads it."""
    return " ".join(fulltext.fts_tokens(place_token(place)))


def _clean(value):
    return value.replace("\x00", "") if isinstance(value, str) else value  # PostgreSQL text has no NUL


def publish(url: str, sqlite_path: Path, digest: str) -> dict:
    """Replace the records in PostgreSQL with those of a built commitments file, in one
    transaction; returns what was written."""
    started = time.perf_counter()
    src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    try:
        columns = ", ".join(f'"{c}"' for c in COLUMNS)
        records = src.execute(f"SELECT {columns} FROM commitments ORDER BY id").fetchall()
        links = src.execute("SELECT group_key, commitment_id, position FROM links").fetchall()
        meta = src.execute("SELECT key, value FROM meta").fetchall()
        texts = src.execute("SELECT rowid, name, body, place FROM commitments_fts ORDER BY rowid").fetchall()
    finally:
        src.close()
    fts_rows, records_of, text_records_of, tokens = [], Counter(), Counter(), 0
    for rid, name, body, place in texts:
        name, body, place = (fulltext.fts_tokens(v) for v in (name, body, place))
        length = len(name) + len(body) + len(place)
        tokens += length
        records_of.update(set(name + body + place))
        text_records_of.update(set(name + body))
        fts_rows.append((rid, name, body, sorted(set(name + body)), " ".join(place), length))
    meta += [("fts", json.dumps({"rows": len(fts_rows), "tokens": tokens})),
             ("source", json.dumps({"digest": digest, "published_at": time.strftime("%Y-%m-%dT%H:%M:%S")}))]
    with connect(url) as conn:
        migrate_postgres(conn)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (PUBLISH_LOCK,))
            for table in ("links", "commitments_fts", "commitments_vocab", "commitments", "meta"):
                conn.execute(f"DELETE FROM {table}")
            cur = conn.cursor()
            for table, names, rows in (
                    ("commitments", columns, records),
                    ("links", "group_key, commitment_id, position", links),
                    ("meta", "key, value", meta),
                    ("commitments_fts", "id, name, body, terms, place, length", fts_rows),
                    ("commitments_vocab", "term, records, text_records",
                     [(t, n, text_records_of[t]) for t, n in records_of.items()])):
                with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row([_clean(v) for v in row])
    return {"records": len(records), "seconds": round(time.perf_counter() - started, 2)}


def published_digest(url: str) -> str | None:
    """The digest of the commitments file last published to PostgreSQL, or None."""
    with PostgresRecords(url).session() as db:
        found = db.one("SELECT value FROM meta WHERE key = 'source'")
    return json.loads(found[0])["digest"] if found else None


def stale_reason(config, manifest: dict) -> str | None:
    """Why a build must run again for PostgreSQL's records (in Chinese), or None."""
    if not config.database_url:
        return None
    from qa.commitments.database import DB_NAME

    if published_digest(config.database_url) != manifest.get("artifacts", {}).get(DB_NAME):
        return "承诺库尚未发布到所配置的 PostgreSQL"
    return None


class Row(tuple):
    """A result row read by position or by column name, as sqlite3.Row is."""

    def __getitem__(self, key):
        return tuple.__getitem__(self, self.names[key] if isinstance(key, str) else key)


def _rows(cursor):
    names = {c.name: i for i, c in enumerate(cursor.description or ())}

    def make(values):
        row = Row(values)
        row.names = names
        return row
    return make


class PostgresRecords:
    """The records in PostgreSQL; `session()` is one consistent read. Safe across threads:
    each read takes a connection of its own (a few are kept open between reads)."""

    dialect = "postgresql"

    def __init__(self, url: str):
        self.url = url
        self._idle: list = []
        self._lock = threading.Lock()
        self._migrated = False

    def _take(self):
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed and not conn.broken:
                    return conn
        import psycopg

        conn = connect(self.url)
        if not self._migrated:
            _bring_up_to_date(conn)
            self._migrated = True
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        conn.row_factory = _rows
        return conn

    def _give_back(self, conn) -> None:
        with self._lock:
            if len(self._idle) < IDLE_CONNECTIONS and not conn.closed and not conn.broken:
                self._idle.append(conn)
                return
        conn.close()

    @contextmanager
    def session(self):
        conn = self._take()
        try:
            with conn.transaction():
                yield _Reading(conn)
        finally:
            self._give_back(conn)


class _Reading(Reading):
    """One snapshot of the records, read as qa.commitments.search reads the SQLite store."""

    dialect = "postgresql"
    CONTAINS = "strpos({haystack}, {needle}) > 0"
    JSON_TEXT = "(fields::json ->> '{key}')"
    BINARY = '{column} COLLATE "C"'

    def __init__(self, conn):
        self.conn = conn

    def execute(self, sql: str, params: list):
        return self.conn.execute(_pg(sql), params or None)

    def term_counts(self, terms: list[str] | None = None) -> dict[str, int]:
        if terms is None:
            return dict(self.rows("SELECT term, records FROM commitments_vocab"))
        return dict(self.conn.execute("SELECT term, records FROM commitments_vocab WHERE term = ANY(%s)",
                                      (list(terms),)).fetchall())

    def _hits(self, phrases: list[tuple[str, ...]]) -> list[int]:
        """For each phrase, the records whose name or body holds it (FTS5's idf counts them)."""
        words = sorted({p[0] for p in phrases if len(p) == 1})
        held = dict(self.conn.execute("SELECT term, text_records FROM commitments_vocab WHERE term = ANY(%s)",
                                      (words,)).fetchall()) if words else {}
        out = []
        for phrase in phrases:
            if len(phrase) == 1:
                out.append(held.get(phrase[0], 0))
                continue
            rows = self.conn.execute("SELECT name, body FROM commitments_fts WHERE terms @> %s",
                                     (list(phrase),)).fetchall()
            out.append(sum(1 for name, body in rows if fulltext.occurrences(name, phrase)
                           or fulltext.occurrences(body, phrase)))
        return out

    def fts(self, words: list[str], any_term: bool, limit: int = -1, places: list[str] = ()) -> dict[int, float]:
        """As SQLiteRecords.fts: the same records, scores and order."""
        phrases = fulltext.phrases_of(words)
        if not phrases:
            return {}
        stats = self.one("SELECT value FROM meta WHERE key = 'fts'")
        if not stats:
            return {}
        stats = json.loads(stats[0])
        tokens = sorted({t for p in phrases for t in p})
        sql = "SELECT id, name, body, length FROM commitments_fts WHERE terms " + ("&&" if any_term else "@>") + " %s"
        params: list = [tokens]
        if places:
            sql += " AND place = ANY(%s)"
            params.append([place_key(p) for p in places] + [place_key("")])
        candidates = self.conn.execute(sql, params).fetchall()
        if not candidates:
            return {}
        idfs = [fulltext.idf(stats["rows"], hits) for hits in self._hits(phrases)]
        avgdl = stats["tokens"] / stats["rows"]
        scored = []
        for rid, name, body, length in candidates:
            frequencies = fulltext.Row(rid, name, body, length).frequencies(phrases)
            if fulltext.matches(frequencies, any_term):
                scored.append((fulltext.score(frequencies, idfs, length, avgdl), rid))
        scored.sort(key=lambda pair: (-pair[0], pair[1]))
        return {rid: s for s, rid in (scored if limit < 0 else scored[:limit])}
