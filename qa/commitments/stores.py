"""Where commitment records are read from: the index's SQLite file (default) or PostgreSQL
(QA_DATABASE_URL=postgresql://…, qa.commitments.postgres), behind one small interface.

qa.commitments.search writes its queries once, with `?` placeholders and the few SQL pieces the
two dialects spell differently taken from the store (`contains`, `json_text`, `binary`), and
leaves full-text matching and the per-word record counts to the store (`fts`, `term_counts`).
"""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from qa.commitments.database import DB_NAME, place_token
from qa.errors import IndexError_


class Reading:
    """One read of the records: SQL with `?` placeholders, and the pieces of SQL the dialects
    spell differently, as templates of the subclass."""

    dialect = ""
    CONTAINS = ""  # true when the text {haystack} holds {needle} (SQL expressions or `?`)
    JSON_TEXT = ""  # a text field {key} of the record's `fields` JSON, NULL when absent
    BINARY = ""  # a text {column} ordered by code point

    def execute(self, sql: str, params: list):
        raise NotImplementedError

    def rows(self, sql: str, params=()) -> list:
        return self.execute(sql, list(params)).fetchall()

    def one(self, sql: str, params=()):
        return self.execute(sql, list(params)).fetchone()

    def contains(self, haystack: str, needle: str) -> str:
        return self.CONTAINS.format(haystack=haystack, needle=needle)

    def json_text(self, key: str) -> str:
        return self.JSON_TEXT.format(key=key)

    def binary(self, column: str) -> str:
        return self.BINARY.format(column=column)


class SQLiteRecords(Reading):
    """An open SQLite commitments database (FTS5 ranks the full-text matches)."""

    dialect = "sqlite"
    CONTAINS = "instr({haystack}, {needle}) > 0"
    JSON_TEXT = "json_extract(fields, '$.{key}')"
    BINARY = "{column}"

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def execute(self, sql: str, params: list):
        return self.conn.execute(sql, params)

    def fts(self, words: list[str], any_term: bool, limit: int = -1, places: list[str] = ()) -> dict[int, float]:
        """Records whose name or body holds all the words (or any), of the `places` (or of no
        known place) when given; their BM25 scores, best first."""
        quoted = ['"' + t.replace('"', '""') + '"' for t in words]
        match = "{name body} : (" + (" OR " if any_term else " ").join(quoted) + ")"
        if places:
            wanted = [place_token(p) for p in places] + [place_token("")]
            match = "place : (" + " OR ".join(f'"{t}"' for t in wanted) + ") AND " + match
        rows = self.conn.execute("SELECT rowid, bm25(commitments_fts, 2.0, 1.0, 0.0) FROM commitments_fts"
                                 " WHERE commitments_fts MATCH ? ORDER BY 2 LIMIT ?", (match, limit)).fetchall()
        return {r[0]: -r[1] for r in rows}

    def term_counts(self, terms: list[str] | None = None) -> dict[str, int]:
        """How many records hold each word (any column)."""
        if terms is None:
            return dict(self.conn.execute("SELECT term, doc FROM commitments_vocab"))
        marks = ",".join("?" * len(terms))
        return dict(self.conn.execute(f"SELECT term, doc FROM commitments_vocab WHERE term IN ({marks})",
                                      list(terms)))


def open_sqlite(path: Path, threads: bool = False) -> sqlite3.Connection:
    """A read-only connection to a commitments file."""
    if not path.exists():
        raise IndexError_(f"承诺数据库不存在：{path}。请运行 qa build --force 重建索引。")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=not threads)
    conn.row_factory = sqlite3.Row
    return conn


@contextmanager
def session(db) -> Iterator:
    """One consistent read of the records `db` names: a commitments file's path (opened read-only
    and closed after), an open sqlite3 connection, or a store (PostgreSQL: one snapshot)."""
    if isinstance(db, (str, Path)):
        conn = open_sqlite(Path(db))
        try:
            yield SQLiteRecords(conn)
        finally:
            conn.close()
    elif isinstance(db, sqlite3.Connection):
        yield SQLiteRecords(db)
    elif hasattr(db, "session"):
        with db.session() as records:
            yield records
    else:  # a read under way (SQLiteRecords, or one PostgreSQL snapshot)
        yield db


def records_source(config, index_dir: Path | None = None):
    """What a configuration reads commitments from: its PostgreSQL store (QA_DATABASE_URL), else
    the commitments file of the index folder."""
    if config.database_url:
        from qa.commitments.postgres import PostgresRecords

        return PostgresRecords(config.database_url)
    return Path(index_dir or config.index_dir) / DB_NAME
