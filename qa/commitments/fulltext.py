"""Full-text matching and ranking of commitment records exactly as SQLite's FTS5 does it, for a
database without FTS5 (PostgreSQL, qa.commitments.postgres).

The SQLite store keeps jieba-segmented, space-joined text in an FTS5 table (tokenizer
`unicode61`) and ranks with `bm25(commitments_fts, 2.0, 1.0, 0.0)`. Reproduced here:

- `fts_tokens`: unicode61's tokens: runs of letters, numbers and private-use characters,
  case-folded, a single diacritic removed ("3.5%" → "3", "5"; "GDP" → "gdp");
- a query word is an FTS5 phrase: its tokens at consecutive positions of one column;
- `score`: FTS5's BM25 (k1 1.2, b 0.75; idf = ln((N − n + 0.5)/(n + 0.5)), 1e-6 when not positive;
  a phrase's frequency is its instances weighted by column; a row's length counts every column),
  with the same operations in the same order, so both stores give the same floats.

tests/test_commitments_postgres.py checks both stores return the same records in the same order.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

K1, B = 1.2, 0.75
NAME_WEIGHT, BODY_WEIGHT = 2.0, 1.0  # the place column weighs 0: it filters, it does not rank
TOKEN = re.compile(r"(?:[^\W_]|[\ue000-\uf8ff])+")  # letters and numbers (L*, N*) and Co


def _fold(char: str) -> str:
    parts = unicodedata.normalize("NFD", char)
    if len(parts) == 2 and parts[0].isascii() and unicodedata.category(parts[1]) == "Mn":
        char = parts[0]  # remove_diacritics=1: one diacritic on a Latin letter
    lower = char.lower()
    return lower if len(lower) == 1 else char


def fts_tokens(text: str) -> list[str]:
    """The tokens SQLite's unicode61 tokenizer makes of a text."""
    out = []
    for token in TOKEN.findall(text or ""):
        if token.isascii():
            out.append(token.lower())
        else:
            out.append("".join(_fold(c) for c in token))
    return out


def phrases_of(words) -> list[tuple[str, ...]]:
    """FTS5 phrases of quoted query words; a word without a token is no phrase (FTS5 ignores it)."""
    return [p for p in (tuple(fts_tokens(w)) for w in words) if p]


def occurrences(tokens: list[str], phrase: tuple[str, ...]) -> int:
    """Instances of a phrase in one column's tokens."""
    if len(phrase) == 1:
        return tokens.count(phrase[0])
    n = len(phrase)
    return sum(1 for i in range(len(tokens) - n + 1) if tuple(tokens[i:i + n]) == phrase)


@dataclass
class Row:
    """A record's full-text columns as tokens."""

    id: int
    name: list[str]
    body: list[str]
    length: int  # tokens of every column, place included

    def frequencies(self, phrases: list[tuple[str, ...]]) -> list[float]:
        """Each phrase's column-weighted instance count (FTS5 adds a column's weight per instance)."""
        out = []
        for phrase in phrases:
            f = 0.0
            for _ in range(occurrences(self.name, phrase)):
                f += NAME_WEIGHT
            for _ in range(occurrences(self.body, phrase)):
                f += BODY_WEIGHT
            out.append(f)
        return out


def idf(rows: int, hits: int) -> float:
    value = math.log((rows - hits + 0.5) / (hits + 0.5))
    return value if value > 0.0 else 1e-6


def score(frequencies: list[float], idfs: list[float], length: int, avgdl: float) -> float:
    """FTS5's bm25() of one row, negated as the SQLite store reads it (higher is better)."""
    total = 0.0
    for f, weight in zip(frequencies, idfs):
        total += weight * ((f * (K1 + 1.0)) / (f + K1 * (1 - B + B * length / avgdl)))
    return total


def matches(frequencies: list[float], any_phrase: bool) -> bool:
    found = [f > 0 for f in frequencies]
    return any(found) if any_phrase else all(found)
