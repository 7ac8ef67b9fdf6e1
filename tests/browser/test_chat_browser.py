"""The chat in a real browser: ask, see a cited answer and its sources, follow up, rate."""
import socket
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                 reason=f"{CHROMIUM} is missing: apt-get install -y chromium")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_app(corpus_config, assistant, tmp_path):
    from qa.app import web

    config = replace(corpus_config, feedback_db=tmp_path / "feedback.sqlite", port=free_port())
    demo = web.build_app(web.Runtime(config, assistant=assistant))
    web.launch(demo, config, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{config.port}/", config
    demo.close()


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        yield page
        browser.close()


def ask(page, question: str, turn: int) -> str:
    page.locator("#question textarea").fill(question)
    page.locator("#send").click()
    bot = page.locator("#chat [data-testid='bot']")
    bot.nth(turn - 1).wait_for()
    return bot.nth(turn - 1).inner_text()


def test_ask_follow_up_and_rate(live_app, page):
    url, config = live_app
    page.goto(url)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    first = ask(page, "<img src=x onerror=alert(1)>西青区2024年地区生产总值增长目标是多少？", 1)
    assert "[1]" in first and "5%" in first
    page.locator("#sources .qa-source mark").first.wait_for()
    head = page.locator("#sources .qa-source-head").first.inner_text()
    assert "›" in head and "西青区" in head
    user = page.locator("#chat [data-testid='user']").first.inner_text()
    assert "<img src=x" in user  # shown as text, not turned into an element

    second = ask(page, "静海镇呢？", 2)
    assert "结合上文" in second and "静海镇2024年" in second

    page.locator("#comment textarea").fill("很清楚")
    page.locator("#rate-up").click()
    page.get_by_text("已记录您的评价").wait_for()
    rows = sqlite3.connect(config.feedback_db).execute(
        "SELECT question, rating, comment, citations FROM feedback").fetchall()
    assert len(rows) == 1
    question, rating, comment, citations = rows[0]
    assert "静海镇2024年地区生产总值" in question and rating == 1 and comment == "很清楚"
    assert not dialogs  # nothing in the question ran as script
