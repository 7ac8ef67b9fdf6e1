"""`python -m qa.search.fusion_training`: fit the learned retrieval fusion (qa.search.fusion) and
write qa/data/fusion.json with its card. Fixed seed; the same data gives the same bytes.

Data, never the shared dev set (../shared/eval/dev.jsonl) nor CMRC 2018 dev:
- CMRC 2018 train, its first CMRC_TRAIN_PASSAGES passages, and CMRC 2018 trial, indexed together
  as one corpus (one document per passage, as qa.evaluation.training writes them). Train is fitted
  on; trial is held out and only reported.
- Our own gold (eval/questions.jsonl) over corpus/, unanswerable questions left out.

A candidate passage is a positive when it is in the question's document and holds the answer
(CMRC: a reference answer; gold: the evidence or every must_include string); when no candidate
of that document holds it, every candidate of the document is. Checked by grouping: the
questions of each document are scored by a model fitted without any question of that document
(GroupKFold over documents), beside RRF and BM25 alone on the same candidates.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from qa.config import TRAINING_GLOSSARY, Config
from qa.models import LinearModel
from qa.search.fusion import (FEATURES, FUSION_FILE, HAND_SET_LOGS, SCOPE_PARTS, FusionModel, Signals,
                              embedder_key, features)

SEED = 13
CMRC_TRAIN_PASSAGES = 500
FOLDS = 5
REGULARISATION = 1.0  # inverse strength C of the logistic regression's L2 penalty
ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT.parent / "shared" / "bench"


@dataclass
class Example:
    """One question's candidate passages, their features and labels."""

    source: str          # "gold" | "cmrc-train" | "cmrc-trial"
    group: str           # the question's document
    rows: np.ndarray     # candidates × FEATURES
    labels: np.ndarray   # 1 for the question's passage(s)
    docs: np.ndarray     # each candidate's document number
    target: int          # the question's document number
    signals: Signals
    scope: np.ndarray    # candidates × SCOPE_PARTS (place, period and year fit), 0/1


def _example(backend, retriever, query, doc: str, holds, source: str) -> Example | None:
    """`holds(text)`: whether a passage of the question's document holds the answer."""
    from qa.search.retrieval import Scope

    passages = retriever.index.passages
    names = passages.document_names
    if doc not in names:
        return None
    target = names.index(doc)
    text = retriever._text(query)
    signals = backend.signals(text, retriever.index.tokenize(text), retriever._scoped_places(query),
                              retriever.dense_text(query))
    if not len(signals.rows):
        return None
    docs = passages.document_numbers[signals.rows]
    mine = docs == target
    labels = np.array([bool(m) and holds(passages.at(int(r)).get_content())
                       for r, m in zip(signals.rows.tolist(), mine)], dtype=np.int64)
    if not labels.any():
        labels = mine.astype(np.int64)
    fit = Scope(query)
    scope = np.array([fit.parts(passages.at(r).metadata, passages.context(r)) for r in signals.rows.tolist()],
                     dtype=np.float64).reshape(len(signals.rows), len(SCOPE_PARTS))
    return Example(source, doc, features(signals, passages.document_numbers), labels, docs, target,
                   signals, scope)


def _examples(config: Config, items: list[tuple[str, str, object]], source_of) -> list[Example]:
    """(question, doc, holds) items asked of `config`'s index; `source_of(i)` names item i's set."""
    from qa.index.build import ensure_index
    from qa.index.index import Index
    from qa.search.backends import EmbeddedBackend
    from qa.search.query import analyse, uses_glossary
    from qa.search.retrieval import HybridRetriever

    ensure_index(config, progress=False)
    index = Index.open(config)
    retriever = HybridRetriever(index, top_k=config.top_k, rrf_k=config.rrf_k)
    backend = EmbeddedBackend(index)
    queries = [analyse(q, index, uses_glossary(config.glossary, index)) for q, _, _ in items]
    retriever.prepare(queries)
    out = []
    for i, (query, (_, doc, holds)) in enumerate(zip(queries, items)):
        example = _example(backend, retriever, query, doc, holds, source_of(i))
        if example is not None:
            out.append(example)
    return out


def gold_examples(config: Config, gold_path: Path) -> list[Example]:
    from qa.evaluation.gold import covered, load_gold, norm

    items = []
    for item in load_gold(gold_path):
        if item.unanswerable or not item.doc:
            continue
        facts = [norm(m) for m in item.must_include]

        def holds(text, item=item, facts=facts):
            return (bool(item.evidence) and covered(item.evidence, text)) or (
                bool(facts) and all(f in norm(text) for f in facts))
        items.append((item.question, item.doc, holds))
    return _examples(config, items, lambda i: "gold")


def cmrc_examples(config: Config, work: Path, passages: int) -> list[Example]:
    from qa.evaluation.gold import norm
    from qa.evaluation.training import cmrc_corpus

    sets = cmrc_corpus(work, {"train": (BENCH / "cmrc2018" / "cmrc2018_train.json", passages),
                              "trial": (BENCH / "cmrc2018" / "cmrc2018_trial.json", 0)})
    items, sources = [], []
    for name, questions in sets.items():
        for question, _, doc, answers in questions:
            refs = [norm(a) for a in answers if norm(a)]
            items.append((question, doc, lambda text, refs=refs: any(r in norm(text) for r in refs)))
            sources.append(f"cmrc-{name}")
    cmrc_config = replace(config, corpus_dir=work / "corpus", index_dir=work / "index")
    return _examples(cmrc_config, items, sources.__getitem__)


def fit(examples: list[Example]) -> FusionModel:
    """Pointwise L2 logistic regression on standardised features and scope parts (lbfgs,
    fixed seed), each question weighing alike however many candidates it has; the
    scaling is folded into the written weights. (Weighing our gold as much as all of CMRC train
    held out no better.)"""
    from sklearn.linear_model import LogisticRegression

    rows = np.vstack([np.column_stack([e.rows, e.scope]) for e in examples])
    labels = np.concatenate([e.labels for e in examples])
    weights = np.concatenate([np.full(len(e.labels), 1.0 / len(e.labels)) for e in examples])
    weights *= len(weights) / weights.sum()
    mean, scale = rows.mean(axis=0), rows.std(axis=0)
    scale[scale < 1e-9] = 1.0
    model = LogisticRegression(C=REGULARISATION, max_iter=5000, random_state=SEED)
    model.fit((rows - mean) / scale, labels, sample_weight=weights)
    coef = model.coef_[0] / scale
    n = len(FEATURES)
    return FusionModel(LinearModel(coef[:n], float(model.intercept_[0] - coef @ mean)), {},
                       tuple(float(w) for w in coef[n:]))


def learned_scores(model: FusionModel, e: Example) -> np.ndarray:
    """The log of what retrieval ranks by: the odds times the scope parts' learned multipliers."""
    return model.logits(e.rows) + e.scope @ np.array(model.scope_weights)


def hand_set_factor(e: Example) -> np.ndarray:
    """The scope factor retrieval gives RRF scores."""
    return np.exp(e.scope @ np.array(HAND_SET_LOGS))


def _rrf_scores(s: Signals, k: int = 60) -> np.ndarray:
    position = {name: {row: rank for rank, row in enumerate(r, start=1)} for name, r in s.rankings.items()}
    return np.array([sum(1.0 / (k + p[row]) for p in position.values() if row in p) for row in s.rows.tolist()])


def recall(examples: list[Example], score) -> dict:
    """Document recall@1 and @5 (the question's document among the first five passages)."""
    at1 = at5 = 0
    for e in examples:
        order = np.argsort(-score(e), kind="stable")
        docs = e.docs[order]
        at1 += bool(len(docs)) and docs[0] == e.target
        at5 += e.target in docs[:5]
    n = max(1, len(examples))
    return {"questions": len(examples), "recall@1": round(100 * at1 / n, 1), "recall@5": round(100 * at5 / n, 1)}


def compare(examples: list[Example], model_of) -> dict:
    """Learned (each example scored by `model_of(example)`), RRF and BM25 alone, each with the
    question's scope as retrieval applies it (RRF and BM25: the hand-set factor)."""
    return {"learned": recall(examples, lambda e: learned_scores(model_of(e), e)),
            "rrf": recall(examples, lambda e: _rrf_scores(e.signals) * hand_set_factor(e)),
            "bm25": recall(examples, lambda e: e.rows[:, FEATURES.index("bm25")] * hand_set_factor(e))}


def held_out(train: list[Example]) -> dict:
    """GroupKFold over documents: each document's questions scored by a model fitted without them."""
    from sklearn.model_selection import GroupKFold

    groups = np.array([e.group for e in train])
    model_of = {}
    for fitted, held in GroupKFold(n_splits=FOLDS).split(np.zeros(len(train)), groups=groups):
        model = fit([train[i] for i in fitted])
        model_of.update({int(i): model for i in held})
    numbered = {id(e): i for i, e in enumerate(train)}
    by_source = {}
    for source in sorted({e.source for e in train}):
        part = [e for e in train if e.source == source]
        by_source[source] = compare(part, lambda e: model_of[numbered[id(e)]])
    return by_source


def data_hash(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]


def fitted_model(gold: list[Example], cmrc: list[Example], embedder: str, gold_path: Path,
                 passages: int) -> FusionModel:
    """Held-out checks, then the model fitted on our gold and CMRC train, with its card."""
    fitted = gold + [e for e in cmrc if e.source == "cmrc-train"]
    trial = [e for e in cmrc if e.source == "cmrc-trial"]
    checks = held_out(fitted)
    model = fit(fitted)
    checks["cmrc-trial (never fitted on)"] = compare(trial, lambda e: model)
    card = {"embedder": embedder_key(embedder), "seed": SEED,
            "model": f"sklearn LogisticRegression(C={REGULARISATION}), standardised features, "
                     "each question weighing alike",
            "training": {"gold": str(Path(gold_path).name), "gold_questions": len(gold),
                         "cmrc_train_passages": passages,
                         "cmrc_train_questions": len(fitted) - len(gold),
                         "data_sha256": data_hash([gold_path, BENCH / "cmrc2018" / "cmrc2018_train.json"])},
            "held_out": checks}
    return FusionModel(model.model, card, model.scope_weights)


def train(config: Config, gold_path: Path, out_path: Path, work: Path, passages: int) -> dict:
    from qa.index.index import Index
    config = replace(config, glossary=TRAINING_GLOSSARY)

    gold = gold_examples(config, gold_path)
    cmrc = cmrc_examples(config, work, passages)
    model = fitted_model(gold, cmrc, Index.open(config).model.get("id", ""), gold_path, passages)
    Path(out_path).write_text(model.to_json(), encoding="utf-8")
    return model.card


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="拟合检索融合模型（qa/data/fusion.json）")
    parser.add_argument("--gold", type=Path, default=ROOT / "eval" / "questions.jsonl")
    parser.add_argument("--out", type=Path, default=FUSION_FILE)
    parser.add_argument("--work", type=Path, default=None, help="CMRC 语料与索引目录（可复用）")
    parser.add_argument("--passages", type=int, default=CMRC_TRAIN_PASSAGES)
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="qa-fusion-"))
    card = train(replace(Config.from_env(), fusion="rrf"), args.gold, args.out, work, args.passages)
    print(json.dumps(card["held_out"], ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
