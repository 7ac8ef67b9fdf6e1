"""What a chat bubble holds: the answer (place-labelled when its evidence spans several places),
its sources inline and collapsible under it, a copy button with the plain text, the pending
bubble, and the line under the title.

Every string from a question or a document is escaped exactly once, here: each character that
HTML or Markdown would read as syntax becomes a numeric character reference, which the browser
shows as the character itself and no Markdown rule touches. A bubble is one HTML block (no
blank line inside), so the chat's Markdown renderer leaves it alone. Nothing is ever unescaped.
"""
from __future__ import annotations

import re

from qa.answer.answering import Answer

ABSTAIN_LABEL = "未找到依据"
PENDING_TEXT = "正在检索…"
FEEDBACK_THANKS = "已记录您的评价，谢谢！"
# HTML's own five plus every character Markdown gives a meaning (emphasis, links, code, math, tables)
SPECIAL = re.compile(r"""[&<>"'\\`*_\[\]{}()#+!|~$=:-]""")
MARKER = re.compile(r"\[(\d+)\]")
# An answer's pieces: text up to and including its run of [n] markers ("…句子。[1][2]").
PIECE = re.compile(r"(.*?)((?:\[\d+\])+)", re.S)
LABEL_SEPARATOR = re.compile(r"^\s*[；;。]?\s*")


def escape(text: str) -> str:
    """Text shown as typed: every syntax character as a character reference; newlines as
    <br> so no blank line can end the bubble's HTML block."""
    text = SPECIAL.sub(lambda m: f"&#{ord(m.group())};", str(text or ""))
    return text.replace("\r\n", "\n").replace("\n", "<br>")


def _attribute(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "", text)


def user_bubble(text: str) -> str:
    return f'<p class="qa-asked">{escape(text)}</p>'


def pending_bubble() -> str:
    return f'<p class="qa-pending"><span class="qa-spinner"></span>{PENDING_TEXT}</p>'


def notice_bubble(text: str) -> str:
    """A refusal or error, shown as the assistant's reply."""
    return f'<p class="qa-notice">⚠️ {escape(text)}</p>'


def highlight(text: str, sentence: str) -> str:
    """Escaped passage with the supporting sentence wrapped in <mark>."""
    sentence = (sentence or "").strip()
    at = text.find(sentence) if sentence else -1
    if at < 0:
        head = f"<mark>{escape(sentence)}</mark><br>" if sentence else ""
        return head + escape(text)
    end = at + len(sentence)
    return f"{escape(text[:at])}<mark>{escape(sentence)}</mark>{escape(text[end:])}"


def source_label(citation, catalog: dict[str, dict]) -> tuple[str, str]:
    """(place, document short title) of a citation, from the index's catalog."""
    meta = catalog.get(citation.doc, {})
    return meta.get("place", ""), meta.get("short_title") or citation.title


def _pieces(text: str) -> list[tuple[str, list[int]]]:
    """The answer as (text, cited numbers) pieces, in order; trailing text without a marker is
    a piece of its own with no numbers."""
    pieces, end = [], 0
    for m in PIECE.finditer(text):
        pieces.append((m.group(1), [int(n) for n in MARKER.findall(m.group(2))]))
        end = m.end()
    if text[end:].strip():
        pieces.append((text[end:], []))
    return pieces


def place_groups(answer: Answer, catalog: dict[str, dict]) -> list[tuple[str, str, list]]:
    """Consecutive pieces of the answer whose first citation is of the same place:
    [(place, short titles joined, pieces)]. One group when the evidence is of one place."""
    by_n = {c.n: c for c in answer.citations}
    groups: list[tuple[str, list[str], list]] = []
    for text, numbers in _pieces(answer.answer):
        cited = [by_n[n] for n in numbers if n in by_n]
        place, title = source_label(cited[0], catalog) if cited else ("", "")
        if groups and (not cited or groups[-1][0] == place):
            groups[-1][2].append((text, numbers))
            if title and title not in groups[-1][1]:
                groups[-1][1].append(title)
        else:
            groups.append((place, [title] if title else [], [(text, numbers)]))
    return [(place, "、".join(titles), pieces) for place, titles, pieces in groups]


def _labels(answer: Answer) -> list[str]:
    """The place labels the composed answer starts its groups with ("某镇《某规划》"), longest first."""
    labels = {str(x.get("label") or "") for x in getattr(answer, "sentences", None) or [] if isinstance(x, dict)}
    return sorted(filter(None, labels), key=len, reverse=True)


def _linked(text: str, anchor: str) -> str:
    """Escaped text whose [n] markers are links to the sources under the bubble."""
    out, end = [], 0
    for m in MARKER.finditer(text):
        n = m.group(1)
        out.append(escape(text[end:m.start()]))
        out.append(f'<a class="qa-cite" href="#{anchor}-s{n}" title="查看来源 [{n}]">[{n}]</a>')
        end = m.end()
    out.append(escape(text[end:]))
    return "".join(out)


def answer_body(answer: Answer, catalog: dict[str, dict], anchor: str) -> str:
    """The answer's HTML, one paragraph per line. A group the answer labels with its place and
    document ("某镇《某规划》提到：……") shows that label as a tag; an answer whose evidence spans
    several places but carries no labels gets them here, from the catalog."""
    labels = _labels(answer)
    if labels or "\n" in answer.answer.strip():
        paragraphs = []
        for line in filter(str.strip, answer.answer.split("\n")):
            label = next((x for x in labels if line.startswith(x)), "")
            tag = f'<span class="qa-place">{escape(label)}</span>' if label else ""
            paragraphs.append(f'<p class="qa-answer">{tag}{_linked(line[len(label):], anchor)}</p>')
        if labels or len({p for p, _, _ in place_groups(answer, catalog) if p}) <= 1:
            return "".join(paragraphs)
    groups = place_groups(answer, catalog)
    labelled = len({place for place, _, _ in groups if place}) > 1
    paragraphs = []
    for place, titles, pieces in groups:
        text = "".join(t + "".join(f"[{n}]" for n in numbers) for t, numbers in pieces)
        tag = ""
        if labelled and place:
            text = LABEL_SEPARATOR.sub("", text)
            text = text[len(place) + 1:] if text.startswith(place + "：") else text
            tag = f'<span class="qa-place">{escape(place)}《{escape(titles)}》</span>'
        paragraphs.append(f'<p class="qa-answer">{tag}{_linked(text.strip(), anchor)}</p>')
    return "".join(paragraphs)


def sources_block(answer: Answer, catalog: dict[str, dict], anchor: str) -> str:
    """The answer's sources, collapsed under it; each one a target of its [n]."""
    if not answer.citations:
        return '<p class="qa-note">没有相关段落。</p>'
    title = (f"相关段落（{len(answer.citations)}，仅供参考，不是回答的依据）" if answer.abstained
             else f"来源（{len(answer.citations)}）")
    items = []
    for c in answer.citations:
        place, short = source_label(c, catalog)
        where = f"{escape(place)} · " if place else ""
        items.append(f'<li class="qa-source" id="{anchor}-s{c.n}"><div class="qa-source-head">[{c.n}] {where}'
                     f'{escape(short)} › {escape(c.heading)}</div>'
                     f'<div class="qa-source-text">{highlight(c.text, c.sentence)}</div></li>')
    return (f'<details class="qa-sources" id="{anchor}-sources"><summary>{title}</summary>'
            f'<ol class="qa-source-list">{"".join(items)}</ol></details>')


def plain_text(answer: Answer, catalog: dict[str, dict], resolved_note: str = "") -> str:
    """What the copy button puts on the clipboard: the answer with its [n] and the source list."""
    lines = [resolved_note] if resolved_note else []
    if answer.abstained:
        lines.append(f"【{ABSTAIN_LABEL}】")
    groups = place_groups(answer, catalog)
    if _labels(answer) or len({place for place, _, _ in groups if place}) <= 1:
        lines += [line.strip() for line in answer.answer.split("\n") if line.strip()]
    else:
        for place, titles, pieces in groups:
            text = LABEL_SEPARATOR.sub("", "".join(t + "".join(f"[{n}]" for n in numbers) for t, numbers in pieces))
            text = text[len(place) + 1:] if text.startswith(place + "：") else text
            lines.append(f"{place}《{titles}》：{text.strip()}" if place else text.strip())
    if answer.citations:
        lines.append("")
        lines.append("来源：" if not answer.abstained else "相关段落：")
        for c in answer.citations:
            place, short = source_label(c, catalog)
            lines.append(f"[{c.n}] {place + ' · ' if place else ''}{short} › {c.heading}")
    return "\n".join(lines)


def answer_bubble(answer: Answer, catalog: dict[str, dict], anchor: str, asked: str = "",
                  resolved: str = "", feedback_note: str = "") -> str:
    """The whole assistant bubble for one answer. `anchor` makes its element ids unique in
    the page (the message's place in the chat)."""
    anchor = _attribute(anchor) or "m"
    note = f"结合上文，理解为：{resolved}" if resolved and resolved != asked else ""
    parts = []
    if note:
        parts.append(f'<p class="qa-rewrite">（{escape(note)}）</p>')
    if answer.abstained:
        parts.append(f'<span class="qa-abstain">【{ABSTAIN_LABEL}】</span>')
    parts.append(answer_body(answer, catalog, anchor))
    parts.append(sources_block(answer, catalog, anchor))
    copy_text = escape(plain_text(answer, catalog, f"（{note}）" if note else "")).replace("<br>", "&#10;")
    parts.append(f'<div class="qa-tools"><button type="button" class="qa-copy">复制回答</button>'
                 f'<span class="qa-copied" style="display:none">已复制</span></div>'
                 f'<div class="qa-plain" style="display:none">{copy_text}</div>')
    if feedback_note:
        parts.append(f'<p class="qa-feedback-note">{escape(feedback_note)}</p>')
    return f'<div class="qa-bubble">{"".join(parts)}</div>'


def index_line(index) -> str:
    """Under the title: how many documents answer, when their index was built, which embedding
    model; from the index serving now."""
    built = str(index.manifest.get("built_at", "")).replace("T", " ")[:16] or "未知"
    # the model's name: its description up to the details in brackets (paths, sizes)
    model = re.split(r"[（(；;]", index.embedder.description)[0].strip() if index.embedder is not None else ""
    model = model or "未知"
    return (f"已收录 {len(index.catalog)} 篇文件 · 索引构建于 {built} · 向量模型：{model}")
