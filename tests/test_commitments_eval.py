"""Scoring commitments against a gold file: scope, matching, per-kind and per-field figures."""
from __future__ import annotations

import json

import pytest

from qa.errors import InputError
from qa.evaluation.commitments import char_f1, load_gold, load_golds, same_value, score

SENTENCE = "全年实现一般公共预算收入70亿元，同比增长4.2%。"
GOLD = [
    {"scope": "sentence", "doc": "a.txt", "sentence": SENTENCE},
    {"scope": "document", "doc": "b.txt", "kinds": ["responsibility"]},
    {"doc": "a.txt", "kind": "target", "sentence": SENTENCE, "name": "一般公共预算收入", "value": "70亿元",
     "unit": "亿元", "year": "2023", "status": "reported"},
    {"doc": "a.txt", "kind": "target", "sentence": SENTENCE, "name": "一般公共预算收入", "measure": "同比增长",
     "value": "4.2%", "unit": "%", "year": "2023", "status": "reported"},
    {"doc": "b.txt", "kind": "responsibility", "sentence": "每年由镇政府牵头开展年度评估。", "lead": "镇政府",
     "verb": "牵头", "task": "开展年度评估", "partners": [], "status": "planned"},
]


@pytest.fixture
def gold(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text("\n".join(json.dumps(g, ensure_ascii=False) for g in GOLD), encoding="utf-8")
    return load_gold(path)


def target(**kw):
    return {"kind": "target", "doc": "a.txt", "sentence": SENTENCE, "unit": "亿元", "year": "2023",
            "status": "reported", **kw}


def test_matches_count_per_kind_and_fields_are_scored_on_the_match(gold):
    predictions = [target(name="一般公共预算收入", value="70亿元"),
                   target(name="同比增长", value="4.2%", unit="%", status="planned"),  # right figure, wrong name
                   target(name="收入", value="9亿元"),  # a figure gold does not have
                   target(name="某指标", value="1个", sentence="另一句话。"),  # outside the scope: not counted
                   {"kind": "responsibility", "doc": "b.txt", "sentence": "每年由镇政府牵头开展年度评估。",
                    "lead": "镇政府", "verb": "负责", "task": "开展年度评估", "partners": [], "status": "planned"}]
    scores = score(predictions, gold)
    t = scores["target"].to_json()
    assert (t["gold"], t["predicted"], t["matched"], t["precision"], t["recall"]) == (2, 3, 2, 66.7, 100.0)
    assert (t["fields"]["name"]["precision"], t["fields"]["name"]["recall"]) == (33.3, 50.0)
    assert t["fields"]["status"]["right_gold"] == 1 and t["entirely_right_precision"] == 33.3
    r = scores["responsibility"].to_json()
    assert (r["matched"], r["fields"]["verb"]["recall"], r["fields"]["lead"]["recall"]) == (1, 0.0, 100.0)


def test_names_match_on_most_of_their_characters_and_values_without_approximations():
    assert char_f1("新建提升高标准农田", "高标准农田") >= 0.7 > char_f1("产量", "粮食产量")
    assert same_value("7300余亩", "7300亩") and not same_value("5%", "6%")


def test_a_bad_gold_line_is_a_clear_message(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text('{"doc": "a.txt"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="第 1 行"):
        load_gold(path)


def test_a_sentence_scope_can_name_the_kinds_annotated_in_it(tmp_path):
    """Held-out sentences annotated for targets and projects only: a responsibility read from
    them is not counted (its gold is elsewhere), a target is; two files score as one."""
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(json.dumps({"scope": "sentence", "doc": "a.txt", "sentence": SENTENCE,
                                 "kinds": ["target", "project"]}, ensure_ascii=False), encoding="utf-8")
    second.write_text(json.dumps(GOLD[1], ensure_ascii=False), encoding="utf-8")
    gold = load_golds([first, second])
    duty = {"kind": "responsibility", "doc": "a.txt", "sentence": SENTENCE, "lead": "区政府", "task": "收入"}
    scores = score([target(name="一般公共预算收入", value="70亿元"), duty], gold)
    assert (scores["target"].predicted, scores["responsibility"].predicted) == (1, 0)
    assert gold.documents == {"b.txt": {"responsibility"}}


@pytest.mark.parametrize("name", ["commitments_gold.jsonl", "commitments_heldout.jsonl",
                                  "commitments_heldout_b.jsonl", "commitments_heldout_c.jsonl"])
def test_the_teams_gold_is_well_formed_and_verbatim(name):
    """eval/commitments_*.jsonl: every name, actor and figure printed in its gold sentence."""
    from qa.config import PROJECT_ROOT

    gold = load_gold(PROJECT_ROOT / "eval" / name)
    if name == "commitments_gold.jsonl":
        assert len(gold.records) > 500 and len(gold.documents) == 5
    for g in gold.records:
        quoted = [g.get("name"), g.get("value"), g.get("lead"), g.get("task"), *g.get("partners", [])]
        assert all(q in g["sentence"] for q in quoted if q), g
