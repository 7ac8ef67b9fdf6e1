"""What answering hands out and works with: the answer and its citations, a candidate sentence,
and the check that refuses what cannot be a question."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field

from qa.index.passage import NodeWithScore
from qa.errors import InputError

INVISIBLE = re.compile(r"[\u200b-\u200f\u2060\ufeff]")
ALLOWED_CONTROL = {"\n", "\t", "\r"}


@dataclass
class Citation:
    n: int
    doc: str
    title: str
    heading: str
    text: str
    sentence: str = ""


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    retrieved: list[dict] = field(default_factory=list)
    latency_ms: float = 0.0
    # the answer's sentences in order, each with its [n], place, document and place label
    # ("某某镇《“十五五”规划纲要》") when a question naming no place is answered place by place
    sentences: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        data = asdict(self)
        data["latency_ms"] = round(self.latency_ms, 1)
        return data


def clean_question(question: str, max_chars: int) -> str:
    """Refuse what cannot be a question; keep everything else exactly as typed."""
    if question is None:
        raise InputError("问题为空：请输入一个问题。")
    question = INVISIBLE.sub("", unicodedata.normalize("NFC", str(question)))
    if any(unicodedata.category(c) == "Cc" and c not in ALLOWED_CONTROL for c in question):
        raise InputError("问题中含有控制字符，请删除后重试。")
    if any(unicodedata.category(c) == "Cs" for c in question):
        raise InputError("问题中含有无法识别的字符（不成对的代理字符），请重新输入。")
    question = question.strip()
    if not question:
        raise InputError("问题为空：请输入一个问题。")
    if len(question) > max_chars:
        raise InputError(f"问题过长（{len(question)} 字），请控制在 {max_chars} 字以内。")
    if not re.search(r"[\w\u4e00-\u9fff]", question):
        raise InputError("问题中没有可识别的文字，请换一种说法。")
    return question


@dataclass
class Candidate:
    score: float
    coverage: float
    sentence: str
    node: NodeWithScore
    covered: frozenset
    features: dict = field(default_factory=dict, repr=False)  # what the learned scorer reads
    probability: float | None = None  # P(holds the fact asked), when a learned scorer is loaded
    # (normalised sentence, normalised heading, position, coverage of each sentence of its passage)
    where: tuple = field(default=(), repr=False)



