"""Retrieval signals and their fusion (issue 11): modes naming signals, weighted RRF, questions
of a batch embedded at once, and the glossary switch for English questions."""
from __future__ import annotations

import numpy as np
import pytest

from qa.answer.answering import Answerer
from qa.models import LinearModel
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


# The learned fusion (qa.search.fusion): features, the fitted file and where it applies.

def _signals(bm25, rankings, dense, lsa):
    """Signals of a toy index; `dense` and `lsa` give every row's cosine."""
    from qa.search.fusion import Signals, candidates

    rows = candidates(rankings)
    by_row = lambda values: np.array(values, dtype=float)[rows] if values else np.zeros(0)
    return Signals(np.array(bm25, dtype=float), rankings, rows, by_row(dense), by_row(lsa))


def test_fusion_features_read_each_passage_and_its_document():
    from qa.search.fusion import FEATURES, features

    documents = np.array([0, 0, 1, 2])  # rows 0 and 1 are one document's passages
    signals = _signals([2.0, 1.0, 4.0, 0.0], {"bm25": [2, 0, 1], "dense": [3, 0], "lsa": [0]},
                       dense=[0.8, 0.5, 0.6, 0.9], lsa=[0.3, 0.1, 0.2, 0.0])
    assert signals.rows.tolist() == [2, 0, 1, 3]
    x = features(signals, documents)
    row0, row1 = dict(zip(FEATURES, x[1].tolist())), dict(zip(FEATURES, x[2].tolist()))
    assert row0["bm25"] == pytest.approx(0.5) and row0["bm25_doc_best"] == pytest.approx(0.5)
    assert row0["bm25_doc_sum"] == pytest.approx(3.0 / 4.0)  # its document's 2 + 1 against row 2's 4
    assert row0["dense"] == pytest.approx(0.8 - 0.9) and row0["dense_doc_best"] == pytest.approx(0.8 - 0.9)
    assert row0["lsa"] == 0.0 and row0["lsa_doc_best"] == 0.0
    assert row1["dense"] == pytest.approx(0.5 - 0.9)
    assert row1["dense_doc_best"] == pytest.approx(row0["dense"]), "row 1 shares row 0's document"
    assert row1["bm25_doc_best"] == pytest.approx(0.5) and row1["bm25"] == pytest.approx(0.25)


def test_fusion_without_bm25_matches_is_still_defined():
    from qa.search.fusion import features

    signals = _signals([0.0, 0.0], {"bm25": [], "dense": [1, 0]}, dense=[0.2, 0.4], lsa=[])
    x = features(signals, np.array([0, 1]))
    assert np.isfinite(x).all() and x[:, :3].sum() == 0.0 and x[:, 5:].sum() == 0.0


def test_a_fusion_file_for_other_features_fails_loudly(tmp_path):
    import json

    from qa.search.fusion import FEATURES, FusionModel, load_fusion

    model = FusionModel(LinearModel(np.arange(len(FEATURES), dtype=float), -1.0), {"embedder": "e5"},
                        (0.1, -3.0, 0.2, -4.0, 0.3))
    path = tmp_path / "fusion.json"
    path.write_text(model.to_json(), encoding="utf-8")
    loaded = load_fusion(path)
    assert loaded.model.coef.tolist() == model.model.coef.tolist() and loaded.scope_weights == model.scope_weights
    assert loaded.fits("e5") and not loaded.fits("lsa")
    assert loaded.fits("st:/elsewhere/models/multilingual-e5-small:abc") is False
    assert FusionModel(LinearModel(model.model.coef, 0.0), {"embedder": "multilingual-e5-small:abc"}).fits(
        "st:/elsewhere/models/multilingual-e5-small:abc"), "where the model folder lies does not matter"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["features"] = data["features"][:-1]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="fusion_training"):
        load_fusion(path)
    assert load_fusion(tmp_path / "missing.json") is None


def test_the_packaged_fusion_model_matches_the_code_and_reports_held_out_figures():
    from qa.search.fusion import load_fusion

    model = load_fusion()
    assert model is not None and model.card["seed"] == 13
    held = model.card["held_out"]
    assert {"gold", "cmrc-train"} <= set(held) and any("trial" in k for k in held)
    assert all(set(v) == {"learned", "rrf", "bm25"} for v in held.values())


def test_an_lsa_only_index_keeps_rrf(assistant):
    from qa.search.backends import EmbeddedBackend
    from qa.search.fusion import FEATURES, FusionModel

    model = FusionModel(LinearModel(np.ones(len(FEATURES)), 0.0), {"embedder": assistant.index.model.get("id")})
    backend = EmbeddedBackend(assistant.index, model)
    assert backend.fusion is None, "no LSA beside a neural model: the signals the model reads are missing"


def test_scope_parts_give_the_hand_set_factor_and_learned_weights_replace_it(assistant):
    import math

    from qa.search.fusion import HAND_SET_LOGS, PLACE_MATCH, PLACE_MISMATCH, SCOPE_PARTS
    from qa.search.retrieval import Scope

    index = assistant.index
    scope = Scope(analyse("张家窝镇“十五五”期间要建新小学吗？", index))
    rows = {index.passages.at(r).metadata["doc"]: r for r in range(len(index.passages))}
    own, other = rows["zhangjiawo-15th-five-year-plan-2026-2030.txt"], rows["jinghai-town-14th-five-year-plan-2021-2025.txt"]
    parts = {r: dict(zip(SCOPE_PARTS, scope.parts(index.passages.at(r).metadata, index.passages.context(r))))
             for r in (own, other)}
    assert parts[own]["place_match"] and parts[own]["period_match"]
    assert parts[other]["place_mismatch"] and parts[other]["period_mismatch"]
    meta, context = index.passages.at(other).metadata, index.passages.context(other)
    assert scope.factor(meta, context) == pytest.approx(PLACE_MISMATCH * 0.7)
    learned = (0.0, -3.0, 0.0, -4.0, 0.0)
    assert scope.factor(meta, context, learned) == pytest.approx(math.exp(-7.0))
    assert scope.ceiling() == pytest.approx(PLACE_MATCH * 1.3) and scope.ceiling(learned) == 1.0
    assert len(HAND_SET_LOGS) == len(SCOPE_PARTS)
