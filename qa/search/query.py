"""What a question asks: its place, period and years, the kind of answer, its content terms.

Residents write colloquially ("23年", "十五五期间", "镇上") and some staff write English; the
question is normalised here once, and retrieval and answering both read the result.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

from qa.errors import QAError
from qa.index.index import Index
from qa.index.vocabulary import PERIOD_NAMES
from qa.ingest.catalog import FIVE_YEAR_PLAN_NAMES
from qa.ingest.divisions import Place
from qa.ingest.gazetteer import Mention
from qa.search.lexicon import ENGLISH_WORD, translate
from qa.text import normalise, simplified

# Five-year plans by the name questions use ("十四五"), as the index's tokenizer keeps them whole.
PERIODS = {name: span for name, span in FIVE_YEAR_PLAN_NAMES.items() if name in PERIOD_NAMES}
ENGLISH_PERIODS = {r"15th five[- ]year": "十五五", r"14th five[- ]year": "十四五",
                   r"13th five[- ]year": "十三五"}

GLOSSARY_FILE = Path(__file__).resolve().parents[1] / "data" / "glossary.tsv"


@lru_cache(maxsize=1)
def glossary() -> list[tuple[re.Pattern, str]]:
    """English planning vocabulary → the Chinese words the documents use; longest first so
    "general public budget revenue" wins over "revenue". Terms, never answers."""
    pairs = []
    for line in GLOSSARY_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#") and "\t" in line:
            english, chinese = line.split("\t", 1)
            pairs.append((english.strip().lower(), chinese.strip()))
    pairs.sort(key=lambda p: -len(p[0]))
    return [(re.compile(rf"(?<![a-z]){re.escape(e)}(?:s|es)?(?![a-z])"), c) for e, c in pairs]

KIND_PATTERNS = [
    ("status", re.compile(r"哪一步|进展|进度|建到|建得|完成得|完成情况|怎么样了|做得怎么样", re.I)),
    ("whether", re.compile(r"(吗|是否|有没有|要不要|会不会|能不能)[？?]?$|^(is|are|does|do|will) ", re.I)),
    ("when", re.compile(r"什么时候|何时|哪一?年|哪个月|几月|啥时候|多少年|\bwhen\b|\b(which|what) (year|month|date|day)\b", re.I)),
    ("who", re.compile(r"谁|哪个(部门|单位|村|企业|公司)|哪些(部门|单位)|由哪|牵头|负责|配合|哪个村|链主|\bwho\b|\bwhich compan", re.I)),
    ("where", re.compile(r"哪里|哪儿|在哪|什么地方|位置|\bwhere\b", re.I)),
    ("list", re.compile(r"哪些|哪几|包括|分别|哪三|哪两|哪四|哪五|\bwhich\b", re.I)),
    ("how_much", re.compile(r"多少|(?<!哪)几[个家座条所项亿万%]|几成|百分之几|多大|规模|目标|增长|增速|比重|比例|率|how (many|much)", re.I)),
]

NUMBER_ASKED = re.compile(r"多少|(?<!哪)几[个家座条所项亿万%年成]|百分之几|多大|how (many|much)", re.I)
# An English question asking for a figure in other words: how long/large…, or what a measure is
# ("What forest coverage rate…", "What is the 2030 target for…"), the English side of the
# how_much kind's 目标/率/比重. Not a filter on candidates like NUMBER_ASKED (that lost English
# answers whose closest sentences were judged among fewer); an answer read by meaning that
# states no figure at all is declined instead (qa.answer.answering).
FIGURE_ASKED = re.compile(
    r"\bhow (?:many|much|long|large|big|high|far)\b|\bwhat\b(?:\W+[\w'-]+){0,8}?\W+(?:targets?|rates?|shares?|"
    r"proportions?|percentages?|ratios?|numbers?|amounts?|values?|levels?|revenues?|incomes?|outputs?|"
    r"investments?|gdp|lengths?|areas?|populations?|growth|intensity)\b", re.I)
YEAR = re.compile(r"(?<!\d)(20\d{2}|19\d{2})(?!\d)")
SHORT_YEAR = re.compile(r"(?<![\d十])([12]\d)年")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Words that say how a question is asked rather than what it is about.
QUESTION_WORDS = frozenset(
    "规划 计划 提出 期间 时期 时候 情况 怎么样 怎样 要求 方面 具体 定 定了 打算 准备 搞 做 能 会 "
    "说 讲 提到 里 里面 镇上 镇 区 全镇 全区 哪个 哪 年 实际 做到 要 了 到 达到 多 新 还是 每年 "
    "加起来 个 家 一项 哪一项 属于 属性 归 管".split()
)


@dataclass
class Query:
    text: str
    search_text: str
    # what the retrievers see: the question without its place and period, which scoping
    # handles; otherwise every passage that repeats the town's name and plan would outrank the answer
    retrieval_text: str = ""
    places: list[str] = field(default_factory=list)
    periods: dict[str, str] = field(default_factory=dict)
    years: list[str] = field(default_factory=list)
    kind: str = "what"
    terms: list[str] = field(default_factory=list)
    english: bool = False
    wants_number: bool = False  # "多少/几个/百分之几": only a sentence with a figure answers
    asks_figure: bool = False  # wants_number, or an English question's FIGURE_ASKED wording
    other_places: list[str] = field(default_factory=list)  # places no document is about
    # how each place asked about may be written in evidence (full name, short forms)
    place_forms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    index: Index | None = field(default=None, repr=False, compare=False)  # whose words these are
    glossary: bool = True  # whether English words were looked up in qa/data/glossary.tsv
    lexicon: bool = True  # … and then in the bilingual lexicon (qa.search.lexicon)
    # the lexicon's Chinese words for each English word or phrase (qa.search.lexicon): retrieval
    # reads them and evidence by meaning weighs them; they are not `terms`, since a dictionary's
    # senses are guesses that evidence need not contain
    translations: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    @property
    def expansion(self) -> list[str]:
        """The lexicon's Chinese words, each once."""
        return list(dict.fromkeys(w for _, words in self.translations for w in words))

    @cached_property
    def parts(self) -> list["Query"]:
        """Sub-questions when it asks several things at once ("…多少？…多少？"), each with the
        whole question's scope; worked out when an answer needs them, not for retrieval."""
        pieces = [p for p in PART_SPLIT.split(self.text) if len(re.findall(r"[\u4e00-\u9fff]", p)) >= 4]
        if len(pieces) < 2:
            return []
        parts = []
        for piece in pieces:
            part = _analyse_one(piece, self.index, self.glossary, self.lexicon)
            part.places = part.places or self.places
            part.periods = part.periods or self.periods
            part.years = part.years or self.years
            part.other_places = part.other_places or self.other_places
            part.place_forms = {**self.place_forms, **part.place_forms}
            if part.terms:
                parts.append(part)
        return parts


ENGLISH_STOPWORDS = frozenset(
    "what which when where whose does have with from that this their there they them into about "
    "according during were been will would should could shall much many more most than then town "
    "towns district plan plans planning year years section part main also each every other such "
    "says said make made aims aim want wants need needs like only over under between before after "
    "the and for are was did has had how why who its our can may not but nor per via all any out "
    "one two six ten get got yet own off let due his her him she end set sets say".split())


def _english_to_chinese(text: str, place_words: set[str], use_glossary: bool = True,
                        index: Index | None = None) -> tuple[str, list[tuple[str, tuple[str, ...]]]]:
    """The Chinese words of an English question (its periods, the glossary's terms when on) and
    the words neither knows; and, apart, the lexicon's Chinese words (qa.search.lexicon, when
    `index` is given) for those words."""
    lowered = normalise(text)
    found, translated = [], []
    for pattern, period in ENGLISH_PERIODS.items():
        if re.search(pattern, lowered):
            found.append(period)
            # "15th Five-Year Plan" names the period only: its "five-year plan" is not a term too
            lowered = re.sub(pattern + r"(?: plan)?", " ", lowered)
    for pattern, chinese in (glossary() if use_glossary else ()):
        if pattern.search(lowered):
            found.append(chinese)
            lowered = pattern.sub(" ", lowered)
    found.extend(re.findall(r"[\u4e00-\u9fff]+", text))
    if index is not None:
        acronyms = {w.lower() for w in re.findall(r"\b[A-Z]{2,}\b", text)}  # GDP, CPI

        def content(word: str) -> bool:
            return (len(word) >= 3 or word in acronyms) and word not in ENGLISH_STOPWORDS and word not in place_words

        words = [w for w in ENGLISH_WORD.findall(lowered) if content(w)]
        translated = [(t.english, tuple(t.chinese)) for t in translate(text, words, index, content) if t.chinese]
    # words neither knows stay in the question, so evidence must still cover them
    found.extend(w for w in re.findall(r"[a-z][a-z\-]{3,}", lowered)
                 if w not in ENGLISH_STOPWORDS and w not in place_words)
    # names written with figures (PM2.5, 5G, CO2) are the same in both languages
    found.extend(w for w in re.findall(r"(?<![\w.])(?:[a-z]+\d+(?:\.\d+)?|\d+[a-z]+)(?![\w.])", lowered)
                 if not ORDINAL.fullmatch(w))
    return " ".join(dict.fromkeys(found)), translated


ORDINAL = re.compile(r"\d+(st|nd|rd|th)")
PART_SPLIT = re.compile(r"[？?；;]")


GLOSSARY_SETTINGS = {"on": True, "1": True, "true": True, "yes": True,
                     "off": False, "0": False, "false": False, "no": False}


def uses_glossary(setting: str, index: Index) -> bool:
    """Whether English questions are read through the hand-written glossary (QA_GLOSSARY): "auto"
    keeps it as the fallback of an index whose embedder cannot read English itself."""
    if setting.lower() == "auto":
        return not index.reads_english
    if setting.lower() not in GLOSSARY_SETTINGS:
        raise QAError(f"QA_GLOSSARY 只能是 on、off 或 auto，收到 {setting!r}")
    return GLOSSARY_SETTINGS[setting.lower()]


def analyse(question: str, index: Index, glossary: bool = True, lexicon: bool = True) -> Query:
    """What the question asks about: its place, period, years, kind and content terms, in the
    words of `index` (its tokenizer). English words are looked up in the glossary unless
    `glossary` is False, then in the bilingual lexicon unless `lexicon` is False (the
    multilingual model's vectors still read the English question)."""
    return _analyse_one(question, index, glossary, lexicon)


def _analyse_one(question: str, index: Index, use_glossary: bool = True, use_lexicon: bool = True) -> Query:
    text = simplified(CONTROL.sub("", question).strip())  # "學嗎" asks what "学吗" asks
    norm = normalise(text)
    latin = sum(c.isascii() and c.isalpha() for c in text)
    cjk = sum("\u4e00" <= c <= "\u9fff" for c in text)
    english = latin > 3 * max(cjk, 1)
    scope = PlaceScope.of(index.gazetteer.find(norm), index)
    # the lexicon stands in for the glossary when that is off (beside it, it measured no better:
    # eval/ENGLISH.md)
    lexicon_index = index if use_lexicon and not use_glossary else None
    search, translations = (_english_to_chinese(text, scope.ascii_words, use_glossary, lexicon_index)
                            if english else (text, []))
    search = search or text
    # "23年" → "2023年": residents shorten years
    search = SHORT_YEAR.sub(lambda m: f"20{m.group(1)}年", search)
    periods = {name: span for name, span in PERIODS.items() if name in search}
    # an English question's years are not searched for (its other words reach passages only
    # through the lexicon, so a year would outweigh them) but scope the answer as 年 does
    years = list(dict.fromkeys(YEAR.findall(search) + (YEAR.findall(text) if english else [])))
    kind = "what"
    for name, pattern in KIND_PATTERNS:
        if pattern.search(text):
            kind = name
            break
    scoping = sorted(set(scope.spoken) | set(periods), key=len, reverse=True)
    retrieval_text = search
    for word in scoping:
        retrieval_text = retrieval_text.replace(word, " ")
    retrieval_text = retrieval_text.strip() or search
    # pieces of the scoping words ("十五五" also yields "十五", "五五") say nothing more
    scope_words = set(scoping) | {t for word in scoping for t in index.tokenize(word)}
    # the retrievers segment the same text, so the question is segmented once
    terms = [t for t in index.tokenize(retrieval_text)
             if t not in QUESTION_WORDS and t not in scope_words and not YEAR.fullmatch(t)
             and not re.fullmatch(r"\d{1,2}|[a-z]", t)]  # "1", "x": too common to mean anything
    expansion = list(dict.fromkeys(w for _, words in translations for w in words))
    if expansion:
        retrieval_text = f"{retrieval_text} {' '.join(expansion)}"
    wants_number = bool(NUMBER_ASKED.search(text))
    return Query(text=text, search_text=search, retrieval_text=retrieval_text,
                 places=scope.places, periods=periods, years=years,
                 kind=kind, terms=list(dict.fromkeys(terms)), english=english,
                 wants_number=wants_number, other_places=scope.other_places,
                 asks_figure=wants_number or bool(english and FIGURE_ASKED.search(text)),
                 place_forms=scope.forms, index=index, glossary=use_glossary, lexicon=use_lexicon,
                 translations=translations)


# Levels at which a place named beside the asked one is part of the same scope ("…区…镇") and
# so is not searched for; a province or city name ("上海港") may be part of a project's name.
LOCAL_LEVELS = ("区", "县", "旗", "镇", "乡", "街道")
VILLAGE_DEPTH = 5  # province, city, county, town, village


@dataclass
class PlaceScope:
    """The places a question names, sorted by what the corpus holds: `places` that documents are
    about, `other_places` no document is about (evidence must name them), and `spoken`, the words
    naming the asked place or a county or town around it, which retrieval leaves out."""

    places: list[str] = field(default_factory=list)
    other_places: list[str] = field(default_factory=list)
    forms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    spoken: list[str] = field(default_factory=list)
    ascii_words: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, mentions: list[Mention], index: Index) -> "PlaceScope":
        gazetteer = index.gazetteer
        owned = list(gazetteer.document_places.values())
        scope, others, around = cls(), [], []
        for mention in mentions:
            if mention.text.isascii():
                scope.ascii_words.add(mention.text)
            own = next((p for p in mention.places if p.name in gazetteer.document_places), None)
            if own is not None:
                scope.spoken.append(mention.text)
                if own.name not in scope.places:
                    scope.places.append(own.name)
                    scope.forms[own.name] = tuple(f for f in gazetteer.forms_of(own.name)
                                                  if not f.isascii() and f != own.name)
            elif any(d.within(p) for p in mention.places for d in owned):
                around.append(mention)
            else:
                others.append(mention)
        # "…区" around the asked "…镇" only places it; around no asked place ("固始站" where a
        # document is about a town of 固始县) it is part of what the question is about
        asked_places = [gazetteer.document_places[p] for p in scope.places]
        for mention in around:
            if any(p.level in LOCAL_LEVELS and any(d.within(p) for d in asked_places) for p in mention.places):
                scope.spoken.append(mention.text)
        # A broader place beside the asked one ("…镇从北京、河北引进的项目") says where something
        # comes from, not which documents answer; a place no broader must be named by the evidence.
        asked = max((_depth(gazetteer.document_places[p]) for p in scope.places), default=0)
        for mention in others:
            place = mention.places[0]
            if _depth(place) >= asked and place.name not in scope.other_places:
                scope.other_places.append(place.name)
                scope.forms[place.name] = tuple(dict.fromkeys((place.name, mention.text)))
        return scope


def _depth(place: Place) -> int:
    """How far down the divisions a place sits (a village found by its name alone is at the bottom)."""
    return VILLAGE_DEPTH if len(place.path) == 1 and place.level in ("村", "社区") else len(place.path)
