"""Search back ends behind one interface: a question's text and tokens in, passage rows with
fused reciprocal-rank scores out.

- `EmbeddedBackend` (QA_SEARCH_BACKEND=embedded, the default): jieba BM25 (bm25s), the model's
  dense FAISS search (multilingual-e5-small by default) and, beside a neural model, the
  corpus-fitted LSA vectors' FAISS search, over the index folder's files, fused here by RRF.
- `MilvusBackend` (QA_SEARCH_BACKEND=milvus): Milvus searches over the index version's
  collection alias: a BM25 request (Milvus's full-text function), the model's vectors and, beside
  a neural model, the LSA vectors; a place-scoped search adds the same requests each filtered by
  a per-request `expr` (Milvus Lite ignores `hybrid_search(filter=...)`). QA_MILVUS_FUSION says
  who fuses: "client" (default) runs each request on its own and fuses here exactly as the
  embedded back end does (a signal's scoped hits merged into its overall ranking by score, then
  weighted RRF over the signals); "rrf" sends them in one `hybrid_search` with Milvus's
  RRFRanker, which counts a scoped request as a ranking of its own and has no weights.

Both search a place with a small share of the corpus on its own as well, so a town's own
documents are not crowded out by many look-alike towns.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Protocol

import numpy as np

from qa.errors import QAError
from qa.index.index import Index
from qa.index.passage import NodeWithScore
from qa.index.milvus import OUTPUT_FIELDS, expression, segmented
from qa.search.fusion import HAND_SET_LOGS, FusionModel, Signals, candidates, features
from qa.text import normalise

# Candidates each ranking contributes before fusion.
CANDIDATES = 40


SIGNALS = ("bm25", "dense", "lsa")  # "dense" is the model's vectors; "lsa" the fitted LSA beside it


def signals_of(mode: str) -> tuple[str, ...]:
    """The signals a retrieval mode fuses: "hybrid" is all of them, else "+"-joined names."""
    if mode == "hybrid":
        return SIGNALS
    names = tuple(mode.split("+"))
    unknown = [n for n in names if n not in SIGNALS]
    if unknown:
        raise ValueError(f"unknown retrieval signals {unknown} (known: {SIGNALS})")
    return names


def rrf(rankings: Iterable[list], k: int = 60, weights: Iterable[float] | None = None) -> dict:
    """Reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009): sum of w/(k + rank),
    every ranking weighing 1 unless `weights` says otherwise."""
    scores: dict = defaultdict(float)
    rankings = list(rankings)
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    for ranking, weight in zip(rankings, weights):
        for rank, key in enumerate(ranking, start=1):
            scores[key] += weight / (k + rank)
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


class SearchBackend(Protocol):
    name: str
    scope_logs: tuple[float, ...]  # logs of the scope parts' multipliers on the fused score

    def fused(self, text: str, tokens: list[str], places: list[str] | None, mode: str,
              rrf_k: int, weights: dict[str, float] | None = None,
              dense_text: str | None = None) -> list[tuple[int, float]]:
        """(row, fused score) best first; `places` also searched on their own when given;
        `mode` is "hybrid", "bm25", "dense" or signals joined by "+" (signals_of); `weights`
        per signal (default 1); `dense_text` what the model embeds (default `text`)."""


class JiebaBM25Retriever:
    """The index's bm25s scores over jieba tokens (what llama-index's stock BM25 retriever
    computes, fed jieba tokens instead of its English stemmer)."""

    def __init__(self, index: Index, similarity_top_k: int = CANDIDATES):
        self._index = index
        self.bm25 = index.bm25
        self.similarity_top_k = similarity_top_k

    def scores(self, tokens: list[str]) -> np.ndarray:
        """The BM25 score of every passage row (zeros without tokens)."""
        return self.bm25.get_scores(tokens) if tokens else np.zeros(len(self._index.passages))

    def ranked(self, tokens: list[str], within: np.ndarray | None = None,
               scores: np.ndarray | None = None) -> list[tuple[int, float]]:
        """(row, score) of the best-scoring passages, best first (positive scores only); with
        `within`, the best of those rows join the overall best. `scores`: `tokens`' scores when
        already worked out."""
        if not tokens:
            return []
        scores = self.scores(tokens) if scores is None else scores
        top = top_rows(scores, self.similarity_top_k)
        if within is not None:
            scoped = within[top_rows(scores[within], self.similarity_top_k)]
            top = merge_ranked((top, scores[top]), (scoped, scores[scoped]))
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]

    def retrieve(self, text: str) -> list[NodeWithScore]:
        return [NodeWithScore(node=self._index.passages.at(row), score=score)
                for row, score in self.ranked(self._index.tokenize(text))]


class EmbeddedBackend:
    """bm25s and FAISS files of the index folder, fused by RRF in this process."""

    name = "embedded"

    def __init__(self, index: Index, fusion: FusionModel | None = None):
        self.index = index
        self.bm25 = JiebaBM25Retriever(index)
        # the learned fusion, where it was fitted for this index's signals (else RRF)
        fits = fusion is not None and index.lsa is not None and fusion.fits(index.model.get("id", ""))
        self.fusion = fusion if fits else None
        # logs of the scope parts' multipliers (qa.search.retrieval.SCOPE_PARTS): learned with
        # the fusion, else the hand-set ones
        self.scope_logs = self.fusion.scope_weights if self.fusion is not None else HAND_SET_LOGS

    def dense_rows(self, text: str, within: np.ndarray | None = None) -> list[int]:
        """The model's ranking from the FAISS index of llama-index's FAISS store (its `client`);
        FAISS ids are passage rows. Its query() would turn the vector into a Python list and
        back and wrap the ids in objects: a third of a dense search at 1×."""
        return nearest(self.index.embed_queries([text]), self.index.vector_store.client,
                       self.index.vectors, within)

    def lsa_rows(self, text: str, within: np.ndarray | None = None,
                 vector: np.ndarray | None = None) -> list[int]:
        """The LSA ranking, where the index holds LSA vectors beside a neural model."""
        lsa = self.index.lsa
        if lsa is None:
            return []
        vector = lsa.embedder.embed_queries([text]) if vector is None else vector
        return nearest(vector, lsa.search, lsa.vectors, within)

    def _within(self, places: list[str] | None) -> np.ndarray | None:
        return (np.concatenate([self.index.passages.rows_of_place(p) for p in places])
                if places else None)

    def signals(self, text: str, tokens: list[str], places: list[str] | None,
                dense_text: str | None = None) -> Signals:
        """Every signal of one question (what the learned fusion reads): BM25 over all
        passages, each signal's ranking, and both cosines of every candidate."""
        within = self._within(places)
        scores = self.bm25.scores(tokens)
        query = self.index.embed_queries([dense_text or text])
        lsa = self.index.lsa
        lsa_query = lsa.embedder.embed_queries([text]) if lsa is not None else None
        rankings = {"bm25": [row for row, _ in self.bm25.ranked(tokens, within, scores)],
                    "dense": nearest(query, self.index.vector_store.client, self.index.vectors, within)}
        if lsa is not None:
            rankings["lsa"] = self.lsa_rows(text, within, lsa_query)
        rows = candidates(rankings)
        dense = self.index.passage_vectors(rows) @ query[0]
        lsa_cosine = (np.asarray(lsa.vectors[rows]) @ lsa_query[0]) if lsa is not None else np.zeros(0)
        return Signals(scores, rankings, rows, dense, lsa_cosine)

    def learned(self, text, tokens, places, dense_text=None) -> list[tuple[int, float]]:
        """(row, odds of being the question's passage relative to the best) best first, by the
        learned fusion."""
        signals = self.signals(text, tokens, places, dense_text)
        if not len(signals.rows):
            return []
        scores = self.fusion.odds(features(signals, self.index.passages.document_numbers))
        order = np.argsort(-scores, kind="stable")
        return list(zip(signals.rows[order].tolist(), scores[order].tolist()))

    def fused(self, text, tokens, places, mode, rrf_k, weights=None, dense_text=None):
        """The learned fusion for the hybrid mode when fitted for this index (`weights` and
        `rrf_k` then unused), else RRF."""
        if mode == "hybrid" and self.fusion is not None:
            return self.learned(text, tokens, places, dense_text)
        within = self._within(places)
        rankings, weighting = [], []
        for signal in signals_of(mode):
            if signal == "bm25":
                rankings.append([row for row, _ in self.bm25.ranked(tokens, within)])
            elif signal == "dense":
                rankings.append(self.dense_rows(dense_text or text, within))
            else:
                rankings.append(self.lsa_rows(text, within))
            weighting.append((weights or {}).get(signal, 1.0))
        return sorted(rrf(rankings, rrf_k, weighting).items(), key=lambda pair: -pair[1])


def nearest(vector: np.ndarray, search, vectors: np.ndarray, within: np.ndarray | None) -> list[int]:
    """Rows nearest `vector` in a FAISS index; with `within`, the nearest of those rows (exact,
    from the stored vectors) join the overall nearest."""
    vector = np.ascontiguousarray(vector, dtype=np.float32)
    similarities, ids = search.search(vector, CANDIDATES)
    found = ids[0] >= 0
    if within is None:
        return ids[0][found].tolist()
    near = np.asarray(vectors[within]) @ vector[0]
    best = top_rows(near, CANDIDATES)
    return merge_ranked((ids[0][found], similarities[0][found]), (within[best], near[best]))


class MilvusBackend:
    """Milvus hybrid search (BM25 function + dense) with RRF over the index's collection alias."""

    name = "milvus"
    scope_logs = HAND_SET_LOGS

    def __init__(self, index: Index):
        self.index = index
        self.client = index.milvus
        self.record = index.manifest["milvus"]
        self.fusion = getattr(index, "milvus_fusion", "client")
        if self.fusion not in ("client", "rrf"):
            raise QAError(f"QA_MILVUS_FUSION 只能是 client 或 rrf，而不是 {self.fusion}")
        self.client.load_collection(self.record["alias"])  # a no-op when the engine has it loaded

    def requests(self, text: str, tokens: list[str], places: list[str] | None, mode: str,
                 dense_text: str | None = None) -> list:
        """One request per signal (BM25, the model's vectors, LSA beside a neural model), and
        the same again filtered to the places when they are searched on their own."""
        from pymilvus import AnnSearchRequest

        signals = signals_of(mode)
        query = segmented(tokens) if self.record["analyzer"] == "segmented" else normalise(text)
        vectors = {}
        if "dense" in signals:
            vectors["dense"] = self.index.embed_queries([dense_text or text])[0]
        if "lsa" in signals and self.record.get("lsa") and self.index.lsa is not None:
            vectors["lsa"] = self.index.lsa.embedder.embed_queries([text])[0]
        requests = []
        for expr in [""] + ([expression(places=places)] if places else []):
            if "bm25" in signals and query.strip():
                requests.append(AnnSearchRequest(data=[query], anns_field="sparse", limit=CANDIDATES,
                                                 param={"metric_type": "BM25"}, expr=expr))
            for field, vector in vectors.items():
                requests.append(AnnSearchRequest(
                    data=[np.asarray(vector, dtype=np.float32).tolist()], anns_field=field, limit=CANDIDATES,
                    expr=expr, param={"metric_type": "IP", "params": self.record.get("dense_search") or {}}))
        return requests

    def fused(self, text, tokens, places, mode, rrf_k, weights=None, dense_text=None):
        """With QA_MILVUS_FUSION=rrf, Milvus's RRF ranker weighs every request alike: `weights`
        other than 1 are not applied."""
        from pymilvus import MilvusException

        requests = self.requests(text, tokens, places, mode, dense_text)
        if not requests:
            return []
        search = self._fuse_here if self.fusion == "client" else self._search
        try:
            hits = search(requests, rrf_k, weights)
        except MilvusException as exc:
            if "load" not in str(exc):
                raise
            # a version published by another process (or an embedded Lite file opened anew) is
            # searchable once loaded into this client's engine
            self.client.load_collection(self.record["alias"])
            hits = search(requests, rrf_k, weights)
        if self.fusion == "client":
            return hits
        out = []
        for hit, score in hits:
            row = self.local_row(hit["entity"])
            if row is not None:
                out.append((row, score))
        return out

    def _ranking(self, collection: str, request) -> tuple[np.ndarray, np.ndarray]:
        """One request's hits as (local rows, scores higher-is-better): Milvus Lite gives BM25
        distances negated, a server positive, so BM25 reads their magnitude."""
        found = self.client.search(collection, data=request.data, anns_field=request.anns_field,
                                   limit=request.limit, search_params=request.param,
                                   output_fields=OUTPUT_FIELDS, filter=request.expr or "")[0]
        rows, scores = [], []
        for hit in found:
            row = self.local_row(hit["entity"])
            if row is not None:
                distance = float(hit["distance"])
                rows.append(row)
                scores.append(abs(distance) if request.anns_field == "sparse" else distance)
        return np.asarray(rows, dtype=np.int64), np.asarray(scores, dtype=np.float64)

    def _fuse_here(self, requests: list, rrf_k: int, weights=None) -> list[tuple[int, float]]:
        """Each request on its own; a signal's scoped ranking merged into its overall one by
        score, then weighted RRF over the signals: the embedded back end's fusion. All requests
        search the collection the alias names when they start, so a re-index switching the
        alias meanwhile does not fuse one version's ranking with another's."""
        collection = self.client.describe_alias(self.record["alias"])["collection_name"]
        by_signal: dict[str, list] = {}
        for request in requests:
            by_signal.setdefault(request.anns_field, []).append(self._ranking(collection, request))
        rankings = [merge_ranked(*found) for found in by_signal.values()]
        signal = {"sparse": "bm25", "dense": "dense", "lsa": "lsa"}
        weighting = [(weights or {}).get(signal[field], 1.0) for field in by_signal]
        return sorted(rrf(rankings, rrf_k, weighting).items(), key=lambda pair: -pair[1])

    def _search(self, requests: list, rrf_k: int, weights=None) -> list[tuple[dict, float]]:
        from pymilvus import RRFRanker

        alias = self.record["alias"]
        if len(requests) == 1:  # one ranking: its RRF scores are 1/(k + rank)
            r = requests[0]
            found = self.client.search(alias, data=r.data, anns_field=r.anns_field, limit=r.limit,
                                       search_params=r.param, output_fields=OUTPUT_FIELDS)[0]
            hits = [(hit, 1.0 / (rrf_k + rank)) for rank, hit in enumerate(found, start=1)]
        else:
            found = self.client.hybrid_search(alias, requests, RRFRanker(rrf_k),
                                              limit=CANDIDATES * len(requests),
                                              output_fields=OUTPUT_FIELDS)[0]
            hits = [(hit, float(hit["distance"])) for hit in found]
        return hits

    def local_row(self, entity: dict) -> int | None:
        """The loaded index's row of a hit. While a re-index is being published the alias may
        point to a newer version than the one this process loaded (or an older one): a row
        holding other text is found by its text hash, and a passage this index lacks is left out."""
        row, key = int(entity["row"]), entity["text_hash"]
        passages = self.index.passages
        if 0 <= row < len(passages) and passages.at(row).metadata.get("text_hash") == key:
            return row
        known = passages.rows_by_hash([key])
        return known[key][0] if key in known else None


def search_backend(index: Index, fusion: FusionModel | None = None) -> SearchBackend:
    """The back end the index was opened with (Index.open reads QA_SEARCH_BACKEND); `fusion`,
    the learned fusion, is used by the embedded back end (Milvus fuses by its RRF ranker)."""
    if getattr(index, "milvus", None) is not None:
        return MilvusBackend(index)
    return EmbeddedBackend(index, fusion)
