"""The documents tab's staff panel: login and logout, document upload, the feedback export.

An admin session (qa.app.admin) is a token kept in the page and in a same-site cookie: the
callbacks check the token, the guard in front of Gradio checks the cookie of uploads, and the
export route checks it before streaming the feedback (qa.app.server). Callbacks are plain
functions of plain values plus the web app's runtime, so tests call them without a browser.
"""
from __future__ import annotations

import os
import re
import shutil
import unicodedata
from pathlib import Path

import gradio as gr

from qa.app.admin import COOKIE, DISABLED, EXPIRED
from qa.app.limits import MAX_LOGIN_CHARS, visitor
from qa.app.server import FEEDBACK_EXPORT_PATH
from qa.app.web import catalog_rows
from qa.errors import DISK_FULL, QAError, is_disk_full

UPLOAD_SUFFIXES = (".txt", ".md", ".docx", ".pdf")


def admin_login(user: str, password: str, runtime, client: str = "") -> tuple[str | None, str]:
    """(session token or None, message): throttled per client and account, logged."""
    return runtime.admin.login(user, password, client)


def safe_filename(name: str) -> str:
    """A plain file name inside the corpus folder: no directories, no hidden or odd characters."""
    base = unicodedata.normalize("NFC", re.split(r"[\\/]", name or "")[-1])
    stem, dot, suffix = base.rpartition(".")
    if not dot or "." + suffix.lower() not in UPLOAD_SUFFIXES:
        raise QAError(f"不支持的文件类型：只接受 {' '.join(UPLOAD_SUFFIXES)}。")
    stem = re.sub(r"[^\w\u4e00-\u9fff-]+", "_", stem).strip("._-")[:100] or "upload"
    return f"{stem}.{suffix.lower()}"


def upload_document(file_path: str | None, token: str | None, runtime) -> tuple[str, list]:
    """Admin upload: check, store under a safe name, re-index, reload → (message, catalog rows).
    A file in Gradio's upload folder is deleted once handled, whatever the outcome."""
    from gradio.utils import get_upload_folder, is_in_or_equal

    if not runtime.admin.valid(token):
        return EXPIRED, catalog_rows(runtime)
    if not file_path:
        return "请选择要上传的文件。", catalog_rows(runtime)
    try:
        return _add_document(Path(file_path), runtime)
    finally:
        if is_in_or_equal(file_path, get_upload_folder()):
            Path(file_path).unlink(missing_ok=True)


def _add_document(source: Path, runtime) -> tuple[str, list]:
    from qa.ingest.reading import read_text

    try:
        name = safe_filename(source.name)
        limit = runtime.config.max_upload_mb
        if source.stat().st_size > limit * 1024 * 1024:
            raise QAError(f"文件过大：上限为 {limit} MB。")
        target = runtime.config.corpus_dir / name
        if target.exists():
            raise QAError(f"语料中已有同名文件：{name}。")
        read_text(source)  # refuse unreadable files before they reach the corpus
        partial = target.with_name(f".{name}.partial")  # hidden: the indexer skips it
        try:
            shutil.copyfile(source, partial)
            os.replace(partial, target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            if is_disk_full(exc):
                raise QAError(f"{DISK_FULL}，文件未能保存；现有文档与索引不受影响。") from exc
            raise
        try:
            report = runtime.reindex()
        except Exception:
            target.unlink(missing_ok=True)
            raise
    except QAError as exc:
        return f"上传失败：{exc}", catalog_rows(runtime)
    return f"已添加 {name}。{report}", catalog_rows(runtime)


def export_feedback(token: str | None, runtime) -> str:
    """Staff only, since it holds residents' questions and comments: a link to the export,
    which the server streams to a request carrying a live admin session (no file is written)."""
    if not runtime.admin.valid(token):
        return EXPIRED
    return (f"共 {runtime.feedback.count()} 条反馈：<a href=\"{FEEDBACK_EXPORT_PATH.lstrip('/')}\" "
            f"download=\"feedback_eval_cases.jsonl\">下载评测用例（JSONL，含评价意见）</a>")


def admin_panel(runtime, table) -> None:
    """The staff panel under the documents table (`table` shows the catalog after an upload)."""
    with gr.Accordion("管理员：添加文档、导出反馈", open=False):
        if not runtime.admin_enabled:
            gr.Markdown(DISABLED)
            return
        # the session token: also set as a same-site cookie, which uploads and the export need
        token = gr.Textbox(visible=False, elem_id="admin-token")
        with gr.Row():
            user = gr.Textbox(label="用户名", max_length=MAX_LOGIN_CHARS)
            password = gr.Textbox(label="密码", type="password", max_length=MAX_LOGIN_CHARS)
            login = gr.Button("登录")
            logout = gr.Button("退出登录")
        message = gr.Markdown()
        upload = gr.File(label=f"文档（{' '.join(UPLOAD_SUFFIXES)}，不超过 {runtime.config.max_upload_mb} MB）",
                         file_types=list(UPLOAD_SUFFIXES), type="filepath")
        add = gr.Button("添加并重建索引")
        export = gr.Button("导出反馈为评测用例（JSONL）")
        exported = gr.HTML()
    hidden = dict(api_visibility="undocumented")

    def log_in(u, p, request: gr.Request):
        found, text = admin_login(u, p, runtime, visitor(request, runtime.config.trust_forwarded))
        return found or "", text, ""

    set_cookie = f"(t) => {{ document.cookie = '{COOKIE}=' + (t || '') + '; path=/; SameSite=Strict'; }}"
    login.click(log_in, [user, password], [token, message, password], **hidden).then(
        None, [token], None, js=set_cookie, **hidden)
    logout.click(lambda t: ("", runtime.admin.logout(t), ""), [token], [token, message, exported],
                 **hidden).then(None, [token], None, js=set_cookie, **hidden)
    add.click(lambda f, t: upload_document(f, t, runtime), [upload, token], [message, table],
              concurrency_limit=1, **hidden)
    export.click(lambda t: export_feedback(t, runtime), [token], [exported], **hidden)
