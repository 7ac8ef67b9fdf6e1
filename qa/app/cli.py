"""Command line: `qa build`, `qa ask`. Parses, calls qa.app.api, formats; no logic of its own."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from qa.config import Config
from qa.errors import InputError, QAError


def _config(args) -> Config:
    return Config.from_env(corpus_dir=args.corpus, index_dir=args.index)


def cmd_build(args) -> int:
    from qa.app.api import build_index, describe_build

    report = build_index(_config(args), force=args.force, progress=not args.quiet)
    print(describe_build(report))
    return 0


SHOWN_PASSAGE_CHARS = 300  # of each cited passage in the terminal
# batch lines whose questions are embedded ahead at a time: half of what an index remembers
# (qa.index.index.QUERY_VECTORS_CACHED), so none is forgotten before it is answered
BATCH_WINDOW = 2048


def format_answer(answer) -> str:
    lines = [answer.answer, ""]
    if answer.citations:
        lines.append("相关段落：" if answer.abstained else "来源：")
    for c in answer.citations:
        lines.append(f"[{c.n}] {c.title} › {c.heading}")
        lines.append("    " + c.text.replace("\n", " ")[:SHOWN_PASSAGE_CHARS])
    return "\n".join(lines)


def _batch_questions(lines: list[bytes]) -> list[str]:
    """The questions of a batch file's readable lines, embedded together before answering."""
    questions = []
    for raw in lines:
        try:
            item = json.loads(raw.decode("utf-8-sig"))
        except ValueError:  # UnicodeDecodeError included; answering reports the line
            continue
        if isinstance(item, dict) and isinstance(item.get("question"), str):
            questions.append(item["question"])
    return questions


def _batch(assistant, path: Path, out) -> int:
    try:
        handle = open(path, "rb")  # decoded line by line: one bad line must not end the batch
    except OSError as exc:
        raise QAError(f"无法读取批量文件 {path}：{exc.strerror}") from exc
    with handle:
        lines = handle.readlines()
    for number, raw in enumerate(lines, start=1):
        if (number - 1) % BATCH_WINDOW == 0:
            # embedded ahead a window at a time: the index remembers QUERY_VECTORS_CACHED question
            # vectors, and vectors embedded too far ahead were forgotten before their turn
            assistant.prepare(_batch_questions(lines[number - 1:number - 1 + BATCH_WINDOW]))
        if not raw.strip():
            continue
        started = time.perf_counter()
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            out.write(json.dumps({"id": None, "line": number, "error": "该行不是 UTF-8 编码的文本"},
                                 ensure_ascii=False) + "\n")
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict):
                raise ValueError("not an object")
        except ValueError:
            record = {"id": None, "line": number, "error": "该行不是有效的 JSON 对象"}
        else:
            qid, question = item.get("id"), item.get("question")
            try:
                record = {"id": qid, **assistant.ask(question).to_json()}
            except InputError as exc:
                record = {"id": qid, "question": question, "error": str(exc), "answer": "",
                          "abstained": True, "citations": [], "retrieved": [],
                          "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        out.flush()
    return 0


def cmd_ask(args) -> int:
    from qa.app.api import Assistant

    assistant = Assistant(_config(args), progress=not args.json)
    if args.batch:
        return _batch(assistant, Path(args.batch), sys.stdout)
    if args.question is None:
        raise InputError("请提供问题，例如：qa ask \"（某镇）十五五期间要建新小学吗？\"")
    if any("\udc80" <= c <= "\udcff" for c in args.question):  # argv bytes that were not UTF-8
        raise InputError("问题不是有效的 UTF-8 文字，请检查终端编码后重试。")
    answer = assistant.ask(args.question)
    if args.json:
        print(json.dumps(answer.to_json(), ensure_ascii=False))
    else:
        print(format_answer(answer))
        print(f"\n（向量：{assistant.embedder_description}）", file=sys.stderr)
    return 0


DOC_LABELS = (("title", "标题"), ("issuer", "发布机关"), ("place_path", "地域"), ("level", "层级"),
              ("kind", "类型"), ("date", "日期"), ("period", "期间"))


def cmd_docs(args) -> int:
    from qa.app.api import list_documents

    documents = list_documents(_config(args))
    if args.json:
        print(json.dumps(documents, ensure_ascii=False, indent=1))
        return 0
    for d in documents:
        print(d["doc"])
        for key, label in DOC_LABELS:
            mark = "（推断）" if key in d["inferred"] else ""
            print(f"    {label}：{d[key] or '—'}{mark}")
    print(f"共 {len(documents)} 篇；标“推断”的字段由正文推断（corpus/catalog.json 中有的字段以目录为准）。")
    return 0


def cmd_commitments(args) -> int:
    from qa.app.api import list_commitments
    from qa.commitments.search import format_commitments

    items = list_commitments(_config(args), kind=args.kind, place=args.place, doc=args.doc,
                             query=args.query, status=args.status)
    print(format_commitments(items, "json" if args.json else "csv" if args.csv else "text"), end="")
    return 0


def cmd_eval(args) -> int:
    from qa.evaluation import gold as ev

    root = Path(__file__).resolve().parents[2]
    out = args.out or root / "eval" / "out"
    if args.commitments:
        return _eval_commitments(args, root, out)
    if args.side_by_side:
        from qa.evaluation import side_by_side

        report = side_by_side.run(_config(args), root, root.parent / "shared" / "bench",
                                  out / "side_by_side_cmrc", cmrc_limit=args.limit or 0)
        out.mkdir(parents=True, exist_ok=True)
        (out / "side_by_side.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
        print(side_by_side.format_report(report))
        return 0
    if args.cmrc:
        from qa.evaluation import cmrc

        report = cmrc.run_cmrc(Path(args.cmrc), work_dir=out / "cmrc_index", limit=args.limit,
                             progress=True)
        print(cmrc.format_cmrc(report))
        return 0
    gold = [Path(g) for g in args.gold] or [root / "eval" / "questions.jsonl"]
    floor_path = root / "eval" / "floor.json"
    names = args.config or ([ev.floor_config(floor_path)] if args.check_floor else list(ev.CONFIGS))
    report = ev.evaluate(ev.make_pipelines(_config(args), names, progress=True), gold)
    paths = ev.write_outputs(report, out)
    print(ev.format_table(report))
    primary = next((r for r in report.runs if r.config == ev.PRODUCT_CONFIG),
                   report.runs[0] if report.runs else None)
    for run in [r for r in report.runs if r.config == getattr(primary, "config", None)]:
        print("\n" + ev.format_failures(run))
    print("\n输出：" + "、".join(str(p) for p in paths), file=sys.stderr)
    if args.check_floor:
        check = ev.check_floor(report, floor_path)
        print(check.message)
        return 0 if check.passed else 1
    return 0


def _eval_commitments(args, root: Path, out: Path) -> int:
    """Precision and recall of `qa commitments --json` against a commitments gold file."""
    from qa.app.api import list_commitments
    from qa.evaluation import commitments as ev

    gold_paths = [Path(g) for g in args.gold] or (sorted((root / "eval").glob("commitments_heldout*.jsonl"))
                                                  if args.heldout else [root / "eval" / "commitments_gold.jsonl"])
    gold_path = gold_paths[0]
    if args.train:
        from qa.evaluation import project_training

        out.mkdir(parents=True, exist_ok=True)
        card = project_training.train(_config(args).corpus_dir, gold_path, out / "project_model.json")
        print(project_training.format_card(card))
        print(f"\n输出：{out / 'project_model.json'}", file=sys.stderr)
        return 0
    gold = ev.load_golds(gold_paths)
    predictions = [c.to_json() for c in list_commitments(_config(args))]
    scores = ev.score(predictions, gold)
    print(ev.format_scores(scores))
    if args.errors:
        print("\n" + ev.format_errors(scores, args.errors))
    out.mkdir(parents=True, exist_ok=True)
    path = out / "commitments.json"
    report = {kind: s.to_json() | {"misses": s.misses, "spurious": s.spurious} for kind, s in scores.items()}
    path.write_text(json.dumps({"gold": [str(p) for p in gold_paths], "scores": report}, ensure_ascii=False, indent=1),
                    encoding="utf-8")
    print(f"\n输出：{path}", file=sys.stderr)
    return 0


def cmd_train(args) -> int:
    """Learn the answer scorer from public data and our own gold; write it into the package."""
    from qa.answer.ranker import MODEL_FILE
    from qa.evaluation import training

    root = Path(__file__).resolve().parents[2]
    out = args.out or MODEL_FILE
    work = args.work or root / "eval" / "out" / "train_cmrc"
    info = training.train(_config(args), Path(args.gold or root / "eval" / "questions.jsonl"), out,
                          work=work, cmrc_passages=args.passages, progress=not args.quiet)
    print(training.format_card(info))
    print(f"\n输出：{out}", file=sys.stderr)
    return 0


def cmd_train_abstention(args) -> int:
    """Learn and calibrate the answer-or-decline decision; write it into the package."""
    from qa.answer.abstain import model_file
    from qa.evaluation import abstain_training

    root = Path(__file__).resolve().parents[2]
    gold = Path(args.gold or root / "eval" / "questions.jsonl")
    if args.meaning:
        from qa.answer.abstain import MEANING_FILE
        from qa.evaluation import meaning_floor

        card = meaning_floor.train(_config(args), gold, args.out or MEANING_FILE,
                                  args.max_false_abstain or abstain_training.MAX_FALSE_ABSTAIN, progress=not args.quiet)
        print(meaning_floor.format_card(card))
        print(f"\n下限 {card['floor']}（第 {card['percentile']} 百分位）；输出：{args.out or MEANING_FILE}", file=sys.stderr)
        return 0
    out = args.out or model_file(_config(args).answer_scorer)
    card = abstain_training.train(_config(args), gold, out,
                                  args.work or root / "eval" / "out" / "abstain_cmrc", args.passages,
                                  args.max_false_abstain or abstain_training.MAX_FALSE_ABSTAIN, progress=not args.quiet)
    print(abstain_training.format_card(card))
    print(f"\n阈值 {card['threshold']}（英文问题 {card['threshold_english']}）；输出：{out}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qa", description="规划文件问答：每个回答都注明出处。")
    parser.add_argument("--corpus", type=Path, help="语料目录（默认 corpus/，或 QA_CORPUS_DIR）")
    parser.add_argument("--index", type=Path, help="索引目录（默认 index/，或 QA_INDEX_DIR）")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="构建或更新索引（只重建过期部分）")
    build.add_argument("--force", action="store_true", help="全部重建")
    build.add_argument("--quiet", action="store_true", help="不显示进度条")
    ask = sub.add_parser("ask", help="提问")
    ask.add_argument("question", nargs="?", help="问题")
    ask.add_argument("--json", action="store_true", help="输出 JSON")
    ask.add_argument("--batch", metavar="FILE.jsonl", help="批量提问：每行含 id 与 question")
    docs = sub.add_parser("docs", help="列出语料中的文档及其元数据（标题、地域、类型、日期、期间），注明哪些字段是推断的")
    docs.add_argument("--json", action="store_true", help="输出 JSON：每篇一个对象")
    com = sub.add_parser("commitments", help="列出目标指标、项目与责任分工（均注明出处）")
    com.add_argument("--kind", choices=("target", "project", "responsibility"), help="记录类型")
    com.add_argument("--place", help="地点（文档的地域，见 qa docs）")
    com.add_argument("--doc", help="文件名或简称")
    com.add_argument("--query", help="全文检索，如 绿色工厂")
    com.add_argument("--status", choices=("planned", "reported", "under_construction", "completed"),
                     help="状态：计划、已实现（目标），计划、在建、已完成（项目）")
    fmt = com.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="输出 JSON")
    fmt.add_argument("--csv", action="store_true", help="输出 CSV")
    evl = sub.add_parser("eval", help="评测：多种配置对照金标准问题，或 CMRC 2018 基准")
    evl.add_argument("--gold", action="append", default=[], metavar="FILE.jsonl",
                     help="金标准问题文件（可多次指定；默认 eval/questions.jsonl）")
    evl.add_argument("--config", action="append", metavar="NAME",
                     help="配置：bm25、dense、hybrid、hybrid+commitments、peer（可多次指定；默认全部）")
    evl.add_argument("--out", type=Path, help="输出目录（默认 eval/out/）")
    evl.add_argument("--check-floor", action="store_true", help="准确率低于 eval/floor.json 时以非零状态退出")
    evl.add_argument("--cmrc", metavar="CMRC.json", help="改为运行 CMRC 2018 基准（单独建索引）")
    evl.add_argument("--limit", type=int, help="CMRC 只评前 N 个问题（--side-by-side：前 N 篇段落）")
    evl.add_argument("--side-by-side", action="store_true",
                     help="议题 13 的全部指标并排（手工规则打分 / 学习打分）：自有金标准、开发集（验证）、CMRC 2018 dev、NoMIRACL")
    evl.add_argument("--commitments", action="store_true",
                     help="改为评测承诺抽取：按类型、按字段的精确率与召回率（金标准默认 eval/commitments_gold.jsonl，可用 --gold 指定）")
    evl.add_argument("--heldout", action="store_true",
                     help="承诺评测：改用全部留出样本 eval/commitments_heldout*.jsonl（规则定稿前标注）")
    evl.add_argument("--errors", type=int, default=0, metavar="N", help="承诺评测：每类列出前 N 条漏抽与多抽")
    evl.add_argument("--train", action="store_true",
                     help="承诺评测：训练学习式项目筛选器，按文档留出与规则筛选器比较（写 eval/out/project_model.json）")
    trn = sub.add_parser("train", help="训练作答打分模型（公开数据 CMRC 2018 训练集与自有金标准；固定随机种子，写入 qa/data/answer_ranker.json）")
    trn.add_argument("--gold", type=Path, help="自有金标准（默认 eval/questions.jsonl；从不使用共享开发集）")
    trn.add_argument("--out", type=Path, help="模型文件（默认 qa/data/answer_ranker.json）")
    trn.add_argument("--work", type=Path, help="CMRC 训练语料与索引的工作目录（默认 eval/out/train_cmrc）")
    trn.add_argument("--passages", type=int, default=500, help="使用 CMRC 2018 训练集的前 N 篇段落（默认 500）")
    trn.add_argument("--quiet", action="store_true", help="不显示进度")
    abst = sub.add_parser("train-abstention", help="训练并校准拒答模型（自有金标准与合成不可答题、CMRC 2018 训练集、NoMIRACL；"
                                                   "按文档分组留出选阈值；固定随机种子；按 QA_ANSWER_SCORER 写入 qa/data/abstention.json"
                                                   "（手工打分）或 abstention_learned.json（学习打分））")
    abst.add_argument("--gold", type=Path, help="自有金标准（默认 eval/questions.jsonl；从不使用共享开发集）")
    abst.add_argument("--out", type=Path, help="模型文件（默认按打分方式：qa/data/abstention.json 或 abstention_learned.json）")
    abst.add_argument("--work", type=Path, help="CMRC 训练语料与索引的工作目录（默认 eval/out/abstain_cmrc）")
    abst.add_argument("--passages", type=int, default=400, help="使用 CMRC 2018 训练集的前 N 篇段落（默认 400）")
    abst.add_argument("--max-false-abstain", type=float, metavar="SHARE",
                      help="留出的自有金标准可回答题中误拒答的比例上限（默认 0.02：低于产品目标 3%%，留出余量）")
    abst.add_argument("--meaning", action="store_true",
                      help="改为校准按意思判断的英文问题的跨语言下限（不用术语表；写入 qa/data/abstention_meaning.json）："
                           "英文问题与 CMRC 2018 训练集句子的余弦按分位数取下限，分位数按自有金标准英文可答题的误拒答上限选")
    abst.add_argument("--quiet", action="store_true", help="不显示进度")
    for p in (build, ask, docs, com, evl, trn, abst):
        p.add_argument("--corpus", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        p.add_argument("--index", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"build": cmd_build, "ask": cmd_ask, "docs": cmd_docs, "commitments": cmd_commitments,
                "eval": cmd_eval, "train": cmd_train, "train-abstention": cmd_train_abstention}
    try:
        return handlers[args.command](args)
    except QAError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader stopped early (`qa docs --json | head`): nothing left to tell it; stdout
        # goes to /dev/null so Python's flush at exit does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for a command ended by SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
