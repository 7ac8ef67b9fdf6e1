"""Retrieval signals and their fusion (issue 11): modes naming signals, weighted RRF, questions
of a batch embedded at once, and the glossary switch for English questions."""
from __future__ import annotations

import numpy as np
import pytest

from qa.answer.answering import Answerer
from qa.search.backends import SIGNALS, rrf, signals_of
from qa.search.query import analyse
from qa.search.retrieval import HybridRetriever


def test_modes_name_the_signals_they_fuse():
    assert signals_of("hybrid") == SIGNALS == ("bm25", "dense", "lsa")
    assert signals_of("bm25+lsa") == ("bm25", "lsa")
    with pytest.raises(ValueError):
        signals_of("bm25+colbert")


def test_weighted_rrf_lets_one_ranking_count_more():
    rankings = [["a", "b", "c"], ["b", "c", "a"]]
    plain = rrf(rankings, k=60)
    assert max(plain, key=plain.get) in ("a", "b") and plain["a"] == pytest.approx(1 / 61 + 1 / 63)
    favoured = rrf(rankings, k=60, weights=[1.0, 3.0])
    assert max(favoured, key=favoured.get) == "b"
    assert favoured["b"] == pytest.approx(1 / 62 + 3 / 61)


def test_an_lsa_only_index_has_no_second_dense_signal(assistant):
    index = assistant.index
    assert index.lsa is None and index.manifest.get("lsa") is None
    question = "张家窝镇2023年规上工业总产值是多少？"
    query = analyse(question, index)
    both = HybridRetriever(index, mode="bm25+lsa").retrieve_query(query)
    alone = HybridRetriever(index, mode="bm25").retrieve_query(query)
    assert [r.node.node_id for r in both] == [r.node.node_id for r in alone]


def test_a_batch_embeds_its_questions_in_one_call(assistant, monkeypatch):
    index = assistant.index
    index.clear_caches()
    calls = []
    original = index.embedder.embed_queries
    monkeypatch.setattr(index.embedder, "embed_queries", lambda texts: calls.append(list(texts)) or original(texts))
    questions = ["张家窝镇2023年规上工业总产值是多少？", "静海镇2025年招商引资实际到位要多少？",
                 "西青区建设多少座5G基站？"]
    answerer = Answerer(index, assistant.config)
    answerer.prepare(questions + ["", None])  # unreadable questions are left for ask to refuse
    assert len(calls) == 1 and len(calls[0]) == len(questions)
    answers = [answerer.ask(q) for q in questions]
    assert len(calls) == 1, "answering found every question's vector remembered"
    assert all(a.retrieved for a in answers)
    vectors = index.embed_queries(calls[0])
    assert vectors.shape[0] == 3 and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_glossary_can_be_switched_off_for_english_questions(assistant):
    question = "What is the general public budget revenue target?"
    with_glossary = analyse(question, assistant.index)
    without = analyse(question, assistant.index, glossary=False)
    assert with_glossary.english and without.english
    assert any("\u4e00" <= c <= "\u9fff" for c in with_glossary.search_text)
    assert not any("\u4e00" <= c <= "\u9fff" for c in without.search_text)
    assert without.text == with_glossary.text  # what the multilingual model reads
