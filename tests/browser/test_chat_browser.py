"""The chat in Debian chromium on a phone (390×844) and a laptop (1366×800): the pending bubble,
place labels, a source opened from [n], copy as plain text, no markup leaks, a follow-up on a
project, feedback on an earlier answer stored in SQLite, and clear forgetting the sources."""
import re
import sqlite3
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1366, "height": 800}}
SLOW_S = 8.0  # how long the answer is held back, so the pending bubble can be seen (under load too)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                 reason=f"{CHROMIUM} is missing: apt-get install -y chromium")]


class Slow:
    """The served assistant, answering after a delay while `slow` is set (a slow link)."""

    def __init__(self, assistant):
        self.inner, self.slow = assistant, threading.Event()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def ask(self, question):
        if self.slow.is_set():
            time.sleep(SLOW_S)
        return self.inner.ask(question)


@pytest.fixture(scope="module")
def slow_app(live_app):
    url, runtime = live_app
    slow = Slow(runtime.assistant)
    previous = runtime.holder.swap(slow)
    yield url, runtime, slow
    runtime.holder.swap(previous)


@pytest.fixture(params=list(VIEWPORTS))
def page(request):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        context = browser.new_context(viewport=VIEWPORTS[request.param],
                                      permissions=["clipboard-read", "clipboard-write"])
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.viewport_name = request.param
        yield page
        browser.close()


def bots(page):
    return page.locator("#chat [data-testid='bot']")


def ask(page, question: str, turn: int) -> str:
    """Send a question; wait for its answer (the `turn`-th bot bubble, pending bubble gone)."""
    page.locator("#question textarea").fill(question)
    page.locator("#send").click()
    bubble = bots(page).nth(turn - 1)
    bubble.locator(".qa-bubble, .qa-notice").first.wait_for()
    return bubble.inner_text()


def click_when_still(locator, samples: int = 3, every_s: float = 0.15, within_s: float = 30) -> None:
    """Click once the element has stayed put for a few samples. Gradio scrolls the chat to its
    bottom a moment after an answer arrives (later under load); Playwright's own check that an
    element is stable lasts two animation frames, so its click could land where the button had
    been (seen under load: the click hit the message wrapper and nothing was copied)."""
    boxes, deadline = [], time.monotonic() + within_s
    while time.monotonic() < deadline:
        boxes = (boxes + [locator.bounding_box()])[-samples:]
        if len(boxes) == samples and boxes[0] is not None and all(b == boxes[0] for b in boxes):
            break
        time.sleep(every_s)
    locator.click()


def copy_answer(bubble, tries: int = 3) -> None:
    """Click "复制回答" until "已复制" shows, as a resident would click again. In fresh-clone runs
    under load the click sometimes left no trace (once on the message wrapper, logged; once with
    the button found and still, cause unknown); a copy that never works fails all tries."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(tries):
        click_when_still(bubble.locator("button.qa-copy"))
        try:
            bubble.locator(".qa-copied").wait_for(state="visible", timeout=15_000)
            return
        except PlaywrightTimeout:
            if attempt == tries - 1:
                raise


def in_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    size = page.viewport_size
    return box is not None and box["y"] >= 0 and box["y"] + min(box["height"], 40) <= size["height"]


def test_chat_as_a_resident_uses_it(slow_app, page):
    url, runtime, slow = slow_app
    page.goto(url)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    line = page.locator("#index-line").inner_text()
    assert re.search(r"已收录 \d+ 篇文件 · 索引构建于 \d{4}-\d\d-\d\d \d\d:\d\d · 向量模型：", line)
    assert not page.locator("#chat .top-panel").is_visible()  # no toolbar over the bubbles

    # The question shows at once with a pending bubble, then the answer takes its place.
    slow.slow.set()
    try:
        page.locator("#question textarea").fill("镇上要建新小学吗？")
        page.locator("#send").click()
        pending = bots(page).first.locator(".qa-pending")
        pending.wait_for(timeout=SLOW_S * 1000)
        assert pending.inner_text().strip() == "正在检索…"
        assert "镇上要建新小学吗？" in page.locator("#chat [data-testid='user']").first.inner_text()
    finally:
        slow.slow.clear()
    first = bots(page).first
    first.locator(".qa-answer").first.wait_for()
    assert not first.locator(".qa-pending").count()

    # Several places: each group is labelled with its place and document.
    labels = first.locator(".qa-place").all_inner_texts()
    places = {label.split("《")[0] for label in labels}
    assert len(places) >= 2 and all("《" in label for label in labels), labels

    # [n] opens the sources under the answer and shows that one.
    details = first.locator("details.qa-sources")
    assert details.get_attribute("open") is None
    click_when_still(first.locator("a.qa-cite", has_text="[2]").first)
    target = first.locator("li#m1-s2")
    for _ in range(30):  # the page may still be settling (the chat scrolls itself as bubbles grow)
        if in_viewport(page, target):
            break
        page.wait_for_timeout(100)
    assert details.get_attribute("open") is not None and target.is_visible() and in_viewport(page, target)
    assert "›" in target.locator(".qa-source-head").inner_text() and target.locator("mark").count()
    if page.viewport_name == "phone":  # directly under its answer, not below the page
        # both boxes in one step: the chat may scroll between two separate reads
        gap = first.evaluate("""bubble => {
            const answers = bubble.querySelectorAll('.qa-answer');
            return bubble.querySelector('details.qa-sources').getBoundingClientRect().top
                - answers[answers.length - 1].getBoundingClientRect().top;
        }""")
        assert 0 < gap < 400

    # No markup leaks: an apostrophe and [n] shown as typed, copy gives plain text and sources.
    second = ask(page, "What's the GDP growth target of 西青区 in 2024?", 2)
    user = page.locator("#chat [data-testid='user']").nth(1).inner_text()
    assert "What's" in user
    for text in (user, second, first.inner_text()):
        assert "&#x27;" not in text and "<strong>" not in text and "&#" not in text and "\\[" not in text
    copy_answer(bots(page).nth(1))
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "[1]" in copied and "\n来源：\n[1] " in copied and "›" in copied
    assert "<" not in copied and "&#" not in copied and "\\[" not in copied

    # Feedback on the first (not the latest) answer, confirmed under it, stored with its question.
    page.locator("#chat button[aria-label='赞']").first.wait_for()  # Gradio's labels in Chinese
    click_when_still(page.locator("#chat button[aria-label='赞']").first)
    note = first.locator(".qa-feedback-note")
    note.wait_for()
    assert note.inner_text() == "已记录您的评价，谢谢！" and not bots(page).nth(1).locator(".qa-feedback-note").count()
    rows = sqlite3.connect(runtime.config.feedback_db).execute(
        "SELECT question, rating, citations FROM feedback ORDER BY id DESC LIMIT 1").fetchall()
    assert rows[0][0] == "镇上要建新小学吗？" and rows[0][1] == 1 and "sentence" in rows[0][2]

    # Clear forgets messages, sources and context.
    page.locator("#clear").click()
    page.wait_for_function("() => !document.querySelector('#chat .qa-source')")
    assert bots(page).count() == 0
    after = ask(page, "具体在哪里？", 1)
    assert "结合上文" not in after

    # A follow-up about the project the previous answer named.
    page.locator("#clear").click()
    page.wait_for_function("() => !document.querySelector('#chat .qa-source')")
    ask(page, "张家窝镇十五五期间要建新小学吗？", 1)
    follow = ask(page, "具体在哪里？", 2)
    assert "结合上文" in follow and "张家窝第三小学项目" in follow
    assert bots(page).nth(1).locator(".qa-source").count() >= 1

    # An example asks itself, and stands on its own (no "结合上文").
    page.locator("#clear").click()
    page.wait_for_function("() => !document.querySelector('#chat .qa-source')")
    example = page.locator("#examples button").first
    asked = example.inner_text().strip()
    example.click()
    bots(page).first.locator(".qa-bubble, .qa-notice").first.wait_for()
    assert page.locator("#chat [data-testid='user']").first.inner_text().strip() == asked
    assert "结合上文" not in bots(page).first.inner_text() and bots(page).first.locator(".qa-answer").count()
    assert not dialogs
