"""Gradio web app: residents' chat (qa.app.chat), staff's commitments table, the documents
list, an HTTP API.

Every callback is a plain function of plain values plus the `Runtime`, so tests call them
without a browser; `build_app` only wires them to components. Every string that comes from a
question or a document is escaped before it reaches HTML or Markdown: it is shown, never run.
"""
from __future__ import annotations

import gradio as gr

from qa.app.admin import COOKIE, AdminSessions
from qa.app.api import Assistant, AssistantHolder, build_stamp
from qa.app.examples import answered_examples
from qa.app.exports import ExportFolder
from qa.config import Config
from qa.errors import QAError
from qa.app.feedback import open_feedback
from qa.app.followup import resolve
from qa.app.server import launch_options
from qa.app.limits import RATE_MESSAGE, BoundedCache, RateLimiter, echo, text_param, visitor
from qa.app.bubbles import ABSTAIN_LABEL, highlight  # noqa: F401  (the staff tabs share them)
from qa.app.chat import CSS as CHAT_CSS, chat_tab, head as chat_head, index_info

CATALOG_COLUMNS = [("doc", "文件"), ("title", "标题"), ("short_title", "简称"), ("issuer", "发布机关"),
                   ("place_path", "地域"), ("level", "层级"), ("kind", "类型"), ("date", "日期"),
                   ("period", "期间"), ("inferred", "由正文推断的字段")]
COMMITMENT_RESULTS_CACHED = 16  # filter combinations whose records the app remembers
CSS = """
.qa-source {border:1px solid #d0d7de; border-radius:6px; padding:8px 12px; margin:8px 0;}
.qa-source-head {font-weight:600; margin-bottom:4px;}
.qa-source-text {white-space:pre-wrap; line-height:1.6;}
.qa-source mark {background:#fff3a3; padding:0 2px;}
.qa-abstain {display:inline-block; background:#fde2e1; color:#8a1c17; border-radius:4px;
             padding:2px 8px; font-weight:600; margin-bottom:6px;}
"""


# The system's own fonts: the theme's web fonts (~140 KB) have no Chinese glyphs anyway.
THEME = gr.themes.Default(font=["PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", "WenQuanYi Micro Hei",
                                "sans-serif"], font_mono=["Menlo", "Consolas", "monospace"])


class Runtime:
    """The served assistant (in a holder that swaps it whole on re-index) and the feedback
    store, shared by every session."""

    def __init__(self, config: Config, assistant: Assistant | None = None, progress: bool = True):
        self.config = config
        self.holder = AssistantHolder(assistant or Assistant(config, progress=progress),
                                      follow_seconds=config.follow_index_s)
        self.feedback = open_feedback(config)  # SQLite, or PostgreSQL for QA_DATABASE_URL
        self.exports = ExportFolder()  # downloads handed out, bounded (qa.app.exports)
        self.commitment_results = BoundedCache(COMMITMENT_RESULTS_CACHED)  # by filters
        self.questions = RateLimiter(config.rate_per_minute, config.rate_burst)
        self.admin = AdminSessions(config.admin_user, config.admin_password, config.admin_session_minutes)
        self._examples = BoundedCache(2)  # by build: each page load shows its index's examples

    def examples(self) -> list[str]:
        """The chat's example questions for the index serving now, asked once per build."""
        assistant = self.assistant
        key = build_stamp(assistant.index.manifest)
        examples = self._examples.get(key)
        if examples is None:
            examples = answered_examples(assistant)
            self._examples.put(key, examples)
        return examples

    @property
    def assistant(self) -> Assistant:
        """The assistant serving now: read it once per request and use that one throughout."""
        return self.holder.current

    def reindex(self) -> str:
        """Rebuild what is stale, then load the new index; questions keep using the old one until then."""
        from qa.app.api import describe_build

        fresh = self.holder.reload(lambda: Assistant(self.config, progress=False))
        return describe_build(fresh.build_report)

    def question_refusal(self, question, request=None, field: str = "question") -> str | None:
        """Why a question is refused before any work is done on it (wrong type, far too long,
        this visitor asking too often), or None."""
        try:
            text_param(question, field, 2 * self.config.max_question_chars,
                       shown_limit=self.config.max_question_chars)
        except QAError as exc:
            return str(exc)
        who = visitor(request, self.config.trust_forwarded)
        wait = self.questions.wait(who) if who else 0.0
        return RATE_MESSAGE.format(wait=max(1, round(wait))) if wait else None

    @property
    def admin_enabled(self) -> bool:
        return self.admin.enabled

    def is_admin_cookie(self, cookies: dict) -> bool:
        return self.admin.valid(cookies.get(COOKIE))


# ---------- the API (the chat itself is qa.app.chat, its bubbles qa.app.bubbles) ----------

def ask_json(runtime: Runtime, question: str, previous_question: str = "", request=None) -> dict:
    """The `ask` API: the CLI's JSON, with `resolved_question` when a follow-up was rewritten.
    Bad input of any type gets an `error` reply echoing at most a capped, encodable question."""
    refusal = (runtime.question_refusal(previous_question, None, "previous_question")
               or runtime.question_refusal(question, request))
    if refusal:
        return error_reply(question, refusal)
    question, previous_question = ("" if q is None else str(q) for q in (question, previous_question))
    assistant = runtime.assistant
    try:
        resolved = resolve(previous_question, question, assistant.index)
        data = assistant.ask(resolved).to_json()
    except QAError as exc:
        return error_reply(question, str(exc))
    if resolved != question:
        data["resolved_question"] = resolved
    return data


def error_reply(question, message: str) -> dict:
    return {"question": echo(question), "error": message, "answer": "", "abstained": True,
            "citations": [], "retrieved": [], "latency_ms": 0.0}


# ---------- documents and admin ----------

def catalog_rows(runtime: Runtime) -> list[list[str]]:
    """The documents of the index serving now, as the documents tab lists them."""
    rows = []
    for name, meta in sorted(runtime.assistant.index.catalog.items()):
        values = {**meta, "doc": name, "place_path": meta.get("place_path") or meta.get("place", "")}
        rows.append([str(values.get(key, "")) for key, _ in CATALOG_COLUMNS])
    return rows


# ---------- layout ----------

def documents_tab(runtime: Runtime) -> dict:
    """The documents list and the staff's upload; returns what to refresh when a page loads."""
    table = gr.Dataframe(catalog_rows(runtime), headers=[label for _, label in CATALOG_COLUMNS],
                         interactive=False, wrap=True, elem_id="catalog")
    on_load = dict(fn=lambda: catalog_rows(runtime), outputs=[table])
    from qa.app.admin_tab import admin_panel  # it uses this module's catalog rows

    admin_panel(runtime, table)
    return on_load


def api_endpoints(runtime: Runtime) -> None:
    def ask(question: str, previous_question: str = "", request: gr.Request = None) -> dict:
        """Answer one question (optionally a follow-up to previous_question) with citations."""
        return ask_json(runtime, question, previous_question, request)

    def commitments(kind: str = "", place: str = "", doc: str = "", query: str = "") -> list:
        """Commitments matching the filters ('' = any)."""
        from qa.app.commitments_tab import search_commitments

        try:
            return search_commitments(kind, place, doc, query, runtime)
        except QAError as exc:
            raise gr.Error(str(exc)) from None

    def feedback(question: str, rating: str, comment: str = "", previous_question: str = "",
                 request: gr.Request = None) -> dict:
        """Rate ('up'/'down') the answer this server gives to the question: stateless, any replica."""
        from qa.app.feedback_api import rate_json

        return rate_json(runtime, question, rating, comment, previous_question, request)

    gr.api(ask, api_name="ask")
    gr.api(commitments, api_name="commitments")
    gr.api(feedback, api_name="feedback")


def build_app(runtime: Runtime) -> gr.Blocks:
    from qa.app.commitments_tab import commitments_tab  # it uses this module's highlighting

    # no delete_cache: qa.app.server sweeps Gradio's files itself (Gradio's sweeper dies for good
    # when a file is added while it iterates, as under concurrent downloads)
    with gr.Blocks(title="规划文件问答", analytics_enabled=False) as demo:
        gr.Markdown("## 规划文件问答\n回答均摘自政府规划文件原文，并注明出处。")
        refresh = [index_info(runtime)]
        with gr.Tabs():
            with gr.Tab("问答", id="chat"):
                refresh.append(chat_tab(runtime))
            with gr.Tab("承诺事项", id="commitments") as commitments:
                refresh.append(commitments_tab(runtime, commitments))
            with gr.Tab("文档", id="documents"):
                refresh.append(documents_tab(runtime))
        api_endpoints(runtime)
        for on_load in filter(None, refresh):  # a page shows the index serving when it loads
            demo.load(**on_load, api_visibility="undocumented")
    # Gradio's own bound (English) behind the guard's (Chinese), with room for joins that passed
    # the guard at once; both far below the 2 000 sessions Gradio keeps pending messages for
    demo.queue(default_concurrency_limit=runtime.config.queue_concurrency,
               max_size=2 * runtime.config.queue_max_size)
    demo.temp_file_sets.append(runtime.exports.handed_out)  # swept with Gradio's own copies
    demo.qa_runtime = runtime
    return demo


class CompressPage:
    """ASGI middleware: gzip the page itself. Gradio compresses its assets but not "/", which
    carries the whole app config (~70 KB, ~15 KB gzipped)."""

    def __init__(self, app):
        from starlette.middleware.gzip import GZipResponder

        self.app, self.responder = app, GZipResponder

    async def __call__(self, scope, receive, send):
        from starlette.datastructures import Headers

        if (scope["type"] == "http" and scope.get("method") == "GET" and scope.get("path") == "/"
                and "gzip" in Headers(scope=scope).get("accept-encoding", "")):
            return await self.responder(self.app, minimum_size=1000)(scope, receive, send)
        return await self.app(scope, receive, send)


def launch(demo: gr.Blocks, config: Config, **kwargs):
    """Start the server with the app's CSS, the upload size limit enforced by Gradio too, the
    guard, health check and session bounds of qa.app.server, and the page itself gzipped."""
    from starlette.middleware import Middleware

    options = launch_options(demo, demo.qa_runtime)
    options["app_kwargs"]["middleware"].append(Middleware(CompressPage))
    return demo.launch(server_name=config.host, server_port=config.port, css=CSS + CHAT_CSS, theme=THEME,
                       head=chat_head(),
                       max_file_size=f"{config.max_upload_mb}mb", show_error=False,
                       **options, **kwargs)
