"""Shared fixtures: the real corpus indexed once per test session into a temporary folder."""
from __future__ import annotations


import pytest

from qa.config import PROJECT_ROOT, Config

CORPUS = PROJECT_ROOT / "corpus"


@pytest.fixture(autouse=True)
def _no_writes_into_checkout(tmp_path, monkeypatch):
    """Every data folder a test might touch goes to tmp_path unless the test says otherwise."""
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("QA_FEEDBACK_DB", str(tmp_path / "feedback.sqlite"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def corpus_config(tmp_path_factory) -> Config:
    """The real corpus with the offline embedder, indexed once for the whole session."""
    index_dir = tmp_path_factory.mktemp("index") / "index"
    return Config(corpus_dir=CORPUS, index_dir=index_dir, embed_model="lsa")


@pytest.fixture(scope="session")
def assistant(corpus_config):
    from qa.api import Assistant

    return Assistant(corpus_config, progress=False)
