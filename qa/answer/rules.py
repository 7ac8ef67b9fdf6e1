"""The hand-set evidence rules of the default answer scorer: how much of the question a sentence
covers, whether it carries the sort of fact asked for, and whether it speaks of the asked year. The
learned scorer (features.py) reads the same signals as features."""
from __future__ import annotations

import re
from functools import lru_cache

import cn2an

from qa.commitments.lexicon import lexicon
from qa.search.query import PERIODS, YEAR, Query
from qa.text import normalise

NUMBER = re.compile(r"\d")
# A run of Chinese numeral characters ("两", "三十五", "一九五三"); it is a figure when cn2an reads
# it as a number and a unit or measure word follows it ("两个部份", "一九五三年", "百分之五").
CN_NUMERAL = re.compile(r"[零〇一二两三四五六七八九十百千万亿]+")
TIME_UNITS = ("年", "月", "日", "号", "岁", "周", "小时", "分钟", "秒", "世纪", "届", "代", "成", "层", "位", "支")
DATE_WORDS = re.compile(r"\d{4}年|\d+月|年底|年初|上半年|下半年|中期|期间|以前|之前|完成")
ACTOR_WORDS = re.compile(r"镇政府|镇党委|人民政府|部门|局|委员会|委|办|公司|集团|村|街|牵头|负责|配合|承担|链主|会议")
LOCATION_WORDS = re.compile(r"位于|坐落|交口|路口|[东西南北]至|以[东西南北]|[路道街]与|片区|地块")
PROGRESS_WORDS = re.compile(r"完成|建成|开工|竣工|投用|投入使用|推进|启动|开业|运营|落地|实现")
LIST_MARKS = re.compile(r"[、，]")
# Quantities a how-much question may name; the answering sentence must name it too.
MEASURES = ("投资", "产值", "收入", "面积", "占地", "人口", "总额", "规模", "增速", "增长率",
            "覆盖率", "城镇化率", "营业额", "销售额", "利润", "税收", "就业", "浓度", "人数",
            "密度", "里程", "床位")


@lru_cache(maxsize=1)
def _figure_units() -> re.Pattern:
    units = sorted(set(lexicon().units) | set(TIME_UNITS), key=len, reverse=True)
    return re.compile("(?:余|多)?(?:" + "|".join(re.escape(u) for u in units) + ")")


def chinese_figures(text: str) -> list[float]:
    """Values of the figures a text writes in Chinese numerals ("两个部份" → [2.0], "百分之五" → [5.0])."""
    units = _figure_units()
    out = []
    for match in CN_NUMERAL.finditer(text):
        run = match.group()
        percent = text[max(0, match.start() - 3):match.start()] == "百分之"
        if not percent and not units.match(text, match.end()):
            continue
        if len(run) > 1 and all(c in "零〇一二三四五六七八九" for c in run):
            value = cn2an.cn2an(run, "direct") if len(run) == 4 else None  # a year: 一九五三
        else:
            try:
                value = cn2an.cn2an(run, "normal")
            except (ValueError, KeyError):
                value = None
        if value is not None:
            out.append(float(value))
    return out


@lru_cache(maxsize=16384)
def has_figure(text: str) -> bool:
    """Whether a sentence states a figure: Arabic digits, or Chinese numerals with a unit."""
    return bool(NUMBER.search(text)) or bool(chinese_figures(text))


def coverage(terms: list[str], text: str, weights: dict[str, float],
             normalised: bool = False) -> tuple[float, frozenset]:
    """IDF-weighted share of the question's content terms found in the text."""
    if not terms:
        return 0.0, frozenset()
    norm = text if normalised else normalise(text)
    # summed in the question's order, never a set's: a set of strings iterates by PYTHONHASHSEED,
    # and another order of the same additions gave another last bit (support 1.0 against
    # 1.0000000000000002), so two training runs collected different features
    found = [t for t in dict.fromkeys(terms) if t in norm]
    total = sum(weights.get(t, 1.0) for t in terms)
    return sum(weights.get(t, 1.0) for t in found) / total, frozenset(found)


def shared_run(question: str, sentence: str, cap: int) -> int:
    """Length of the longest run of characters the question shares with a sentence, up to `cap`.

    Grows the best length found so far from each start in the question, testing substrings
    with `in` (C speed): at most len(question) + cap tests, where difflib builds an index of
    every sentence."""
    best = 0
    for start in range(len(question)):
        while best < cap and start + best < len(question) and question[start:start + best + 1] in sentence:
            best += 1
        if best == cap:
            break
    return best


def kind_fits(kind: str, sentence: str) -> float:
    """Bonus when the sentence carries the sort of fact asked for."""
    if kind == "how_much":
        return 0.25 if has_figure(sentence) else -0.3
    if kind == "when":
        return 0.25 if DATE_WORDS.search(sentence) else -0.1
    if kind == "who":
        return 0.25 if ACTOR_WORDS.search(sentence) else -0.1
    if kind == "list":
        return 0.15 if len(LIST_MARKS.findall(sentence)) >= 2 else 0.0
    if kind == "status":
        return 0.25 if PROGRESS_WORDS.search(sentence) else -0.1
    if kind == "where":
        return 0.25 if LOCATION_WORDS.search(sentence) else -0.1
    return 0.0


def years_spoken_of(text: str) -> set[int] | None:
    """Years a text names, directly or through a 五年 period name; None when it names none."""
    years = {int(y) for y in YEAR.findall(text)}
    for name, span in PERIODS.items():
        if name in text:
            start, end = int(span[:4]), int(span[-4:])
            years.update(range(start, end + 1))
    return years or None


def year_fits(query: Query, sentence: str, passage: str, heading: str, period: str) -> bool:
    """A question about a year needs evidence of that year: in the sentence, else its passage,
    else its heading, else the span of years its document covers."""
    if not query.years:
        return True
    asked = {int(y) for y in query.years}
    years = years_spoken_of(sentence)
    if years is None:
        in_passage = years_spoken_of(passage)
        if in_passage and asked & in_passage:
            return True
        years = years_spoken_of(heading) or years_spoken_of(period.replace("-", "年 ") + "年")
    return years is None or bool(years & asked)


def measures_in(terms: list[str]) -> list[str]:
    """The quantity a how-much question asks for (总投资, 产值, 城镇化率…), if it names one."""
    return [t for t in terms if any(m in t for m in MEASURES)]
