"""Load test: N concurrent chat sessions against the web app's named `ask` endpoint.

Each session is one simulated resident: a few questions in a row, each later one sent as a
follow-up to the previous (as the chat does). Plain HTTP to Gradio's queue API
(POST /gradio_api/call/ask, then read the event stream), bounded in sessions, questions and
time. Reports completed requests, errors and latency percentiles.

    python bench/load_chat.py --url http://127.0.0.1:7860/ --sessions 50 --questions 3
    python bench/load_chat.py --launch --sessions 50      # starts the app itself on a free port
"""
from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

QUESTIONS = [
    ["西青区2024年地区生产总值增长目标是多少？", "那2025年呢？", "静海镇呢？"],
    ["张家窝镇十五五期间要建新小学吗？", "投资多少？", "什么时候建成？"],
    ["静海镇2025年招商引资实际到位要多少？", "那2024年呢？", "西青区呢？"],
    ["西青区新型城镇化的目标是什么？", "常住人口城镇化率呢？", "2025年呢？"],
    ["张家窝镇2024年政府工作报告提到哪些民生实事？", "养老呢？", "教育呢？"],
]
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def call(base: str, endpoint: str, data: list, timeout: float):
    """One call of a named endpoint through the queue; raises on HTTP or app errors."""
    body = json.dumps({"data": data}).encode()
    request = urllib.request.Request(f"{base}gradio_api/call/{endpoint}", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        event_id = json.load(response)["event_id"]
    event = None
    with urllib.request.urlopen(f"{base}gradio_api/call/{endpoint}/{event_id}", timeout=timeout) as stream:
        for raw in stream:
            line = raw.decode("utf-8").rstrip("\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                payload = json.loads(line[5:].strip() or "null")
                if event == "error":
                    raise RuntimeError(f"应用返回错误：{payload}")
                return payload[0] if isinstance(payload, list) else payload
    raise RuntimeError("事件流提前结束，未收到结果")


def ask(base: str, question: str, previous: str, timeout: float) -> dict:
    """One call of the `ask` endpoint; raises on HTTP or app errors."""
    return call(base, "ask", [question, previous], timeout)


def session(base: str, number: int, questions: int, timeout: float, deadline: float,
            results: list, lock: threading.Lock) -> None:
    script = QUESTIONS[number % len(QUESTIONS)]
    previous = ""
    for turn in range(questions):
        if time.monotonic() > deadline:
            with lock:
                results.append({"session": number, "ok": False, "error": "超出总时限，未发送"})
            return
        question = script[turn % len(script)]
        started = time.perf_counter()
        try:
            data = ask(base, question, previous, timeout)
            ok = isinstance(data, dict) and "answer" in data and not data.get("error")
            error = "" if ok else f"回答缺少 answer 或带有 error：{str(data)[:120]}"
            previous = (data.get("resolved_question") or question) if ok else previous
        except (OSError, ValueError, RuntimeError, urllib.error.URLError) as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"[:200]
        with lock:
            results.append({"session": number, "ok": ok, "error": error,
                            "ms": (time.perf_counter() - started) * 1000})


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def run(url: str, sessions: int = 50, questions: int = 3, timeout: float = 60.0,
        total_seconds: float = 300.0) -> dict:
    """Drive the sessions at once; returns the summary (also what --json prints)."""
    base = url if url.endswith("/") else url + "/"
    host = urllib.request.urlparse(base).hostname or ""
    if host not in LOOPBACK:
        raise SystemExit(f"只对本机回环地址施压：{host}")
    sessions, questions = max(1, min(sessions, 500)), max(1, min(questions, 20))
    results: list[dict] = []
    lock = threading.Lock()
    deadline = time.monotonic() + total_seconds
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=sessions) as pool:
        for number in range(sessions):
            pool.submit(session, base, number, questions, timeout, deadline, results, lock)
    wall = time.perf_counter() - started
    latencies = [r["ms"] for r in results if r["ok"]]
    errors = [r for r in results if not r["ok"]]
    return {"url": base, "sessions": sessions, "questions_per_session": questions,
            "requests": sessions * questions, "completed": len(latencies), "errors": len(errors),
            "error_samples": sorted({e["error"] for e in errors})[:5],
            "p50_ms": round(percentile(latencies, 50), 1), "p95_ms": round(percentile(latencies, 95), 1),
            "max_ms": round(max(latencies, default=0.0), 1),
            "mean_ms": round(statistics.fmean(latencies), 1) if latencies else 0.0,
            "wall_s": round(wall, 2), "throughput_rps": round(len(latencies) / wall, 2) if wall else 0.0}


def launch_local():
    """Start the app from the default configuration on a free loopback port (index built if needed)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from dataclasses import replace

    from qa.app import web
    from qa.config import Config

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # one loopback address stands for every simulated resident: no per-visitor rate limit
    config = replace(Config.from_env(), host="127.0.0.1", port=port, rate_per_minute=0)
    demo = web.build_app(web.Runtime(config, progress=False))
    web.launch(demo, config, prevent_thread_lock=True, quiet=True)
    return demo, f"http://127.0.0.1:{port}/"


def format_summary(s: dict) -> str:
    lines = [f"地址：{s['url']}",
             f"会话 {s['sessions']} 个 × 每个 {s['questions_per_session']} 问 = {s['requests']} 次请求",
             f"完成 {s['completed']}，错误 {s['errors']}，总用时 {s['wall_s']} 秒，吞吐 {s['throughput_rps']} 次/秒",
             f"延迟：p50 {s['p50_ms']} ms，p95 {s['p95_ms']} ms，最大 {s['max_ms']} ms，平均 {s['mean_ms']} ms"]
    lines += [f"错误示例：{e}" for e in s["error_samples"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="并发聊天会话压力测试（仅限本机回环地址）")
    parser.add_argument("--url", default="http://127.0.0.1:7860/", help="应用地址（默认 http://127.0.0.1:7860/）")
    parser.add_argument("--launch", action="store_true", help="在本进程内启动应用（空闲回环端口）")
    parser.add_argument("--sessions", type=int, default=50, help="并发会话数（默认 50，上限 500）")
    parser.add_argument("--questions", type=int, default=3, help="每个会话的提问数（默认 3，上限 20）")
    parser.add_argument("--timeout", type=float, default=60.0, help="单次请求超时秒数")
    parser.add_argument("--total-seconds", type=float, default=300.0, help="总时限秒数，超时后不再发送")
    parser.add_argument("--json", action="store_true", help="输出 JSON")
    args = parser.parse_args(argv)
    demo = None
    url = args.url
    if args.launch:
        demo, url = launch_local()
    try:
        summary = run(url, args.sessions, args.questions, args.timeout, args.total_seconds)
    finally:
        if demo is not None:
            demo.close()
    print(json.dumps(summary, ensure_ascii=False) if args.json else format_summary(summary))
    return 0 if summary["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
