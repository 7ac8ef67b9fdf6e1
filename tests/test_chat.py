"""The residents' chat called without a browser: bubbles, sources, follow-ups, feedback, clear."""
import html
import re
from dataclasses import replace
from types import SimpleNamespace

import pytest

from qa.answer.answering import Answer, Citation
from qa.app import bubbles, chat, web
from qa.app.followup import answer_subject, is_attribute_follow_up, resolve

TARGET = "西青区2024年地区生产总值增长目标是多少？"
SCHOOL = "张家窝镇十五五期间要建新小学吗？"


@pytest.fixture
def runtime(corpus_config, assistant, tmp_path):
    config = replace(corpus_config, feedback_db=tmp_path / "feedback.sqlite")
    return web.Runtime(config, assistant=assistant)


def shown(content: str) -> str:
    """What a reader sees of a bubble: tags dropped, character references decoded once."""
    return html.unescape(re.sub(r"<[^>]+>", "", content))


def test_a_turn_shows_pending_then_the_answer_with_its_sources(runtime):
    updates = list(chat._turn(TARGET, [], None, runtime))
    assert len(updates) == 2
    _, pending, _, _ = updates[0]
    assert pending[-1]["content"] == bubbles.pending_bubble() and bubbles.PENDING_TEXT in shown(pending[-1]["content"])
    _, history, session, status = updates[1]
    bubble = history[-1]["content"]
    assert status == "" and '<a class="qa-cite" href="#m1-s1"' in bubble
    assert '<details class="qa-sources"' in bubble and 'id="m1-s1"' in bubble and "<mark>" in bubble
    assert session["turns"]["1"]["answer"].citations and session["question"] == TARGET


def test_question_and_answer_escaped_exactly_once():
    evil = Citation(n=1, doc="x", title="<img src=x onerror=alert(1)>", heading="<h1>章</h1>",
                    text="前文<script>alert(2)</script>。It's 关键句。", sentence="It's 关键句。")
    answer = Answer(question="q", answer="<script>x</script>It's *关键句*。[1]", abstained=False, citations=[evil])
    bubble = bubbles.answer_bubble(answer, {}, "m1")
    assert "<script" not in bubble and "<img" not in bubble and "<h1>" not in bubble
    seen = shown(bubble)
    assert "It's *关键句*。[1]" in seen and "&#" not in seen and "&lt;" not in seen
    assert "<script>x</script>" in seen  # shown as text
    user = bubbles.user_bubble("what's <b>new</b> [1] *x* $y$")
    assert shown(user) == "what's <b>new</b> [1] *x* $y$" and "<b>" not in user
    assert "\n\n" not in bubble  # one HTML block: Markdown never reads inside it


def test_copy_text_is_plain_with_markers_and_sources():
    cited = Citation(n=1, doc="a.txt", title="某规划", heading="第一章", text="关键句。", sentence="关键句。")
    answer = Answer(question="q", answer="It's 关键句。[1]", abstained=False, citations=[cited])
    text = bubbles.plain_text(answer, {"a.txt": {"place": "某镇", "short_title": "某镇规划"}})
    assert text.startswith("It's 关键句。[1]") and "[1] 某镇 · 某镇规划 › 第一章" in text
    assert "<" not in text and "&#" not in text and "\\[" not in text
    plain = re.search(r'<div class="qa-plain"[^>]*>(.*?)</div>', bubbles.answer_bubble(answer, {}, "m1")).group(1)
    assert html.unescape(plain).startswith("It's 关键句。[1]\n")


def test_places_label_an_answer_spanning_several(runtime):
    _, history, session, _ = chat.respond("镇上要建新小学吗？", [], None, runtime)
    answer = session["answer"]
    places = {runtime.assistant.index.catalog[c.doc]["place"] for c in answer.citations}
    assert len(places) > 1
    labels = re.findall(r'<span class="qa-place">(.*?)</span>', history[-1]["content"])
    assert {p for p in places if any(label.startswith(p) for label in labels)} == places


def test_labels_come_from_the_catalog_when_the_answer_has_none():
    cites = [Citation(n=1, doc="a.txt", title="A", heading="h", text="甲。", sentence="甲。"),
             Citation(n=2, doc="b.txt", title="B", heading="h", text="乙。", sentence="乙。")]
    answer = Answer(question="q", answer="甲。[1]乙。[2]", abstained=False, citations=cites)
    catalog = {"a.txt": {"place": "某镇", "short_title": "某镇规划"}, "b.txt": {"place": "某区", "short_title": "某区报告"}}
    body = bubbles.answer_body(answer, catalog, "m1")
    assert shown(body) == "某镇《某镇规划》甲。[1]某区《某区报告》乙。[2]"
    single = bubbles.answer_body(replace(answer, citations=cites[:1], answer="甲。[1]"), catalog, "m1")
    assert "qa-place" not in single


def test_abstention_is_labelled_with_related_passages(runtime, monkeypatch):
    related = Citation(n=1, doc="a.txt", title="某规划", heading="第一章", text="相关的段落。")
    abstain = Answer(question="q", answer="现有文件中没有找到能回答这个问题的内容。", abstained=True,
                     citations=[related])
    monkeypatch.setattr(runtime.holder, "_current", SimpleNamespace(ask=lambda q: abstain,
                                                                    index=runtime.assistant.index))
    _, history, session, _ = chat.respond("火星基地什么时候建成？", [], None, runtime)
    bubble = shown(history[-1]["content"])
    assert bubbles.ABSTAIN_LABEL in bubble and "仅供参考" in bubble and "<mark>" not in history[-1]["content"]


def test_errors_are_bubbles_and_the_chat_goes_on(runtime, monkeypatch):
    _, history, session, status = chat.respond("问" * (runtime.config.max_question_chars + 1), [], None, runtime)
    assert "问题过长" in shown(history[-1]["content"]) and "问题过长" in status and session["answer"] is None

    def boom(question):
        raise RuntimeError("bug")
    monkeypatch.setattr(runtime.holder, "_current", SimpleNamespace(ask=boom, index=runtime.assistant.index))
    _, history, _, status = chat.respond(TARGET, [], None, runtime)
    assert "出错" in shown(history[-1]["content"]) and "出错" in status


def test_each_answer_is_rated_once_with_the_thanks_under_it(runtime):
    _, history, session, _ = chat.respond(TARGET, [], None, runtime)
    _, history, session, _ = chat.respond("静海镇呢？", history, session, runtime)
    history, session, comment, status = chat.rate(1, False, "数字不对", history, session, runtime)
    assert status == bubbles.FEEDBACK_THANKS and comment == ""
    assert bubbles.FEEDBACK_THANKS in shown(history[1]["content"]) and bubbles.FEEDBACK_THANKS not in history[3]["content"]
    assert chat.rate(1, True, "", history, session, runtime)[3] == chat.ALREADY_RATED
    history, session, _, _ = chat.rate(3, "来源不对", "", history, session, runtime)
    rows = runtime.feedback.rows()
    assert [(r["rating"], r["comment"]) for r in rows] == [(-1, "数字不对"), (-1, "来源不对")]
    assert rows[0]["question"] == TARGET and rows[0]["citations"][0]["sentence"]
    assert rows[1]["question"].startswith("静海镇2024年") and rows[1]["asked"] == "静海镇呢？"
    assert chat.rate(7, True, "", history, session, runtime)[3].startswith("请先提问")


def test_clear_forgets_the_conversation(runtime):
    _, history, session, _ = chat.respond(SCHOOL, [], None, runtime)
    history, session, status = chat.clear()
    assert history == [] and session["answer"] is None and not session["turns"]
    _, history, session, _ = chat.respond("静海镇呢？", history, session, runtime)
    assert session["question"] == "静海镇呢？"  # nothing left to follow up on


def test_follow_up_asks_the_previous_answers_project(runtime):
    index = runtime.assistant.index
    first = runtime.assistant.ask(SCHOOL)
    assert answer_subject(first, index, SCHOOL) == "张家窝第三小学项目"
    for follow_up in ("具体在哪里？", "什么时候建好？", "投资多少？", "谁负责？"):
        assert is_attribute_follow_up(follow_up, index)
        assert resolve(SCHOOL, follow_up, index, first) == f"张家窝镇十五五期间张家窝第三小学项目{follow_up}"
    assert not is_attribute_follow_up("张家窝镇有多少所小学？", index)
    _, history, session, _ = chat.respond(SCHOOL, [], None, runtime)
    _, history, session, _ = chat.respond("具体在哪里？", history, session, runtime)
    assert "张家窝第三小学项目" in session["question"] and "结合上文" in shown(history[-1]["content"])


def test_place_switch_keeps_the_period_only_where_it_is_covered(runtime):
    index = runtime.assistant.index
    assert resolve(SCHOOL, "静海镇呢？", index) == "静海镇要建新小学吗？"  # its plan is 十四五
    assert resolve(TARGET, "静海镇呢？", index) == "静海镇2024年地区生产总值增长目标是多少？"
    assert resolve("静海镇2025年招商引资实际到位要多少？", "那2024年呢？", index) == "静海镇2024年招商引资实际到位要多少？"


def test_examples_are_record_questions_answered_with_the_records_figure(runtime):
    from qa.app.examples import holds_figure, record_questions

    index = runtime.assistant.index
    figures = dict(record_questions(index.commitments_db, index.catalog))
    examples = runtime.examples()
    assert examples == ["张家窝镇浦佳地块城市更新项目总投资多少？", "张家窝镇绿亨种业科技园实验基地项目总投资多少？",
                        "西青区南部产城示范中心先导区总投资多少？", "静海镇到2025年地区生产总值增长率的目标是多少？"]
    for question in examples:
        answer = runtime.assistant.ask(question)
        assert not answer.abstained and holds_figure(answer.answer, figures[question]), question
    assert runtime.examples() is examples  # asked once per build


def test_examples_skip_questions_the_index_declines_or_answers_with_another_figure():
    from unittest import mock

    from qa.app.examples import answered_examples

    records = [SimpleNamespace(kind="project", place="某镇", name="甲项目", value="3亿元", fields={"investment": "3亿元"},
                               doc="a.txt", status="planned", year=""),
               SimpleNamespace(kind="project", place="某镇", name="乙项目", value="5亿元", fields={"investment": "5亿元"},
                               doc="b.txt", status="planned", year="")]
    replies = {"某镇甲项目总投资多少？": Answer("", "甲项目：总投资4亿元[1]", False),
               "某镇乙项目总投资多少？": Answer("", "乙项目：总投资5亿元[1]", False),
               "某区2024年地区生产总值增长目标是多少？": Answer("", "文件中没有找到。", True)}
    catalog = {"a.txt": {"place": "某镇", "period": "2026-2030", "date": "2026-02"},
               "b.txt": {"place": "某区", "period": "2023-2024", "date": "2024-01-18"}}
    index = SimpleNamespace(commitments_db="records", catalog=catalog)
    assistant = SimpleNamespace(index=index, ask=lambda q: replies.get(q, Answer(q, "规划提出……[1]", False)))
    with mock.patch("qa.app.examples.search_commitments", return_value=records):
        assert answered_examples(assistant) == ["某镇乙项目总投资多少？", "某镇十五五期间要建哪些重点项目？"]


def test_without_records_examples_come_from_the_catalog_and_placeholder_names_places():
    from qa.app.examples import catalog_questions

    catalog = {"a.txt": {"place": "某镇", "period": "2026-2030", "date": "2026-02"},
               "b.txt": {"place": "某区", "period": "2023-2024", "date": "2024-01-18"}}
    assert catalog_questions(catalog) == ["某镇十五五期间要建哪些重点项目？", "某区2024年地区生产总值增长目标是多少？"]
    assert chat.chat_placeholder(catalog) == "请就某镇、某区的规划文件提问。"


def test_index_line_names_documents_build_time_and_model(runtime):
    index = runtime.assistant.index
    line = bubbles.index_line(index)
    assert f"已收录 {len(index.catalog)} 篇文件" in line and index.manifest["built_at"][:10] in line
    assert "向量模型：" + index.embedder.description.split("（")[0].strip() in line and "（" not in line.split("向量模型：")[1]
