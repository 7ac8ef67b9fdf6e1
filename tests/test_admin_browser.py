"""The staff's admin flow in a real browser (headless chromium): log in, the session cookie the
upload guard checks is set, a document uploads and is indexed, logging out clears the cookie.
Skipped where chromium or playwright is missing."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="chromium is not installed")


def test_admin_logs_in_uploads_and_logs_out(config, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    from conftest import free_port

    from qa.app import web

    app_config = replace(config, host="127.0.0.1", port=free_port(), feedback_db=tmp_path / "fb.sqlite",
                         admin_user="staff", admin_password="s3cret")
    runtime = web.Runtime(app_config, progress=False)
    demo = web.build_app(runtime)
    web.launch(demo, app_config, prevent_thread_lock=True, quiet=True)
    document = tmp_path / "测试镇2025年工作安排.txt"
    document.write_text("测试镇2025年工作安排\n一、重点任务\n测试镇2025年将新建星光图书馆一座，总投资3000万元。\n",
                        encoding="utf-8")
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page()
            page.set_default_timeout(120_000)
            page.goto(f"http://127.0.0.1:{app_config.port}/")
            page.get_by_role("tab", name="文档").click()
            page.get_by_text("管理员：添加文档、导出反馈").click()
            page.get_by_label("用户名").fill("staff")
            page.get_by_label("密码").fill("wrong")
            page.get_by_role("button", name="登录", exact=True).click()
            page.get_by_text("用户名或密码错误").wait_for()
            page.get_by_label("密码").fill("s3cret")
            page.get_by_role("button", name="登录", exact=True).click()
            page.get_by_text("已登录管理员").wait_for()
            page.wait_for_function("document.cookie.includes('qa_admin=') && document.cookie.length > 30")
            page.locator('input[type=file][accept*=".txt"]').set_input_files(str(document))
            page.get_by_role("button", name="添加并重建索引").click()
            page.get_by_text("已添加").wait_for()
            assert (config.corpus_dir / "测试镇2025年工作安排.txt").exists()
            page.get_by_role("button", name="退出登录").click()
            page.get_by_text("已退出管理员登录").wait_for()
            page.wait_for_function("!/qa_admin=[^;]/.test(document.cookie)")
            browser.close()
    finally:
        demo.close()
    assert "3000万元" in runtime.assistant.ask("星光图书馆总投资多少？").answer
