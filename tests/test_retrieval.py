"""Hybrid retrieval and its scoping by place, period and year."""
from __future__ import annotations

import pytest

from qa.search import query
from qa.search.retrieval import Scope, rrf


@pytest.fixture(scope="module")
def analyse(assistant):
    """Question analysis in the words of the session's index."""
    return lambda question: query.analyse(question, assistant.index)


def test_rrf_rewards_agreement_between_rankings():
    fused = rrf([["a", "b", "c"], ["b", "a", "d"]], k=60)
    assert fused["a"] == fused["b"] > fused["c"] > 0
    assert set(fused) == {"a", "b", "c", "d"}
    assert rrf([["x"]], k=0)["x"] == 1.0


def test_question_scope_is_read_from_colloquial_chinese(analyse):
    q = analyse("张家窝23年百大项目完成得怎么样？")
    assert q.places == ["张家窝镇"] and q.years == ["2023"] and q.kind == "status"
    q = analyse("静海镇“十四五”规划中常住人口城镇化率的目标是多少？")
    assert q.places == ["静海镇"] and q.periods == {"十四五": "2021-2025"} and q.wants_number
    assert "静海" not in q.retrieval_text and "十四五" not in q.retrieval_text


def test_english_question_is_searched_with_the_documents_words(analyse):
    q = analyse("What was Xiqing District's general public budget revenue in 2023?")
    assert q.english and q.places == ["西青区"] and "一般公共预算收入" in q.search_text


def test_a_figure_is_asked_by_how_many_or_by_what_a_measure_is_in_either_language(analyse):
    asked = ["What was Xiqing District's total tourist revenue target for 2024?",
             "What forest coverage rate had Xiqing District reached?",
             "How long is the Lishuang Road reconstruction project?",
             "What share of GDP should manufacturing value added reach by 2025?",
             "静海镇“十四五”规划中常住人口城镇化率的目标是多少？"]
    not_asked = ["Which two cultural brands will Zhangjiawo connect with?",
                 "Which rail transit lines does Xiqing plan to push forward in 2024?",
                 "What does the plan say about the elderly-care service network?",
                 "张家窝镇有哪些文化名片？"]
    assert [analyse(q).asks_figure for q in asked] == [True] * 5
    assert [analyse(q).asks_figure for q in not_asked] == [False] * 4
    assert not analyse(asked[0]).wants_number  # only "how many/much" narrows the candidates


def test_english_question_years_scope_the_answer_but_are_not_searched_for(assistant):
    q = query.analyse("Which rail transit lines does Xiqing plan to push forward in 2024?",
                      assistant.index, glossary=False)
    assert q.english and q.years == ["2024"] and "2024" not in q.retrieval_text


def test_names_written_with_figures_are_searched_as_written(assistant):
    q = query.analyse("How many 5G base stations, what CO2 and PM2.5 levels in the 14th Five-Year Plan?",
                      assistant.index, glossary=False, lexicon=False)
    assert {"5g", "co2", "pm2.5"} <= set(q.search_text.split()) and "14th" not in q.search_text


@pytest.mark.parametrize("question, kind", [
    ("What is the 2030 target for R&D intensity of the whole society?", "what"),  # "whole" is not "who"
    ("In which year did Metro Line 10 start operating?", "when"),
    ("What date was the notice issued?", "when"),
    ("Which companies lead the industrial chain?", "who"),
    ("Who delivered the report?", "who"),
    ("Which rail transit lines will be pushed forward?", "list"),
    ("Where will the sports centre be built?", "where"),
])
def test_english_question_kind_is_read_by_whole_words(analyse, question, kind):
    assert analyse(question).kind == kind


def test_place_scoping_keeps_passages_that_name_the_place(analyse):
    scope = Scope(analyse("张家窝镇的枫雅印象城开业了吗？"))
    assert scope.place_fits({"place": "张家窝镇"}, "任意") is True
    assert scope.place_fits({"place": "西青区"}, "张家窝镇枫雅印象城开业") is True
    assert scope.place_fits({"place": "静海镇"}, "静海镇商贸") is False
    assert scope.factor({"place": "张家窝镇"}, "") > scope.factor({"place": "静海镇"}, "")
    assert scope.factor({"place": "张家窝镇"}, "") <= scope.ceiling()


def test_a_document_written_before_the_period_cannot_hold_its_plan(analyse):
    scope = Scope(analyse("张家窝镇十五五期间新增就业目标？"))
    assert scope.period_fits({"period": "2026-2030"}, "") is True
    assert scope.period_fits({"period": "2023-2024"}, "稳岗就业") is False
    review = Scope(analyse("静海镇十三五期间累计招商引资多少？"))
    assert review.period_fits({"period": "2021-2025"}, "招商引资") is True


def test_scoped_retrieval_prefers_the_document_of_the_place(assistant, analyse):
    results = assistant.answerer.retriever.retrieve_query(analyse("静海镇招商引资实际到位目标"))
    assert results[0].node.metadata["place"] == "静海镇"
    results = assistant.answerer.retriever.retrieve_query(analyse("西青区一般公共预算收入"))
    assert results[0].node.metadata["place"] == "西青区"


def test_bm25_and_dense_each_retrieve_and_hybrid_fuses(assistant, analyse):
    from qa.search.retrieval import HybridRetriever

    question = analyse("中芯西青12英寸晶圆代工生产线项目总投资")
    for mode in ("bm25", "dense", "hybrid"):
        retriever = HybridRetriever(assistant.index, top_k=5, mode=mode)
        texts = [r.node.get_content() for r in retriever.retrieve_query(question)]
        assert any("516亿元" in t for t in texts), mode


def test_a_tokenizer_keeps_its_own_terms_whole_and_leaves_other_text_as_jieba_cuts_it():
    from qa.text import Tokenizer

    plain = Tokenizer(["张家窝镇"])
    other = Tokenizer(["张家窝镇"] + [f"虚构名称{i}号" for i in range(300)])  # another index's terms
    assert other.tokenize("居民人均可支配收入增长") == plain.tokenize("居民人均可支配收入增长")
    assert "虚构名称7号" in other.tokenize("虚构名称7号建设")
    assert "虚构名称7号" not in plain.tokenize("虚构名称7号建设")  # and never leaks back
    assert Tokenizer(["张家窝镇"]).tokenize("虚构名称7号建设") == plain.tokenize("虚构名称7号建设")


def test_a_place_no_document_is_about_must_be_named_by_the_evidence(analyse, assistant):
    q = analyse("辽宁的营商环境政策是什么？")
    assert (q.places, q.other_places) == ([], ["辽宁省"])
    assert analyse("西青区和北辰区的学校").other_places == ["北辰区"]  # as broad as the asked one
    answer = assistant.ask("辽宁省优化营商环境有哪些举措？")
    assert answer.abstained


def test_a_broader_place_beside_the_asked_one_only_says_where_something_comes_from(analyse):
    q = analyse("静海镇引进了多少个来自北京和上海的项目？")
    assert (q.places, q.other_places) == (["静海镇"], [])
    assert "北京" in q.retrieval_text  # kept for retrieval: it may be what the passage says
