"""Issue 16: what an anonymous visitor or a careless operator can do to the public app.

Bounds on every text parameter, capped echoes, per-visitor rate limits, throttled and expiring
admin sessions, safe CSV cells, the feedback store's failure modes, bounded export files, and
the guard in front of Gradio (busy queue, dead queue, oversized bodies, cross-origin posts,
anonymous uploads). The flood and memory runs are bounded scripts in bench/ (see README).
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
import sqlite3
import stat
import time
from dataclasses import replace
from types import SimpleNamespace

import orjson
import pytest

from qa.app import admin as admin_mod
from qa.app import admin_tab, chat, commitments_tab, web
from qa.app.admin import AdminSessions
from qa.app.feedback import FeedbackStore
from qa.app.limits import (BUSY_MESSAGE, STOPPED_MESSAGE, Guard, GuardPolicy, RateLimiter, echo,
                           text_param)
from qa.csvsafe import FORMULA_STARTS, csv_text, safe_cell
from qa.errors import InputError, QAError

TARGET = "西青区2024年地区生产总值增长目标是多少？"


@pytest.fixture
def runtime(corpus_config, assistant, tmp_path):
    config = replace(corpus_config, feedback_db=tmp_path / "feedback.sqlite", admin_user="staff",
                     admin_password="s3cret")
    return web.Runtime(config, assistant=assistant)


def visitor_request(host: str = "203.0.113.7"):
    return SimpleNamespace(client=SimpleNamespace(host=host), headers={})


# ---------------------------------------------------------------- bounds and echoes

def test_text_param_types_and_lengths():
    assert text_param(None, "place", 10) == "" and text_param(7, "place", 10) == "7"
    for bad in (["静海镇"], {"a": 1}, True, b"bytes"):
        with pytest.raises(InputError, match="地域.*应为文字"):
            text_param(bad, "place", 10)
    with pytest.raises(InputError, match="关键词过长（11 字），请控制在 10 字以内"):
        text_param("字" * 11, "keyword", 10)


def test_echo_is_capped_and_encodable():
    assert len(echo("问" * 20_000_000)) <= 201
    orjson.dumps(echo("张家窝镇\ud800"))  # a lone surrogate no longer breaks the JSON reply
    assert echo(["a"]) == "['a']" and echo(None) == ""


@pytest.mark.parametrize("question, previous, expected", [
    ("张家窝镇要建新小学吗？\ud800", "", "代理字符"),
    ("问" * 20_000_000, "", "问题过长"),
    ({"q": 1}, "", "应为文字"),
    (["张家窝镇"], "", "应为文字"),
    (TARGET, ["x"], "上一个问题"),
    (TARGET, "问" * 5000, "上一个问题过长"),
])
def test_ask_api_bad_input_gets_a_handled_capped_reply(runtime, question, previous, expected):
    started = time.perf_counter()
    data = web.ask_json(runtime, question, previous)
    assert time.perf_counter() - started < 1.0
    assert expected in data["error"] and data["answer"] == "" and data["abstained"]
    assert len(data["question"]) <= 201
    orjson.dumps(data)  # what Gradio's JSON encoder does with the reply


def test_ask_api_number_as_previous_question_is_text(runtime):
    data = web.ask_json(runtime, TARGET, 7)
    assert "error" not in data and data["answer"]


def test_chat_refuses_a_huge_message_without_echoing_it(runtime):
    _, history, session, status = chat.respond("问" * 5_000_000, [], None, runtime)
    assert "问题过长" in status and len(history[0]["content"]) <= 201 + len(chat.user_bubble(""))
    assert session.get("answer") is None


def test_commitments_refuse_a_5mb_keyword_at_once(runtime):
    started = time.perf_counter()
    with pytest.raises(QAError, match="关键词过长"):
        commitments_tab.search_commitments("", "", "", "小学" * 2_500_000, runtime)
    rows, records, download, status, _ = commitments_tab.commitments_query(
        "", "", "", "", "", None, None, "字" * 5_000_000, runtime)
    assert time.perf_counter() - started < 1.0
    assert "关键词过长" in status and rows == [] and download is None
    with pytest.raises(QAError, match="地域.*应为文字"):
        commitments_tab.search_commitments("", ["静海镇"], "", "", runtime)


def test_comment_is_bounded(runtime):
    _, history, session, _ = chat.respond(TARGET, [], None, runtime)
    _, session, _, message = chat.rate(1, True, "评" * 3000, history, session, runtime)
    assert "评价意见过长" in message and not session["turns"]["1"]["feedback_id"]


# ---------------------------------------------------------------- rate limits

def test_rate_limiter_buckets_and_bound():
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=3, max_keys=100, clock=lambda: now[0])
    assert [limiter.wait("a") for _ in range(3)] == [0, 0, 0]
    assert limiter.wait("a") == pytest.approx(1.0)
    assert limiter.wait("b") == 0  # another visitor is not affected
    now[0] += 1.0
    assert limiter.wait("a") == 0
    for i in range(1000):
        limiter.wait(f"v{i}")
    assert len(limiter) == 100


def test_a_visitor_asking_too_often_is_told_to_wait(runtime):
    runtime.questions = RateLimiter(per_minute=1, burst=2)
    me, other = visitor_request("198.51.100.1"), visitor_request("198.51.100.2")
    assert "error" not in web.ask_json(runtime, TARGET, "", me)
    assert "error" not in web.ask_json(runtime, TARGET, "", me)
    assert "提问过于频繁" in web.ask_json(runtime, TARGET, "", me)["error"]
    assert "提问过于频繁" in chat.respond(TARGET, [], None, runtime, me)[3]
    assert "error" not in web.ask_json(runtime, TARGET, "", other)


# ---------------------------------------------------------------- admin sessions

def test_100_wrong_logins_are_throttled_and_logged(caplog):
    now = [1000.0]
    sessions = AdminSessions("staff", "s3cret", session_minutes=30, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="qa.admin")
    messages = [sessions.login("staff", f"guess{i}", "192.0.2.9")[1] for i in range(100)]
    throttled = sum("次数过多" in m for m in messages)
    assert throttled >= 90 and all(m in (admin_mod.WRONG,) or "次数过多" in m for m in messages)
    # the right password from the same client or for the same account waits too
    assert sessions.login("staff", "s3cret", "192.0.2.9")[0] is None
    assert sessions.login("staff", "s3cret", "192.0.2.10")[0] is None
    assert len([r for r in caplog.records if "admin login" in r.getMessage()]) >= 102
    assert not any("guess" in r.getMessage() for r in caplog.records)  # passwords are never logged
    now[0] += admin_mod.MAX_LOCK_S + 1
    token, message = sessions.login("staff", "s3cret", "192.0.2.10")
    assert token and "已登录" in message


def test_other_accounts_and_clients_are_not_locked_by_one_attacker():
    sessions = AdminSessions("staff", "s3cret")
    for i in range(20):
        sessions.login("intruder", "x", "192.0.2.66")
    assert sessions.login("staff", "s3cret", "192.0.2.1")[0]


def test_sessions_expire_and_log_out():
    now = [0.0]
    sessions = AdminSessions("staff", "s3cret", session_minutes=30, clock=lambda: now[0])
    token, _ = sessions.login("staff", "s3cret", "c")
    now[0] += 29 * 60
    assert sessions.valid(token)  # use extends it
    now[0] += 29 * 60
    assert sessions.valid(token)
    now[0] += 31 * 60
    assert not sessions.valid(token)
    token, _ = sessions.login("staff", "s3cret", "c")
    sessions.logout(token)
    assert not sessions.valid(token) and not sessions.valid(None) and not sessions.valid(["x"])


def test_wrong_types_at_login_are_refused_not_crashing():
    sessions = AdminSessions("staff", "s3cret")
    assert sessions.login(["staff"], {"p": 1}, "c")[0] is None
    assert sessions.login("staff\ud800", "s3cret", "c")[0] is None


# ---------------------------------------------------------------- CSV cells

def test_safe_cell_follows_owasp():
    for start in FORMULA_STARTS:
        assert safe_cell(start + "HYPERLINK(\"http://x\")").startswith("'")
    assert safe_cell("静海镇") == "静海镇" and safe_cell(None) == "" and safe_cell(5) == "5"


def _first_chars(text: str) -> set[str]:
    return {cell[:1] for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))) for cell in row if cell}


def test_web_and_cli_exports_have_no_formula_cells(runtime, monkeypatch):
    evil = {"kind": "project", "status": "planned", "name": "=HYPERLINK(\"http://evil\",\"点我\")",
            "value": "-1+1", "unit": "", "scale": "@SUM(A1)", "lead": "\t=1", "doc": "\r=2",
            "summary": "+cmd", "sentence": "=HYPERLINK(\"http://evil\")", "place": "-静海镇"}
    path = commitments_tab.commitments_csv([evil], commitments_tab.Filters(), runtime.exports)
    assert not _first_chars(open(path, encoding="utf-8-sig").read()) & set(FORMULA_STARTS)
    from qa.commitments.search import format_commitments

    item = SimpleNamespace(to_json=lambda: evil)
    assert not _first_chars(format_commitments([item], "csv")) & set(FORMULA_STARTS)
    assert not _first_chars(csv_text(["=a"], [["+b", "-c", "@d", "\te", "\rf"]])) & set(FORMULA_STARTS)


def test_every_record_of_the_corpus_exports_safely(runtime):
    records = commitments_tab.search_commitments("", "", "", "", runtime)
    path = commitments_tab.commitments_csv(records, commitments_tab.Filters(), runtime.exports)
    text = open(path, encoding="utf-8-sig").read()
    assert len(list(csv.reader(io.StringIO(text)))) == len(records) + 1
    assert not _first_chars(text) & set(FORMULA_STARTS)


def test_export_files_are_reused_by_filter_and_bounded(runtime):
    folder = runtime.exports
    first = commitments_tab.commitments_query("target", "", "", "", "", None, None, "", runtime)[2]
    again = commitments_tab.commitments_query("target", "", "", "", "", None, None, "", runtime)[2]
    assert first == again
    for i in range(folder.max_files + 20):
        commitments_tab.commitments_query("", "", "", "", "", None, None, f"小学{i}", runtime)
    assert len(folder.files()) <= folder.max_files
    assert stat.S_IMODE(os.stat(folder.path).st_mode) == 0o700


# ---------------------------------------------------------------- feedback store

def test_corrupt_feedback_database_is_moved_aside(tmp_path, capsys):
    path = tmp_path / "feedback.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    store = FeedbackStore(path)
    assert store.moved_aside and store.moved_aside.exists() and "已损坏" in capsys.readouterr().err
    assert store.moved_aside.read_bytes().startswith(b"this is not")
    store.add("问", "答", [], "up")
    assert store.count() == 1


def test_a_damaged_page_is_moved_aside_too(tmp_path):
    path = tmp_path / "feedback.sqlite"
    store = FeedbackStore(path)
    for i in range(200):
        store.add(f"问题{i}" * 20, "答" * 200, [], "up")
    data = bytearray(path.read_bytes())
    data[4096 + 100: 4096 + 3000] = b"\xff" * 2900  # a table page overwritten
    path.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"feedback.sqlite{suffix}").unlink(missing_ok=True)
    assert FeedbackStore(path).moved_aside is not None


def test_full_disk_is_a_chinese_message(runtime, monkeypatch):
    _, history, session, _ = chat.respond(TARGET, [], None, runtime)

    def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(runtime.feedback, "_connect", full)
    _, session, _, message = chat.rate(1, False, "", history, session, runtime)
    assert "磁盘空间不足" in message and not session["turns"]["1"]["feedback_id"]


def test_feedback_file_export_is_owner_only_and_has_comments(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite")
    store.add("问", "答", [], "down", comment="=HYPERLINK(1) 没答到点子上")
    path = tmp_path / "export.jsonl"
    path.write_text("old")
    os.chmod(path, 0o644)
    store.write_eval_jsonl(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    case = json.loads(path.read_text(encoding="utf-8"))
    assert case["comment"] == "=HYPERLINK(1) 没答到点子上" and case["rating"] == "down"


# ---------------------------------------------------------------- the guard in front of Gradio

def _guarded(**policy):
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    async def ok(request):
        await request.body()
        return PlainTextResponse("ok")
    app = Starlette(routes=[Route("/gradio_api/queue/join", ok, methods=["POST"]),
                            Route("/gradio_api/upload", ok, methods=["POST"])])
    values = dict(busy_at=10, queue_length=lambda: 0, queue_stopped=lambda: False,
                  is_admin=lambda cookies: cookies.get("qa_admin") == "good") | policy
    return TestClient(Guard(app, lambda: GuardPolicy(**values)))


def test_guard_busy_stopped_and_body_cap():
    assert _guarded().post("/gradio_api/queue/join", json={}).text == "ok"
    busy = _guarded(queue_length=lambda: 10).post("/gradio_api/queue/join", json={})
    assert busy.status_code == 503 and busy.json()["detail"] == BUSY_MESSAGE
    stopped = _guarded(queue_stopped=lambda: True).post("/gradio_api/queue/join", json={})
    assert stopped.status_code == 503 and stopped.json()["detail"] == STOPPED_MESSAGE
    started = time.perf_counter()
    big = _guarded().post("/gradio_api/queue/join", content=b"x" * (5 << 20))
    assert big.status_code == 413 and time.perf_counter() - started < 1.0


def test_guard_refuses_anonymous_and_cross_origin_uploads():
    client = _guarded()
    files = {"files": ("a.txt", b"hello")}
    assert client.post("/gradio_api/upload", files=files).status_code == 403
    client.cookies.set("qa_admin", "good")
    assert client.post("/gradio_api/upload", files=files).text == "ok"
    evil = client.post("/gradio_api/upload", files=files, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403
    same = client.post("/gradio_api/upload", files=files, headers={"Origin": "http://testserver"})
    assert same.text == "ok"
    assert client.post("/gradio_api/queue/join", json={}, headers={"Origin": "null"}).status_code == 403


# ---------------------------------------------------------------- the live app

@pytest.fixture
def live(corpus_config, assistant, tmp_path):
    """A fresh app on a free loopback port (a test may stop its queue): (url, demo, runtime)."""
    from conftest import free_port

    config = replace(corpus_config, host="127.0.0.1", port=free_port(), feedback_db=tmp_path / "fb.sqlite",
                     admin_user="staff", admin_password="s3cret")
    runtime = web.Runtime(config, assistant=assistant)
    demo = web.build_app(runtime)
    web.launch(demo, config, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{config.port}", demo, runtime
    finally:
        demo.close()


def test_live_health_guard_and_admin_only_routes(live):
    import httpx

    url, demo, runtime = live
    health = httpx.get(url + "/healthz")
    assert health.status_code == 200 and health.json()["queue_running"]
    big = httpx.post(url + "/gradio_api/queue/join", content=b"{" + b" " * (5 << 20) + b"}",
                     headers={"content-type": "application/json"})
    assert big.status_code == 413 and "过长" in big.json()["detail"]
    files = {"files": ("a.txt", "张家窝镇".encode())}
    assert httpx.post(url + "/gradio_api/upload", files=files).status_code == 403
    export = url + "/qa-admin/feedback_eval_cases.jsonl"
    assert httpx.get(export).status_code == 403
    token, _ = admin_tab.admin_login("staff", "s3cret", runtime)
    cookies = {"qa_admin": token}
    assert httpx.post(url + "/gradio_api/upload", files=files, cookies=cookies).status_code == 200
    runtime.feedback.add("问", "答", [], "down", comment="评论")
    got = httpx.get(export, cookies=cookies)
    assert got.status_code == 200 and json.loads(got.text)["comment"] == "评论"
    runtime.admin.logout(token)
    assert httpx.get(export, cookies=cookies).status_code == 403


def test_live_dead_queue_fails_health_and_refuses_in_chinese(live):
    import httpx

    url, demo, _ = live
    demo._queue.stopped = True  # what Gradio sets when its queue task ends on an error
    health = httpx.get(url + "/healthz")
    assert health.status_code == 503 and not health.json()["queue_running"]
    join = httpx.post(url + "/gradio_api/queue/join", json={"data": [], "fn_index": 0, "session_hash": "x"})
    assert join.status_code == 503 and join.json()["detail"] == STOPPED_MESSAGE


# ---------------------------------------------------------------- full disk during qa build

def test_full_disk_during_build_keeps_the_old_index(config, monkeypatch, capsys):
    import errno

    import qa.index.store
    from qa.app import cli
    from qa.app.api import Assistant

    before = (config.index_dir / "manifest.json").read_text(encoding="utf-8")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(qa.index.store, "write_vectors", full)
    code = cli.main(["--corpus", str(config.corpus_dir), "--index", str(config.index_dir), "build", "--force",
                     "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "磁盘空间不足" in err and "原有索引" in err and "Traceback" not in err
    assert (config.index_dir / "manifest.json").read_text(encoding="utf-8") == before
    assert not [p for p in config.index_dir.parent.iterdir() if ".tmp-" in p.name]
    assert not Assistant(config, progress=False).ask(TARGET).abstained


# ---------------------------------------------------------------- per-session memory

def test_a_commitments_session_keeps_its_filters_not_the_records(runtime):
    demo = web.build_app(runtime)
    states = [b for b in demo.blocks.values() if type(b).__name__ == "State"]
    assert all(len(json.dumps(b.value, default=lambda o: vars(o), ensure_ascii=False)) < 2000 for b in states)
    query = next(fn for fn in demo.fns.values() if len(fn.inputs) == 8
                 and any(type(o).__name__ == "State" for o in fn.outputs))
    returned = query.fn("", "", "", "", "", None, None, " 小学 ")
    kept = [v for v, o in zip(returned, query.outputs) if type(o).__name__ == "State"]
    assert kept == [commitments_tab.Filters(keyword="小学")] and len(returned[0]) > 0
    first = commitments_tab.records_for(commitments_tab.Filters(kind="target"), runtime)
    assert commitments_tab.records_for(commitments_tab.Filters(kind="target"), runtime) is first  # remembered
    for i in range(40):
        commitments_tab.records_for(commitments_tab.Filters(keyword=f"小学{i}"), runtime)
    assert len(runtime.commitment_results) <= web.COMMITMENT_RESULTS_CACHED


# ---------------------------------------------------------------- several instances on one index

def test_a_second_instance_follows_a_rebuild_made_by_the_first(config, tmp_path):
    from qa.app.api import Assistant

    first = web.Runtime(replace(config, feedback_db=tmp_path / "a.sqlite"), progress=False)
    second = web.Runtime(replace(config, feedback_db=tmp_path / "b.sqlite", follow_index_s=0.01),
                         assistant=Assistant(config, progress=False))
    question = "星光图书馆总投资多少？"
    assert "3000万元" not in second.assistant.ask(question).answer
    (config.corpus_dir / "测试镇2025.txt").write_text(
        "测试镇2025年工作安排\n一、重点任务\n测试镇2025年将新建星光图书馆一座，总投资3000万元。\n", encoding="utf-8")
    first.reindex()
    time.sleep(0.05)
    served = second.assistant  # notices the new build, loads it in the background
    second.holder.wait_for_follow()
    assert second.holder.reloads == 1 and second.assistant is not served
    assert "3000万元" in second.assistant.ask(question).answer
    rows = commitments_tab.search_commitments("", "", "测试镇2025.txt", "", second)
    assert rows and all(r["doc"] == "测试镇2025.txt" for r in rows)  # the staff's table follows too
    time.sleep(0.05)
    second.assistant
    second.holder.wait_for_follow()
    assert second.holder.reloads == 1  # nothing new on disk: no second reload


def test_sweep_removes_handed_out_files_even_while_sets_grow(tmp_path):
    from qa.app.server import sweep_files

    files = set()
    for i in range(50):
        (tmp_path / f"{i}.csv").write_text("x")
        files.add(str(tmp_path / f"{i}.csv"))
    demo = SimpleNamespace(blocks={}, temp_file_sets=[files, {str(tmp_path / "gone.csv")}])
    assert sweep_files(demo, age=3600) == 0 and len(files) == 50
    assert sweep_files(demo, age=-1) == 50 and not files and not list(tmp_path.iterdir())
    assert demo.temp_file_sets[1] == set()  # a file already gone is forgotten


def test_origin_behind_a_reverse_proxy():
    from qa.app.limits import same_origin

    assert same_origin({"host": "127.0.0.1:7860"})
    assert same_origin({"origin": "https://qa.example.gov.cn", "host": "127.0.0.1:7860",
                        "x-forwarded-host": "qa.example.gov.cn"})
    assert not same_origin({"origin": "https://evil.example", "host": "127.0.0.1:7860",
                            "x-forwarded-host": "qa.example.gov.cn"})
