"""`qa train-abstention --meaning`: the cross-lingual floor of questions read by meaning
(qa/answer/abstain.py, CrossLingualFloor), written to qa/data/abstention_meaning.json.

An English question read by meaning (glossary off, no Chinese word shared with the documents)
is judged by the calibrated model of the hand-set score, whose features count shared words: it
answered 5 of our 9 unanswerable English questions (eval/ENGLISH.md). The cross-lingual model
(qa.search.crosslingual, USE multilingual v3) compares the question with the chosen sentences
instead. It is not a feature of the calibrated model: that model is fitted on Chinese questions,
for which the cross-lingual model is never run (it would cost every Chinese question), and our
gold has 21 English questions, 4 of them unanswerable, too few to fit on.

So the floor is a cosine that unrelated text reaches by chance, measured without labels: every
English question of our gold read by meaning (its text only) against REFERENCES sentences of
CMRC 2018 train (Wikipedia, drawn with SEED), the floor at a percentile of those cosines. Which
percentile: the highest of PERCENTILES that, of those questions answered right, declines at most
MAX_FALSE_ABSTAIN (the calibrated model's
bound on lost CMRC answers; declining a wrong answer loses nothing). The floor was fitted on
no label, so every figure of the card is held out in that sense; the percentile is the one
choice made on our gold. Never the shared dev set.

The card gives, for each percentile, its floor and what it declines among our gold's English
questions read by meaning: answerable ones answered right or wrong, unanswerable ones, and the
synthetic unanswerables (an answerable question with its evidence withheld), with the cosines.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from qa.answer.abstain import MEANING_FORMAT, CrossLingualFloor
from qa.answer.meaning import closest_clauses
from qa.config import Config
from qa.evaluation.abstain_training import BENCH, MAX_FALSE_ABSTAIN, withheld
from qa.evaluation.gold import load_gold, score_one

SEED = 13
REFERENCES = 200                      # CMRC 2018 train sentences, the unrelated text
SENTENCE_CHARS = (15, 120)            # a reference sentence's length, as candidate sentences run
PERCENTILES = (90.0, 95.0, 97.5, 99.0, 99.5)
GROUPS = ("right", "wrong", "unanswerable", "withheld")
DIGITS = 6
SENTENCE_END = re.compile(r"(?<=[。！？])")


@dataclass
class Case:
    qid: str
    group: str                 # right | wrong | unanswerable | withheld | declined (before the floor)
    similarity: float | None   # highest cosine of the question and a chosen sentence


def reference_sentences(cmrc_path: Path, count: int = REFERENCES, seed: int = SEED) -> list[str]:
    data = json.loads(Path(cmrc_path).read_text(encoding="utf-8"))
    low, high = SENTENCE_CHARS
    sentences = [s.strip() for d in data["data"] for p in d["paragraphs"] for s in SENTENCE_END.split(p["context"])
                 if low <= len(s.strip()) <= high]
    random.Random(seed).shuffle(sentences)
    return sentences[:count]


def chance_cosines(crosslingual, questions: list[str], references: list[str]) -> np.ndarray:
    """The cosine of every question with every reference sentence or its closest clause, as the
    floor compares chosen sentences."""
    return np.concatenate([closest_clauses(crosslingual, q, references) for q in questions]) if questions \
        else np.zeros(0)


def _case(answerer, item, query, read, group: str) -> Case:
    answer = answerer._compose(item.question, query, read)
    if answer.abstained:
        return Case(item.id, "declined", None)
    chosen = answerer._chosen(query, read)
    similarity = CrossLingualFloor.similarity(answerer.crosslingual, query, chosen) if chosen else None
    if group == "asked":
        group = "unanswerable" if item.unanswerable else "right" if score_one(item, answer.to_json()).ok else "wrong"
    return Case(item.id, group, similarity)


def collect(answerer, gold_path: Path) -> tuple[list[Case], list[str]]:
    """Our gold's questions read by meaning, each asked as the product asks it without the floor,
    and again with its evidence withheld; and their texts."""
    from qa.search.query import analyse

    cases, questions = [], []
    for item in load_gold(gold_path):
        query = analyse(item.question, answerer.index, answerer.glossary, answerer.config.lexicon)
        if not answerer.meaning.applies(query):
            continue
        questions.append(query.text)
        read = answerer.evidence(query, answerer.retriever.retrieve_query(query))
        cases.append(_case(answerer, item, query, read, "asked"))
        left = withheld(item, read)
        if left is not None:
            cases.append(_case(answerer, item, query, left, "withheld"))
    return cases, questions


def figures(cases: list[Case], floor: float) -> dict:
    """Per group: questions, and those the floor declines; false abstention among the answerable."""
    below = lambda c: c.similarity is not None and c.similarity < floor
    out = {g: {"questions": sum(c.group == g for c in cases), "declined": sum(c.group == g and below(c) for c in cases)}
           for g in GROUPS}
    share = lambda group: round(100.0 * sum(map(below, group)) / len(group), 1) if group else None
    out["false_abstain"] = share([c for c in cases if c.group in ("right", "wrong")])
    out["lost_answers"] = share([c for c in cases if c.group == "right"])
    return out


def choose(cases: list[Case], chance: np.ndarray, max_false: float = MAX_FALSE_ABSTAIN) -> tuple[float, float]:
    """The highest percentile of PERCENTILES (and its floor) that declines at most `max_false` of
    the right answers (as the calibrated model's rule bounds the CMRC answers that held a
    reference: declining a wrong answer loses nothing); the lowest when none does."""
    chosen = PERCENTILES[0]
    for pct in PERCENTILES:
        result = figures(cases, float(np.percentile(chance, pct)))["lost_answers"]
        if result is None or result <= 100.0 * max_false:
            chosen = pct
    return chosen, float(np.percentile(chance, chosen))


def _spread(values: list[float]) -> list[float]:
    return [round(float(v), 3) for v in np.percentile(values, [0, 25, 50, 75, 100])] if values else []


def train(config: Config, gold_path: Path, out_path: Path, max_false: float = MAX_FALSE_ABSTAIN,
          bench: Path = BENCH, progress: bool = False) -> dict:
    """Collect, measure chance, choose the percentile, write the floor; its card."""
    from qa.answer.answering import Answerer
    from qa.evaluation.training import open_index
    from qa.search.crosslingual import PACKAGE, VERSION

    answerer = Answerer(open_index(config, progress), replace(config, glossary="off"))
    if not answerer.crosslingual.available:
        raise RuntimeError(f"{PACKAGE}=={VERSION} is not installed (scripts/setup.sh) or QA_CROSSLINGUAL=off")
    answerer.floor = None  # the answers as they are without it
    cases, questions = collect(answerer, gold_path)
    cmrc = bench / "cmrc2018" / "cmrc2018_train.json"
    chance = chance_cosines(answerer.crosslingual, questions, reference_sentences(cmrc))
    percentile, floor = choose(cases, chance, max_false)
    digest = hashlib.sha256(Path(gold_path).read_bytes() + cmrc.read_bytes()).hexdigest()
    card = {"percentile": percentile, "floor": round(floor, DIGITS), "questions": len(questions),
            "references": REFERENCES, "seed": SEED, "data_sha256": digest,
            "rule": f"highest percentile of {list(PERCENTILES)} of the chance cosines (our gold's English questions "
                    f"read by meaning x CMRC 2018 train sentences) declining <= {max_false:.0%} of those "
                    "questions' right answers",
            "chance": {str(p): round(float(np.percentile(chance, p)), DIGITS) for p in PERCENTILES},
            "cosines": {g: _spread([c.similarity for c in cases if c.group == g and c.similarity is not None])
                        for g in GROUPS},
            "declined_before": sum(c.group == "declined" for c in cases),
            "by_percentile": {str(p): figures(cases, float(np.percentile(chance, p))) for p in PERCENTILES}}
    data = {"format": MEANING_FORMAT, "floor": round(floor, DIGITS), "crosslingual": f"{PACKAGE}=={VERSION}", "card": card}
    Path(out_path).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return card


def format_card(card: dict) -> str:
    names = {"right": "可答·答对", "wrong": "可答·答错", "unanswerable": "不可答", "withheld": "撤下证据"}
    lines = ["| 分位数 | 下限 | " + " | ".join(f"{n} 拒答/题数" for n in names.values()) + " | 误拒答 % | 答对被拒 % |",
             "|---|---|" + "---|" * len(names) + "---|---|"]
    for pct, result in card["by_percentile"].items():
        cells = " | ".join(f"{result[g]['declined']}/{result[g]['questions']}" for g in names)
        mark = " ←" if float(pct) == card["percentile"] else ""
        lines.append(f"| {pct}{mark} | {card['chance'][pct]:.3f} | {cells} | {result['false_abstain']} | {result['lost_answers']} |")
    lines.append("\n余弦（最小/四分位/中位/四分位/最大）：" + "；".join(
        f"{names[g]} {card['cosines'][g]}" for g in names))
    return "\n".join(lines)
