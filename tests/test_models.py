"""The package's small models (qa/models.py): read back from JSON they score exactly as fitted, and
answering loads them without scikit-learn."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from qa.models import LinearModel, TreeEnsemble, model_from_json


def _data(seed: int, n: int = 1500, width: int = 9):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, width))
    x[rng.random(x.shape) < 0.05] = np.nan  # missing values take the side the fit chose
    y = (np.nan_to_num(x[:, 0]) + np.nan_to_num(x[:, 1]) ** 2 + 0.5 * rng.normal(size=n) > 1).astype(int)
    return x, y


def test_trees_read_back_from_json_score_exactly_as_scikit_learn():
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = _data(1)
    fitted = HistGradientBoostingClassifier(max_iter=60, max_leaf_nodes=15, early_stopping=False,
                                            random_state=13).fit(x, y)
    model = model_from_json(json.loads(json.dumps(TreeEnsemble.from_sklearn(fitted).to_json())))
    assert isinstance(model, TreeEnsemble) and model.depth >= 3
    test, _ = _data(2, n=700)
    assert np.array_equal(model.logits(test), fitted.decision_function(test))  # the same doubles
    assert np.allclose(model.probabilities(test), fitted.predict_proba(test)[:, 1], rtol=0, atol=1e-15)
    assert model.logits(np.zeros((0, 9))).shape == (0,)


def test_a_tree_walk_follows_thresholds_and_missing_values():
    # one tree: the root splits feature 1 at 0.5 (missing goes right); its left child is a leaf of
    # 1.0, its right child splits feature 0 at -1 (missing goes left) into leaves 2.0 and 3.0
    tree = {"feature": [1, 0, 0, 0, 0], "threshold": [0.5, 0.0, -1.0, 0.0, 0.0], "missing_left": [0, 0, 1, 0, 0],
            "left": [1, 0, 3, 0, 0], "right": [2, 0, 4, 0, 0], "value": [0.0, 1.0, 0.0, 2.0, 3.0],
            "leaf": [0, 1, 0, 1, 1]}
    model = TreeEnsemble.of_trees(0.25, [tree, tree])
    rows = np.array([[0.0, 0.5], [-2.0, 0.6], [0.0, 0.6], [np.nan, np.nan]])
    assert model.logits(rows).tolist() == [2.25, 4.25, 6.25, 4.25]
    assert model.trees() == [tree, tree]


def test_linear_model_round_trips_and_standardises():
    model = LinearModel(np.array([1.0, -2.0]), 0.5, np.array([1.0, 0.0]), np.array([2.0, 1.0]))
    back = model_from_json(json.loads(json.dumps(model.to_json())))
    rows = np.array([[3.0, 1.0], [1.0, 0.0]])
    assert back.logits(rows).tolist() == [-0.5, 0.5]
    assert np.allclose(back.probabilities(rows), 1 / (1 + np.exp([0.5, -0.5])))
    assert LinearModel(np.array([1.0]), 0.0).logits([[2.0]]).tolist() == [2.0]
    with pytest.raises(ValueError):
        model_from_json({"kind": "forest"})


def test_answering_loads_the_packaged_models_without_scikit_learn():
    script = ("import sys\n"
              "from qa.answer.answering import Answerer\n"
              "from qa.answer.ranker import load_ranker\n"
              "from qa.answer.abstain import load_abstention\n"
              "from qa.search.fusion import load_fusion\n"
              "assert load_ranker() is not None and load_abstention() is not None and load_fusion() is not None\n"
              "assert not [m for m in sys.modules if m.startswith('sklearn')], 'scikit-learn imported'\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-800:]
