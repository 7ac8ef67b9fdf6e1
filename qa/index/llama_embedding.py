"""Adapter so llama-index's VectorStoreIndex can call our embedding backends (the peer pipeline
of qa.evaluation.gold). Kept apart from qa.index.embeddings so that answering never imports
llama-index's embedding classes."""
from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from qa.index.embeddings import Embedder


class LlamaIndexEmbedding(BaseEmbedding):
    """Adapter so llama-index's VectorStoreIndex can call our backends."""

    _backend: Embedder = PrivateAttr()

    def __init__(self, backend: Embedder, **kwargs: Any):
        super().__init__(model_name=backend.id, embed_batch_size=256, **kwargs)
        self._backend = backend

    @classmethod
    def class_name(cls) -> str:
        return "QAEmbedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._backend.embed_queries([query])[0].tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._backend.embed([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._backend.embed(texts).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

