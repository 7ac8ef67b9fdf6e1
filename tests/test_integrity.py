"""Issue #7: index integrity — checksummed artifacts, rebuild on damage, killed and concurrent builds."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from qa.config import PROJECT_ROOT, Config
from qa.errors import IndexError_
from qa.index.build import MANIFEST, ensure_index, read_manifest, sha256_file, stale_reason

QUESTION = "西青区2024年地区生产总值增长目标是多少？"


def env_for(config: Config) -> dict:
    return {**os.environ, "QA_CORPUS_DIR": str(config.corpus_dir), "QA_INDEX_DIR": str(config.index_dir),
            "QA_EMBED_MODEL": "lsa", "HF_HUB_OFFLINE": "1"}


def qa(config: Config, *args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qa.app.cli", *args], env=env_for(config), cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=timeout)


def answers(config: Config) -> None:
    from qa.app.api import Assistant

    answer = Assistant(config, progress=False).ask(QUESTION)
    assert not answer.abstained and answer.citations, answer.answer


def test_manifest_checksums_every_artifact(built):
    manifest = read_manifest(built.index_dir)
    assert {"passages.sqlite", "commitments.sqlite", "vectors.npy", "terms.json", "default__vector_store.json"} <= set(manifest["artifacts"])
    for name, digest in manifest["artifacts"].items():
        assert sha256_file(built.index_dir / name) == digest, name
    assert set(manifest["files"]) >= set(manifest["documents"]) and stale_reason(built) is None


@pytest.mark.parametrize("damage, reason", [
    (lambda d: (d / "passages.sqlite").write_bytes(b"SQLite format 3\0" + b"\0" * 100), "索引文件损坏：passages.sqlite"),
    (lambda d: (d / "vectors.npy").unlink(), "索引文件缺失：vectors.npy"),
    (lambda d: (d / "bm25" / "vocab.index.json").write_bytes(b"\0" * 10), "索引文件损坏：bm25/vocab.index.json"),
    (lambda d: (d / "terms.json").write_text("[]", encoding="utf-8"), "索引文件损坏：terms.json"),
    (lambda d: (d / MANIFEST).write_text("{not json", encoding="utf-8"), "索引清单损坏"),
    (lambda d: shutil.rmtree(d), "索引不存在"),
], ids=["corrupt-passages", "missing-vectors", "corrupt-bm25", "edited-terms", "corrupt-manifest", "no-index"])
def test_damage_is_detected_with_a_clear_reason(config, damage, reason):
    damage(config.index_dir)
    assert stale_reason(config).startswith(reason)


def test_opening_an_index_with_corrupt_files_raises_a_chinese_message(config):
    from qa.index.index import Index

    (config.index_dir / "passages.sqlite").write_text("{broken", encoding="utf-8")
    with pytest.raises(IndexError_, match="qa build"):
        Index.open(config)


def test_qa_ask_rebuilds_a_corrupt_passage_store_and_answers(config):
    (config.index_dir / "passages.sqlite").write_text("{broken", encoding="utf-8")
    run = qa(config, "ask", QUESTION)
    assert run.returncode == 0, run.stderr
    assert "索引文件损坏：passages.sqlite" in run.stderr and "索引已重建" in run.stderr
    assert "来源：" in run.stdout and "[1]" in run.stdout
    assert stale_reason(config) is None


def test_qa_ask_rebuilds_when_vectors_are_deleted(config):
    (config.index_dir / "vectors.npy").unlink()
    run = qa(config, "ask", "--json", QUESTION)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert not data["abstained"] and data["citations"]
    assert (config.index_dir / "vectors.npy").exists() and stale_reason(config) is None


def test_killed_build_leaves_the_previous_index_serving(config):
    """SIGKILL `qa build --force` while it writes its temp folder; the old index must still answer."""
    before = (config.index_dir / MANIFEST).read_text(encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "qa.app.cli", "build", "--force", "--quiet"],
                               env=env_for(config), cwd=PROJECT_ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    temp = config.index_dir.parent / f".{config.index_dir.name}.tmp-{process.pid}"
    deadline = time.monotonic() + 120
    try:
        while not temp.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)  # inside the write of the new index
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert temp.exists(), "the build was not caught midway"
    assert (config.index_dir / MANIFEST).read_text(encoding="utf-8") == before
    assert stale_reason(config) is None
    answers(config)
    report = ensure_index(config, force=True, progress=False)  # the stale temp folder is no obstacle
    assert report.rebuilt and not temp.exists() and stale_reason(config) is None
    answers(config)


def test_index_moved_aside_by_a_killed_swap_is_restored(config):
    aside = config.index_dir.parent / f".{config.index_dir.name}.old-999999"
    os.rename(config.index_dir, aside)
    report = ensure_index(config, progress=False)
    assert not report.rebuilt and config.index_dir.exists() and not aside.exists()
    answers(config)


def test_two_builds_at_once_are_serialised(config):
    commands = [[sys.executable, "-m", "qa.app.cli", "build", "--force", "--quiet"]] * 2
    processes = [subprocess.Popen(c, env=env_for(config), cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for c in commands]
    results = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], results
    assert all("索引已重建" in out for out, _ in results)
    assert sum("另一个进程正在构建索引" in err for _, err in results) <= 1
    assert stale_reason(config) is None
    leftovers = [p.name for p in config.index_dir.parent.iterdir() if p.name.startswith(f".{config.index_dir.name}.")]
    assert all(name.endswith(".lock") for name in leftovers), leftovers
    answers(config)
