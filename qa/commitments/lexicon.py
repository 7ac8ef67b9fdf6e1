"""Word lists the extractors read from qa/data: units of figures, endings of facility names and
of the bodies a task is given to. Kept as data so a new kind of document needs a line, not code."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from qa.text import jieba_base

DATA = Path(__file__).resolve().parents[1] / "data"
NUMBER = r"\d+(?:\.\d+)?(?:\s*[-—~～至到]\s*\d+(?:\.\d+)?)?"


def _lines(name: str) -> list[list[str]]:
    rows = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append(line.rstrip("\n").split("\t"))
    return rows


@dataclass(frozen=True)
class Lexicon:
    units: dict[str, str]  # unit → "measure" | "count"
    facility_words: tuple[str, ...]
    actor_words: tuple[str, ...]

    @property
    def value_pattern(self) -> re.Pattern:
        """A figure as printed: number (or range), 万/亿, 余/多, unit; not part of a longer number.
        Groups: 1 number, 2 multiplier, 3 余/多, 4 unit."""
        return _value_pattern(tuple(self.units))


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    units = {row[0]: row[1] for row in _lines("units.tsv")}
    longest_first = lambda words: tuple(sorted(words, key=len, reverse=True))
    return Lexicon(units=dict(sorted(units.items(), key=lambda kv: -len(kv[0]))),
                   facility_words=longest_first(r[0] for r in _lines("facility_words.tsv")),
                   actor_words=longest_first(r[0] for r in _lines("actor_words.tsv")))


@lru_cache(maxsize=4)
def _value_pattern(units: tuple[str, ...]) -> re.Pattern:
    alternatives = "|".join(re.escape(u) for u in sorted(units, key=len, reverse=True))
    return re.compile(rf"(?<![\d.第])({NUMBER})(万|亿|千)?(余|多)?({alternatives})(?![\dA-Za-z])")


@lru_cache(maxsize=1)
def pos_tagger():
    """A private part-of-speech tagger on jieba's own dictionary: its tags never depend on the
    corpus terms an index teaches the shared tokenizer."""
    import jieba.posseg

    return jieba.posseg.POSTokenizer(jieba_base())


def ends_with_any(text: str, words: tuple[str, ...]) -> str:
    """The longest listed word `text` ends with, or ''."""
    return next((w for w in words if text.endswith(w)), "")
