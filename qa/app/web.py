"""Gradio web app: residents' chat, staff's commitments table, the documents list, an HTTP API.

Every callback is a plain function of plain values plus the `Runtime`, so tests call them
without a browser; `build_app` only wires them to components. Every string that comes from a
question or a document is escaped before it reaches HTML or Markdown: it is shown, never run.
"""
from __future__ import annotations

import csv
import hmac
import html
import os
import re
import shutil
import sys
import tempfile
import threading
import traceback
import unicodedata
from dataclasses import asdict, is_dataclass
from pathlib import Path

import gradio as gr

from qa.app.api import Assistant
from qa.config import Config
from qa.errors import QAError
from qa.app.feedback import FeedbackStore
from qa.app.followup import resolve

try:  # built concurrently by another developer; the tab says so when it is absent
    from qa.commitments import search as commitments_module
except ImportError:
    commitments_module = None

EXAMPLES = ["张家窝镇十五五期间要建新小学吗？", "静海镇2025年招商引资实际到位要多少？",
            "西青区2024年地区生产总值增长目标是多少？", "那2025年呢？"]
ABSTAIN_LABEL = "未找到依据"
CATALOG_COLUMNS = [("doc", "文件"), ("title", "标题"), ("short_title", "简称"), ("issuer", "发布机关"),
                   ("place", "地域"), ("level", "层级"), ("kind", "类型"), ("date", "日期"),
                   ("period", "期间")]
UPLOAD_SUFFIXES = (".txt", ".md", ".docx", ".pdf")
CSS = """
.qa-source {border:1px solid #d0d7de; border-radius:6px; padding:8px 12px; margin:8px 0;}
.qa-source-head {font-weight:600; margin-bottom:4px;}
.qa-source-text {white-space:pre-wrap; line-height:1.6;}
.qa-source mark {background:#fff3a3; padding:0 2px;}
.qa-abstain {display:inline-block; background:#fde2e1; color:#8a1c17; border-radius:4px;
             padding:2px 8px; font-weight:600; margin-bottom:6px;}
"""


class Runtime:
    """The loaded assistant and feedback store, shared by every session; swapped on re-index."""

    def __init__(self, config: Config, assistant: Assistant | None = None, progress: bool = True):
        self.config = config
        if assistant is None and commitments_module is not None and not commitments_db(config).exists() \
                and (config.index_dir / "manifest.json").exists():
            from qa.index.build import ensure_index  # an index from before commitments were extracted
            ensure_index(config, force=True, progress=progress)
        self.assistant = assistant or Assistant(config, progress=progress)
        self.feedback = FeedbackStore(config.feedback_db)
        self._reindex_lock = threading.Lock()

    def reindex(self) -> str:
        """Rebuild what is stale, then load the new index; questions keep using the old one until then."""
        from qa.app.api import describe_build

        with self._reindex_lock:
            fresh = Assistant(self.config, progress=False)
            self.assistant = fresh
            return describe_build(fresh.build_report)

    @property
    def admin_enabled(self) -> bool:
        return bool(self.config.admin_user and self.config.admin_password)


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


def respond(message: str, history: list | None, session: dict | None, runtime: Runtime):
    """One chat turn → (cleared input, history, sources HTML, session, status line)."""
    history = list(history or [])
    session = dict(session or new_session())
    message = message or ""
    history.append({"role": "user", "content": escape_md(message)})
    resolved = resolve(session.get("question"), message)
    try:
        answer = runtime.assistant.ask(resolved)
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
    row = runtime.feedback.add(answer.question, answer.answer, answer.citations, rating,
                               comment or "", asked=session.get("asked", ""),
                               abstained=answer.abstained)
    session["feedback_id"] = row
    return session, "已记录您的评价，谢谢！"


def ask_json(runtime: Runtime, question: str, previous_question: str = "") -> dict:
    """The `ask` API: the CLI's JSON, with `resolved_question` when a follow-up was rewritten."""
    resolved = resolve(previous_question, question or "")
    try:
        data = runtime.assistant.ask(resolved).to_json()
    except QAError as exc:
        return {"question": question, "error": str(exc), "answer": "", "abstained": True,
                "citations": [], "retrieved": [], "latency_ms": 0.0}
    if resolved != question:
        data["resolved_question"] = resolved
    return data


# ---------- commitments ----------

COMMITMENT_COLUMNS = ["类型", "地域", "文档", "事项", "目标/数值", "年份", "属性/角色", "出处"]


def record_dict(record) -> dict:
    """A qa.commitments.database record as plain JSON (with its one-line summary)."""
    if hasattr(record, "to_json"):
        return record.to_json()
    return asdict(record) if is_dataclass(record) else dict(record)


def commitments_db(config: Config) -> Path:
    return config.index_dir / getattr(commitments_module, "DB_NAME", "commitments.sqlite")


def search_commitments(kind: str, place: str, doc: str, keyword: str, runtime: Runtime) -> list[dict]:
    """Records matching the filters ('' = any), all of them; [] when the module is absent."""
    if commitments_module is None:
        return []
    found = commitments_module.search_commitments(commitments_db(runtime.config), kind or None,
                                                  place or None, doc or None, keyword or None, limit=None)
    return [record_dict(r) for r in found]


def commitment_row(r: dict) -> list[str]:
    f = r.get("fields") or {}
    if r.get("value"):
        value = r["value"] + ("" if r.get("unit", "") in r["value"] else r["unit"])
    else:
        value = "；".join(f"{label}{f[k]}" for k, label in (("investment", "投资"), ("scale", "规模")) if f.get(k))
    if r.get("kind") == "responsibility":
        role = f"{f.get('actor', '')}{f.get('role', '')}" + (f"（与{f['partner']}）" if f.get("partner") else "")
    else:
        role = "，".join(x for x in (f.get("attribute"), f.get("qualifier"), f.get("stance"), f.get("status")) if x)
    kinds = getattr(commitments_module, "KIND_NAMES", {})
    return [kinds.get(r.get("kind"), r.get("kind", "")), r.get("place", ""),
            r.get("short_title") or r.get("doc", ""), r.get("name", ""), value, r.get("year", ""),
            role, r.get("heading", "")]


def commitment_source(records: list[dict], row: int | None) -> str:
    """The passage a record came from, its clause highlighted, plus the same item elsewhere."""
    if not records or row is None or not 0 <= row < len(records):
        return "<p>点击表格中的一行，查看原文段落。</p>"
    r = records[row]
    f = r.get("fields") or {}
    head = f"{html.escape(r.get('short_title', ''))} › {html.escape(r.get('heading', ''))}"
    related = "".join(f"<li>{html.escape(x.get('short_title', ''))}：{html.escape(x.get('name', ''))} "
                      f"{html.escape(x.get('value', '') + x.get('unit', ''))} {html.escape(x.get('year', ''))}</li>"
                      for x in r.get("related") or [])
    return (f'<div class="qa-source"><div class="qa-source-head">{head}</div>'
            f'<p>{html.escape(r.get("summary", ""))}</p><div class="qa-source-text">'
            f'{highlight(r.get("text", ""), f.get("sentence") or f.get("clause") or "")}</div>'
            + (f"<p>其他文件中的同一事项：</p><ul>{related}</ul>" if related else "") + "</div>")


def commitments_csv(records: list[dict]) -> str:
    """The shown records, table columns then source fields; UTF-8 with BOM so Excel reads Chinese."""
    path = Path(tempfile.mkdtemp(prefix="qa-")) / "commitments.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COMMITMENT_COLUMNS + ["摘要", "文件", "段落编号", "原文"])
        for r in records:
            writer.writerow(commitment_row(r) + [r.get("summary", ""), r.get("doc", ""),
                                                 r.get("node_id", ""), r.get("text", "")])
    return str(path)


def commitments_query(kind, place, doc, keyword, runtime: Runtime):
    """Commitments tab search → (table rows, records, CSV path, status)."""
    if commitments_module is None:
        return [], [], None, "承诺库模块（qa.commitments.database）尚未安装。"
    try:
        records = search_commitments(kind, place, doc, keyword, runtime)
    except QAError as exc:
        return [], [], None, str(exc)
    return [commitment_row(r) for r in records], records, commitments_csv(records), f"共 {len(records)} 条。"


# ---------- documents and admin ----------

def catalog_rows(runtime: Runtime) -> list[list[str]]:
    catalog = runtime.assistant.store.manifest.get("catalog") or {}
    if not catalog:
        from qa.ingest.loading import load_catalog
        catalog = {name: {"doc": name, **meta} for name, meta in load_catalog(runtime.config.corpus_dir).items()}
    return [[str(meta.get(key, name if key == "doc" else "")) for key, _ in CATALOG_COLUMNS]
            for name, meta in sorted(catalog.items())]


def admin_login(user: str, password: str, runtime: Runtime) -> tuple[bool, str]:
    if not runtime.admin_enabled:
        return False, "管理功能未启用：请设置 QA_ADMIN_USER 和 QA_ADMIN_PASSWORD 后重启。"
    ok = hmac.compare_digest((user or "").encode(), runtime.config.admin_user.encode()) & \
        hmac.compare_digest((password or "").encode(), runtime.config.admin_password.encode())
    return (True, "已登录管理员。") if ok else (False, "用户名或密码错误。")


def safe_filename(name: str) -> str:
    """A plain file name inside the corpus folder: no directories, no hidden or odd characters."""
    base = unicodedata.normalize("NFC", re.split(r"[\\/]", name or "")[-1])
    stem, dot, suffix = base.rpartition(".")
    if not dot or "." + suffix.lower() not in UPLOAD_SUFFIXES:
        raise QAError(f"不支持的文件类型：只接受 {' '.join(UPLOAD_SUFFIXES)}。")
    stem = re.sub(r"[^\w\u4e00-\u9fff-]+", "_", stem).strip("._-")[:100] or "upload"
    return f"{stem}.{suffix.lower()}"


def upload_document(file_path: str | None, is_admin: bool, runtime: Runtime) -> tuple[str, list]:
    """Admin upload: check, store under a safe name, re-index, reload → (message, catalog rows)."""
    from qa.ingest.reading import read_text

    if not is_admin:
        return "请先以管理员身份登录。", catalog_rows(runtime)
    if not file_path:
        return "请选择要上传的文件。", catalog_rows(runtime)
    source = Path(file_path)
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
        shutil.copyfile(source, partial)
        os.replace(partial, target)
        try:
            report = runtime.reindex()
        except Exception:
            target.unlink(missing_ok=True)
            raise
    except QAError as exc:
        return f"上传失败：{exc}", catalog_rows(runtime)
    return f"已添加 {name}。{report}", catalog_rows(runtime)


def export_feedback(is_admin: bool, runtime: Runtime) -> tuple[str | None, str]:
    """Feedback as eval-case JSONL; staff only, since it holds residents' questions and comments."""
    if not is_admin:
        return None, "请先以管理员身份登录。"
    path = Path(tempfile.mkdtemp(prefix="qa-")) / "feedback_eval_cases.jsonl"
    runtime.feedback.write_eval_jsonl(path)
    return str(path), f"已导出 {len(runtime.feedback.rows())} 条反馈。"


# ---------- layout ----------

def chat_tab(runtime: Runtime) -> None:
    session = gr.State(new_session())
    with gr.Row():
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(label="问答", height=520, latex_delimiters=[], elem_id="chat",
                                 placeholder="请就张家窝镇、静海镇、西青区的规划文件提问。")
            with gr.Row():
                box = gr.Textbox(show_label=False, placeholder="输入问题，按回车发送", scale=5,
                                 elem_id="question")
                send = gr.Button("提问", variant="primary", scale=1, elem_id="send")
            gr.Examples(EXAMPLES, inputs=box, label="示例问题")
            with gr.Row():
                comment = gr.Textbox(label="评价意见（可选）", scale=4, elem_id="comment")
                up = gr.Button("👍 有帮助", scale=1, elem_id="rate-up")
                down = gr.Button("👎 没帮助", scale=1, elem_id="rate-down")
            status = gr.Markdown(elem_id="status")
        with gr.Column(scale=2):
            sources = gr.HTML(render_sources(None), label="来源", elem_id="sources")
    turn = dict(fn=lambda m, h, s: respond(m, h, s, runtime), inputs=[box, chatbot, session],
                outputs=[box, chatbot, sources, session, status], api_visibility="undocumented")
    box.submit(**turn)
    send.click(**turn)
    for button, rating in ((up, "up"), (down, "down")):
        button.click(lambda c, s, r=rating: rate(r, c, s, runtime), inputs=[comment, session],
                     outputs=[session, status], api_visibility="undocumented")


def commitments_tab(runtime: Runtime) -> None:
    if commitments_module is None:
        gr.Markdown("承诺库模块（qa.commitments.database）尚未安装，此页暂不可用。")
        return
    try:
        every = search_commitments("", "", "", "", runtime)
    except QAError as exc:
        gr.Markdown(f"承诺库暂不可用：{exc}")
        return
    kinds = [("全部", "")] + [(v, k) for k, v in getattr(commitments_module, "KIND_NAMES", {}).items()]
    places = [("全部", "")] + sorted({(r["place"], r["place"]) for r in every if r.get("place")})
    docs = [("全部", "")] + sorted({(r["short_title"], r["doc"]) for r in every if r.get("doc")})
    records = gr.State(every)
    with gr.Row():
        kind = gr.Dropdown(kinds, value="", label="类型")
        place = gr.Dropdown(places, value="", label="地域")
        doc = gr.Dropdown(docs, value="", label="文档")
        keyword = gr.Textbox(label="关键词", placeholder="如：小学、招商引资")
        search = gr.Button("查询", variant="primary")
    status = gr.Markdown(f"共 {len(every)} 条。点击一行查看原文。")
    table = gr.Dataframe([commitment_row(r) for r in every], headers=COMMITMENT_COLUMNS, interactive=False, wrap=True, max_height=420,
                         column_widths=["8%", "7%", "15%", "22%", "14%", "8%", "12%", "14%"], elem_id="commitments")
    download = gr.DownloadButton("下载 CSV", value=commitments_csv(every))
    source = gr.HTML(commitment_source([], None), elem_id="commitment-source")
    query = dict(fn=lambda *a: commitments_query(*a, runtime), inputs=[kind, place, doc, keyword],
                 outputs=[table, records, download, status], api_visibility="undocumented")
    search.click(**query)
    keyword.submit(**query)
    for dropdown in (kind, place, doc):
        dropdown.change(**query)

    def show_source(recs: list, evt: gr.SelectData) -> str:
        return commitment_source(recs, evt.index[0] if evt.index else None)

    table.select(show_source, inputs=[records], outputs=source, api_visibility="undocumented")


def documents_tab(runtime: Runtime) -> None:
    table = gr.Dataframe(catalog_rows(runtime), headers=[label for _, label in CATALOG_COLUMNS],
                         interactive=False, wrap=True, elem_id="catalog")
    with gr.Accordion("管理员：添加文档、导出反馈", open=False):
        if not runtime.admin_enabled:
            gr.Markdown("管理功能未启用：请设置 QA_ADMIN_USER 和 QA_ADMIN_PASSWORD 后重启。")
            return
        is_admin = gr.State(False)
        with gr.Row():
            user = gr.Textbox(label="用户名")
            password = gr.Textbox(label="密码", type="password")
            login = gr.Button("登录")
        message = gr.Markdown()
        upload = gr.File(label=f"文档（{' '.join(UPLOAD_SUFFIXES)}，不超过 {runtime.config.max_upload_mb} MB）",
                         file_types=list(UPLOAD_SUFFIXES), type="filepath")
        add = gr.Button("添加并重建索引")
        export = gr.Button("导出反馈为评测用例（JSONL）")
        exported = gr.File(label="下载", interactive=False)
    hidden = dict(api_visibility="undocumented")
    login.click(lambda u, p: admin_login(u, p, runtime), [user, password], [is_admin, message], **hidden)
    add.click(lambda f, a: upload_document(f, a, runtime), [upload, is_admin], [message, table],
              concurrency_limit=1, **hidden)
    export.click(lambda a: export_feedback(a, runtime), [is_admin], [exported, message], **hidden)


def api_endpoints(runtime: Runtime) -> None:
    def ask(question: str, previous_question: str = "") -> dict:
        """Answer one question (optionally a follow-up to previous_question) with citations."""
        return ask_json(runtime, question, previous_question)

    def commitments(kind: str = "", place: str = "", doc: str = "", query: str = "") -> list:
        """Commitments matching the filters ('' = any)."""
        if commitments_module is None:
            raise gr.Error("承诺库模块（qa.commitments.database）尚未安装。")
        return search_commitments(kind, place, doc, query, runtime)

    gr.api(ask, api_name="ask")
    gr.api(commitments, api_name="commitments")


def build_app(runtime: Runtime) -> gr.Blocks:
    with gr.Blocks(title="规划文件问答") as demo:
        gr.Markdown("## 规划文件问答\n回答均摘自政府规划文件原文，并注明出处。")
        with gr.Tabs():
            with gr.Tab("问答", id="chat"):
                chat_tab(runtime)
            with gr.Tab("承诺事项", id="commitments"):
                commitments_tab(runtime)
            with gr.Tab("文档", id="documents"):
                documents_tab(runtime)
        api_endpoints(runtime)
    demo.queue(default_concurrency_limit=runtime.config.queue_concurrency)
    return demo


def launch(demo: gr.Blocks, config: Config, **kwargs):
    """Start the server with the app's CSS and the upload size limit enforced by Gradio too."""
    return demo.launch(server_name=config.host, server_port=config.port, css=CSS,
                       max_file_size=f"{config.max_upload_mb}mb", show_error=False, **kwargs)
