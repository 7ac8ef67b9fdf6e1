"""Issue 13's figures in one run (`qa eval --side-by-side`), each for today's hand-set rules (scorer
and support threshold), the hand-set scorer with the calibrated abstention (qa/answer/abstain.py),
and the learned scorer with it (the product's default):

- Our gold (eval/questions.jsonl) and the shared dev set, reported apart as validation. Both
  learned models were trained on our gold, so its held-out figures (by document) are those of the
  cards of `qa train` and `qa train-abstention`, reported beside.
- CMRC 2018 dev: its 848 passages as a corpus of their own, every question asked; document
  recall@1/@5 and answer containment with answers of at most 400 characters (the rule of
  ../shared/tools/cmrc_check.py).
- NoMIRACL (Chinese test): each query's 10 passages read as the retrieved passages; the
  false-answer rate on the non-relevant sets and the missed-answer rate on the relevant ones.
"""
from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

from qa.config import Config
from qa.evaluation import gold as ev

# name: (QA_ANSWER_SCORER, QA_ABSTENTION)
SETUPS = {"rules": ("rules", "rules"), "rules+abstention": ("rules", "learned"),
          "learned+abstention": ("learned", "learned")}
MAX_LEN = 400
NOMIRACL_FILES = {"non_relevant": "non_relevant/zh.test.vanilla_prompt.jsonl",
                  "relevant": "relevant/zh.test.vanilla_prompt.jsonl"}
PASSAGE_MARK = re.compile(r"\n\n\[\d+\] ")


def answerers(index, config: Config) -> dict:
    from qa.answer.answering import Answerer

    return {name: Answerer(index, replace(config, answer_scorer=scorer, abstention=abstention))
            for name, (scorer, abstention) in SETUPS.items()}


def gold_figures(index, config: Config, paths: list[Path]) -> dict:
    out = {}
    for name, answerer in answerers(index, config).items():
        for path in paths:
            rows = [ev.score_one(item, ev.ask_safely(ev.answerer_fn(answerer), item.question))
                    for item in ev.load_gold(path)]
            out[(path.name, name)] = ev.summarise(rows)
    return out


def cmrc_figures(config: Config, path: Path, work: Path, limit: int = 0) -> dict:
    """Recall and containment on CMRC 2018 dev (first `limit` passages; 0: all)."""
    from qa.evaluation.training import cmrc_corpus, open_index

    questions = cmrc_corpus(work, {"dev": (path, limit)})["dev"]
    cmrc_config = replace(config, corpus_dir=work / "corpus", index_dir=work / "index")
    index = open_index(cmrc_config)
    out = {}
    for name, answerer in answerers(index, cmrc_config).items():
        h1 = h5 = contained = abstained = 0
        for question, _, doc, refs in questions:
            pred = ev.ask_safely(ev.answerer_fn(answerer), question)
            docs = [r.get("doc", "") for r in pred.get("retrieved") or []]
            h1 += docs[:1] == [doc]
            h5 += doc in docs[:5]
            text = ev.norm(ev.strip_markers(pred.get("answer", "")))
            abstained += bool(pred.get("abstained"))
            contained += (not pred.get("abstained") and len(text) <= MAX_LEN
                          and any(ev.norm(r) and ev.norm(r) in text for r in refs))
        n = max(len(questions), 1)
        pct = lambda v: round(100.0 * v / n, 1)
        out[name] = {"questions": len(questions), "recall@1": pct(h1), "recall@5": pct(h5),
                     "containment": pct(contained), "abstained": pct(abstained)}
    return out, index, cmrc_config


def nomiracl_sets(bench: Path) -> dict[str, list[tuple[str, list[tuple[str, str]]]]]:
    """Each file's (question, [(title, text)…]) from its prompt."""
    sets = {}
    for kind, rel in NOMIRACL_FILES.items():
        items = []
        for line in (bench / "nomiracl" / rel).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            prompt = json.loads(line)["prompt"]
            question = prompt.split("QUESTION:\n", 1)[1].split("\n\nCONTEXTS:", 1)[0].strip()
            body = prompt.split("CONTEXTS:\n", 1)[1].rsplit("\n\nOUTPUT:", 1)[0]
            passages = []
            for chunk in PASSAGE_MARK.split("\n\n" + body):
                chunk = re.sub(r"^\[\d+\] ", "", chunk.strip())
                if chunk:
                    title, _, text = chunk.partition(": ")
                    passages.append((title, text or title))
            items.append((question, passages))
        sets[kind] = items
    return sets


def nomiracl_figures(index, config: Config, bench: Path) -> dict:
    """Answer or decline from each query's own 10 passages (in the file's order), with the term
    weights of a Wikipedia index (CMRC's)."""
    from llama_index.core.schema import NodeWithScore, TextNode

    from qa.search.query import analyse

    sets = nomiracl_sets(bench)
    out = {}
    for name, answerer in answerers(index, config).items():
        answered = {}
        for kind, items in sets.items():
            count = 0
            for number, (question, passages) in enumerate(items):
                results = [NodeWithScore(node=TextNode(text=text, id_=f"nomiracl-{kind}-{number}-{i}",
                                                       metadata={"doc": f"{kind}-{number}", "heading": title,
                                                                 "title": title}),
                                         score=1.0 / (1 + i)) for i, (title, text) in enumerate(passages)]
                query = analyse(question, index)
                count += not answerer._compose(question, query, results).abstained
            answered[kind] = (count, len(items))
        false, n_false = answered["non_relevant"]
        kept, n_kept = answered["relevant"]
        out[name] = {"false_answer": round(100.0 * false / max(n_false, 1), 1),
                     "missed_answer": round(100.0 * (n_kept - kept) / max(n_kept, 1), 1),
                     "queries": n_false + n_kept}
    return out


def held_out_cards() -> dict:
    """The held-out figures the model files' cards hold (measured when they were trained)."""
    from qa.answer.abstain import model_file
    from qa.answer.ranker import MODEL_FILE as RANKER

    read = lambda path: json.loads(path.read_text(encoding="utf-8"))["card"] if path.exists() else {}
    ranker = read(RANKER)
    out = {"scorer": ranker.get("held_out", {}), "scorer_rules": ranker.get("held_out_rules", {}), "abstention": {}}
    for scorer in ("rules", "learned"):
        card = read(model_file(scorer))
        out["abstention"][scorer] = {"rules_only": card.get("held_out_rules_only", {}),
                                     "learned": card.get("held_out", {})}
    return out


def run(config: Config, root: Path, bench: Path, work: Path, cmrc_limit: int = 0) -> dict:
    from qa.evaluation.training import open_index

    report = {"gold": {}, "cmrc": {}, "nomiracl": {}, "held_out": held_out_cards()}
    paths = [root / "eval" / "questions.jsonl"]
    dev = root.parent / "shared" / "eval" / "dev.jsonl"
    if dev.exists():
        paths.append(dev)
    figures = gold_figures(open_index(config), config, paths)
    report["gold"] = {f"{g} · {s}": v for (g, s), v in figures.items()}
    cmrc = bench / "cmrc2018" / "cmrc2018_dev.json"
    if cmrc.exists():
        report["cmrc"], index, cmrc_config = cmrc_figures(config, cmrc, work, cmrc_limit)
        if (bench / "nomiracl").exists():
            report["nomiracl"] = nomiracl_figures(index, cmrc_config, bench)
    return report


def format_report(report: dict) -> str:
    lines = ["### 金标准（dev.jsonl 为外部验证集，仅作验证，从不训练）", "",
             "| 集 · 打分 | 准确率 | 正确拒答 | 误拒答 | hit@1 | hit@5 | p50 ms |", "|---|---|---|---|---|---|---|"]
    for key, s in report["gold"].items():
        lines.append(f"| {key} | {s['accuracy']} | {s['abstain_ok']} | {s['false_abstain']} | {s['hit@1']} "
                     f"| {s['hit@5']} | {s['latency_p50']} |")
    if report["cmrc"]:
        lines += ["", "### CMRC 2018 dev（≤400 字的答案包含参考答案）", "",
                  "| 打分 | 问题 | 文档 recall@1 | recall@5 | 答案包含率 | 拒答率 |", "|---|---|---|---|---|---|"]
        for name, s in report["cmrc"].items():
            lines.append(f"| {name} | {s['questions']} | {s['recall@1']} | {s['recall@5']} | {s['containment']} "
                         f"| {s['abstained']} |")
    if report["nomiracl"]:
        lines += ["", "### NoMIRACL（中文测试集，每题 10 段）", "", "| 打分 | 误答率（无关集） | 漏答率（相关集） |",
                  "|---|---|---|"]
        for name, s in report["nomiracl"].items():
            lines.append(f"| {name} | {s['false_answer']} | {s['missed_answer']} |")
    return "\n".join(lines + format_held_out(report.get("held_out", {})))


def format_held_out(cards: dict) -> list[str]:
    """The model cards' held-out figures, hand-set beside learned."""
    lines = []
    scorer, rules = cards.get("scorer", {}), cards.get("scorer_rules", {})
    if scorer:
        lines += ["", "### 作答打分，留出（`qa train` 的卡片：自有金标准按文档、CMRC trial 从未训练）", "",
                  "| 留出集 | 手工：首选句含事实 | 学习：首选句含事实 |", "|---|---|---|"]
        for key, s in scorer.items():
            if s.get("top1") is None:
                continue
            lines.append(f"| {key} | {rules.get(key, {}).get('top1', '-')} | {s.get('top1')} |")
    for scorer, card in cards.get("abstention", {}).items():
        if not card.get("learned"):
            continue
        lines += ["", f"### 拒答，留出（`QA_ANSWER_SCORER={scorer} qa train-abstention` 的卡片：自有金标准按文档、"
                      "CMRC 按段落、NoMIRACL 按问题）", "", "| 指标 | 不用拒答模型 | 学习拒答 |", "|---|---|---|"]
        for key, value in card["learned"].items():
            lines.append(f"| {key} | {card['rules_only'].get(key, '-')} | {value} |")
    return lines
