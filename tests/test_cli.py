"""The CLI contract outside evaluators rely on: `qa ask --json --batch`, `qa ask --json`, `qa build`."""
from __future__ import annotations

import io
import json

import pytest

from qa.app.cli import main

ANSWER_KEYS = {"id", "question", "answer", "abstained", "citations", "retrieved", "latency_ms"}


@pytest.fixture
def cli_env(corpus_config, assistant, monkeypatch):
    """Point the CLI at the session's index (already built) and the real corpus."""
    monkeypatch.setenv("QA_INDEX_DIR", str(corpus_config.index_dir))
    monkeypatch.setenv("QA_CORPUS_DIR", str(corpus_config.corpus_dir))
    return corpus_config


def test_batch_writes_one_json_line_per_question_in_the_contract_shape(cli_env, tmp_path, capsys):
    batch = tmp_path / "q.jsonl"
    batch.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in [
        {"id": "a", "question": "静海镇2025年招商引资实际到位要多少？"},
        {"id": "b", "question": "西青区2023年旅游人数是多少万人次？"},
        {"id": "c", "question": ""},
    ]) + "\n\nnot json\n", encoding="utf-8")
    assert main(["ask", "--json", "--batch", str(batch)]) == 0
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert [l["id"] for l in lines] == ["a", "b", "c", None]
    first = lines[0]
    assert ANSWER_KEYS <= set(first)
    assert "26.8" in first["answer"] and first["abstained"] is False
    assert {"n", "doc", "title", "heading", "text"} <= set(first["citations"][0])
    assert len(first["retrieved"]) == 10
    assert {"doc", "heading", "text", "score"} <= set(first["retrieved"][0])
    scores = [r["score"] for r in first["retrieved"]]
    assert scores == sorted(scores, reverse=True)
    assert lines[1]["abstained"] is True
    assert "问题为空" in lines[2]["error"] and lines[2]["abstained"] is True
    assert "JSON" in lines[3]["error"]


def test_single_question_json(cli_env, capsys):
    assert main(["ask", "--json", "张家窝镇2023年规上工业总产值是多少？"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "78.46" in data["answer"] and data["citations"][0]["n"] == 1


def test_readable_answer_lists_sources(cli_env, capsys):
    assert main(["ask", "中芯西青12英寸晶圆代工生产线项目总投资多少？"]) == 0
    out = capsys.readouterr().out
    assert "516亿元" in out and "来源：" in out and "[1] " in out


@pytest.mark.parametrize("question", ["", "   ", "问" * 600, "张家窝\x07镇"])
def test_bad_single_question_exits_non_zero_with_a_message(cli_env, capsys, question):
    assert main(["ask", question]) != 0
    assert "错误：" in capsys.readouterr().err


def test_ask_builds_a_missing_index_first(tmp_path, monkeypatch, capsys, corpus_config):
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "fresh-index"))
    monkeypatch.setenv("QA_CORPUS_DIR", str(corpus_config.corpus_dir))
    assert main(["ask", "--json", "张家窝镇十五五期间要建新小学吗？"]) == 0
    assert "第三小学" in json.loads(capsys.readouterr().out)["answer"]
    assert (tmp_path / "fresh-index" / "manifest.json").exists()
    assert main(["build", "--quiet"]) == 0
    assert "无需重建" in capsys.readouterr().out



def test_a_reader_that_stops_early_gets_no_traceback(cli_env):
    """`qa docs --json | head -1`: the pipe is closed before the listing is written."""
    import os
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)  # the reader has gone
    run = subprocess.run([sys.executable, "-m", "qa.app.cli", "docs", "--json"], stdout=write,
                         stderr=subprocess.PIPE, text=True, env=os.environ, timeout=120)
    os.close(write)
    assert run.returncode == 141 and run.stderr == ""


def test_a_long_batch_embeds_its_questions_a_window_at_a_time(monkeypatch, tmp_path, capsys):
    """Embedded all at once, the first questions' vectors of a batch longer than the index
    remembers were forgotten before their turn and embedded again one by one."""
    from qa.app import cli
    from qa.index.index import QUERY_VECTORS_CACHED

    assert cli.BATCH_WINDOW <= QUERY_VECTORS_CACHED // 2

    class Recording:
        def __init__(self):
            self.events = []

        def prepare(self, questions):
            self.events.append(("prepare", questions))

        def ask(self, question):
            self.events.append(("ask", question))
            return type("A", (), {"to_json": lambda self: {"answer": question}})()

    monkeypatch.setattr(cli, "BATCH_WINDOW", 2)
    batch = tmp_path / "q.jsonl"
    batch.write_text("".join(json.dumps({"id": n, "question": f"问题{n}"}, ensure_ascii=False) + "\n"
                             for n in range(5)), encoding="utf-8")
    assistant = Recording()
    assert cli._batch(assistant, batch, io.StringIO()) == 0
    assert assistant.events == [
        ("prepare", ["问题0", "问题1"]), ("ask", "问题0"), ("ask", "问题1"),
        ("prepare", ["问题2", "问题3"]), ("ask", "问题2"), ("ask", "问题3"),
        ("prepare", ["问题4"]), ("ask", "问题4")]
