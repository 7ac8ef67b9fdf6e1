"""Catalog inference: title, issuer, place, kind, date and period read from a document's own
header and footer, on realistic variants of how government documents announce themselves."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.ingest.catalog import (chinese_number, five_year_periods, five_year_plan, infer_kind,
                               infer_metadata, national_gazetteer)
from qa.ingest.loading import repair_text

CASES = [json.loads(line) for line in
         (Path(__file__).parent / "data" / "catalog_headers.jsonl").read_text(encoding="utf-8").splitlines()]
BODY = "\n".join(f"（{i}）推进重点工作，2019年以来完成各项任务。" for i in range(1, 46))


@pytest.fixture(scope="module")
def gazetteer():
    return national_gazetteer()


def test_there_are_at_least_thirty_header_and_footer_variants():
    assert len(CASES) >= 30 and len({c["case"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_fields_are_inferred_from_header_and_footer(case, gazetteer):
    text = case["text"] + ("\n" + BODY + case["tail"] if "tail" in case else "")
    meta = infer_metadata(repair_text(text), "file", gazetteer)
    assert {key: meta[key] for key in case["expected"]} == case["expected"]


def test_place_is_given_as_a_hierarchy(gazetteer):
    meta = infer_metadata("湖北省武汉市江夏区五里界街道2024年工作要点\n一、总体要求", "f", gazetteer)
    assert meta["place_path"] == "湖北省 › 武汉市 › 江夏区 › 五里界街道" and meta["level"] == "街道"


@pytest.mark.parametrize("text, number", [("二〇二四", 2024), ("十八", 18), ("二十三", 23), ("十", 10),
                                          ("三", 3), ("2025", 2025)])
def test_chinese_numerals_in_dates(text, number):
    assert chinese_number(text) == number


def test_five_year_plans_are_numbered_from_1953_with_the_1963_to_1965_gap():
    assert five_year_plan(1) == "1953-1957" and five_year_plan(3) == "1966-1970"
    assert five_year_plan(14) == "2021-2025" and five_year_plan(15) == "2026-2030"
    assert five_year_periods("“十五五”时期与第十四个五年规划") == ["2026-2030", "2021-2025"]
    assert five_year_periods("十五分钟生活圈") == []


@pytest.mark.parametrize("title, kind", [
    ("某市人民政府关于同意某区2024年度成片开发方案的批复", "批复"),
    ("某县关于加快发展县域经济的实施意见", "意见"),
    ("某镇国民经济和社会发展第十五个五年规划纲要", "规划纲要"),
    ("某区2023年国民经济和社会发展计划执行情况与2024年计划", "年度计划与执行"),
    ("某区综合交通发展规划（2021—2025年）", "专项规划"),
    ("会议纪要", "其他"),
])
def test_kind_is_what_the_title_is_about_else_its_last_genre_word(title, kind):
    assert infer_kind(title) == kind
