"""Calibrated abstention: the asked attribute and its value, the model file, training, answering."""
from __future__ import annotations

import json

import numpy as np
import pytest

from qa.answer import abstain as A
from qa.evaluation import abstain_training as T


def test_the_asked_unit_and_attribute_are_read_from_the_question():
    assert A.asked_unit("梨双路改扩建工程总投资多少亿元？") == "亿元"
    assert A.asked_unit("计划新建几座公交首末站？") == "座"
    assert A.asked_unit("项目什么时候建成？") is None
    kind, word = A.asked_attribute("梨双路改扩建工程总投资多少亿元？", "亿元")
    assert kind.name == "money" and word == "总投资"
    kind, word = A.asked_attribute("浦佳地块城市更新项目什么时候完工？", None)
    assert kind.name == "time"
    kind, _ = A.asked_attribute("污水处理厂的处理能力是多少？", None)
    assert kind.name == "capacity"
    kind, _ = A.asked_attribute("这项工作由哪个单位牵头？", None)
    assert kind.name == "organisation"
    assert A.asked_attribute("规划提出了哪些发展方向？", None) == (None, "")


def test_value_kinds_recognise_values_as_printed():
    kinds = {k.name: k for k in A.value_kinds()}
    assert kinds["money"].pattern.search("总投资12.5亿元")
    assert not kinds["money"].pattern.search("全长3.3公里")
    assert kinds["length"].pattern.search("全长3.3公里")
    assert kinds["time"].pattern.search("2026年6月建成")
    assert kinds["organisation"].pattern.search("由区教育局牵头")


def _examples(seed: int) -> list[T.Example]:
    """Answerable questions whose chosen sentence covers the question and holds the value asked,
    unanswerable ones that do not, from every source and fold."""
    rng = np.random.default_rng(seed)
    out = []
    sources = ("gold", "cmrc", "nomiracl-relevant")
    for q in range(240):
        label = q % 3 != 0
        values = {name: float(rng.random()) for name in A.FEATURES}
        values["coverage"] = 0.5 + 0.5 * rng.random() if label else 0.5 * rng.random()
        values["attribute_value"] = float(label or rng.random() < 0.2)
        source = sources[q // 3 % len(sources)] if label else ("gold", "cmrc-withheld", "nomiracl-non_relevant")[q % 3]
        out.append(T.Example(source, q % T.FOLDS, f"q{q}", int(label), values, contained=label))
    return out


def test_training_is_deterministic_and_separates_the_classes():
    data = _examples(5)
    first = T.model_json(T.fit(data), 0.5, {"n": 1})
    assert first == T.model_json(T.fit(_examples(5)), 0.5, {"n": 1})  # same data, same bytes
    model = A.Abstention.from_json(json.loads(first))
    p = model.probabilities(T.rows_of(data))
    labels = np.array([e.label for e in data])
    assert p[labels == 1].mean() > p[labels == 0].mean() + 0.3


def test_threshold_keeps_held_out_false_abstention_within_the_share():
    data = _examples(7)
    probs = T.out_of_fold(data)
    threshold = T.choose_threshold(data, probs)
    figures = T.figures(data, probs, threshold)
    assert figures["gold_false_abstain"] <= 100 * T.MAX_FALSE_ABSTAIN + 1e-9
    assert figures["gold_abstain_ok"] > 50  # the unanswerable ones are mostly declined
    assert figures["cmrc_containment_before"] - figures["cmrc_containment_after"] <= 100 * T.MAX_CMRC_LOST + 1


def test_rules_declined_questions_stay_declined():
    data = _examples(9)
    data[0].values = None  # the hand-set rules declined it: nothing for the model to decide
    probs = T.out_of_fold(data)
    assert np.isnan(probs[0]) and not np.isnan(probs[1:]).any()


@pytest.mark.parametrize("scorer", ["rules", "learned"])
def test_packaged_models_match_the_features_and_were_checked_held_out(scorer):
    path = A.model_file(scorer)
    model = A.load_abstention(path)
    assert model is not None, f"{path} missing or stale: QA_ANSWER_SCORER={scorer} qa train-abstention"
    assert 0.0 < model.threshold < 1.0
    card = json.loads(path.read_text(encoding="utf-8"))["card"]
    assert card["scorer"] == scorer, "calibrated on another scorer's choices"
    assert card["data"]["gold"]["questions"] > 100 and card["held_out"]["gold_false_abstain"] <= 3.0
    if scorer == "rules":  # our English questions read without the glossary, held out (never fitted)
        assert card["data"]["gold-lexicon"]["questions"] >= 20 and "gold_lexicon_false_abstain" in card["held_out"]


def test_each_scorer_gets_the_abstention_calibrated_on_its_choices(assistant):
    from dataclasses import replace

    from qa.answer.answering import Answerer
    from qa.answer.ranker import load_ranker

    config = replace(assistant.config, abstention="learned")
    for scorer, ranker in (("rules", None), ("learned", load_ranker())):
        answerer = Answerer(assistant.index, config, ranker=ranker)
        assert answerer.abstention == A.load_abstention(A.model_file(scorer))
    assert A.model_file("rules") != A.model_file("learned")


def test_a_model_of_other_features_is_refused(tmp_path):
    data = json.loads(A.MODEL_FILE.read_text(encoding="utf-8"))
    data["features"] = data["features"][:-1]
    path = tmp_path / "abstention.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert A.load_abstention(path) is None


def test_learned_abstention_declines_an_attribute_the_documents_never_give(assistant):
    from dataclasses import replace

    from qa.answer.answering import Answerer

    hand_set = replace(assistant.config, answer_scorer="rules")
    rules = Answerer(assistant.index, replace(hand_set, abstention="rules"))
    answerer = Answerer(assistant.index, replace(hand_set, abstention="learned"))
    assert rules.abstention is None and answerer.abstention is not None
    question = "张家窝镇“十五五”期间人均GDP要达到多少？"  # the indicator table gives other per-capita figures
    assert not rules.ask(question).abstained  # the hand-set support threshold lets it through
    declined = answerer.ask(question)
    assert declined.abstained and "没有找到" in declined.answer
    assert assistant.ask(question).abstained  # and so does this index's default
    answered = answerer.ask("中芯西青12英寸晶圆代工生产线项目总投资多少？")
    assert not answered.abstained and "516" in answered.answer


def test_english_questions_without_the_glossary_are_scored_held_out_but_never_fitted():
    from dataclasses import replace

    data = _examples(11)
    english = [replace(e, source="gold-lexicon", values={k: 1 - v for k, v in e.values.items()}) for e in data[:30]]
    assert T.model_json(T.fit(data), 0.5, {}) == T.model_json(T.fit(data + english), 0.5, {})
    probs = T.out_of_fold(data + english)
    assert not np.isnan(probs[len(data):]).any()
    figures = T.figures(data + english, probs, 0.5)
    unanswerable = [p for e, p in zip(english, probs[len(data):]) if e.label == 0]
    assert figures["gold_lexicon_abstain_ok"] == round(100.0 * sum(p < 0.5 for p in unanswerable) / len(unanswerable), 1)
    card = T.format_card({"held_out": figures, "held_out_rules_only": figures})
    assert f"| 自有金标准英文题·不用术语表 误拒答 | {figures['gold_lexicon_false_abstain']} |" in card
    # the learned scorer's card has no such questions (it leaves them to the hand-set score)
    without = T.figures(data, T.out_of_fold(data), 0.5)
    assert without["gold_lexicon_false_abstain"] is None
    assert "不用术语表" not in T.format_card({"held_out": without, "held_out_rules_only": without})


def test_only_english_gold_questions_are_asked_again_without_the_glossary(assistant, tmp_path):
    from dataclasses import replace

    from qa.answer.answering import Answerer

    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in [
        {"id": "zh", "question": "中芯西青12英寸晶圆代工生产线项目总投资多少？", "category": "fact",
         "doc": "xiqing-2023-plan-execution-and-2024-plan.txt", "answer": "", "must_include": [], "evidence": ""},
        {"id": "en", "question": "What was Xiqing District's total tourist revenue target for 2024?",
         "category": "unanswerable", "doc": "xiqing-2023-plan-execution-and-2024-plan.txt", "answer": "",
         "must_include": [], "evidence": ""}]) + "\n", encoding="utf-8")
    plain = Answerer(assistant.index, replace(assistant.config, glossary="off"))
    examples = T.gold_examples(plain, gold, "gold-lexicon", english_only=True)
    assert [(e.source, e.qid, e.label) for e in examples] == [("gold-lexicon", "en", 0)]
