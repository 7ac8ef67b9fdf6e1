"""Rule-based extraction of commitments (targets, projects, responsibilities) from passages.

Planning documents state their commitments in a few fixed phrasings: indicator tables, "到2030年，
力争…1-3家…", 专栏 items "1.名称。总投资…", "由镇政府牵头…". Each rule reads one phrasing so it works
on any similar document; every record keeps the node it came from and the span of its sentence.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from qa.ingest.tables import find_tables

YEAR = re.compile(r"(\d{4})年")
NUM = r"\d+(?:\.\d+)?(?:\s*[-—~至]\s*\d+(?:\.\d+)?)?"
UNITS = ("个百分点", "万m³/d", "m³/d", "平方公里", "万平方米", "平方米", "万人次", "人次", "亿元", "万元",
         "万人", "万户", "万亩", "万吨", "公顷", "公里", "千米", "km", "元", "人", "户", "家", "个", "亩",
         "米", "条", "所", "座", "张", "床", "吨", "项", "次", "倍", "栋", "套", "处", "台", "辆", "场",
         "名", "件", "岁", "株", "%", "‰")
VALUE = re.compile(rf"(?<![\d.第])({NUM})(余|多)?({'|'.join(map(re.escape, UNITS))})(?!\d)")
QUALIFIERS = ("力争", "争取", "确保", "不少于", "不低于", "不超过", "超过", "以上", "以内", "以下", "左右")
LEAD_WORDS = re.compile(r"^(?:(?:到|至|在)?\d{4}年(?:底|前|末)?|力争|争取|确保|计划|预计|预期|全年|"
                        r"今年|每年|五年内|累计|同比|要|将|并|共|约|实现了?|其中)+")
TAIL_WORDS = re.compile(r"(?:实现|完成|不少于|不低于|不超过|超过|达到|提高到|提升至|提高至|控制在|保持在|分别为|"
                        r"为|达|至|到|约|超|近|增加|新增|共|累计)+$")
GOAL_MARKS = re.compile(r"(?:到|至)\d{4}年|力争|争取|确保|预期目标|目标是|计划|将")
PAST_HEADING = re.compile(r"执行情况|回顾|发展基础|成就|成效|过去")
RELATIVE_SUBJECTS = {"增长", "同比增长", "增速", "下降", "占比", "比重", "提高", "降低"}
CLAUSE = re.compile(r"[^，,；;：:、。！？\n]+")
SENTENCE = re.compile(r"[^。；！？\n]+[。；！？]?")

INVESTMENT = re.compile(rf"(?:计划|预计)?(总投资|建设投资|投资|投入)(?:约|达|超|为)?({NUM}(?:亿元|万元|元))")
SCALE = re.compile(rf"(总面积|规划面积|占地面积|总占地面积|占地|总建筑面积|建筑面积|总用地|用地|总长|规模|面积)"
                   rf"(?:约|为|达)?({NUM}(?:万平方米|平方米|平方公里|公顷|万亩|亩|公里|km|万m³/d|m³/d))")
PLACE = re.compile(r"位于([^，。；]{2,24})")
STATUS = re.compile(r"(?:预计)?\d{4}年\d{1,2}月(?:底)?完成[^，。；]{0,20}|建成投用|投入运营|投入使用|竣工投产|"
                    r"开工建设|开工|投产|建成|启动前期准备|前期准备|有序推进|加快建设|如期开学投用|开学投用")
PROJECT = re.compile(r"([\u4e00-\u9fffA-Za-z0-9“”（）()·•\-]{2,40}?(?:项目|工程))(?:（([^（）]{1,12})）)?")
PROJECT_LIST = re.compile(r"([^，。；：]{2,80}?)等(?:\d+个|一批)?(?:重点)?(?:项目|工程)")
VERB_PREFIX = re.compile(r"^(?:全力|积极|加快|有序|重点|持续|继续|稳步|优先|主动|着力|大力|深入|扎实|全面|同步|"
                         r"力争|协同|推进|推动|实施|建设|启动|谋划|开展|完成|做好|对接|落实|支持|配合|打造|"
                         r"抓好|组织|开工|新建|以|依托|围绕|聚焦|加强|强化|利用|包括|涉及|加大|建立|健全|完善|解决|优化|发布|"
                         r"保障|形成|精准|谋划|有效|激发|实现|定期|超额|引进|引入|成功|针对|对|在|荣获|高标准|"
                         r"同时|提前|跟进|学习运用|做强|做大|全速|累计|落地|全年|新增|紧盯|探索|及|和|与|等|、)+")
GENERIC_PROJECT = re.compile(r"^(?:[一二三四五六七八九十两百\d]+个?|重点|重大|优质|配套|建设|民生|民心|相关|各类|其他|附属|"
                             r"产业化?|该|本|新|续建|在建|储备|示范|试点|具体|实|大|招商|文旅|区级|镇级|区|镇|市级|"
                             r"生态|书记|主体|小散|项目|工程)*(?:项目|工程)$")
ACTOR = (r"(?:镇|区|市|县|街道?|乡|村|各)?[\u4e00-\u9fff]{0,10}?"
         r"(?:党委|政府|人大|政协|部门|单位|局|委员会|管委会|办公室|工作组|社区|村委会)")
RESP_PATTERNS = (
    ("牵头", re.compile(rf"由({ACTOR}|[\u4e00-\u9fff]{{2,12}}?)(?:统一)?牵头(?:，)?([^。；]*)")),
    ("链主", re.compile(r"以([\u4e00-\u9fffA-Za-z]{2,12})为链主[，,]?([^。；]*)")),
    ("配合", re.compile(r"配合((?:区|市|镇|县)[\u4e00-\u9fff]{0,10}?(?:局|部门|委|政府|区)|静海区|西青区)"
                       r"([^，。；]*)")),
    ("负责", re.compile(rf"({ACTOR})(?:统一)?(负责|承担|牵头|监督|参与|配合|开展|组织|统筹|落实)([^，。；]{{2,60}})")),
)
ROLE_OF_VERB = {"开展": "负责", "组织": "负责", "统筹": "负责", "落实": "负责"}


@dataclass
class Record:
    """One extracted commitment before storage; `fields` holds the kind-specific columns."""

    kind: str
    name: str
    node_id: str
    doc: str
    heading: str
    start: int
    end: int
    passage: str
    value: str = ""
    unit: str = ""
    year: str = ""
    fields: dict = field(default_factory=dict)


def _sentences(text: str):
    for m in SENTENCE.finditer(text):
        if m.group().strip():
            yield m.start(), m.group()


def _year(sentence: str, before: str, heading: str, period: str) -> str:
    """The year a statement is about: in its sentence, else its heading, else the document period."""
    years = YEAR.findall(before) or YEAR.findall(sentence)
    if years:
        return years[-1] if YEAR.findall(before) else years[0]
    years = YEAR.findall(heading)
    return years[0] if years else period


def _stance(sentence: str, heading: str, year: str, doc_year: str) -> str:
    """目标 (a commitment) or 进展 (a reported result): retrospective sections report results."""
    if PAST_HEADING.search(heading):
        return "进展"
    if GOAL_MARKS.search(sentence):
        return "目标"
    if re.search(r"累计完成|已经|预计实现|全年完成", sentence):
        return "进展"
    if year.isdigit() and doc_year.isdigit() and int(year) < int(doc_year):
        return "进展"
    return "目标"


def _qualifier(clause: str, sentence: str) -> str:
    found = [q for q in QUALIFIERS if q in clause]
    found += [q for q in ("力争", "争取", "确保") if q in sentence and q not in found]
    return "/".join(found)


def _subject(pre: str, post: str) -> str:
    pre = TAIL_WORDS.sub("", LEAD_WORDS.sub("", pre.strip()))
    post = re.split(r"[（(]", post.strip(), maxsplit=1)[0]
    post = re.sub(r"^(?:以上|以内|以下|左右)", "", post)[:24]
    return (pre + post).strip("“”\"' ")  if len(pre + post) >= 2 else ""


# ---------------------------------------------------------------- targets

def table_targets(document, nodes) -> list[Record]:
    """Every indicator-table row, linked to the table_row node that quotes it."""
    meta = document.metadata
    by_text = {n.get_content(): n for n in nodes if n.metadata.get("type") == "table_row"}
    records = []
    for table in find_tables(document.text):
        for row in table.rows:
            node = by_text.get(row.text)
            if node is None:
                continue
            f = {"source": "table", "table": table.title, "number": row.number, "indicator": row.indicator,
                 "category": row.category, "attribute": row.attribute, "note": row.note,
                 "base_year": "", "base_value": "", "target_year": "", "target_value": "",
                 "growth": "", "stance": "目标", "qualifier": ""}
            for header, value in row.values:
                year = YEAR.search(header)
                if "目标" in header:
                    f["target_value"], f["target_year"] = value, year.group(1) if year else ""
                elif "增长" in header or "年均" in header:
                    f["growth"] = value
                elif year and not f["base_value"]:
                    f["base_value"], f["base_year"] = value, year.group(1)
            f["value_note"] = _bracket_meaning(f["target_value"], row.note)
            f["qualifier"] = "/".join(q for q in ("以上", "以内", "不少于", "左右") if q in f["target_value"])
            records.append(Record("target", row.indicator, node.node_id, meta["doc"],
                                  node.metadata.get("heading", ""), table.start, table.end, row.text,
                                  value=f["target_value"], unit=row.unit,
                                  year=f["target_year"] or meta.get("period", ""), fields=f))
    return records


def _bracket_meaning(value: str, note: str) -> str:
    """'[40-46]' with note '“[]”为五年累计数' → '五年累计数'."""
    if not value or value[0] not in "[〔﹝(（" or not note:
        return ""
    opener = {"﹝": "〔", "(": "（"}.get(value[0], value[0])
    m = re.search(re.escape(opener) + r"[^为]{0,6}为(五年[^，。、,]*?数|[^，。、,]{1,8}数)", note)
    if m is None and opener == "〔":
        m = re.search(r"﹝[^为]{0,4}为([^，。、,]{1,8}数)", note)
    return m.group(1) if m else ""


def text_targets(node, meta: dict) -> list[Record]:
    """Quantified statements in body text and 专栏 items: subject, value+unit, year, qualifier."""
    text, heading = node.get_content(), node.metadata.get("heading", "")
    doc_year = (meta.get("date") or "")[:4]
    records = []
    for s_off, sentence in _sentences(text):
        last_subject = ""
        for c in CLAUSE.finditer(sentence):
            clause = c.group()
            for m in VALUE.finditer(clause):
                pre, post = clause[:m.start()], clause[m.end():]
                if re.search(r"\d{4}年?$", pre) or post.startswith(("年", "号", "月", "英寸", "届")):
                    continue
                bare = len(LEAD_WORDS.sub("", pre)) < 3 or pre.endswith("等")
                subject = _subject(pre, post if bare or m.group(3) == "%" else "")
                if subject in RELATIVE_SUBJECTS and last_subject:
                    subject = last_subject + subject  # "产值78.46亿元，增长1.5%"
                if len(subject) < 2:
                    continue
                last_subject = subject
                year = _year(sentence, sentence[:c.start() + m.start()], heading, meta.get("period", ""))
                value = m.group(1) + (m.group(2) or "") + m.group(3)
                f = {"source": "text", "subject": subject, "qualifier": _qualifier(clause, sentence),
                     "stance": _stance(sentence, heading, year, doc_year), "clause": clause.strip()}
                start = (node.start_char_idx or 0) + s_off
                records.append(Record("target", subject, node.node_id, meta["doc"], heading, start,
                                      start + len(sentence), text, value=value, unit=m.group(3),
                                      year=year, fields=f))
    return records


# ---------------------------------------------------------------- projects

def _project_facts(context: str) -> dict:
    f = {}
    if m := INVESTMENT.search(context):
        f["investment"] = m.group(2)
        f["investment_kind"] = m.group(1)
    if m := SCALE.search(context):
        f["scale"] = m.group(2)
        f["scale_kind"] = m.group(1)
    if m := PLACE.search(context):
        f["location"] = m.group(1)
    if m := STATUS.search(context):
        f["status"] = m.group()
    return f


def _clean_name(name: str) -> str:
    name = VERB_PREFIX.sub("", name.strip("“”、，。 "))
    if name.count("“") != name.count("”"):
        name = name.replace("“", "").replace("”", "")
    return name.strip("“”、，。 ")


def _namelike(name: str) -> bool:
    """Names do not contain particles or verbs of a whole clause."""
    return not re.search(r"的|负责|需求|激发|形成", name)


def box_projects(node, meta: dict) -> list[Record]:
    """A 专栏 item: "1.名称。…" names one project; otherwise its named projects or its first clause."""
    text, heading = node.get_content(), node.metadata.get("heading", "")
    box = next((h for h in reversed(heading.split(" › ")) if h.startswith("专栏")), "")
    base = {"source": "box", "box": box}
    m = re.match(r"^\d{1,2}[.．、]\s*([^。：:；]{2,40})[。：:]", text)
    start = node.start_char_idx or 0
    if m:
        rec = _project(m.group(1), text, node, meta, start, start + len(text), text)
        rec.fields.update(base)
        return [rec]
    named = text_projects(node, meta, source="box")
    if named:
        for rec in named:
            rec.fields["box"] = box
        return named
    first = _clean_name(re.split(r"[，；。]", text, maxsplit=1)[0])[:40]
    rec = _project(first, text, node, meta, start, start + len(text), text)
    rec.fields.update(base)
    return [rec]


def _project(name: str, context: str, node, meta: dict, start: int, end: int, sentence: str) -> Record:
    f = {"year": _year(sentence, "", node.metadata.get("heading", ""), meta.get("period", ""))}
    f.update(_project_facts(context))
    return Record("project", name, node.node_id, meta["doc"], node.metadata.get("heading", ""),
                  start, end, node.get_content(), value=f.get("investment", ""),
                  year=f["year"], fields=f)


def text_projects(node, meta: dict, source: str = "text") -> list[Record]:
    """Named "XX项目"/"XX工程" and "A、B、C等项目" lists, with facts from the same sentence."""
    text = node.get_content()
    records, seen = [], set()
    sentences = list(_sentences(text))
    for i, (s_off, sentence) in enumerate(sentences):
        context = sentence
        if i + 1 < len(sentences) and re.match(r"^(?:该|本)?项目", sentences[i + 1][1]):
            context += sentences[i + 1][1]
        names = []
        for m in PROJECT_LIST.finditer(sentence):
            items = [_clean_name(x) for x in m.group(1).split("、")]
            names += [x for x in items if 4 <= len(x) <= 30 and _namelike(x)]
        for m in PROJECT.finditer(sentence):
            name = _clean_name(m.group(1))
            if "等" in name or GENERIC_PROJECT.match(name) or len(name) < 5 or not _namelike(name):
                continue
            names.append(name + (f"（{m.group(2)}）" if m.group(2) else ""))
        for name in names:
            if name in seen:
                continue
            seen.add(name)
            start = (node.start_char_idx or 0) + s_off
            rec = _project(name, context, node, meta, start, start + len(sentence), sentence)
            rec.fields["source"] = source
            records.append(rec)
    return records


# ---------------------------------------------------------------- responsibilities

def responsibilities(node, meta: dict) -> list[Record]:
    """"由X牵头…", "X负责/承担…", "配合X…", "以X为链主…": actor, role, task (and partner)."""
    text = node.get_content()
    records, seen = [], set()
    for s_off, sentence in _sentences(text):
        for role, pattern in RESP_PATTERNS:
            for m in pattern.finditer(sentence):
                if role == "负责":
                    actor, verb, task = m.group(1), m.group(2), m.group(3)
                    actor = re.sub(r"^.*?(?:[，、：:]|明确|由|及|和)", "", actor)
                    if verb in ("监督", "参与") and len(task) < 4:
                        continue
                    r, partner = ROLE_OF_VERB.get(verb, verb), ""
                elif role == "配合":
                    actor, r, partner, task = meta.get("place", ""), "配合", m.group(1), m.group(2)
                else:
                    actor, r, task, partner = m.group(1), role, m.group(2), ""
                task = task.strip("，,：: ")
                if len(actor) < 2 or len(task) < 2 or (actor, r, task) in seen:
                    continue
                seen.add((actor, r, task))
                start = (node.start_char_idx or 0) + s_off
                f = {"actor": actor, "role": r, "task": task, "partner": partner, "sentence": sentence.strip()}
                records.append(Record("responsibility", f"{actor}{r}{task}"[:60], node.node_id, meta["doc"],
                                      node.metadata.get("heading", ""), start, start + len(sentence),
                                      text, year=_year(sentence, "", node.metadata.get("heading", ""),
                                                       meta.get("period", "")), fields=f))
    return records


# ---------------------------------------------------------------- all kinds

def extract(document, nodes) -> list[Record]:
    """All records of one document from its nodes (table rows, text, 专栏 items)."""
    meta = dict(document.metadata)
    records = table_targets(document, nodes)
    for node in nodes:
        kind = node.metadata.get("type")
        if kind not in ("text", "box_item"):
            continue
        records += text_targets(node, meta)
        records += box_projects(node, meta) if kind == "box_item" else text_projects(node, meta)
        records += responsibilities(node, meta)
    return records
