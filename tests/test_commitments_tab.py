"""The staff's commitments tab: callbacks called directly, with a fake and with the real database."""
from dataclasses import replace
from types import SimpleNamespace

import pytest

from qa.app import commitments_tab as tab
from qa.app import web


@pytest.fixture
def runtime(corpus_config, assistant, tmp_path):
    return web.Runtime(replace(corpus_config, feedback_db=tmp_path / "feedback.sqlite"), assistant=assistant)


def test_commitments_with_a_fake_database(runtime, monkeypatch):
    calls = []
    record = {"kind": "target", "place": "静海镇", "short_title": "静海镇规划", "doc": "j.txt",
              "name": "招商引资实际到位", "value": "26.8亿元/年", "unit": "亿元", "year": "2025",
              "heading": "第二章 › 第三节", "text": "前文<i>x</i>。招商引资实际到位达到26.8亿元/年。",
              "fields": {"clause": "招商引资实际到位达到26.8亿元/年", "stance": "目标"},
              "summary": "招商引资实际到位：2025 26.8亿元/年", "related": [
                  {"short_title": "别的文件", "name": "招商引资", "value": "20", "unit": "亿元", "year": "2024"}]}

    def search(db_path, kind, place, doc, query, limit=100, tokenizer=None):
        calls.append((db_path.name, kind, place, doc, query, limit))
        return [SimpleNamespace(to_json=lambda: record)]
    monkeypatch.setattr(tab, "search_db", search)
    rows, records, csv_path, status = tab.commitments_query("target", "", "", "招商", runtime)
    assert rows == [["目标指标", "静海镇", "静海镇规划", "招商引资实际到位", "26.8亿元/年", "2025", "目标",
                     "第二章 › 第三节"]]
    assert calls[0] == ("commitments.sqlite", "target", None, None, "招商", None) and "共 1 条" in status
    assert "26.8亿元/年" in open(csv_path, encoding="utf-8-sig").read()
    source = tab.commitment_source(records, 0)
    assert "<mark>招商引资实际到位达到26.8亿元/年</mark>" in source and "别的文件" in source
    assert "<i>" not in source and "点击" in tab.commitment_source(records, 5)
    web.build_app(runtime)  # the tab builds its filters from the records


def test_commitments_with_the_real_database(runtime):
    rows, records, csv_path, status = tab.commitments_query("", "静海镇", "", "招商引资", runtime)
    assert rows and all(r[1] == "静海镇" for r in rows), status
    assert "<mark>" in tab.commitment_source(records, 0) or records[0]["kind"] == "project"
    _, everything, _, _ = tab.commitments_query("", "", "", "", runtime)
    assert len(everything) > 100 and {r["kind"] for r in everything} >= {"target", "project"}
