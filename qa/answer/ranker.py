"""The learned answer scorer: P(this sentence holds the fact asked) for each candidate.

The model is a small JSON file inside the package (qa/data/answer_ranker.json), written by
`qa train` (qa/evaluation/training.py) from public data and the team's own gold with a fixed
seed. It holds a model over the features of qa/answer/features.py (gradient-boosted trees or a
logistic regression, qa/models.py: evaluated with numpy, never scikit-learn), the threshold below
which the answerer declines (chosen on held-out questions so that false abstention stays within
the target), when a sentence that covers little of the question's wording may still answer, and a
card of the figures it was checked on.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.answer.features import FEATURES, FEATURES_VERSION
from qa.models import LinearModel, TreeEnsemble, model_from_json

MODEL_FILE = Path(__file__).resolve().parents[1] / "data" / "answer_ranker.json"
MODEL_FORMAT = 2  # 2: the model is a dict with its "kind" under "model"
# the embedding model whose question–passage similarity the scorer was trained on (dense_similarity)
TRAINED_EMBEDDER = "multilingual-e5-small"
ALWAYS_GATED = 2.0  # a `confident` no probability reaches


@dataclass(frozen=True)
class Ranker:
    features: tuple[str, ...]
    model: LinearModel | TreeEnsemble
    threshold: float       # answer only when the best candidate's probability reaches this
    follow_ratio: float    # a further sentence joins when its probability is this close to the best
    version: str
    # from this probability the best candidate answers even when it covers less of the question's
    # wording than QA_MIN_SUPPORT (chosen held out by `qa train`; above 1: the support gate always applies)
    confident: float = ALWAYS_GATED

    @classmethod
    def from_json(cls, data: dict) -> "Ranker":
        if data.get("format") != MODEL_FORMAT or data.get("features_version") != FEATURES_VERSION \
                or tuple(data.get("features", ())) != FEATURES:
            raise ValueError("answer model was trained on other features; run qa train")
        return cls(features=tuple(data["features"]), model=model_from_json(data["model"]),
                   threshold=float(data["threshold"]), follow_ratio=float(data["follow_ratio"]),
                   version=str(data.get("version", "")),
                   confident=float(data.get("confident", ALWAYS_GATED)))

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """P(answer) for each row of features (FEATURES order)."""
        return self.model.probabilities(rows)


def fits_index(index) -> bool:
    """Was the scorer trained on the similarities of this index's embedding model? Over another
    (the offline LSA fallback) its trees read values of another scale, and the hand-set score answers."""
    return TRAINED_EMBEDDER in getattr(index.embedder, "name", "")


@lru_cache(maxsize=4)
def _load(path: str, stamp: float) -> Ranker:
    return Ranker.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def load_ranker(path: Path | None = None) -> Ranker | None:
    """The packaged model (or the one at `path`); None when there is none or it does not fit the
    features, in which case answering falls back to the hand-set score."""
    path = Path(path or MODEL_FILE)
    try:
        return _load(str(path), path.stat().st_mtime)
    except (OSError, ValueError, KeyError):
        return None
