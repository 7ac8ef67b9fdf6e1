"""Follow-up questions in a chat: "那2025年呢？" or "<another town>呢？" after a full question.

Retrieval answers one self-contained question at a time, so a short follow-up is rewritten into
the previous question with the place, year or period it names substituted. Full questions (ones
that bring their own subject) are left exactly as typed: guessing there would only do harm.
"""
from __future__ import annotations

import re

from qa.index.index import Index
from qa.search.query import PERIODS, YEAR, analyse
from qa.text import simplified

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


def resolve(previous_question: str | None, new_question: str, index: Index) -> str:
    """The question to answer: the previous one re-scoped when the new one is a short follow-up
    (places and words as `index` knows them). A rewrite is in simplified characters, so
    "那南山區呢？" finds "南山区" in either script."""
    if (not previous_question or not previous_question.strip()
            or not is_follow_up(simplified(new_question), index)):
        return new_question
    query = analyse(new_question, index)
    resolved = simplified(previous_question.strip())
    if query.places:
        resolved = _replace_place(resolved, query.places[0], index)
    if query.years or query.periods:
        resolved = _replace_time(resolved, query.years, list(query.periods), index)
    return resolved
