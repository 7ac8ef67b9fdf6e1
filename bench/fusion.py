"""`python -m bench.fusion [--cmrc PATH --passages 200]`: does each retrieval signal earn its place,
and which fusion wins? Also English questions with and without the glossary.

One index with the default model (multilingual-e5-small beside the corpus-fitted LSA) and one
LSA-only index (the previous default) answer our gold set (eval/questions.jsonl) and the shared
dev set with the product's answerer (commitment records on), under:

- single signals: bm25, dense (e5), lsa;
- pairs: bm25+dense, bm25+lsa, dense+lsa;
- all three by RRF (k = QA_RRF_K), and weighted RRF with one signal halved or doubled;
- the learned fusion (qa.search.fusion, the product default);
- the LSA-only index's default (BM25 + LSA by RRF): the baseline;
- the default with QA_GLOSSARY=0 (English questions reach documents through e5 alone).

With --cmrc, the same modes on CMRC 2018 dev's first N passages (document recall@1/@5, answer
containment), each passage a document, as qa/evaluation/cmrc.py indexes them.
Figures go to stdout as Markdown tables (and --out as JSON).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDS = [ROOT / "eval" / "questions.jsonl", ROOT.parent / "shared" / "eval" / "dev.jsonl"]

VARIANTS = [  # (label, mode, weights)
    ("bm25", "bm25", None), ("dense (e5)", "dense", None), ("lsa", "lsa", None),
    ("bm25+dense", "bm25+dense", None), ("bm25+lsa", "bm25+lsa", None), ("dense+lsa", "dense+lsa", None),
    ("RRF all three", "hybrid", None), ("learned fusion (default)", "learned", None),
    ("RRF, e5 ×0.5", "hybrid", {"dense": 0.5}), ("RRF, e5 ×2", "hybrid", {"dense": 2.0}),
    ("RRF, lsa ×0.5", "hybrid", {"lsa": 0.5}), ("RRF, bm25 ×2", "hybrid", {"bm25": 2.0}),
]


def variant_answerer(index, config, mode: str, weights: dict | None):
    """The answerer of a variant: mode "learned" is the hybrid with the learned fusion (the
    product default); every other mode fuses by RRF."""
    from qa.answer.answering import Answerer

    fusion = "learned" if mode == "learned" else "rrf"
    answerer = Answerer(index, replace(config, fusion=fusion), mode="hybrid" if mode == "learned" else mode)
    if weights:
        answerer.retriever.weights = weights
    return answerer


def answer_fn(index, config, mode: str, weights: dict | None):
    answerer = variant_answerer(index, config, mode, weights)
    return lambda question: answerer.ask(question).to_json()


def gold_rows(pipelines: dict, golds: list[Path]) -> list[dict]:
    from qa.evaluation.gold import evaluate

    rows = []
    for run in evaluate(pipelines, golds).runs:
        s = run.summary
        english = s["by"].get("style:english", {})
        rows.append({"variant": run.config, "gold": Path(run.gold).name, "accuracy": s["accuracy"],
                     "abstain_ok": s["abstain_ok"], "false_abstain": s["false_abstain"],
                     "hit@1": s["hit@1"], "hit@5": s["hit@5"], "mrr": s["mrr"],
                     "english": f"{english.get('correct', 0)}/{english.get('n', 0)}" if english else "",
                     "english_hit@5": english.get("hit@5"),
                     "styles": {k[6:]: f"{v['correct']}/{v['n']}" for k, v in s["by"].items()
                                if k.startswith("style:")}})
    return rows


def cmrc_items(path: Path, passages: int, corpus: Path) -> list[tuple[str, str, list[str]]]:
    """The first `passages` CMRC passages as one document each (as ../shared/tools/cmrc_check.py
    writes them); (question, document name, reference answers) for each of their questions."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    corpus.mkdir(parents=True)
    items, n = [], 0
    for article in data:
        for para in article["paragraphs"]:
            if n >= passages:
                return items
            n += 1
            name = f"p{n:04d}.txt"
            (corpus / name).write_text(para["context"].strip() + "\n", encoding="utf-8")
            items += [(q["question"], name, [a["text"] for a in q["answers"]]) for q in para["qas"]]
    return items


def cmrc_rows(path: Path, passages: int, work: Path, variants) -> list[dict]:
    from qa.app.api import Assistant
    from qa.config import Config
    from qa.evaluation.gold import norm, strip_markers

    items = cmrc_items(path, passages, work / "corpus")
    rows = []
    for model in ("default", "lsa"):
        config = Config.from_env(corpus_dir=work / "corpus", index_dir=work / f"index-{model}")
        if model == "lsa":
            config = replace(config, embed_model="lsa")
        index = Assistant(config, progress=False).index
        chosen = variants if model == "default" else [("LSA-only default (bm25+lsa)", "hybrid", None)]
        for label, mode, weights in chosen:
            answerer = variant_answerer(index, config, mode, weights)
            answerer.prepare([q for q, _, _ in items])
            h1 = h5 = contained = 0
            for question, doc, refs in items:
                answer = answerer.ask(question)
                docs = [r["doc"] for r in answer.retrieved]
                h1 += docs[:1] == [doc]
                h5 += doc in docs[:5]
                text = norm(strip_markers(answer.answer))
                contained += (not answer.abstained) and any(norm(r) in text for r in refs)
            q = max(1, len(items))
            rows.append({"variant": label, "doc_recall@1": round(100 * h1 / q, 1),
                         "doc_recall@5": round(100 * h5 / q, 1), "containment": round(100 * contained / q, 1)})
    return rows


def table(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.fusion", description=__doc__.splitlines()[0])
    parser.add_argument("--cmrc", type=Path, help="CMRC 2018 dev JSON (also scored when given)")
    parser.add_argument("--passages", type=int, default=200)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from qa.app.api import Assistant
    from qa.config import Config

    config = Config.from_env()
    golds = [g for g in GOLDS if g.exists()]
    with tempfile.TemporaryDirectory(prefix="bench_fusion_") as tmp:
        index = Assistant(config, progress=False).index
        print(f"model: {index.model.get('name')}", file=sys.stderr)
        pipelines = {label: answer_fn(index, config, mode, weights) for label, mode, weights in VARIANTS}
        pipelines["RRF all three, no glossary"] = answer_fn(index, replace(config, glossary=False),
                                                            "hybrid", None)
        lsa_config = replace(config, embed_model="lsa", index_dir=Path(tmp) / "lsa-index")
        lsa_index = Assistant(lsa_config, progress=False).index
        pipelines["LSA-only default (bm25+lsa)"] = answer_fn(lsa_index, lsa_config, "hybrid", None)
        pipelines["LSA-only default, no glossary"] = answer_fn(
            lsa_index, replace(lsa_config, glossary=False), "hybrid", None)
        rows = gold_rows(pipelines, golds)
        for gold in dict.fromkeys(r["gold"] for r in rows):
            print(f"\n### {gold}\n")
            print(table([r for r in rows if r["gold"] == gold],
                        ["variant", "accuracy", "abstain_ok", "false_abstain", "hit@1", "hit@5", "mrr",
                         "english", "english_hit@5"]))
        out = {"gold": rows}
        if args.cmrc:
            out["cmrc"] = cmrc_rows(args.cmrc, args.passages, Path(tmp) / "cmrc", VARIANTS)
            print(f"\n### CMRC 2018 dev, first {args.passages} passages\n")
            print(table(out["cmrc"], ["variant"] + [k for k in out["cmrc"][0] if k != "variant"]))
    if args.out:
        args.out.write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
