"""What the answer scorer sees of a (question, candidate sentence) pair: a fixed vector of numbers.

Each feature is general to Chinese text, not to one corpus: how much of the question the
sentence and its passage cover (IDF-weighted), the longest run of the question's own words, the
retrieval rank and score of the passage, whether the sentence holds a value of the type asked
(an amount with its unit, a date or year, a count with its measure word, an organisation, a
place), whether the question's focus (the attribute asked: 总投资, 建成时间, 职业…) is in the
sentence with such a value beside it, whether the sentence only restates the question (an
echo: a heading, an FAQ's question line), and where the sentence sits in its passage. Units
and names of bodies come from qa/data (units.tsv, actor_words.tsv), read through the
commitments lexicon. The hand-set score answering used before the learned one is kept as one
feature among the others.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache

from qa.answer.rules import has_figure
from qa.commitments.lexicon import lexicon

# Bump when the meaning or order of the features changes: a model file names the version it
# was trained on and is refused by another.
FEATURES_VERSION = 4  # 4: alignment around the asking word (bigram_recall, wh_left, wh_right, lcs_share)

KINDS = ("what", "how_much", "when", "who", "where", "list", "status", "whether")

FEATURES = (
    "coverage", "context_coverage", "support", "phrase", "anchor", "name_missing",
    "measure_missing", "year_mismatch", "kind_fit", "rule_score", "rule_score_log",
    "rule_score_ratio", "rule_ratio_log", "coverage_gap", "phrase_gap", "rule_rank",
    "retrieval_rank", "retrieval_score_ratio", "scope", "record_passage",
    "has_number", "has_amount", "has_count", "has_percent", "has_year", "has_date",
    "has_organisation", "has_place", "has_enumeration", "type_fit",
    "focus_coverage", "focus_value",
    "echo_bigrams", "novel_chars", "question_mark", "heading_echo",
    "position", "first", "last", "table_row", "length_log", "short",
    "prev_coverage", "next_coverage", "best_in_passage", "pronoun_start",
    "dense_similarity", "dense_gap", "top_passage",
    "bigram_recall", "wh_left", "wh_right", "lcs_share",
) + tuple(f"kind={k}" for k in KINDS)

# A sentence that goes on about the one before it ("他司职中场", "该站…"): its subject is there.
PRONOUN_START = re.compile(r"^[\s（(“\"]*(?:他|她|它|其|该|此|这|那|本)")
LOG_FLOOR = 1e-3  # keeps the log of a zero score finite
SENTENCES_CACHED = 16384  # sentences whose value types and bigrams are remembered (they recur across questions)
PERCENT = re.compile(r"\d\s*[%％‰]|百分之|个百分点|成(?![为员立果功本])")
YEAR = re.compile(r"(?<!\d)\d{4}\s*年|[一二三四五六七八九〇零]{4}年|\d{2,4}年代|世纪")
DATE = re.compile(r"\d{1,2}\s*月|[一二三四五六七八九十]{1,2}月|\d{1,2}\s*日|年底|年初|上半年|下半年|春|秋|夏|冬")
PLACE = re.compile(r"位于|坐落|地处|[省市县区镇乡村州路街道]|以[东西南北]|[东西南北]部|交界")
ENUMERATION = re.compile(r"[、，,；;]")
CJK = re.compile(r"[\u4e00-\u9fff]")
# Where a question asks: what follows or precedes these words is the attribute asked for.
ASKING = re.compile(r"多少|多大|多长|多高|多久|多远|几[个家座条所项年月天次人种届]?|什么时候|何时|哪一?年|"
                    r"哪个月|哪一?天|哪里|哪儿|在哪|何地|谁|哪些|哪个|哪家|哪位|哪支|哪所|哪一|什么|怎样|如何|"
                    r"怎么|为何|为什么|是否|有没有|吗")
FOCUS_BEFORE, FOCUS_AFTER = 8, 4  # characters around the asking word where the focus is written
ALIGN_CAP = 6  # characters of the question on either side of its asking word that alignment reads
PUNCTUATION = r"[^\w\u4e00-\u9fff]+"
VALUE_REACH = 16  # characters after the focus within which its value is looked for


@lru_cache(maxsize=1)
def _value_patterns() -> tuple[re.Pattern, re.Pattern, re.Pattern]:
    """Amount (a figure with a measuring unit), count (a figure with a measure word) and the
    endings of organisations' names, from the data files."""
    lex = lexicon()
    alt = lambda words: "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    measures = [u for u, kind in lex.units.items() if kind == "measure"]
    counts = [u for u, kind in lex.units.items() if kind == "count"]
    amount = re.compile(rf"\d(?:[\d.,]*)\s*(?:万|亿|千|百)?(?:余|多)?\s*(?:{alt(measures)})")
    count = re.compile(rf"(?:\d|[一二两三四五六七八九十百千万])\s*(?:余|多)?\s*(?:{alt(counts)})")
    organisation = re.compile(rf"(?:{alt(lex.actor_words)}|公司|集团|大学|学院|协会|银行|医院|研究所|研究院|中心)")
    return amount, count, organisation


@lru_cache(maxsize=SENTENCES_CACHED)
def value_types(text: str) -> dict[str, float]:
    """Which kinds of value a sentence holds (1.0 / 0.0 each); shared, never to be changed."""
    amount, count, organisation = _value_patterns()
    return {"has_number": float(has_figure(text)),
            "has_amount": float(bool(amount.search(text))),
            "has_count": float(bool(count.search(text))),
            "has_percent": float(bool(PERCENT.search(text))),
            "has_year": float(bool(YEAR.search(text))),
            "has_date": float(bool(DATE.search(text))),
            "has_organisation": float(bool(organisation.search(text))),
            "has_place": float(bool(PLACE.search(text))),
            "has_enumeration": float(len(ENUMERATION.findall(text)) >= 2)}


# The value types that can answer each kind of question.
WANTED = {"how_much": ("has_amount", "has_count", "has_percent"),
          "when": ("has_year", "has_date"),
          "who": ("has_organisation",),
          "where": ("has_place",),
          "list": ("has_enumeration",),
          "status": ("has_year", "has_date", "has_number")}


def type_fit(kind: str, types: dict[str, float], wants_number: bool) -> float:
    """1 when the sentence holds a value of the kind asked, 0 when it holds none, 0.5 when the
    kind does not say (a what-question)."""
    wanted = WANTED.get(kind)
    if wanted is None:
        return types["has_number"] if wants_number else 0.5
    return float(any(types[w] for w in wanted))


@lru_cache(maxsize=SENTENCES_CACHED)
def bigrams(text: str) -> frozenset[str]:
    chars = "".join(CJK.findall(text))
    return frozenset(chars[i:i + 2] for i in range(len(chars) - 1))


def focus_terms(question: str, terms: list[str]) -> list[str]:
    """The question's content terms written next to its asking word ("总投资多少", "什么时候建成",
    "什么职业"): the attribute asked for."""
    spans = [m.span() for m in ASKING.finditer(question)]
    if not spans:
        return []
    near = []
    for term in terms:
        at = question.find(term)
        if at < 0:
            continue
        end = at + len(term)
        if any(start - FOCUS_BEFORE <= end <= start or stop <= at <= stop + FOCUS_AFTER for start, stop in spans):
            near.append(term)
    return near


@dataclass
class QuestionView:
    """What every candidate of one question is compared with, worked out once per question."""
    text: str                      # normalised question
    kind: str
    terms: list[str]
    weights: dict[str, float]
    wants_number: bool
    focus: list[str] = field(default_factory=list)
    bigrams: set[str] = field(default_factory=set)
    chars: set[str] = field(default_factory=set)
    asked: str = ""                # the question without its asking words ("|" where they were)
    left: str = ""                 # what the question writes just before its asking word…
    right: str = ""                # …and just after it ("罗保铭担任" 什么 "职务")
    asked_bigrams: frozenset = frozenset()  # character bigrams of `asked`, none across a gap

    @classmethod
    def of(cls, text: str, kind: str, terms: list[str], weights: dict[str, float],
           wants_number: bool) -> "QuestionView":
        ask = ASKING.search(text)
        # function characters next to the asking word ("是", "的") say nothing of the answer's place
        left = re.split(PUNCTUATION, text[:ask.start()])[-1].rstrip(EDGE)[-ALIGN_CAP:] if ask else ""
        right = re.split(PUNCTUATION, text[ask.end():])[0].lstrip(EDGE)[:ALIGN_CAP] if ask else ""
        asked = ASKING.sub("|", text)
        pairs = frozenset().union(*(bigrams(part) for part in re.split(PUNCTUATION, asked)))
        return cls(text=text, kind=kind, terms=terms, weights=weights, wants_number=wants_number,
                   focus=focus_terms(text, terms), bigrams=bigrams(text), chars=set(CJK.findall(text)),
                   asked=asked, left=left, right=right, asked_bigrams=pairs)


def alignment_features(view: QuestionView, norm: str) -> dict[str, float]:
    """How the candidate lines up with the question's wording, read by characters (no word
    segmentation, so "担任" and "任" still meet): the share of the question's character bigrams
    (asking words left out) it holds, the longest end of the text before the asking word and the
    longest start of the text after it that it holds (the answer sits between them in an answering
    sentence), and its longest run shared with the question against the question's length."""
    wanted = view.asked_bigrams
    recall = len(wanted & bigrams(norm)) / len(wanted) if wanted else 0.0
    left = next((n for n in range(len(view.left), 0, -1) if view.left[-n:] in norm), 0)
    right = next((n for n in range(len(view.right), 0, -1) if view.right[:n] in norm), 0)
    content = len(view.asked.replace("|", ""))
    shared = len(longest_shared(view.asked, norm)) / min(content, MENTION_CAP) if content else 0.0
    return {"bigram_recall": recall, "wh_left": left / ALIGN_CAP, "wh_right": right / ALIGN_CAP,
            "lcs_share": min(shared, 1.0)}


def focus_features(view: QuestionView, norm: str, types: dict[str, float]) -> tuple[float, float]:
    """Share (IDF-weighted) of the focus terms in the sentence, and whether a value of the
    asked type follows one of them closely."""
    if not view.focus:
        return 0.5, 0.5
    total = sum(view.weights.get(t, 1.0) for t in view.focus)
    found = [t for t in view.focus if t in norm]
    share = sum(view.weights.get(t, 1.0) for t in found) / total
    wanted = WANTED.get(view.kind)
    if not found or wanted is None or not any(types[w] for w in wanted):
        return share, 0.0 if wanted else 0.5
    for term in found:
        at = norm.find(term)
        window = norm[max(0, at - VALUE_REACH): at + len(term) + VALUE_REACH]
        if any(value_types(window)[w] for w in wanted):
            return share, 1.0
    return share, 0.0


def echo_features(view: QuestionView, norm: str, heading: str) -> dict[str, float]:
    """Does the sentence restate the question (or a heading) rather than add to it?"""
    own = bigrams(norm)
    chars = CJK.findall(norm)
    echo = len(own & view.bigrams) / len(own) if own else 0.0
    novel = sum(c not in view.chars for c in chars) / len(chars) if chars else 0.0
    stripped = norm.strip().rstrip("。.；;：:")
    return {"echo_bigrams": echo, "novel_chars": novel,
            "question_mark": float(norm.rstrip().endswith(("？", "?"))),
            "heading_echo": float(bool(stripped) and len(stripped) <= 40 and stripped in heading)}


def piece_features(view: QuestionView, piece: str, norm: str, heading: str, position: int,
                   coverages: list[float]) -> dict[str, float]:
    """What one candidate sentence holds and where it stands in its passage; `coverages` are
    those of every sentence of the passage, in order (the answer often follows the sentence
    that names the question's subject)."""
    types = value_types(norm)
    focus, focus_value = focus_features(view, norm, types)
    last = len(coverages) - 1
    values = dict(types)
    values.update(echo_features(view, norm, heading))
    values.update(length_features(piece))
    values.update(alignment_features(view, norm))
    values.update({"type_fit": type_fit(view.kind, types, view.wants_number),
                   "focus_coverage": focus, "focus_value": focus_value,
                   "position": position / max(last, 1), "first": float(position == 0),
                   "last": float(position == last),
                   "prev_coverage": coverages[position - 1] if position > 0 else 0.0,
                   "next_coverage": coverages[position + 1] if position < last else 0.0,
                   "best_in_passage": float(coverages[position] >= max(coverages)),
                   "pronoun_start": float(bool(PRONOUN_START.match(piece)))})
    return values


def relative_features(candidates: list) -> list[list[float]]:
    """Features of each candidate beside the question's others (its hand-set score against the
    best, the coverage and phrase it lacks, its passage's model similarity against the best
    passage's), then every candidate's vector in FEATURES order. `candidates` are best first by
    the hand-set score and carry .score and .features."""
    best_rule = candidates[0].score or 1.0
    best_cov = max(c.features["coverage"] for c in candidates)
    best_phrase = max(c.features["phrase"] for c in candidates)
    best_dense = max(c.features.get("dense_similarity", 0.0) for c in candidates)
    rows = []
    for order, cand in enumerate(candidates):
        ratio = cand.score / best_rule
        cand.features.update({"rule_score_ratio": ratio, "rule_rank": 1.0 / (1 + order),
                              "rule_score_log": math.log(cand.score + LOG_FLOOR),
                              "rule_ratio_log": math.log(ratio + LOG_FLOOR),
                              "coverage_gap": best_cov - cand.features["coverage"],
                              "phrase_gap": best_phrase - cand.features["phrase"],
                              "dense_gap": best_dense - cand.features.get("dense_similarity", 0.0)})
        rows.append(vector(cand.features))
    return rows


def vector(values: dict[str, float]) -> list[float]:
    """The features in FEATURES order (a missing one is 0)."""
    return [float(values.get(name, 0.0)) for name in FEATURES]


def kind_one_hot(kind: str) -> dict[str, float]:
    return {f"kind={kind}": 1.0}


def length_features(piece: str) -> dict[str, float]:
    return {"length_log": math.log1p(len(piece)), "short": float(len(piece) < 12)}


# ---------------------------------------------------------------- what was found instead

ASKED_WHAT = {"when": "时间", "how_much": "具体数字", "who": "负责单位", "where": "具体位置", "status": "进展情况"}
MENTION_MIN = 4  # characters the question and a passage must share to say the passage mentions it
MENTION_CAP = 30
EDGE = "的之和与及在对是了"


def longest_shared(text: str, other: str, cap: int = MENTION_CAP) -> str:
    """The longest run of `text` (not crossing punctuation) that `other` contains, up to `cap`."""
    best = ""
    for piece in re.split(PUNCTUATION, text):
        for start in range(len(piece)):
            size = len(best) + 1
            while start + size <= len(piece) and size <= cap and piece[start:start + size] in other:
                best = piece[start:start + size]
                size += 1
    return best


def found_instead(view: QuestionView, context: str) -> tuple[str, str] | None:
    """When declining: what the passage does mention of the question (its subject) and what it
    does not give (the attribute asked), e.g. ("浦佳地块城市更新项目", "完工时间"); None when the
    passage shares too little of the question's content with it to say so."""
    asked = ASKING.sub("|", view.text)
    subject = longest_shared(asked, context).strip(EDGE)
    if len(subject) < MENTION_MIN or not any(t in subject for t in view.terms):
        return None
    return subject, asked_attribute(view, subject)


ATTRIBUTE_CAP = 12  # characters: longer text between the subject and the asking word is not one attribute


def asked_attribute(view: QuestionView, subject: str) -> str:
    """What the question asks of its subject: the words between the subject and the asking word
    ("…工程总投资多少" → 总投资), else its focus terms outside the subject ("…什么时候完工" → 完工时间)."""
    at = view.text.find(subject)
    ask = ASKING.search(view.text, at + len(subject)) if at >= 0 else None
    if ask is not None:
        between = re.sub(r"[^\w\u4e00-\u9fff]", "", view.text[at + len(subject): ask.start()]).strip(EDGE)
        between = re.sub(r"[是为有要达到定]+$", "", between.strip(EDGE)).strip(EDGE)
        # words without a content term of the question ("要跟", "是跟") name no attribute
        if 2 <= len(between) <= ATTRIBUTE_CAP and any(t in between for t in view.terms):
            return between + ("时间" if view.kind == "when" and not between.endswith(("时间", "日期")) else "")
    return focus_attribute(view, subject)


def focus_attribute(view: QuestionView, subject: str) -> str:
    """The words of the question that name what it asks ("总投资", "完工时间", "进出口总额"): the
    focus terms outside the subject, those before the asking word first, as written."""
    first_ask = ASKING.search(view.text)
    spans = []
    for term in view.focus:
        at = view.text.find(term)
        # one character ("十五五末" → 末) names no attribute: "但没有给出末" reads as nonsense
        if at >= 0 and term not in subject and len(term) > 1:
            spans.append((at, at + len(term)))
    if first_ask is not None:
        before = [s for s in spans if s[1] <= first_ask.start()]
        # after the asking word: "什么时候完工" names the attribute; "多少万人" only its unit
        spans = before or ([] if view.kind == "how_much" else [s for s in spans if s[0] >= first_ask.end()])
    # from a focus term's start to a focus term's end: trimming function characters here would
    # cut into a term ("地方结对" → "地方结")
    what = view.text[min(s[0] for s in spans): max(s[1] for s in spans)] if spans else ""
    suffix = ASKED_WHAT.get(view.kind, "")
    if view.kind == "when" and what and not what.endswith(("时间", "日期", "年份")):
        return what + "时间"
    return what or suffix or "所问的内容"
