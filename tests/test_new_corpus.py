"""Any folder of government documents: a town the code has never seen, and a document renamed out
of the catalog, are described from their own text and answered from their own documents."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from qa.config import Config
from tests.conftest import CORPUS

NEW_TOWN = Path(__file__).parent / "data" / "new_town" / "xidi-2025-work-report.txt"
REPORT = "zhangjiawo-government-work-report-2024.txt"
RENAMED = "report-2024-copy.txt"


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    """The corpus with one document renamed (so the catalog no longer lists it) and a sixth town's
    work report beside it, indexed with no change to the code."""
    from qa.app.api import Assistant

    root = tmp_path_factory.mktemp("grown")
    shutil.copytree(CORPUS, root / "corpus")
    (root / "corpus" / REPORT).rename(root / "corpus" / RENAMED)
    shutil.copy(NEW_TOWN, root / "corpus" / NEW_TOWN.name)
    return Assistant(Config(corpus_dir=root / "corpus", index_dir=root / "index", embed_model="lsa"),
                     progress=False)


def test_both_documents_are_described_from_their_own_text(grown):
    catalog = grown.index.catalog
    new, renamed = catalog[NEW_TOWN.name], catalog[RENAMED]
    assert (new["place_path"], new["level"], new["kind"], new["date"], new["period"]) == \
        ("天津市 › 北辰区 › 西堤头镇", "镇", "政府工作报告", "2025-01-16", "2024-2025")
    assert new["title"] == "西堤头镇2025年政府工作报告" and "place" in new["inferred"].split()
    assert (renamed["place"], renamed["kind"], renamed["date"], renamed["period"]) == \
        ("张家窝镇", "政府工作报告", "2024-01-18", "2023-2024")


@pytest.mark.parametrize("question, figure", [
    ("西堤头镇2025年一般公共预算收入增长目标是多少？", "5%"),
    ("西堤头镇第二小学新增了多少学位？", "1080个"),
    ("西堤头镇2024年地区生产总值完成多少？", "38.6亿元"),
    ("西堤头智能装备产业园二期计划总投资多少？", "7.2亿元"),
])
def test_the_new_town_is_answered_from_its_own_document_only(grown, question, figure):
    answer = grown.ask(question)
    assert not answer.abstained and figure in answer.answer
    assert {c.doc for c in answer.citations} == {NEW_TOWN.name}


def test_a_question_about_the_new_town_never_cites_another_towns_plan(grown):
    answer = grown.ask("西堤头镇十五五期间要建新小学吗？")
    assert answer.abstained or {c.doc for c in answer.citations} == {NEW_TOWN.name}


def test_the_renamed_document_answers_as_the_catalogued_one_did(grown, assistant):
    question = "张家窝镇2024年一般公共预算收入目标是多少？"
    before, after = assistant.ask(question), grown.ask(question)
    assert not after.abstained and after.answer == before.answer
    assert [c.doc for c in before.citations] == [REPORT] * len(before.citations)
    assert [c.doc for c in after.citations] == [RENAMED] * len(after.citations)


def test_the_new_towns_places_join_the_gazetteer(grown):
    own = {p.path[-1]: p for p in grown.index.places}
    assert own["西堤头镇"].documents == (NEW_TOWN.name,)
    assert "刘快庄村" in own and own["刘快庄村"].path[:3] == ("天津市", "北辰区", "西堤头镇")
    assert json.loads((grown.index.directory / "terms.json").read_text(encoding="utf-8"))["names"]
