"""Gradio web app: residents' chat, staff's commitments table, the documents list, an HTTP API.

Every callback is a plain function of plain values plus the `Runtime`, so tests call them
without a browser; `build_app` only wires them to components. Every string that comes from a
question or a document is escaped before it reaches HTML or Markdown: it is shown, never run.
"""
from __future__ import annotations

import html
import re
import sys
import traceback

import gradio as gr

from qa.app.admin import COOKIE, AdminSessions
from qa.app.api import Assistant, AssistantHolder
from qa.app.exports import ExportFolder
from qa.config import Config
from qa.errors import QAError
from qa.app.feedback import FeedbackStore
from qa.app.followup import resolve
from qa.app.server import launch_options
from qa.app.limits import MAX_COMMENT_CHARS, RATE_MESSAGE, RateLimiter, echo, text_param, visitor

ABSTAIN_LABEL = "未找到依据"
CATALOG_COLUMNS = [("doc", "文件"), ("title", "标题"), ("short_title", "简称"), ("issuer", "发布机关"),
                   ("place_path", "地域"), ("level", "层级"), ("kind", "类型"), ("date", "日期"),
                   ("period", "期间"), ("inferred", "由正文推断的字段")]
MAX_EXAMPLES = 4
MAX_PLACES_NAMED = 5  # in the chat's placeholder
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
        self.holder = AssistantHolder(assistant or Assistant(config, progress=progress))
        self.feedback = FeedbackStore(config.feedback_db)
        self.exports = ExportFolder()  # downloads handed out, bounded (qa.app.exports)
        self.questions = RateLimiter(config.rate_per_minute, config.rate_burst)
        self.admin = AdminSessions(config.admin_user, config.admin_password, config.admin_session_minutes)

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


# ---------- rendering ----------

def escape_md(text: str) -> str:
    """Text for a Markdown bubble: HTML escaped, Markdown syntax neutralised."""
    text = html.escape(text or "")
    text = re.sub(r"([\\`*_\[\]{}()#+!|~$])", r"\\\1", text)
    return re.sub(r"(?m)^(\s*\d+)\.", r"\1\\.", text)


def render_answer(answer, asked: str = "", resolved: str = "") -> str:
    """The chat bubble: the answer with bold [n] markers, an abstention label, the rewrite note."""
    # HTML tags, not ** or *: CommonMark will not close emphasis between "]" and a Chinese character.
    body = re.sub(r"\\\[(\d+)\\\]", r"<strong>\\[\1\\]</strong>", escape_md(answer.answer))
    if answer.abstained:
        body = f"<strong>【{ABSTAIN_LABEL}】</strong>{body}"
    if resolved and resolved != asked:
        body = f"<em>（结合上文，理解为：{escape_md(resolved)}）</em>\n\n{body}"
    return body


def highlight(text: str, sentence: str) -> str:
    """Escaped passage with the supporting sentence wrapped in <mark>."""
    sentence = (sentence or "").strip()
    at = text.find(sentence) if sentence else -1
    if at < 0:
        head = f"<mark>{html.escape(sentence)}</mark><br>" if sentence else ""
        return head + html.escape(text)
    end = at + len(sentence)
    return f"{html.escape(text[:at])}<mark>{html.escape(sentence)}</mark>{html.escape(text[end:])}"


def render_sources(answer) -> str:
    if answer is None:
        return "<p>提问后，这里显示回答引用的原文段落。</p>"
    if not answer.citations:
        return f'<span class="qa-abstain">{ABSTAIN_LABEL}</span><p>没有相关段落。</p>'
    title = (f'<span class="qa-abstain">{ABSTAIN_LABEL}</span><p>以下为相关段落（仅供参考，不是回答的依据）：</p>'
             if answer.abstained else "<p class=\"qa-sources-title\">来源</p>")
    cards = []
    for c in answer.citations:
        cards.append(
            f'<div class="qa-source" id="source-{c.n}"><div class="qa-source-head">[{c.n}] '
            f'{html.escape(c.title)} › {html.escape(c.heading)}</div>'
            f'<div class="qa-source-text">{highlight(c.text, c.sentence)}</div></div>')
    return title + "".join(cards)


# ---------- chat ----------

def new_session() -> dict:
    return {"question": "", "asked": "", "answer": None, "feedback_id": None}


def respond(message: str, history: list | None, session: dict | None, runtime: Runtime, request=None):
    """One chat turn → (cleared input, history, sources HTML, session, status line)."""
    history = list(history or [])
    session = dict(session or new_session())
    refusal = runtime.question_refusal(message, request)
    if refusal:
        history += [{"role": "user", "content": escape_md(echo(message))},
                    {"role": "assistant", "content": f"⚠️ {escape_md(refusal)}"}]
        return "", history, render_sources(session.get("answer")), session, refusal
    message = "" if message is None else str(message)
    history.append({"role": "user", "content": escape_md(message)})
    assistant = runtime.assistant
    resolved = resolve(session.get("question"), message, assistant.index)
    try:
        answer = assistant.ask(resolved)
    except QAError as exc:
        history.append({"role": "assistant", "content": f"⚠️ {escape_md(str(exc))}"})
        return "", history, render_sources(session.get("answer")), session, str(exc)
    except Exception:  # a bug must not take the chat down; the log keeps the details
        traceback.print_exc(file=sys.stderr)
        msg = "抱歉，处理这个问题时出错了，请换一种说法再试。"
        history.append({"role": "assistant", "content": f"⚠️ {msg}"})
        return "", history, render_sources(session.get("answer")), session, msg
    history.append({"role": "assistant", "content": render_answer(answer, message.strip(), resolved)})
    session.update(question=answer.question, asked=message.strip(), answer=answer, feedback_id=None)
    return "", history, render_sources(answer), session, ""


def rate(rating: str, comment: str, session: dict | None, runtime: Runtime) -> tuple[dict, str]:
    """Store 👍/👎 (and the optional comment) for the latest answer of this conversation."""
    session = dict(session or new_session())
    answer = session.get("answer")
    if answer is None:
        return session, "请先提问，再评价回答。"
    if session.get("feedback_id"):
        return session, "这个回答已经评价过了，谢谢！"
    try:
        comment = text_param(comment, "comment", MAX_COMMENT_CHARS)
    except QAError as exc:
        return session, str(exc)
    try:
        row = runtime.feedback.add(answer.question, answer.answer, answer.citations, rating,
                                   comment or "", asked=session.get("asked", ""),
                                   abstained=answer.abstained)
    except QAError as exc:
        return session, str(exc)
    session["feedback_id"] = row
    return session, "已记录您的评价，谢谢！"


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


def example_questions(catalog: dict[str, dict]) -> list[str]:
    """Questions a resident might ask of these documents, newest documents first: examples come
    from the catalog, so they fit whatever corpus is served."""
    from qa.ingest.catalog import FIVE_YEAR_PLAN_NAMES

    plans = {span: name for name, span in FIVE_YEAR_PLAN_NAMES.items()}
    examples: list[str] = []
    year = None  # of the first question about a year: a follow-up asks about the one before
    for meta in sorted(catalog.values(), key=lambda m: m.get("date", ""), reverse=True):
        place, period = meta.get("place", ""), meta.get("period", "")
        if not place:
            continue
        if period in plans:
            question = f"{place}{plans[period]}期间要建哪些重点项目？"
        elif period[-4:].isdigit():
            year = year or int(period[-4:])
            question = f"{place}{period[-4:]}年地区生产总值增长目标是多少？"
        else:
            question = f"{place}的主要发展目标是什么？"
        if question not in examples:
            examples.append(question)
    if year:  # the way residents continue a conversation
        examples = examples[:MAX_EXAMPLES - 1] + [f"那{year - 1}年呢？"]
    return examples[:MAX_EXAMPLES]


def chat_placeholder(catalog: dict[str, dict]) -> str:
    places = list(dict.fromkeys(m.get("place", "") for m in catalog.values() if m.get("place")))
    named = "、".join(places[:MAX_PLACES_NAMED]) + ("等地" if len(places) > MAX_PLACES_NAMED else "")
    return f"请就{named}的规划文件提问。" if named else "请就语料中的规划文件提问。"


# ---------- layout ----------

def chat_tab(runtime: Runtime) -> dict:
    """The residents' chat; returns what to refresh when a page loads (placeholder, examples)."""
    session = gr.State(new_session(), time_to_live=runtime.config.session_ttl_s)
    catalog = runtime.assistant.index.catalog
    with gr.Row():
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(label="问答", height=520, latex_delimiters=[], elem_id="chat",
                                 placeholder=chat_placeholder(catalog))
            with gr.Row():
                box = gr.Textbox(show_label=False, placeholder="输入问题，按回车发送", scale=5,
                                 elem_id="question")
                send = gr.Button("提问", variant="primary", scale=1, elem_id="send")
            examples = gr.Examples(example_questions(catalog) or ["十五五期间要建新小学吗？"], inputs=box,
                                   label="示例问题")
            with gr.Row():
                comment = gr.Textbox(label="评价意见（可选）", scale=4, elem_id="comment")
                up = gr.Button("👍 有帮助", scale=1, elem_id="rate-up")
                down = gr.Button("👎 没帮助", scale=1, elem_id="rate-down")
            status = gr.Markdown(elem_id="status")
        with gr.Column(scale=2):
            sources = gr.HTML(render_sources(None), label="来源", elem_id="sources")
    def ask_turn(m, h, s, request: gr.Request):
        return respond(m, h, s, runtime, request)

    turn = dict(fn=ask_turn, inputs=[box, chatbot, session],
                outputs=[box, chatbot, sources, session, status], api_visibility="undocumented")
    box.submit(**turn)
    send.click(**turn)
    for button, rating in ((up, "up"), (down, "down")):
        button.click(lambda c, s, r=rating: rate(r, c, s, runtime), inputs=[comment, session],
                     outputs=[session, status], api_visibility="undocumented")

    def on_load():
        catalog = runtime.assistant.index.catalog
        return (gr.Chatbot(placeholder=chat_placeholder(catalog)),
                gr.Dataset(samples=[[q] for q in example_questions(catalog)], components=[box]))
    return dict(fn=on_load, outputs=[chatbot, examples.dataset])


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

    gr.api(ask, api_name="ask")
    gr.api(commitments, api_name="commitments")


def build_app(runtime: Runtime) -> gr.Blocks:
    from qa.app.commitments_tab import commitments_tab  # it uses this module's highlighting

    sweep = runtime.config.cache_sweep_s  # Gradio's copies of downloads and uploads
    with gr.Blocks(title="规划文件问答", delete_cache=(sweep, 2 * sweep) if sweep > 0 else None,
                   analytics_enabled=False) as demo:
        gr.Markdown("## 规划文件问答\n回答均摘自政府规划文件原文，并注明出处。")
        with gr.Tabs():
            with gr.Tab("问答", id="chat"):
                refresh = [chat_tab(runtime)]
            with gr.Tab("承诺事项", id="commitments") as commitments:
                refresh.append(commitments_tab(runtime, commitments))
            with gr.Tab("文档", id="documents"):
                refresh.append(documents_tab(runtime))
        api_endpoints(runtime)
        for on_load in filter(None, refresh):  # a page shows the index serving when it loads
            demo.load(**on_load, api_visibility="undocumented")
    # Gradio's own bound a little above the guard's, which answers first and in Chinese
    demo.queue(default_concurrency_limit=runtime.config.queue_concurrency,
               max_size=runtime.config.queue_max_size + runtime.config.queue_concurrency)
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
    return demo.launch(server_name=config.host, server_port=config.port, css=CSS, theme=THEME,
                       max_file_size=f"{config.max_upload_mb}mb", show_error=False,
                       **options, **kwargs)
