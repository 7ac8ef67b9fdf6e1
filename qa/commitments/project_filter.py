"""Which candidate phrases are projects (qa.commitments.projects finds the candidates).

A project is named by something of its own — an ordinal or number, a place, firm or brand, a
word the general dictionary does not know — not only by planning words (qa/data/
generic_words.tsv): "某站综合片区", "第八幼儿园" are projects, "交通畅通项目", "农村饮水提质增效
工程" a heading and a programme. Things a clause leans on (依托, 借助, 用好) are not projects.
"""
from __future__ import annotations

import re
from functools import lru_cache

from qa.commitments.lexicon import DATA, lexicon, pos_tagger
from qa.commitments.projects import ACTION, COUNT_FIGURE, Candidate, facility

NOT_A_NAME = re.compile(r"的|负责|需求|形成|体系|机制|政策|活动|行动|计划|方案|品牌|模式|包括|主要|标准|能力|水平|类$|类项目|"
                        r"之城|明珠|活力新城|示范区$|试点项目$|村$|^(?!.*(?:片|园|景|街|城|小|社|商)区$)[\u4e00-\u9fff]{2,3}(?:镇|乡|区|县|市)$|"
                        r"^[东西南北]至|\d{4}年|\d+月|^(?:本|该|此)?项目|"
                        r"^(?:各类|一批|相关|新一轮|重点|全区|全镇|全市|区域|城乡|农村|乡村|街镇)|一批|[与和及或]$|"
                        r"提标|扩面|提质|增效|提档|"
                        r"企业|渠道$|覆盖|^[一二三四五六七八九十\d]+期(?:工程|项目)?$|[^（(]至|\d+(?:\.\d+)?(?:万|亿)?元")
# a phrase that governs or promotes something ("在某园区新建…", "吸引社会资本参与…") is a clause, not a name
GOVERNS = re.compile(r"^(?:在|针对|加强|成为|吸引|紧紧|推广|进|完善|加大|赴)|推进|推动|推广|参与|抓住|融合|打造|开展|.等")
# what a clause does to a place that is not building it: titles, checks, reuse, zoning
STARTS_WITH_FIGURE = re.compile(r"^\d+(?:\.\d+)?(?:万|亿)?(?:亩|平方米|平方公里|公顷|公里|米|个|处)")
NOT_BUILDING = re.compile(r"为(?:发展)?定位|定位为|创建|申报|验收|复测|复核|入选|获评|荣获|盘活|控规|包括|涉及|建设内容")
LEANS_ON = re.compile(r"(?:依托|借助|用好|利用|发挥|围绕|立足|联动|学习|位于|竞拍|"
                      r"以(?=[^，。；、]{1,20}为(?:依托|基础|龙头|核心|支撑|载体|牵引|引领|抓手|主线|中心|定位|目标|方向)))[^，。；]*$")
BUILDS = re.compile(r"建设|新建|兴建|打造|建成")
AGGREGATE = re.compile(r"^\d+(?:余|多)?(?:个|家|项)")  # "北京项目100个": a count of projects
LEANING = re.compile(r"^(?:依托|借助|用好|利用|发挥|围绕|立足|联动|学习)")
PARTNER = re.compile(r"(?:^|[，,])与[^，,。；]*$")  # "与某学院等科研资源建设…": a partner, not a project
LIAISES = re.compile(r"对接[^，。；]*$")  # "对接某创新中心" works with what exists; "对接某小学项目" is a project
PROPER_POS = frozenset({"ns", "nz", "nt", "eng"})
PERSON_POS = frozenset({"nr", "nrt", "nrfg"})  # jieba puts these on short names and on some common words
FUNCTION_POS = frozenset({"p", "c", "u", "uj", "ul", "d", "f", "r", "q", "m", "x"})
NEEDS_FACILITY = ("item", "verb", "plots")
ACTS = re.compile(rf"{ACTION.pattern}|拆迁|迁址|替代|升级")
PLOT = re.compile(r"(?:地块|片区)$")  # a listed plot is named by where it is, not by a proper noun


@lru_cache(maxsize=1)
def generic_words() -> frozenset[str]:
    lines = (DATA / "generic_words.tsv").read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


PLACE_NAMED = re.compile(r"(?:^|[、和])([\u4e00-\u9fff]{2,3})(?:镇|乡|街|村|庄|路|道|大道|里|堤)(?![\u4e00-\u9fff]{0,1}$)|"
                         r"^([\u4e00-\u9fff]{2,3})(?:镇|乡|街|村|庄|路|道|大道|里|园)$|^[一二三四五六七八九十]街")


@lru_cache(maxsize=8192)
def specific(name: str) -> bool:
    """Whether a name has something of its own in it (see the module docstring): an ordinal or
    number, a place-like head ("某某道", "某某镇…"), a proper noun or a word the dictionary
    does not know — planning words (qa/data/generic_words.tsv) and kinds of facility never count."""
    core = re.sub(r"“[^”]*”", "", name)  # a quoted slogan names a programme, not a project
    if re.search(r"第[一二三四五六七八九十百\d]+|\d|[一二三四五六七八九十](?:期|线)", core):
        return True
    generic = generic_words() | set(lexicon().facility_words)
    for m in PLACE_NAMED.finditer(core):
        heads = [h for h in m.groups() if h]
        if not heads or any(not any(g in h for g in generic if len(g) >= 2) for h in heads):
            return True
    tagger = pos_tagger()
    singles, run = 0, ""
    for pair in tagger.lcut(core):
        word = pair.word
        if len(word) == 1 and re.match(r"[\u4e00-\u9fff]", word) and pair.flag not in FUNCTION_POS:
            run = (run if singles else "") + word
            singles += 1
            if singles >= 2 and not tagger.tokenizer.FREQ.get(run) and run not in generic:
                return True  # characters the dictionary could not join: a name it does not know
            continue
        singles = 0
        if len(word) < 2 or word in generic or not re.match(r"[\u4e00-\u9fff]", word):
            continue
        if pair.flag in PROPER_POS or (pair.flag in PERSON_POS and len(word) <= 3) \
                or not tagger.tokenizer.FREQ.get(word):
            return True
    return False


def named_like(name: str) -> bool:
    """A list item that may name a project beside named ones ("鹏瑞利酒店群、康复医院等项目"): not
    works ("拆迁改造", "住宅开发") and not only words of planning language ("道路基础设施")."""
    if ACTS.search(name):
        return False
    generic = generic_words() | set(lexicon().facility_words)
    words = [p.word for p in pos_tagger().lcut(name) if len(p.word) >= 2]
    return any(w not in generic for w in words)


BODY_ACTS = re.compile(rf"(?:党委|党工委|政府|部门|局|委员会|办公室|管委会|村委会|居委会)(?:{ACTION.pattern})(?!项目|工程)")


def body_acts(name: str) -> bool:
    """"区民政局建设某综合体": a public body doing something, a clause rather than a name."""
    return bool(BODY_ACTS.search(name))


def leans_on(before: str) -> bool:
    """Whether the clause before a name leans on it ("依托某园区，…"), unless it builds something
    after the leaning words ("依托某闲置场区建设某陆港": the built thing is a project)."""
    m = LEANS_ON.search(before)
    return bool(m) and (m.group().startswith("以") or not BUILDS.search(m.group()[2:]))


def accept(c: Candidate) -> bool:
    at = c.clause.find(c.name)
    before, after = (c.clause[:at], c.clause[at + len(c.name):]) if at >= 0 else ("", "")
    bare = re.sub(r"“[^”]*”", "", c.name)
    first = pos_tagger().lcut(bare)[:1]
    if GOVERNS.search(bare) or (first and first[0].flag in ("p", "k", "u", "c")) or body_acts(bare):
        return False
    liaised = bool(LIAISES.search(before)) and not re.search(r"(?:项目|工程)$", c.name)
    if (NOT_A_NAME.search(bare) or COUNT_FIGURE.search(c.name) or LEANING.match(c.name) or leans_on(before)
            or PARTNER.search(before) or liaised or AGGREGATE.match(after) or STARTS_WITH_FIGURE.match(c.name)
            or (c.pattern != "item" and NOT_BUILDING.search(c.clause))
            or (c.pattern in NEEDS_FACILITY and not facility(c.name))):
        return False
    return (specific(c.name) or (c.pattern == "plots" and bool(PLOT.search(c.name)))
            or (any(specific(s) for s in c.siblings) and named_like(c.name)))
