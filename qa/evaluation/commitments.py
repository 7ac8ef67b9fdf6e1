"""Scoring extracted commitments against a hand-written gold set, per kind and per field.

The gold file (JSON lines; format and method in eval/COMMITMENTS.md) holds scope lines — a whole
document, a whole document for some kinds, or single sentences — and one line per commitment
found in that scope. Predicted records are the `qa commitments --json` list, so what outside
evaluators read is what is scored. A prediction counts only inside the gold's scope; it matches
a gold record of its document and kind whose sentence overlaps its own and whose identity agrees:
the value for a target, the name for a project, the lead for a responsibility. Sentences are
compared after NFKC and without whitespace, so how either side splits a passage matters little.
"""
from __future__ import annotations

import json
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import InputError

KINDS = ("target", "project", "responsibility")
NAME_MATCH = 0.7  # character F1 at which two names are the same name (see eval/COMMITMENTS.md)
TASK_MATCH = 0.5
# fields scored per kind; the first ones decide whether a record is entirely right
FIELDS = {"target": ("name", "value", "unit", "year", "status", "baseline", "baseline_year", "attribute"),
          "project": ("name", "status", "investment", "scale", "location", "year"),
          "responsibility": ("lead", "verb", "task", "partners", "status")}
KEY_FIELDS = {"target": ("name", "value", "year", "status"), "project": ("name", "status"),
              "responsibility": ("lead", "verb", "task")}
VALUE_NOISE = str.maketrans("", "", "余多约近超 ")


def norm(text) -> str:
    return "".join(unicodedata.normalize("NFKC", str(text or "")).split())


def char_f1(a: str, b: str) -> float:
    """Overlap of two strings' characters (as multisets): 1.0 for the same text."""
    a, b = norm(a), norm(b)
    if not a or not b:
        return float(a == b)
    pool, common = defaultdict(int), 0
    for ch in a:
        pool[ch] += 1
    for ch in b:
        if pool[ch] > 0:
            pool[ch] -= 1
            common += 1
    return 2 * common / (len(a) + len(b))


def same_value(a, b) -> bool:
    return norm(a).translate(VALUE_NOISE) == norm(b).translate(VALUE_NOISE) != ""


def field_correct(name: str, pred, gold) -> bool:
    if name in ("name", "lead", "location"):
        return char_f1(pred, gold) >= NAME_MATCH
    if name == "task":
        return char_f1(pred, gold) >= TASK_MATCH
    if name in ("value", "investment", "scale", "baseline"):
        return same_value(pred, gold)
    if name == "partners":
        return sorted(map(norm, pred or [])) == sorted(map(norm, gold or []))
    return norm(pred) == norm(gold)


def filled(value) -> bool:
    return bool(value) and value != [] and norm(value) != ""


@dataclass
class Gold:
    records: list[dict]
    documents: dict[str, set[str]]  # doc → kinds wholly annotated
    sentences: dict[str, list[tuple[str, tuple[str, ...]]]]  # doc → (sentence, kinds annotated in it)


def load_gold(path: Path) -> Gold:
    records, documents, sentences = [], defaultdict(set), defaultdict(list)
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"无法读取承诺金标准 {path}：{exc.strerror}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise InputError(f"承诺金标准第 {number} 行不是有效的 JSON") from exc
        if row.get("scope") == "document":
            documents[row["doc"]].update(row.get("kinds") or KINDS)
        elif row.get("scope") == "sentence":
            sentences[row["doc"]].append((norm(row["sentence"]), tuple(row.get("kinds") or KINDS)))
        elif row.get("kind") in KINDS:
            records.append(row)
        else:
            raise InputError(f"承诺金标准第 {number} 行既不是范围也不是记录")
    return Gold(records, dict(documents), dict(sentences))


def load_golds(paths: list[Path]) -> Gold:
    """Several gold files scored as one (their scopes must not overlap)."""
    merged = Gold([], {}, {})
    for path in paths:
        gold = load_gold(path)
        merged.records += gold.records
        for doc, kinds in gold.documents.items():
            merged.documents[doc] = merged.documents.get(doc, set()) | kinds
        for doc, sentences in gold.sentences.items():
            merged.sentences[doc] = merged.sentences.get(doc, []) + sentences
    return merged


def overlap(a: str, b: str) -> bool:
    """Two sentences are the same place in a document when one holds the other."""
    a, b = norm(a), norm(b)
    return bool(a) and bool(b) and (a in b or b in a)


def in_scope(gold: Gold, record: dict) -> bool:
    doc = record.get("doc", "")
    if record.get("kind") in gold.documents.get(doc, ()):
        return True
    return any(record.get("kind") in kinds and overlap(s, record.get("sentence", ""))
               for s, kinds in gold.sentences.get(doc, ()))


def identity(kind: str, pred: dict, gold: dict) -> float:
    """How well a prediction stands for a gold record of the same sentence (0 = not at all)."""
    if kind == "target":
        return same_value(pred.get("value"), gold.get("value")) * (1 + char_f1(pred.get("name"), gold.get("name")))
    if kind == "project":
        score = char_f1(pred.get("name"), gold.get("name"))
        return score if score >= NAME_MATCH else 0.0
    score = char_f1(pred.get("lead"), gold.get("lead"))
    return score + char_f1(pred.get("task"), gold.get("task")) if score >= NAME_MATCH else 0.0


@dataclass
class KindScore:
    kind: str
    gold: int = 0
    predicted: int = 0
    matched: int = 0
    entirely_right: int = 0
    fields: dict[str, dict[str, int]] = field(default_factory=dict)
    misses: list[dict] = field(default_factory=list)
    spurious: list[dict] = field(default_factory=list)

    @staticmethod
    def ratio(a: int, b: int) -> float | None:
        return round(100 * a / b, 1) if b else None

    def to_json(self) -> dict:
        return {"gold": self.gold, "predicted": self.predicted, "matched": self.matched,
                "precision": self.ratio(self.matched, self.predicted), "recall": self.ratio(self.matched, self.gold),
                "entirely_right_precision": self.ratio(self.entirely_right, self.predicted),
                "fields": {name: {"precision": self.ratio(c["right_filled"], c["pred_filled"]),
                                  "recall": self.ratio(c["right_gold"], c["gold_filled"]), **c}
                           for name, c in self.fields.items()}}


def score(predictions: list[dict], gold: Gold) -> dict[str, KindScore]:
    """Precision and recall of records per kind, and of each field, over the gold's scope."""
    scores = {k: KindScore(k) for k in KINDS}
    for kind in KINDS:
        result = scores[kind]
        golds = [g for g in gold.records if g["kind"] == kind]
        preds = [p for p in predictions if p.get("kind") == kind and in_scope(gold, p)]
        result.gold, result.predicted = len(golds), len(preds)
        pairs = []
        for gi, g in enumerate(golds):
            for pi, p in enumerate(preds):
                if p.get("doc") != g["doc"] or not overlap(g["sentence"], p.get("sentence")):
                    continue
                s = identity(kind, p, g)
                if s > 0:
                    pairs.append((s, gi, pi))
        used_g, used_p, matches = set(), set(), []
        for s, gi, pi in sorted(pairs, reverse=True):
            if gi not in used_g and pi not in used_p:
                used_g.add(gi)
                used_p.add(pi)
                matches.append((golds[gi], preds[pi]))
        result.matched = len(matches)
        result.misses = [g for i, g in enumerate(golds) if i not in used_g]
        result.spurious = [p for i, p in enumerate(preds) if i not in used_p]
        _score_fields(result, kind, golds, preds, matches)
    return scores


def _score_fields(result: KindScore, kind: str, golds: list[dict], preds: list[dict], matches) -> None:
    for name in FIELDS[kind]:
        scored_golds = [g for g in golds if name in g]
        counts = {"gold_filled": sum(filled(g[name]) for g in scored_golds),
                  "pred_filled": 0, "right_filled": 0, "right_gold": 0}
        matched_preds = {id(p): g for g, p in matches}
        for p in preds:
            g = matched_preds.get(id(p))
            if not filled(p.get(name)) or (g is not None and name not in g):
                continue
            counts["pred_filled"] += 1
            if g is not None and filled(g[name]) and field_correct(name, p.get(name), g[name]):
                counts["right_filled"] += 1
        counts["right_gold"] = sum(1 for g, p in matches if name in g and filled(g[name])
                                   and field_correct(name, p.get(name), g[name]))
        if scored_golds:
            result.fields[name] = counts
    result.entirely_right = sum(
        all(field_correct(f, p.get(f), g.get(f)) for f in KEY_FIELDS[kind] if f in g) for g, p in matches)


KIND_LABELS = {"target": "目标指标", "project": "项目", "responsibility": "责任分工"}


def format_scores(scores: dict[str, KindScore]) -> str:
    """Two Markdown tables: records per kind, then each field."""
    def pct(v):
        return "—" if v is None else f"{v:.1f}"
    lines = ["| 类型 | 金标准 | 抽取 | 匹配 | 精确率 | 召回率 | 关键字段全对的精确率 |", "|---|---:|---:|---:|---:|---:|---:|"]
    for kind, s in scores.items():
        j = s.to_json()
        lines.append(f"| {KIND_LABELS[kind]} | {s.gold} | {s.predicted} | {s.matched} | {pct(j['precision'])} | "
                     f"{pct(j['recall'])} | {pct(j['entirely_right_precision'])} |")
    lines += ["", "| 类型 | 字段 | 金标准有值 | 抽取有值 | 精确率 | 召回率 |", "|---|---|---:|---:|---:|---:|"]
    for kind, s in scores.items():
        for name, c in s.to_json()["fields"].items():
            lines.append(f"| {KIND_LABELS[kind]} | {name} | {c['gold_filled']} | {c['pred_filled']} | "
                         f"{pct(c['precision'])} | {pct(c['recall'])} |")
    return "\n".join(lines)


def format_errors(scores: dict[str, KindScore], limit: int = 15) -> str:
    lines = []
    for kind, s in scores.items():
        for label, rows in (("漏抽", s.misses), ("多抽", s.spurious)):
            for r in rows[:limit]:
                what = r.get("name") or r.get("lead") or ""
                lines.append(f"[{KIND_LABELS[kind]}·{label}] {what} {r.get('value', '')}｜{norm(r.get('sentence'))[:60]}")
    return "\n".join(lines)
