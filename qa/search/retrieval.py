"""Hybrid retrieval: jieba BM25 and dense FAISS search fused by reciprocal rank, then scoped.

Scoping uses the catalog: a question naming a document's place (or its short form), a
five-year plan or a year favours passages of matching documents and headings instead of
filtering them out, because a later report often speaks about an earlier plan's period.
"""
from __future__ import annotations

import heapq
from collections import defaultdict
from functools import lru_cache
from typing import Iterable

import numpy as np
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.retrievers.bm25 import BM25Retriever

from qa.index.index import Index
from qa.search.query import YEAR, Query, analyse
from qa.text import simplified

# Candidates each retriever contributes before fusion.
CANDIDATES = 40
# Below this share of all passages, a place's documents are also searched on their own.
SCOPED_SEARCH_SHARE = 0.1
# Multipliers on the fused score; 1.0 = neutral.
PLACE_MATCH, PLACE_MISMATCH = 1.6, 0.35
PERIOD_MATCH, PERIOD_MISMATCH = 1.3, 0.7
YEAR_MATCH = 1.25


def rrf(rankings: Iterable[list], k: int = 60) -> dict:
    """Reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009): sum of 1/(k + rank)."""
    scores: dict = defaultdict(float)
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] += 1.0 / (k + rank)
    return dict(scores)


def top_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, highest first: partial selection, then a sort of only
    those (O(N + k log k), not O(N log N))."""
    top = np.argpartition(-scores, k - 1)[:k] if 0 < k < len(scores) else np.arange(len(scores))
    return top[np.argsort(-scores[top], kind="stable")]


def merge_ranked(*rankings: tuple[np.ndarray, np.ndarray]) -> list[int]:
    """Rows of several (rows, scores) rankings, each row once, best score first (ties keep
    the order given: the overall ranking before the scoped one)."""
    best: dict[int, float] = {}
    for rows, scores in rankings:
        best.update(zip(rows.tolist(), scores.tolist()))
    return sorted(best, key=lambda row: -best[row])


class JiebaBM25Retriever(BM25Retriever):
    """The stock BM25 retriever, fed jieba tokens instead of its English stemmer."""

    def __init__(self, index: Index, similarity_top_k: int = CANDIDATES):
        self._index = index
        super().__init__(existing_bm25=index.bm25, similarity_top_k=similarity_top_k,
                         skip_stemming=True)

    def ranked(self, tokens: list[str], within: np.ndarray | None = None) -> list[tuple[int, float]]:
        """(row, score) of the best-scoring passages, best first (positive scores only); with
        `within`, the best of those rows join the overall best."""
        if not tokens:
            return []
        scores = self.bm25.get_scores(tokens)
        top = top_rows(scores, self.similarity_top_k)
        if within is not None:
            scoped = within[top_rows(scores[within], self.similarity_top_k)]
            top = merge_ranked((top, scores[top]), (scoped, scores[scoped]))
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return [NodeWithScore(node=self._index.passages.at(row), score=score)
                for row, score in self.ranked(self._index.tokenize(query_bundle.query_str))]


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
        self.ceiling = ((PLACE_MATCH if self.places else 1.0) * (PERIOD_MATCH if self.period_values else 1.0)
                        * (YEAR_MATCH if self.years else 1.0))  # the most `factor` can give

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

    def factor(self, metadata: dict, context: str) -> float:
        """How well a passage's document, heading and text fit the place, period and year asked."""
        if not self.scoped:
            return 1.0
        factor = 1.0
        place = self.place_fits(metadata, context)
        if place is not None:
            factor *= PLACE_MATCH if place else PLACE_MISMATCH
        period = self.period_fits(metadata, context)
        if period is not None:
            factor *= PERIOD_MATCH if period else PERIOD_MISMATCH
        if self.years and any(y in context or y in metadata.get("period", "") for y in self.years):
            factor *= YEAR_MATCH
        return factor


@lru_cache(maxsize=1024)
def _last_year(period: str) -> int | None:
    years = [int(y) for y in YEAR.findall(period)]
    return max(years) if years else None


class HybridRetriever(BaseRetriever):
    """BM25 + dense, fused by RRF, reweighted by the question's scope."""

    def __init__(self, index: Index, top_k: int = 10, rrf_k: int = 60, mode: str = "hybrid"):
        super().__init__()
        self.index = index
        self.top_k = top_k
        self.rrf_k = rrf_k
        self.mode = mode
        self.bm25 = JiebaBM25Retriever(index)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return self.retrieve_query(analyse(query_bundle.query_str, self.index))

    def _dense_rows(self, text: str, within: np.ndarray | None = None) -> list[int]:
        """The dense ranking from the FAISS index of llama-index's FAISS store (its `client`);
        FAISS ids are passage rows. Its query() would turn the vector into a Python list and
        back and wrap the ids in objects: a third of a dense search at 1×. With `within`, the
        nearest of those rows (exact, from the stored vectors) join the overall nearest."""
        vector = self.index.embedder.embed([text])
        similarities, ids = self.index.vector_store.client.search(vector, CANDIDATES)
        found = ids[0] >= 0
        if within is None:
            return ids[0][found].tolist()
        near = np.asarray(self.index.vectors[within]) @ vector[0]
        best = top_rows(near, CANDIDATES)
        return merge_ranked((ids[0][found], similarities[0][found]), (within[best], near[best]))

    def _place_rows(self, query: Query) -> np.ndarray | None:
        """Rows of the documents about the places asked: searched on their own as well, so a
        town's own plans are not crowded out by hundreds of other towns' look-alike passages."""
        if not query.places:
            return None
        rows = np.concatenate([self.index.passages.rows_of_place(p) for p in query.places])
        if not len(rows) or len(rows) >= SCOPED_SEARCH_SHARE * len(self.index.passages):
            return None  # a place with this share of the corpus holds its own in the overall top
        return rows

    def retrieve_query(self, query: Query) -> list[NodeWithScore]:
        text = (query.retrieval_text or query.search_text or query.text).strip()
        if not text:
            return []
        rankings = []
        within = self._place_rows(query)
        if self.mode in ("hybrid", "bm25"):
            rankings.append([row for row, _ in self.bm25.ranked(self.index.tokenize(text), within)])
        if self.mode in ("hybrid", "dense"):
            rankings.append(self._dense_rows(text, within))
        passages = self.index.passages
        scope = Scope(query)
        best: list[float] = []  # min-heap of the top_k scoped scores so far
        scored = []
        fused = sorted(rrf(rankings, self.rrf_k).items(), key=lambda pair: -pair[1])
        for order, (row, score) in enumerate(fused):
            if len(best) == self.top_k and score * scope.ceiling < best[0]:
                break  # no later passage, however well scoped, can reach the top_k
            scoped = score * scope.factor(passages.at(row).metadata, passages.context(row))
            scored.append((-scoped, order, row))
            if len(best) < self.top_k:
                heapq.heappush(best, scoped)
            elif scoped > best[0]:
                heapq.heapreplace(best, scoped)
        scored.sort()
        return [NodeWithScore(node=passages.at(r), score=-s) for s, _, r in scored[: self.top_k]]
