"""Calibrated abstention: answer only when the chosen evidence probably holds the fact asked.

After the answerer has chosen its sentences (by the hand-set or the learned scorer), this model
looks at the question as a whole and gives P(the question is answered by what was read). Most
questions a document cannot answer name something the document does mention and ask for an
attribute it never gives (a project's completion date, a plant's capacity, a per-capita figure),
so the features centre on the question's focus: which attribute is asked, what kind of value
answers it (an amount in 元, an area, a date, an organisation…, from qa/data/asked_values.tsv and
the question's own unit from qa/data/units.tsv), and whether the chosen sentences hold the
attribute's words and such a value. Beside them: how much of the question (IDF-weighted) the
chosen sentence, its passage and all passages read cover, and the rarest question word that no
passage read contains.

The model is a standardised logistic regression in qa/data/abstention.json, written by
`qa train-abstention` (qa/evaluation/abstain_training.py) with a fixed seed; its thresholds (one
for Chinese questions, one for English ones) are chosen on held-out questions so that false
abstention stays within the target. Place and period mismatches are not decided here: such
evidence never becomes a candidate.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.answer import features as F
from qa.answer.meaning import closest_clauses
from qa.answer.rules import shared_run
from qa.commitments.lexicon import DATA, lexicon
from qa.models import LinearModel
from qa.text import jieba_base, normalise

MODEL_FILE = DATA / "abstention.json"  # calibrated on the hand-set scorer's choices
# calibrated on the learned scorer's: each scorer chooses other sentences and declines other questions
MODEL_FILES = {"rules": MODEL_FILE, "learned": DATA / "abstention_learned.json"}
MODEL_FORMAT = 1
FEATURES_VERSION = 2
VALUE_KINDS = ("money", "area", "length", "capacity", "percent", "population", "time", "organisation")
KINDS = ("what", "how_much", "when", "who", "where", "list", "status", "whether")
FEATURES = (
    # how much of the question the answer, its passage and all passages read cover
    "support", "rule_score_log", "coverage", "passage_coverage", "evidence_coverage", "best_coverage_any",
    # the question's rarest words that nothing read holds, and words no passage of the index holds
    "absent_share", "absent_rarest", "passage_missing_rarest", "unknown_terms", "unknown_latin",
    "unknown_longest", "anchor_in_sentence", "anchor_in_passage",
    # the focus: the attribute asked, its kind of value, the asked unit and what it counts
    "focus_share", "focus_passage", "focus_value", "focus_missing", "focus_missing_passage",
    "attribute_typed", "attribute_word", "attribute_value", "attribute_near", "attribute_in_passage",
    "unit_asked", "unit_present", "unit_in_passage", "counted_in_sentence", "counted_in_passage", "type_fit",
    # the words written next to the asking word (its attribute), by characters, and a focus word
    # no passage of the index holds
    "asked_bigrams", "asked_bigrams_passage", "focus_unknown",
    # the answer's shape
    "phrase", "english", "terms_log", "chosen", "best_rank", "table_row",
) + tuple(f"kind={k}" for k in KINDS)
ATTRIBUTE_REACH = 12  # characters after an attribute word within which its value is looked for
PHRASE_CAP = 12
DIGIT = re.compile(r"\d")
CJK_TERM = re.compile(r"[\u4e00-\u9fff]{2,}")
LATIN_TERM = re.compile(r"[a-z]{3,}")
ASKED_UNIT = re.compile(r"(?:多少|几)\s*")


@dataclass(frozen=True)
class ValueKind:
    name: str
    words: tuple[str, ...]      # how a question names such an attribute, longest first
    pattern: re.Pattern         # a value of this kind as printed
    header: re.Pattern | None   # its unit as a table's column or row header prints it: "（亿元）"

    def held_by(self, text: str) -> bool:
        """Does the text hold a value of this kind (a figure in a table row under its unit too)?"""
        return bool(self.pattern.search(text)) or bool(
            self.header is not None and self.header.search(text) and DIGIT.search(text))


@lru_cache(maxsize=1)
def value_kinds() -> tuple[ValueKind, ...]:
    amount_unit = lambda units: re.compile(
        r"\d[\d.,]*\s*(?:万|亿|千|百)?(?:余|多)?\s*(?:" + "|".join(
            re.escape(u) for u in sorted(units, key=len, reverse=True)) + ")")
    special = {"<year>": F.YEAR, "<date>": F.DATE, "<organisation>": F._value_patterns()[2]}
    kinds = []
    for line in (DATA / "asked_values.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, words, units = line.split("\t")
        unit_list = units.split(",")
        patterns = [special[u].pattern for u in unit_list if u in special]
        plain = [u for u in unit_list if u not in special]
        if plain:
            patterns.append(amount_unit(plain).pattern)
        header = re.compile(r"[(（]\s*(?:" + "|".join(re.escape(u) for u in plain) + r")\s*[)）]") if plain else None
        kinds.append(ValueKind(name, tuple(sorted((normalise(w) for w in words.split(",")), key=len, reverse=True)),
                               re.compile("|".join(f"(?:{p})" for p in patterns)), header))
    return tuple(kinds)


@lru_cache(maxsize=1)
def _units_asked() -> re.Pattern:
    units = sorted(lexicon().units, key=len, reverse=True)
    return re.compile(ASKED_UNIT.pattern + "((?:万|亿|千|百)?(?:" + "|".join(re.escape(u) for u in units) + "))")


def asked_unit(question: str) -> str | None:
    """The unit the question asks its figure in ("多少亿元" → 亿元, "几座" → 座)."""
    match = _units_asked().search(question)
    return match.group(1) if match else None


def counted_thing(question: str, unit: str | None) -> str:
    """What a count or measure is of: the words after the asked unit ("多少公里高速公路" → 高速公路)."""
    if unit is None:
        return ""
    match = re.search(re.escape(unit) + r"([\u4e00-\u9fff]{2,8})", question)
    return match.group(1).rstrip("呢吗啊了呀") if match else ""


def asked_attribute(question: str, unit: str | None) -> tuple[ValueKind | None, str]:
    """The kind of value asked and the question's word for the attribute ("总投资"): the kind of
    its unit when it names one, else that of the attribute word nearest its asking word."""
    asks = [m.start() for m in F.ASKING.finditer(question)]
    found = []
    for kind in value_kinds():
        word = next((w for w in kind.words if w in question), None)
        if word is not None:
            at = question.find(word)
            found.append((min((abs(a - at) for a in asks), default=len(question)), -len(word), kind, word))
    nearest = min(found, key=lambda f: f[:2]) if found else None
    word = nearest[3] if nearest else ""
    if unit:
        by_unit = next((k for k in value_kinds() if k.pattern.search("1" + unit)), None)
        if by_unit is not None:
            return by_unit, word
    return (nearest[2], word) if nearest else (None, "")


def _share(terms: list[str], weights: dict[str, float], text: str) -> float:
    total = sum(weights.get(t, 1.0) for t in terms)
    return sum(weights.get(t, 1.0) for t in terms if t in text) / total if total else 0.0


def _rarity(answerer, terms: list[str]) -> tuple[dict[str, float], dict[str, float | None], list[str]]:
    """How rare each Chinese term is in the index (its IDF), the IDFs, and the dictionary words
    the index never saw. Such a word (高速公路, 博士) is as rare as can be; a colloquial fragment
    no dictionary holds (要修, 干到) says little."""
    idf = {t: answerer.index.stats.idf(t) for t in terms}
    ceiling = math.log(1 + answerer.index.stats.passages)
    words = jieba_base().FREQ
    unknown = [t for t in terms if idf[t] is None and CJK_TERM.fullmatch(t) and words.get(t, 0) > 0]
    rarity = {t: idf[t] if idf[t] is not None else ceiling if t in unknown else ceiling / 2
              for t in terms if CJK_TERM.fullmatch(t)}
    return rarity, idf, unknown


def _attribute_features(question: str, sentences: list[str], context: str) -> dict[str, float]:
    """The asked attribute, its kind of value, the asked unit and what it counts, each looked for
    in the chosen sentences (and the best one's passage); 0.5 where the question does not say."""
    unit = asked_unit(question)
    kind, word = asked_attribute(question, unit)
    counted = counted_thing(question, unit)
    near = 0.5 if kind is None else 0.0
    for text in sentences if kind is not None and word else ():
        at = text.find(word)
        if at >= 0 and kind.held_by(text[at: at + len(word) + ATTRIBUTE_REACH]):
            near = 1.0
    unsaid = lambda absent, test: 0.5 if absent else float(test())
    return {"attribute_typed": float(kind is not None),
            "attribute_word": unsaid(not word, lambda: any(word in s for s in sentences)),
            "attribute_value": unsaid(kind is None, lambda: any(kind.held_by(s) for s in sentences)),
            "attribute_in_passage": unsaid(not word, lambda: word in context),
            "attribute_near": near, "unit_asked": float(unit is not None),
            "counted_in_sentence": unsaid(len(counted) < 2, lambda: any(counted in s for s in sentences)),
            "counted_in_passage": unsaid(len(counted) < 2, lambda: counted in context),
            "unit_present": unsaid(unit is None, lambda: any(unit.lstrip("万亿千百") in s for s in sentences)),
            "unit_in_passage": unsaid(unit is None, lambda: unit.lstrip("万亿千百") in context)}


def _bigram_share(wanted: frozenset, text: str) -> float:
    return len(wanted & F.bigrams(text)) / len(wanted) if wanted else 0.5


def decision_features(answerer, query, chosen: list, read: list) -> dict[str, float]:
    """The question-level features of one answer: `chosen` are the answerer's candidates (best
    first), `read` the passages their sentences came from and competed with."""
    terms = list(dict.fromkeys(query.terms))
    weights = {t: answerer.weight(t) for t in terms}
    best = chosen[0]
    sentence = normalise(best.sentence)
    sentences = [normalise(c.sentence) for c in chosen]
    contexts = [answerer.context_and_pieces(r)[0] for r in read]
    context = answerer.context_and_pieces(best.node)[0]
    question = normalise(query.search_text or query.text)
    rarity, idf, unknown = _rarity(answerer, terms)
    rarest = max(rarity.values(), default=1.0) or 1.0
    rarest_of = lambda chosen_terms: max((rarity[t] for t in chosen_terms), default=0.0) / rarest
    absent = [t for t in rarity if not any(t in c for c in contexts)]
    known = [t for t in terms if idf[t] is not None]
    anchor = max(known, key=lambda t: (weights[t], len(t))) if known else None
    view = F.QuestionView.of(question, query.kind, terms, weights, query.wants_number)
    types = F.value_types(sentence)
    focus_share, focus_value = F.focus_features(view, sentence, types)
    focus = [t for t in view.focus if t in rarity]
    rank = next((i for i, r in enumerate(read) if r is best.node), len(read))
    # the character pairs written just before and after the asking word ("保有量达到|辆", "发|养老金")
    asked = F.bigrams(view.left) | F.bigrams(view.right)
    values = {
        "support": best.coverage, "rule_score_log": math.log(max(best.score, 1e-3)),
        "coverage": _share(terms, weights, sentence), "passage_coverage": _share(terms, weights, context),
        "evidence_coverage": _share(terms, weights, "\n".join(contexts)),
        "best_coverage_any": max(_share(terms, weights, s) for s in sentences),
        "absent_share": sum(weights[t] for t in absent) / max(sum(weights.values()), 1e-9),
        "absent_rarest": rarest_of(absent), "passage_missing_rarest": rarest_of(t for t in rarity if t not in context),
        "unknown_terms": len(unknown) / max(len(rarity), 1),
        "unknown_latin": sum(bool(LATIN_TERM.fullmatch(t)) and idf[t] is None for t in terms) / max(len(terms), 1),
        "unknown_longest": min(max((len(t) for t in unknown), default=0), 6) / 6,
        "anchor_in_sentence": float(anchor is not None and anchor in sentence),
        "anchor_in_passage": float(anchor is not None and anchor in context),
        "focus_share": focus_share, "focus_value": focus_value,
        "focus_passage": F.focus_features(view, context, F.value_types(context))[0],
        "focus_missing": rarest_of(t for t in focus if not any(t in s for s in sentences)),
        "focus_missing_passage": rarest_of(t for t in focus if t not in context),
        "focus_unknown": float(any(t in unknown for t in focus)),
        "asked_bigrams": max(_bigram_share(asked, s) for s in sentences),
        "asked_bigrams_passage": _bigram_share(asked, context),
        "type_fit": F.type_fit(query.kind, types, query.wants_number),
        "phrase": shared_run(question, sentence, PHRASE_CAP) / PHRASE_CAP,
        "english": float(bool(query.english)), "terms_log": math.log1p(len(terms)),
        "chosen": len(chosen) / 3.0, "best_rank": 1.0 / (1 + rank),
        "table_row": float(best.node.node.metadata.get("type") == "table_row"), f"kind={query.kind}": 1.0}
    values.update(_attribute_features(question, sentences, context))
    return values


def vector(values: dict[str, float]) -> list[float]:
    return [float(values.get(name, 0.0)) for name in FEATURES]


@dataclass(frozen=True)
class Abstention:
    """The learned answer-or-decline decision: a standardised logistic regression (qa/models.py)."""
    model: LinearModel
    threshold: float   # answer a Chinese question only when P(answered) reaches this
    version: str
    # an English question's (read through the glossary or the lexicon): its features are other
    # (no Chinese wording to match by characters), so its threshold is chosen on its own
    threshold_english: float | None = None

    @classmethod
    def from_json(cls, data: dict) -> "Abstention":
        if data.get("format") != MODEL_FORMAT or data.get("features_version") != FEATURES_VERSION \
                or tuple(data.get("features", ())) != FEATURES:
            raise ValueError("abstention model was trained on other features; run qa train-abstention")
        return cls(model=LinearModel.from_json(data), threshold=float(data["threshold"]),
                   version=str(data.get("version", "")),
                   threshold_english=float(data.get("threshold_english", data["threshold"])))

    def threshold_for(self, english: bool) -> float:
        return self.threshold_english if english and self.threshold_english is not None else self.threshold

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        return self.model.probabilities(rows)

    def probability(self, answerer, query, chosen: list, read: list) -> float:
        return float(self.probabilities(np.asarray([vector(decision_features(answerer, query, chosen, read))]))[0])

    def answers(self, answerer, query, chosen: list, read: list) -> bool:
        """True when the chosen sentences should be given as the answer, False to decline."""
        return self.probability(answerer, query, chosen, read) >= self.threshold_for(bool(query.english))


@lru_cache(maxsize=4)
def _load(path: str, stamp: float) -> Abstention:
    return Abstention.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def model_file(scorer: str) -> Path:
    """The abstention model calibrated on the choices of `scorer` (QA_ANSWER_SCORER)."""
    return MODEL_FILES.get(scorer, MODEL_FILE)


def load_abstention(path: Path | None = None) -> Abstention | None:
    """The packaged model (or the one at `path`); None when there is none or it does not fit
    the features: answering then declines by the hand-set rules alone."""
    path = Path(path or MODEL_FILE)
    try:
        return _load(str(path), path.stat().st_mtime)
    except (OSError, ValueError, KeyError):
        return None


# ---------------------------------------------------------------- questions read by meaning

MEANING_FILE = DATA / "abstention_meaning.json"  # written by `qa train-abstention --meaning`
MEANING_FORMAT = 2  # 2: cosines of a sentence's closest clause


@dataclass(frozen=True)
class CrossLingualFloor:
    """For a question read by meaning (English sharing no Chinese word with the documents,
    qa/answer/meaning.py), the calibrated model above sees little: its coverage and focus features
    count words the question does not have. The cross-lingual model (qa.search.crosslingual) does
    compare the question with the chosen sentences; an answer is declined when none of them is
    closer to the question than `floor`, a cosine that unrelated Chinese text reaches by chance
    (a percentile of the cosines between English questions and CMRC sentences; how it is chosen:
    qa/evaluation/meaning_floor.py)."""
    floor: float
    crosslingual: str  # the model the floor was measured with: "<package>==<version>"

    @classmethod
    def from_json(cls, data: dict) -> "CrossLingualFloor":
        if data.get("format") != MEANING_FORMAT:
            raise ValueError("cross-lingual floor of another format; run qa train-abstention --meaning")
        return cls(floor=float(data["floor"]), crosslingual=str(data["crosslingual"]))

    @staticmethod
    def similarity(crosslingual, query, chosen: list) -> float:
        """The highest cosine between the question and a chosen sentence or one of its clauses, as
        sentences are chosen (qa/answer/meaning.py): a long sentence's vector blends what it lists."""
        return float(np.max(closest_clauses(crosslingual, query.text, [c.sentence for c in chosen])))

    def answers(self, crosslingual, query, chosen: list) -> bool:
        """False when the chosen sentences read like chance; True where the model is missing."""
        return not crosslingual.available or self.similarity(crosslingual, query, chosen) >= self.floor


def load_floor(crosslingual, path: Path | None = None) -> CrossLingualFloor | None:
    """The packaged floor when it was measured with `crosslingual`'s model (a floor of another
    model's cosines means nothing for this one), else None."""
    from qa.search.crosslingual import PACKAGE, VERSION

    path = Path(path or MEANING_FILE)
    try:
        floor = CrossLingualFloor.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError):
        return None
    return floor if crosslingual.mode != "off" and floor.crosslingual == f"{PACKAGE}=={VERSION}" else None
