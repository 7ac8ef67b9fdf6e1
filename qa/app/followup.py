"""Follow-up questions in a chat: "那2025年呢？" or "<another town>呢？" after a full question,
and "具体在哪里？ / 什么时候建好？ / 投资多少？ / 谁负责？" after an answer about a project.

Retrieval answers one self-contained question at a time, so a short follow-up is rewritten:
- a place, year or period is substituted into the previous question; a place switch keeps the
  previous period or year only where that place's documents cover it;
- an attribute question asks about the previous answer's subject: the project (from the index's
  commitment records) its first cited sentence names, in the previous question's place and time.
Full questions (ones that bring their own subject) are left exactly as typed: guessing there
would only do harm.
"""
from __future__ import annotations

import re

from qa.index.index import Index
from qa.search.query import PERIODS, YEAR, analyse
from qa.text import simplified

# Asking for another attribute of the subject just talked about: where, when, how much, who.
ATTRIBUTE_ASK = re.compile(r"具体|在哪里|在哪儿|在哪|哪里|什么地方|什么位置|位置|地点|选址|建在|"
                           r"什么时候|啥时候|何时|哪一?年|几时|建成|建好|完工|竣工|开工|"
                           r"投资|多少钱|花多少|资金|多少|谁负责|谁来|谁|哪个部门|哪个单位|牵头|负责|"
                           r"规模|多大|进展|进度")
ATTRIBUTE_FILLER = re.compile(r"[呢吗的是了呀啊吧，,、。！!？?\s]|这个|那个|它|项目|要|会|能|建|有|在|共|总|计划")
MAX_ATTRIBUTE_CHARS = 12

# Words that only carry the "and what about …" of a follow-up, never its subject.
LEAD_WORDS = re.compile(r"^(那么|那|还有|另外|同样|再问|请问|换成|改成|如果是|如果|要是)")
FILLER = re.compile(r"[呢吗的是了呀啊吧，,、。！!？?\s]|怎么样|怎样|如何|情况|多少|期间|时期|时候|年份|年度")
SHORT_YEAR = re.compile(r"(?<![\d十])([12]\d)年")
MAX_FOLLOW_UP_CHARS = 16


def _place_words(text: str, index: Index) -> list[str]:
    """The words naming places in a question, as written, left to right."""
    return [m.text for m in index.gazetteer.find(text) if not m.text.isascii()]


def _leftover(text: str, index: Index) -> str:
    """What remains of a question once its place, year, period and filler words are removed."""
    for word in _place_words(text, index):
        text = text.replace(word, "")
    text = SHORT_YEAR.sub("", YEAR.sub("", text))
    text = re.sub(r"年", "", text)
    for period in PERIODS:
        text = text.replace(period, "")
    text = LEAD_WORDS.sub("", text)
    return FILLER.sub("", text)


def is_follow_up(question: str, index: Index) -> bool:
    """Short, and naming nothing but a place, a year or a period (plus "那…呢" words)."""
    text = question.strip()
    if not text or len(text) > MAX_FOLLOW_UP_CHARS:
        return False
    query = analyse(text, index)
    if not (query.places or query.periods or query.years):
        return False
    return _leftover(text, index) == ""


def _replace_place(previous: str, place: str, index: Index) -> str:
    for word in _place_words(previous, index):
        return previous.replace(word, place, 1)
    return place + previous


def _replace_time(previous: str, years: list[str], periods: list[str], index: Index) -> str:
    """Put the follow-up's year or period where the previous question had its time words."""
    new_time = f"{years[0]}年" if years else periods[0]
    old_years = YEAR.findall(previous)
    if old_years:
        first = old_years[0]
        previous = previous.replace(f"{first}年", new_time, 1) if f"{first}年" in previous \
            else previous.replace(first, new_time, 1)
        return previous
    if SHORT_YEAR.search(previous):
        return SHORT_YEAR.sub(new_time, previous, count=1)
    for period in PERIODS:
        if period in previous:
            # "十五五期间" asked about a span; a year asks about that year only.
            pattern = re.compile(re.escape(period) + ("(期间|时期)?" if years else ""))
            return pattern.sub(new_time, previous, count=1)
    # No time in the previous question: the time goes right after its place, or in front.
    for word in _place_words(previous, index):
        return previous.replace(word, word + new_time, 1)
    return new_time + previous


def _span(text: str) -> tuple[int, int] | None:
    """A period's years: "2021-2025" → (2021, 2025), "2024" → (2024, 2024)."""
    years = [int(y) for y in re.findall(r"(?:19|20)\d{2}", text or "")]
    return (min(years), max(years)) if years else None


def _covered(place: str, span: tuple[int, int], index: Index) -> bool | None:
    """Whether a document of `place` covers any of `span`; None when no document is of `place`."""
    spans = [_span(m.get("period", "")) for m in index.catalog.values()
             if place in (m.get("place"), *str(m.get("place_path", "")).split(" › "))]
    if not spans:
        return None
    return any(s and s[0] <= span[1] and span[0] <= s[1] for s in spans)


def _drop_uncovered_time(question: str, place: str, index: Index) -> str:
    """Remove the question's period or year when `place`'s documents do not cover it."""
    query = analyse(question, index)
    spans = [(_span(PERIODS.get(p, "")), re.compile(re.escape(p) + "(期间|时期)?")) for p in query.periods]
    spans += [(_span(y), re.compile(re.escape(y) + "年?")) for y in query.years]
    for span, pattern in spans:
        if span and _covered(place, span, index) is False:
            question = pattern.sub("", question, count=1)
    return question


def is_attribute_follow_up(question: str, index: Index) -> bool:
    """Short, asking where / when / how much / who, and naming no subject of its own."""
    text = question.strip()
    if not text or len(text) > MAX_ATTRIBUTE_CHARS or not ATTRIBUTE_ASK.search(text):
        return False
    if _place_words(text, index) or YEAR.search(text):
        return False
    return ATTRIBUTE_FILLER.sub("", ATTRIBUTE_ASK.sub("", LEAD_WORDS.sub("", text))) == ""


def _bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)}


def answer_subject(answer, index: Index, question: str = "") -> str:
    """The project an answer is about: of the commitment records of kind project whose name the
    answer repeats and whose sentence it cites, the one sharing most of `question`'s words
    (character pairs), then the one the answer names first; '' when there is none."""
    from qa.commitments.search import search_commitments

    if answer is None or getattr(answer, "abstained", True) or not answer.citations:
        return ""
    text = simplified(answer.answer)
    for citation in answer.citations:
        try:
            records = search_commitments(index.commitments_db, kind="project", doc=citation.doc,
                                         limit=None, with_related=False, tokenizer=index.tokenizer)
        except Exception:  # an index without a commitments database: no subject, no rewrite
            return ""
        sentence = simplified(citation.sentence or citation.text)
        named = [r.name for r in records if r.name and simplified(r.name) in text
                 and (simplified(r.sentence) in sentence or sentence in simplified(r.sentence)
                      or simplified(r.name) in sentence)]
        if named:
            asked = _bigrams(simplified(question))
            return min(named, key=lambda name: (-len(asked & _bigrams(simplified(name))),
                                                text.find(simplified(name))))
    return ""


def _scope_words(question: str, index: Index) -> str:
    """The previous question's place and time, as written: "某镇十五五期间"."""
    query = analyse(question, index)
    words = [w for w in _place_words(question, index)[:1]]
    for period in query.periods:
        words.append(period + ("期间" if period + "期间" in question else ""))
    words += [f"{y}年" for y in query.years]
    return "".join(words)


def _ask_attribute(previous: str, follow_up: str, subject: str, index: Index) -> str:
    core = LEAD_WORDS.sub("", follow_up.strip()).rstrip("？?。！! ")
    if subject:
        return f"{_scope_words(previous, index)}{subject}{core}？"
    # no named project: the previous question's own subject, asked again for this attribute
    return f"{previous.rstrip('？?。！! ').removesuffix('吗')}，{core}？"


def resolve(previous_question: str | None, new_question: str, index: Index,
            previous_answer=None) -> str:
    """The question to answer: the previous one re-scoped when the new one is a short follow-up
    (places and words as `index` knows them), or the previous answer's subject asked for another
    attribute. A rewrite is in simplified characters, so "那南山區呢？" finds "南山区" in either
    script."""
    if not previous_question or not previous_question.strip():
        return new_question
    text = simplified(new_question)
    resolved = simplified(previous_question.strip())
    if is_attribute_follow_up(text, index):
        return _ask_attribute(resolved, text, answer_subject(previous_answer, index, resolved), index)
    if not is_follow_up(text, index):
        return new_question
    query = analyse(new_question, index)
    if query.places:
        resolved = _replace_place(resolved, query.places[0], index)
    if query.years or query.periods:
        resolved = _replace_time(resolved, query.years, list(query.periods), index)
    elif query.places:
        resolved = _drop_uncovered_time(resolved, query.places[0], index)
    return resolved
