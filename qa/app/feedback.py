"""Residents' 👍/👎 on answers, kept in SQLite so staff can turn them into evaluation cases.

WAL mode lets the web app's worker threads write while staff export; numbered migrations let
the schema grow without losing what residents already said. One short-lived connection per
call keeps threads from sharing a connection.
"""
from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from dataclasses import asdict, is_dataclass
from pathlib import Path

from qa.errors import QAError

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
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                migrate(conn)
        except sqlite3.Error as exc:
            raise QAError(f"反馈数据库无法打开：{self.path}（{exc}）") from exc

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10)
        conn.row_factory = sqlite3.Row
        return conn

    def add(self, question: str, answer: str, citations: list, rating: str, comment: str = "",
            asked: str = "", abstained: bool = False) -> int:
        """Store one rating; returns the row id."""
        if rating not in RATINGS:
            raise QAError("评价只能是 👍 或 👎。")
        comment = (comment or "").strip()[:MAX_COMMENT_CHARS]
        cited = json.dumps([asdict(c) if is_dataclass(c) else dict(c) for c in citations or []],
                           ensure_ascii=False)
        # SQLite stores UTF-8: a lone surrogate (possible in JSON sent to the web API) becomes "?".
        question, answer, comment, asked, cited = (
            str(v or "").encode("utf-8", "replace").decode("utf-8") for v in (question, answer, comment, asked, cited))
        with closing(self._connect()) as conn, conn:
            cursor = conn.execute(
                "INSERT INTO feedback (created_at, question, answer, citations, rating, comment,"
                " asked, abstained) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (time.strftime("%Y-%m-%dT%H:%M:%S"), question, answer, cited, RATINGS[rating],
                 comment, asked or question, int(bool(abstained))))
            return int(cursor.lastrowid)

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

    def write_eval_jsonl(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as out:
            for case in self.export_eval_cases():
                out.write(json.dumps(case, ensure_ascii=False) + "\n")
        return path


def eval_case(row: dict) -> dict:
    citations = row.get("citations") or []
    first = citations[0] if citations else {}
    # Exactly the gold keys; the rating rides in the id so 👎 cases stand out when triaged.
    rating = "up" if row["rating"] > 0 else "down"
    return {"id": f"feedback-{row['id']}-{rating}", "question": row["question"],
            "answer": row["answer"], "must_include": [], "evidence": first.get("sentence") or ""}


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
