"""Targets: every indicator-table row, and every figure printed in body text with its name.

A figure's name is the words printed beside it that say what is counted or measured: the
subject before it ("一般公共预算收入70亿元"), or, for a count, the thing counted after it ("新增
4所公办幼儿园"). A change or share printed apart ("同比增长4.2%", "占全区比重达到4%") keeps the
subject named earlier in the sentence and says the change in `measure`. "A、B分别达到x、y" gives
each item its own figure. Status and year come from the sentence's section (qa.commitments.statements).
"""
from __future__ import annotations

import re

from qa.commitments.lexicon import lexicon, pos_tagger
from qa.commitments.models import PLANNED, Source, Target
from qa.commitments.statements import YEAR, Statement
from qa.ingest.tables import find_tables

CLAUSE = re.compile(r"[^，,；;：:]+")
QUOTED = re.compile(r"“[^”]*”|《[^》]*》|\"[^\"]*\"")
NOT_A_FIGURE_AFTER = re.compile(r"^(?:年|月|日(?!间)|号|届|周年|英寸|分钟|小时|级|期|代|类)")
LEAD = re.compile(r"^(?:(?:到|至|在|截至)?\s*(?:19|20)\d{2}年(?:底|末|前|内|全年)?|全年|今年|年内|当年|五年内|"
                  r"[\u4e00-\u9fff]{2,4}(?:区|镇|市|县)(?=实现|完成|达到)|"
                  r"预计|力争|争取|确保|计划|累计|共计?|总计|实现了?|完成了?|其中|并|还|要|将|同时|已|"
                  r"推动|推进|帮助|为|向|对|给|带动|使|让|全力|持续|积极|努力|全镇|全区|全市|全县|在?现有)+")
TRAIL = re.compile(r"(?:分别)?(?:达到|达|为|是|突破|超过|超|不少于|不低于|不超过|不高于|控制在|保持在|稳定在|"
                   r"提高到|提升到|提高至|提升至|增长到|增加到|增长至|增加至|增至|完成|下降到|下降至|降至|降到|减至|减少到|减少至|"
                   r"降低到|降低至|扩大到|扩大至|至|到|约|近|共|累计|投入|实现|在?现有)+$")
FROM_NOW = re.compile(r"由(?:现在|现状|目前|当前|基期)?的?$")
REACHES_SHARE = re.compile(r"^(.+?)(?:达到|达|占)[^，,、]{2,12}的$")
COUNTED_TRAIL = re.compile(r"(?:完成|实现|达到|达|为)$")
RELATIONAL = ("基础", "以上", "以下", "左右", "方面")
QUALIFIER_BEFORE = ("不少于", "不低于", "不超过", "不高于", "超过", "突破", "控制在", "力争", "争取", "确保")
QUALIFIER_AFTER = re.compile(r"^(以上|以内|以下|左右|上下)")
CHANGE = re.compile(r"(?:同比|较上一?年|比上年|较去年|年均|年平均)?(?:增长|下降|提高|降低|增加|减少|增幅|增速)(?:率)?$")
SHARE = re.compile(r"^(?:增加值)?占[^，]*?(?:比重|比例)$")
LIST_SPLIT = re.compile(r"[、和及与]")
PLACE_PREFIX = re.compile(r"^[\u4e00-\u9fff]{1,3}[省市]")
CJK = re.compile(r"[\u4e00-\u9fff]")


# ---------------------------------------------------------------- indicator tables

def table_targets(document, nodes) -> list[Target]:
    """Every indicator-table row, linked to the table_row passage that quotes it."""
    meta = document.metadata
    by_text = {n.get_content(): n for n in nodes if n.metadata.get("type") == "table_row"}
    records = []
    for table in find_tables(document.text):
        for row in table.rows:
            node = by_text.get(row.text)
            if node is None:
                continue
            t = Target(row.indicator, Source(meta["doc"], node.node_id, node.metadata.get("heading", ""),
                                             table.start, table.end, row.text, row.text),
                       status=PLANNED, unit=row.unit, attribute=row.attribute, category=row.category,
                       table=table.title, number=row.number, note=row.note, origin="table")
            for header, value in row.values:
                year = YEAR.search(header)
                if "目标" in header:
                    t.value, t.year = value, year.group(1) if year else ""
                elif "增长" in header or "年均" in header:
                    t.growth = value
                elif year and not t.baseline:
                    t.baseline, t.baseline_year = value, year.group(1)
            t.year = t.year or meta.get("period", "")
            t.value_note = bracket_meaning(t.value, row.note)
            t.qualifier = "/".join(q for q in ("以上", "以内", "不少于", "左右") if q in t.value)
            records.append(t)
    return records


def bracket_meaning(value: str, note: str) -> str:
    """'[40-46]' with note '“[]”为五年累计数' → '五年累计数'."""
    if not value or value[0] not in "[〔﹝(（" or not note:
        return ""
    opener = {"﹝": "〔", "(": "（"}.get(value[0], value[0])
    m = re.search(re.escape(opener) + r"[^为]{0,6}为(五年[^，。、,]*?数|[^，。、,]{1,8}数)", note)
    if m is None and opener == "〔":
        m = re.search(r"﹝[^为]{0,4}为([^，。、,]{1,8}数)", note)
    return m.group(1) if m else ""


# ---------------------------------------------------------------- figures in text

def figures(sentence: str) -> list[re.Match]:
    """The figures of a sentence, leaving out years, dates, ordinals and quoted titles."""
    quoted = [m.span() for m in QUOTED.finditer(sentence)]
    found = []
    for m in lexicon().value_pattern.finditer(sentence):
        after = sentence[m.end():]
        if any(a <= m.start() < b for a, b in quoted) or NOT_A_FIGURE_AFTER.match(after):
            continue
        if m.group(4) == "天" and after[:1] and CJK.match(after[:1]) and not after.startswith(("以", "左")):
            continue  # "2023天…": a year glued to a name, not a number of days
        found.append(m)
    return found


def _clean_before(text: str) -> tuple[str, str]:
    """Subject words before a figure, without framing words, place or example lists; also the
    qualifier they held."""
    text = text.strip("、，,。 ")
    qualifier = "/".join(q for q in QUALIFIER_BEFORE if q in text)
    text = TRAIL.sub("", LEAD.sub("", text)).strip("、，,。 ")
    text = FROM_NOW.sub("", text)  # "覆盖率由现在的65.8%": the figure's subject is the rate
    if (reached := REACHES_SHARE.match(text)) and len(reached.group(1)) >= 2:
        text = reached.group(1)  # "体育人口达到全镇总人口的48%": the share is of the subject
    if "的" in text and len(text.rsplit("的", 1)[1]) >= 3:
        text = text.rsplit("的", 1)[1]
    head, _, tail = text.rpartition("等")
    if len(tail) >= 3 and re.search(r"[、和及]", head):
        text = tail  # "举办甲、乙等群众文化体育活动": the examples are not the name
    if "、" in text:
        text = _from_last_verb(text)
    return text, qualifier


def _from_last_verb(text: str) -> str:
    """'向甲县、乙区投入帮扶资金' → '投入帮扶资金': what was done, without whom or where."""
    words = pos_tagger().lcut(text)
    at = 0
    for i, pair in enumerate(words):
        rest = "".join(w.word for w in words[i:])
        if pair.flag == "v" and i > 0 and len(rest) >= 4 and "、" not in rest:
            at = len(text) - len(rest)
    return text[at:]


def _counted_after(text: str, more: bool) -> str:
    """What a count counts: the words after it to the clause end or, when another figure
    follows, to the last 、 before it; without a hanging verb or an unclosed bracket."""
    text = QUALIFIER_AFTER.sub("", text).rstrip("。；; ")
    if more and "、" in text:
        text = text.rsplit("、", 1)[0]
    elif "、" in text and len(text.split("、", 1)[0]) >= 6:
        text = text.split("、", 1)[0]  # "…维修升级、仁盛里等…": the next item is another thing
    if "（" in text and "）" not in text.split("（", 1)[1]:
        text = text.split("（", 1)[0]
    text = COUNTED_TRAIL.sub("", text.rstrip("等和及与 "))
    return text if CJK.match(text[:1] or " ") or text.startswith("“") else ""


def _names_a_thing(text: str) -> bool:
    """Whether words after a count name what is counted ('公办幼儿园', '控规单元修编工作'),
    not just what the subject before it did ('就业', '基础上')."""
    words = pos_tagger().lcut(text[:8])
    return bool(words) and not text.startswith(RELATIONAL) and \
        not (words[0].flag in ("v", "p", "d", "c", "u") and len(text) <= 4)


def text_targets(statement: Statement) -> list[Target]:
    """The figures of one sentence as targets, each with its name, status and year."""
    sentence, records, last_subject = statement.text, [], ""
    for clause in CLAUSE.finditer(sentence):
        text = clause.group()
        found = figures(text)
        respectively = _respectively(text, found)
        consumed, previous_name = 0, ""
        for i, m in enumerate(found):
            consumed = max(consumed, found[i - 1].end() if i else 0)
            more = i + 1 < len(found)
            after = text[m.end():found[i + 1].start() if more else len(text)]
            subject, qualifier = _clean_before(text[consumed:m.start()])
            counted = _counted_after(after, more)
            measure = ""
            counts = lexicon().units.get(m.group(4)) == "count"
            if i in respectively:
                name, measure = respectively[i]
            elif counts and len(CJK.findall(counted)) >= 2 and (
                    not subject or _names_a_thing(counted) or text[consumed:m.start()].rstrip().endswith("等")):
                name, consumed = counted, m.end() + len(after)
            else:
                name, cut = subject, _measure_start(subject)
                if cut is not None and (cut > 0 or last_subject):
                    name, measure = subject[:cut] or last_subject, subject[cut:]
                if not name and counted:
                    name, consumed = counted, m.end() + len(after)
                name = name or previous_name
            name = name.strip("，,、：:。 ")
            if len(CJK.findall(name)) < 2:
                continue
            if not measure:
                last_subject = name
            previous_name = name
            qualifier = "/".join(x for x in (qualifier, (QUALIFIER_AFTER.match(after) or [""])[0],
                                             m.group(3) or "") if x)
            position = clause.start() + m.start()
            status = statement.status_at(position)
            records.append(Target(name, statement.source(), status=status, value=m.group(),
                                  unit=_unit(m), year=statement.year_at(position, status),
                                  measure=measure, qualifier=qualifier))
    return records


def _unit(m: re.Match) -> str:
    """'2.3万人' → 万人, '3万余项' → 项 (余 stands between)."""
    return m.group(4) if m.group(3) or not m.group(2) else m.group(2) + m.group(4)


def _measure_start(subject: str) -> int | None:
    """Where a change or share printed with the subject begins: '地区生产总值同比增长' → 6;
    a share stands apart only when its subject is left out ('占全区比重')."""
    change = CHANGE.search(subject)
    if change:
        return change.start()
    return 0 if SHARE.match(subject) else None


def _respectively(clause: str, found: list[re.Match]) -> dict[int, tuple[str, str]]:
    """'A、B分别达到x、y' → {index of x: (A, measure), index of y: (B, measure)}."""
    at = clause.find("分别")
    if at < 0:
        return {}
    after = [i for i, m in enumerate(found) if m.start() > at]
    subject, _ = _clean_before(clause[:at])
    measure = ""
    share = re.search(r"(?:增加值)?占.*(?:比重|比例)$", subject)
    if share:
        subject, measure = subject[:share.start()], subject[share.start():]
    items = [x for x in LIST_SPLIT.split(subject) if x]
    if len(items) != len(after) or len(items) < 2:
        return {}
    items[0] = PLACE_PREFIX.sub("", items[0]) if len(PLACE_PREFIX.sub("", items[0])) >= 2 else items[0]
    return {i: (item, measure) for i, item in zip(after, items)}
