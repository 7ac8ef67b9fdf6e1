"""Evaluation harness: score configurations against gold questions, and run the CMRC 2018 check.

Evidence and facts are matched with the rule of ../shared/tools/score_qa.py (NFKC, lower case,
no whitespace, 〔〕﹝﹞ → [], evidence covered when ≥ 80% of its characters match in order), so
our accuracy and the lead's scorer agree on the same predictions.
"""
from __future__ import annotations

import json
import re
import statistics
import time
import unicodedata
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Callable

from qa.config import Config
from qa.errors import InputError, QAError

MAX_ANSWER_LEN = 400
KS = (1, 3, 5, 10)
CONFIGS = ("bm25", "dense", "hybrid", "hybrid+commitments", "hybrid+commitments+learned", "peer")
PRODUCT_CONFIG = "hybrid+commitments"  # what `qa ask` and the web app run
MARKERS = re.compile(r"\[\d+(?:[,，]\s*\d+)*\]|【\d+】|\^\d+")
SENTENCE = re.compile(r"[^。！？；!?;\n]+[。！？；!?;]?")

AnswerFn = Callable[[str], dict]


def norm(text: str) -> str:
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or "").lower())
    return text.replace("〔", "[").replace("〕", "]").replace("﹝", "[").replace("﹞", "]")


def strip_markers(text: str) -> str:
    return MARKERS.sub("", text or "")


def covered(evidence: str, passage: str, need: float = 0.8) -> bool:
    """Evidence found in a passage despite whitespace and table reformatting."""
    e, p = norm(evidence), norm(passage)
    if not e:
        return False
    if e in p:
        return True
    blocks = SequenceMatcher(None, e, p, autojunk=False).get_matching_blocks()
    return sum(b.size for b in blocks) >= need * len(e)


@dataclass
class GoldItem:
    id: str
    question: str
    category: str
    style: str = ""
    doc: str = ""
    answer: str = ""
    must_include: list[str] = field(default_factory=list)
    evidence: str = ""
    absent: list[str] = field(default_factory=list)

    @property
    def unanswerable(self) -> bool:
        return self.category == "unanswerable"


def load_gold(path: Path) -> list[GoldItem]:
    names = set(GoldItem.__dataclass_fields__)
    with open(path, encoding="utf-8") as handle:
        return [GoldItem(**{k: v for k, v in json.loads(line).items() if k in names})
                for line in handle if line.strip()]


@dataclass
class Scored:
    """One question's outcome; None where a metric does not apply (e.g. hit@k of unanswerables)."""
    id: str
    category: str
    style: str
    unanswerable: bool
    question: str
    expected: list[str]
    answer: str
    abstained: bool
    ok: bool
    has_facts: bool | None = None
    grounded: bool | None = None
    rank: int | None = None          # first retrieved passage covering the evidence (1-based)
    cited: int = 0
    cited_with_fact: int = 0
    latency_ms: float = 0.0


def score_one(item: GoldItem, pred: dict) -> Scored:
    answer = strip_markers(pred.get("answer", ""))
    na = norm(answer)
    abstained = bool(pred.get("abstained"))
    row = Scored(item.id, item.category, item.style, item.unanswerable, item.question,
                 item.must_include, pred.get("answer", ""), abstained, ok=False,
                 latency_ms=float(pred.get("latency_ms") or 0.0))
    if item.unanswerable:
        row.ok = abstained
        return row
    facts = [norm(m) for m in item.must_include]
    cites = [norm(c.get("text", "")) for c in pred.get("citations") or []]
    row.has_facts = all(f in na for f in facts) and not abstained
    row.ok = row.has_facts and len(na) <= MAX_ANSWER_LEN
    row.grounded = row.ok and all(f in "".join(cites) for f in facts)
    if not abstained:
        row.cited = len(cites)
        row.cited_with_fact = sum(any(f in c for f in facts) for c in cites)
    passages = [c.get("text", "") for c in (pred.get("retrieved") or pred.get("citations") or [])]
    if item.evidence:
        row.rank = next((i for i, t in enumerate(passages[:max(KS)], 1) if covered(item.evidence, t)), None)
    return row


def _pct(values: list) -> float | None:
    return round(100.0 * sum(values) / len(values), 1) if values else None


def summarise(rows: list[Scored]) -> dict:
    ans = [r for r in rows if not r.unanswerable]
    un = [r for r in rows if r.unanswerable]
    latencies = sorted(r.latency_ms for r in rows)
    cited = sum(r.cited for r in ans)
    s = {"n": len(rows), "answerable": len(ans), "unanswerable": len(un),
         "accuracy": _pct([r.ok for r in ans]),
         "grounded": _pct([r.grounded for r in ans]),
         "citation_precision": round(100.0 * sum(r.cited_with_fact for r in ans) / cited, 1) if cited else None,
         "abstain_ok": _pct([r.ok for r in un]),
         "false_abstain": _pct([r.abstained for r in ans])}
    for k in KS:
        s[f"hit@{k}"] = _pct([r.rank is not None and r.rank <= k for r in ans])
    s["mrr"] = round(sum(1.0 / r.rank for r in ans if r.rank) / len(ans), 3) if ans else None
    s["latency_p50"] = round(statistics.median(latencies), 1) if latencies else None
    s["latency_p95"] = round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 1) \
        if latencies else None
    groups: dict[str, list[Scored]] = defaultdict(list)
    for r in rows:
        groups["category:" + r.category].append(r)
        groups["style:" + (r.style or "-")].append(r)
    s["by"] = {key: {"n": len(g), "correct": sum(r.ok for r in g), "accuracy": _pct([r.ok for r in g]),
                     "hit@5": _pct([r.rank is not None and r.rank <= 5 for r in g if not r.unanswerable])}
               for key, g in sorted(groups.items())}
    return s


# ---------------------------------------------------------------- configurations

class PeerPipeline:
    """A stock llama-index pipeline as a yardstick: default SentenceSplitter chunks, the same LSA
    embedder fitted on them, stock BM25, RRF fusion; the answer is the top passage's best sentence."""

    def __init__(self, config: Config, top_k: int = 10):
        from llama_index.core import VectorStoreIndex
        from llama_index.core.llms import MockLLM
        from llama_index.core.node_parser import SentenceSplitter
        from llama_index.core.retrievers import QueryFusionRetriever
        from llama_index.retrievers.bm25 import BM25Retriever

        from qa.index.embeddings import make_embedder
        from qa.index.llama_embedding import LlamaIndexEmbedding
        from qa.ingest.loading import load_documents
        from qa.text import Tokenizer

        documents, _ = load_documents(config.corpus_dir)
        nodes = SentenceSplitter().get_nodes_from_documents(documents)
        self.tokenizer = Tokenizer()  # jieba as it comes: no corpus terms
        embedder = make_embedder("lsa", config.lsa_dim, self.tokenizer.tokenize)
        embedder.fit([n.get_content() for n in nodes])
        index = VectorStoreIndex(nodes, embed_model=LlamaIndexEmbedding(embedder))
        self.retriever = QueryFusionRetriever(
            [index.as_retriever(similarity_top_k=top_k),
             BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=top_k)],
            llm=MockLLM(), mode="reciprocal_rerank", num_queries=1, similarity_top_k=top_k,
            use_async=False)

    def clear_caches(self) -> None:
        """Forget memoised tokens (a benchmark's fair start)."""
        self.tokenizer.clear_cache()

    def __call__(self, question: str) -> dict:
        tokenize = self.tokenizer.tokenize
        started = time.perf_counter()
        results = self.retriever.retrieve(question)
        passages = [{"doc": r.node.metadata.get("doc", ""), "text": r.node.get_content()} for r in results]
        answer = ""
        if passages:
            terms = set(tokenize(question))
            sentences = [s.strip() for s in SENTENCE.findall(passages[0]["text"]) if s.strip()]
            if sentences:
                answer = max(sentences, key=lambda s: len(terms & set(tokenize(s)))) + "[1]"
        return {"answer": answer, "abstained": not answer, "citations": passages[:1],
                "retrieved": passages, "latency_ms": (time.perf_counter() - started) * 1000}


def answerer_fn(answerer) -> AnswerFn:
    def ask(question: str) -> dict:
        return answerer.ask(question).to_json()
    return ask


def make_pipelines(config: Config, names: list[str], progress: bool = False) -> dict[str, AnswerFn | str]:
    """Each name → a question-answering function, or a Chinese reason why it is unavailable."""
    from qa.answer.answering import Answerer
    from qa.app.api import Assistant

    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise InputError(f"未知的配置：{'、'.join(unknown)}（可选：{'、'.join(CONFIGS)}）")
    index = None
    if any(n != "peer" for n in names):
        index = Assistant(config, progress=progress).index
    pipelines: dict[str, AnswerFn | str] = {}
    for name in names:
        if name in ("bm25", "dense", "hybrid"):
            pipelines[name] = answerer_fn(Answerer(index, config, mode=name, use_commitments=False))
        elif name == "hybrid+commitments":
            pipelines[name] = answerer_fn(Answerer(index, config, mode="hybrid", use_commitments=True,
                                                   ranker=None))
        elif name == "hybrid+commitments+learned":
            from qa.answer.ranker import load_ranker

            ranker = load_ranker()
            pipelines[name] = (answerer_fn(Answerer(index, config, mode="hybrid", ranker=ranker)) if ranker
                               else "没有可用的作答打分模型：请运行 qa train")
        else:
            pipelines[name] = PeerPipeline(config)
    return pipelines


# ---------------------------------------------------------------- runs and reports

@dataclass
class ConfigRun:
    config: str
    gold: str
    summary: dict
    rows: list[Scored]


@dataclass
class EvalReport:
    runs: list[ConfigRun]
    unavailable: dict[str, str]


def ask_safely(fn: AnswerFn, question: str) -> dict:
    try:
        return fn(question)
    except InputError as exc:
        return {"answer": "", "abstained": True, "error": str(exc)}


def evaluate(pipelines: dict[str, AnswerFn | str], gold_paths: list[Path]) -> EvalReport:
    runs, unavailable = [], {}
    for name, fn in pipelines.items():
        if isinstance(fn, str):
            unavailable[name] = fn
            continue
        for path in gold_paths:
            items = load_gold(path)
            rows = [score_one(item, ask_safely(fn, item.question)) for item in items]
            runs.append(ConfigRun(name, str(path), summarise(rows), rows))
    return EvalReport(runs, unavailable)


COLUMNS = ("accuracy", "grounded", "citation_precision", "abstain_ok", "false_abstain",
           "hit@1", "hit@3", "hit@5", "hit@10", "mrr", "latency_p50", "latency_p95")


def format_table(report: EvalReport) -> str:
    """Markdown: one table per gold file, configurations as rows."""
    lines = []
    for gold in dict.fromkeys(r.gold for r in report.runs):
        runs = [r for r in report.runs if r.gold == gold]
        n = runs[0].summary
        lines += [f"### {gold}（{n['n']} 题：可回答 {n['answerable']}，不可回答 {n['unanswerable']}）", "",
                  "| 配置 | " + " | ".join(COLUMNS) + " |", "|" + "---|" * (len(COLUMNS) + 1)]
        for run in runs:
            cells = ["-" if run.summary[c] is None else str(run.summary[c]) for c in COLUMNS]
            lines.append(f"| {run.config} | " + " | ".join(cells) + " |")
        keys = list(runs[0].summary["by"])
        lines += ["", "| 配置 | " + " | ".join(keys) + " |", "|" + "---|" * (len(keys) + 1)]
        for run in runs:
            by = run.summary["by"]
            lines.append(f"| {run.config} | " + " | ".join(f"{by[k]['correct']}/{by[k]['n']}" for k in keys) + " |")
        lines.append("")
    for name, reason in report.unavailable.items():
        lines.append(f"- {name}：{reason}")
    return "\n".join(lines)


def format_failures(run: ConfigRun) -> str:
    lines = [f"未通过的问题（{run.config}，{run.gold}）："]
    for r in run.rows:
        if r.ok:
            continue
        expected = "应拒答" if r.unanswerable else "、".join(r.expected)
        given = ("（拒答）" if r.abstained else "") + r.answer.replace("\n", " ")[:160]
        lines.append(f"- [{r.id}] {r.question}\n    期望：{expected}\n    回答：{given}")
    return "\n".join(lines)


def write_outputs(report: EvalReport, out_dir: Path) -> list[Path]:
    """report.json, report.md and one PNG per gold file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data = {"runs": [{"config": r.config, "gold": r.gold, "summary": r.summary,
                      "rows": [asdict(x) for x in r.rows]} for r in report.runs],
            "unavailable": report.unavailable}
    paths = [out_dir / "report.json", out_dir / "report.md"]
    paths[0].write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    paths[1].write_text("# 评测结果\n\n" + format_table(report) + "\n", encoding="utf-8")
    for gold in dict.fromkeys(r.gold for r in report.runs):
        paths.append(plot_gold([r for r in report.runs if r.gold == gold], out_dir))
    return paths


def plot_gold(runs: list[ConfigRun], out_dir: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    panels = [("metrics", ["accuracy", "grounded", "hit@1", "hit@5", "abstain_ok"], None),
              ("by category", None, "category:"), ("by style", None, "style:")]
    width = 0.8 / len(runs)
    for ax, (title, metrics, prefix) in zip(axes, panels):
        keys = metrics or [k for k in runs[0].summary["by"] if k.startswith(prefix)]
        for i, run in enumerate(runs):
            values = [(run.summary[k] if metrics else run.summary["by"][k]["accuracy"]) or 0 for k in keys]
            ax.bar([x + i * width for x in range(len(keys))], values, width, label=run.config)
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(keys))])
        ax.set_xticklabels([k.split(":")[-1] for k in keys], rotation=30, ha="right")
        ax.set_ylim(0, 100)
        ax.set_title(title)
    axes[0].set_ylabel("%")
    axes[0].legend(fontsize=8)
    fig.suptitle(Path(runs[0].gold).name)
    fig.tight_layout()
    path = out_dir / f"{Path(runs[0].gold).stem}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


@dataclass
class FloorCheck:
    passed: bool
    measured: float
    floor: float
    message: str


def read_floor(floor_path: Path) -> dict:
    try:
        return json.loads(Path(floor_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise QAError(f"无法读取回归下限文件 {floor_path}：{exc}") from exc


def floor_config(floor_path: Path) -> str:
    """The configuration the regression floor guards (the product's own)."""
    return read_floor(floor_path)["config"]


def check_floor(report: EvalReport, floor_path: Path) -> FloorCheck:
    """Compare the measured accuracy with eval/floor.json (config and gold named there)."""
    floor = read_floor(floor_path)
    run = next((r for r in report.runs if r.config == floor["config"]
                and Path(r.gold).name == Path(floor["gold"]).name), None)
    if run is None:
        raise QAError(f"本次评测没有 {floor['config']} 在 {floor['gold']} 上的结果。")
    measured = run.summary["accuracy"] or 0.0
    passed = measured >= floor["accuracy"]
    verdict = "通过" if passed else "低于下限"
    return FloorCheck(passed, measured, floor["accuracy"],
                      f"回归检查{verdict}：{floor['config']} 准确率 {measured}%，下限 {floor['accuracy']}%。")
