"""The interface every embedding backend implements, and the row normalisation they share."""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np


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

    def preload(self) -> None:
        """Start loading what embedding a corpus needs, without waiting (a build calls it first)."""

    def release(self) -> None:
        """Free what only embedding a whole corpus needed, once a build has its vectors."""


def normalise(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms
