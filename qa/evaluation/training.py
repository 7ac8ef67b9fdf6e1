"""`qa train`: learn the answer scorer (qa/answer/ranker.py) from public data and our own gold.

Data, never the shared dev set (../shared/eval/dev.jsonl is validation only):
- CMRC 2018 train (Cui et al., EMNLP 2019), the first CMRC_TRAIN_PASSAGES passages indexed as a
  corpus of their own: the candidate sentence holding the answer span in the question's own
  passage is a positive, every other candidate a negative. CMRC 2018 trial is indexed beside it,
  never trained on: it picks the threshold, follow_ratio and confident and gives held-out figures. CMRC dev
  (and ExpMRC, taken from it) is never read here.
- Our own gold (eval/questions.jsonl) over corpus/: a candidate holding every must_include
  string, from the evidence or a sentence like it, is a positive; unanswerable questions give
  negatives only.
- Synthetic unanswerables: a real question asked again with its evidence passages withheld
  from what is read; whatever is left must be declined.

Checked by grouping: our gold is split by document (each document's questions are scored by a
model that never saw any question of that document), CMRC trial by being a separate set. The
threshold is the highest that keeps false abstention within MAX_FALSE_ABSTAIN on both held-out
sets. The final model (MODEL_KIND) is fitted on all training data with a fixed seed: same data, same bytes.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from qa.config import TRAINING_GLOSSARY, Config
from qa.evaluation.gold import covered, load_gold, norm
from qa.evaluation.ranker_checks import (  # noqa: F401  (allowed_threshold, format_card: used through here)
    CONFIDENT_SLACK, FOLLOW_SLACK, MAX_ANSWER_CHARS, MAX_FALSE_ABSTAIN, NEVER, Gates, allowed_threshold, card, confident_level, follow_ratio,
    format_card, outcomes)
from qa.models import LinearModel, TreeEnsemble

SEED = 13
CMRC_TRAIN_PASSAGES = 500
CMRC_SYNTHETIC_EVERY = 3   # every third CMRC question is also asked with its passage withheld
FOLLOW_RATIO = 0.3         # the neutral scorer's; a trained model's is chosen on CMRC trial (follow_ratio)
REGULARISATION = 0.1       # inverse strength C of the logistic regressions' L2 penalty
NEGATIVES_PER_POSITIVE = 8  # pairs per positive candidate: half the hardest negatives, half at random
POSITIVES_PER_QUESTION = 2
DIGITS = 6                 # rounding of a written linear model: same data, same bytes
MODEL_KIND = "trees"       # or "linear" (fit_linear): trees were better held out (README)
TREES = dict(max_iter=200, learning_rate=0.05, max_leaf_nodes=31, min_samples_leaf=20, l2_regularization=1.0)
ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT.parent / "shared" / "bench"


@dataclass
class Example:
    """One question's candidates as the answerer sees them, labelled."""
    source: str          # gold | gold-withheld | cmrc-train | cmrc-trial | …-withheld
    group: str           # the document the question is about
    qid: str
    answerable: bool     # some candidate holds the fact
    rows: np.ndarray     # candidates × features
    labels: np.ndarray   # 1 where the candidate holds the fact
    lengths: list[int] = field(default_factory=list)


def neutral_ranker():
    """A scorer that ranks nothing (every probability ½): makes the answerer work out features."""
    from qa.answer.features import FEATURES
    from qa.answer.ranker import Ranker

    return Ranker(FEATURES, LinearModel(np.zeros(len(FEATURES)), 0.0), 0.0, FOLLOW_RATIO, "neutral")


def examples_for(answerer, question: str, label, withhold=None, **info) -> Example | None:
    """Ask as the answerer does (retrieve, read the top passages and records), optionally with
    some passages withheld, and label every candidate."""
    from qa.answer.features import vector
    from qa.search.query import analyse

    query = analyse(question, answerer.index)
    results = answerer.retriever.retrieve_query(query)
    if withhold is not None:
        results = [r for r in results if not withhold(r.node)]
    read = answerer.evidence(query, results)
    if withhold is not None:
        read = [r for r in read if not withhold(r.node)]
    candidates = answerer.candidates(query, read)
    if not candidates:
        return None
    labels = np.array([label(c.node.node, c.sentence) for c in candidates], dtype=np.int8)
    rows = np.array([vector(c.features) for c in candidates])
    return Example(rows=rows, labels=labels, answerable=bool(labels.any()),
                   lengths=[len(c.sentence) for c in candidates], **info)


def gold_examples(answerer, gold_path: Path) -> list[Example]:
    out = []
    for item in load_gold(gold_path):
        facts = [norm(m) for m in item.must_include]

        def label(node, sentence, facts=facts, item=item):
            if item.unanswerable or not facts:
                return False
            text = norm(sentence)
            return all(f in text for f in facts) and (
                not item.evidence or covered(item.evidence, node.get_content()) or covered(sentence, item.evidence, 0.6))

        def withhold(node, facts=facts, item=item):
            text = node.get_content()
            return bool(item.evidence) and covered(item.evidence, text) or (
                bool(facts) and all(f in norm(text) for f in facts))

        info = dict(group=item.doc or "-", qid=item.id)
        example = examples_for(answerer, item.question, label, source="gold", **info)
        if example is not None:
            example.answerable = not item.unanswerable and example.answerable
            out.append(example)
        if not item.unanswerable:
            held = examples_for(answerer, item.question, label, withhold, source="gold-withheld", **info)
            if held is not None:
                out.append(held)
    return out


def cmrc_corpus(directory: Path, sets: dict[str, tuple[Path, int]]) -> dict[str, list[tuple]]:
    """Write passages of CMRC files as one corpus folder; (question, id, doc, answers) per set.
    Passages of an earlier call that this one does not write are removed: a work folder reused
    with fewer passages would otherwise index the leftovers too."""
    corpus = directory / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    questions: dict[str, list[tuple]] = {}
    written = set()
    for name, (path, limit) in sets.items():
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
        paragraphs = [p for article in data for p in article["paragraphs"]]
        questions[name] = []
        for para in paragraphs[:limit or None]:
            doc = f"{para['id']}.txt"
            target = corpus / doc
            text = para["context"].strip() + "\n"
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                target.write_text(text, encoding="utf-8")
            written.add(doc)
            questions[name] += [(q["question"], q["id"], doc, [a["text"] for a in q["answers"]])
                                for q in para["qas"]]
    for leftover in corpus.glob("*.txt"):
        if leftover.name not in written:
            leftover.unlink()
    return questions


def cmrc_examples(answerer, questions: list[tuple], source: str) -> list[Example]:
    out = []
    for number, (question, qid, doc, answers) in enumerate(questions):
        refs = [norm(a) for a in answers if norm(a)]

        def label(node, sentence, doc=doc, refs=refs):
            text = norm(sentence)
            return node.metadata.get("doc") == doc and any(r in text for r in refs)

        example = examples_for(answerer, question, label, source=source, group=doc, qid=qid)
        if example is not None:
            out.append(example)
        if number % CMRC_SYNTHETIC_EVERY == 0:
            held = examples_for(answerer, question, label, lambda node, doc=doc: node.metadata.get("doc") == doc,
                                source=source + "-withheld", group=doc, qid=qid)
            if held is not None:
                out.append(held)
    return out


# ---------------------------------------------------------------- fitting and checking

def fit_linear(examples: list[Example]) -> LinearModel:
    """A ranking learned from pairs, then calibrated to a probability.

    Ranking: within each question, the feature difference of a positive and a negative candidate
    (the hardest negatives by the hand-set score, plus a seeded random sample) is classified by
    an L2 logistic regression without intercept (RankNet-like; Burges et al. 2005), so only the
    order within a question is learned. Calibration: a one-feature logistic regression maps the
    best candidate's score to P(it holds the fact asked) over every question, the unanswerable
    and withheld ones included (Platt 1999). lbfgs on rows built in a fixed order: same data,
    same coefficients."""
    from sklearn.linear_model import LogisticRegression

    from qa.answer.features import FEATURES

    rng = np.random.default_rng(SEED)
    hand = FEATURES.index("rule_score")
    diffs = []
    for e in examples:
        positives, negatives = np.flatnonzero(e.labels), np.flatnonzero(e.labels == 0)
        if not len(positives) or not len(negatives):
            continue
        negatives = negatives[np.argsort(-e.rows[negatives, hand], kind="stable")]
        if len(negatives) > NEGATIVES_PER_POSITIVE:
            hard = NEGATIVES_PER_POSITIVE // 2
            rest = rng.choice(negatives[hard:], NEGATIVES_PER_POSITIVE - hard, replace=False)
            negatives = np.concatenate([negatives[:hard], np.sort(rest)])
        for p in positives[:POSITIVES_PER_QUESTION]:
            diffs.append(e.rows[p] - e.rows[negatives])
    pairs = np.vstack(diffs)
    scale = pairs.std(axis=0)
    scale[scale < 1e-9] = 1.0
    rows = np.vstack([pairs, -pairs]) / scale
    labels = np.r_[np.ones(len(pairs)), np.zeros(len(pairs))]
    ranking = LogisticRegression(C=REGULARISATION, fit_intercept=False, max_iter=5000, random_state=SEED)
    ranking.fit(rows, labels)
    weights = ranking.coef_[0] / scale
    best = np.array([[float((e.rows @ weights).max())] for e in examples])
    holds = np.array([int(e.labels[int(np.argmax(e.rows @ weights))]) for e in examples])
    calibration = LogisticRegression(C=REGULARISATION, max_iter=5000, random_state=SEED).fit(best, holds)
    a, c = float(calibration.coef_[0][0]), float(calibration.intercept_[0])
    return LinearModel(a * weights, c)


def fit_trees(examples: list[Example]) -> TreeEnsemble:
    """Gradient-boosted trees (HistGradientBoostingClassifier) on every candidate, labelled by
    whether it holds the fact: P(it does) directly. One thread, a fixed seed and no early stopping
    (no random validation split): same data, same trees."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    rows = np.vstack([e.rows for e in examples])
    labels = np.concatenate([e.labels for e in examples])
    with threadpool_limits(1):  # summed in one order: the same doubles on any machine's threads
        model = HistGradientBoostingClassifier(random_state=SEED, early_stopping=False, **TREES).fit(rows, labels)
    return TreeEnsemble.from_sklearn(model)


def fit(examples: list[Example]) -> LinearModel | TreeEnsemble:
    return (fit_trees if MODEL_KIND == "trees" else fit_linear)(examples)  # MODEL_KIND: see its note


def held_out_gold(gold: list[Example], others: list[Example]) -> list:
    """Our gold scored by document: each document's questions by a model fitted without them."""
    results = []
    for group in sorted({e.group for e in gold}):
        train = others + [e for e in gold if e.group != group]
        results += outcomes(fit(train), [e for e in gold if e.group == group])
    return results


def hand_set() -> LinearModel:
    """The hand-set score as a model: its best candidate is the rules' choice."""
    from qa.answer.features import FEATURES
    return LinearModel(np.eye(len(FEATURES))[FEATURES.index("rule_score")], 0.0)


def model_json(model: LinearModel | TreeEnsemble, threshold: float, info: dict,
               follow: float = FOLLOW_RATIO, confident: float = NEVER) -> str:
    """The model file: its card readable, a tree's nodes on one line each."""
    from qa.answer.features import FEATURES, FEATURES_VERSION
    from qa.answer.ranker import MODEL_FORMAT

    body = model.to_json(DIGITS)
    data = {"format": MODEL_FORMAT, "features_version": FEATURES_VERSION,
            "version": f"{body['kind']}-{FEATURES_VERSION}-seed{SEED}", "features": list(FEATURES),
            "threshold": round(threshold, DIGITS), "follow_ratio": follow, "confident": confident,
            "card": info, "model": "@model"}
    trees = body.pop("trees", None)
    text = json.dumps(body, separators=(",", ":"))
    if trees is not None:
        text = text[:-1] + ',"trees":[\n' + ",\n".join(json.dumps(t, separators=(",", ":")) for t in trees) + "]}"
    return json.dumps(data, ensure_ascii=False, indent=1).replace('"@model"', text) + "\n"


def open_index(config: Config, progress: bool = False):
    from qa.index.build import ensure_index
    from qa.index.index import Index

    ensure_index(config, progress=progress)
    return Index.open(config)


def collect(config: Config, gold_path: Path, work: Path, cmrc_passages: int = CMRC_TRAIN_PASSAGES,
            progress: bool = False) -> dict[str, list[Example]]:
    """Every example: our gold over `config`'s corpus, CMRC train and trial over their own index."""
    from dataclasses import replace

    from qa.answer.answering import Answerer

    ranker = neutral_ranker()
    index = open_index(config, progress)
    gold = gold_examples(Answerer(index, config, ranker=ranker), gold_path)
    questions = cmrc_corpus(work, {"train": (BENCH / "cmrc2018" / "cmrc2018_train.json", cmrc_passages),
                                   "trial": (BENCH / "cmrc2018" / "cmrc2018_trial.json", 0)})
    cmrc_config = replace(config, corpus_dir=work / "corpus", index_dir=work / "index")
    answerer = Answerer(open_index(cmrc_config, progress), cmrc_config, use_commitments=False, ranker=ranker)
    return {"gold": gold, "train": cmrc_examples(answerer, questions["train"], "cmrc-train"),
            "trial": cmrc_examples(answerer, questions["trial"], "cmrc-trial")}


def train(config: Config, gold_path: Path, out_path: Path, work: Path | None = None,
          cmrc_passages: int = CMRC_TRAIN_PASSAGES, progress: bool = False) -> dict:
    """Collect, check held out, fit on everything trained on, write the model; returns its card."""
    config = replace(config, glossary=TRAINING_GLOSSARY)
    work = Path(work or tempfile.mkdtemp(prefix="qa-train-"))
    return write_model(collect(config, gold_path, work, cmrc_passages, progress), out_path, cmrc_passages,
                       config.min_support)


def write_model(data: dict[str, list[Example]], out_path: Path, cmrc_passages: int = CMRC_TRAIN_PASSAGES,
                min_support: float = Config().min_support) -> dict:
    """Check held out, fit on everything trained on (never CMRC trial), choose the decision settings
    on the held-out outcomes (qa/evaluation/ranker_checks.py), write the model; its card."""
    gold_held = held_out_gold(data["gold"], data["train"])
    final = fit(data["train"] + data["gold"])
    trial = outcomes(final, data["trial"])
    threshold = min(allowed_threshold([o.best for o in gold_held if o.source == "gold" and o.answerable]),
                    allowed_threshold([o.best for o in trial if o.source == "cmrc-trial" and o.answerable]))
    sizes = {name: {"questions": len(ex), "candidates": int(sum(len(e.labels) for e in ex)),
                    "positives": int(sum(e.labels.sum() for e in ex))} for name, ex in data.items()}
    sizes["cmrc_train_passages"] = cmrc_passages
    confident, levels = confident_level(gold_held + trial, threshold, min_support)
    info = card(Gates(threshold, min_support, confident), gold_held, trial, sizes, MODEL_KIND,
                outcomes(hand_set(), data["gold"] + data["trial"]))
    follow, tried = follow_ratio(final, [e for e in data["trial"] if e.source == "cmrc-trial"])
    info["follow_ratio_rule"] = (f"largest runner-up share whose CMRC trial containment (<= {MAX_ANSWER_CHARS} "
                                 f"characters) is within {FOLLOW_SLACK} points of the best: {tried}")
    info["confident_rule"] = (f"lowest probability from which a best candidate with support < {min_support} is "
                              f"answered, whose held-out correct abstention on each unanswerable set stays within "
                              f"{CONFIDENT_SLACK} points of the always-applied support gate's: {levels}")
    Path(out_path).write_text(model_json(final, threshold, info, follow, confident), encoding="utf-8")
    return info
