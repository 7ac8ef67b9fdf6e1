"""Feedback in a real PostgreSQL server (started here: initdb into a temp folder, a unix socket,
stopped at the end): the same migrations as SQLite, upgrades, and writers that lose nothing."""
from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from bench.services import postgres, postgres_unavailable

REASON = postgres_unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"PostgreSQL unavailable: {REASON}")


@pytest.fixture(scope="module")
def server():
    with postgres() as url:
        yield url


@pytest.fixture
def database(server, request):
    """A fresh database of the server for one test; its URL."""
    import psycopg

    name = "t_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.replace("@/postgres?", f"@/{name}?")


def test_feedback_migrations_run_on_postgres(database):
    import psycopg

    from qa.app.feedback import MIGRATIONS
    from qa.app.postgres import PostgresFeedbackStore

    store = PostgresFeedbackStore(database)
    PostgresFeedbackStore(database)  # a second open finds the schema done
    with psycopg.connect(database) as conn:
        version = conn.execute("SELECT version FROM schema_versions WHERE name = 'feedback'").fetchone()[0]
        columns = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'feedback'")}
    assert version == len(MIGRATIONS)
    assert {"question", "answer", "citations", "created_at", "rating", "comment", "asked", "abstained"} <= columns
    row = store.add("问题", "回答[1]", [{"n": 1, "doc": "a.txt", "sentence": "句。"}], "down", "评论\x00",
                    abstained=True)
    saved = store.rows()
    assert [r["id"] for r in saved] == [row]
    assert saved[0]["citations"][0]["sentence"] == "句。" and saved[0]["rating"] == -1
    assert saved[0]["asked"] == "问题" and saved[0]["abstained"] == 1 and saved[0]["comment"] == "评论"
    assert store.export_eval_cases()[0]["id"] == f"feedback-{row}-down"


def test_an_old_postgres_schema_is_upgraded_without_losing_rows(database):
    import psycopg

    from qa.app.feedback import MIGRATIONS
    from qa.app.postgres import PostgresFeedbackStore, run_migrations

    with psycopg.connect(database) as conn:
        run_migrations(conn, "feedback", MIGRATIONS[:1])
        conn.execute("INSERT INTO feedback (created_at, question, answer, rating) VALUES ('t', '问', '答', 1)")
    rows = PostgresFeedbackStore(database).rows()
    assert rows[0]["question"] == "问" and rows[0]["asked"] == "" and rows[0]["abstained"] == 0


def test_a_newer_postgres_schema_is_refused(database):
    import psycopg

    from qa.app.feedback import MIGRATIONS
    from qa.app.postgres import PostgresFeedbackStore, run_migrations
    from qa.errors import QAError

    with psycopg.connect(database) as conn:
        run_migrations(conn, "feedback", MIGRATIONS + ["SELECT 1"])
    with pytest.raises(QAError, match="比程序新"):
        PostgresFeedbackStore(database)


def test_two_replicas_opening_and_writing_at_once_lose_nothing(database, tmp_path):
    """Two stores (as two web replicas) migrate a new database at the same time, then write
    concurrently: every rating is one row of the same table."""
    from qa.app.feedback import open_feedback
    from qa.config import Config

    config = replace(Config(), database_url=database, feedback_db=tmp_path / "unused.sqlite")
    stores, errors = [None, None], []

    def replica(i: int):
        try:
            stores[i] = open_feedback(config)
            for n in range(25):
                stores[i].add(f"副本{i}问题{n}", "答", [], "up" if n % 2 else "down")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=replica, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = stores[0].rows()
    assert len(rows) == 50 and len({r["id"] for r in rows}) == 50
    assert {r["question"] for r in rows} == {f"副本{i}问题{n}" for i in range(2) for n in range(25)}
    assert not (tmp_path / "unused.sqlite").exists()  # the SQLite file is not touched
