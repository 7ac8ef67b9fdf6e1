"""Both embedding backends: the offline LSA default and a real sentence-transformers model
(a tiny BERT built and saved by the test, then loaded through the same path a hub model uses)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.config import Config
from qa.index.embeddings import LSA_FILES, LSAEmbedder, SentenceTransformerEmbedder, make_embedder
from qa.errors import QAError
from qa.text import Tokenizer
from tests.conftest import CORPUS

WORDS = Tokenizer().tokenize  # jieba as it comes: these tests need no corpus terms
TEXTS = ["张家窝镇推进第三小学项目建设", "静海镇招商引资实际到位26.8亿元", "西青区建设5G基站5721座",
         "新建建筑100%全面执行绿色建筑标准", "张家窝第三小学开学"]


def test_lsa_vectors_are_normalised_and_place_similar_texts_close():
    embedder = LSAEmbedder(dim=4, tokenize=WORDS)
    embedder.fit(TEXTS * 2)
    vectors = embedder.embed(TEXTS)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    school = embedder.embed(["第三小学"])[0]
    scores = vectors @ school
    assert int(np.argmax(scores)) in (0, 4)


def test_lsa_survives_save_and_load(tmp_path):
    embedder = LSAEmbedder(dim=4, tokenize=WORDS)
    embedder.fit(TEXTS * 2)
    embedder.save(tmp_path)
    restored = LSAEmbedder(tokenize=WORDS)
    restored.load(tmp_path)
    assert np.allclose(restored.embed(TEXTS), embedder.embed(TEXTS))
    assert restored.id == embedder.id


def test_lsa_fits_a_corpus_of_one_short_notice():
    """Every feature occurs once there: a rule that features must recur would leave none."""
    embedder = LSAEmbedder(tokenize=WORDS)
    (row,) = embedder.fit(["新建公共充电桩3268台。"])
    assert embedder.id == "lsa-v3-256" and row.shape == (1,) and abs(float(row[0])) == pytest.approx(1.0)
    assert embedder.embed(["充电桩"]).shape == (1, 1)


def test_unfitted_lsa_says_to_build():
    with pytest.raises(QAError, match="qa build"):
        LSAEmbedder().embed(["问题"])


def test_missing_model_fails_fast_with_a_clear_message():
    embedder = make_embedder("no-such-org/no-such-model-xyz")
    with pytest.raises(QAError, match="无法在本机加载向量模型"):
        embedder.embed(["问题"])


def build_tiny_sentence_transformer(directory: Path) -> Path:
    """A 2-layer BERT with a character vocabulary from the corpus, saved as a real ST model."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizer

    chars = sorted({c for p in CORPUS.glob("*.txt") for c in p.read_text(encoding="utf-8")
                    if "\u4e00" <= c <= "\u9fff"})
    vocab = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [str(d) for d in range(10)] + chars
             + ["query", "passage", ":"])  # the prompts, so queries and passages tokenise apart
    bert_dir = directory / "bert"
    bert_dir.mkdir(parents=True)
    (bert_dir / "vocab.txt").write_text("\n".join(vocab), encoding="utf-8")
    BertTokenizer(str(bert_dir / "vocab.txt")).save_pretrained(bert_dir)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=512)
    BertModel(config).save_pretrained(bert_dir)
    word = Transformer(str(bert_dir), max_seq_length=128)
    pooling = Pooling(word.get_embedding_dimension(), pooling_mode="mean")
    model_dir = directory / "tiny-st"
    SentenceTransformer(modules=[word, pooling], device="cpu",
                        prompts={"query": "query: ", "document": "passage: "}).save(str(model_dir))
    return model_dir


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_sentence_transformer(tmp_path_factory.mktemp("models"))


def test_sentence_transformer_loads_from_a_local_path(tiny_model):
    embedder = SentenceTransformerEmbedder(str(tiny_model))
    vectors = embedder.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), 32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.id.startswith("st:")


def test_queries_and_passages_get_the_prompts_of_the_models_config(tiny_model):
    embedder = SentenceTransformerEmbedder(str(tiny_model))
    plain = lambda texts: embedder.model.encode(texts, normalize_embeddings=True)
    # (within bfloat16 autocast's rounding where the CPU has it)
    assert np.allclose(embedder.embed_queries(TEXTS), plain(["query: " + t for t in TEXTS]), atol=2e-3)
    assert np.allclose(embedder.embed_passages(TEXTS), plain(["passage: " + t for t in TEXTS]), atol=2e-3)
    assert np.allclose(embedder.embed(TEXTS), embedder.embed_passages(TEXTS))  # what a build stores
    assert np.abs(embedder.embed_queries(TEXTS) - embedder.embed_passages(TEXTS)).max() > 2e-2


def test_corpus_indexed_and_searched_with_the_tiny_model(tiny_model, tmp_path):
    from qa.app.api import Assistant

    config = Config(corpus_dir=CORPUS, index_dir=tmp_path / "index", embed_model=str(tiny_model))
    assistant = Assistant(config, progress=False)
    assert assistant.index.manifest["embedder"]["id"].startswith("st:")
    assert "sentence-transformers" in assistant.embedder_description
    answer = assistant.ask("张家窝镇2023年规上工业总产值是多少？")
    assert answer.retrieved, "dense + BM25 retrieval returns passages with the neural backend"
    assert "78.46" in answer.answer
    index = assistant.index
    assert index.lsa is not None and index.manifest["lsa"]["name"] == "lsa"  # fused beside the model
    question, passage = "规上工业总产值", index.passages.at(0).get_content()
    queries, passages = index.embed_queries([question, question]), index.embed_passages([passage])
    assert queries.shape == (2, 32) and passages.shape == (1, 32)
    assert np.allclose(queries[0], index.embedder.embed_queries([question])[0], atol=1e-5)
    assert np.allclose(index.passage_vectors([0, 1]), np.asarray(index.vectors[:2]))


def test_lsa_rows_equal_the_library_transform_of_the_fit():
    embedder = LSAEmbedder(dim=4, tokenize=WORDS)
    fitted = embedder.fit(TEXTS * 2)  # scikit-learn's TF-IDF and TruncatedSVD transform
    assert np.allclose(embedder.embed(TEXTS), fitted[:len(TEXTS)], atol=1e-5)
    for text in TEXTS + ["完全无关的词语组合", "第三小学 5G"]:
        one = embedder.embed([text])
        assert np.allclose(one, embedder.embed([text, text])[:1], atol=1e-6), text
    assert not embedder.embed(["完全无关"]).any()  # no known feature: a zero row, not NaN


def test_lsa_is_saved_as_plain_arrays_and_loads_without_scikit_learn(tmp_path):
    import subprocess
    import sys

    embedder = LSAEmbedder(dim=4, tokenize=WORDS)
    embedder.fit(TEXTS * 2)
    embedder.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(LSA_FILES)
    np.save(tmp_path / "expected.npy", embedder.embed(TEXTS))
    script = (
        "import sys, numpy as np\n"
        "from qa.index.embeddings import LSAEmbedder\n"
        "from qa.text import Tokenizer\n"
        f"d = {str(tmp_path)!r}\n"
        "from pathlib import Path\n"
        "e = LSAEmbedder(tokenize=Tokenizer().tokenize); e.load(Path(d))\n"
        f"v = e.embed({TEXTS!r})\n"
        "assert np.allclose(v, np.load(Path(d) / 'expected.npy'), atol=1e-6)\n"
        "assert not [m for m in sys.modules if m.startswith('sklearn')], 'scikit-learn imported'\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-800:]


def test_lsa_fits_its_svd_on_one_blas_thread(monkeypatch):
    """A build fits the LSA while the e5 encoder's process keeps the cores busy: a second BLAS
    thread would only spin (qa.index.lsa.LSA_BLAS_THREADS)."""
    from sklearn.decomposition import TruncatedSVD
    from threadpoolctl import threadpool_info

    seen = []
    fit = TruncatedSVD.fit

    def recording_fit(self, *args, **kwargs):
        seen.append({i["internal_api"]: i["num_threads"] for i in threadpool_info()})
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(TruncatedSVD, "fit", recording_fit)
    texts = [f"第{n}段：静海镇研发投入强度目标与绿色工厂建设{n % 3}" for n in range(12)]
    LSAEmbedder(dim=4, tokenize=WORDS).fit(texts)
    assert seen and all(n == 1 for n in seen[0].values())
