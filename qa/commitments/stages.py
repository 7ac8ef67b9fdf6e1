"""A project's stage — planned, under construction or completed — from the words around its name.

The words come from qa/data/project_stages.tsv; the name itself never says (a "某某运营中心" is not
in operation). Three places are read, nearest first:

1. the project's own words: what is printed right after the name, up to the next item of its list
   ("甲（在建）的建设和乙的规划落地": 甲 is being built, 乙 only planned);
2. the rest of its clause, with the next clause when that one goes on about the same works
   ("扎实推进某某新厂房建设，力争尽快竣工投产");
3. whether the passage reviews the past (a review) or commits to the future (a plan).

In a plan, a project pushed to land, be signed or start ("加快推进某项目落地", "推动某项目开工建设")
has not begun; one whose completion is printed after it as a deadline ("推动某小学建成投用") is
under construction, while "完成某某路建设", "建成某园" ask for works that may not have begun. In a
review, completion words mean completed, pushing on ("推进", "推动") means under construction, and
works that were carried out ("新建、改造、实施…") are completed.
"""
from __future__ import annotations

import re
from functools import lru_cache

from qa.commitments.lexicon import DATA
from qa.commitments.models import COMPLETED, PLANNED, UNDER_CONSTRUCTION

CONTINUES = re.compile(r"^(?:并|力争|确保|争取|尽快|于|预计)")
OTHER_WORKS = re.compile(r"建设|新建|改造|实施|推进|推动|打造|开工|启动|引进")  # a clause about works of its own
MODIFIER = re.compile(r"项目|企业")  # "等落地项目建设": a kind of project, not what is done to it
STAGE_NOTE = re.compile(r"[（(]([^（）()]{1,6})[）)]$")  # "某铁路（在建）"
NEXT_ITEM = re.compile(r"[、和及与]|等")
NOT_DONE = re.compile(r"即将|准备")


@lru_cache(maxsize=1)
def signals() -> dict[str, re.Pattern]:
    """Each kind of stage signal as one pattern (see qa/data/project_stages.tsv)."""
    found = {}
    for line in (DATA / "project_stages.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            kind, words = line.split("\t", 1)
            found[kind] = re.compile(words.strip())
    return found


def following(sentence: str, clause: str) -> str:
    """The clauses after `clause` that go on about the same works ("，力争尽快竣工投产")."""
    at = sentence.find(clause)
    if at < 0 or not clause:
        return ""
    went_on = []
    for part in re.split(r"[，,；;。]", sentence[at + len(clause):])[1:]:
        ends = [m.end() for m in signals()["completion"].finditer(part)]
        if CONTINUES.match(part) and (not ends or len(part) - ends[-1] <= 4):
            went_on.append(part)  # "…，确保今年9月如期开学投用", not "力争建成某某基地" (another thing)
        elif OTHER_WORKS.search(part):
            break
    return "，".join(went_on)


def _predicate(pattern: re.Pattern, text: str) -> re.Match | None:
    """The first of the pattern's words said of the project, not naming a kind of project."""
    return next((m for m in pattern.finditer(text) if not MODIFIER.match(text, m.end())), None)


def _own_words(clause: str, name: str) -> str:
    at = clause.find(name) if name else -1
    if at < 0:
        return ""
    after = clause[at + len(name):]
    end = NEXT_ITEM.search(after)
    note = STAGE_NOTE.search(name)
    return (note.group(1) if note else "") + (after[:end.start()] if end else after)


def stage(clause: str, reported: bool, name: str = "", then: str = "") -> tuple[str, str]:
    """(status, the text's own words for it) of the project `name` in `clause`, `then` being the
    clauses that go on about it (see `following`)."""
    s = signals()
    text = clause + ("，" + then if then else "")
    masked = text.replace(name, "\0" * len(name)) if name else text
    at = masked.find("\0") if name and name in text else len(masked)
    after = masked[at + len(name):] if at < len(masked) else ""
    own = _own_words(clause, name)

    def said(m: re.Match | None, where: str = text) -> str:  # the words as printed, not as masked
        return where[m.start():m.end()] if m else ""

    future = bool(s["future_only"].search(masked))
    done = None if future else s["completion"].search(masked)
    underway, not_yet = s["underway"].search(masked), _predicate(s["not_yet"], masked)
    if reported:
        if own and (m := s["completion"].search(own)) and not future:
            return COMPLETED, said(m, own)
        if own and (m := s["not_yet"].search(own)):
            return PLANNED, said(m, own)
        if done and not NOT_DONE.search(masked):
            return COMPLETED, said(done)
        pushed = underway or s["review_underway"].search(masked)
        if not_yet and not pushed:
            return PLANNED, said(not_yet)
        if pushed:
            return UNDER_CONSTRUCTION, said(pushed)
        if works := s["works_done"].search(masked):
            return COMPLETED, said(works)
        return UNDER_CONSTRUCTION, ""
    if own and (m := s["not_yet"].search(own) or s["starts"].search(own)):
        return PLANNED, said(m, own)
    if own and (m := s["underway"].search(own) or (not future and s["completion"].search(own))):
        return UNDER_CONSTRUCTION, said(m, own)
    if m := _predicate(s["not_yet"], after) or _predicate(s["starts"], after):
        return PLANNED, said(m, text[at + len(name):])
    if underway and not (not_yet and s["starts"].search(underway.group())):
        return UNDER_CONSTRUCTION, said(underway)
    if not future and (m := s["completion"].search(after)) and not not_yet:
        return UNDER_CONSTRUCTION, said(m, text[at + len(name):])
    return PLANNED, said(not_yet or done)
