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
    from qa.app.api import Assistant

    return Assistant(corpus_config, progress=False)


@pytest.fixture(scope="session")
def built(tmp_path_factory, corpus_config) -> Config:
    """A copy of the corpus with its own index, built once; tests change private copies of it."""
    import shutil

    from qa.index.build import ensure_index

    root = tmp_path_factory.mktemp("built")
    shutil.copytree(corpus_config.corpus_dir, root / "corpus")
    config = Config(corpus_dir=root / "corpus", index_dir=root / "index", embed_model="lsa")
    ensure_index(config, progress=False)
    return config


@pytest.fixture
def config(built, tmp_path) -> Config:
    """A private copy of the built index (and corpus) that a test may edit or damage."""
    import shutil
    from dataclasses import replace

    shutil.copytree(built.corpus_dir, tmp_path / "corpus")
    shutil.copytree(built.index_dir, tmp_path / "index")
    return replace(built, corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live_app(corpus_config, assistant, tmp_path_factory):
    """The web app on a free loopback port over the session's index: (url, runtime)."""
    from dataclasses import replace

    web = pytest.importorskip("qa.app.web")
    # one loopback visitor asks every question of a module: no per-visitor rate limit
    config = replace(corpus_config, host="127.0.0.1", port=free_port(),
                     feedback_db=tmp_path_factory.mktemp("fb") / "feedback.sqlite", rate_per_minute=0)
    runtime = web.Runtime(config, assistant=assistant)
    demo = web.build_app(runtime)
    web.launch(demo, config, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{config.port}/", runtime
    finally:
        demo.close()

