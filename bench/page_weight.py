"""The chat page's first load: bytes over the wire and time until a question can be typed.

Run: .venv/bin/python -m bench.page_weight [--port 7950] [--kbps 400] [--runs 3]

Starts the web app on the default index, opens it in headless Debian chromium with an empty
cache and counts every response's encoded bytes (CDP Network.loadingFinished), split into the
HTML page, the app's config/data requests and static assets. Then, on an emulated slow link
(`--kbps` down and up, 150 ms latency), the time from navigation until the question box is
visible and editable ("time to interactive" as a resident meets it). Prints one row per run
and the median.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
INPUT = "#question textarea"
QUIET_S = 3.0


def _kind(url: str, resource: str) -> str:
    path = url.split("?", 1)[0]
    if resource == "Document":
        return "html"
    if "/assets/" in path or path.endswith((".js", ".css", ".woff2", ".woff", ".svg", ".png", ".ico")):
        return "static"
    return "data"


def measure(url: str, kbps: float | None, browser) -> dict:
    """One cold load of `url` → bytes per kind, request count, seconds until the input works."""
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    if kbps:
        rate = kbps * 1000 / 8
        cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 150,
                                                      "downloadThroughput": rate, "uploadThroughput": rate})
    kinds: dict[str, str] = {}
    sizes = {"html": 0, "data": 0, "static": 0}
    last = [time.perf_counter()]
    cdp.on("Network.responseReceived",
           lambda e: kinds.__setitem__(e["requestId"], _kind(e["response"]["url"], e.get("type", ""))))

    streamed: dict[str, int] = {}  # bytes of responses still open (Gradio's event stream)

    def received(e):
        streamed[e["requestId"]] = streamed.get(e["requestId"], 0) + int(
            e.get("encodedDataLength") or e.get("dataLength") or 0)
        last[0] = time.perf_counter()

    def finished(e):
        kind = kinds.get(e["requestId"], "data")
        sizes[kind] += int(e.get("encodedDataLength", 0))
        streamed.pop(e["requestId"], None)
        last[0] = time.perf_counter()
    cdp.on("Network.dataReceived", received)
    cdp.on("Network.loadingFinished", finished)
    start = time.perf_counter()
    page.goto(url, wait_until="commit", timeout=600_000)
    page.locator(INPUT).wait_for(state="visible", timeout=600_000)
    page.wait_for_function(f"() => {{ const t = document.querySelector('{INPUT}');"
                           " return t && !t.disabled && !t.readOnly; }", timeout=600_000)
    interactive = time.perf_counter() - start
    # Gradio keeps a stream open, so "networkidle" never comes: wait for QUIET_S without a finished response.
    while not kbps and time.perf_counter() - last[0] < QUIET_S and time.perf_counter() - start < 120:
        page.wait_for_timeout(200)
    for request, size in streamed.items():
        sizes[kinds.get(request, "data")] += size
    context.close()
    return {**sizes, "total": sum(sizes.values()), "requests": len(kinds), "tti_s": interactive}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=7950)
    parser.add_argument("--kbps", type=float, default=400.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--url", help="measure a running app instead of starting one")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    demo = None
    url = args.url
    if not url:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from qa.app import web
        from qa.config import Config

        config = replace(Config.from_env(), port=args.port,
                         feedback_db=Path(tempfile.mkdtemp()) / "fb.sqlite")
        demo = web.build_app(web.Runtime(config, progress=False))
        web.launch(demo, config, prevent_thread_lock=True, quiet=True)
        url = f"http://127.0.0.1:{args.port}/"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            print("run | html KB | data KB | static KB | total KB | requests | unthrottled TTI s | "
                  f"{args.kbps:g} kbps TTI s")
            rows = []
            for run in range(1, args.runs + 1):
                fast = measure(url, None, browser)
                slow = measure(url, args.kbps, browser)
                rows.append((fast, slow))
                print(f"{run} | {fast['html'] / 1024:.1f} | {fast['data'] / 1024:.1f} | "
                      f"{fast['static'] / 1024:.1f} | {fast['total'] / 1024:.1f} | {fast['requests']} | "
                      f"{fast['tti_s']:.2f} | {slow['tti_s']:.1f}", flush=True)
            browser.close()
            med = lambda key, i=0: statistics.median(r[i][key] for r in rows)  # noqa: E731
            print(f"median | {med('html') / 1024:.1f} | {med('data') / 1024:.1f} | {med('static') / 1024:.1f} | "
                  f"{med('total') / 1024:.1f} | {med('requests'):.0f} | {med('tti_s'):.2f} | {med('tti_s', 1):.1f}")
    finally:
        if demo is not None:
            demo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
