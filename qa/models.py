"""The small learned models of the package, evaluated with numpy alone: answering never imports
scikit-learn (training does, in qa/evaluation and qa/search/fusion_training).

- `LinearModel`: a (standardised) logistic regression, z = ((x - mean) / scale) · coef + intercept.
  The learned fusion (qa/search/fusion.py), the answer scorer (qa/answer/ranker.py) and the
  abstention model (qa/answer/abstain.py) use it.
- `TreeEnsemble`: binary gradient-boosted trees as scikit-learn's HistGradientBoostingClassifier
  fits them, stored node by node (feature, raw threshold, where missing values go, children, leaf
  value) and summed in the order scikit-learn sums them, so the scores are the same to the bit.

Both are written into a model file's JSON as a dict with a "kind" and read back by `model_from_json`.
This module imports nothing of the package: every stage may use it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLIP = 30.0  # logits beyond this give probabilities of 0 or 1 to float precision


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -CLIP, CLIP)))


@dataclass(frozen=True)
class LinearModel:
    coef: np.ndarray
    intercept: float
    mean: np.ndarray | None = None   # None: the rows are used as they are
    scale: np.ndarray | None = None

    def logits(self, rows) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.float64)
        if not len(rows):
            return np.zeros(0)
        if self.mean is not None:
            rows = (rows - self.mean) / self.scale
        return rows @ self.coef + self.intercept

    def probabilities(self, rows) -> np.ndarray:
        return sigmoid(self.logits(rows))

    def to_json(self, digits: int = 6) -> dict:
        r = lambda values: [round(float(v), digits) for v in values]
        n = len(self.coef)
        return {"kind": "linear", "mean": r(self.mean if self.mean is not None else np.zeros(n)),
                "scale": r(self.scale if self.scale is not None else np.ones(n)),
                "coef": r(self.coef), "intercept": round(float(self.intercept), digits)}

    @classmethod
    def from_json(cls, data: dict) -> "LinearModel":
        array = lambda key: np.asarray(data[key], dtype=np.float64)
        return cls(array("coef"), float(data["intercept"]), array("mean"), array("scale"))


TREE_FIELDS = ("feature", "threshold", "missing_left", "left", "right", "value", "leaf")
TREE_TYPES = (np.int64, np.float64, bool, np.int64, np.int64, np.float64, bool)


@dataclass(frozen=True)
class TreeEnsemble:
    """Every tree's nodes in one set of arrays, each tree's in scikit-learn's order after the one
    before (`roots` says where each starts); children are indices into these arrays, and a leaf is
    its own child, so all trees are walked at once, a fixed number of steps (`depth`)."""
    baseline: float
    roots: np.ndarray        # int: each tree's root node
    feature: np.ndarray      # int: the feature a node splits on
    threshold: np.ndarray    # float: x <= threshold goes left
    missing_left: np.ndarray  # bool: a missing (NaN) value goes left
    left: np.ndarray         # int: children
    right: np.ndarray
    value: np.ndarray        # float: a leaf's contribution to the logit
    leaf: np.ndarray         # bool
    depth: int               # the deepest leaf's depth

    @classmethod
    def of_trees(cls, baseline: float, trees: list[dict]) -> "TreeEnsemble":
        """From trees given node by node (children numbered within their tree, 0 at a leaf)."""
        sizes = [len(t["value"]) for t in trees]
        roots = np.cumsum([0] + sizes[:-1]).astype(np.int64)
        columns = {name: np.concatenate([np.asarray(t[name], dtype=kind) for t in trees])
                   for name, kind in zip(TREE_FIELDS, TREE_TYPES)}
        offset = np.repeat(roots, sizes)
        own = np.arange(len(offset))
        leaf = columns["leaf"]
        left = np.where(leaf, own, columns["left"] + offset)
        right = np.where(leaf, own, columns["right"] + offset)
        node, depth = roots, 0
        while len(node) and not leaf[node].all():  # one level of every tree at a time
            inner = node[~leaf[node]]
            node, depth = np.concatenate([left[inner], right[inner]]), depth + 1
        return cls(float(baseline), roots, columns["feature"], columns["threshold"], columns["missing_left"],
                   left, right, columns["value"], leaf, depth)

    def logits(self, rows) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.float64)
        if not len(rows):
            return np.zeros(0)
        node = np.tile(self.roots, (len(rows), 1))
        at = np.arange(len(rows))[:, None]
        for _ in range(self.depth):
            x = rows[at, self.feature[node]]
            go_left = np.where(np.isnan(x), self.missing_left[node], x <= self.threshold[node])
            node = np.where(go_left, self.left[node], self.right[node])
        # added one tree at a time, in fitting order, as scikit-learn adds them: the same doubles
        leaves = np.hstack([np.full((len(rows), 1), self.baseline), self.value[node]])
        return np.cumsum(leaves, axis=1)[:, -1]

    def probabilities(self, rows) -> np.ndarray:
        return sigmoid(self.logits(rows))

    def trees(self) -> list[dict]:
        """Node by node, children numbered within their tree (0 at a leaf), as `of_trees` reads them."""
        ends = list(self.roots[1:]) + [len(self.value)]
        out = []
        for start, end in zip(self.roots, ends):
            part = slice(start, end)
            leaf = self.leaf[part]
            tree = {"feature": self.feature[part].tolist(), "threshold": [float(t) for t in self.threshold[part]],
                    "missing_left": [int(m) for m in self.missing_left[part]],
                    "left": np.where(leaf, 0, self.left[part] - start).tolist(),
                    "right": np.where(leaf, 0, self.right[part] - start).tolist(),
                    "value": [float(v) for v in self.value[part]], "leaf": [int(b) for b in leaf]}
            out.append(tree)
        return out

    def to_json(self, digits: int = 6) -> dict:
        # floats as Python writes them (shortest repr): read back, they are the same doubles
        return {"kind": "trees", "baseline": float(self.baseline), "trees": self.trees()}

    @classmethod
    def from_json(cls, data: dict) -> "TreeEnsemble":
        return cls.of_trees(data["baseline"], data["trees"])

    @classmethod
    def from_sklearn(cls, model) -> "TreeEnsemble":
        """From a fitted binary HistGradientBoostingClassifier without categorical features."""
        trees = []
        for (predictor,) in model._predictors:
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                raise ValueError("categorical splits are not supported")
            trees.append({"feature": nodes["feature_idx"], "threshold": nodes["num_threshold"],
                          "missing_left": nodes["missing_go_to_left"], "left": nodes["left"],
                          "right": nodes["right"], "value": nodes["value"], "leaf": nodes["is_leaf"]})
        return cls.of_trees(float(np.ravel(model._baseline_prediction)[0]), trees)


def model_from_json(data: dict) -> LinearModel | TreeEnsemble:
    """The model a file's JSON holds (files written before "kind" existed hold a linear one)."""
    kind = data.get("kind", "linear")
    if kind == "linear":
        return LinearModel.from_json(data)
    if kind == "trees":
        return TreeEnsemble.from_json(data)
    raise ValueError(f"unknown model kind {kind!r}")
