"""Residents' 👍/👎 on answers, kept in SQLite so staff can turn them into evaluation cases.

WAL mode lets the web app's worker threads write while staff export; numbered migrations let
the schema grow without losing what residents already said. One short-lived connection per
call keeps threads from sharing a connection. A database file that is not SQLite or is damaged
is moved aside (kept for staff, with a warning) and a new one started, so the chat still runs;
a full disk is a Chinese message, not a crash. The export holds every rating with its comment;
a file it is written to is readable by its owner only. With QA_DATABASE_URL=postgresql://… the
same migrations run on PostgreSQL (qa.app.postgres), where several web replicas share one table.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
import time
from contextlib import closing
from dataclasses import asdict, is_dataclass
from pathlib import Path

from qa.errors import DISK_FULL, QAError, is_disk_full

log = logging.getLogger("qa.feedback")

RATINGS = {"up": 1, "down": -1}

# Append only: each entry runs once, in order, and the version is stored in PRAGMA user_version.
MIGRATIONS: list[str] = [
    # 1: one row per rated answer
    """CREATE TABLE feedback (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at TEXT NOT NULL,
        question TEXT NOT NULL,
        answer TEXT NOT NULL,
        citations TEXT NOT NULL DEFAULT '[]',
        rating INTEGER NOT NULL CHECK (rating IN (-1, 1)),
        comment TEXT NOT NULL DEFAULT ''
    )""",
    # 2: what the resident typed, when a follow-up was rewritten into `question`
    "ALTER TABLE feedback ADD COLUMN asked TEXT NOT NULL DEFAULT ''",
    # 3: abstentions are the likeliest eval cases; keep them findable
    "ALTER TABLE feedback ADD COLUMN abstained INTEGER NOT NULL DEFAULT 0",
]

MAX_COMMENT_CHARS = 2000


class FeedbackStore:
    """A feedback database file; created and migrated on first use."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.moved_aside: Path | None = None  # where a damaged database went
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._open()
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError):
                    raise
                self.moved_aside = self._move_aside(exc)
                self._open()
        except (sqlite3.Error, OSError) as exc:
            raise QAError(f"反馈数据库无法打开：{self.path}（{exc}）") from exc

    def _open(self) -> None:
        with closing(self._connect()) as conn:
            if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("quick_check failed")
            conn.execute("PRAGMA journal_mode=WAL")
            migrate(conn)

    def _move_aside(self, exc: Exception) -> Path:
        """Keep a damaged database (and its journal files) beside the new one, and say so."""
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            part = Path(str(self.path) + suffix)
            if part.exists():
                os.replace(part, Path(str(aside) + suffix))
        message = f"警告：反馈数据库已损坏（{exc}），已移至 {aside}，并新建了一个空的反馈库。"
        log.warning(message)
        print(message, file=sys.stderr)
        return aside

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10)
        conn.row_factory = sqlite3.Row
        return conn

    def add(self, question: str, answer: str, citations: list, rating: str, comment: str = "",
            asked: str = "", abstained: bool = False) -> int:
        """Store one rating; returns the row id."""
        values = clean_feedback(question, answer, citations, rating, comment, asked)
        try:
            with closing(self._connect()) as conn, conn:
                cursor = conn.execute(
                    "INSERT INTO feedback (created_at, question, answer, citations, rating, comment,"
                    " asked, abstained) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (time.strftime("%Y-%m-%dT%H:%M:%S"), *values, int(bool(abstained))))
                return int(cursor.lastrowid)
        except (sqlite3.Error, OSError) as exc:
            if is_disk_full(exc):
                raise QAError(f"{DISK_FULL}，评价未能保存，请稍后再试。") from exc
            raise QAError(f"评价未能保存（{type(exc).__name__}），请稍后再试。") from exc

    def count(self) -> int:
        with closing(self._connect()) as conn:
            return conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]

    def rows(self) -> list[dict]:
        with closing(self._connect()) as conn:
            result = conn.execute("SELECT * FROM feedback ORDER BY id").fetchall()
        rows = [dict(r) for r in result]
        for row in rows:
            row["citations"] = json.loads(row["citations"] or "[]")
        return rows

    def export_eval_cases(self) -> list[dict]:
        """Feedback as gold-format cases; `must_include` is left empty for staff to fill."""
        return [eval_case(row) for row in self.rows()]

    def eval_jsonl(self) -> str:
        """The export as text: one case per line."""
        return "".join(json.dumps(case, ensure_ascii=False) + "\n" for case in self.export_eval_cases())

    def write_eval_jsonl(self, path: Path) -> Path:
        """The export as a file created readable and writable by its owner only (0600)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # an existing file keeps its mode on open
        with open(fd, "w", encoding="utf-8") as out:
            out.write(self.eval_jsonl())
        return path


def clean_feedback(question: str, answer: str, citations: list, rating: str, comment: str,
                   asked: str) -> tuple:
    """(question, answer, citations JSON, rating, comment, asked) as stored; a Chinese error for
    a rating that is not 👍 or 👎."""
    if rating not in RATINGS:
        raise QAError("评价只能是 👍 或 👎。")
    comment = (comment or "").strip()[:MAX_COMMENT_CHARS]
    cited = json.dumps([asdict(c) if is_dataclass(c) else dict(c) for c in citations or []],
                       ensure_ascii=False)
    # stored as UTF-8: a lone surrogate (possible in JSON sent to the web API) becomes "?"
    question, answer, comment, asked, cited = (
        str(v or "").encode("utf-8", "replace").decode("utf-8") for v in (question, answer, comment, asked, cited))
    return question, answer, cited, RATINGS[rating], comment, asked or question


def open_feedback(config):
    """The feedback store a configuration names: PostgreSQL for QA_DATABASE_URL, else SQLite."""
    if config.database_url:
        from qa.app.postgres import PostgresFeedbackStore

        return PostgresFeedbackStore(config.database_url)
    return FeedbackStore(config.feedback_db)


def eval_case(row: dict) -> dict:
    citations = row.get("citations") or []
    first = citations[0] if citations else {}
    # The gold keys, plus what staff triage by (the gold loader ignores the extra keys): the
    # resident's comment, what they typed when a follow-up was rewritten, the rating (also in the
    # id, so 👎 cases stand out) and whether the answer abstained.
    rating = "up" if row["rating"] > 0 else "down"
    return {"id": f"feedback-{row['id']}-{rating}", "question": row["question"],
            "answer": row["answer"], "must_include": [], "evidence": first.get("sentence") or "",
            "comment": row.get("comment") or "", "asked": row.get("asked") or "", "rating": rating,
            "abstained": bool(row.get("abstained"))}


def migrate(conn: sqlite3.Connection) -> int:
    """Run the migrations this database has not seen yet; returns the new version.

    Processes opening a new database at once would each see version 0 and run the same
    CREATE/ALTER; the write lock (BEGIN IMMEDIATE) is taken before the version is read, so
    every migration runs exactly once and the others find the schema done.
    """
    level, conn.isolation_level = conn.isolation_level, None  # explicit transaction below
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise QAError(f"反馈数据库版本（{version}）比程序新，请升级程序。")
            for number, statement in enumerate(MIGRATIONS[version:], start=version + 1):
                conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.isolation_level = level
    return len(MIGRATIONS)
