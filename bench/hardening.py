"""Issue 16's flood and memory checks, each bounded, against the app in a subprocess on loopback.

    nice -n 10 .venv/bin/python -m bench.hardening                 # every check
    nice -n 10 .venv/bin/python -m bench.hardening --only flood    # one (flood, keyword, sessions,
                                                                   # reindex, tempfiles, logins, csv)

The app runs as `python app.py` on a port of 7940–7949 with its own temp folder (TMPDIR), so
files it leaves behind can be counted, and its own feedback database; RSS is read from
/proc/<pid>/status. Each check prints its figure beside the issue's "before" figure and whether
the done-when criterion holds; the process exits non-zero when one does not.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PORTS = range(7940, 7950)
QUESTION = "张家窝镇十五五期间要建新小学吗？"
ADMIN = ("bench", "bench-secret")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise SystemExit("端口 7940–7949 都被占用")


def files_under(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


class Server:
    """`python app.py` on loopback with a private TMPDIR and feedback database."""

    def __init__(self, work: Path, **env):
        self.work, self.port = work, free_port()
        self.tmp = work / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "TMPDIR": str(self.tmp), "QA_PORT": str(self.port), "QA_HOST": "127.0.0.1",
                    "QA_FEEDBACK_DB": str(work / "feedback.sqlite"), "QA_ADMIN_USER": ADMIN[0],
                    "QA_ADMIN_PASSWORD": ADMIN[1], "GRADIO_ANALYTICS_ENABLED": "False",
                    **{k: str(v) for k, v in env.items()}}
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def __enter__(self) -> "Server":
        log = open(self.work / "server.log", "w")
        self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"应用启动失败：{(self.work / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise SystemExit("应用 180 秒内未就绪")
        config = httpx.get(self.url + "/config", timeout=10).json()
        self.fns = {d.get("api_name") or f"fn{d['id']}": d["id"] for d in config["dependencies"]}
        self.loads = [d["id"] for d in config["dependencies"]
                      if any(t[1] == "load" for t in d.get("targets", []))]
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    @property
    def rss(self) -> float:
        return rss_mb(self.proc.pid)

    def ask(self, question: str = QUESTION, timeout: float = 60) -> dict:
        """One /ask call through the queue, read to its end."""
        return self.call("ask", [question, ""], timeout)

    def call(self, api: str, data: list, timeout: float = 60):
        """One call of a named endpoint through the queue: its result, or {"error": …}."""
        event = httpx.post(f"{self.url}/gradio_api/call/{api}", json={"data": data}, timeout=timeout)
        if event.status_code != 200:
            return {"error": event.text[:200], "status": event.status_code}
        with httpx.stream("GET", f"{self.url}/gradio_api/call/{api}/{event.json()['event_id']}",
                          timeout=timeout) as stream:
            kind = None
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:") and kind in ("complete", "error"):
                    data = json.loads(line[5:].strip() or "null")
                    return data[0] if isinstance(data, list) and data else {"error": data}
        return {"error": "事件流提前结束"}


async def _join(client: httpx.AsyncClient, url: str, fn: int, data: list, session: str) -> tuple[int, str]:
    try:
        response = await client.post(url + "/gradio_api/queue/join",
                                     json={"data": data, "fn_index": fn, "session_hash": session,
                                           "event_data": None, "trigger_id": None})
        return response.status_code, response.text[:200]
    except httpx.HTTPError as exc:
        return -1, type(exc).__name__


async def _session(client: httpx.AsyncClient, url: str, fns: list[tuple[int, list]], session: str) -> bool:
    """Join each event for one session, then read the session's stream until all completed."""
    for fn, data in fns:
        status, _ = await _join(client, url, fn, data, session)
        if status != 200:
            return False
    done = 0
    async with client.stream("GET", f"{url}/gradio_api/queue/data", params={"session_hash": session}) as stream:
        async for line in stream.aiter_lines():
            if line.startswith("data:") and '"process_completed"' in line:
                done += 1
                if done == len(fns):
                    return True
    return False


# ---------------------------------------------------------------- checks

def check_flood(work: Path, joins: int = 4000, budget_s: float = 900) -> dict:
    """Queue joins with fresh sessions whose replies are never read (sent 250 at a time, 64
    connections), then normal use. BENCH_FLOOD_RATE=0 turns the per-visitor limit off, so that
    every accepted join costs a full answer."""
    joins = int(os.environ.get("BENCH_FLOOD_JOINS", joins))
    rate = os.environ.get("BENCH_FLOOD_RATE", "30")  # QA_RATE_PER_MINUTE of the flooded app (default 30)
    with Server(work / "flood", QA_RATE_PER_MINUTE=rate) as server:
        async def flood(n):
            async with httpx.AsyncClient(limits=httpx.Limits(max_connections=64), timeout=60) as client:
                return await asyncio.gather(*(_join(client, server.url, server.fns["ask"], [QUESTION, ""],
                                                    uuid.uuid4().hex) for _ in range(n)))
        started = time.perf_counter()
        rss_before, results = server.rss, []
        while len(results) < joins and time.perf_counter() - started < budget_s:
            results += asyncio.run(flood(min(250, joins - len(results))))
            print(f"  已发送 {len(results)}，队列 {httpx.get(server.url + '/healthz').json()['queue_length']}，"
                  f"RSS {server.rss:.0f} MB", file=sys.stderr, flush=True)
        seconds = time.perf_counter() - started
        accepted = sum(1 for s, _ in results if s == 200)
        busy = sum(1 for s, text in results if s == 503 and "繁忙" in text)
        other = sorted({f"{s} {t[:60]}" for s, t in results if s != 200 and not (s == 503 and "繁忙" in t)})[:3]
        rss_peak = server.rss
        time.sleep(2)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and httpx.get(server.url + "/healthz").json()["queue_length"]:
            time.sleep(1)
        health = httpx.get(server.url + "/healthz")
        after = []
        for _ in range(3):
            time.sleep(3)  # a rate-limited loopback visitor gets a token back every 2 s
            after.append(server.ask())
        normal = all(a.get("answer") and not a.get("error") for a in after)
        return {"check": "flood", "joins": len(results), "rate_per_minute": rate, "accepted": accepted,
                "refused_busy": busy, "other": other, "seconds": round(seconds, 1),
                "rss_mb": [round(rss_before), round(rss_peak)], "health_after": health.status_code,
                "answers_after": normal, "before": "3 000 次 → 队列永久停止（每次 503 Queue is stopped）",
                "ok": len(results) == joins and busy > 0 and health.status_code == 200 and normal}


def check_keyword(work: Path) -> dict:
    """A 5 MB keyword to /commitments, three times: refused fast, RSS flat."""
    with Server(work / "keyword") as server:
        server.ask()
        server.call("commitments", ["", "", "", "小学"])
        base = server.rss
        times, replies = [], []
        for chars in ((5 << 20) // 3, (5 << 20) // 3, 300_000, 300_000):  # 5 MB in UTF-8; 0.9 MB under the body cap
            started = time.perf_counter()
            replies.append(str(server.call("commitments", ["", "", "", "字" * chars]))[:100])
            times.append(time.perf_counter() - started)
        works = server.call("commitments", ["", "", "", "小学"])
        grown = server.rss - base
        return {"check": "keyword", "seconds_max": round(max(times), 3), "replies": sorted(set(replies)),
                "rss_growth_mb": round(grown, 1), "normal_query_after": isinstance(works, list) and len(works) > 0,
                "before": "5 MB 关键词：RSS +120–170 MB 且不回落；20 MB：每次 52 秒",
                "ok": max(times) < 1.0 and grown < 10 and isinstance(works, list)}


def check_sessions(work: Path, sessions: int = 300) -> dict:
    """Browser sessions opening the page (every load event) and running one commitments query."""
    with Server(work / "sessions") as server:
        query = _query_fn(server)

        async def run(numbers):
            async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=16)) as client:
                todo = [(fn, []) for fn in server.loads] + ([(query, ["", "", "", "", "", None, None, "小学"])]
                                                           if query is not None else [])
                return await asyncio.gather(*(_session(client, server.url, todo, uuid.uuid4().hex)
                                              for _ in numbers))
        asyncio.run(run(range(10)))  # warm-up: first loads, caches
        gc.collect()
        base = server.rss
        done = 0
        for start in range(0, sessions, 50):
            done += sum(asyncio.run(run(range(start, min(sessions, start + 50)))))
        time.sleep(2)
        grown = server.rss - base
        return {"check": "sessions", "sessions": sessions, "completed": done, "rss_before_mb": round(base),
                "rss_growth_mb": round(grown, 1), "before": "300 个会话 → +1.1 GB",
                "ok": done == sessions and grown < 50}


def _query_fn(server: Server) -> int | None:
    config = httpx.get(server.url + "/config", timeout=10).json()
    ids = {c["id"]: c for c in config["components"]}
    for d in config["dependencies"]:
        for target, kind in d.get("targets", []):
            props = ids.get(target, {}).get("props", {})
            if kind == "submit" and props.get("label") == "关键词":
                return d["id"]
    return None


def check_reindex(work: Path, reindexes: int = 12) -> dict:
    """Re-indexes of a running app's runtime (what an admin upload does), in this process."""
    sys.path.insert(0, str(ROOT))
    from dataclasses import replace

    from qa.app import web
    from qa.config import Config

    config = replace(Config.from_env(), feedback_db=work / "reindex.sqlite")
    runtime = web.Runtime(config, progress=False)
    runtime.assistant.ask(QUESTION)
    gc.collect()
    base = rss_mb(os.getpid())
    for _ in range(reindexes):
        runtime.reindex()
        runtime.assistant.ask(QUESTION)
    gc.collect()
    grown = rss_mb(os.getpid()) - base
    return {"check": "reindex", "reindexes": reindexes, "rss_growth_mb": round(grown, 1),
            "before": "每次重建 +21 MB", "ok": grown < 50}


def check_tempfiles(work: Path, queries: int = 200) -> dict:
    """Commitments queries with distinct keywords: files left in the app's temp folder."""
    with Server(work / "tempfiles", QA_CACHE_SWEEP_S=5) as server:
        query = _query_fn(server)

        async def run(numbers):
            async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=8)) as client:
                return await asyncio.gather(*(_session(
                    client, server.url, [(query, ["", "", "", "", "", None, None, f"小学{n}"])], uuid.uuid4().hex)
                    for n in numbers))
        asyncio.run(run(range(3)))
        time.sleep(11)  # the first sweep of Gradio's cache
        before = files_under(server.tmp)
        done = sum(asyncio.run(run(range(queries))))
        right_after = files_under(server.tmp) - before
        time.sleep(16)  # three sweep periods: files older than 10 s are gone
        left = files_under(server.tmp) - before
        kinds = sorted({p.relative_to(server.tmp).parts[0] for p in server.tmp.rglob("*") if p.is_file()})
        return {"check": "tempfiles", "queries": queries, "completed": done, "files_right_after": right_after,
                "files_left": left, "left_in": kinds, "before": "200 次查询 → 154 MB 临时文件，从不删除",
                "ok": done == queries and left <= 0}


def check_logins(work: Path, attempts: int = 100) -> dict:
    sys.path.insert(0, str(ROOT))
    from qa.app.admin import AdminSessions

    import logging

    logged = []
    handler = logging.Handler()
    handler.emit = logged.append
    logger = logging.getLogger("qa.admin")
    logger.addHandler(handler)
    logger.propagate = False
    sessions = AdminSessions(*ADMIN)
    started = time.perf_counter()
    messages = [sessions.login(ADMIN[0], f"wrong{i}", "198.51.100.9")[1] for i in range(attempts)]
    throttled = sum("次数过多" in m for m in messages)
    right_now = sessions.login(*ADMIN, "198.51.100.9")[0] is not None
    logger.removeHandler(handler)
    return {"check": "logins", "attempts": attempts, "throttled": throttled, "logged": len(logged),
            "right_password_right_after": right_now, "seconds": round(time.perf_counter() - started, 3),
            "before": "400 次错误密码全部被处理、无日志，正确密码立即可用", "ok": throttled >= attempts - 10 and not right_now}


def check_csv(work: Path) -> dict:
    """Every commitment record of the corpus, plus a hostile one, through both CSV exports."""
    import csv
    import io

    sys.path.insert(0, str(ROOT))
    from qa.app.api import list_commitments
    from qa.commitments.search import format_commitments
    from qa.config import Config
    from qa.csvsafe import FORMULA_STARTS

    items = list_commitments(Config.from_env())
    text = format_commitments(items, "csv")
    cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
    bad = [c for c in cells if c.startswith(FORMULA_STARTS)]
    cli = subprocess.run([sys.executable, "-m", "qa.app.cli", "commitments", "--csv"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    cli_bad = [c for row in csv.reader(io.StringIO(cli.stdout)) for c in row if c.startswith(FORMULA_STARTS)]
    return {"check": "csv", "records": len(items), "cells": len(cells), "formula_cells": len(bad) + len(cli_bad),
            "before": "以 =HYPERLINK(...) 开头的原句原样进入 CSV", "ok": not bad and not cli_bad and cli.returncode == 0}


CHECKS = {"flood": check_flood, "keyword": check_keyword, "sessions": check_sessions, "reindex": check_reindex,
          "tempfiles": check_tempfiles, "logins": check_logins, "csv": check_csv}


@contextmanager
def workdir():
    with tempfile.TemporaryDirectory(prefix="qa-bench-hardening-") as folder:
        yield Path(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="加固检查：洪泛、内存、临时文件、登录限流、CSV（仅本机回环）")
    parser.add_argument("--only", action="append", choices=list(CHECKS), help="只跑这些检查（可多次指定）")
    args = parser.parse_args(argv)
    failed = 0
    with workdir() as work:
        for name in args.only or list(CHECKS):
            result = CHECKS[name](work)
            failed += not result["ok"]
            print(json.dumps(result, ensure_ascii=False), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
