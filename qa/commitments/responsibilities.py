"""Responsibilities: who is given which task, in the text's own verb.

Plans assign work in a few phrasings: "由X牵头…", "X负责/承担/统筹…", "配合X做好…",
"落实/压实X主体责任". The lead must be a body that can be given a task (its name ends like
党委, 政府, 部门, 社区 … — qa/data/actor_words.tsv; "由X牵头" names any lead). With a weak
verb (开展, 推进, 组织, 落实) the lead must be a public body, so "鼓励企业开展…" is no assignment;
slogans ("党委领导、政府负责、社会协同") and industry roles are not assignments either.
"""
from __future__ import annotations

import re
from functools import lru_cache

from qa.commitments.lexicon import lexicon, pos_tagger
from qa.commitments.models import Responsibility
from qa.commitments.statements import Statement

STRONG = "牵头承担|牵头|负责(?!人)|承担|统筹|配合"
WEAK = "组织|开展|落实|推进"
CLAUSE = re.compile(r"[^，,；;。：:]+")
DUTY_VERB = re.compile(r"强化落实|落实|压实|履行|夯实")
BODY = re.compile(r"(?:党委|党工委|党组|政府|部门|单位|局|委员会|委|办公室|办|管委会|社区|村委会|居委会|街道|"
                  r"工作组|领导小组|专班)$")
NOT_ACTOR_START = ("推进", "完成", "做好", "建设", "推动", "加快", "实施", "开展", "落实", "确保", "积极", "全力",
                   "配合", "协助", "鼓励", "支持", "引导")


@lru_cache(maxsize=1)
def _patterns() -> dict[str, re.Pattern]:
    words = "|".join(map(re.escape, lexicon().actor_words))
    char = r"(?:(?![和及与、])[\u4e00-\u9fff（）])"
    actor = rf"(?:各|全)?{char}{{0,12}}?(?:{words})"
    named = rf"(?:各|全)?{char}{{1,12}}?(?:{words})"  # a body named by more than its kind ("区民政局")
    actors = rf"{actor}(?:[、和及]{actor})*"
    return {
        "led_by": re.compile(rf"由([\u4e00-\u9fff、和]{{2,14}}?)(统一|按领域)?({STRONG}|{WEAK})"),
        "subject": re.compile(rf"^(?:每年|明确|要求|并|同时|鼓励)?({actors})(每月|每年|定期)?(统一|按领域)?"
                              rf"({STRONG}|{WEAK})(?![、人])"),
        "assists": re.compile(rf"配合({named})(?=[\u4e00-\u9fff]{{2}})"),
        "duty": re.compile(rf"({actors})((?:(?![和及与、的])[\u4e00-\u9fff]){{0,6}}?"
                           rf"(?:主体|属地|监管|管理|服务|保护|领导)责任)(?![体制书])"),
        "urged": re.compile(rf"(?:督促|要求|推动)({actor})[\u4e00-\u9fff]{{0,6}}?(?:落实|履行)((?:主体|属地|监管)责任)"),
        "led_research": re.compile(r"([\u4e00-\u9fffA-Za-z]{2,10})(牵头承担)的([^，。；]{2,60})"),
    }


def _actor_ok(actor: str, verb: str) -> bool:
    if len(actor) < 2 or actor.startswith(NOT_ACTOR_START) or re.search(r"\d", actor):
        return False
    first = pos_tagger().lcut(actor)[:1]
    if "、" in actor and first and first[0].flag == "v":
        return False  # "划实划细村、社区组织网络": a verb phrase, not a list of bodies
    return not re.fullmatch(WEAK, verb.replace("统一", "").replace("按领域", "")) or bool(BODY.search(actor))


def _partners(text: str) -> tuple[list[str], str]:
    """'与A和B联合组建…' → ([A, B], '联合组建…')."""
    m = re.match(r"^与([^，。；]{2,40}?)(联合|共同|合作|协同)(.*)$", text)
    if not m:
        return [], text
    return [p for p in re.split(r"[、和及]", m.group(1)) if p], m.group(2) + m.group(3)


def _assignments(clauses: list[str]) -> list[tuple[str, str, str, list[str], int]]:
    """(lead, verb, task, partners, clause index) for each assignment in a sentence's clauses."""
    p, found = _patterns(), []
    for i, text in enumerate(clauses):
        following = clauses[i + 1] if i + 1 < len(clauses) else ""
        stripped = text.strip()
        if m := p["led_by"].search(stripped):
            verb = (m.group(2) or "") + m.group(3)
            task = stripped[m.end():] or (clauses[i - 1] if i else "")
            if not m.group(3) in WEAK.split("|") or BODY.search(m.group(1)):
                found.append((m.group(1), verb, task, [], i))
                continue
        if m := p["subject"].match(stripped):
            lead, verb = m.group(1), (m.group(3) or "") + m.group(4)
            task, partners = re.sub(r"^\d+(?:次|个|项)?", "", stripped[m.end():]), []
            if not task and following.startswith("与"):
                partners, task = _partners(following)
            if _actor_ok(lead, verb) and len(task) >= 2:
                found.append((lead, verb, task, partners, i))
                continue
        for m in p["assists"].finditer(stripped):
            if _actor_ok(m.group(1), "配合") and len(stripped[m.end():]) >= 2:
                found.append((m.group(1), "配合", stripped[m.end():], [], i))
        if verb := DUTY_VERB.search(stripped):
            for m in p["duty"].finditer(stripped, verb.end()):
                if _actor_ok(m.group(1), "负责"):
                    found.append((m.group(1), "落实" if verb.group() == "强化落实" else verb.group(), m.group(2), [], i))
        for m in p["urged"].finditer(stripped):
            found.append((m.group(1), "落实", m.group(2), [], i))
        for m in p["led_research"].finditer(stripped):
            found.append((m.group(1), m.group(2), m.group(3), [], i))
    return found


def responsibilities(statement: Statement) -> list[Responsibility]:
    sentence = statement.text
    clauses = [c.group() for c in CLAUSE.finditer(sentence)]
    records, seen = [], set()
    for lead, verb, task, partners, i in _assignments(clauses):
        task = task.strip("，,：: ")
        if (lead, verb, task) in seen or len(task) < 2:
            continue
        seen.add((lead, verb, task))
        position = max(sentence.find(lead), 0)
        status = statement.status_at(position)
        records.append(Responsibility(task, statement.source(), status=status,
                                      year=statement.year_at(position, status),
                                      lead=lead, partners=partners, task=task, verb=verb))
    return records
