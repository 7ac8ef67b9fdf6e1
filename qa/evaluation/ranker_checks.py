"""Held-out checks of a trained answer scorer, and the decision settings chosen on them.

`qa train` (qa/evaluation/training.py) fits the scorer; this module scores it on questions it
never saw (our gold by document, CMRC 2018 trial) and chooses what the answerer does with its
probabilities: the threshold below which it declines, the share of the best's probability at
which a runner-up sentence joins the answer, and the probability from which the scorer's choice
stands even when it covers little of the question's wording (the support gate).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_FALSE_ABSTAIN = 0.03
MAX_SENTENCES = 3          # as qa.answer.answering
MAX_ANSWER_CHARS = 400
# A runner-up sentence joins the answer at a share of the best's probability: the largest of these
# (the shortest answers) whose CMRC trial containment is within FOLLOW_SLACK points of the best one's.
FOLLOW_RATIOS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
FOLLOW_SLACK = 0.5
# The support gate (QA_MIN_SUPPORT) declines a best candidate that covers little of the question
# unless its probability reaches one of these: the lowest whose held-out correct abstention on
# every set of unanswerable questions stays within CONFIDENT_SLACK points of the gate's own
# (NEVER: the gate always applies).
NEVER = 2.0  # as qa.answer.ranker.ALWAYS_GATED
CONFIDENT_LEVELS = (0.2, 0.3, 0.4, 0.5, 0.7, NEVER)
CONFIDENT_SLACK = 0.5
UNANSWERABLE_SETS = ("gold", "gold-withheld", "cmrc-trial-withheld")


@dataclass
class Outcome:
    source: str
    answerable: bool
    best: float           # the best candidate's probability
    correct: bool         # the best candidate holds the fact
    coverage: float = 1.0  # the best candidate's support (what the support gate reads)


@dataclass(frozen=True)
class Gates:
    """When the answerer declines: the best probability below `threshold`, or its support below
    `min_support` while its probability is below `confident`."""
    threshold: float = 0.0
    min_support: float = 0.0
    confident: float = NEVER

    def declines(self, o: Outcome) -> bool:
        return o.best < self.threshold or (o.coverage < self.min_support and o.best < self.confident)


def outcomes(model, examples: list) -> list[Outcome]:
    from qa.answer.features import FEATURES

    support, scope = FEATURES.index("support"), FEATURES.index("scope")
    out = []
    for e in examples:
        p = model.probabilities(e.rows)
        best = int(np.argmax(p))
        out.append(Outcome(e.source, e.answerable, float(p[best]), bool(e.labels[best]),
                           float(e.rows[best, support] * e.rows[best, scope])))
    return out


def allowed_threshold(bests: list[float], share: float = MAX_FALSE_ABSTAIN) -> float:
    """The highest threshold that declines at most `share` of these answerable questions."""
    if not bests:
        return 1.0
    ordered = sorted(bests)
    return ordered[int(share * len(ordered))]


def summary(results: list[Outcome], gates: Gates) -> dict:
    """Figures of one held-out set: answered correctly, false abstention, abstention."""
    ans = [o for o in results if o.answerable]
    un = [o for o in results if not o.answerable]
    pct = lambda hits, total: round(100.0 * hits / total, 1) if total else None
    return {"answerable": len(ans), "unanswerable": len(un),
            "top1": pct(sum(o.correct for o in ans), len(ans)),
            "correct_answered": pct(sum(o.correct and not gates.declines(o) for o in ans), len(ans)),
            "false_abstain": pct(sum(gates.declines(o) for o in ans), len(ans)),
            "abstain_ok": pct(sum(gates.declines(o) for o in un), len(un))}


def confident_level(results: list[Outcome], threshold: float, min_support: float) -> tuple[float, dict]:
    """CONFIDENT_LEVELS' lowest whose correct abstention on each unanswerable set is within
    CONFIDENT_SLACK of the always-applied gate's, and (abstain_ok per set, false abstention on the
    answerable CMRC trial and gold questions) for each level."""
    def figures(level: float) -> dict:
        gates = Gates(threshold, min_support, level)
        found = {s: summary([o for o in results if o.source == s and not o.answerable], gates)["abstain_ok"]
                 for s in UNANSWERABLE_SETS}
        for source in ("gold", "cmrc-trial"):
            found[f"{source} false_abstain"] = summary([o for o in results if o.source == source], gates)["false_abstain"]
        return found

    tried = {level: figures(level) for level in CONFIDENT_LEVELS}
    never = tried[NEVER]
    ok = lambda level: all(tried[level][s] is None or tried[level][s] >= never[s] - CONFIDENT_SLACK
                           for s in UNANSWERABLE_SETS)
    return min(level for level in CONFIDENT_LEVELS if ok(level)), tried


def card(gates: Gates, gold_held: list[Outcome], trial: list[Outcome], sizes: dict, kind: str,
         rules: list[Outcome] = ()) -> dict:
    """Held-out figures of the model and (`rules`) the hand-set score's top-1 on the same candidates."""
    by = lambda results, source: [o for o in results if o.source == source]
    sets = {"gold_by_document": "gold", "gold_withheld_evidence": "gold-withheld", "cmrc_trial": "cmrc-trial",
            "cmrc_trial_withheld_passage": "cmrc-trial-withheld"}
    return {"data": sizes, "model": kind,
            "held_out_rules": {key: {"top1": summary(by(rules, source), Gates())["top1"]} for key, source in sets.items()},
            "threshold_rule": f"highest threshold with false abstention <= {MAX_FALSE_ABSTAIN:.0%} on the "
                              "held-out answerable questions of our gold (by document) and of CMRC trial",
            "held_out": {
                "gold_by_document": summary(by(gold_held, "gold"), gates),
                "gold_withheld_evidence": summary(by(gold_held, "gold-withheld"), gates),
                "cmrc_trial": summary(by(trial, "cmrc-trial"), gates),
                "cmrc_trial_withheld_passage": summary(by(trial, "cmrc-trial-withheld"), gates)}}


def containment(model, examples: list, ratio: float) -> float:
    """Share of the answerable questions whose answer (the best candidate and the runners-up at
    `ratio` of its probability, as the answerer chooses) holds the fact within MAX_ANSWER_CHARS."""
    answerable = [e for e in examples if e.answerable]
    hits = 0
    for e in answerable:
        p = model.probabilities(e.rows)
        order = np.argsort(-p, kind="stable")
        chosen = [order[0]]
        for i in order[1:]:
            if len(chosen) >= MAX_SENTENCES or p[i] < ratio * p[order[0]]:
                break
            chosen.append(i)
        hits += bool(e.labels[chosen].any()) and sum(e.lengths[i] for i in chosen) <= MAX_ANSWER_CHARS
    return 100.0 * hits / max(len(answerable), 1)


def follow_ratio(model, examples: list) -> tuple[float, dict]:
    """FOLLOW_RATIOS' largest whose containment is within FOLLOW_SLACK of the best, and each one's."""
    found = {ratio: round(containment(model, examples, ratio), 1) for ratio in FOLLOW_RATIOS}
    best = max(found.values())
    return max(r for r, c in found.items() if c >= best - FOLLOW_SLACK), found


def format_card(info: dict) -> str:
    """The held-out figures of a trained model, as a Chinese table."""
    names = {"gold_by_document": "自有金标准（按文档留出）", "gold_withheld_evidence": "自有金标准·撤下证据段落",
             "cmrc_trial": "CMRC 2018 trial", "cmrc_trial_withheld_passage": "CMRC trial·撤下原段落"}
    lines = ["| 留出集 | 可答 | 不可答 | 手工：首选句正确 | 首选句正确 | 作答且正确 | 误拒答 | 正确拒答 |",
             "|---|---|---|---|---|---|---|---|"]
    rules = info.get("held_out_rules", {})
    for key, s in info["held_out"].items():
        cells = [s["answerable"], s["unanswerable"], rules.get(key, {}).get("top1"), s["top1"], s["correct_answered"],
                 s["false_abstain"], s["abstain_ok"]]
        lines.append(f"| {names.get(key, key)} | " + " | ".join("-" if c is None else str(c) for c in cells) + " |")
    return "\n".join(lines)
