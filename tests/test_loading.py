"""Reading corpus files and repairing converted text."""
from __future__ import annotations

import json
import re
import shutil
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from qa.ingest import loading
from qa.errors import DocumentError
from qa.ingest.headings import is_heading
from qa.ingest.loading import (collapse_spaces, drop_toc, fullwidth_to_ascii, isolate_captions,
                        join_broken_lines, load_documents, normalize_newlines,
                        remove_markup, repair_text, strip_bom, tighten_number_spacing,
                        untab_stray_lines)
from qa.ingest.reading import SUPPORTED_SUFFIXES, read_text

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
CORPUS_FILES = sorted(p.name for p in CORPUS.glob("*.txt"))
GBK_TEXT = ("张家窝镇“十五五”时期经济社会发展主要指标。全年预计实现地区生产总值同比增长百分之三左右，"
            "一般公共预算收入稳步增长，居民人均可支配收入增长与经济增长基本同步。\n") * 5


@pytest.fixture(scope="module")
def repaired() -> dict[str, str]:
    return {name: repair_text((CORPUS / name).read_text(encoding="utf-8")) for name in CORPUS_FILES}


# ---------------------------------------------------------------- repair steps

def test_newlines_are_normalised():
    assert normalize_newlines("甲\r\n乙\r丙\n") == "甲\n乙\n丙\n"


def test_bom_is_stripped():
    assert strip_bom("\ufeff序言") == "序言"


def test_fullwidth_digits_and_letters_become_ascii_but_punctuation_stays():
    assert fullwidth_to_ascii("2022年3月２日，ＧＤＰ增长（％）") == "2022年3月2日，GDP增长（％）"


def test_space_runs_collapse_and_nbsp_ideographic_spaces_keep_the_text():
    assert collapse_spaces("  目\u3000录  \n第一章\u00a0\u00a0总则 ") == "目 录\n第一章 总则"


def test_collapse_spaces_keeps_tabs_of_table_cells():
    assert collapse_spaces("高质量发展\t\t\t\t\n\t") == "高质量发展\t\t\t\t\n\t"


def test_bookmark_and_image_residue_is_removed_even_several_per_line():
    raw = "[bookmark: _Toc1][bookmark: _Toc2]第一章 规划背景\n\t[bookmark: _Toc3][image: 169]\n正文"
    assert remove_markup(raw) == "第一章 规划背景\n\n正文"


def test_toc_block_is_dropped_up_to_the_body():
    raw = ("序 言\n\n序言正文。\n\n目 录\n\n第一章 发展基础\t6\n1.发展基础 锚定导向\t6\n"
           "第二章 总体要求 ..\t9\n2.做优主导产业 打造新高地\n3.优化布局 20\n\n第一章 发展基础\n\n正文开始。")
    assert drop_toc(raw) == "序 言\n\n序言正文。\n\n\n第一章 发展基础\n\n正文开始。"


def test_text_without_toc_is_unchanged():
    assert drop_toc("第一章 总则\n\n正文。") == "第一章 总则\n\n正文。"


def test_number_spacing_is_tightened_without_touching_digits():
    raw = "完成 78.46 亿元，2023 年同比增长 1.5%，巩固率 > 99，区间 [40-46] 与〔332.69〕"
    # Brackets and comparison signs keep the space before them; only "> 99" closes up.
    assert tighten_number_spacing(raw) == "完成78.46亿元，2023年同比增长1.5%，巩固率 >99，区间 [40-46] 与〔332.69〕"


def test_a_list_number_opening_a_line_keeps_its_space_but_a_year_does_not():
    assert tighten_number_spacing("2 张家窝镇第一小学工程\n2026 年 2 月") == "2 张家窝镇第一小学工程\n2026年2月"


def test_space_before_an_opening_quote_is_kept():
    assert tighten_number_spacing("表1 “十四五”时期") == "表1 “十四五”时期"


def test_figure_captions_become_lines_of_their_own():
    raw = "上一段结尾。\n图 1 “京津冀地区”张家窝镇区位图\n2.建设示范标杆\n图1  西青区“两心三带三区，多点支撑”空间格局"
    out = isolate_captions(collapse_spaces(raw)).split("\n")
    assert "图1 “京津冀地区”张家窝镇区位图" in out
    assert "图1 西青区“两心三带三区，多点支撑”空间格局" in out


def test_caption_is_not_joined_to_a_broken_line_before_it():
    text = isolate_captions("这一段因为分页没有句号，而且足够长会被视为正文的一部分\n\n图2 空间区位图\n\n正文继续。")
    assert "图2 空间区位图" in join_broken_lines(text).split("\n")


def test_sentence_split_by_a_page_break_is_joined():
    raw = "一年来，我们坚持稳中求进，高质量发展步伐更加坚定稳\n\n健。\n\n项目生产厂房顺利完工，各项工作推进有序，高\n\n标准完成集成电路产业园规划。"
    assert join_broken_lines(raw) == ("一年来，我们坚持稳中求进，高质量发展步伐更加坚定稳健。\n\n"
                                      "项目生产厂房顺利完工，各项工作推进有序，高标准完成集成电路产业园规划。")


@pytest.mark.parametrize("raw", [
    "1. 张家窝镇发展基础 锚定“十四五”高质量导向\n\n厚积薄发迈新阶",          # heading
    "第十九届人民代表大会第八次会议上\n\n张家窝镇镇长 赵林",                    # short title lines
    "国民经济和社会发展第十四个五年规划和\n\n二〇三五年远景目标纲要",
    "其中部分内容需要继续推进，各项工作都在进行中，成效逐步显现\n\n（二）聚力抓创新促开放",
    "其中部分内容需要继续推进，各项工作都在进行中，成效逐步显现\n\n——坚持党的全面领导。",
    "其中部分内容需要继续推进，各项工作都在进行中，成效逐步显现\n\n注：〔〕为五年累计数。",
    "打造沉浸式文化消费场景，不断丰富群众文化生活\n\n培育特色文旅消费品牌。结合南站枢纽优势。",
    "其中部分内容需要继续推进，各项工作都在进行中，成效逐步显现\n\n张家窝镇主要指标\n序号\t指标\t属性",
])
def test_headings_titles_list_items_and_table_titles_are_never_joined(raw):
    assert join_broken_lines(raw) == raw


def test_stray_tab_indented_box_title_loses_its_tab():
    assert untab_stray_lines("\t专栏1城市空间格局提升工程\n\t2\t指标\t属性") == "专栏1城市空间格局提升工程\n\t2\t指标\t属性"


# ---------------------------------------------------------------- the real corpus

def _digits_of_removed_residue_free_text(raw: str) -> Counter:
    """Digits of the raw text minus what repair legitimately removes (TOC, bookmark ids,
    a table header repeated after a page break)."""
    text = raw
    for step in (normalize_newlines, fullwidth_to_ascii, collapse_spaces, remove_markup, drop_toc):
        text = step(text)
    seen: set[str] = set()
    kept = []
    for line in text.split("\n"):
        if "\t" in line and not line.startswith("\t") and line in seen:
            continue
        seen.add(line)
        kept.append(line)
    return Counter(re.findall(r"\d", "\n".join(kept)))


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_repair_keeps_every_digit_of_every_document(name, repaired):
    raw = (CORPUS / name).read_text(encoding="utf-8")
    assert Counter(re.findall(r"\d", repaired[name])) == _digits_of_removed_residue_free_text(raw)


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_no_converter_residue_is_left(name, repaired):
    text = repaired[name]
    assert "[bookmark" not in text and "[image" not in text
    assert "\r" not in text and "\ufeff" not in text
    assert not re.search(r"[０-９]", text)


def test_toc_is_gone_and_body_headings_remain(repaired):
    text = repaired["zhangjiawo-15th-five-year-plan-2026-2030.txt"]
    assert not re.search(r"^目\s*录$", text, re.M)
    assert "第一章 发展基础与战略环境\t6" not in text
    assert text.count("第一章 发展基础与战略环境") == 1
    assert text.index("序 言") < text.index("第一章 发展基础与战略环境")


def test_known_page_break_joins_in_the_corpus(repaired):
    assert "高质量发展步伐更加坚定稳健。" in repaired["zhangjiawo-government-work-report-2024.txt"]
    assert "高标准完成集成电路产业园" in repaired["xiqing-2023-plan-execution-and-2024-plan.txt"]
    assert "新增各类学位7080个" in repaired["xiqing-2023-plan-execution-and-2024-plan.txt"]


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_every_heading_stays_a_line_of_its_own(name, repaired):
    text = (CORPUS / name).read_text(encoding="utf-8")
    for step in (normalize_newlines, fullwidth_to_ascii, collapse_spaces, remove_markup, drop_toc,
                 tighten_number_spacing):
        text = step(text)
    headings = [line.strip() for line in text.split("\n") if "\t" not in line and is_heading(line)]
    lines = set(repaired[name].split("\n"))
    assert headings and [h for h in headings if h not in lines] == []


def test_every_table_line_has_a_tab_and_no_blank_line_inside(repaired):
    text = repaired["jinghai-town-14th-five-year-plan-2021-2025.txt"]
    block = text[text.index("表1 “十四五”"):text.index("注：〔")].split("\n")
    assert block[0] == "表1 “十四五”时期经济社会发展主要指标"
    assert all("\t" in line for line in block[1:-1]) and len(block) - 2 == 1 + 4 + 13


# ---------------------------------------------------------------- reading files

@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
def test_gbk_and_gb18030_text_files_load(tmp_path, encoding):
    path = tmp_path / f"doc-{encoding}.txt"
    path.write_bytes(GBK_TEXT.encode(encoding))
    assert read_text(path) == GBK_TEXT


def test_utf8_with_bom_loads(tmp_path):
    path = tmp_path / "bom.md"
    path.write_bytes("\ufeff# 标题\n正文。".encode("utf-8"))
    assert read_text(path) == "# 标题\n正文。"


def test_docx_paragraphs_and_tables_are_read_in_body_order(tmp_path):
    docx = pytest.importorskip("docx")
    document = docx.Document()
    document.add_paragraph("第一章 总体要求")
    table = document.add_table(rows=2, cols=3)
    for r, row in enumerate([("序号", "指标", "属性"), ("1", "森林覆盖率（%）", "约束性")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_paragraph("表后正文。")
    path = tmp_path / "plan.docx"
    document.save(path)
    assert read_text(path) == "第一章 总体要求\n序号\t指标\t属性\n1\t森林覆盖率（%）\t约束性\n表后正文。"


def test_docx_that_is_not_a_zip_raises_a_chinese_error(tmp_path):
    path = tmp_path / "fake.docx"
    path.write_text("这不是 Word 文档", encoding="utf-8")
    with pytest.raises(DocumentError, match="不是有效的 Word 文档"):
        read_text(path)


def test_zip_without_a_document_part_raises(tmp_path):
    path = tmp_path / "broken.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "x")
    with pytest.raises(DocumentError, match="已损坏"):
        read_text(path)


def test_broken_pdf_and_empty_text_raise(tmp_path):
    pdf = tmp_path / "broken.pdf"
    pdf.write_bytes(b"%PDF-1.4 garbage")
    with pytest.raises(DocumentError):
        read_text(pdf)
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    with pytest.raises(DocumentError, match="为空"):
        read_text(empty)


# ---------------------------------------------------------------- load_documents

def test_pdf_without_extractable_text_is_reported_empty(tmp_path):
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    path = tmp_path / "scan.pdf"
    with path.open("wb") as handle:
        writer.write(handle)
    with pytest.raises(DocumentError, match="为空"):
        read_text(path)


def test_catalog_is_read():
    from qa.ingest.catalog import load_catalog

    catalog = load_catalog(CORPUS)
    assert catalog["zhangjiawo-15th-five-year-plan-2026-2030.txt"]["place"] == "张家窝镇"


def test_corpus_loads_with_catalog_metadata():
    documents, skipped = load_documents(CORPUS)
    assert skipped == [] and [d.id_ for d in documents] == CORPUS_FILES
    meta = documents[0].metadata
    assert set(meta) >= {"doc", "title", "short_title", "issuer", "place", "place_path", "level", "kind",
                         "date", "period", "source", "inferred", "sha256"} and len(meta["sha256"]) == 64
    assert meta["place_path"] == "天津市 › 静海区 › 静海镇" and meta["inferred"] == "place_path"
    assert meta["short_title"] == "静海镇“十四五”规划纲要"
    assert set(documents[0].excluded_embed_metadata_keys) == set(meta)
    assert set(documents[0].excluded_llm_metadata_keys) == set(meta)


def test_unsupported_and_broken_files_are_skipped_while_others_load(tmp_path):
    shutil.copy(CORPUS / "zhangjiawo-government-work-report-2024.txt", tmp_path)
    (tmp_path / "plan.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    (tmp_path / "broken.docx").write_text("not a zip", encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text("隐藏文件", encoding="utf-8")
    (tmp_path / "gbk.txt").write_bytes(GBK_TEXT.encode("gbk"))
    documents, skipped = load_documents(tmp_path)
    assert [d.id_ for d in documents] == ["gbk.txt", "zhangjiawo-government-work-report-2024.txt"]
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert reasons["plan.xls"] == "不支持的文件类型 .xls，已跳过"
    assert "broken.docx" in reasons and "已跳过" in reasons["broken.docx"]
    assert ".xls" not in SUPPORTED_SUFFIXES


def test_metadata_is_inferred_for_a_file_missing_from_the_catalog(tmp_path):
    (tmp_path / "catalog.json").write_text(json.dumps({}), encoding="utf-8")
    (tmp_path / "new.txt").write_text(
        "天津市西青区张家窝镇国民经济和社会发展第十五个五年规划纲要\n\n2026 年 2 月\n\n张家窝镇将坚持高质量发展。西青区",
        encoding="utf-8")
    (document,), _ = load_documents(tmp_path)
    meta = document.metadata
    assert meta["title"] == "天津市西青区张家窝镇国民经济和社会发展第十五个五年规划纲要"
    assert (meta["place"], meta["level"], meta["kind"]) == ("张家窝镇", "镇", "规划纲要")
    assert (meta["period"], meta["date"]) == ("2026-2030", "2026-02")


def test_missing_corpus_dir_raises(tmp_path):
    with pytest.raises(DocumentError):
        load_documents(tmp_path / "nope")
