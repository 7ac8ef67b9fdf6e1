"""Composition on the real corpus: what leads an answer, list items, answers grouped by place,
the part of a question nothing answers. Questions written for these tests (not the dev set's)."""
from __future__ import annotations

import re

import pytest

from qa.answer.compose import asked_level, figure_first, group_label
from qa.answer.lists import condense, named

MARKER = re.compile(r"\[(\d+)\]")


def _copied_and_cited(answer):
    """Every figure is printed by a cited passage, every marker has a source, and the answer
    stays within the bound the scorer counts."""
    cited = "".join(c.text for c in answer.citations)
    body = MARKER.sub("", answer.answer)
    for number in re.findall(r"\d+(?:\.\d+)?", re.sub(r"《[^》]*》", "", body)):  # titles are labels
        assert number in cited, number
    assert {int(n) for n in MARKER.findall(answer.answer)} == {c.n for c in answer.citations}
    assert len(re.sub(r"\s", "", body)) <= 400


def test_whether_question_leads_with_what_the_plan_says(assistant):
    answer = assistant.ask("张家窝镇要建新中学吗？")
    assert not answer.abstained
    # the clause that says it, with the document it comes from and the verb of its kind (a plan
    # 提出, a report 提到); the count of existing schools in the same plan is not the answer
    assert answer.answer == ("《西青区2023年计划执行与2024年计划》提到：推动张家窝镇第一小学、赤龙中学建成投用[1]。"
                             "《张家窝镇“十五五”规划纲要》提出：在居民区新建小学和中学[2]。")
    assert "公办中学1所" not in answer.answer
    _copied_and_cited(answer)


def test_question_naming_no_place_is_answered_place_by_place(assistant):
    answer = assistant.ask("镇上要建新小学吗？")
    lines = answer.answer.split("\n")
    assert len(lines) >= 2
    labels = [line.split("：", 1)[0] for line in lines]
    assert "静海镇《“十四五”规划纲要》提出" in labels
    assert any(label.startswith("张家窝镇《") for label in labels)
    assert not any(label.startswith("西青区") for label in labels)  # "镇上": towns, not the district
    # each sentence carries its group's label, place and document
    assert {s["place"] for s in answer.sentences} >= {"静海镇", "张家窝镇"}
    assert all(s["label"] and s["label"].startswith(s["place"]) for s in answer.sentences)
    assert "第七小学改扩建" in answer.answer
    _copied_and_cited(answer)


def test_question_naming_no_place_nor_level_groups_every_place(assistant):
    answer = assistant.ask("要建新的养老机构吗？")
    labels = [line.split("：", 1)[0] for line in answer.answer.split("\n")]
    assert labels[:2] == ["西青区《新型城镇化发展规划（2023—2025年）》提出", "西青区《2023年计划执行与2024年计划》提到"]
    assert any(label.startswith("静海镇《“十四五”规划纲要》") for label in labels)
    _copied_and_cited(answer)


def test_asked_level():
    assert asked_level("镇上要建新小学吗？") == "镇"
    assert asked_level("区里要建新的养老机构吗？") == "区"
    assert asked_level("要建新的养老机构吗？") == ""


def test_question_naming_a_place_is_not_labelled(assistant):
    answer = assistant.ask("静海镇招商引资实际到位要达到多少？")
    assert "\n" not in answer.answer
    assert all(s["label"] == "" and s["place"] == "静海镇" for s in answer.sentences)


def test_how_much_leads_with_the_figure(assistant):
    answer = assistant.ask("静海镇2025年城乡居民可支配收入要达到多少？")
    assert answer.answer == "…城乡居民可支配收入达到46564.7元/年，年平均增长率7%…[1]"
    answer = assistant.ask("张家窝镇燃气安全整治累计改造了多少户？")
    assert answer.answer.startswith("…持续推进燃气安全整治“6个100%”，累计改造60395户")
    _copied_and_cited(answer)


def test_list_item_named_by_its_label_answers(assistant):
    answer = assistant.ask("静海镇“一带两轴”里的“一带”是什么？")
    assert answer.answer.startswith("一带：以南运河为骨架，构建水城共融、蓝绿交织的田园生态文化带。")
    answer = assistant.ask("张家窝镇“一核两带三片区”里的“两带”是哪两条？")
    assert answer.answer.startswith("两带：赛达大道科技创新带与高泰路产城融合带。")
    _copied_and_cited(answer)


def test_whole_list_keeps_every_item(assistant):
    answer = assistant.ask("张家窝镇十五五规划的“三片区”包括哪些？")
    for item in ("高新智造集聚区", "生态宜居示范区", "特色农业区"):
        assert item in answer.answer
    _copied_and_cited(answer)


def test_whole_list_is_collected_across_the_following_passages(assistant):
    answer = assistant.ask("张家窝镇“一核两带三片区”的城镇空间结构分别包括哪些？")
    assert "一核：天津南站为核心。[1]两带：赛达大道科技创新带与高泰路产城融合带。[1]三片区：" in answer.answer
    assert "特色农业区" in answer.answer
    # the third item comes from the passage after the one that introduces the list, cited as its own
    third = next(c for c in answer.citations if c.text.startswith("三片区："))
    assert third.n == 2 and third.heading.endswith("› 三片区")
    _copied_and_cited(answer)


def test_part_no_document_answers_is_named(assistant):
    answer = assistant.ask("静海镇招商引资实际到位要达到多少？有多少个博士后工作站？")
    assert "26.8亿元" in answer.answer
    assert answer.answer.endswith("关于“有多少个博士后工作站”，现有文件中没有找到答案。")
    assert answer.sentences[-1]["n"] == 0


def test_both_parts_answered_are_not_flagged(assistant):
    answer = assistant.ask("张家窝镇2023年规上工业总产值是多少？同比增长多少？")
    assert "78.46" in answer.answer and "1.5" in answer.answer
    assert "没有找到" not in answer.answer


def test_figure_first_cuts_to_the_clause_that_answers():
    sentence = ("建立三级包联责任制，坚持市场化路径和分类施策，通过社会资本撬动资源利用，"
                "推动闲置资源用起来，全年盘活闲置楼宇面积60万平方米以上。")
    # the figure's clause and the clause before it, which holds an asked word too
    assert figure_first(sentence, ["盘活", "闲置", "楼宇"], {}) == "…推动闲置资源用起来，全年盘活闲置楼宇面积60万平方米以上。"
    assert figure_first(sentence, ["盘活", "楼宇"], {}) == "…全年盘活闲置楼宇面积60万平方米以上。"
    # a figure near the start is left where it is
    short = "全年实现产值78亿元，同比增长1.5%，其中战略新兴产业占比达67%，高新技术制造业占比达16%，继续保持。"
    assert figure_first(short, ["产值"], {}) == short
    # items of an enumeration end at "；": the asked item's figures, not the next item's
    items = ("到2025年，全镇生产总值达到78.6亿元，年均增长7%；城乡居民可支配收入达到46564.7元，年均增长7%；"
             "一般公共预算收入达到2.2亿元，年均增长7%；"
             "社会固定资产投资达到79.78亿元，年均增长10%。")
    assert figure_first(items, ["公共", "预算", "收入"], {}) == "…一般公共预算收入达到2.2亿元，年均增长7%…"


def test_named_label_and_condensed_list():
    intro = "重点打造“一带两轴和公共文化服务区”城市空间新结构"
    assert named("两轴", "“一带两轴”中的“两轴”分别以什么为轴", intro)
    assert not named("一带", "“一带两轴”中的“两轴”分别以什么为轴", intro)
    # nothing quoted: a label written only inside the longer name is not named
    assert named("两轴", "一带两轴中两轴是什么", intro)
    assert not named("一带", "一带两轴中两轴是什么", intro)
    text = "甲区围绕制造，布局新业态；乙区推进改造，建设公园；丙区以种业为牵引，推广育种。"
    assert condense(text, 30) == "甲区围绕制造…；乙区推进改造…；丙区以种业为牵引…"
    assert condense("短句。", 20) == "短句。"


@pytest.mark.parametrize("meta, label", [
    ({"place": "某镇", "short_title": "某镇“十五五”规划纲要"}, "某镇《“十五五”规划纲要》"),
    ({"place": "某区", "short_title": "区政府工作报告"}, "某区《区政府工作报告》"),
    ({"place": "", "short_title": "某文件"}, "某文件"),
])
def test_group_label(meta, label):
    assert group_label(meta) == label
