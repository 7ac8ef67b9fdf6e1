"""Feedback store: migrations, WAL, concurrent writers, eval-case export."""
import json
import sqlite3
import threading

import pytest

from qa.answer.answering import Citation
from qa.errors import QAError
from qa.app.feedback import MIGRATIONS, FeedbackStore, migrate

CITE = Citation(n=1, doc="a.txt", title="标题", heading="第一章", text="全文。支持句。", sentence="支持句。")


def test_schema_is_migrated_and_wal(tmp_path):
    store = FeedbackStore(tmp_path / "sub" / "fb.sqlite")
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    columns = {r[1] for r in conn.execute("PRAGMA table_info(feedback)")}
    assert {"question", "answer", "citations", "created_at", "rating", "comment"} <= columns


def test_old_database_is_upgraded_without_losing_rows(tmp_path):
    path = tmp_path / "fb.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(MIGRATIONS[0])
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO feedback (created_at, question, answer, rating) VALUES ('t', '问', '答', 1)")
    conn.commit()
    conn.close()
    rows = FeedbackStore(path).rows()
    assert rows[0]["question"] == "问" and rows[0]["asked"] == "" and rows[0]["abstained"] == 0


def test_newer_database_is_refused(tmp_path):
    conn = sqlite3.connect(tmp_path / "fb.sqlite")
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(QAError):
        migrate(conn)


def test_add_and_export_gold_format(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite")
    store.add("西青区2024年GDP增长目标？", "增长5%以上[1]", [CITE], "up", " 很好 ")
    store.add("问题二", "未找到", [], "down", "", asked="那呢？", abstained=True)
    rows = store.rows()
    assert rows[0]["rating"] == 1 and rows[0]["comment"] == "很好"
    assert rows[0]["citations"][0]["sentence"] == "支持句。"
    assert rows[1]["asked"] == "那呢？" and rows[1]["abstained"] == 1
    path = store.write_eval_jsonl(tmp_path / "out" / "cases.jsonl")
    cases = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert {"id", "question", "answer", "must_include", "evidence"} <= set(cases[0])
    assert cases[0]["comment"] == "很好" and cases[1]["asked"] == "那呢？" and cases[1]["abstained"]
    assert cases[0]["evidence"] == "支持句。" and cases[0]["must_include"] == []
    assert cases[1]["id"].endswith("-down") and cases[1]["evidence"] == ""


def test_bad_rating_is_refused(tmp_path):
    with pytest.raises(QAError):
        FeedbackStore(tmp_path / "fb.sqlite").add("q", "a", [], "meh")


def test_concurrent_writers(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite")
    threads = [threading.Thread(target=lambda i=i: [store.add(f"q{i}-{j}", "a", [], "up") for j in range(10)])
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.rows()) == 80
