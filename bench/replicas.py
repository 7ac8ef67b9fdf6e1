"""Two stateless web replicas sharing Milvus (Milvus Lite served over gRPC) and PostgreSQL.

    nice -n 10 .venv/bin/python -m bench.replicas --sessions 100 --questions 3

Starts a PostgreSQL cluster (initdb into a temp folder, unix socket), Milvus Lite's gRPC server,
builds the index into Milvus, then two `app.py` processes on two ports with the same
QA_SEARCH_BACKEND=milvus / QA_MILVUS_URI / QA_DATABASE_URL. Sessions alternate between the
replicas (as a proxy would spread them); each asks its questions (follow-ups sent with the
previous question, the API being stateless) and then rates its last answer through the
`feedback` endpoint. While they run, the index is published again as a new collection version
and the alias switched. Passes when no request errs, every rating is one row of the one
feedback table, and the alias moved. Everything started is stopped at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from bench.load_chat import QUESTIONS, call, percentile
from bench.services import milvus_lite_server, postgres, stop

ROOT = Path(__file__).resolve().parent.parent
PORTS = (7662, 7663, 7664)  # Milvus Lite, replica A, replica B (the scale helper's range)


def environment(index_dir: Path, milvus_uri: str, database_url: str) -> dict:
    return {**os.environ, "QA_INDEX_DIR": str(index_dir), "QA_SEARCH_BACKEND": "milvus",
            "QA_MILVUS_URI": milvus_uri, "QA_DATABASE_URL": database_url, "TQDM_DISABLE": "1",
            # every simulated resident comes from this one loopback address: no per-visitor limit
            "QA_RATE_PER_MINUTE": "0",
            "QA_FEEDBACK_DB": str(index_dir.parent / "unused-feedback.sqlite")}


def start_replica(port: int, env: dict, log: Path) -> subprocess.Popen:
    out = open(log, "w")
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT,
                            env=env, stdout=out, stderr=subprocess.STDOUT)
    proc.log = out  # closed with the process
    return proc


def wait_ready(base: str, proc: subprocess.Popen, log: Path, seconds: float = 300.0) -> None:
    """Until the replica's Gradio API answers (a listening port is not enough); a replica that
    exits meanwhile fails the run with its log."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"replica {base} exited ({proc.returncode}):\n{log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}gradio_api/info", timeout=10) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"replica {base} not ready after {seconds:.0f} s:\n{log.read_text(errors='replace')[-2000:]}")


def session(bases: list[str], number: int, questions: int, timeout: float, results: list,
            lock: threading.Lock) -> None:
    replica = number % len(bases)
    base, script, previous = bases[replica], QUESTIONS[number % len(QUESTIONS)], ""
    for turn in range(questions + 1):  # the questions, then one rating
        started = time.perf_counter()
        try:
            if turn < questions:
                question = script[turn % len(script)]
                data = call(base, "ask", [question, previous], timeout)
                kind = "ask"
            else:
                data = call(base, "feedback", [previous, "up" if number % 2 else "down",
                                               f"replica{replica}-session{number}", ""], timeout)
                kind = "feedback"
            ok = isinstance(data, dict) and not data.get("error") and ("answer" in data or "id" in data)
            error = "" if ok else str(data)[:160]
            if ok and kind == "ask":
                previous = data.get("resolved_question") or question
        except (OSError, ValueError, RuntimeError, urllib.error.URLError) as exc:
            ok, error, kind = False, f"{type(exc).__name__}: {exc}"[:200], "ask" if turn < questions else "feedback"
        with lock:
            results.append({"replica": replica, "kind": kind, "ok": ok, "error": error,
                            "ms": (time.perf_counter() - started) * 1000, "at": time.monotonic()})


def commitments_read(bases: list[str], database_url: str, index_dir: Path, timeout: float) -> dict:
    """What each replica's `commitments` endpoint returns for one query, beside the records the
    build published to PostgreSQL for it."""
    from qa.commitments.postgres import PostgresRecords
    from qa.commitments.search import search_commitments
    from qa.index.index import load_tokenizer

    query = ["project", "", "", "小学"]
    expected = [c.to_json() for c in search_commitments(
        PostgresRecords(database_url), kind=query[0], query=query[3], limit=None,
        tokenizer=load_tokenizer(index_dir))]
    expected = json.loads(json.dumps(expected, ensure_ascii=False))
    found = [call(base, "commitments", query, timeout) for base in bases]
    return {"commitments_records": len(expected),
            "commitments_same": bool(expected) and all(f == expected for f in found)}


def run(sessions: int, questions: int, timeout: float, ports=PORTS) -> dict:
    from qa.app.postgres import PostgresFeedbackStore
    from qa.config import Config
    from qa.index.milvus import live_collection, republish

    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qa-replicas-")))
        database_url = stack.enter_context(postgres())
        milvus_uri = stack.enter_context(milvus_lite_server(root, ports[0]))
        env = environment(root / "index", milvus_uri, database_url)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "qa.app.cli", "build"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        build_s = time.perf_counter() - started
        replicas = []
        for i, port in enumerate(ports[1:]):
            replicas.append(start_replica(port, env, root / f"replica{i}.log"))
            stack.callback(stop, replicas[-1], replicas[-1].log)
        for i, port in enumerate(ports[1:]):
            wait_ready(f"http://127.0.0.1:{port}/", replicas[i], root / f"replica{i}.log")
        bases = [f"http://127.0.0.1:{p}/" for p in ports[1:]]
        config = replace(Config.from_env(), index_dir=root / "index", search_backend="milvus",
                         milvus_uri=milvus_uri)
        alias_before = live_collection(milvus_uri, config.milvus_collection)
        results, lock, switch = [], threading.Lock(), {}

        def reindex():  # once a third of the requests are answered
            while len(results) < sessions * (questions + 1) // 3:
                time.sleep(0.05)
            switch["started"] = time.monotonic()
            version, dropped = republish(config)
            switch.update(ended=time.monotonic(), collection=version.collection, dropped=dropped,
                          publish_s=round(version.seconds, 2))

        publisher = threading.Thread(target=reindex)
        publisher.start()
        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=sessions) as pool:
            for number in range(sessions):
                pool.submit(session, bases, number, questions, timeout, results, lock)
        wall = time.perf_counter() - began
        publisher.join()
        rows = PostgresFeedbackStore(database_url).rows()
        records = commitments_read(bases, database_url, root / "index", timeout)
        alias_after = live_collection(milvus_uri, config.milvus_collection)
        alive = [proc.poll() is None for proc in replicas]
        tails = [(root / f"replica{i}.log").read_text(errors="replace")[-800:] for i in range(len(replicas))]

    asks = [r for r in results if r["kind"] == "ask"]
    latencies = [r["ms"] for r in asks if r["ok"]]
    errors = [r for r in results if not r["ok"]]
    during = [r for r in results if switch.get("started", 0) <= r["at"] <= switch.get("ended", 0) + 5]
    comments = {r["comment"] for r in rows}
    expected = {f"replica{n % 2}-session{n}" for n in range(sessions)}
    summary = {
        "sessions": sessions, "questions_per_session": questions, "replicas": len(bases),
        "requests": len(results), "asks": len(asks), "errors": len(errors),
        "error_samples": sorted({f"replica{e['replica']} {e['kind']}: {e['error']}" for e in errors})[:8],
        "p50_ms": round(percentile(latencies, 50), 1), "p95_ms": round(percentile(latencies, 95), 1),
        "per_replica_p50_ms": [round(percentile([r["ms"] for r in asks if r["ok"] and r["replica"] == i], 50), 1)
                               for i in range(len(bases))],
        "wall_s": round(wall, 1), "throughput_rps": round(len(latencies) / wall, 2) if wall else 0.0,
        "build_s": round(build_s, 1),
        "feedback_rows": len(rows), "feedback_from_replicas": sorted({c.split("-")[0] for c in comments}),
        "feedback_lost": len(expected - comments),
        "alias_before": alias_before, "alias_after": alias_after, "republish": switch,
        "requests_during_switch": len(during),
        "errors_during_switch": sum(not r["ok"] for r in during),
        "replicas_alive": alive, **records,
    }
    if errors or not all(alive):
        summary["replica_log_tails"] = tails
    summary["passed"] = (summary["errors"] == 0 and summary["feedback_lost"] == 0
                         and len(rows) == sessions and alias_after == switch.get("collection")
                         and alias_after != alias_before and summary["commitments_same"])
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="两个无状态网页副本 + Milvus（gRPC）+ PostgreSQL 的压力测试")
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--questions", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=180.0, help="单次请求超时秒数")
    parser.add_argument("--ports", default=",".join(map(str, PORTS)), help="Milvus Lite、副本 A、副本 B 的端口")
    args = parser.parse_args(argv)
    summary = run(args.sessions, args.questions, args.timeout, tuple(int(p) for p in args.ports.split(",")))
    print(json.dumps(summary, ensure_ascii=False))
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
