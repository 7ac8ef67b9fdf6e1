"""The residents' chat: ask, see "正在检索…" at once, then the answer with its sources under it;
follow up; rate any answer; clear; examples that ask themselves.

Callbacks are plain functions of plain values plus the web app's `Runtime`, so tests call them
without a browser; `chat_tab` only wires them to components. A conversation's state (`session`)
holds each answered turn by its message's place in the chat, so 👍/👎 rate the message they sit
under and a follow-up is resolved against the latest answer and its sources.
"""
from __future__ import annotations

import sys
import traceback
from pathlib import Path

import gradio as gr

from qa.app.bubbles import (FEEDBACK_THANKS, answer_bubble, index_line, notice_bubble, pending_bubble,
                            user_bubble)
from qa.app.examples import MAX_EXAMPLES
from qa.app.followup import resolve
from qa.app.limits import MAX_COMMENT_CHARS, echo, text_param
from qa.errors import QAError

MAX_PLACES_NAMED = 5  # in the chat's placeholder
ERROR_MESSAGE = "抱歉，处理这个问题时出错了，请换一种说法再试。"
ALREADY_RATED = "这条回答已经评价过了，谢谢！"
# Gradio's thumbs plus reasons under its flag icon; a reason is stored as a 👎 with that comment.
FEEDBACK_OPTIONS = ("Like", "Dislike", "数字不对", "答非所问", "来源不对", "没有回答")
SCRIPT = Path(__file__).with_name("chat.js")
CSS = """
.qa-bubble p {margin:0 0 6px 0;}
.qa-place {display:inline-block; background:#e8f0fe; color:#1a4fa0; border-radius:4px; padding:0 6px;
           margin-right:6px; font-size:0.9em; font-weight:600;}
.qa-rewrite {color:#57606a; font-size:0.9em;}
.qa-abstain {display:inline-block; background:#fde2e1; color:#8a1c17; border-radius:4px;
             padding:2px 8px; font-weight:600; margin-bottom:6px;}
a.qa-cite {font-weight:600; text-decoration:none; padding:2px 3px; margin:0 1px; border-radius:3px;
           background:#eef2f7; color:#1a4fa0; cursor:pointer; white-space:nowrap;}
.qa-sources {margin-top:8px; border-top:1px solid #d0d7de; padding-top:4px;}
.qa-sources summary {cursor:pointer; font-weight:600; padding:6px 0; min-height:28px;}
.qa-source-list {padding-left:0; list-style:none; margin:0;}
.qa-source {border:1px solid #d0d7de; border-radius:6px; padding:8px 10px; margin:6px 0; scroll-margin:80px;}
.qa-source-head {font-weight:600; margin-bottom:4px;}
.qa-source-text {white-space:pre-wrap; line-height:1.6; max-height:16em; overflow:auto;}
.qa-source mark {background:#fff3a3; padding:0 2px;}
.qa-flash {outline:3px solid #f59e0b; transition:outline 0.3s;}
.qa-tools {margin-top:6px;}
button.qa-copy {border:1px solid #d0d7de; border-radius:4px; padding:2px 10px; background:#fff; cursor:pointer;}
.qa-copied {margin-left:8px; color:#1a7f37;}
.qa-feedback-note {color:#1a7f37; font-weight:600; margin-top:6px !important;}
.qa-pending {color:#57606a;}
.qa-spinner {display:inline-block; width:12px; height:12px; margin-right:6px; border:2px solid #d0d7de;
             border-top-color:#1a4fa0; border-radius:50%; animation:qa-spin 0.8s linear infinite;}
@keyframes qa-spin {to {transform:rotate(360deg);}}
#index-line {color:#57606a; font-size:0.9em;}
#examples-label p {margin:0; color:#57606a; font-size:0.9em;}
#examples {gap:6px; flex-wrap:wrap;}
#examples button.qa-example {flex:0 1 auto; font-weight:normal; white-space:normal;}
#chat .top-panel {display:none !important;} /* its trash icon sat on the bubbles; 清空对话 is below */
@media (max-width: 640px) {
  #chat .message-row, #chat .message {max-width:100% !important; margin-left:0 !important; padding-left:0 !important;}
  .qa-source-text {max-height:none;}
}
"""


def head() -> str:
    """For `Blocks.launch(head=…)`: the chat's browser script."""
    return f"<script>{SCRIPT.read_text(encoding='utf-8')}</script>"


def new_session() -> dict:
    """A conversation: the latest answered question (what follow-ups build on) and every
    answered turn by its message index (what 👍/👎 rate)."""
    return {"question": "", "asked": "", "answer": None, "turns": {}}


def _turn(message, history: list, session: dict, runtime, request=None):
    """One chat turn as a generator of (cleared input, history, session, status): first the
    question with a pending bubble, then the answer in its place."""
    history = list(history or [])
    session = dict(session or new_session())
    refusal = runtime.question_refusal(message, request)
    if refusal:
        history += [{"role": "user", "content": user_bubble(echo(message))},
                    {"role": "assistant", "content": notice_bubble(refusal)}]
        yield "", history, session, refusal
        return
    message = "" if message is None else str(message)
    history.append({"role": "user", "content": user_bubble(message)})
    history.append({"role": "assistant", "content": pending_bubble()})
    yield "", list(history), session, ""
    assistant = runtime.assistant
    try:
        resolved = resolve(session.get("question"), message, assistant.index, session.get("answer"))
        answer = assistant.ask(resolved)
    except QAError as exc:
        history[-1] = {"role": "assistant", "content": notice_bubble(str(exc))}
        yield "", history, session, str(exc)
        return
    except Exception:  # a bug must not take the chat down; the log keeps the details
        traceback.print_exc(file=sys.stderr)
        history[-1] = {"role": "assistant", "content": notice_bubble(ERROR_MESSAGE)}
        yield "", history, session, ERROR_MESSAGE
        return
    at = len(history) - 1
    asked = message.strip()
    catalog = assistant.index.catalog
    history[-1] = {"role": "assistant", "content": answer_bubble(answer, catalog, f"m{at}", asked, resolved)}
    turns = dict(session.get("turns") or {})
    turns[str(at)] = {"question": answer.question, "asked": asked, "resolved": resolved, "answer": answer,
                      "catalog": catalog, "feedback_id": None}
    session.update(question=answer.question, asked=asked, answer=answer, turns=turns)
    yield "", history, session, ""


def respond(message, history, session, runtime, request=None):
    """A whole turn at once (the last of `_turn`'s updates), for callers without a browser."""
    result = None
    for result in _turn(message, history, session, runtime, request):
        pass
    return result


def rate(index: int, liked, comment: str, history: list, session: dict, runtime):
    """👍/👎 (or a reason under the flag) on the answer at message `index` → (history with the
    confirmation under that answer, session, comment box, status)."""
    session = dict(session or new_session())
    history = list(history or [])
    turn = (session.get("turns") or {}).get(str(index))
    if turn is None or liked is None:
        return history, session, gr.skip(), "请先提问，再评价回答。" if turn is None else ""
    if turn.get("feedback_id"):
        return history, session, gr.skip(), ALREADY_RATED
    rating = "up" if liked is True or liked == "Like" else "down"
    reason = liked if isinstance(liked, str) and liked not in ("Like", "Dislike") else ""
    try:
        comment = text_param(comment, "comment", MAX_COMMENT_CHARS)
        answer = turn["answer"]
        row = runtime.feedback.add(answer.question, answer.answer, answer.citations, rating,
                                   "；".join(x for x in (reason, (comment or "").strip()) if x),
                                   asked=turn.get("asked", ""), abstained=answer.abstained)
    except QAError as exc:
        return history, session, gr.skip(), str(exc)
    turns = dict(session["turns"])
    turns[str(index)] = {**turn, "feedback_id": row}
    session["turns"] = turns
    if 0 <= index < len(history):
        history[index] = {**history[index], "content": answer_bubble(
            answer, turn.get("catalog") or {}, f"m{index}", turn.get("asked", ""), turn.get("resolved", ""),
            feedback_note=FEEDBACK_THANKS)}
    return history, session, "", FEEDBACK_THANKS


def clear() -> tuple:
    """Clear the chat: no messages, no sources, no context for follow-ups."""
    return [], new_session(), ""


def chat_placeholder(catalog: dict[str, dict]) -> str:
    places = list(dict.fromkeys(m.get("place", "") for m in catalog.values() if m.get("place")))
    named = "、".join(places[:MAX_PLACES_NAMED]) + ("等地" if len(places) > MAX_PLACES_NAMED else "")
    return f"请就{named}的规划文件提问。" if named else "请就语料中的规划文件提问。"


def chat_tab(runtime) -> dict:
    """The residents' chat; returns what to refresh when a page loads (placeholder, examples)."""
    session = gr.State(new_session(), time_to_live=runtime.config.session_ttl_s)
    catalog = runtime.assistant.index.catalog
    chatbot = gr.Chatbot(label="问答", show_label=False, height="62vh", min_height=360, latex_delimiters=[],
                         elem_id="chat",
                         placeholder=chat_placeholder(catalog), buttons=[],
                         feedback_options=FEEDBACK_OPTIONS)
    with gr.Row(equal_height=True):
        box = gr.Textbox(show_label=False, placeholder="输入问题，按回车发送", scale=5, min_width=200,
                         elem_id="question")
        send = gr.Button("提问", variant="primary", scale=1, min_width=80, elem_id="send")
    # Buttons, not a gr.Dataset: the page then needs no Dataset script (13 KB of its first load).
    gr.Markdown("示例问题（点击即提问）：", elem_id="examples-label")
    with gr.Row(elem_id="examples"):
        examples = [gr.Button(q, size="sm", elem_classes="qa-example", min_width=120)
                    for q in runtime.examples()]
        examples += [gr.Button("", size="sm", visible=False, elem_classes="qa-example", min_width=120)
                     for _ in range(MAX_EXAMPLES - len(examples))]
    with gr.Row(equal_height=True):
        comment = gr.Textbox(label="评价意见（可选，点回答下的 赞/踩 时一并提交）", scale=4, elem_id="comment")
        reset = gr.Button("清空对话", scale=1, min_width=80, elem_id="clear")
    status = gr.Markdown(elem_id="status")

    def ask_turn(m, h, s, request: gr.Request):
        yield from _turn(m, h, s, runtime, request)

    def on_like(c, h, s, data: gr.LikeData):
        index = data.index if isinstance(data.index, int) else data.index[0]
        return rate(index, data.liked, c, h, s, runtime)

    turn = dict(fn=ask_turn, inputs=[box, chatbot, session], outputs=[box, chatbot, session, status],
                api_visibility="undocumented", show_progress="hidden")
    box.submit(**turn)
    send.click(**turn)
    for example in examples:
        example.click(lambda question: question, inputs=[example], outputs=[box],
                      api_visibility="undocumented", show_progress="hidden").then(**turn)
    chatbot.like(on_like, inputs=[comment, chatbot, session], outputs=[chatbot, session, comment, status],
                 api_visibility="undocumented", show_progress="hidden")
    for event in (chatbot.clear, reset.click):
        event(clear, outputs=[chatbot, session, status], api_visibility="undocumented")

    def on_load():
        catalog = runtime.assistant.index.catalog
        questions = runtime.examples()
        return (gr.Chatbot(placeholder=chat_placeholder(catalog)),
                *[gr.Button(q, visible=True) for q in questions],
                *[gr.Button("", visible=False) for _ in range(MAX_EXAMPLES - len(questions))])
    return dict(fn=on_load, outputs=[chatbot, *examples])


def index_info(runtime) -> dict:
    """The line under the title; returns what to refresh when a page loads."""
    line = gr.Markdown(index_line(runtime.assistant.index), elem_id="index-line")
    return dict(fn=lambda: index_line(runtime.assistant.index), outputs=[line])
