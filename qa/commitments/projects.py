"""Projects: 专栏 items, named "…项目/…工程", and named facilities beside a construction verb.

Reading is two steps. `candidates` finds every phrase that could name a project: a numbered
专栏 item, a name ending in 项目/工程, the items listed before 等 and a category of built things,
a list of plots, a facility before or after a construction verb. `accept` (qa.commitments.
project_filter) then keeps the ones that are projects: a specific name — a place, firm,
brand or ordinal in it, not only planning words ("交通畅通项目" is a heading, "某站综合片区" a
project) — that the text does something to. Investment, location, scale and timing are read
from the item or sentence; the stage of construction from the verbs of the name's clause.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from qa.commitments.lexicon import NUMBER, ends_with_any, lexicon
from qa.commitments.models import PLANNED, REPORTED, UNDER_CONSTRUCTION, Investment, Project
from qa.commitments.stages import following, signals, stage
from qa.commitments.statements import Statement

MONEY = rf"{NUMBER}(?:万|亿|千)?(?:余|多)?(?:亿元|万元|元)"
AREA = rf"{NUMBER}(?:万|亿)?(?:余|多)?(?:平方公里|平方米|㎡|公顷|亩|公里|千米|km|米|m³/d|吨/日|兆瓦|千瓦)"
INVESTMENT = re.compile(rf"(?:计划|预计|拟)?(总投资|投资额|计划投资|投资)(?:约|达|超过?|为|近)?({MONEY})")
INVESTMENT_ITEM = re.compile(rf"其中[，,]?([\u4e00-\u9fff]{{1,8}}?(?:投资|资金))(?:约|为|达)?({MONEY})")
YEAR_INVESTMENT = re.compile(rf"((?:19|20)\d{{2}}年(?:计划|预计)?(?:完成)?投资)(?:约|为|达)?({MONEY})")
SCALE = re.compile(rf"(总面积|规划面积|占地面积|总占地面积|总用地面积|用地面积|拟策划用地|总用地|用地|占地|总建筑面积|"
                   rf"建筑面积|总长|全长|长度|规模|面积为?)(?:约|为|达|约为)?({AREA})")
LOCATION = re.compile(r"位于([^，。；,;]{2,30})|(?:四至范围为|范围为?|范围)((?:[东西南北]至[^、，。；,]+、?){2,4})")
TIMING = re.compile(r"((?:19|20)\d{2})年(?:\d{1,2}月)?(?:底|前|末)?(?:建成|完成|竣工|投用|投入使用|开学|完工|投产)")
START = re.compile(r"((?:19|20)\d{2})年(?:\d{1,2}月)?(?:底|前|末)?(?:开工|启动)")
BOX_ITEM = re.compile(r"^\s*\d{1,2}\s*[.．、]?\s*([^。：:；;，,]{2,60}?)[。：:]")
NUMBERING = re.compile(r"^\s*\d{1,2}\s*[.．、]\s*")
NAMED = re.compile(r"[\u4e00-\u9fffA-Za-z0-9“”（）()·•\-]{2,50}?(?:工程项目|项目|工程)(?:[（(][^（）()]{1,12}[）)])?")
QUOTED = re.compile(r"“[^”]*”")
PROJECT_LIST = re.compile(r"(?:\d+(?:余|多)?个|一批|[一二三四五六七八九十两]+个)?[\u4e00-\u9fff]{0,8}?(?:项目|工程)")  # "等9个市、区重点项目"
COUNT_FIGURE = re.compile(r"\d+(?:余|多)?(?:个|家|所|座|条|处|项|栋|套|宗|块|片|批|户)")
ACTION = re.compile(r"新建|新增|建设|建成|改造|改扩建|扩建|整修|维修|重修|修缮|开工|竣工|投用|投入运营|运营|开业|纳客|通车|开通|贯通|完工|"
                    r"落地|落户|签约|开园|开诊|开放|通水|交付|治理|拓宽|修复|实施|推进|推动|启动|谋划|打造|开发|"
                    r"引进|完成|投产|招商|前期|跟进|对接|提速")
JOINS = re.compile(r"参与|助力|支持")  # "吸引社会资本参与某某道路建设": the name follows
LEAD_WORDS = re.compile(r"^(?:全力|积极|加快|有序|重点|持续|继续|稳步|优先|主动|着力|大力|深入|扎实|全面|同步|全速|高标准|"
                        r"力争|协同|推进|推动|实施|建设|启动|谋划|开展|完成|做好|对接|落实|支持|配合|打造|抓好|组织|"
                        r"开工|新建|新增|改造|提升|跟进|紧盯|引进|引入|促进|加速|争取|确保|提前|实现|抓实|服务|涉及|"
                        r"如期|顺利|尽快|加强对|对|拓宽|建成|我们|同时|靶向|努力|为|治理|竞拍|位于|以|[一二三四]是|未来将?随?|深度融入|融入|"
                        r"及|和|与|等|、|“(?=[^”]*$))+")
TAIL_WORDS = re.compile(r"(?:等|如期|顺利|正式|提速|运行|尽快|加快|有序|稳步|全面|即将|已|正在|加紧|基本|并|初具规模|建设进度|进度|完成|贯通|开通|"
                        r"建设|建成|投用|投入运营|运营|开业|纳客|通车|竣工|投产|开工|完工|开诊|开放|交付|落地|落户|签约|"
                        r"规划|改造|升级改造|提升改造|提升|整修|维修|重修|治理|实施|推进|工作|前期方案|项目招商|招商|"
                        r"加速|方案)+$")
WORKS_SUFFIX = re.compile(r"(?:[一二三四五六七八九十]|\d+)期$|首开区$|(?:新址)?(?:改扩建|扩建)$|(?:升级|提升)?改造$|"
                          r"整修$|维修$|建设$|[（(][^（）()]{1,8}[）)]$")
SIGNALS = signals()
COMPLETION, UNDERWAY, NOT_YET, FUTURE_ONLY = (SIGNALS[k] for k in ("completion", "underway", "not_yet", "future_only"))


@dataclass
class Candidate:
    """A phrase that may name a project, with where and how it was found."""

    name: str
    pattern: str  # "item" | "named" | "listed" | "plots" | "verb"
    clause: str
    statement: Statement
    facts_text: str
    box: str = ""
    siblings: tuple[str, ...] = ()  # the other names of a list that the text calls projects ("甲、乙等项目")


def clean(name: str) -> str:
    """A name without the verbs and adverbs around it, list marks and an item's number."""
    name = NUMBERING.sub("", name.strip("“”、，,。 "))
    if m := COUNT_FIGURE.search(name):
        name = name[:m.start()]  # "某某道4条道路" → 某某道
    if "的" in name:
        name = name.split("的", 1)[0]  # "北五里砖厂的生态修复"
    for _ in range(3):
        name = TAIL_WORDS.sub("", LEAD_WORDS.sub("", name)).strip("、，,。 ")
    kind = ends_with_any(name, lexicon().facility_words)
    if len(kind) >= 2 and len(name) - name.find(kind) - len(kind) >= len(kind) + 4:
        name = name[name.find(kind) + len(kind):]  # "三级综合医院某某医院": the name, not the description
    if name.count("“") != name.count("”"):
        name = name.replace("“", "").replace("”", "")
    return name.strip("、，,。 ")


def facility(name: str) -> bool:
    """Ends like something built: a road, school, park, plot, …项目/工程 (qa/data/facility_words.tsv),
    allowing a phase or works word after it ("…一期", "…改扩建")."""
    base = WORKS_SUFFIX.sub("", name) or name
    return bool(ends_with_any(base, lexicon().facility_words) or ends_with_any(name, lexicon().facility_words))


def names_built_things(category: str) -> bool:
    """Whether a category after 等 ("9个市、区重点项目", "一批口袋公园、街景绿地") is built things."""
    category = re.sub(r"^(?:\d+(?:余|多)?[个所座条处家项]|一批|[一二三四五六七八九十两]+个)", "", category)
    return any(w in category for w in lexicon().facility_words if len(w) >= 2) and "周边" not in category[:8]


def works_on(category: str) -> bool:
    """Whether what a list's category is said to undergo is works: "等不可移动文物的修缮" is,
    "等不可移动文物的常态化管理" is not; a category without "的…" is judged by its clause."""
    m = re.match(r"[^的，,。；;]{1,16}的([^，,。；;]+)", category)
    return not m or bool(ACTION.search(m.group(1)))


def items_of(text: str, split_and: bool = True) -> list[str]:
    """List items split at 、 (and at 和/及 after a complete facility name); the line numbers
    of "7、8、11号线" stay together."""
    items, start = [], 0
    for m in re.finditer(r"、|和|及", text):
        digits = text[m.start() - 1:m.start()].isdigit() and text[m.end():m.end() + 1].isdigit()
        listing = "、" in text[:m.start()]  # "甲、乙及丙": the last item of a list
        if digits or (m.group() != "、" and (not split_and or not (listing or facility(clean(text[start:m.start()]))))):
            continue
        items.append(text[start:m.start()])
        start = m.end()
    items.append(text[start:])
    return items


def candidates(statement: Statement, box: str = "") -> list[Candidate]:
    """Every phrase of a sentence that may name a project (see the module docstring)."""
    sentence, found = statement.text, []

    def add(name: str, pattern: str, clause: str, siblings: tuple[str, ...] = ()) -> None:
        name = clean(name)
        if 2 <= len(name) <= 50 and name in sentence:
            at = sentence.find(name)
            found.append(Candidate(name, pattern, clause, statement, sentence[at:], box,
                                   tuple(s for s in siblings if s != name)))

    listing = box or re.search(r"[：:]", sentence)
    for clause in re.split(r"[，,：:；;。]", sentence) if listing else []:
        items = [clean(i) for i in items_of(clause, split_and=False)]
        if len(items) >= 3 and sum(facility(i) for i in items) >= 0.8 * len(items):
            intro = sentence[:sentence.find(clause)] or clause  # "计划开发的地块…分别是": what is done to them
            for item in items:
                add(item, "plots", intro)
    acting = bool(ACTION.search(sentence))
    for clause in re.findall(r"[^，,；;。：:]+", sentence):
        bare = QUOTED.sub(lambda m: "\0" * len(m.group()), clause)  # quoted slogans name no project
        for m in NAMED.finditer(bare):
            for item in items_of(m.group()):
                if acting and "等" not in item and "\0" not in item:
                    for name in _names_in(item):
                        add(name, "named", clause)
        if not ACTION.search(clause):
            continue
        parts = re.split(r"(?<=等)", bare)
        for i, part in enumerate(parts):
            after = "".join(parts[i + 1:])
            head, listed, projects = part, False, False
            if part.endswith("等"):
                head, listed = part[:-1], names_built_things(after[:20]) and works_on(after)
                projects = bool(PROJECT_LIST.match(after))
                if head.endswith("周边"):
                    continue
            elif i > 0 and parts[i - 1].endswith("等"):
                continue  # the category after 等 ("等重点文旅项目") is not a name
            if (m := COUNT_FIGURE.search(head)) and names_built_things(head[m.end():][:12]):
                head, listed = head[:m.start()], True  # "东边庄、徐庄子2个村庄拆迁"
            items = [i for i in items_of(head) if "\0" not in i]
            listed = listed or (len(items) >= 2 and sum(facility(clean(i)) for i in items) * 2 >= len(items))
            siblings = tuple(clean(i) for i in items) if projects and len(items) >= 2 else ()
            for item in items:
                for name in _names_in(item):
                    if listed or facility(clean(name)):
                        add(name, "listed" if listed else "verb", clause, siblings)
    return found


def _names_in(item: str) -> list[str]:
    """The item, and what follows its last construction verb ("举全区之力规划建设某某园")."""
    cut = [m.end() for m in re.finditer(f"{ACTION.pattern}|{JOINS.pattern}", item) if m.end() < len(item) - 1]
    return [item[cut[-1]:], item] if cut else [item]


def facts(text: str) -> dict:
    """Investment (total, items, by year), scale, location and timing printed in `text`."""
    found: dict = {}
    if m := INVESTMENT.search(text):
        found["investment"] = m.group(2)
    items = [Investment(m.group(1), m.group(2)) for m in INVESTMENT_ITEM.finditer(text)]
    items += [Investment(m.group(1), m.group(2)) for m in YEAR_INVESTMENT.finditer(text)]
    if items:
        found["investment_items"] = items
    if m := SCALE.search(text):
        found["scale"] = m.group(2)
    if m := LOCATION.search(text):
        found["location"] = (m.group(1) or m.group(2)).rstrip("、")
    if m := TIMING.search(text):
        found["completion_year"] = m.group(1)
    if m := START.search(text):
        found["start_year"] = m.group(1)
    return found


def to_project(c: Candidate) -> Project:
    statement = c.statement
    reported = statement.status_at(max(statement.text.find(c.clause), 0)) != PLANNED
    clause = c.clause
    if c.pattern == "plots" and c.name not in clause:  # what is done to the plots, then the plot's own clause
        clause += "，" + next((p for p in re.split(r"[，,：:；;。]", statement.text) if c.name in p), "")
    status, progress = stage(clause, reported, c.name, following(statement.text, clause))
    progress = progress or _said(ACTION.search(clause.replace(c.name, "\0" * len(c.name))), clause)
    progress = progress if progress in statement.text else ""  # never words joined across clauses
    project = Project(c.name, statement.source(), status=status, progress=progress, box=c.box,
                      origin="box" if c.box else "text", **facts(c.facts_text))
    project.value = project.investment
    if status == UNDER_CONSTRUCTION and not project.completion_year and not reported \
            and COMPLETION.search(c.clause) and not FUTURE_ONLY.search(c.clause) and statement.section.year:
        project.completion_year = statement.section.year
    at = max(statement.text.find(c.name), 0)  # the year printed before the name, else the section's
    project.year = project.completion_year or statement.year_at(at, REPORTED if reported else PLANNED)
    return project


def _said(m: re.Match | None, text: str) -> str:
    return text[m.start():m.end()] if m else ""


def item_candidate(statements: list[Statement], box: str) -> Candidate | None:
    """A numbered item "1.名称。总投资…": the name, with the whole item as its sentence."""
    if not statements or not (m := BOX_ITEM.match(statements[0].text)):
        return None
    first, last = statements[0], statements[-1]
    begin = first.passage.find(first.text)
    end = first.passage.find(last.text, max(begin, 0))
    whole = (first.passage[begin:end + len(last.text)] if begin >= 0 and end >= 0
             else "".join(s.text for s in statements))
    span = Statement(whole, first.start, first.heading, first.node_id, first.doc, first.passage,
                     first.section, first.period)
    return Candidate(clean(m.group(1)), "item", whole, span, whole, box)


def unique(projects: list[Project]) -> list[Project]:
    """One record per name in a passage's item (a name found by two patterns is one project); a
    name that only adds words to another of the same sentence ("举全区之力规划建设某某园"), or
    only begins it ("某商务区" of "某商务区及资金平衡地块"), is dropped."""
    kept: list[Project] = []
    for p in projects:
        if any(p.name == k.name or p.source.sentence in k.source.sentence and
               (p.name.startswith(k.name) or p.name.endswith(k.name) or k.name.startswith(p.name))
               for k in kept):
            continue
        kept.append(p)
    return kept
