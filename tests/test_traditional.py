"""Traditional script: questions and documents in 繁體 are matched as simplified ones, while what
the resident reads (answers, passages, numbers) stays exactly as the document prints it."""
from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from opencc import OpenCC

from qa.app.followup import resolve
from qa.text import Tokenizer, normalise, simplified

TO_TRADITIONAL = OpenCC("s2t")


def test_normalise_matches_traditional_as_simplified_and_keeps_numbers():
    assert normalise("張家窩鎮十五五期間要建新小學嗎？") == normalise("张家窝镇十五五期间要建新小学吗？")
    assert normalise("靜海镇") == "静海镇"  # one traditional character among simplified ones
    assert simplified("投資12.5億元，增長6.5%") == "投资12.5亿元，增长6.5%"
    tokenize = Tokenizer(["静海镇"]).tokenize
    assert tokenize("靜海鎮招商引資") == tokenize("静海镇招商引资")


def test_subscripts_of_converted_formulas_are_matched_as_questions_write_them():
    tokenize = Tokenizer([]).tokenize
    assert tokenize("PM_{2.5} 主要污染物") == tokenize("PM2.5主要污染物") == ["pm2.5", "主要", "污染", "污染物"]
    assert "pm2.5" in tokenize("细颗粒物（PM _{2.5} ）浓度")
    assert normalise("CO_{2}排放") == "co2排放"


def test_simplified_text_is_left_as_it_is():
    text = "张家窝镇2024年完成固定资产投资123.4亿元，显著增长"
    assert simplified(text) == text


@pytest.mark.parametrize("simple, traditional", [
    ("张家窝镇十五五期间要建新小学吗？", "張家窩鎮十五五期間要建新小學嗎？"),
    ("静海镇2025年招商引资实际到位要多少？", "靜海镇2025年招商引资实际到位要多少？"),
    ("静海镇2025年招商引资实际到位要多少？", "靜海鎮2025年招商引資實際到位要多少？"),
    ("西青区2024年地区生产总值增长目标是多少？", "西青區2024年地區生產總值增長目標是多少？"),
])
def test_traditional_question_is_answered_like_the_simplified_one(assistant, simple, traditional):
    expected = assistant.ask(simple)
    got = assistant.ask(traditional)
    assert not expected.abstained
    assert (got.answer, got.abstained) == (expected.answer, expected.abstained)
    assert [c.sentence for c in got.citations] == [c.sentence for c in expected.citations]
    assert got.question == traditional  # the question is shown as typed


def test_traditional_follow_up_is_rewritten(assistant):
    index = assistant.index
    assert resolve("靜海鎮2025年招商引資實際到位要多少？", "那2024年呢？", index) == "静海镇2024年招商引资实际到位要多少？"
    assert resolve("西青区2024年地区生产总值增长目标是多少？", "那靜海鎮呢？", index) == "静海镇2024年地区生产总值增长目标是多少？"


DOC = "zhangjiawo-government-work-report-2024.txt"


@pytest.fixture(scope="module")
def traditional_corpus(corpus_config, tmp_path_factory):
    """One real report rewritten in traditional script (file, title and catalog entry alike)."""
    from qa.app.api import Assistant

    root = tmp_path_factory.mktemp("traditional")
    (root / "corpus").mkdir()
    source = (corpus_config.corpus_dir / DOC).read_text(encoding="utf-8")
    (root / "corpus" / DOC).write_text(TO_TRADITIONAL.convert(source), encoding="utf-8")
    entry = json.loads((corpus_config.corpus_dir / "catalog.json").read_text(encoding="utf-8"))[DOC]
    catalog = {DOC: {k: TO_TRADITIONAL.convert(v) for k, v in entry.items()}}
    (root / "corpus" / "catalog.json").write_text(json.dumps(catalog, ensure_ascii=False), encoding="utf-8")
    config = replace(corpus_config, corpus_dir=root / "corpus", index_dir=root / "index")
    return TO_TRADITIONAL.convert(source), Assistant(config, progress=False)


@pytest.mark.parametrize("question, figures", [
    ("张家窝镇2024年一般公共预算收入的预期目标是多少？", ["2.34亿元"]),
    ("張家窩鎮2024年一般公共預算收入的預期目標是多少？", ["2.34亿元"]),
    ("2023年張家窩鎮幫助多少家企業拿到融資貸款，金額多少？", ["92家", "3.08亿元"]),
])
def test_traditional_document_answers_both_scripts_and_is_shown_as_printed(traditional_corpus, question,
                                                                           figures):
    printed, assistant = traditional_corpus
    answer = assistant.ask(question)
    assert not answer.abstained
    cited = answer.citations[0]
    assert cited.doc == DOC and cited.sentence in cited.text
    assert "億元" in answer.answer and "亿元" not in answer.answer  # shown as printed, never converted
    assert cited.sentence.replace(" ", "") in re.sub(r"\s", "", printed)  # the document's own words
    for figure in figures:  # numbers exactly as in the document
        assert TO_TRADITIONAL.convert(figure) in answer.answer.replace(" ", "")


def test_traditional_and_simplified_corpora_cite_the_same_sentence(traditional_corpus, assistant):
    _, traditional = traditional_corpus
    question = "张家窝镇2024年一般公共预算收入的预期目标是多少？"
    assert simplified(traditional.ask(question).citations[0].sentence) == \
        assistant.ask(question).citations[0].sentence


def test_commitments_keyword_in_traditional_script_finds_the_same_records(assistant):
    from qa.commitments.search import search_commitments
    from qa.commitments.database import DB_NAME

    db = assistant.config.index_dir / DB_NAME
    tokenizer = assistant.index.tokenizer
    simple = [r.id for r in search_commitments(db, query="招商引资", limit=None, tokenizer=tokenizer)]
    assert simple
    assert [r.id for r in search_commitments(db, query="招商引資", limit=None, tokenizer=tokenizer)] == simple


def test_bench_script_reports_traditional_rewrites_answered_alike(corpus_config, assistant, tmp_path,
                                                                   monkeypatch, capsys):
    from bench import traditional

    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n".join(json.dumps({"id": str(i), "question": q}, ensure_ascii=False) for i, q in
                              enumerate(["张家窝镇十五五期间要建新小学吗？", "静海镇2025年招商引资实际到位要多少？"])),
                    encoding="utf-8")
    monkeypatch.setenv("QA_INDEX_DIR", str(corpus_config.index_dir))
    assert traditional.main(["--gold", str(gold)]) == 0
    out = capsys.readouterr().out
    assert "| s2t | 2 | 2 | 0 |" in out and "t2s conversion p50" in out
