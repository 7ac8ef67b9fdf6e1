"""Command line: `qa build`, `qa ask`. Parses, calls qa.api, formats; no logic of its own."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from qa.config import Config
from qa.errors import InputError, QAError


def _config(args) -> Config:
    return Config.from_env(corpus_dir=args.corpus, index_dir=args.index)


def cmd_build(args) -> int:
    from qa.api import describe_build
    from qa.indexing import ensure_index

    report = ensure_index(_config(args), force=args.force, progress=not args.quiet)
    print(describe_build(report))
    return 0


def format_answer(answer) -> str:
    lines = [answer.answer, ""]
    if answer.citations:
        lines.append("相关段落：" if answer.abstained else "来源：")
    for c in answer.citations:
        lines.append(f"[{c.n}] {c.title} › {c.heading}")
        lines.append("    " + c.text.replace("\n", " ")[:300])
    return "\n".join(lines)


def _batch(assistant, path: Path, out) -> int:
    try:
        handle = open(path, encoding="utf-8")
    except OSError as exc:
        raise QAError(f"无法读取批量文件 {path}：{exc.strerror}") from exc
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            started = time.perf_counter()
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
    from qa.api import Assistant

    assistant = Assistant(_config(args), progress=not args.json)
    if args.batch:
        return _batch(assistant, Path(args.batch), sys.stdout)
    if args.question is None:
        raise InputError("请提供问题，例如：qa ask \"张家窝镇十五五期间要建新小学吗？\"")
    answer = assistant.ask(args.question)
    if args.json:
        print(json.dumps(answer.to_json(), ensure_ascii=False))
    else:
        print(format_answer(answer))
        print(f"\n（向量：{assistant.embedder_description}）", file=sys.stderr)
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
    for p in (build, ask):
        p.add_argument("--corpus", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        p.add_argument("--index", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"build": cmd_build, "ask": cmd_ask}
    try:
        return handlers[args.command](args)
    except QAError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
