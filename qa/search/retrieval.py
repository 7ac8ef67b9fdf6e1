"""Hybrid retrieval: jieba BM25, the model's vectors (multilingual-e5-small by default) and the
corpus-fitted LSA vectors fused by a learned logistic score (qa.search.fusion; QA_FUSION=rrf, or
the Milvus back end, fuse by reciprocal rank instead), then scoped.

Scoping uses the catalog: a question naming a document's place (or its short form), a
five-year plan or a year favours passages of matching documents and headings instead of
filtering them out, because a later report often speaks about an earlier plan's period.
"""
from __future__ import annotations

import heapq
import math
from functools import lru_cache

from qa.index.index import Index
from qa.index.passage import NodeWithScore
from qa.search.backends import (CANDIDATES, JiebaBM25Retriever, merge_ranked, rrf,  # noqa: F401
                                search_backend, signals_of, top_rows)
from qa.search.fusion import HAND_SET_LOGS, SCOPE_PARTS, FusionModel
from qa.search.query import YEAR, Query, analyse
from qa.text import simplified

# Below this share of all passages, a place's documents are also searched on their own.
SCOPED_SEARCH_SHARE = 0.1


class Scope:
    """A question's place, period and years, worked out once so that checking a passage
    against them costs a few substring tests (it runs for every candidate passage)."""

    def __init__(self, query: Query):
        self.places = set(query.places)
        self.stems = [f for p in query.places for f in query.place_forms.get(p, ())]
        self.other_places = [query.place_forms.get(p, (p,)) for p in query.other_places]
        self.period_values = set(query.periods.values())
        self.period_names = list(query.periods)
        self.asked_start = min((int(span[:4]) for span in query.periods.values()), default=0)
        self.years = list(query.years)
        self.scoped = bool(self.places or self.other_places or self.period_values or self.years)
        self._simplified_places: dict[str, str] = {}  # documents' places, converted once a question

    def ceiling(self, logs: tuple[float, ...] = HAND_SET_LOGS) -> float:
        """The most `factor` can give with these logs of the parts' multipliers."""
        can = (bool(self.places), bool(self.places or self.other_places), bool(self.period_values),
               bool(self.period_values), bool(self.years))
        return math.exp(sum(max(log, 0.0) for log, possible in zip(logs, can) if possible))

    def place_fits(self, metadata: dict, context: str) -> bool | None:
        """None when the question names no place; else whether the passage is about that place."""
        if self.other_places and not all(any(f in context for f in forms) for forms in self.other_places):
            return False
        if not self.places:
            return None
        place = metadata.get("place", "")
        if place not in self._simplified_places:
            self._simplified_places[place] = simplified(place)
        return self._simplified_places[place] in self.places or any(s in context for s in self.stems)

    def period_fits(self, metadata: dict, context: str) -> bool | None:
        """None when the question names no 五年 period; else whether the passage can speak of it.

        A document written before the period asked about cannot hold its plan unless it names
        it; a later one may look back on it (a 十五五 plan reviews 十四五), so that is allowed.
        """
        if not self.period_values:
            return None
        period = metadata.get("period", "")
        if period in self.period_values or any(name in context for name in self.period_names):
            return True
        last = _last_year(period)
        return last is not None and last >= self.asked_start

    def factor(self, metadata: dict, context: str, logs: tuple[float, ...] = HAND_SET_LOGS) -> float:
        """How well a passage's document, heading and text fit the place, period and year asked:
        the product of the multipliers (their logs: `logs`, by SCOPE_PARTS) of the parts that hold."""
        if not self.scoped:
            return 1.0
        return math.exp(sum(log for log, part in zip(logs, self.parts(metadata, context)) if part))

    def parts(self, metadata: dict, context: str) -> tuple[bool, ...]:
        """Which of SCOPE_PARTS hold for a passage."""
        if not self.scoped:
            return (False,) * len(SCOPE_PARTS)
        place = self.place_fits(metadata, context)
        period = self.period_fits(metadata, context)
        year = bool(self.years) and any(y in context or y in metadata.get("period", "") for y in self.years)
        return place is True, place is False, period is True, period is False, year


@lru_cache(maxsize=1024)
def _last_year(period: str) -> int | None:
    years = [int(y) for y in YEAR.findall(period)]
    return max(years) if years else None


class HybridRetriever:
    """BM25 + dense, fused by RRF, reweighted by the question's scope."""

    def __init__(self, index: Index, top_k: int = 10, rrf_k: int = 60, mode: str = "hybrid",
                 weights: dict[str, float] | None = None, fusion: FusionModel | None = None):
        self.index = index
        self.top_k = top_k
        self.rrf_k = rrf_k
        self.mode = mode
        self.signals = signals_of(mode)  # checks the mode's names
        self.weights = weights or {}  # per signal, for weighted RRF (default: all 1)
        # embedded FAISS + bm25s (with the learned `fusion` when given and fitted for the
        # index, else RRF), or Milvus
        self.backend = search_backend(index, fusion)

    def retrieve(self, question: str) -> list[NodeWithScore]:
        return self.retrieve_query(analyse(question, self.index))

    def _scoped_places(self, query: Query) -> list[str] | None:
        """The places asked, when their documents are to be searched on their own as well, so a
        town's own plans are not crowded out by hundreds of other towns' look-alike passages."""
        if not query.places:
            return None
        rows = sum(len(self.index.passages.rows_of_place(p)) for p in query.places)
        if not rows or rows >= SCOPED_SEARCH_SHARE * len(self.index.passages):
            return None  # a place with this share of the corpus holds its own in the overall top
        return list(query.places)

    @staticmethod
    def _text(query: Query) -> str:
        return (query.retrieval_text or query.search_text or query.text).strip()

    def dense_text(self, query: Query) -> str:
        """What the model embeds: an English question as asked when the model is multilingual
        (BM25 and LSA read its glossary terms); the LSA, fitted to the corpus, reads those too."""
        if query.english and self.index.reads_english:
            return query.text
        return self._text(query)

    def prepare(self, queries: list[Query]) -> None:
        """Embed these questions' retrieval texts ahead of answering them (in chunks, while the
        first are answered); answering them then finds the vectors remembered by the index."""
        if "dense" in self.signals:
            texts = [self.dense_text(q) for q in queries]
            texts = list(dict.fromkeys(t for t in texts if t))
            if texts:
                self.index.prefetch_queries(texts)

    def retrieve_query(self, query: Query) -> list[NodeWithScore]:
        text = self._text(query)
        if not text:
            return []
        dense_text = self.dense_text(query)
        fused = self.backend.fused(text, self.index.tokenize(text), self._scoped_places(query),
                                   self.mode, self.rrf_k, self.weights, dense_text=dense_text)
        passages = self.index.passages
        scope = Scope(query)
        logs = self.backend.scope_logs
        ceiling = scope.ceiling(logs)
        best: list[float] = []  # min-heap of the top_k scoped scores so far
        scored = []
        for order, (row, score) in enumerate(fused):
            if len(best) == self.top_k and score * ceiling < best[0]:
                break  # no later passage, however well scoped, can reach the top_k
            scoped = score * scope.factor(passages.at(row).metadata, passages.context(row), logs)
            scored.append((-scoped, order, row))
            if len(best) < self.top_k:
                heapq.heappush(best, scoped)
            elif scoped > best[0]:
                heapq.heapreplace(best, scoped)
        scored.sort()
        return [NodeWithScore(node=passages.at(r), score=-s) for s, _, r in scored[: self.top_k]]
