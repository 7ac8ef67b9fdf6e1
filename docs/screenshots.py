"""Refresh docs/chat.png and docs/commitments.png from the running app in headless chromium.

Run: .venv/bin/python docs/screenshots.py   (uses the default index; feedback goes to a temp file)
"""
from __future__ import annotations

import socket
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import sync_playwright  # noqa: E402

from qa import web  # noqa: E402
from qa.config import Config  # noqa: E402

DOCS = Path(__file__).resolve().parent
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def main() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = replace(Config.from_env(), port=port, feedback_db=Path(tempfile.mkdtemp()) / "fb.sqlite")
    demo = web.build_app(web.Runtime(config))
    web.launch(demo, config, prevent_thread_lock=True, quiet=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1050}, device_scale_factor=1)
            page.goto(f"http://127.0.0.1:{port}/")
            for n, question in enumerate(["西青区2024年地区生产总值增长目标是多少？", "那2023年呢？"], start=1):
                page.locator("#question textarea").fill(question)
                page.locator("#send").click()
                page.locator("#chat [data-testid='bot']").nth(n - 1).wait_for()
            page.locator("#sources .qa-source mark").first.wait_for()
            page.wait_for_timeout(500)
            page.screenshot(path=str(DOCS / "chat.png"), full_page=True)

            page.get_by_role("tab", name="承诺事项").click()
            page.locator("#commitments").wait_for()
            page.get_by_label("关键词").fill("小学")
            page.get_by_role("button", name="查询").click()
            page.wait_for_timeout(1500)
            page.locator("#commitments [role=gridcell]:visible", has_text="5所").first.click()
            page.locator("#commitment-source .qa-source").wait_for()
            page.wait_for_timeout(500)
            page.screenshot(path=str(DOCS / "commitments.png"), full_page=True)
            browser.close()
    finally:
        demo.close()
    print(f"wrote {DOCS / 'chat.png'} and {DOCS / 'commitments.png'}")


if __name__ == "__main__":
    main()
