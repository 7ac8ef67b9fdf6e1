"""Issue #6: an incremental rebuild redoes only the changed document and ends where a full
build would; large corpora get an approximate FAISS index."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

import numpy as np
import pytest

from qa.commitments.database import DB_NAME
from qa.config import Config
from qa.index.build import ensure_index, stale_reason
from qa.index.store import PASSAGES, VECTORS

CHANGED = "zhangjiawo-government-work-report-2024.txt"
NEW_PARAGRAPH = "（补充）2025年新建智慧社区服务站3处，总投资1280万元，由镇政府牵头负责实施。"


def rows(index_dir, table="passages", columns="node_id, doc, text_hash, node, tokens", order="row"):
    with sqlite3.connect(index_dir / PASSAGES if table == "passages" else index_dir / DB_NAME) as db:
        return db.execute(f"SELECT {columns} FROM {table} ORDER BY {order}").fetchall()


def append(config: Config, name: str, text: str) -> None:
    with open(config.corpus_dir / name, "a", encoding="utf-8") as f:
        f.write(f"\n\n{text}\n")


def test_one_changed_document_is_the_only_one_read_again(config):
    before = rows(config.index_dir)
    old_vectors = np.load(config.index_dir / VECTORS)
    append(config, CHANGED, NEW_PARAGRAPH)
    report = ensure_index(config, progress=False)
    assert report.rebuilt and report.documents == 5 and report.reused_documents == 4
    after = rows(config.index_dir)
    assert [r for r in after if r[1] != CHANGED] == [r for r in before if r[1] != CHANGED]
    assert [r for r in after if r[1] == CHANGED] != [r for r in before if r[1] == CHANGED]
    # the LSA model is kept, so every passage met before keeps its vector
    new_vectors = np.load(config.index_dir / VECTORS)
    old_by_hash = {r[2]: old_vectors[i] for i, r in enumerate(before)}
    kept = [i for i, r in enumerate(after) if r[2] in old_by_hash]
    assert len(after) - 2 <= len(kept) < len(after)  # the passage(s) the paragraph joined
    assert all(np.array_equal(new_vectors[i], old_by_hash[after[i][2]]) for i in kept)
    assert stale_reason(config) is None


def test_the_rebuilt_index_answers_from_the_new_paragraph_and_keeps_the_rest(config):
    from qa.app.api import Assistant

    records_before = rows(config.index_dir, "commitments", "doc, name, value, node_id", "id")
    append(config, CHANGED, NEW_PARAGRAPH)
    ensure_index(config, progress=False)
    records_after = rows(config.index_dir, "commitments", "doc, name, value, node_id", "id")
    assert [r for r in records_after if r[0] != CHANGED] == [r for r in records_before if r[0] != CHANGED]
    assert any(r[0] == CHANGED and r[2] == "1280万元" for r in records_after)
    answer = Assistant(config, progress=False).ask("张家窝镇智慧社区服务站总投资多少？")
    assert any(c.doc == CHANGED and "1280万元" in c.text for c in answer.citations), answer.answer


def test_an_incremental_rebuild_ends_where_a_full_build_would(config, tmp_path):
    append(config, CHANGED, NEW_PARAGRAPH)
    ensure_index(config, progress=False)
    full = replace(config, index_dir=tmp_path / "full")
    ensure_index(full, force=True, progress=False)
    assert rows(config.index_dir) == rows(full.index_dir)
    columns = "doc, kind, name, value, year, node_id, start, fields, group_key"
    order = "doc, node_id, start, kind, name"
    assert rows(config.index_dir, "commitments", columns, order) == rows(full.index_dir, "commitments", columns, order)
    assert rows(config.index_dir, "links", "group_key, position", "group_key, position") == \
        rows(full.index_dir, "links", "group_key, position", "group_key, position")


def test_a_new_documents_terms_resegment_only_the_passages_holding_them(config, tmp_path):
    # “产业载体” and “中试基地” become terms; unchanged documents and records that use them must be
    # segmented as a full build would, and nothing else need be
    (config.corpus_dir / "notice.txt").write_text(
        "关于盘活“产业载体”的通知\n\n各村、各单位：2025年盘活“产业载体”面积5万平方米，建成“中试基地”1个，由镇经济发展办公室牵头负责。\n",
        encoding="utf-8")
    report = ensure_index(config, progress=False)
    assert report.reused_documents == 5
    full = replace(config, index_dir=tmp_path / "full")
    ensure_index(full, force=True, progress=False)
    assert rows(config.index_dir) == rows(full.index_dir)
    fts = "c.doc, c.node_id, c.start, c.kind, c.name, f.name, f.body"
    query = (f"SELECT {fts} FROM commitments c JOIN commitments_fts f ON f.rowid = c.id"
             " ORDER BY c.doc, c.node_id, c.start, c.kind, c.name")
    with sqlite3.connect(config.index_dir / DB_NAME) as a, sqlite3.connect(full.index_dir / DB_NAME) as b:
        assert a.execute(query).fetchall() == b.execute(query).fetchall()


def test_a_changed_catalog_entry_redoes_that_document(config):
    catalog_path = config.corpus_dir / "catalog.json"
    catalog = json.loads(catalog_path.read_text(encoding="utf-8"))
    catalog[CHANGED]["short_title"] = "张家窝镇2024年工作报告（修订）"
    catalog_path.write_text(json.dumps(catalog, ensure_ascii=False), encoding="utf-8")
    report = ensure_index(config, progress=False)
    assert report.reused_documents == 4
    titles = {json.loads(node)["metadata"]["short_title"] for _, doc, _, node, _ in rows(config.index_dir)
              if doc == CHANGED}
    assert titles == {"张家窝镇2024年工作报告（修订）"}


def test_a_removed_document_leaves_the_index(config):
    (config.corpus_dir / CHANGED).unlink()
    report = ensure_index(config, progress=False)
    assert report.documents == 4 and report.reused_documents == 4
    assert not any(r[1] == CHANGED for r in rows(config.index_dir))
    assert not any(r[0] == CHANGED for r in rows(config.index_dir, "commitments", "doc", "id"))


def test_force_reads_every_document_again(config):
    assert ensure_index(config, force=True, progress=False).reused_documents == 0


def test_a_large_corpus_gets_an_approximate_index_that_still_finds_the_passage(config):
    import faiss

    from qa.app.api import Assistant

    small_threshold = replace(config, ann_min_passages=100)
    ensure_index(small_threshold, force=True, progress=False)
    index = faiss.read_index(str(config.index_dir / "default__vector_store.json"))
    assert isinstance(faiss.downcast_index(index), faiss.IndexIVFFlat)
    answer = Assistant(small_threshold, progress=False).ask("西青区市级绿色工厂有多少家？")
    assert not answer.abstained and "18家" in answer.answer


@pytest.fixture(scope="module")
def tenfold(tmp_path_factory, corpus_config) -> Config:
    """The corpus and nine look-alike copies about other towns and years (bench.scale)."""
    from bench.scale import make_corpus

    root = tmp_path_factory.mktemp("tenfold")
    make_corpus(corpus_config.corpus_dir, root / "corpus", 10)
    config = Config(corpus_dir=root / "corpus", index_dir=root / "index", embed_model="lsa")
    ensure_index(config, progress=False)
    return config


def own_place_share(config: Config) -> float:
    """Share of place-named team questions whose best passage comes from that place's documents."""
    from qa.app.api import Assistant
    from qa.search.query import analyse

    assistant = Assistant(config, progress=False)
    catalog = assistant.index.manifest["catalog"]
    gold = [json.loads(line) for line in open("eval/questions.jsonl", encoding="utf-8")]
    asked = [(g["question"], analyse(g["question"], assistant.index).places) for g in gold]
    asked = [(q, places) for q, places in asked if places]
    top = [assistant.answerer.retriever.retrieve_query(analyse(q, assistant.index))[:1] for q, _ in asked]
    return sum(bool(t) and catalog[t[0].node.metadata["doc"]]["place"] in places
               for t, (_, places) in zip(top, asked)) / len(asked)


def test_a_towns_own_documents_are_not_crowded_out_by_look_alikes(tenfold, monkeypatch):
    import qa.search.retrieval

    scoped = own_place_share(tenfold)
    monkeypatch.setattr(qa.search.retrieval, "SCOPED_SEARCH_SHARE", 0.0)
    unscoped = own_place_share(tenfold)
    # scoping must never lose the asked town and must keep it first for 95% of questions; on our gold
    # the two now tie (0.972): the one question scoping alone rescued (g-un-16) is also found unscoped
    # since "15th Five-Year Plan" no longer adds the term 五年 that every look-alike's table note holds
    assert scoped >= unscoped and scoped >= 0.95, (scoped, unscoped)
