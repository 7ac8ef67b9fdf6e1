"""Issue #7: concurrency — feedback rows under parallel writers, chat sessions against the live app."""
from __future__ import annotations

import json
import multiprocessing
import sqlite3
import subprocess
import sys
import threading

import pytest

from qa.config import PROJECT_ROOT
from qa.app.feedback import MIGRATIONS, FeedbackStore

from conftest import free_port

THREADS, PROCESSES, ROWS = 6, 4, 25


def write_rows(path: str, tag: str, rows: int = ROWS) -> list[str]:
    """Open the store (possibly creating it) and add `rows` ratings; returns error strings."""
    errors = []
    try:
        store = FeedbackStore(path)
        for j in range(rows):
            store.add(f"{tag}-{j}", "答", [], "up" if j % 2 else "down", comment=f"并发 {tag}")
    except Exception as exc:  # reported, not raised: the test counts what was lost
        errors.append(f"{tag}: {type(exc).__name__}: {exc}")
    return errors


def process_worker(path: str, number: int) -> list[str]:
    errors: list[str] = []
    threads = [threading.Thread(target=lambda t=t: errors.extend(write_rows(path, f"p{number}t{t}")))
               for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


def test_feedback_loses_no_row_with_threads_and_processes_writing_at_once(tmp_path):
    """A fresh database: every process also races to create and migrate it."""
    path = str(tmp_path / "fb.sqlite")
    context = multiprocessing.get_context("spawn")
    with context.Pool(PROCESSES) as pool:
        pending = [pool.apply_async(process_worker, (path, n)) for n in range(PROCESSES)]
        local = process_worker(path, 99)  # and threads of this process at the same time
        errors = [e for p in pending for e in p.get(timeout=300)] + local
    assert errors == []
    rows = FeedbackStore(path).rows()
    expected = (PROCESSES + 1) * THREADS * ROWS
    assert len(rows) == expected and len({r["id"] for r in rows}) == expected
    assert len({r["question"] for r in rows}) == expected  # every (process, thread, row) exactly once
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_concurrent_creation_runs_each_migration_once(tmp_path):
    for trial in range(3):
        path = str(tmp_path / f"new-{trial}.sqlite")
        with multiprocessing.get_context("spawn").Pool(6) as pool:
            errors = pool.starmap(write_rows, [(path, f"c{n}", 2) for n in range(6)])
        assert [e for batch in errors for e in batch] == []
        assert len(FeedbackStore(path).rows()) == 12


def test_load_script_small_run_has_no_errors(live_app):
    """CI's version of bench/load_chat.py: 8 sessions × 3 questions (follow-ups included)."""
    url, _ = live_app
    run = subprocess.run([sys.executable, "bench/load_chat.py", "--url", url, "--sessions", "8",
                          "--questions", "3", "--timeout", "60", "--total-seconds", "240", "--json"],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert run.returncode == 0 and summary["errors"] == 0, (summary, run.stderr[-2000:])
    assert summary["completed"] == summary["requests"] == 24
    assert 0 < summary["p50_ms"] <= summary["p95_ms"] <= summary["max_ms"]


def test_load_script_refuses_non_loopback_hosts():
    run = subprocess.run([sys.executable, "bench/load_chat.py", "--url", "http://example.com/", "--sessions", "1"],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "回环" in run.stderr


def test_load_script_counts_errors_when_nothing_listens():
    url = f"http://127.0.0.1:{free_port()}/"
    run = subprocess.run([sys.executable, "bench/load_chat.py", "--url", url, "--sessions", "2",
                          "--questions", "2", "--timeout", "5", "--json"],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    summary = json.loads(run.stdout)
    assert run.returncode == 1 and summary["errors"] == 4 and summary["completed"] == 0
