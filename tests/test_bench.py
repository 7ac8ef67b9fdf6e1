"""Smoke test of the benchmark at tiny scale: it must run end to end and report every figure.

Speed itself is never asserted here (machines are noisy); bench/run.py prints the figures.
"""
from __future__ import annotations

import json
from pathlib import Path

from bench import run
from bench.scale import append_paragraph, make_corpus, variant

ROOT = Path(__file__).resolve().parent.parent


def test_variants_differ_but_keep_structure():
    text = "张家窝镇2025年完成投资123.4亿元，建设1.张家窝第三小学。"
    other = variant(text, 3)
    assert other != text and "张家窝" not in other
    assert "1." in other and "亿元" in other  # item numbers and units survive
    assert variant(text, 0) == text
    assert variant(text, 3) == other  # deterministic


def test_make_corpus_scales_documents_and_catalog(tmp_path):
    corpus = make_corpus(ROOT / "corpus", tmp_path / "c", 2)
    originals = list((ROOT / "corpus").glob("*.txt"))
    assert len(list(corpus.glob("*.txt"))) == 2 * len(originals)
    catalog = json.loads((corpus / "catalog.json").read_text(encoding="utf-8"))
    assert len(catalog) == 2 * len(originals)
    before = sorted(corpus.glob("*.txt"))[0].stat().st_size
    append_paragraph(corpus)
    assert sorted(corpus.glob("*.txt"))[0].stat().st_size > before


def test_bench_runs_end_to_end_at_1x(tmp_path, monkeypatch):
    gold = tmp_path / "dev.jsonl"
    gold.write_text("\n".join(json.dumps(item, ensure_ascii=False) for item in [
        {"id": "b1", "question": "张家窝镇“十五五”期间要新建哪些学校？", "category": "list"},
        {"id": "b2", "question": "西青区2024年地区生产总值增长目标是多少？", "category": "target",
         "must_include": ["5%"]}]), encoding="utf-8")
    monkeypatch.setattr(run, "GOLD", gold)
    results, plot = tmp_path / "RESULTS.md", tmp_path / "bench.png"
    assert run.main(["--scales", "1", "--passes", "1", "--peer-scales", "", "--results", str(results),
                     "--plot", str(plot), "--work", str(tmp_path / "work")]) == 0
    rows = json.loads((tmp_path / "work" / "rows.json").read_text())
    for key in ("floor_p50", "retrieval_p50", "answer_p95", "build_s", "incremental_s",
                "cold_start_s", "serve_rss_mb", "build_rss_mb", "dev_accuracy"):
        assert rows[0][key] > 0, key
    assert "retrieval p50 ≤ 2× the floor" in results.read_text(encoding="utf-8")
    assert plot.stat().st_size > 0


def test_each_model_gets_its_own_scale_and_memory_checks():
    def row(model, scale, rss, answer):
        return {"model": model, "scale": scale, "answer_p50": answer, "floor_p50": 1.0,
                "retrieval_p50": 1.5, "incremental_s": 1.0, "build_s": 10.0, "build_rss_mb": rss,
                "incremental_rss_mb": 300, "serve_rss_mb": 400, "cold_rss_mb": 300}

    # rows as bench/run.py orders them: by scale, then model
    rows = [row("lsa", 1, 500, 1.8), row("e5", 1, 1500, 1.9),
            row("lsa", 10, 600, 2.0), row("e5", 10, 2600, 9.0)]
    found = {name: (holds, figures) for name, holds, figures in run.checks(rows)}
    assert found["peak RSS ≤ 2 GB at 10× (lsa)"] == (True, "600 MB (max of build, rebuild, cold ask, serving)")
    assert found["peak RSS ≤ 2 GB at 10× (e5)"][0] is False
    assert "2600 MB" in found["peak RSS ≤ 2 GB at 10× (e5)"][1]
    assert found["query p50 at 10× ≤ 3× the 1× figure (lsa)"][0] is True
    assert found["query p50 at 10× ≤ 3× the 1× figure (e5)"][0] is False  # 9.0 vs 1.9 ms
    # one model: the labels stay as they were
    assert "peak RSS ≤ 2 GB at 10×" in {name for name, _, _ in run.checks(rows[::2])}
