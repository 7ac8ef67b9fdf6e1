"""Commitments as data: every indicator row, text targets, 专栏 projects and responsibilities."""
from __future__ import annotations

import csv
import io
import json
import re

import pytest

from qa.commitments.database import DB_NAME, build_into, numbers_verbatim, open_db
from qa.commitments.search import match_for_question, search_commitments
from qa.commitments.extract import Record

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
    from qa.ingest.chunking import HeadingNodeParser
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
        (c.fields.get(k) if k not in ("name", "value", "year", "doc", "place", "unit") else getattr(c, k)) == v
        for k, v in want.items())]


def test_index_build_writes_the_database_as_a_checked_artifact(assistant, db):
    assert db.exists()
    assert DB_NAME in assistant.index.manifest["artifacts"]


def test_table_rows_all_present_with_source(db):
    rows = [c for c in search_commitments(db, kind="target", limit=None) if c.fields["source"] == "table"]
    by_doc = {d: sum(1 for c in rows if c.doc == d) for d in (ZJW, XQ, JH)}
    assert by_doc == {ZJW: 9, XQ: 18, JH: 13}
    assert all(c.node_id.startswith(c.doc + "#") and c.value in c.text and c.heading for c in rows)


@pytest.mark.parametrize("key, number, category, indicator, unit, target, attribute", ROWS)
def test_every_indicator_row_is_stored_as_printed(db, key, number, category, indicator, unit, target,
                                                  attribute):
    rows = search_commitments(db, kind="target", doc=FILES[key], limit=None)
    (row,) = [c for c in rows if c.fields["source"] == "table" and c.fields["number"] == number]
    f = row.fields
    assert (row.name, row.unit, f["category"], f["attribute"]) == (indicator, unit, category, attribute)
    assert row.value == f["target_value"] == target
    assert f["target_year"] == TARGET_COLUMN[key][:4] == row.year
    assert f["note"] and row.text.startswith(f["table"])


def test_table_rows_keep_base_year_growth_and_cumulative_note(db):
    rows = search_commitments(db, kind="target", doc=JH, limit=None)
    investment = _find(rows, name="固定资产投资", source="table")[0].fields
    assert (investment["base_year"], investment["growth"], investment["value_note"]) == ("2020", "10", "五年累计数")
    zjw = search_commitments(db, kind="target", doc=ZJW, limit=None)
    output = _find(zjw, name="地区工业总产值增速")[0].fields
    assert (output["base_year"], output["base_value"], output["value_note"]) == ("2025", "16.98", "五年累计数")


@pytest.mark.parametrize("doc, subject, value, year, qualifier", [
    (ZJW, "打造绿色工厂", "1-3家", "2030", "力争"),
    (ZJW, "新建建筑全面执行绿色建筑标准", "100%", "2026-2030", ""),
    (ZJW_REPORT, "完成一般公共预算收入", "2.34亿元", "2024", ""),
    (ZJW_REPORT, "固定资产投资", "31.4亿元", "2024", ""),
    (XQ_PLAN, "地区生产总值增长", "5%", "2024", "以上"),
    (XQ_PLAN, "新增“津农精品”品牌", "2个", "2024", ""),
    (XQ, "培育“津农精品”品牌", "20个", "2025", "以上"),
    (JH, "全镇新增就业人数", "12000人", "2021-2025", ""),
])
def test_text_targets_from_every_document(db, doc, subject, value, year, qualifier):
    items = search_commitments(db, kind="target", doc=doc, limit=None)
    hit = _find(items, name=subject, value=value, year=year)
    assert hit, [c.summary() for c in items if subject[:4] in c.name]
    assert hit[0].fields["qualifier"].split("/")[0] == qualifier or qualifier in hit[0].fields["qualifier"]
    assert hit[0].fields["stance"] == "目标" and value in hit[0].text


def test_progress_values_are_marked_as_progress(db, tokenizer):
    items = search_commitments(db, kind="target", doc=XQ_PLAN, tokenizer=tokenizer, query="津农精品", limit=None)
    assert _find(items, value="18个", year="2023")[0].fields["stance"] == "进展"


@pytest.mark.parametrize("doc, name, facts", [
    (XQ, "中芯西青12英寸晶圆代工生产线项目", {"investment": "516亿元", "box": "专栏3制造业升级提升工程"}),
    (XQ, "南部产城示范中心先导区", {"investment": "200亿元", "scale": "2平方公里",
                                   "location": "天津市外环线南部"}),
    (XQ, "金西盟智能化细胞工厂项目", {"investment": "6亿元", "scale": "18亩"}),
    (JH, "天津海吉星智能供应链中心项目（万纬物流）", {"box": "专栏1现代物流产业创新发展工程"}),
    (JH, "宙纬路西段道路排水工程", {"box": "专栏8绿色发展工程"}),
    (ZJW, "浦佳地块城市更新项目", {"investment": "32.65亿元"}),
    (ZJW, "经纬恒润天津研发中心建设项目（二期）", {"status": "有序推进"}),
    (ZJW_REPORT, "张家窝镇第三小学项目", {"status": "启动前期准备"}),
    (ZJW_REPORT, "瑞锦路商业街绿化提升工程", {}),
    (XQ_PLAN, "广发新能源项目", {}),
    (XQ_PLAN, "西营门街大明道周边更新项目", {}),
])
def test_projects_from_every_document(db, doc, name, facts):
    items = search_commitments(db, kind="project", doc=doc, limit=None)
    hit = _find(items, name=name)
    assert hit, sorted(c.name for c in items)
    assert {k: hit[0].fields.get(k) for k in facts} == facts
    assert hit[0].node_id.startswith(doc + "#") and name[:4] in hit[0].text


def test_box_items_are_projects_with_their_box(db):
    items = search_commitments(db, kind="project", doc=XQ, limit=None)
    boxed = [c for c in items if c.fields.get("source") == "box"]
    assert len({c.fields["box"] for c in boxed}) == 7 and all(c.heading.endswith(c.fields["box"]) for c in boxed)


@pytest.mark.parametrize("doc, actor, role, task_start, partner", [
    (ZJW, "镇党委", "承担", "规划总体部署与重大决策职责", ""),
    (ZJW, "镇政府", "牵头", "开展年度评估", ""),
    (ZJW, "经纬恒润", "链主", "有序推进经纬恒润天津研发中心建设项目（二期）", ""),
    (JH, "静海镇", "配合", "建设嵌入式养老服务综合体", "区民政局"),
    (JH, "统计部门", "负责", "规划指标监测和分析评估", ""),
    (ZJW_REPORT, "西闫庄", "牵头", "成立强村富民公司", ""),
    (XQ, "政府", "负责", "", ""),
])
def test_responsibilities(db, doc, actor, role, task_start, partner):
    items = search_commitments(db, kind="responsibility", doc=doc, limit=None)
    hit = [c for c in items if c.fields["actor"] == actor and c.fields["role"] == role
           and c.fields["task"].startswith(task_start) and c.fields["partner"] == partner]
    assert hit, [c.summary() for c in items]


def test_xiqing_plan_has_records_of_every_kind_but_responsibility(db):
    kinds = {c.kind for c in search_commitments(db, doc=XQ_PLAN, limit=None)}
    assert {"target", "project"} <= kinds


def test_every_stored_number_is_verbatim_in_its_passage(memory_db):
    conn, counts = memory_db
    items = search_commitments(conn, limit=None)
    assert len(items) == counts["target"] + counts["project"] + counts["responsibility"]
    for c in items:
        for key in ("value", "base_value", "target_value", "growth", "investment", "scale"):
            value = c.value if key == "value" else c.fields.get(key, "")
            if re.search(r"\d", value or ""):
                assert value in c.text, (c.node_id, key, value)


def test_a_record_with_a_number_not_in_its_passage_is_rejected():
    record = Record("target", "地区生产总值增长", "d#1", "d", "", 0, 10, "地区生产总值增长5%以上",
                    value="6%", year="2024")
    assert not numbers_verbatim(record)
    record.value = "5%"
    assert not numbers_verbatim(record)  # the year is printed nowhere
    record.passage = "2024年地区生产总值增长5%以上"
    assert numbers_verbatim(record)


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
    assert {(r["value"], r["stance"]) for r in brand.related} >= {("18个", "进展"), ("2个", "目标")}


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


def test_cli_json_lists_every_indicator_row_with_its_source(assistant, corpus_config, capsys):
    data = json.loads(_run(capsys, corpus_config, "--kind", "target", "--json"))
    table = [d for d in data if d["fields"]["source"] == "table"]
    assert len(table) == 40
    assert all(d["node_id"] and d["doc"] and d["heading"] and d["value"] in d["text"] for d in table)
    assert {d["kind"] for d in data} == {"target"}


def test_cli_csv_with_filters(assistant, corpus_config, capsys):
    out = _run(capsys, corpus_config, "--kind", "project", "--place", "西青区", "--query", "晶圆", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and all(r["kind"] == "project" and r["place"] == "西青区" for r in rows)
    assert any("516亿元" in r["summary"] for r in rows)


def test_cli_text_output_names_the_source(assistant, corpus_config, capsys):
    out = _run(capsys, corpus_config, "--kind", "responsibility", "--doc", "zhangjiawo-15th")
    assert "镇党委" in out and "出处：张家窝镇“十五五”规划纲要" in out
