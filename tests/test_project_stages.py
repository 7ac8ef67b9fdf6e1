"""A project's stage from the words nearest its name, and which list items are projects (names
are made up; each case is a kind of phrasing plans use)."""
from __future__ import annotations

from qa.commitments.models import COMPLETED, PLANNED, UNDER_CONSTRUCTION
from qa.commitments.project_filter import accept
from qa.commitments.projects import candidates, to_project, unique
from qa.commitments.stages import following, signals, stage
from qa.commitments.statements import Section, Statement

REVIEW = dict(heading="一、2023年工作回顾", period="2023-2024")


def statement(text: str, heading: str = "", period: str = "2026-2030") -> Statement:
    return Statement(text, 100, heading, "d#1", "d.txt", "前文。" + text, Section.of(heading), period)


def projects(text: str, **kw) -> list[tuple]:
    found = unique([to_project(c) for c in candidates(statement(text, **kw)) if accept(c)])
    return [(p.name, p.status) for p in found]


def test_stage_words_load_from_a_data_file():
    assert {"completion", "underway", "not_yet", "starts", "works_done"} <= set(signals())
    assert signals()["not_yet"].search("土地征收")


def test_a_projects_own_words_come_first():
    clause = "积极配合龙湾城际铁路（在建）的建设和海湾高铁二线的规划落地"
    assert stage(clause, False, "龙湾城际铁路（在建）")[0] == UNDER_CONSTRUCTION
    assert stage(clause, False, "海湾高铁二线") == (PLANNED, "规划")


def test_in_a_plan_a_project_pushed_to_land_or_start_has_not_begun():
    assert stage("加快推进龙湾文旅项目落地", False, "龙湾文旅项目") == (PLANNED, "落地")
    assert stage("加快推动瑞霖新能源项目开工建设", False, "瑞霖新能源项目") == (PLANNED, "开工")
    # "落地项目" names a kind of project: what is done to them is building
    assert stage("全速推进瑞霖新工厂、海源制造等落地项目建设", False, "海源制造")[0] == UNDER_CONSTRUCTION


def test_in_a_plan_completion_after_the_name_is_a_deadline_before_it_a_task():
    assert stage("推动龙湾镇第一小学建成投用", False, "龙湾镇第一小学") == (UNDER_CONSTRUCTION, "建成")
    assert stage("完成琴湾道、宁湾道等道路建设", False, "琴湾道")[0] == PLANNED


def test_the_next_clause_counts_when_it_goes_on_about_the_same_works():
    text = "建成龙湾镇第一小学，配套购置办公设备，确保今年9月如期开学投用。"
    assert following(text, "建成龙湾镇第一小学") == "确保今年9月如期开学投用"
    assert projects(text) == [("龙湾镇第一小学", UNDER_CONSTRUCTION)]
    # "力争建成某某基地" builds another thing: it says nothing of the project's stage
    assert following("推动瑞霖基地二期建设，力争建成集冷链、加工于一体的综合基地。", "推动瑞霖基地二期建设") == ""


def test_in_a_review_pushing_on_is_under_construction_and_works_carried_out_are_completed():
    assert stage("扎实推进龙湾美术学院新址扩建", True, "龙湾美术学院")[0] == UNDER_CONSTRUCTION
    assert stage("实施瑞霖路商业街绿化提升工程", True, "瑞霖路商业街绿化提升工程") == (COMPLETED, "实施")


def test_the_year_of_a_project_is_the_year_printed_before_its_name():
    found = unique([to_project(c) for c in candidates(statement(
        "2022年全区轨道交通网不断加密，地铁19号线通车运行，21号线加快建设。", period="2023-2025")) if accept(c)])
    assert [(p.name, p.status, p.year) for p in found] == [
        ("地铁19号线", UNDER_CONSTRUCTION, "2022"), ("21号线", UNDER_CONSTRUCTION, "2022")]


def test_a_body_doing_something_is_not_a_project_name():
    found = [c for c in candidates(statement("配合区民政局建设嵌入式养老服务综合体。"))]
    assert "区民政局建设嵌入式养老服务综合体" in [c.name for c in found] and not any(accept(c) for c in found)


def test_items_beside_a_named_one_in_a_list_of_projects():
    assert projects("瑞霖酒店群、智能精密制造等项目投入运营。", **REVIEW) == [
        ("瑞霖酒店群", COMPLETED), ("智能精密制造", COMPLETED)]
    assert projects("智能精密制造项目投入运营。", **REVIEW) == []  # alone it names no one
    # works and planning words beside a named park are not projects
    assert [n for n, _ in projects("配合做好南湖公园、道路基础设施、拆迁改造、住宅开发等建设项目。")] == ["南湖公园"]


def test_a_list_is_of_projects_only_when_what_it_undergoes_is_works():
    assert [n for n, _ in projects("扎实推进龙王庙、高村关帝庙等不可移动文物的修缮。")] == ["龙王庙", "高村关帝庙"]
    assert projects("扎实推进龙王庙、高村关帝庙等不可移动文物的常态化管理。") == []


def test_a_heading_naming_the_past_first_reviews_it_unless_a_sub_heading_says():
    assert Section.of("第一章 发展基础与战略环境 › 2.区域战略衔接").retrospective
    assert not Section.of("第一章 发展基础和发展环境 › 第二节 发展环境").retrospective
    assert Section.of("第一章 发展基础和发展环境 › 第一节 发展基础").retrospective
