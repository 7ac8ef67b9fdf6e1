"""Traditional-script questions against simplified ones, and what the conversion costs.

    python -m bench.traditional [--gold eval/questions.jsonl --gold ../shared/eval/dev.jsonl]

Every gold question is asked as written (the baseline), then rewritten by OpenCC in plain
traditional script (s2t) and in Taiwan usage with its own words (s2twp: 项目 → 專案, 软件 → 軟體);
a rewrite counts as answered alike when its answer text and abstention equal the baseline's.
The cost is the time spent inside the t2s conversion while answering, beside the answer time.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from opencc import OpenCC

ROOT = Path(__file__).resolve().parent.parent
GOLD = [ROOT / "eval" / "questions.jsonl", ROOT.parent / "shared" / "eval" / "dev.jsonl"]


class TimedConverter:
    """Stands in for qa.text's converter and adds up the time spent converting."""

    def __init__(self, inner):
        self.inner, self.seconds, self.calls = inner, 0.0, 0

    def convert(self, text: str) -> str:
        started = time.perf_counter()
        try:
            return self.inner.convert(text)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gold", action="append", type=Path, help="JSONL of {id, question}")
    args = parser.parse_args(argv)
    from qa import text
    from qa.app.api import Assistant
    from qa.config import Config

    questions = [json.loads(line)["question"] for path in (args.gold or [p for p in GOLD if p.exists()])
                 for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assistant = Assistant(Config.from_env(), progress=False)
    timer = TimedConverter(text._T2S)
    text._T2S = timer
    try:
        return _measure(assistant, questions, timer)
    finally:
        text._T2S = timer.inner


def _measure(assistant, questions: list[str], timer: TimedConverter) -> int:
    baseline = {}
    for label in ("first pass (passages read and normalised)", "second pass (serving caches warm)"):
        latencies, converting, calls = [], [], timer.calls
        for question in questions:
            before = timer.seconds
            started = time.perf_counter()
            answer = assistant.ask(question)
            latencies.append((time.perf_counter() - started) * 1000)
            converting.append((timer.seconds - before) * 1000)
            baseline[question] = (answer.answer, answer.abstained)
        print(f"{label}: {len(questions)} questions, answer p50 {statistics.median(latencies):.2f} ms; "
              f"t2s conversion p50 {statistics.median(converting):.3f} ms, "
              f"{(timer.calls - calls) / len(questions):.0f} calls a question, "
              f"{100 * sum(converting) / sum(latencies):.1f}% of answer time")
    print("| rewrite | questions changed by it | answered alike | differ |\n|---|---:|---:|---:|")
    for name in ("s2t", "s2twp"):
        rewrite = OpenCC(name)
        changed = alike = 0
        for question in questions:
            traditional = rewrite.convert(question)
            if traditional == question:
                continue
            changed += 1
            answer = assistant.ask(traditional)
            alike += (answer.answer, answer.abstained) == baseline[question]
        print(f"| {name} | {changed} | {alike} | {changed - alike} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
