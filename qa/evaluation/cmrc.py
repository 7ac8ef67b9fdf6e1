"""CMRC 2018 as an open-domain check beyond the planning corpus: index its 848 passages as a
corpus of their own, ask every question, and report passage recall, answer containment and the
official character-level EM/F1 (Cui et al., EMNLP 2019).
"""
from __future__ import annotations

import json
import re
import statistics
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from qa.config import Config
from qa.evaluation.gold import answerer_fn, ask_safely, norm, strip_markers

CMRC_PUNCT = set("-:_*^/\\~`+=，。：？！“”；’《》……·、「」（）－～『』")


def cmrc_tokens(text: str) -> list[str]:
    """Official CMRC segmentation: each Chinese character one token, other runs split on words."""
    out, run = [], ""
    for char in str(text).lower().strip():
        if char in CMRC_PUNCT:
            continue
        if re.match(r"[\u4e00-\u9fa5]", char):
            out.extend(re.findall(r"\w+|[^\w\s]", run))
            run = ""
            out.append(char)
        else:
            run += char
    return out + re.findall(r"\w+|[^\w\s]", run)


def _lcs(a: list[str], b: list[str]) -> int:
    best, prev = 0, [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            if x == y:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


def cmrc_f1(answers: list[str], prediction: str) -> float:
    pred, scores = cmrc_tokens(prediction), [0.0]
    for ans in answers:
        ref = cmrc_tokens(ans)
        common = _lcs(ref, pred)
        if common:
            p, r = common / len(pred), common / len(ref)
            scores.append(2 * p * r / (p + r))
    return max(scores)


def cmrc_em(answers: list[str], prediction: str) -> bool:
    clean = lambda s: "".join(c for c in str(s).lower().strip() if c not in CMRC_PUNCT)
    return any(clean(a) == clean(prediction) for a in answers)


@dataclass
class CmrcReport:
    passages: int
    questions: int
    recall: dict[str, float]
    containment: float
    em: float
    f1: float
    abstained: float
    latency_p50: float


def run_cmrc(path: Path, work_dir: Path | None = None, limit: int | None = None,
             progress: bool = False, config: Config | None = None) -> CmrcReport:
    """Index the CMRC passages as their own corpus (never in corpus/) and ask every question,
    with the product's settings (`config`, default: defaults and QA_* variables) but the corpus
    and index folders. Each passage is one document holding its text alone, as
    ../shared/tools/cmrc_check.py writes it, so the two measure the same thing."""
    from qa.app.api import Assistant

    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="cmrc-"))
    corpus = work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    questions = []
    for article in data:
        for para in article["paragraphs"]:
            target = corpus / f"{para['id']}.txt"
            text = para["context"].strip() + "\n"
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                target.write_text(text, encoding="utf-8")
            questions += [(q["question"], para["id"], [a["text"] for a in q["answers"]]) for q in para["qas"]]
    if limit:
        questions = questions[:limit]
    settings = replace(config or Config.from_env(), corpus_dir=corpus, index_dir=work / "index")
    assistant = Assistant(settings, progress=progress)
    hits = {k: 0 for k in (1, 5)}
    contained = em = abstained = 0
    f1, latencies = 0.0, []
    for question, pid, answers in questions:
        pred = ask_safely(answerer_fn(assistant.answerer), question)
        # the documents of the first k passages, as cmrc_check.py counts them
        docs = [Path(r.get("doc", "")).stem for r in pred.get("retrieved") or []]
        for k in hits:
            hits[k] += pid in docs[:k]
        text = "" if pred.get("abstained") else strip_markers(pred.get("answer", ""))
        contained += any(norm(a) and norm(a) in norm(text) for a in answers)
        em += cmrc_em(answers, text)
        f1 += cmrc_f1(answers, text)
        abstained += bool(pred.get("abstained"))
        latencies.append(float(pred.get("latency_ms") or 0.0))
    n = max(len(questions), 1)
    return CmrcReport(passages=len(list(corpus.glob("*.txt"))), questions=len(questions),
                      recall={f"recall@{k}": round(100.0 * v / n, 1) for k, v in hits.items()},
                      containment=round(100.0 * contained / n, 1), em=round(100.0 * em / n, 1),
                      f1=round(100.0 * f1 / n, 1), abstained=round(100.0 * abstained / n, 1),
                      latency_p50=round(statistics.median(latencies), 1) if latencies else 0.0)


def format_cmrc(r: CmrcReport) -> str:
    return (f"CMRC 2018 dev：{r.passages} 篇段落，{r.questions} 个问题\n"
            f"| recall@1 | recall@5 | 答案包含率 | EM | F1 | 拒答率 | 延迟 p50 (ms) |\n|---|---|---|---|---|---|---|\n"
            f"| {r.recall['recall@1']} | {r.recall['recall@5']} | {r.containment} | {r.em} | {r.f1} "
            f"| {r.abstained} | {r.latency_p50} |")
