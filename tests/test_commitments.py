"""Commitments as data: every indicator row, text targets, 专栏 projects and responsibilities."""
from __future__ import annotations

import csv
import io
import json

import pytest

from qa.commitments.database import DB_NAME, build_into, open_db
from qa.commitments.models import PLANNED, REPORTED, Responsibility, Source, Target
from qa.commitments.search import match_for_question, search_commitments

from test_tables import ROWS, TARGET_COLUMN, FILES

ZJW, ZJW_REPORT = "zhangjiawo-15th-five-year-plan-2026-2030.txt", "zhangjiawo-government-work-report-2024.txt"
XQ, XQ_PLAN, JH = ("xiqing-new-urbanization-plan-2023-2025.txt", "xiqing-2023-plan-execution-and-2024-plan.txt",
                   "jinghai-town-14th-five-year-plan-2021-2025.txt")


@pytest.fixture(scope="module")
def db(assistant):
    """The database the real index build wrote (shared session index in tmp)."""
    return assistant.config.index_dir / DB_NAME


@pytest.fixture(scope="module")
def tokenizer(assistant):
    """The session index's tokenizer: what its records were segmented with."""
    return assistant.index.tokenizer


@pytest.fixture(scope="module")
def memory_db(tokenizer):
    """The same records built into an in-memory database from freshly chunked documents."""
    from qa.ingest.node_parser import HeadingNodeParser
    from qa.config import PROJECT_ROOT
    from qa.ingest.loading import load_documents

    documents, _ = load_documents(PROJECT_ROOT / "corpus")
    nodes = HeadingNodeParser().get_nodes_from_documents(documents)
    conn = open_db(":memory:")
    counts = build_into(conn, documents, nodes, tokenizer)
    yield conn, counts
    conn.close()


def _find(items, **want):
    return [c for c in items if all(
        (c.fields.get(k) if k not in ("name", "value", "year", "doc", "place", "unit", "status") else getattr(c, k)) == v
        for k, v in want.items())]


def test_index_build_writes_the_database_as_a_checked_artifact(assistant, db):
    assert db.exists()
    assert DB_NAME in assistant.index.manifest["artifacts"]


def test_table_rows_all_present_with_source(db):
    rows = [c for c in search_commitments(db, kind="target", limit=None) if c.fields["origin"] == "table"]
    by_doc = {d: sum(1 for c in rows if c.doc == d) for d in (ZJW, XQ, JH)}
    assert by_doc == {ZJW: 9, XQ: 18, JH: 13}
    assert all(c.node_id.startswith(c.doc + "#") and c.value in c.sentence and c.heading for c in rows)


@pytest.mark.parametrize("key, number, category, indicator, unit, target, attribute", ROWS)
def test_every_indicator_row_is_stored_as_printed(db, key, number, category, indicator, unit, target,
                                                  attribute):
    rows = search_commitments(db, kind="target", doc=FILES[key], limit=None)
    (row,) = [c for c in rows if c.fields["origin"] == "table" and c.fields["number"] == number]
    f = row.fields
    assert (row.name, row.unit, f["category"], f["attribute"]) == (indicator, unit, category, attribute)
    assert row.value == target and row.status == PLANNED
    assert row.year == TARGET_COLUMN[key][:4]
    assert f["note"] and row.text.startswith(f["table"])


def test_table_rows_keep_baseline_growth_and_cumulative_note(db):
    rows = search_commitments(db, kind="target", doc=JH, limit=None)
    investment = _find(rows, name="固定资产投资", origin="table")[0].fields
    assert (investment["baseline_year"], investment["growth"], investment["value_note"]) == ("2020", "10", "五年累计数")
    zjw = search_commitments(db, kind="target", doc=ZJW, limit=None)
    output = _find(zjw, name="地区工业总产值增速")[0].fields
    assert (output["baseline_year"], output["baseline"], output["value_note"]) == ("2025", "16.98", "五年累计数")


@pytest.mark.parametrize("doc, name, value, year, status, measure", [
    (ZJW, "绿色工厂", "1-3家", "2030", "planned", ""),
    (ZJW_REPORT, "一般公共预算收入", "2.34亿元", "2024", "planned", ""),
    (ZJW_REPORT, "固定资产投资", "29.52亿元", "2023", "reported", ""),
    (XQ_PLAN, "地区生产总值", "5%", "2024", "planned", "增长"),
    (XQ_PLAN, "一般公共预算收入", "4.2%", "2023", "reported", "同比增长"),
    (XQ_PLAN, "“津农精品”", "18个", "2023", "reported", ""),
    (XQ, "常住人口城镇化率", "95.61%", "2022", "reported", ""),
    (JH, "新增就业人数", "12000人", "2021-2025", "planned", ""),
    (JH, "城镇新增就业", "2万人", "2016-2020", "reported", ""),
])
def test_text_targets_carry_status_and_the_year_they_are_about(db, doc, name, value, year, status, measure):
    """A reported figure carries the year it reports (a 十四五 plan's review is 2016-2020), not the
    plan's horizon; a change printed apart from its subject is the measure."""
    items = search_commitments(db, kind="target", doc=doc, limit=None)
    hit = _find(items, name=name, value=value)
    assert hit, [c.summary() for c in items if name[:3] in c.name]
    assert (hit[0].year, hit[0].status, hit[0].fields["measure"]) == (year, status, measure)


def test_every_target_has_a_status(memory_db):
    conn, _ = memory_db
    statuses = {c.status for c in search_commitments(conn, kind="target", limit=None)}
    assert statuses == {PLANNED, REPORTED}


@pytest.mark.parametrize("doc, name, status, facts", [
    (XQ, "中芯西青12英寸晶圆代工生产线项目", "planned", {"investment": "516亿元", "box": "专栏3制造业升级提升工程"}),
    (XQ, "南部产城示范中心先导区", "planned", {"investment": "200亿元", "scale": "2平方公里",
                                             "location": "天津市外环线南部"}),
    (XQ, "金西盟智能化细胞工厂项目", "planned", {"investment": "6亿元", "scale": "18亩"}),
    (JH, "天津海吉星智能供应链中心项目（万纬物流）", "planned", {"box": "专栏1现代物流产业创新发展工程"}),
    (JH, "宙纬路西段道路排水工程", "planned", {"box": "专栏8绿色发展工程"}),
    (ZJW, "浦佳地块城市更新项目", "planned", {"investment": "32.65亿元",
                                           "investment_items": [{"label": "建设投资", "value": "29.34亿元"}]}),
    (ZJW, "经纬恒润天津研发中心建设项目（二期）", "under_construction", {"progress": "有序推进"}),
    (ZJW_REPORT, "张家窝镇第三小学项目", "planned", {}),
    (ZJW_REPORT, "南站博航环路", "completed", {}),
    (XQ_PLAN, "广发新能源项目", "planned", {}),  # "加快推动…开工建设": pushed to start, not begun
    (XQ_PLAN, "大寺镇李庄子片区", "planned", {}),
])
def test_projects_from_every_document(db, doc, name, status, facts):
    items = search_commitments(db, kind="project", doc=doc, limit=None)
    hit = _find(items, name=name)
    assert hit, sorted(c.name for c in items)
    assert hit[0].status == status and {k: hit[0].fields.get(k) for k in facts} == facts
    assert hit[0].node_id.startswith(doc + "#") and name in hit[0].sentence


def test_each_plot_of_a_listed_plan_is_a_project(db):
    plots = [c for c in search_commitments(db, kind="project", doc=XQ_PLAN, limit=None)
             if c.sentence.startswith("2024年我区计划开发的地块和片区共有28个")]
    assert len(plots) == 28 and {(c.status, c.fields["progress"], c.year) for c in plots} == {("planned", "计划开发", "2024")}


@pytest.mark.parametrize("doc, lead, verb, task, partners", [
    (ZJW, "镇党委", "承担", "规划总体部署与重大决策职责", []),
    (ZJW, "镇政府", "牵头", "开展年度评估", []),
    (ZJW, "各社区", "落实", "属地服务责任", []),
    (JH, "区民政局", "配合", "建设嵌入式养老服务综合体", []),
    (JH, "统计部门", "开展", "规划指标监测和分析评估", []),
    (ZJW_REPORT, "西闫庄", "牵头", "成立强村富民公司", []),
    (ZJW_REPORT, "街镇", "落实", "属地责任", []),
    (XQ, "优势创新型企业", "牵头", "联合组建创新共同体", ["高校科研院所", "产业链上下游企业"]),
])
def test_responsibilities_keep_the_texts_own_verb(db, doc, lead, verb, task, partners):
    items = search_commitments(db, kind="responsibility", doc=doc, limit=None)
    hit = [c for c in items if (c.fields["lead"], c.fields["verb"], c.fields["task"]) == (lead, verb, task)]
    assert hit and hit[0].fields["partners"] == partners, [c.summary() for c in items]


def test_slogans_and_industry_roles_are_not_responsibilities(db):
    leads = {c.fields["lead"] for c in search_commitments(db, kind="responsibility", limit=None)}
    assert not leads & {"经纬恒润", "政府", "社区"}


def test_every_name_actor_and_figure_is_printed_in_its_sentence(memory_db):
    """The whole corpus: no record claims more than its sentence says."""
    conn, counts = memory_db
    items = search_commitments(conn, limit=None)
    assert len(items) == counts["target"] + counts["project"] + counts["responsibility"] > 700
    for c in items:
        f = c.fields
        quoted = [c.name, c.value, f.get("measure"), f.get("baseline"), f.get("investment"), f.get("scale"),
                  f.get("location"), f.get("lead"), f.get("task"), *(f.get("partners") or []),
                  *[i["value"] for i in f.get("investment_items") or []]]
        missing = [q for q in quoted if q and q not in c.sentence]
        assert not missing, (c.kind, c.name, missing, c.sentence)
        assert c.sentence in c.text or c.fields.get("origin") == "table" or c.kind == "project"


def test_a_record_not_printed_in_its_sentence_is_dropped():
    source = Source("d.txt", "d#1", "", 0, 12, "地区生产总值增长5%以上", "地区生产总值增长5%以上")
    assert Target("地区生产总值", source, value="5%").verbatim()
    assert not Target("地区生产总值", source, value="6%").verbatim()
    assert not Responsibility("开展评估", source, lead="镇政府", task="开展评估").verbatim()


def test_memory_and_disk_databases_agree(db, memory_db):
    conn, counts = memory_db
    assert counts["dropped"] == 0
    assert len(search_commitments(db, limit=None)) == len(search_commitments(conn, limit=None))


def test_fts_search_with_a_chinese_query(db, tokenizer):
    hits = search_commitments(db, tokenizer=tokenizer, query="绿色工厂")
    assert hits and all("绿色工厂" in c.name + c.text for c in hits)
    assert any(c.doc == ZJW and c.value == "1-3家" for c in hits)
    schools = search_commitments(db, kind="project", tokenizer=tokenizer, query="第三小学")
    assert {c.doc for c in schools} >= {ZJW, ZJW_REPORT}


def test_same_indicator_is_linked_across_documents_newest_first(db, tokenizer):
    (income,) = [c for c in search_commitments(db, kind="target", doc=XQ_PLAN, tokenizer=tokenizer, query="居民人均可支配收入")
                 if c.value == "49200元"]
    related = [(r["doc"], r["value"]) for r in income.related]
    assert (XQ, "47300元") in related
    dates = [r["date"] for r in income.related]
    assert dates == sorted(dates, reverse=True)
    (brand,) = _find(search_commitments(db, kind="target", doc=XQ, tokenizer=tokenizer, query="津农精品"), value="20个")
    assert {(r["value"], r["status"]) for r in brand.related} >= {("18个", REPORTED), ("2个", PLANNED)}


def test_match_for_question_prefers_place_year_and_kind(db, tokenizer):
    best = match_for_question(db, tokenizer, ["一般公共预算收入"], ["张家窝镇"], ["2024"], "target")
    assert best and best[0].value == "2.34亿元" and best[0].doc == ZJW_REPORT
    projects = match_for_question(db, tokenizer, ["中芯", "晶圆"], ["西青区"], [], "project")
    assert projects[0].fields["investment"] == "516亿元"
    assert match_for_question(db, tokenizer, ["一般公共预算收入"], ["静海镇"], [], "project") == [] or all(
        c.place == "静海镇" for c in match_for_question(db, tokenizer, ["一般公共预算收入"], ["静海镇"], [], None))


def _run(capsys, corpus_config, *args):
    from qa.app.cli import main

    code = main(["--corpus", str(corpus_config.corpus_dir), "--index", str(corpus_config.index_dir),
                 "commitments", *args])
    out = capsys.readouterr().out
    assert code == 0
    return out


CONTRACT = {"kind", "doc", "name", "status", "value", "unit", "year", "sentence"}
OWN_FIELDS = {"target": {"measure", "baseline", "baseline_year", "attribute", "qualifier"},
              "project": {"investment", "investment_items", "location", "scale", "start_year", "completion_year", "box"},
              "responsibility": {"lead", "partners", "task", "verb"}}


def test_cli_json_is_the_documented_contract(assistant, corpus_config, capsys):
    """`qa commitments --json`: kind, doc, name, status, value, unit, year, the kind's own fields
    and the sentence, all at the top level (README, what outside evaluators read)."""
    data = json.loads(_run(capsys, corpus_config, "--json"))
    for kind, own in OWN_FIELDS.items():
        records = [d for d in data if d["kind"] == kind]
        assert records and all(CONTRACT | own <= set(d) for d in records), kind
    table = [d for d in data if d.get("origin") == "table"]
    assert len(table) == 40 and all(d["value"] in d["sentence"] and d["status"] == "planned" for d in table)
    reported = json.loads(_run(capsys, corpus_config, "--kind", "target", "--status", "reported", "--json"))
    assert reported and {d["status"] for d in reported} == {"reported"}


def test_cli_csv_with_filters(assistant, corpus_config, capsys):
    out = _run(capsys, corpus_config, "--kind", "project", "--place", "西青区", "--query", "晶圆", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and all(r["kind"] == "project" and r["place"] == "西青区" for r in rows)
    assert any("516亿元" in r["summary"] for r in rows)


def test_cli_text_output_names_the_source(assistant, corpus_config, capsys):
    out = _run(capsys, corpus_config, "--kind", "responsibility", "--doc", "zhangjiawo-15th")
    assert "镇党委" in out and "出处：张家窝镇“十五五”规划纲要" in out


@pytest.mark.parametrize("question, answer", [
    ("浦佳地块城市更新项目总投资多少？其中建设投资是多少？", "浦佳地块城市更新项目：总投资32.65亿元，其中建设投资29.34亿元[1]"),
    ("中芯西青12英寸晶圆代工生产线项目总投资多少？", "中芯西青12英寸晶圆代工生产线项目：总投资516亿元[1]"),
])
def test_a_projects_figures_answer_from_its_record(assistant, question, answer):
    """Asked how much a project invests, the answer is the record: its name and each investment
    with the text's own label, cited to the sentence that prints them."""
    result = assistant.ask(question)
    assert result.answer == answer
    assert "32.65" not in answer or "29.34" in result.citations[0].sentence
