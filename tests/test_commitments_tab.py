"""The staff's commitments tab: callbacks called directly, with a fake and with the real database."""
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from qa.app import commitments_tab as tab
from qa.app import web


@pytest.fixture
def runtime(corpus_config, assistant, tmp_path):
    return web.Runtime(replace(corpus_config, feedback_db=tmp_path / "feedback.sqlite"), assistant=assistant)


TARGET = {"kind": "target", "status": "planned", "place": "静海镇", "short_title": "静海镇规划", "doc": "j.txt",
          "name": "招商引资实际到位", "measure": "", "value": "26.8亿元/年", "unit": "亿元", "year": "2025",
          "baseline": "20", "baseline_year": "2020", "attribute": "预期性",
          "heading": "第二章 › 第三节", "text": "前文<i>x</i>。招商引资实际到位达到26.8亿元/年。",
          "sentence": "招商引资实际到位达到26.8亿元/年。", "summary": "招商引资实际到位：2025年 26.8亿元/年（计划）",
          "related": [{"short_title": "别的文件", "name": "招商引资", "value": "20", "unit": "亿元", "year": "2024",
                       "status": "reported"}]}
PROJECT = {"kind": "project", "status": "under_construction", "name": "某某小学", "value": "3亿元", "unit": "",
           "year": "2024", "investment": "3亿元", "scale": "20亩", "short_title": "某规划"}
DUTY = {"kind": "responsibility", "status": "planned", "name": "开展年度评估", "lead": "镇政府",
        "partners": ["统计部门"], "task": "开展年度评估", "year": "2026-2030"}


def test_rows_put_status_baseline_target_investment_and_lead_in_their_own_columns():
    assert tab.commitment_row(TARGET) == ["目标指标", "计划", "招商引资实际到位", "20（2020）", "26.8亿元/年", "2025",
                                          "预期性", "", "", "静海镇规划"]
    assert tab.commitment_row(PROJECT) == ["项目", "在建", "某某小学", "", "20亩", "2024", "", "3亿元", "", "某规划"]
    assert tab.commitment_row(DUTY)[1:3] == ["计划", "开展年度评估"] and tab.commitment_row(DUTY)[8] == "镇政府（与统计部门）"


def test_query_passes_every_filter_and_names_the_csv_for_them(runtime, monkeypatch):
    calls = []

    def search(db_path, kind, place, doc, query, limit=100, tokenizer=None, status=None, attribute=None,
               years=None):
        calls.append((db_path.name, kind, place, doc, query, limit, status, attribute, years))
        return [SimpleNamespace(to_json=lambda: TARGET)]
    monkeypatch.setattr(tab, "search_db", search)
    rows, records, csv_path, count, source = tab.commitments_query(
        "target", "planned", "预期性", "静海镇", "", 2021, "2025", " 招商 ", runtime)
    assert calls == [("commitments.sqlite", "target", "静海镇", None, "招商", None, "planned", "预期性", (2021, 2025))]
    assert len(rows) == 1 and "共 1 条" in count and source == tab.NO_SOURCE
    assert Path(csv_path).name == "承诺_目标指标_计划_预期性_静海镇_2021-2025_招商.csv"
    content = open(csv_path, encoding="utf-8-sig").read()
    assert content.startswith("类型,状态,事项,基期值,目标/数值") and "26.8亿元/年" in content


def test_the_source_passage_follows_the_selected_row():
    records = [TARGET, PROJECT]
    source = tab.commitment_source(records, 0)
    assert "<mark>招商引资实际到位达到26.8亿元/年。</mark>" in source and "别的文件" in source and "已实现" in source
    assert "<i>" not in source and tab.commitment_source(records, 5) == tab.NO_SOURCE
    assert "某某小学" not in source and "某规划" in tab.commitment_source(records, 1)


def test_filters_without_a_choice_name_the_whole_download():
    assert tab.Filters().file_name() == "承诺_全部.csv"


def test_commitments_with_the_real_database(runtime):
    rows, records, _, count, _ = tab.commitments_query("", "", "", "静海镇", "", None, None, "招商引资", runtime)
    assert rows and all(r["place"] == "静海镇" for r in records), count
    assert "<mark>" in tab.commitment_source(records, 0)
    reported = tab.commitments_query("target", "reported", "", "", "", 2016, 2020, "", runtime)[1]
    years = [[int(y) for y in r["year"].split("-")] for r in reported]
    assert reported and all(r["status"] == "reported" for r in reported)
    assert all(min(y) <= 2020 and max(y) >= 2016 for y in years) and [2016, 2020] in years
    constrained = tab.commitments_query("target", "", "约束性", "", "", None, None, "", runtime)[1]
    assert constrained and all(r["attribute"] == "约束性" for r in constrained)
    web.build_app(runtime)  # the tab builds its filters from the records
