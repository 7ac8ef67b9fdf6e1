"""Indicator tables: canonical form from both raw layouts, and one citable row each."""
from __future__ import annotations

from pathlib import Path

import pytest

from qa.ingest.loading import repair_text
from qa.ingest.tables import canonicalize_tables, find_tables, split_unit

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
FILES = {
    "zjw": "zhangjiawo-15th-five-year-plan-2026-2030.txt",
    "xq": "xiqing-new-urbanization-plan-2023-2025.txt",
    "jh": "jinghai-town-14th-five-year-plan-2021-2025.txt",
}
TARGET_COLUMN = {"zjw": "2030年目标数", "xq": "2025年目标", "jh": "2025年目标"}
TITLES = {
    "zjw": "张家窝镇“十五五”时期经济社会发展主要指标",
    "xq": "2023—2025年新型城镇化发展主要指标",
    "jh": "表1 “十四五”时期经济社会发展主要指标",
}
NOTES = {
    "zjw": "“[]”为五年累计数，“*”为五年平均数",
    "xq": "〔〕为五年累计数。",
    "jh": "〔 〕内数字为五年累计数。",
}
HEADERS = {
    "zjw": ["序号", "指标", "2025年预计数", "2030年目标数", "属性"],
    "xq": ["类别", "序号", "指标", "2025年目标", "属性"],
    "jh": ["序号", "主要指标", "单位", "2020年", "2025年目标", "年均增长", "属性"],
}
# (table, 序号, category, indicator, unit, target value, 属性) exactly as printed.
ROWS = [
    ("zjw", "1", "高质量发展", "地区工业总产值增速", "%", "[40-46]", "预期性"),
    ("zjw", "2", "高质量发展", "常住人口城镇化率", "%", "97", "预期性"),
    ("zjw", "3", "科技创新", "全社会研发经费投入强度", "%", "3.8", "预期性"),
    ("zjw", "4", "科技创新", "每万人口高价值发明专利拥有量", "件", "18.7", "预期性"),
    ("zjw", "5", "科技创新", "工业战略性新兴产业总产值", "亿元", "135", "预期性"),
    ("zjw", "6", "生活品质", "居民人均可支配收入增长", "%", "与经济增长基本同步", "预期性"),
    ("zjw", "7", "生活品质", "义务教育巩固率", "%", ">99", "预期性"),
    ("zjw", "8", "生活品质", "人均预期寿命", "岁", "83.2", "预期性"),
    ("zjw", "9", "美丽张家窝", "细颗粒物（PM _{2.5} ）浓度", "微克/每立方米", "完成天津市下达目标", "约束性"),
    ("xq", "1", "城镇化水平", "常住人口城镇化率", "%", "完成“十四五”规划目标", "预期性"),
    ("xq", "2", "城镇化水平", "居民人均可支配收入增长", "%", "与经济增长基本同步", "预期性"),
    ("xq", "3", "市民化质量", "外来务工人员随迁子女在公办学校接受义务教育比例", "%", "100", "预期性"),
    ("xq", "4", "市民化质量", "学前三年毛入园率", "%", ">90", "预期性"),
    ("xq", "5", "市民化质量", "每千常住人口拥有执业（助理）医师数", "人", "落实市里下达指标", "预期性"),
    ("xq", "6", "市民化质量", "基本养老保险参保人数", "万人", "23.32", "预期性"),
    ("xq", "7", "市民化质量", "基本医疗保险参保人数", "万人", "65.97", "预期性"),
    ("xq", "8", "市民化质量", "城镇调查失业率", "%", "6以内", "预期性"),
    ("xq", "9", "市民化质量", "新增劳动力平均受教育年限", "年", "15.4", "预期性"),
    ("xq", "10", "市民化质量", "城镇新增就业", "万人", "每年不少于2.3万人", "预期性"),
    ("xq", "11", "城市功能", "制造业增加值占地区生产总值比重", "%", "35", "预期性"),
    ("xq", "12", "城市功能", "城市公园绿地服务半径覆盖率", "%", "80", "预期性"),
    ("xq", "13", "城市功能", "城镇生活垃圾无害化处理率", "%", "100", "约束性"),
    ("xq", "14", "城市功能", "除特殊事项外政务服务事项网上可办比例", "%", "100", "预期性"),
    ("xq", "15", "生态环境", "单位GDP能源消耗降低", "%", "﹝15﹞", "约束性"),
    ("xq", "16", "生态环境", "城市空气质量优良天数比例", "%", "落实市里下达指标", "约束性"),
    ("xq", "17", "生态环境", "地表水达到或优于Ⅲ类水体比例", "%", "落实市里下达指标", "约束性"),
    ("xq", "18", "生态环境", "森林覆盖率", "%", "14", "约束性"),
    ("jh", "1", "经济发展", "地区生产总值增长率", "%", "7", "预期性"),
    ("jh", "2", "经济发展", "一般公共预算收入增速", "%", "——", "预期性"),
    ("jh", "3", "经济发展", "固定资产投资", "亿元", "〔332.69〕", "预期性"),
    ("jh", "4", "生态建设", "城镇生活垃圾分类覆盖率", "%", "100", "约束性"),
    ("jh", "5", "生态建设", "城镇生活垃圾无害化处理率", "%", "100", "约束性"),
    ("jh", "6", "生态建设", "单位地区生产总值建设用地面积降幅", "%", "完成区下达目标任务", "约束性"),
    ("jh", "7", "生态建设", "闲置土地处置率", "%", "完成区下达目标任务", "预期性"),
    ("jh", "8", "生态建设", "城镇污水集中处理率", "%", "≥95", "约束性"),
    ("jh", "9", "生态建设", "农村污水处理率", "%", "100", "约束性"),
    ("jh", "10", "民生福祉", "新增就业人数", "万人", "〔1.2〕", "预期性"),
    ("jh", "11", "民生福祉", "九年义务教育完成率", "%", "100", "预期性"),
    ("jh", "12", "治理效能", "农产品质量安全监测总体合格率", "%", "≥98", "约束性"),
    ("jh", "13", "治理效能", "食品安全评价性抽检合格率", "%", "≥98", "约束性"),
]


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    return {key: repair_text((CORPUS / name).read_text(encoding="utf-8")) for key, name in FILES.items()}


@pytest.fixture(scope="module")
def tables(texts):
    found = {key: find_tables(text) for key, text in texts.items()}
    assert all(len(t) == 1 for t in found.values())
    return {key: t[0] for key, t in found.items()}


@pytest.mark.parametrize("key, count", [("zjw", 9), ("xq", 18), ("jh", 13)])
def test_each_indicator_table_has_all_its_rows_title_header_and_note(tables, key, count):
    table = tables[key]
    assert len(table.rows) == count
    assert table.title == TITLES[key] and table.header == HEADERS[key] and table.note == NOTES[key]
    assert all(row.note == NOTES[key] and row.table_title == TITLES[key] for row in table.rows)


@pytest.mark.parametrize("key, number, category, indicator, unit, target, attribute", ROWS)
def test_every_row_keeps_indicator_target_and_attribute_as_printed(
        tables, key, number, category, indicator, unit, target, attribute):
    row = next(r for r in tables[key].rows if r.number == number)
    assert (row.category, row.indicator, row.unit, row.attribute) == (category, indicator, unit, attribute)
    assert dict(row.values)[TARGET_COLUMN[key]] == target
    assert target in row.text and attribute in row.text and NOTES[key].rstrip("。") in row.text


def test_row_sentence_reads_as_documented(tables):
    assert tables["zjw"].rows[0].text == (
        "张家窝镇“十五五”时期经济社会发展主要指标｜高质量发展｜地区工业总产值增速（单位：%）："
        "2025年预计数16.98；2030年目标数[40-46]；属性：预期性。注：“[]”为五年累计数，“*”为五年平均数。")


def test_merged_two_row_header_gives_values_in_column_order(tables):
    row = next(r for r in tables["jh"].rows if r.number == "3")
    assert row.values == [("2020年", "——"), ("2025年目标", "〔332.69〕"), ("年均增长", "10")]
    row2 = next(r for r in tables["jh"].rows if r.number == "2")
    assert dict(row2.values)["年均增长"] == "与GDP增长保持同步"


def _is_subsequence(needle: str, haystack: str) -> bool:
    it = iter(haystack)
    return all(ch in it for ch in needle)


@pytest.mark.parametrize("key", ["zjw", "xq", "jh"])
def test_row_sentence_contains_the_original_cells_in_order(tables, key):
    for row in tables[key].rows:
        original = row.indicator + (f"（{row.unit}）" if row.unit else "") + "".join(
            v for _, v in row.values) + row.attribute
        assert _is_subsequence(original, row.text), row.text


@pytest.mark.parametrize("key", ["zjw", "xq", "jh"])
def test_span_covers_title_through_note(texts, tables, key):
    table = tables[key]
    block = texts[key][table.start:table.end]
    assert block.startswith(TITLES[key]) and block.endswith(NOTES[key])
    assert all("\t" in line for line in block.split("\n")[1:-1])


def test_split_unit_takes_only_the_last_parenthesis():
    assert split_unit("地区工业总产值增速（%）") == ("地区工业总产值增速", "%")
    assert split_unit("细颗粒物（PM _{2.5} ）浓度（微克/每立方米）") == ("细颗粒物（PM _{2.5} ）浓度", "微克/每立方米")
    assert split_unit("固定资产投资") == ("固定资产投资", "")


def test_row_per_line_layout_drops_repeated_header_and_blank_lines():
    raw = ("主要指标表\n\n序号\t指标\t2025年\t属性\n科技\t\t\t\n1\t研发强度（%）\t3.2\t预期性\n\n"
           "序号\t指标\t2025年\t属性\n2\t专利（件）\t16.5\t预期性\n注\t“[]”为累计数\t\t\n\n正文。")
    assert canonicalize_tables(raw) == ("主要指标表\n序号\t指标\t2025年\t属性\n科技\t\t\t\n"
                                        "1\t研发强度（%）\t3.2\t预期性\n2\t专利（件）\t16.5\t预期性\n"
                                        "注：“[]”为累计数\n\n\n正文。")


def test_cell_per_line_layout_rebuilds_rows_with_wrapped_cells():
    raw = ("城镇化指标\n\n\t类别\n\t序号\n\t指标\n\t2025年\n目标\n\t属性\n\n\t城镇\n化水平\n\t1\n"
           "\t城镇化率（%）\n\t与GDP增长\n\n保持同步\n\t预期性\n\n\t\n\t2\n\t就业（万人）\n\t2.3\n\t预期性\n\n\n注：说明。\n正文。")
    out = canonicalize_tables(raw)
    assert out.startswith("城镇化指标\n类别\t序号\t指标\t2025年目标\t属性\n"
                          "城镇化水平\t1\t城镇化率（%）\t与GDP增长保持同步\t预期性\n"
                          "\t2\t就业（万人）\t2.3\t预期性\n注：说明。\n")
    (table,) = find_tables(out)
    assert [r.category for r in table.rows] == ["城镇化水平", "城镇化水平"]


def test_text_without_tables_is_unchanged():
    text = "第一章 总则\n\n\t专栏1 工程\n\n正文。"
    assert canonicalize_tables(text) == text
    assert find_tables(text) == []
