"""The learned answer scorer: its features, its training (deterministic) and its use in answering."""
from __future__ import annotations

import json

import numpy as np
import pytest

from qa.answer import features as F
from qa.answer.ranker import MODEL_FILE, Ranker, load_ranker
from qa.evaluation import training as T


def test_value_types_read_units_and_dates_from_any_text():
    t = F.value_types("项目总投资12.5亿元，2026年6月建成，新增3所学校，由区教育局牵头")
    assert t["has_amount"] and t["has_year"] and t["has_date"] and t["has_count"] and t["has_organisation"]
    none = F.value_types("推动高质量发展，加快转型升级")
    assert not any(none[k] for k in ("has_number", "has_amount", "has_year", "has_organisation"))


def test_focus_is_the_attribute_next_to_the_asking_word():
    terms = ["浦佳", "地块", "城市更新", "项目", "总投资"]
    focus = F.focus_terms("浦佳地块城市更新项目总投资多少？", terms)
    assert "总投资" in focus and "浦佳" not in focus
    assert "职业" in F.focus_terms("邹游的职业是什么？", ["邹游", "职业"])
    view = F.QuestionView.of("项目总投资多少", "how_much", ["总投资"], {"总投资": 2.0}, True)
    text = "该项目总投资12.5亿元。"
    assert F.focus_features(view, text, F.value_types(text)) == (1.0, 1.0)
    bare = "该项目总投资规模较大。"
    assert F.focus_features(view, bare, F.value_types(bare)) == (1.0, 0.0)


def test_echo_marks_a_sentence_that_restates_the_question():
    view = F.QuestionView.of("学校什么时候建成？", "when", ["学校", "建成"], {}, False)
    echo = F.echo_features(view, "学校什么时候建成？", "")
    answer = F.echo_features(view, "第一小学于2027年9月建成投用。", "")
    assert echo["question_mark"] == 1.0 and echo["echo_bigrams"] > answer["echo_bigrams"]
    assert answer["novel_chars"] > echo["novel_chars"]


def _examples(seed: int) -> list[T.Example]:
    rng = np.random.default_rng(seed)
    out = []
    for q in range(40):
        rows = rng.normal(size=(12, len(F.FEATURES)))
        labels = np.zeros(12, dtype=np.int8)
        if q % 4:
            best = int(np.argmax(rows[:, 0] + rows[:, 3]))
            labels[best] = 1
        out.append(T.Example("cmrc-train", f"d{q % 7}", f"q{q}", bool(labels.any()), rows, labels))
    return out


def test_training_is_deterministic_and_learns_the_signal():
    data = _examples(3)
    first = T.model_json(T.fit(data), 0.2, {"n": 1})
    second = T.model_json(T.fit(_examples(3)), 0.2, {"n": 1})
    assert first == second  # same data, same bytes
    ranker = Ranker.from_json(json.loads(first))
    hits = [e.labels[int(np.argmax(ranker.probabilities(e.rows)))] for e in data if e.answerable]
    assert np.mean(hits) > 0.8  # far above chance (1/12)
    p = ranker.probabilities(np.vstack([e.rows for e in data]))
    assert ((0 < p) & (p < 1)).all()


def test_threshold_keeps_false_abstention_within_the_share():
    bests = list(np.linspace(0.01, 1.0, 100))
    t = T.allowed_threshold(bests, 0.03)
    assert sum(b < t for b in bests) <= 3 and sum(b < t for b in bests) >= 2


def test_packaged_model_matches_the_features():
    ranker = load_ranker()
    assert ranker is not None, f"{MODEL_FILE} missing or stale: run qa train"
    assert ranker.features == F.FEATURES and 0.0 < ranker.threshold < 1.0
    card = json.loads(MODEL_FILE.read_text(encoding="utf-8"))["card"]
    assert card["held_out"]["gold_by_document"]["answerable"] > 50  # figures were measured held out


def test_a_model_of_other_features_is_refused(tmp_path):
    data = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    data["features"] = data["features"][:-1]
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert load_ranker(path) is None


def test_learned_scorer_answers_with_probabilities(assistant):
    from qa.answer.answering import Answerer
    from qa.search.query import analyse

    answerer = Answerer(assistant.index, assistant.config, ranker=load_ranker())
    question = "中芯西青12英寸晶圆代工生产线项目总投资多少？"
    query = analyse(question, assistant.index)
    candidates = answerer.candidates(query, answerer.evidence(query, answerer.retriever.retrieve_query(query)))
    probabilities = [c.probability for c in candidates]
    assert probabilities == sorted(probabilities, reverse=True)
    answer = answerer.ask(question)
    assert not answer.abstained and "516" in answer.answer


def test_learned_scorer_is_used_only_over_the_embedding_model_it_was_trained_on(assistant):
    from dataclasses import replace

    from qa.answer.answering import Answerer
    from qa.answer.ranker import TRAINED_EMBEDDER, fits_index

    learned = replace(assistant.config, answer_scorer="learned")
    assert assistant.index.embedder.name == "lsa" and not fits_index(assistant.index)
    assert Answerer(assistant.index, learned).ranker is None  # the LSA fallback answers by the hand-set score

    class E5Index:
        embedder = type("E", (), {"name": f"/models/{TRAINED_EMBEDDER}"})()

    assert fits_index(E5Index())


def test_declining_says_what_was_found_instead():
    terms = ["浦佳", "地块", "城市更新", "项目", "完工"]
    view = F.QuestionView.of("浦佳地块城市更新项目什么时候完工？", "when", terms, {}, False)
    context = "推进浦佳地块城市更新项目建设，打造宜居片区。"
    assert F.found_instead(view, context) == ("浦佳地块城市更新项目", "完工时间")
    money = F.QuestionView.of("梨双路改扩建工程总投资多少亿元？", "how_much", ["梨双路", "改扩建", "工程", "投资", "亿元"],
                              {}, True)
    assert F.found_instead(money, "实施梨双路改扩建工程。") == ("梨双路改扩建工程", "总投资")
    assert F.found_instead(view, "推进城市建设。") is None  # shares nothing specific
    people = F.QuestionView.of("张家窝镇十五五末常住人口要达到多少万人？", "how_much", ["末", "常住人口", "万人"], {}, True)
    assert F.found_instead(people, "解决常住人口增长带来的入学需求。") == ("常住人口", "具体数字")
    # a focus term ending in a function character ("结对") is named whole, not cut to "景区结"
    pairs = F.QuestionView.of("杨柳青古镇要跟哪些景区结对？", "list", ["杨柳青古镇", "景区", "结对"], {}, False)
    assert F.found_instead(pairs, "推动杨柳青古镇提升改造。") == ("杨柳青古镇", "景区结对")


def test_abstention_names_what_the_documents_mention(assistant):
    answer = assistant.ask("梨双路改扩建工程总投资多少亿元？")
    assert answer.abstained and "没有给出" in answer.answer and "没有找到" in answer.answer
    assert answer.citations and "梨双路" in answer.citations[0].text


def test_figures_written_in_chinese_numerals_count_as_figures():
    from qa.answer.rules import chinese_figures, has_figure

    assert chinese_figures("车站分为两个部份。") == [2.0]
    assert chinese_figures("于一九五三年去世") == [1953.0]
    assert chinese_figures("共有三十五所学校，增长百分之五") == [35.0, 5.0]
    for words in ("他统一了全国，一直在这里", "第一小学十分重要", "万一出事", "一些人"):
        assert not has_figure(words), words
    assert has_figure("总投资12.5亿元") and F.value_types("分为两个部份")["has_number"] == 1.0


def test_neighbouring_sentences_and_pronouns_are_features():
    view = F.QuestionView.of("他司职什么位置", "what", ["司职", "位置"], {}, False)
    values = F.piece_features(view, "他司职中场。", "他司职中场。", "", 1, [0.9, 0.5, 0.0])
    assert values["prev_coverage"] == 0.9 and values["next_coverage"] == 0.0
    assert values["pronoun_start"] == 1.0 and values["best_in_passage"] == 0.0 and values["last"] == 0.0


def test_alignment_reads_the_words_around_the_asking_word():
    view = F.QuestionView.of("冷湖行政区是何时发现石油的？", "when", ["冷湖", "行政区", "发现", "石油"], {}, False)
    assert (view.left, view.right) == ("冷湖行政区", "发现石油的")
    answer = F.alignment_features(view, "1954年发现石油后开始建设。")
    other = F.alignment_features(view, "冷湖行政区位于青海省西北部。")
    assert answer["wh_right"] > other["wh_right"] and other["wh_left"] > answer["wh_left"]
    assert 0.0 < answer["bigram_recall"] < 1.0 and 0.0 < answer["lcs_share"] <= 1.0
    plain = F.QuestionView.of("冷湖行政区概况", "what", ["冷湖"], {}, False)  # no asking word
    assert F.alignment_features(plain, "冷湖行政区位于青海省。")["wh_left"] == 0.0


class _Cand:
    def __init__(self, probability, coverage, sentence, passage="p", position=0):
        from llama_index.core.schema import NodeWithScore, TextNode

        self.probability, self.coverage, self.sentence = probability, coverage, sentence
        self.node, self.where = NodeWithScore(node=TextNode(text=sentence, id_=passage)), ("", "", position, [])


def test_a_confident_choice_answers_past_the_support_gate():
    from dataclasses import replace

    from qa.answer.answering import Answerer

    ranker = Ranker(F.FEATURES, None, threshold=0.1, follow_ratio=0.5, version="t", confident=0.6)
    sure, unsure = [_Cand(0.7, 0.2, "甲。"), _Cand(0.2, 0.2, "乙。")], [_Cand(0.5, 0.2, "甲。")]
    assert [c.sentence for c in Answerer._select_learned(ranker, sure, 0.34)] == ["甲。"]
    assert Answerer._select_learned(ranker, unsure, 0.34) == []  # little support and not sure: declined
    always_gated = replace(ranker, confident=2.0)  # a model file without the setting
    assert Answerer._select_learned(always_gated, sure, 0.34) == []


def test_sentences_of_one_passage_are_answered_in_their_order():
    from qa.answer.answering import Answerer

    chosen = [_Cand(0.9, 0.5, "后句。", "a", 3), _Cand(0.5, 0.5, "别处。", "b", 0), _Cand(0.4, 0.5, "前句。", "a", 2)]
    assert [c.sentence for c in Answerer.reading_order(chosen)] == ["前句。", "后句。", "别处。"]


def test_confident_level_keeps_correct_abstention_on_unanswerables():
    from qa.evaluation.ranker_checks import NEVER, Gates, Outcome, confident_level

    answerable = [Outcome("cmrc-trial", True, 0.5 + i / 100, True, 0.1) for i in range(20)]
    unanswerable = [Outcome("gold", False, 0.35, False, 0.1), Outcome("cmrc-trial-withheld", False, 0.25, False, 0.1)]
    level, tried = confident_level(answerable + unanswerable, 0.1, 0.34)
    assert level == 0.4  # 0.2 and 0.3 would answer an unanswerable question the gate declines
    assert tried[NEVER]["cmrc-trial false_abstain"] == 100.0 and tried[level]["cmrc-trial false_abstain"] == 0.0
    assert not Gates(0.1, 0.34, level).declines(answerable[0])


def test_a_reused_cmrc_work_folder_keeps_only_the_passages_asked_for(tmp_path):
    """A work folder written with more passages once would otherwise index the leftovers too."""
    source = tmp_path / "cmrc.json"
    source.write_text(json.dumps({"data": [{"paragraphs": [
        {"id": f"P{n}", "context": f"第{n}段。", "qas": [{"question": f"问{n}", "id": f"Q{n}", "answers": [{"text": f"{n}"}]}]}
        for n in range(3)]}]}, ensure_ascii=False), encoding="utf-8")
    work = tmp_path / "work"
    assert len(T.cmrc_corpus(work, {"train": (source, 3)})["train"]) == 3
    questions = T.cmrc_corpus(work, {"train": (source, 2)})["train"]
    assert [q[1] for q in questions] == ["Q0", "Q1"]
    assert sorted(p.name for p in (work / "corpus").iterdir()) == ["P0.txt", "P1.txt"]
