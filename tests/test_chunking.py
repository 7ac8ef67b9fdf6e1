"""Heading paths, passage sizes and spans on the real corpus, plus inline edge cases."""
from __future__ import annotations

import pytest
from llama_index.core import Document

from qa.ingest.catalog import Header, infer_title
from qa.ingest.chunking import PATH_SEPARATOR, paragraph_lead, split_sentences
from qa.ingest.node_parser import HeadingNodeParser
from qa.ingest.loading import load_documents
from tests.conftest import CORPUS


@pytest.fixture(scope="module")
def nodes_by_doc():
    documents, _ = load_documents(CORPUS)
    parser = HeadingNodeParser(max_chars=360, min_chars=40)
    return {d.metadata["doc"]: (d, parser.get_nodes_from_documents([d])) for d in documents}


def _find(nodes, fragment):
    return [n for n in nodes if fragment in n.get_content()]


def test_heading_path_of_a_table_row(nodes_by_doc):
    _, nodes = nodes_by_doc["zhangjiawo-15th-five-year-plan-2026-2030.txt"]
    [row] = [n for n in _find(nodes, "全社会研发经费投入强度") if n.metadata["type"] == "table_row"]
    assert row.metadata["heading"] == PATH_SEPARATOR.join([
        "第二章 总体要求与发展目标", "3.核心发展目标（2026-2030）", "张家窝镇“十五五”时期经济社会发展主要指标"])
    assert "3.8" in row.get_content() and "预期性" in row.get_content()


def test_heading_path_runs_from_chapter_to_section_and_bold_lead(nodes_by_doc):
    _, nodes = nodes_by_doc["jinghai-town-14th-five-year-plan-2021-2025.txt"]
    [node] = _find(nodes, "累计完成招商引资129.69亿元")
    path = node.metadata["heading"].split(PATH_SEPARATOR)
    assert path[:2] == ["第一章 发展基础和发展环境", "第一节 发展基础"]
    assert path[-1] == "招商引资取得新成绩"


def test_report_headings_use_chinese_numbering(nodes_by_doc):
    _, nodes = nodes_by_doc["zhangjiawo-government-work-report-2024.txt"]
    [node] = _find(nodes, "78.46亿元")
    assert node.metadata["heading"].startswith("一、2023年工作回顾 › （一）奋力抓产业稳增长")


def test_box_items_are_separate_passages(nodes_by_doc):
    _, nodes = nodes_by_doc["xiqing-new-urbanization-plan-2023-2025.txt"]
    items = [n for n in nodes if n.metadata["type"] == "box_item"
             and n.metadata["heading"].endswith("专栏3制造业升级提升工程")]
    assert len(items) >= 5
    assert items[0].get_content().startswith("1.中芯西青12英寸晶圆代工生产线项目")
    assert all(n.get_content()[0].isdigit() for n in items)


def test_every_table_row_is_its_own_passage(nodes_by_doc):
    counts = {doc: sum(n.metadata["type"] == "table_row" for n in nodes)
              for doc, (_, nodes) in nodes_by_doc.items()}
    assert counts["zhangjiawo-15th-five-year-plan-2026-2030.txt"] == 9
    assert counts["xiqing-new-urbanization-plan-2023-2025.txt"] == 18
    assert counts["jinghai-town-14th-five-year-plan-2021-2025.txt"] == 13


def test_passages_are_bounded_and_spans_point_into_the_text(nodes_by_doc):
    for doc, (document, nodes) in nodes_by_doc.items():
        for node in nodes:
            if node.metadata["type"] == "table_row":
                continue
            body = node.get_content()
            assert len(body) <= 360 + 200, (doc, node.metadata["heading"])  # one sentence may overrun
            assert document.text[node.start_char_idx:node.end_char_idx].strip() == body
            assert node.metadata["title"] and node.metadata["place"]


def test_long_paragraph_is_split_at_sentence_ends():
    text = "第一章 总则\n" + "。".join(["这是一个用于测试的较长句子内容" * 3] * 12) + "。\n"
    [document] = [Document(text=text, metadata={"doc": "t.txt"})]
    nodes = HeadingNodeParser(max_chars=120, min_chars=20).get_nodes_from_documents([document])
    assert len(nodes) > 3
    assert all(n.get_content().endswith("。") for n in nodes)
    assert all(n.metadata["heading"] == "第一章 总则" for n in nodes)


def test_short_paragraphs_under_one_heading_are_merged():
    text = "第一节 目标\n短段落一。\n短段落二。\n第二节 措施\n另一段。\n"
    nodes = HeadingNodeParser(max_chars=200, min_chars=20).get_nodes_from_documents(
        [Document(text=text, metadata={"doc": "t.txt"})])
    assert [n.metadata["heading"] for n in nodes] == ["第一节 目标", "第二节 措施"]
    assert "短段落一。" in nodes[0].get_content() and "短段落二。" in nodes[0].get_content()


def test_deeper_heading_is_replaced_by_a_sibling():
    text = "第一章 甲\n第一节 乙\n内容一，足够长的段落文字。\n第二节 丙\n内容二，足够长的段落文字。\n"
    nodes = HeadingNodeParser().get_nodes_from_documents([Document(text=text, metadata={"doc": "t"})])
    assert [n.metadata["heading"] for n in nodes] == ["第一章 甲 › 第一节 乙", "第一章 甲 › 第二节 丙"]


def test_markdown_headings_are_headings_named_without_their_marks():
    text = ("# 西青区2024年政府工作报告\n\n## 一、2023年工作回顾\n\n新建公共充电桩3268台，建成5G基站5721座。\n\n"
            "### 民生保障 ###\n\n新增养老床位不少于150张，新增托位1200个。\n\n## 二、2024年工作安排\n\n"
            "#话题# 不是标题，后面也是正文。\n")
    nodes = HeadingNodeParser(max_chars=200, min_chars=10).get_nodes_from_documents(
        [Document(text=text, metadata={"doc": "t.md"})])
    assert [(n.metadata["heading"], n.get_content()) for n in nodes] == [
        ("西青区2024年政府工作报告 › 一、2023年工作回顾", "新建公共充电桩3268台，建成5G基站5721座。"),
        ("西青区2024年政府工作报告 › 一、2023年工作回顾 › 民生保障", "新增养老床位不少于150张，新增托位1200个。"),
        ("西青区2024年政府工作报告 › 二、2024年工作安排", "#话题# 不是标题，后面也是正文。")]


def test_a_markdown_title_line_names_the_document_not_a_heading_level():
    text = "# 西青区2024年政府工作报告\n\n## 一、2023年工作回顾\n\n新建公共充电桩3268台，建成5G基站5721座。\n"
    assert infer_title(Header.of(text), "t") == ("西青区2024年政府工作报告", False)
    nodes = HeadingNodeParser(max_chars=200, min_chars=10).get_nodes_from_documents(
        [Document(text=text, metadata={"doc": "t.md", "title": "西青区2024年政府工作报告"})])
    assert [n.metadata["heading"] for n in nodes] == ["一、2023年工作回顾"]


def test_sentence_split_and_lead():
    assert split_sentences("甲。乙！丙？丁") == ["甲。", "乙！", "丙？", "丁"]
    assert paragraph_lead("制造业支撑更加强劲。聚焦强龙头补链条。") == "制造业支撑更加强劲"
    assert paragraph_lead("——城镇化水平和质量稳步提高。到2025年，城镇化健康有序发展。") == "城镇化水平和质量稳步提高"
    assert paragraph_lead("没有句号的段落") == ""
