"""Commitment records in a real PostgreSQL server (started here: initdb into a temp folder, a unix
socket, stopped at the end): the SQLite store's migrations, and the same records, scores and
order from both stores for `qa commitments` filters, --query and the answerer's look-ups."""
from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import replace

import pytest

from bench.services import postgres, postgres_unavailable
from qa.commitments.database import DB_NAME, MIGRATIONS
from qa.commitments.search import TermCounts, match_for_question, search_commitments

REASON = postgres_unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"PostgreSQL unavailable: {REASON}")
QUESTIONS = "eval/questions.jsonl"


@pytest.fixture(scope="module")
def server():
    with postgres() as url:
        yield url


def new_database(server: str, name: str) -> str:
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.replace("@/postgres?", f"@/{name}?")


@pytest.fixture(scope="module")
def stores(server, assistant):
    """(SQLite file, PostgreSQL store) holding the session index's records."""
    from qa.commitments.postgres import PostgresRecords, publish

    path = assistant.config.index_dir / DB_NAME
    url = new_database(server, "records")
    published = publish(url, path, assistant.index.manifest["artifacts"][DB_NAME])
    assert published["records"] > 500
    return path, PostgresRecords(url)


@pytest.fixture(scope="module")
def tokenizer(assistant):
    return assistant.index.tokenizer


def same(sqlite_items, pg_items) -> None:
    assert [(c.id, c.score) for c in pg_items] == [(c.id, c.score) for c in sqlite_items]
    assert [c.to_json() for c in pg_items] == [c.to_json() for c in sqlite_items]


def test_the_sqlite_migrations_run_on_postgres(stores):
    from qa.commitments.postgres import FORMS, connect, migrate_postgres

    _, store = stores
    assert set(FORMS) < {name for name, _ in MIGRATIONS}
    with connect(store.url) as conn:
        migrate_postgres(conn)  # a second run finds every step done
        applied = [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY name")]
        columns = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'commitments'")}
    assert applied == sorted(name for name, _ in MIGRATIONS)
    sqlite_columns = {r[1] for r in sqlite3.connect(stores[0]).execute("PRAGMA table_info(commitments)")}
    assert columns == sqlite_columns


def test_unicode61_tokens_are_reproduced(stores):
    """Every full-text token SQLite made of the records, and odd characters, alike."""
    from qa.commitments.fulltext import fts_tokens

    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61')")
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
    texts = [r[0] for r in sqlite3.connect(stores[0]).execute(
        "SELECT name || ' ' || body || ' ' || place FROM commitments_fts")]
    texts += ["GDP 3.5% Ⅱ期 ①号 Café naïve ÉCOLE ＡＢ１ a_b x-y 5G·网络 ß ǖ İstanbul \ue000私 𠀀字 ２０２５年"]
    for i, text in enumerate(texts, start=1):
        conn.execute("INSERT INTO t (rowid, x) VALUES (?, ?)", (i, text))
    found = {}
    for term, doc, offset in conn.execute("SELECT term, doc, offset FROM v ORDER BY doc, offset"):
        found.setdefault(doc, []).append(term)
    assert all(found.get(i, []) == fts_tokens(t) for i, t in enumerate(texts, start=1))


def test_filters_return_the_same_records(stores):
    path, store = stores
    filters = [{}, {"kind": "target"}, {"kind": "project", "status": "completed"},
               {"place": "静海镇"}, {"place": "张家窝"}, {"doc": "xiqing"}, {"doc": "规划"},
               {"kind": "target", "attribute": "约束性"}, {"years": (2024, 2025)}, {"years": (None, 2022)},
               {"kind": "responsibility", "place": "西青区"}]
    for want in filters:
        same(search_commitments(path, limit=None, **want), search_commitments(store, limit=None, **want))


def test_queries_return_the_same_records_in_the_same_order(stores, tokenizer):
    path, store = stores
    names = [r[0] for r in sqlite3.connect(path).execute("SELECT DISTINCT name FROM commitments ORDER BY id")]
    queries = names[::7] + ["绿色工厂", "第三小学", "居民人均可支配收入", "一般公共预算收入 2024", "GDP",
                            "3.5%", "招商引资", "建设 发展", "小学 医院 道路", "不存在的词语"]
    assert len(queries) > 100
    for query in queries:
        for kind in (None, "target"):
            same(search_commitments(path, kind=kind, query=query, tokenizer=tokenizer, limit=None, with_related=False),
                 search_commitments(store, kind=kind, query=query, tokenizer=tokenizer, limit=None, with_related=False))
    same(search_commitments(path, query="一般公共预算收入", tokenizer=tokenizer),
         search_commitments(store, query="一般公共预算收入", tokenizer=tokenizer))


def test_the_answerers_look_ups_are_the_same(stores, assistant):
    from qa.search.query import analyse

    path, store = stores
    sqlite_counts, pg_counts = TermCounts.read(path), TermCounts.read(store)
    assert (pg_counts.total, pg_counts.records) == (sqlite_counts.total, sqlite_counts.records)
    with open(QUESTIONS, encoding="utf-8") as handle:
        questions = [json.loads(line)["question"] for line in handle if line.strip()]
    matched = 0
    for question in questions:
        query = analyse(question, assistant.index)
        args = (query.terms, query.places, query.years)
        expected = match_for_question(path, assistant.index.tokenizer, *args, counts=sqlite_counts)
        same(expected, match_for_question(store, assistant.index.tokenizer, *args, counts=pg_counts))
        matched += bool(expected)
        node = expected[0].node_id if expected else None
        if node:
            from qa.commitments.search import records_at

            assert [c.to_json() for c in records_at(store, node)] == [c.to_json() for c in records_at(path, node)]
    assert matched > len(questions) // 3


def test_a_build_publishes_and_qa_commitments_reads_postgres(server, config):
    """With QA_DATABASE_URL the build publishes the records; `qa commitments` and the index read
    them from PostgreSQL; the stale check sees whether they are published."""
    from qa.app.api import Assistant, list_commitments
    from qa.commitments.postgres import PostgresRecords, stale_reason
    from qa.index.build import ensure_index, read_manifest

    expected = [c.to_json() for c in list_commitments(config, query="小学", kind="project")]
    url = new_database(server, "built")
    shared = replace(config, database_url=url)
    assert stale_reason(shared, read_manifest(config.index_dir)) == "承诺库尚未发布到所配置的 PostgreSQL"
    assert ensure_index(shared, progress=False).rebuilt
    assert stale_reason(shared, read_manifest(config.index_dir)) is None
    assert not ensure_index(shared, progress=False).rebuilt
    assert [c.to_json() for c in list_commitments(shared, query="小学", kind="project")] == expected
    index = Assistant(shared, progress=False).index
    assert isinstance(index.commitments, PostgresRecords)
    assert [c.to_json() for c in search_commitments(index.commitments_db, query="小学", kind="project",
                                                     limit=None, tokenizer=index.tokenizer)] == expected


def test_readers_see_the_old_records_or_the_new_never_a_mix(server, stores, tmp_path):
    """A publish replaces the records in one transaction while readers keep reading."""
    from qa.commitments.postgres import PostgresRecords, publish

    path, _ = stores
    smaller = tmp_path / DB_NAME
    with sqlite3.connect(path) as src, sqlite3.connect(smaller) as dst:
        src.backup(dst)
        dst.execute("DELETE FROM commitments WHERE kind = 'project'")
        dst.execute("DELETE FROM commitments_fts WHERE rowid NOT IN (SELECT id FROM commitments)")
    url = new_database(server, "swap")
    publish(url, path, "full")
    store = PostgresRecords(url)
    full = len(search_commitments(store, limit=None, with_related=False))
    fewer = len(search_commitments(smaller, limit=None, with_related=False))
    seen, errors, stop = set(), [], threading.Event()

    def read():
        while not stop.is_set():
            try:
                seen.add(len(search_commitments(store, limit=None, with_related=False)))
            except Exception as exc:  # noqa: BLE001 - any error fails the test
                errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        for source in (smaller, path, smaller):
            publish(url, source, source.name)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert errors == [] and seen == {full, fewer} and fewer < full


def read_only_role(server: str, url: str, name: str) -> str:
    """A login that may only read the database at `url`: the grant a web app's readers get."""
    import psycopg

    database = url.split("@/")[1].split("?")[0]
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP ROLE IF EXISTS "{name}"')
        conn.execute(f'CREATE ROLE "{name}" LOGIN')
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'GRANT CONNECT ON DATABASE "{database}" TO "{name}"')
        conn.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{name}"')
        conn.execute(f'REVOKE CREATE ON SCHEMA public FROM PUBLIC, "{name}"')
    user = url.split("//")[1].split("@")[0]
    return url.replace(f"//{user}@", f"//{name}@")


def test_a_read_only_role_reads_a_published_database(server, stores):
    from qa.commitments.postgres import PostgresRecords

    path, store = stores
    reader = PostgresRecords(read_only_role(server, store.url, "reader"))
    same(search_commitments(path, limit=None, kind="target"), search_commitments(reader, limit=None, kind="target"))


def test_a_read_only_role_is_told_to_publish_first(server):
    from qa.commitments.postgres import PostgresRecords
    from qa.errors import QAError

    url = new_database(server, "unpublished")
    reader = PostgresRecords(read_only_role(server, url, "early_reader"))
    with pytest.raises(QAError, match="尚未发布"):
        search_commitments(reader, limit=None)
