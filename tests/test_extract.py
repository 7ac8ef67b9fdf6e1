"""Extraction rules on one sentence at a time: each kind of phrasing a plan uses, with exact asserts."""
from __future__ import annotations

import pytest

from qa.commitments.lexicon import lexicon
from qa.commitments.project_filter import accept, generic_words, specific
from qa.commitments.projects import candidates, clean, to_project, unique
from qa.commitments.responsibilities import responsibilities
from qa.commitments.statements import Section, Statement, five_year_span
from qa.commitments.targets import text_targets


def statement(text: str, heading: str = "", period: str = "2026-2030") -> Statement:
    return Statement(text, 100, heading, "d#1", "d.txt", "前文。" + text, Section.of(heading), period)


def targets(text: str, **kw) -> list[tuple]:
    return [(t.name, t.measure, t.value, t.unit, t.year, t.status) for t in text_targets(statement(text, **kw))]


def projects(text: str, **kw) -> list[tuple]:
    found = unique([to_project(c) for c in candidates(statement(text, **kw)) if accept(c)])
    return [(p.name, p.status) for p in found]


def duties(text: str, **kw) -> list[tuple]:
    return [(r.lead, r.verb, r.task, r.partners) for r in responsibilities(statement(text, **kw))]


def test_units_and_word_lists_load_from_data_files():
    words = lexicon()
    assert words.units["亿元"] == "measure" and words.units["所"] == "count"
    assert list(words.units).index("万平方米") < list(words.units).index("平方米")
    assert "地块" in words.facility_words and "部门" in words.actor_words and "服务" in generic_words()


def test_a_subject_before_its_figure_and_a_change_printed_apart():
    assert targets("实现一般公共预算收入70亿元，同比增长4.2%。", heading="一、2023年计划执行情况", period="2023-2024") == [
        ("一般公共预算收入", "", "70亿元", "亿元", "2023", "reported"),
        ("一般公共预算收入", "同比增长", "4.2%", "%", "2023", "reported")]


def test_a_count_names_what_follows_it():
    assert targets("新增4所公办幼儿园，新建10处养老设施、2个农村幸福院。") == [
        ("公办幼儿园", "", "4所", "所", "2026-2030", "planned"),
        ("养老设施", "", "10处", "处", "2026-2030", "planned"),
        ("农村幸福院", "", "2个", "个", "2026-2030", "planned")]


def test_respectively_gives_each_item_its_figure():
    assert [(t[0], t[2]) for t in targets("全区单项冠军企业、专精特新企业分别达到10家、160家。")] == [
        ("单项冠军企业", "10家"), ("专精特新企业", "160家")]


def test_a_target_year_and_a_qualifier():
    (target,) = text_targets(statement("到2030年，力争打造1-3家绿色工厂。"))
    assert (target.name, target.value, target.year, target.qualifier) == ("绿色工厂", "1-3家", "2030", "力争")


def test_dates_ordinals_and_quoted_titles_are_not_figures():
    assert targets("于5月18日顺利开园，推进燃气户内设施“6个100%”安装改造，举办第六届艺术节。") == []


@pytest.mark.parametrize("heading, text, year, status", [
    ("第一章 发展基础 › 第一节 发展基础", "累计投入环保资金1.1678亿元。", "2021-2025", "reported"),  # the span before the plan
    ("第三章 主要任务", "在现有16家养老机构的基础上，再增加5家。", "2025", "reported"),  # the year before it begins
    ("第三章 主要任务", "新建养老床位150张。", "2026-2030", "planned"),
    ("第一章 发展基础", "“十四五”时期累计完成固定资产投资290亿元。", "2021-2025", "reported"),
])
def test_the_year_of_a_reported_figure_is_the_year_it_reports(heading, text, year, status):
    first = text_targets(statement(text, heading=heading))[0]
    assert (first.year, first.status) == (year, status)


def test_five_year_plans_have_their_spans():
    assert [five_year_span(n) for n in "三四五"] == ["2016-2020", "2021-2025", "2026-2030"]


def test_listed_projects_each_with_the_stage_of_their_own_clause():
    text = "安乃达、金印联等4个项目顺利开工，绿亨北方总部项目、荣森海姆中国总部签约落户。"
    assert projects(text, heading="一、2023年工作回顾", period="2023-2024") == [
        ("安乃达", "under_construction"), ("金印联", "under_construction"),
        ("绿亨北方总部项目", "planned"), ("荣森海姆中国总部", "planned")]


def test_a_named_facility_beside_a_construction_verb():
    assert projects("推动张家窝镇第一小学、赤龙中学建成投用，启动丰盈道建设。", period="2023-2024") == [
        ("张家窝镇第一小学", "under_construction"), ("赤龙中学", "under_construction"), ("丰盈道", "planned")]


def test_headings_programmes_and_things_leaned_on_are_not_projects():
    assert projects("实施农村饮水提质增效工程，推进“城市双修”工程。") == []
    assert projects("依托杉杉奥特莱斯、社会山广场等项目，打造品质消费商圈。") == []
    assert projects("推动天安数码城、福保产业园等重点载体盘活。") == []
    assert not specific("交通畅通项目") and specific("南站综合片区") and specific("第八幼儿园")


def test_a_count_of_projects_is_a_target_not_a_project():
    assert projects("全年引进北京项目100个。", heading="一、2023年工作回顾", period="2023-2024") == []


def test_a_name_is_cleaned_of_the_verbs_around_it():
    assert clean("举全区之力规划建设天开西青园") == "举全区之力规划建设天开西青园"
    assert clean("优先启动东城第九单元（砖瓦厂宿舍片区）364处房屋拆迁改造") == "东城第九单元（砖瓦厂宿舍片区）"
    assert projects("举全区之力规划建设天开西青园。") == [("天开西青园", "planned")]


def test_responsibilities_in_their_phrasings():
    assert duties("每年由镇政府牵头开展年度评估。") == [("镇政府", "牵头", "开展年度评估", [])]
    assert duties("配合区民政局建设嵌入式养老服务综合体。") == [("区民政局", "配合", "建设嵌入式养老服务综合体", [])]
    assert duties("强化落实企业主体责任、部门监管责任、街镇属地责任。") == [
        ("企业", "落实", "主体责任", []), ("部门", "落实", "监管责任", []), ("街镇", "落实", "属地责任", [])]
    assert duties("鼓励优势创新型企业牵头，与高校科研院所和产业链上下游企业联合组建创新共同体。") == [
        ("优势创新型企业", "牵头", "联合组建创新共同体", ["高校科研院所", "产业链上下游企业"])]


def test_encouragements_slogans_and_people_are_not_responsibilities():
    assert duties("鼓励企业开展节能改造与数字化转型。") == []
    assert duties("形成“政府负责、社会协同、村民自治”的治理格局。") == []
    assert duties("邀请群众与企业负责人提出意见建议。") == []


def test_a_rate_from_now_to_its_target_and_a_share_of_a_total():
    """'由现在的65.8%增至85%': the first figure is today's (reported, the year before the plan),
    the second the target; '达到全镇总人口的48%' is a share of the subject; '11家日间…' is a count."""
    text = "到2025年，体育人口达到全镇总人口的48%，健身路径覆盖率由现在的65.8%增至85%。"
    assert [(t[0], t[2], t[4], t[5]) for t in targets(text, period="2021-2025")] == [
        ("体育人口", "48%", "2025", "planned"), ("健身路径覆盖率", "65.8%", "2020", "reported"),
        ("健身路径覆盖率", "85%", "2025", "planned")]
    assert [t[:3] for t in targets("拥有11家日间照料中心，从业人员100％取得健康证。")] == [
        ("日间照料中心", "", "11家"), ("从业人员", "", "100％")]
    assert [t[:3] for t in targets("全镇生产总值达到78.6亿元，年平均增长率7%。")] == [
        ("生产总值", "", "78.6亿元"), ("生产总值", "年平均增长率", "7%")]


def test_firms_projects_listed_with_phases_and_the_last_item_after_and():
    text = "有序推进丙丁机器人二期三期、戊己铝型材项目及庚辛汽车控制器产线升级改造等项目建设。"
    assert sorted(projects(text)) == [("丙丁机器人二期三期", "under_construction"), ("庚辛汽车控制器产线", "under_construction"),
                                      ("戊己铝型材项目", "under_construction")]
    assert specific("某地三期") and accept_name("某地三期") and not accept_name("二期工程")
    assert projects("吸引社会资本参与龙湾集疏运道路、人才公寓等重大项目建设。") == [("龙湾集疏运道路", "planned")]


def test_a_clause_that_governs_a_place_is_not_a_project_name():
    assert projects("在产业园区新建供水加压站，满足企业生产用水需求。") == []
    assert projects("针对某某南站等重点区域进行提升改造。") == []
    assert projects("推进城市更新项目建设。") == []


def accept_name(name: str) -> bool:
    from qa.commitments.projects import Candidate
    return accept(Candidate(name, "named", f"建设{name}", statement(f"建设{name}。"), f"建设{name}。"))


def test_a_thing_built_on_what_a_clause_leans_on_and_a_described_facility():
    """'依托X建设Y': X is leaned on, Y is built; '三级综合医院某某医院正式开诊' names the hospital, not
    its description; '某商务区建设提速' is under construction."""
    assert projects("依托某石油转运站闲置场区建设龙湾国际陆港，拓宽区域物流通道。") == [("龙湾国际陆港", "planned")]
    assert projects("全国首家外商独资三级综合医院龙湾瑞利医院正式开诊。", heading="一、发展基础") == [
        ("龙湾瑞利医院", "completed")]
    assert projects("龙湾科技商务区建设提速。", heading="一、发展基础") == [("龙湾科技商务区", "under_construction")]


def test_a_word_the_dictionary_only_knows_as_the_start_of_another_is_a_name():
    """jieba's frequency table holds every prefix of its words with count 0: such a prefix is
    no word of the dictionary ("海源" of a firm's name)."""
    assert specific("海源制造")


def test_the_cover_notices_title_is_no_commitment():
    from types import SimpleNamespace

    from qa.commitments.extract import passage_groups

    node = SimpleNamespace(get_content=lambda: "印发某区文化和旅游融合规划\n规划等9个专项规划的通知\n新增4所公办幼儿园。",
                           metadata={"heading": ""}, start_char_idx=0, node_id="d#0")
    groups = passage_groups(node, {"doc": "d.txt", "period": "2021-2025"})
    assert [s.text for group, _ in groups for s in group] == ["印发某区文化和旅游融合规划", "新增4所公办幼儿园。"]


def test_a_figure_raised_from_a_past_one_is_not_of_the_past_ones_year():
    text = "第三产业占比由“十二五”末的62.93%提升至70.2%。"
    assert [(t[2], t[4], t[5]) for t in targets(text, heading="第一节 发展基础", period="2021-2025")] == [
        ("62.93%", "2011-2015", "reported"), ("70.2%", "2016-2020", "reported")]


def test_a_line_opened_a_positioning_and_a_kind_word_inside_a_name():
    assert projects("地铁10号线通车运行。", heading="一、2023年工作回顾", period="2023-2024") == [("地铁10号线", "completed")]
    assert projects("某中心以建设龙湾智能研发基地、龙湾人才聚集区为发展定位。") == []
    assert accept_name("龙湾恒润汽车新能源类控制器产线") and not accept_name("各类产业园区")


def test_a_second_line_of_a_railway_is_named_by_its_ordinal():
    assert projects("对外，配合推进龙湾高铁二线规划建设。") == [("龙湾高铁二线", "planned")]
    assert [n for n, _ in projects("未来将随龙湾高铁二线等规划建设完善交通网络。")] == ["龙湾高铁二线"]


def test_a_name_is_not_a_list_or_a_merger_and_loses_the_verb_before_it():
    assert projects("加快龙湾道、海泰道、储厚道等主干道路建设进度。") == [
        ("龙湾道", "under_construction"), ("海泰道", "under_construction"), ("储厚道", "under_construction")]
    assert [n for n, _ in projects("深度融入龙湾科创园西青园建设，建立常态化对接机制。")] == ["龙湾科创园西青园"]
    assert projects("促进教产城融合建设艺术教育中心。") == []


def test_works_reported_done_are_completed_and_a_name_says_no_stage():
    review = dict(heading="一、2023年工作回顾", period="2023-2024")
    assert projects("改造龙湾西里、国兴佳园等13个老旧小区。", **review) == [
        ("龙湾西里", "completed"), ("国兴佳园", "completed")]
    assert projects("建设龙湾区知识产权运营中心，推动专利产业化。") == [("龙湾区知识产权运营中心", "planned")]
