"""Refresh the README's screenshots from the running app in headless Debian chromium:
docs/chat-laptop.png (1366×800) and docs/chat-phone.png (390×844): "镇上要建新小学吗？" answered
place by place, its sources opened under it; docs/chat-followup.png: "具体在哪里？" after a project
answer; docs/commitments.png: the staff table with a source opened.

Run: .venv/bin/python docs/screenshots.py   (the default index; feedback goes to a temp file)
"""
from __future__ import annotations

import socket
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import sync_playwright  # noqa: E402

from qa.app import web  # noqa: E402
from qa.config import Config  # noqa: E402

DOCS = Path(__file__).resolve().parent
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
QUESTIONS = ["镇上要建新小学吗？", "张家窝镇十五五期间要建新小学吗？", "具体在哪里？"]


def ask(page, question: str, turn: int) -> None:
    page.locator("#question textarea").fill(question)
    page.locator("#send").click()
    page.locator("#chat [data-testid='bot']").nth(turn - 1).locator(".qa-bubble, .qa-notice").first.wait_for()


def chat(browser, url: str, name: str, viewport: dict, questions: list[str]) -> Path:
    """The last answer's top at the top of the chat, its sources opened under it."""
    page = browser.new_page(viewport=viewport, device_scale_factor=1)
    page.set_default_timeout(60_000)
    page.goto(url)
    page.locator("#question textarea").wait_for()
    for turn, question in enumerate(questions, start=1):
        ask(page, question, turn)
    last = page.locator("#chat [data-testid='bot']").nth(len(questions) - 1)
    last.locator("details.qa-sources summary").click()
    page.wait_for_timeout(800)  # the chat scrolls itself when a bubble grows; then put the answer on top
    last.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(800)
    path = DOCS / name
    page.screenshot(path=str(path))
    page.close()
    return path


def commitments(browser, url: str) -> Path:
    page = browser.new_page(viewport={"width": 1366, "height": 900}, device_scale_factor=1)
    page.set_default_timeout(60_000)
    page.goto(url)
    page.get_by_role("tab", name="承诺事项").click()
    page.locator("#commitments").wait_for()
    page.get_by_label("关键词").fill("小学")
    page.get_by_role("button", name="查询").click()
    page.wait_for_timeout(2000)
    page.locator("#commitments [role=gridcell]:visible").nth(2).click(force=True)
    page.locator("#commitment-source .qa-source").wait_for()
    page.wait_for_timeout(500)
    path = DOCS / "commitments.png"
    page.screenshot(path=str(path), full_page=True)
    page.close()
    return path


def main() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = replace(Config.from_env(), port=port, feedback_db=Path(tempfile.mkdtemp()) / "fb.sqlite")
    demo = web.build_app(web.Runtime(config))
    web.launch(demo, config, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
            written = [chat(browser, url, "chat-laptop.png", {"width": 1366, "height": 800}, QUESTIONS[:1]),
                       chat(browser, url, "chat-phone.png", {"width": 390, "height": 844}, QUESTIONS[:1]),
                       chat(browser, url, "chat-followup.png", {"width": 1366, "height": 800}, QUESTIONS[1:])]
            try:
                written.append(commitments(browser, url))
            except Exception as exc:  # the staff tab's shot must not cost the chat's
                print(f"docs/commitments.png not refreshed: {exc}".splitlines()[0], file=sys.stderr)
            browser.close()
    finally:
        demo.close()
    print("wrote", *written)


if __name__ == "__main__":
    main()
