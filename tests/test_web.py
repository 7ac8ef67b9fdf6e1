"""Web callbacks called directly, plus the HTTP API through gradio_client against a live app."""
import json
import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from qa.app import admin_tab, bubbles, chat, commitments_tab, web
from qa.errors import QAError

from conftest import free_port

TARGET = "西青区2024年地区生产总值增长目标是多少？"


@pytest.fixture
def runtime(corpus_config, assistant, tmp_path):
    config = replace(corpus_config, feedback_db=tmp_path / "feedback.sqlite",
                     admin_user="staff", admin_password="s3cret")
    return web.Runtime(config, assistant=assistant)


def turn(runtime, message, history=None, session=None):
    _, history, session, status = chat.respond(message, history or [], session, runtime)
    return history, session, status


















def test_ask_json_matches_cli_shape(runtime):
    data = web.ask_json(runtime, TARGET)
    assert {"question", "answer", "abstained", "citations", "retrieved", "latency_ms"} <= set(data)
    follow = web.ask_json(runtime, "静海镇呢？", TARGET)
    assert follow["resolved_question"] == "静海镇2024年地区生产总值增长目标是多少？"
    assert "error" in web.ask_json(runtime, "   ")


def test_safe_filename():
    assert admin_tab.safe_filename("../../etc/passwd.txt") == "passwd.txt"
    assert admin_tab.safe_filename("..\\..\\规划 文件(1).MD") == "规划_文件_1.md"
    assert admin_tab.safe_filename(".hidden.txt") == "hidden.txt"
    assert admin_tab.safe_filename("....pdf") == "upload.pdf"
    for bad in ("run.exe", "catalog.json", "noext", "a.txt.sh"):
        with pytest.raises(QAError):
            admin_tab.safe_filename(bad)


def test_admin_login(runtime):
    assert admin_tab.admin_login("staff", "s3cret", runtime)[0]
    assert not admin_tab.admin_login("staff", "wrong", runtime)[0]
    closed = web.Runtime(replace(runtime.config, admin_password=""), assistant=runtime.assistant)
    token, message = admin_tab.admin_login("staff", "", closed)
    assert token is None and "未启用" in message


def test_upload_checks_and_reindexes(runtime, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(runtime.config.corpus_dir, corpus)
    config = replace(runtime.config, corpus_dir=corpus, index_dir=tmp_path / "index2", max_upload_mb=1)
    rt = web.Runtime(config, progress=False)
    doc = tmp_path / "upload" / "..新闻<稿>.txt"
    doc.parent.mkdir()
    text = "测试镇2025年工作安排\n一、重点任务\n测试镇2025年将新建<b>星光</b>图书馆一座，总投资3000万元。\n"
    doc.write_text(text, encoding="utf-8")
    assert "先以管理员" in admin_tab.upload_document(str(doc), None, rt)[0]
    assert "先以管理员" in admin_tab.upload_document(str(doc), "forged-token", rt)[0]
    admin, _ = admin_tab.admin_login("staff", "s3cret", rt)
    message, rows = admin_tab.upload_document(str(doc), admin, rt)
    assert message.startswith("已添加"), message
    assert (corpus / "新闻_稿.txt").exists() and any(r[0] == "新闻_稿.txt" for r in rows)
    answer = rt.assistant.ask("星光图书馆总投资多少？")
    assert "3000万元" in answer.answer
    shown = bubbles.sources_block(answer, rt.assistant.index.catalog, "m1")
    assert "<b>" not in shown and "&#60;b&#62;星光" in shown
    doc.write_text(text, encoding="utf-8")
    assert "同名" in admin_tab.upload_document(str(doc), admin, rt)[0]
    big = tmp_path / "upload" / "big.txt"
    big.write_bytes("字".encode() * 400_000)
    assert "过大" in admin_tab.upload_document(str(big), admin, rt)[0]
    assert "不支持" in admin_tab.upload_document(str(tmp_path / "upload" / "x.exe"), admin, rt)[0]
    rt.admin.logout(admin)
    assert "先以管理员" in admin_tab.upload_document(str(doc), admin, rt)[0]


def test_export_feedback(runtime):
    history, session, _ = turn(runtime, TARGET)
    chat.rate(1, True, "清楚", history, session, runtime)
    assert "先以管理员" in admin_tab.export_feedback(None, runtime)
    admin, _ = admin_tab.admin_login("staff", "s3cret", runtime)
    assert "feedback_eval_cases.jsonl" in admin_tab.export_feedback(admin, runtime)
    case = json.loads(runtime.feedback.eval_jsonl().splitlines()[-1])
    assert case["question"] == TARGET and case["must_include"] == [] and case["evidence"]
    assert case["comment"] == "清楚" and case["rating"] == "up"


def test_catalog_rows(runtime):
    rows = web.catalog_rows(runtime)
    assert len(rows) == 5 and all(r[1] for r in rows)


def test_http_api_with_gradio_client(runtime, monkeypatch):
    from gradio_client import Client

    monkeypatch.setattr(commitments_tab, "search_db", lambda db, kind, place, doc, query, limit, tokenizer, **_: [
        SimpleNamespace(to_json=lambda: {"kind": kind or "指标", "place": "静海镇"})])
    config = replace(runtime.config, port=free_port())
    demo = web.build_app(replace_runtime_config(runtime, config))
    web.launch(demo, config, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{config.port}/", verbose=False)
        data = client.predict(TARGET, "", api_name="/ask")
        assert data["abstained"] is False and data["citations"][0]["sentence"]
        follow = client.predict("静海镇呢？", TARGET, api_name="/ask")
        assert follow["resolved_question"].startswith("静海镇2024年")
        records = client.predict("目标", "", "", "", api_name="/commitments")
        assert records == [{"kind": "目标", "place": "静海镇"}]
    finally:
        demo.close()


def replace_runtime_config(runtime, config):
    runtime.config = config
    return runtime


def test_the_page_does_not_carry_the_commitments_table(runtime):
    """The records reach the browser when the staff open the tab, not with every resident's page."""
    demo = web.build_app(runtime)
    table = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "commitments")
    assert table.value["data"] in ([], [[]]) or not any(any(row) for row in table.value["data"])
    opened = [fn for fn in demo.fns.values() if any(t[1] == "select" for t in fn.targets)]
    assert opened, "opening the tab loads the table"


def _page_load(demo) -> list:
    """What every `demo.load` handler returns: what a browser gets when it opens the page."""
    return [block.fn() for block in demo.fns.values() if any(t[1] == "load" for t in block.targets)]


def test_a_page_opened_after_an_upload_shows_the_new_document(runtime, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(runtime.config.corpus_dir, corpus)
    config = replace(runtime.config, corpus_dir=corpus, index_dir=tmp_path / "index2")
    rt = web.Runtime(config, progress=False)
    demo = web.build_app(rt)
    count = len(commitments_tab.search_commitments("", "", "", "", rt))
    town = Path(__file__).parent / "data" / "new_town" / "xidi-2025-work-report.txt"
    assert admin_tab.upload_document(str(town), admin_tab.admin_login("staff", "s3cret", rt)[0], rt)[0].startswith("已添加")
    assert town.exists()  # a file outside Gradio's upload folder is never deleted
    info, chatbot, commitments, documents = _page_load(demo)  # the app was built before the upload
    assert "已收录 6 篇文件" in info
    assert "西堤头镇" in chatbot[0].placeholder and any("西堤头镇" in b.value for b in chatbot[1:] if b.visible)
    place, doc = commitments  # the table itself loads when the tab is opened
    assert ("西堤头镇", "西堤头镇") in place.choices
    rows, records, _, status, _ = commitments_tab.commitments_query("", "", "", "", "", None, None, "", rt)
    assert len(records) > count and f"共 {len(records)} 条" in status and len(rows) == len(records)
    assert any(r[0] == town.name and r[4] == "天津市 › 北辰区 › 西堤头镇" for r in documents)

