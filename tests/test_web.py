"""Web callbacks called directly, plus the HTTP API through gradio_client against a live app."""
import json
import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from qa.app import admin_tab, commitments_tab, web
from qa.answer.answering import Answer, Citation
from qa.errors import QAError

from conftest import free_port

TARGET = "西青区2024年地区生产总值增长目标是多少？"


@pytest.fixture
def runtime(corpus_config, assistant, tmp_path):
    config = replace(corpus_config, feedback_db=tmp_path / "feedback.sqlite",
                     admin_user="staff", admin_password="s3cret")
    return web.Runtime(config, assistant=assistant)


def turn(runtime, message, history=None, session=None):
    _, history, sources, session, status = web.respond(message, history or [], session, runtime)
    return history, sources, session, status


def test_answer_has_markers_and_highlighted_sources(runtime):
    history, sources, session, status = turn(runtime, TARGET)
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert "<strong>\\[1\\]</strong>" in history[1]["content"] and status == ""
    assert '<div class="qa-source"' in sources and "<mark>" in sources and " › " in sources
    assert session["answer"].citations and session["question"] == TARGET


def test_follow_up_uses_previous_subject(runtime):
    history, _, session, _ = turn(runtime, "静海镇2025年招商引资实际到位要多少？")
    history, _, session, _ = turn(runtime, "那2024年呢？", history, session)
    assert session["question"] == "静海镇2024年招商引资实际到位要多少？"
    assert "结合上文" in history[-1]["content"] and len(history) == 4


def test_abstention_is_labelled_with_related_passages(runtime, monkeypatch):
    related = Citation(n=1, doc="a.txt", title="某规划", heading="第一章", text="相关的段落。")
    abstain = Answer(question="q", answer="现有文件中没有找到能回答这个问题的内容。", abstained=True,
                     citations=[related])  # the pipeline's choice to abstain is tested elsewhere
    monkeypatch.setattr(runtime.holder, "_current", SimpleNamespace(ask=lambda q: abstain,
                                                                    index=runtime.assistant.index))
    history, sources, session, _ = turn(runtime, "火星基地什么时候建成？")
    assert session["answer"].abstained
    assert web.ABSTAIN_LABEL in history[-1]["content"] and web.ABSTAIN_LABEL in sources
    assert "相关段落" in sources and "<mark>" not in sources


def test_html_in_question_is_shown_as_text(runtime):
    history, sources, _, _ = turn(runtime, "<script>alert(1)</script><b>" + TARGET)
    assert "<script>" not in history[0]["content"] and "&lt;script&gt;" in history[0]["content"]
    assert "<script" not in sources and "<b>" not in history[0]["content"]


def test_html_in_documents_is_escaped():
    evil = Citation(n=1, doc="x", title="<img src=x onerror=alert(1)>", heading="<h1>章</h1>",
                    text="前文<script>alert(2)</script>。关键句。", sentence="关键句。")
    answer = Answer(question="q", answer="<script>x</script>关键句。[1]", abstained=False, citations=[evil])
    html = web.render_sources(answer)
    assert "<img" not in html and "<script>" not in html and "<h1>" not in html
    assert "<mark>关键句。</mark>" in html
    bubble = web.render_answer(answer)
    assert "<script>" not in bubble and "&lt;script&gt;" in bubble


def test_too_long_question_gets_a_message(runtime):
    history, _, session, status = turn(runtime, "问" * (runtime.config.max_question_chars + 1))
    assert "问题过长" in history[-1]["content"] and "问题过长" in status
    assert session["answer"] is None


def test_unexpected_error_does_not_break_the_chat(runtime, monkeypatch):
    def boom(question):
        raise RuntimeError("bug")
    monkeypatch.setattr(runtime.holder, "_current", SimpleNamespace(ask=boom, index=runtime.assistant.index))
    history, _, _, status = turn(runtime, TARGET)
    assert "出错" in history[-1]["content"] and "出错" in status


def test_rating_is_stored_once(runtime):
    session, message = web.rate("up", "", web.new_session(), runtime)
    assert "先提问" in message
    _, _, session, _ = turn(runtime, TARGET)
    session, message = web.rate("down", "数字不对", session, runtime)
    assert "已记录" in message
    session, message = web.rate("up", "", session, runtime)
    assert "已经评价" in message
    rows = runtime.feedback.rows()
    assert len(rows) == 1 and rows[0]["rating"] == -1 and rows[0]["comment"] == "数字不对"
    assert rows[0]["question"] == TARGET and rows[0]["citations"][0]["sentence"]


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
    assert "<b>" not in web.render_sources(answer) and "&lt;b&gt;星光" in web.render_sources(answer)
    doc.write_text(text, encoding="utf-8")
    assert "同名" in admin_tab.upload_document(str(doc), admin, rt)[0]
    big = tmp_path / "upload" / "big.txt"
    big.write_bytes("字".encode() * 400_000)
    assert "过大" in admin_tab.upload_document(str(big), admin, rt)[0]
    assert "不支持" in admin_tab.upload_document(str(tmp_path / "upload" / "x.exe"), admin, rt)[0]
    rt.admin.logout(admin)
    assert "先以管理员" in admin_tab.upload_document(str(doc), admin, rt)[0]


def test_export_feedback(runtime):
    _, _, session, _ = turn(runtime, TARGET)
    web.rate("up", "清楚", session, runtime)
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
    chat, commitments, documents = _page_load(demo)  # the app was built before the upload
    assert "西堤头镇" in chat[0].placeholder and any("西堤头镇" in s[0] for s in chat[1].samples)
    place, doc = commitments  # the table itself loads when the tab is opened
    assert ("西堤头镇", "西堤头镇") in place.choices
    rows, records, _, status, _ = commitments_tab.commitments_query("", "", "", "", "", None, None, "", rt)
    assert len(records) > count and f"共 {len(records)} 条" in status and len(rows) == len(records)
    assert any(r[0] == town.name and r[4] == "天津市 › 北辰区 › 西堤头镇" for r in documents)


def test_examples_and_placeholder_come_from_the_catalog():
    catalog = {"a.txt": {"place": "某镇", "period": "2026-2030", "date": "2026-02"},
               "b.txt": {"place": "某区", "period": "2023-2024", "date": "2024-01-18"}}
    assert web.example_questions(catalog) == ["某镇十五五期间要建哪些重点项目？",
                                              "某区2024年地区生产总值增长目标是多少？", "那2023年呢？"]
    assert web.chat_placeholder(catalog) == "请就某镇、某区的规划文件提问。"
