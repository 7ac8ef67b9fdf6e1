"""A learned project filter measured against the rule filter (qa.commitments.project_filter).

The issue of how to tell a project from a heading or programme could be learned: logistic
regression over small features of a candidate (each feature one pure function below). This
module trains it on the commitments gold and measures both ways held out by document, so the
choice between them is made on figures (eval/COMMITMENTS.md). Extraction uses the rules: they
measured better; `qa eval --commitments --train` repeats the comparison and writes the model.

Candidates (qa.commitments.projects) of the gold's annotated sentences are labelled by the gold:
a candidate is a project when a gold project of its document, in an overlapping sentence, has
the same name (character F1 ≥ NAME_MATCH). Figures are held out by document: for each annotated
document, a model trained on the others filters that document's candidates, and the whole
extraction is scored against that document's gold, beside the rule filter on the same document.
The final model is trained on every document and written with its card (one command, fixed seed).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import math
import re

from qa.commitments.extract import extract, passage_groups, project_candidates
from qa.commitments.lexicon import pos_tagger
from qa.commitments.project_filter import LEANS_ON, NOT_A_NAME, PROPER_POS, generic_words, specific
from qa.commitments.project_filter import accept as rule_accept
from qa.commitments.projects import COMPLETION, COUNT_FIGURE, NOT_YET, UNDERWAY, Candidate, facility
from qa.evaluation.commitments import NAME_MATCH, Gold, char_f1, in_scope, load_gold, overlap, score

SEED = 14
THRESHOLD = 0.5


# ---------------------------------------------------------------- features: one small function each

def _words(name: str) -> list:
    return pos_tagger().lcut(re.sub(r"“[^”]*”", "", name))


def pattern(c: Candidate) -> dict:
    return {f"pattern={c.pattern}": 1.0, "in_box": float(bool(c.box))}


def ending(c: Candidate) -> dict:
    return {f"end1={c.name[-1:]}": 1.0, f"end2={c.name[-2:]}": 1.0}


def words(c: Candidate) -> dict:
    """How much of the name is planning language, proper nouns or words no dictionary has."""
    tagger, generic = pos_tagger(), generic_words()
    found = [w for w in _words(c.name) if len(w.word) >= 2]
    total = max(len(found), 1)
    return {"generic_share": sum(w.word in generic for w in found) / total,
            "proper_share": sum(w.flag in PROPER_POS for w in found) / total,
            "unknown_share": sum(w.word not in tagger.tokenizer.FREQ for w in found) / total,
            "verb_share": sum(w.flag.startswith("v") for w in found) / total}


def shape(c: Candidate) -> dict:
    return {"length": min(len(c.name), 30) / 30, "digit": float(bool(re.search(r"\d|第[一二三四五六七八九十]", c.name))),
            "quoted": float("“" in c.name), "count_figure": float(bool(COUNT_FIGURE.search(c.name))),
            "not_a_name": float(bool(NOT_A_NAME.search(c.name)))}


def rules(c: Candidate) -> dict:
    return {"specific": float(specific(c.name)), "facility": float(facility(c.name))}


def context(c: Candidate) -> dict:
    before = c.clause[:max(c.clause.find(c.name), 0)]
    return {"leans_on": float(bool(LEANS_ON.search(before))), "done": float(bool(COMPLETION.search(c.clause))),
            "underway": float(bool(UNDERWAY.search(c.clause))), "not_yet": float(bool(NOT_YET.search(c.clause))),
            "clause_start": float(c.clause.strip().startswith(c.name))}


FEATURES = (pattern, ending, words, shape, rules, context)


def featurize(c: Candidate) -> dict[str, float]:
    out: dict[str, float] = {}
    for feature in FEATURES:
        out.update(feature(c))
    return out


def probability(c: Candidate, model: dict) -> float:
    z = model["bias"] + sum(model["weights"].get(k, 0.0) * v for k, v in featurize(c).items())
    return 1 / (1 + math.exp(-z))


@dataclass
class Labelled:
    doc: str
    features: dict[str, float]
    label: int


def corpus(corpus_dir: Path):
    from qa.ingest.node_parser import HeadingNodeParser
    from qa.ingest.loading import load_documents

    documents, _ = load_documents(corpus_dir)
    nodes = HeadingNodeParser().get_nodes_from_documents(documents)
    by_doc: dict[str, list] = {}
    for node in nodes:
        by_doc.setdefault(node.metadata["doc"], []).append(node)
    return documents, by_doc


def labelled_candidates(documents, by_doc, gold: Gold) -> list[Labelled]:
    projects = [g for g in gold.records if g["kind"] == "project"]
    rows = []
    for document in documents:
        meta = dict(document.metadata)
        for node in by_doc.get(meta["doc"], []):
            if node.metadata.get("type") not in ("text", "box_item"):
                continue
            for group, box in passage_groups(node, meta):
                found, item = project_candidates(group, box)
                rows += [_labelled(c, meta["doc"], projects) for c in found + ([item] if item else [])
                         if in_scope(gold, {"doc": meta["doc"], "kind": "project", "sentence": c.statement.text})]
    return rows


def _labelled(c, doc: str, projects: list[dict]) -> Labelled:
    hit = any(g["doc"] == doc and overlap(g["sentence"], c.statement.text)
              and char_f1(g["name"], c.name) >= NAME_MATCH for g in projects)
    return Labelled(doc, featurize(c), int(hit))


def fit(rows: list[Labelled]) -> dict:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = DictVectorizer()
    x = vectorizer.fit_transform([r.features for r in rows])
    model = LogisticRegression(C=1.0, max_iter=2000, random_state=SEED)
    model.fit(x, [r.label for r in rows])
    weights = {name: round(float(w), 6) for name, w in zip(vectorizer.feature_names_, model.coef_[0])}
    return {"bias": round(float(model.intercept_[0]), 6), "weights": weights, "threshold": THRESHOLD}


def _projects_scored(documents, by_doc, gold: Gold, accept) -> dict:
    predictions = []
    for document in documents:
        for r in extract(document, by_doc.get(document.metadata["doc"], []), accept).records:
            if r.kind == "project":
                predictions.append({"kind": "project", "doc": r.source.doc, "name": r.name,
                                    "status": r.status, "sentence": r.source.sentence, **r.facts()})
    return score(predictions, gold)["project"].to_json()


def _only(gold: Gold, doc: str) -> Gold:
    return Gold([g for g in gold.records if g["doc"] == doc],
                {d: k for d, k in gold.documents.items() if d == doc},
                {d: s for d, s in gold.sentences.items() if d == doc})


def train(corpus_dir: Path, gold_path: Path, out: Path) -> dict:
    """Held-out figures per document (learned vs rules), then the final model and its card."""
    gold = load_gold(gold_path)
    documents, by_doc = corpus(corpus_dir)
    rows = labelled_candidates(documents, by_doc, gold)
    held_out = {}
    for doc in sorted({r.doc for r in rows}):
        model = fit([r for r in rows if r.doc != doc])
        docs = [d for d in documents if d.metadata["doc"] == doc]
        learned = _projects_scored(docs, by_doc, _only(gold, doc),
                                   lambda c, m=model: probability(c, m) >= m["threshold"])
        rules = _projects_scored(docs, by_doc, _only(gold, doc), rule_accept)
        held_out[doc] = {"learned": _counts(learned), "rules": _counts(rules)}
    pooled = {way: _pool([v[way] for v in held_out.values()]) for way in ("learned", "rules")}
    final = fit(rows)
    data = Path(gold_path).read_bytes()
    final["card"] = {"features": [f.__name__ for f in FEATURES],
                     "seed": SEED, "model": "sklearn LogisticRegression(C=1.0)", "threshold": THRESHOLD,
                     "training_data": str(Path(gold_path).name), "training_sha256": hashlib.sha256(data).hexdigest(),
                     "candidates": len(rows), "positives": sum(r.label for r in rows),
                     "held_out_by_document": held_out, "held_out_pooled": pooled}
    Path(out).write_text(json.dumps(final, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return final["card"]


def _counts(s: dict) -> dict:
    return {k: s[k] for k in ("gold", "predicted", "matched", "precision", "recall")}


def _pool(parts: list[dict]) -> dict:
    total = {k: sum(p[k] for p in parts) for k in ("gold", "predicted", "matched")}
    total["precision"] = round(100 * total["matched"] / total["predicted"], 1) if total["predicted"] else None
    total["recall"] = round(100 * total["matched"] / total["gold"], 1) if total["gold"] else None
    return total


def format_card(card: dict) -> str:
    lines = ["| 留出文档 | 方法 | 金标准 | 抽取 | 匹配 | 精确率 | 召回率 |", "|---|---|---:|---:|---:|---:|---:|"]
    for doc, ways in card["held_out_by_document"].items():
        for way, c in ways.items():
            lines.append(f"| {doc} | {way} | {c['gold']} | {c['predicted']} | {c['matched']} | "
                         f"{c['precision']} | {c['recall']} |")
    for way, c in card["held_out_pooled"].items():
        lines.append(f"| 合计 | {way} | {c['gold']} | {c['predicted']} | {c['matched']} | {c['precision']} | {c['recall']} |")
    return "\n".join(lines)
