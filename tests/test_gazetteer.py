"""One gazetteer: every level of China's divisions, the corpus's own places, and no place name
of the corpus written into the code."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from qa.config import PROJECT_ROOT
from qa.ingest.divisions import Divisions, Place, level_of, short_forms
from qa.ingest.gazetteer import Gazetteer, OwnPlace, _whole_word, pinyin
from tests.conftest import CORPUS


@pytest.fixture(scope="module")
def national():
    return Gazetteer(divisions=Divisions.load())


def _found(gazetteer, text):
    return [(m.text, [p.display for p in m.places][:1]) for m in gazetteer.find(text)]


@pytest.mark.parametrize("question, place", [
    ("辽宁省的营商环境政策有哪些？", "辽宁省"),
    ("辽宁的营商环境政策有哪些？", "辽宁省"),
    ("重庆市2024年城市更新项目有多少个？", "重庆市"),
    ("成都市大邑县的农村集体资产怎么管？", "四川省 › 成都市 › 大邑县"),
    ("浦东新区科技发展基金的细则", "上海市 › 浦东新区"),
    ("湖北省武汉市江夏区五里界街道的工作要点", "湖北省 › 武汉市 › 江夏区 › 五里界街道"),
    ("五里界街今年要办哪些实事？", "湖北省 › 武汉市 › 江夏区 › 五里界街道"),
    ("凤凰县山江镇的十四五规划", "湖南省 › 湘西土家族苗族自治州 › 凤凰县 › 山江镇"),
])
def test_a_place_named_at_any_level_is_found(national, question, place):
    assert place in [p for _, places in _found(national, question) for p in places] + \
        [p.display for m in national.find(question) for p in m.places]


def test_a_village_is_found_by_its_full_name(national):
    (mention,) = national.find("刘快庄村的设施农业基地建了多少大棚？")
    assert mention.text == "刘快庄村"


def test_common_words_and_two_character_local_names_are_not_places(national):
    assert national.find("世界和平与发展，新华书店，城区改造") == []
    assert national.find("乡镇和县城的公共服务") == []  # "和县" is a county, here two words
    assert [m.text for m in national.find("和平区的学校")] == ["和平区"]


def test_scanning_only_where_a_name_can_start_finds_what_trying_every_length_finds(national):
    own = [OwnPlace(("天津市", "西青区", "张家窝镇"), ("张家窝",), ("plan.txt",))]
    gazetteer = Gazetteer(own, national.divisions)
    text = ("湖北省武汉市江夏区五里界街道和刘快庄村、东园社区的工作要点；张家窝镇与张家窝村，"
            "辽宁的营商环境，浦东新区科技发展基金，jiangxia 与 zhangjiawo 的 PM2.5。")
    every_length = []
    i = 0
    while i < len(text):  # the scan without the table of name starts: every length at every position
        for length in range(min(gazetteer._longest, len(text) - i), 1, -1):
            candidate = text[i:i + length]
            if candidate.isascii() and not _whole_word(text, i, i + length):
                continue
            if gazetteer._lookup(candidate):
                every_length.append(candidate)
                i += length
                break
        else:
            i += 1
    assert [m.text for m in gazetteer.find(text)] == every_length == [
        "湖北省", "武汉市", "江夏区", "五里界街道", "刘快庄村", "东园社区", "张家窝镇", "张家窝村", "辽宁",
        "浦东新区", "zhangjiawo"]


def test_levels_and_short_forms_are_read_off_the_name():
    assert [level_of(n) for n in ("辽宁省", "江夏区", "大邑县", "山江镇", "五里界街道", "余村", "东园社区")] == \
        ["省", "区", "县", "镇", "街道", "村", "社区"]
    assert short_forms("五里界街道") == ["五里界街", "五里界"] and short_forms("山江镇") == ["山江"]


def test_the_corpus_places_add_short_forms_and_pinyin_as_whole_words():
    own = [OwnPlace(("湖北省", "武汉市", "江夏区"), ("江夏",), ("plan.txt",))]
    gazetteer = Gazetteer(own)
    assert [m.text for m in gazetteer.find("What does jiangxia plan?")] == ["jiangxia"]
    assert gazetteer.find("What does jiangxiaxyz plan?") == []
    assert gazetteer.document_places == {"江夏区": Place(("湖北省", "武汉市", "江夏区"))}


def test_the_index_holds_the_corpus_places_with_their_hierarchy(assistant):
    own = {p.path[-1]: p for p in assistant.index.places}
    documents = {name for name, p in own.items() if p.documents}
    assert documents == {m["place"] for m in assistant.index.catalog.values()}
    for name in documents:
        place = own[name]
        assert all(place.path[:i] in {p.path for p in own.values()} for i in range(1, len(place.path)))
    english = assistant.index.gazetteer.find("what does xiqing plan for jinghai and tianjin")
    assert [{p.name for p in m.places} for m in english] == [{"西青区"}, {"静海区", "静海镇"}, {"天津市"}]


def test_no_python_file_under_qa_names_a_place_of_the_corpus(assistant):
    names = {n for p in assistant.index.places for n in (p.path[-1],) + p.forms if len(n) >= 2}
    names |= {pinyin(n) for n in names}  # "…窝" is also written in pinyin in English
    offending = []
    for path in sorted((PROJECT_ROOT / "qa").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lowered = text.lower()
        for name in names:
            found = (re.search(rf"(?<![a-z]){name}(?![a-z])", lowered) if name.isascii() else name in text)
            if found:
                offending.append((path.relative_to(PROJECT_ROOT).as_posix(), name))
    assert offending == []


def test_qa_docs_infers_the_five_documents_fields_without_the_catalog(tmp_path):
    """Done-when of issue 12: title, place, kind, date and period, ≥ 90 % as the catalog has them."""
    from qa.app.cli import main

    catalog = json.loads((CORPUS / "catalog.json").read_text(encoding="utf-8"))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in catalog:
        shutil.copy(CORPUS / name, corpus / name)
    listed = _qa_docs_json(main, corpus)
    assert {d["doc"] for d in listed} == set(catalog)
    fields = ("title", "place", "kind", "date", "period")
    matched = sum(_same(field, d[field], catalog[d["doc"]]) for d in listed for field in fields)
    assert matched / (len(listed) * len(fields)) >= 0.9
    assert all(set(fields) <= set(d["inferred"]) for d in listed)
    assert all(set(d) >= {"doc", *catalog[d["doc"]]} for d in listed)


def _qa_docs_json(main, corpus: Path) -> list[dict]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--corpus", str(corpus), "docs", "--json"]) == 0
    return json.loads(out.getvalue())


def _same(field: str, inferred: str, entry: dict) -> bool:
    """A title matches the catalog's title or short title, ignoring spaces and quotation marks."""
    if field != "title":
        return inferred == entry[field]
    plain = lambda s: re.sub(r"[\s《》“”\"]", "", s)  # noqa: E731
    return plain(inferred) in (plain(entry["title"]), plain(entry.get("short_title", "")))
