"""The items of a list, collected after the sentence that introduces it.

Plans write a list as an introducing sentence ("构建“一核两带三片区”…城镇空间结构") followed by its
items, each led by its label ("一核：…", "两带：…") or number ("1.…", "（一）…"), in the same passage
or in the passages after it under the same heading. A question naming one item's label ("“两带”
指什么") is answered by that item; one asking for the whole list by the items in order, each cut to
its first sentence so that the list fits the answer. Every item keeps the passage it is copied from.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from qa.index.passage import NodeWithScore, Passage
from qa.text import normalise

SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]?")
CLAUSE = re.compile(r"[^，,；;。！？]+[，,；;。！？]?")
# "两带：", "公共文化服务区：" — a short label and a colon open an item
LABEL = re.compile(r"^\s*([^，,。；;：:\s]{1,12})[：:]")
NUMBERED = re.compile(r"^\s*(?:\d{1,2}[.．、](?!\d)|[（(][一二三四五六七八九十\d]{1,3}[)）]|[一二三四五六七八九十]{1,3}、)")
# an introducing sentence ends with a colon or announces what follows
INTRODUCES = re.compile(r"[：:]\s*$|如下|以下|包括")
FOLLOWING_PASSAGES = 4    # passages after the introducing one that may hold its items
LIST_BOUND = 300          # characters a whole list may take
ITEM_BOUND = 120          # characters one named item may take
# "三片区：功能互补的三个片区。": an item that only counts what its next sentence lists
COUNTS = re.compile(r"[一二三四五六七八九十两几\d]+[个大类项条方面]")


@dataclass
class Item:
    text: str
    node: NodeWithScore
    sentence: str  # the whole sentence the text is cut from
    named: bool = False  # the item the question names, or the items of the list asked: they lead


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE.findall(text) if s.strip()]


def following(passages, node: Passage, sentence: str) -> list[tuple[str, Passage]]:
    """The sentences after `sentence` in its passage, then those of the passages that follow it
    in its document while their heading stays under its heading."""
    body = node.get_content()
    start = body.find(sentence)
    out = [(s, node) for s in _sentences(body[start + len(sentence):])] if start >= 0 else []
    doc, sep, number = node.node_id.rpartition("#")
    if not sep or not number.isdigit():
        return out
    heading = node.metadata.get("heading", "")
    for step in range(1, FOLLOWING_PASSAGES + 1):
        after = passages.get(f"{doc}#{int(number) + step}")
        if after is None or not after.metadata.get("heading", "").startswith(heading):
            break
        out += [(s, after) for s in _sentences(after.get_content())]
    return out


def condense(text: str, bound: int) -> str:
    """A long enumeration whose items are separated by "；": the first clause of each item."""
    if len(text) <= bound or "；" not in text:
        return text if len(text) <= bound else text[:bound] + "…"
    heads = []
    for segment in (s for s in text.split("；") if s.strip()):
        head = ""
        for sentence in SENTENCE.findall(segment):  # "三片区：…三个片区。高新智造集聚区围绕…，…"
            first = CLAUSE.findall(sentence)[0]
            head += first if first == sentence else first.rstrip("，,") + "…"
        heads.append(head)
    condensed = "；".join(heads)
    return condensed if len(condensed) <= bound else condensed[:bound] + "…"


QUOTED = re.compile(r"[“\"「『]([^”\"」』]{1,12})[”\"」』]")


def named(label: str, asked: str, intro: str) -> bool:
    """Whether the question names an item's label: quoted on its own ("…中的“两轴”"), or, with
    nothing quoted, written where the introducing sentence does not write it inside a longer name."""
    quoted = QUOTED.findall(asked)
    if quoted:
        return label in quoted
    start = asked.find(label)
    while start >= 0:
        left = asked[max(start - 1, 0):start + len(label)]
        right = asked[start:start + len(label) + 1]
        if (start == 0 or left not in intro) and right not in intro:
            return True
        start = asked.find(label, start + 1)
    return False


def _item_starts(sentence: str) -> bool:
    return bool(LABEL.match(sentence) or NUMBERED.match(sentence))


def list_items(passages, result: NodeWithScore, sentence: str, question: str,
               alone: bool) -> list[Item] | None:
    """The items answering a list question from the selected `sentence`; None when it heads none."""
    node = result.node
    after = following(passages, node, sentence)
    asked = normalise(question)
    intro = normalise(sentence)
    own = LABEL.match(sentence)
    if own and QUOTED.findall(asked) and named(normalise(own.group(1)), asked, ""):
        after = [(sentence, node)] + after  # the selected sentence is itself the item named
    # one item the question names by its label
    for i, (text, source) in enumerate(after):
        label = LABEL.match(text)
        if label and named(normalise(label.group(1)), asked, intro):
            body = text
            for more, more_source in after[i + 1:]:  # the item's own further sentences
                if more_source is not source or _item_starts(more):
                    break
                if body is text and COUNTS.search(text[len(label.group(0)):]):
                    body += condense(more, LIST_BOUND - len(body))
                    continue
                if len(body) + len(more) > ITEM_BOUND:
                    break
                body += more
            return [Item(condense(body, LIST_BOUND), NodeWithScore(node=source, score=0.0), text, True)]
    if not alone or _item_starts(sentence):
        return None  # an item selected on its own answers as it is
    items: list[list] = []
    for text, source in after:
        if not _item_starts(text):
            if not items:
                break
            last = items[-1]
            if len(last) == 2 and last[1] is source and COUNTS.search(LABEL.sub("", last[0], count=1)):
                last[0] += condense(text, LIST_BOUND // 2)  # "三片区：…三个片区。" counts what follows
                last.append(True)
            continue  # an item's further sentences: its first says what it is
        items.append([text, source])
    if not items or not (INTRODUCES.search(sentence) or len(items) >= 2):
        return None
    out = [Item(condense(sentence, LIST_BOUND // 3), result, sentence, True)]
    used = len(out[0].text)
    for text, source, *_ in items:
        head = condense(text, LIST_BOUND // 2)
        if used + len(head) > LIST_BOUND:
            break
        same = source is node
        out.append(Item(head, result if same else NodeWithScore(node=source, score=0.0), text, True))
        used += len(head)
    return out if len(out) > 1 else None
