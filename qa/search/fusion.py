"""Learned fusion of the retrieval signals: one linear score per candidate passage instead of
reciprocal-rank fusion's hand-set equal weights.

A question's candidates are the passages any signal ranks among its best (BM25, the model's
vectors, the corpus-fitted LSA). Each candidate gets the features of `FEATURES`, from its own
scores and from its document's (passage scores added up by document stand in for whole-document
BM25, so a document that matches the question throughout is preferred over a single lucky
chunk). A logistic regression, fitted by `python -m qa.search.fusion_training` on CMRC 2018
train and our own gold (never the shared dev set or CMRC dev) and written to qa/data/fusion.json
with its card, turns them into P(the passage is the question's), which replaces the RRF score.

The card names the features and the embedder the model was fitted with; a mismatch with this
code fails loudly at load, and an index built with another embedder keeps RRF.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.models import LinearModel

FUSION_FILE = Path(__file__).resolve().parents[1] / "data" / "fusion.json"
FUSION_VERSION = 2

# What a passage's fit to the question's scope is made of (qa.search.retrieval.Scope.parts), and
# the hand-set multipliers RRF scores get for each (1.0 = neutral); the learned fusion learns its own.
SCOPE_PARTS = ("place_match", "place_mismatch", "period_match", "period_mismatch", "year_match")
PLACE_MATCH, PLACE_MISMATCH = 1.6, 0.35
PERIOD_MATCH, PERIOD_MISMATCH = 1.3, 0.7
YEAR_MATCH = 1.25
HAND_SET_LOGS = tuple(math.log(m) for m in (PLACE_MATCH, PLACE_MISMATCH, PERIOD_MATCH, PERIOD_MISMATCH,
                                            YEAR_MATCH))

# Scores, not ranks: with 1/rank features (tried) a hair's difference between the first two
# passages outweighed the question's place and period, and held-out recall was lower.
FEATURES = (
    "bm25",            # the passage's BM25 score / the best passage's
    "bm25_doc_best",   # its document's best passage BM25 / the best passage's
    "bm25_doc_sum",    # its document's passage BM25 scores summed / the best document's sum
    "dense",           # the model's cosine minus the best candidate's
    "dense_doc_best",  # its document's best candidate cosine minus the best candidate's
    "lsa",             # LSA cosine minus the best candidate's
    "lsa_doc_best",    # its document's best candidate LSA cosine minus the best candidate's
)


@dataclass
class Signals:
    """One question's raw signals: BM25 over every passage, the rankings each signal returned,
    and the model's and LSA's cosines for the candidate passages."""

    bm25: np.ndarray                # BM25 score of every passage row
    rankings: dict[str, list[int]]  # "bm25" / "dense" / "lsa" -> rows best first
    rows: np.ndarray                # candidates: every row of any ranking, in first-seen order
    dense: np.ndarray               # cosine of each candidate (the model's vectors)
    lsa: np.ndarray                 # cosine of each candidate (LSA)


def candidates(rankings: dict[str, list[int]]) -> np.ndarray:
    """Every row any ranking holds, each once, in the order first met."""
    return np.array(list(dict.fromkeys(r for ranking in rankings.values() for r in ranking)), dtype=np.int64)


def _doc_best(values: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """For each candidate, the best value among the candidates of its document."""
    if not len(values):
        return values
    order = np.lexsort((values, docs))  # by document, then value: each document's best comes last
    ends = np.append(np.flatnonzero(np.diff(docs[order])), len(order) - 1)
    best = np.empty(len(values))
    best[order] = np.repeat(values[order][ends], np.diff(np.append(-1, ends)))
    return best


def features(signals: Signals, documents: np.ndarray) -> np.ndarray:
    """Candidates × FEATURES; `documents` is each passage row's document number."""
    rows = signals.rows
    out = np.zeros((len(rows), len(FEATURES)))
    if not len(rows):
        return out
    docs = documents[rows]
    bm25 = np.maximum(signals.bm25, 0.0)
    top = float(bm25.max()) if len(bm25) else 0.0
    if top > 0:
        sums = np.bincount(documents, weights=bm25)
        best_doc = np.zeros_like(sums)
        hits = np.flatnonzero(bm25)  # passages holding a question term: a few of all
        np.maximum.at(best_doc, documents[hits], bm25[hits])
        out[:, 0] = bm25[rows] / top
        out[:, 1] = best_doc[docs] / top
        out[:, 2] = sums[docs] / float(sums.max())
    for column, name in ((3, "dense"), (5, "lsa")):
        cosine = getattr(signals, name)
        if len(cosine) and name in signals.rankings:
            out[:, column] = cosine - cosine.max()
            out[:, column + 1] = _doc_best(cosine, docs) - cosine.max()
    return out


def embedder_key(embedder_id: str) -> str:
    """An embedder id without where the model folder lies ("st:/x/models/e5:digest" ->
    "e5:digest"): the same converted model fits in any checkout."""
    parts = embedder_id.split(":")
    if parts[0] == "st" and len(parts) == 3:
        return f"{Path(parts[1]).name}:{parts[2]}"
    return embedder_id


@dataclass(frozen=True)
class FusionModel:
    """The logistic regression over FEATURES (qa/models.py, unstandardised) with the weights of
    SCOPE_PARTS (a passage's place, period and year fit to the question), and its card. The scope
    parts' weights are the logs of their multipliers on the odds: how much place and period count
    against the signals is learned, not set by hand."""

    model: LinearModel
    card: dict
    scope_weights: tuple[float, ...] = HAND_SET_LOGS

    def logits(self, rows: np.ndarray) -> np.ndarray:
        return self.model.logits(rows)

    def odds(self, rows: np.ndarray) -> np.ndarray:
        """Each candidate's odds relative to the best candidate's (the best has 1): the scope's
        multipliers then act as likelihood ratios, as on RRF scores."""
        logits = self.logits(rows)
        return np.exp(logits - logits.max()) if len(logits) else logits

    def fits(self, embedder_id: str) -> bool:
        """Whether an index's embedder is the one the model was fitted with."""
        return self.card.get("embedder") == embedder_key(embedder_id)

    def to_json(self) -> str:
        data = {"version": FUSION_VERSION, "features": list(FEATURES),
                "weights": [round(float(w), 6) for w in self.model.coef],
                "scope_parts": list(SCOPE_PARTS),
                "scope_weights": [round(float(w), 6) for w in self.scope_weights],
                "intercept": round(float(self.model.intercept), 6), "card": self.card}
        return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


def load_fusion(path: Path = FUSION_FILE) -> FusionModel | None:
    """The fitted model; None when the file is missing (RRF is used). A file written for other
    features or another version fails loudly: the code and the model must agree."""
    if not Path(path).exists():
        return None
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if (data.get("version") != FUSION_VERSION or tuple(data.get("features", ())) != FEATURES
            or tuple(data.get("scope_parts", ())) != SCOPE_PARTS):
        raise ValueError(f"{path}: fitted for features {data.get('features')} and scope parts "
                         f"{data.get('scope_parts')} (version {data.get('version')}), this code has "
                         f"{list(FEATURES)} and {list(SCOPE_PARTS)} (version {FUSION_VERSION}); "
                         "refit with python -m qa.search.fusion_training")
    return FusionModel(LinearModel(np.array(data["weights"], dtype=np.float64), float(data["intercept"])),
                       data["card"], tuple(float(w) for w in data["scope_weights"]))
