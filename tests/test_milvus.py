"""The Milvus search back end on Milvus Lite: publishing, retrieval alike the embedded back end,
per-request filters, and a re-index that switches the alias under a reader without errors."""
from __future__ import annotations

import json
import shutil
import threading
from dataclasses import replace

import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from qa.config import PROJECT_ROOT  # noqa: E402

GOLD = PROJECT_ROOT / "eval" / "questions.jsonl"


@pytest.fixture(scope="module")
def milvus_config(built, tmp_path_factory):
    """The session's built index, copied and published to a Milvus Lite file of its own (the
    build finds it unpublished and reuses every passage, token and vector)."""
    from qa.index.build import ensure_index

    root = tmp_path_factory.mktemp("milvus")
    shutil.copytree(built.index_dir, root / "index")
    config = replace(built, index_dir=root / "index", search_backend="milvus",
                     milvus_uri=str(root / "milvus.db"))
    report = ensure_index(config, progress=False)
    assert report.rebuilt and "Milvus" in report.reason
    return config


@pytest.fixture(scope="module")
def milvus_assistant(milvus_config):
    from qa.app.api import Assistant

    return Assistant(milvus_config, progress=False)


def test_an_unpublished_index_is_stale_for_the_milvus_back_end(built, milvus_config):
    from qa.index.build import stale_reason

    assert stale_reason(built) is None  # the embedded back end needs nothing of Milvus
    assert stale_reason(replace(built, search_backend="milvus",
                                milvus_uri=milvus_config.milvus_uri)) is not None
    assert stale_reason(milvus_config) is None
    with pytest.raises(Exception, match="QA_SEARCH_BACKEND"):
        stale_reason(replace(built, search_backend="elastic"))


def test_milvus_retrieval_agrees_with_the_embedded_back_end(assistant, milvus_assistant):
    """Top-5 documents of the team gold's questions: the same set for at least 90 %."""
    from qa.search.backends import MilvusBackend

    assert isinstance(milvus_assistant.answerer.retriever.backend, MilvusBackend)
    assert milvus_assistant.index.vector_store is None  # FAISS is not loaded
    questions = [json.loads(line)["question"] for line in GOLD.read_text(encoding="utf-8").splitlines()][:60]
    agree = 0
    for question in questions:
        docs = [set(n.node.metadata["doc"] for n in a.answerer.retriever.retrieve(question)[:5])
                for a in (assistant, milvus_assistant)]
        agree += docs[0] == docs[1]
    assert agree >= 0.9 * len(questions), f"{agree}/{len(questions)}"


def test_per_request_filters_keep_to_the_place_and_period(milvus_assistant):
    from pymilvus import AnnSearchRequest, RRFRanker

    from qa.index.milvus import expression, segmented

    index = milvus_assistant.index
    client, alias = index.milvus, index.manifest["milvus"]["alias"]
    catalog = index.catalog.values()
    places = sorted({m["place"] for m in catalog})
    assert len(places) >= 2
    question = "建设小学 养老 招商引资"
    vector = index.embedder.embed([question])[0].tolist()
    for field, value in [("place", places[0]), ("place", places[-1]),
                         ("period", sorted({m["period"] for m in catalog})[0])]:
        expr = expression(**{field + "s": [value]})
        requests = [AnnSearchRequest(data=[segmented(index.tokenize(question))], anns_field="sparse",
                                     param={"metric_type": "BM25"}, limit=20, expr=expr),
                    AnnSearchRequest(data=[vector], anns_field="dense", param={"metric_type": "IP"},
                                     limit=20, expr=expr)]
        hits = client.hybrid_search(alias, requests, RRFRanker(60), limit=40, output_fields=[field])[0]
        assert hits and {h["entity"][field] for h in hits} == {value}, expr
        unfiltered = client.search(alias, data=[vector], anns_field="dense", limit=40, output_fields=[field])[0]
        assert {h["entity"][field] for h in unfiltered} != {value}  # the filter is what kept them
        for request in requests:  # one request searched on its own (QA_MILVUS_FUSION=client)
            found = client.search(alias, data=request.data, anns_field=request.anns_field, limit=20,
                                  search_params=request.param, filter=expr, output_fields=[field])[0]
            assert found and {h["entity"][field] for h in found} == {value}, (expr, request.anns_field)


def test_client_fusion_is_the_embedded_back_ends_fusion(assistant, milvus_assistant):
    """Dense search is exact at this size on both back ends, so with the same vectors the fused
    rankings match row for row, a place searched on its own included; Milvus's RRFRanker counts
    the scoped request as a ranking of its own and does not. Signal weights apply."""
    from qa.search.backends import EmbeddedBackend, MilvusBackend

    embedded, client = EmbeddedBackend(assistant.index), MilvusBackend(milvus_assistant.index)
    server = MilvusBackend(milvus_assistant.index)
    server.fusion = "rrf"
    place = sorted({m["place"] for m in milvus_assistant.index.catalog.values()})[0]
    question = "镇上要建新小学吗？"
    tokens = milvus_assistant.index.tokenize(question)
    expected = embedded.fused(question, tokens, [place], "dense", 60)
    found = client.fused(question, tokens, [place], "dense", 60)
    assert [row for row, _ in found] == [row for row, _ in expected]
    assert [s for _, s in found] == pytest.approx([s for _, s in expected])
    assert [row for row, _ in server.fused(question, tokens, [place], "dense", 60)] != [row for row, _ in expected]
    dense_only = client.fused(question, tokens, None, "dense", 60)
    weighted = client.fused(question, tokens, None, "bm25+dense", 60, weights={"bm25": 0.0})
    assert [row for row, _ in weighted][:10] == [row for row, _ in dense_only][:10]


def test_expression_quotes_values():
    from qa.index.milvus import expression

    assert expression() == ""
    assert expression(places=["乙镇", "甲镇"], periods=["2021-2025"]) == \
        'place in ["乙镇", "甲镇"] and period in ["2021-2025"]'
    assert expression(docs=['a"b']) == 'doc in ["a\\"b"]'


def test_a_republished_version_switches_the_alias_without_reader_errors(milvus_config, milvus_assistant):
    """Readers search the alias throughout; the new collection appears whole at the switch, the
    previous one stays for readers still on it, older ones are dropped."""
    import numpy as np

    from qa.index.milvus import live_collection, publish, stored_rows, switch_alias
    from qa.index.store import VECTORS

    index, uri = milvus_assistant.index, milvus_config.milvus_uri
    first = live_collection(uri, milvus_config.milvus_collection)
    question = "张家窝镇十五五期间要建新小学吗？"
    expected = [n.node.node_id for n in milvus_assistant.answerer.retriever.retrieve(question)]
    errors, answers, stop = [], [], threading.Event()

    def read():
        while not stop.is_set():
            try:
                answers.append([n.node.node_id for n in milvus_assistant.answerer.retriever.retrieve(question)])
            except Exception as exc:  # noqa: BLE001 - any error fails the test below
                errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        rows, vectors = stored_rows(milvus_config.index_dir), np.load(milvus_config.index_dir / VECTORS)
        versions = []
        for _ in range(2):
            version = publish(uri, milvus_config.milvus_collection, milvus_config.milvus_analyzer, rows,
                              vectors, milvus_config.ann_min_passages)
            assert live_collection(uri, milvus_config.milvus_collection) != version.collection
            dropped = switch_alias(uri, version)
            versions.append((version.collection, dropped))
            assert live_collection(uri, milvus_config.milvus_collection) == version.collection
    finally:
        stop.set()
        reader.join()
    assert errors == [] and answers and all(a == expected for a in answers)
    assert versions[0][1] == [] and versions[1][1] == [first]  # the live one and the one before are kept
    assert [n.node.node_id for n in milvus_assistant.answerer.retriever.retrieve(question)] == expected


def test_readers_answer_from_the_old_version_until_the_switch(milvus_config, milvus_assistant):
    """A new version that lacks a passage (its text changed): published, readers still find the
    passage (the old version); switched, they no longer do (the new one). A reader running
    throughout sees one or the other, never an error or an empty result."""
    import time

    import numpy as np

    from qa.index.milvus import live_collection, publish, republish, stored_rows, switch_alias
    from qa.index.store import VECTORS

    uri, alias = milvus_config.milvus_uri, milvus_config.milvus_collection
    retriever = milvus_assistant.answerer.retriever
    question = "张家窝镇十五五期间要建新小学吗？"
    old = [n.node.node_id for n in retriever.retrieve(question)]
    rows = stored_rows(milvus_config.index_dir)
    changed = next(i for i, r in enumerate(rows) if r["node_id"] == old[0])
    rows[changed]["text_hash"] = "0" * 40  # text this index does not hold: the hit is left out
    seen, errors, stop = [], [], threading.Event()

    def read():
        while not stop.is_set():
            try:
                started = time.monotonic()
                ids = [n.node.node_id for n in retriever.retrieve(question)]
                seen.append((started, time.monotonic(), ids))
            except Exception as exc:  # noqa: BLE001 - any error fails the test below
                errors.append(exc)

    def wait_for_reads(since: float, count: int = 3) -> None:
        deadline = time.monotonic() + 60
        while sum(start > since for start, _, _ in seen) < count and time.monotonic() < deadline and not errors:
            time.sleep(0.05)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        version = publish(uri, alias, milvus_config.milvus_analyzer, rows,
                          np.load(milvus_config.index_dir / VECTORS), milvus_config.ann_min_passages)
        published = time.monotonic()
        wait_for_reads(published)
        switched_at = time.monotonic()
        switch_alias(uri, version)
        switched = time.monotonic()
        wait_for_reads(switched)
    finally:
        stop.set()
        reader.join()
        republish(milvus_config)  # the full index behind the alias again, for the tests after
    assert errors == []
    before = [ids for start, end, ids in seen if start > published and end < switched_at]
    after = [ids for start, _, ids in seen if start > switched]
    assert before and all(ids == old for ids in before)
    assert after and all(old[0] not in ids and ids for ids in after)
    assert all(ids == old or old[0] not in ids for _, _, ids in seen)
    assert live_collection(uri, alias) != version.collection


def test_hits_of_another_version_are_mapped_by_text(milvus_assistant):
    from qa.search.backends import MilvusBackend

    backend = MilvusBackend(milvus_assistant.index)
    node = milvus_assistant.index.passages.at(3)
    key = node.metadata["text_hash"]
    assert backend.local_row({"row": 3, "text_hash": key}) == 3
    assert backend.local_row({"row": 7, "text_hash": key}) == 3  # same text, another row there
    assert backend.local_row({"row": 3, "text_hash": "0" * 40}) is None  # a passage this index lacks
