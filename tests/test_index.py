"""An Index owns its state: two indexes in one process never affect each other."""
from __future__ import annotations

import pytest

from qa.config import Config

OTHER_DOCUMENT = """\
关于印发《虚构名称镇2025年工作要点》的通知

一、“云杉智谷”建设
2025年推进“云杉智谷”产业园一期建设，总投资12.5亿元，年底前完成主体结构封顶。

二、民生工程
新建社区卫生服务中心1所，新增养老床位120张，城镇登记失业率控制在3%以内。
"""

QUESTIONS = ["张家窝镇十五五期间要建新小学吗？", "“云杉智谷”总投资多少？", "静海镇2025年招商引资实际到位要多少？",
             "新增养老床位多少张？", "西青区2024年地区生产总值增长目标是多少？"]


@pytest.fixture(scope="module")
def other(tmp_path_factory):
    """A second, unrelated corpus with a term of its own, built and loaded in this process."""
    from qa.app.api import Assistant

    root = tmp_path_factory.mktemp("other")
    (root / "corpus").mkdir()
    (root / "corpus" / "plan.txt").write_text(OTHER_DOCUMENT, encoding="utf-8")
    return Assistant(Config(corpus_dir=root / "corpus", index_dir=root / "index", embed_model="lsa"),
                     progress=False)


def _answers(assistant, questions):
    return [{k: v for k, v in assistant.ask(q).to_json().items() if k != "latency_ms"} for q in questions]


def test_each_index_segments_with_its_own_terms(assistant, other):
    assert "云杉智谷" in other.index.tokenizer.tokenize("云杉智谷产业园")
    assert "云杉智谷" not in assistant.index.tokenizer.tokenize("云杉智谷产业园")
    assert other.index.tokenizer is not assistant.index.tokenizer


def test_interleaved_questions_get_the_answers_each_index_gives_alone(assistant, other):
    alone = (_answers(assistant, QUESTIONS), _answers(other, QUESTIONS))
    assistant.index.clear_caches()
    other.index.clear_caches()
    interleaved = ([], [])
    for question in QUESTIONS:
        for side, serving in enumerate((assistant, other)):
            interleaved[side].extend(_answers(serving, [question]))
    assert interleaved == alone
    assert alone[1][1]["citations"][0]["doc"] == "plan.txt" and "12.5亿元" in alone[1][1]["answer"]
    assert all(c["doc"] != "plan.txt" for a in alone[0] for c in a["citations"])


def test_question_vectors_forget_the_least_recently_used(assistant, monkeypatch):
    import numpy as np

    index = assistant.index
    monkeypatch.setattr("qa.index.index.QUERY_VECTORS_CACHED", 2)
    calls = []
    embed = index.embedder.embed_queries
    monkeypatch.setattr(index.embedder, "embed_queries", lambda texts: calls.append(list(texts)) or embed(texts))
    index.clear_caches()
    first = index.embed_queries(["研发投入", "新建学校"])
    index.embed_queries(["研发投入"])  # used again: "新建学校" is now the oldest
    index.embed_queries(["绿色工厂"])  # forgets "新建学校" only
    again = index.embed_queries(["研发投入", "研发投入"])
    index.embed_queries(["新建学校"])
    assert calls == [["研发投入", "新建学校"], ["绿色工厂"], ["新建学校"]]
    assert np.array_equal(again[0], first[0]) and np.array_equal(again[1], first[0])
    index.clear_caches()


def test_prefetched_questions_are_embedded_once_in_chunks_while_the_first_are_answered(assistant,
                                                                                       monkeypatch):
    """A batch's questions are embedded ahead on a thread, PREFETCH_CHUNK at a time in their
    order (qa.index.index.Index.prefetch_queries): a question asked before its chunk is done waits
    for it instead of being embedded again, and gets the row embedding it alone gives."""
    import threading

    import numpy as np

    index = assistant.index
    monkeypatch.setattr("qa.index.index.PREFETCH_CHUNK", 3)
    texts = [f"第{n}个问题：研发投入强度目标" for n in range(8)]
    index.clear_caches()
    alone = index.embed_queries(texts)
    index.clear_caches()
    calls, second_started, second_chunk = [], threading.Event(), threading.Event()
    embed = index.embedder.embed_queries

    def slow_embed(chunk):
        calls.append(list(chunk))
        if len(calls) == 2:
            second_started.set()
            second_chunk.wait(5)  # held until the first questions have been answered
        return embed(chunk)

    monkeypatch.setattr(index.embedder, "embed_queries", slow_embed)
    index.prefetch_queries(texts + texts[:2])
    first = index.embed_queries(texts[:3])  # waits for the first chunk only
    assert second_started.wait(5) and calls == [texts[:3], texts[3:6]]
    second_chunk.set()
    rest = index.embed_queries(texts[3:])
    assert calls == [texts[:3], texts[3:6], texts[6:]]  # each question embedded once
    assert np.allclose(np.vstack([first, rest]), alone, atol=1e-6)
    index.clear_caches()


def test_the_bm25_index_is_the_same_bytes_whatever_the_hash_seed(tmp_path):
    """bm25s numbers tokens in set order; the index numbers them in sorted order instead."""
    import os
    import subprocess
    import sys

    script = ("import sys; from pathlib import Path; from qa.index.store import write_bm25; "
              "write_bm25(Path(sys.argv[1]), [['西青区', '地铁', '10', '号线'], ['张家窝镇', '绿色', '工厂'], [], ['地铁', '通车']])")
    files = {}
    for seed in ("1", "2"):
        out = tmp_path / seed
        out.mkdir()
        subprocess.run([sys.executable, "-c", script, str(out)], check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed})
        files[seed] = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert files["1"] == files["2"] and len(files["1"]) >= 3


def test_token_ids_number_the_vocabulary_in_sorted_order():
    from qa.index.store import token_ids

    ids, vocabulary = token_ids([["地铁", "10"], ["10", "号线"]])
    assert vocabulary == {"10": 0, "号线": 1, "地铁": 2}
    assert ids == [[2, 0], [0, 1]]
