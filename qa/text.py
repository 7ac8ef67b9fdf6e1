"""Chinese text normalisation and jieba tokenisation shared by indexing and querying.

The same tokenizer must segment passages at build time and questions at query time. Each index
owns one `Tokenizer`: jieba's dictionary plus that index's own terms (indicator, project and
place names), so "研发经费投入强度" stays one token, and two indexes in one process never see
each other's terms. Traditional characters are matched as simplified ones (OpenCC's t2s tables),
so "南山區" finds the documents' "南山区" and a traditional-script document answers
simplified questions; what is shown is never converted.
"""
from __future__ import annotations

import logging
import re
import struct
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import jieba
import numpy as np
from opencc import OpenCC

from qa.machine_cache import cache_path, read_cache, write_cache

jieba.setLogLevel(logging.WARNING)

TERM_FREQ = 2000  # high enough that an index's term always beats splitting it
MIN_TERM, MAX_TERM = 2, 20  # characters: a single character or a sentence is never a term
MAX_CACHED_CHARS = 300  # questions are cached; longer texts (passages at build time) are not
CACHED_TEXTS = 4096  # distinct questions a tokenizer remembers

STOPWORDS = frozenset(
    "的 了 和 与 及 或 是 在 对 为 把 被 将 要 有 也 都 就 并 等 其 中 上 下 之 以 于 由 从 向 "
    "吗 呢 吧 啊 呀 么 哪 哪些 什么 多少 几 几个 怎么 怎样 如何 是否 有没有 请问 一下 这个 那个 "
    "这 那 啥 咋 个 们 我 你 他 它 我们 你们 the a an of in to for and or is are was were what "
    "which who how many much does do did".split()
)
_PUNCT = re.compile(r"^[\W_]+$", re.UNICODE)
QUOTED = re.compile(r"“([^”]{2,16})”")
JIEBA_DICT = Path(jieba.__file__).resolve().parent / jieba.DEFAULT_DICT_NAME  # the source of its cache
PLANNING_TERMS_FILE = Path(__file__).resolve().parent / "data" / "planning_terms.txt"
_T2S = OpenCC("t2s")  # immutable conversion tables, safe to share between threads


def simplified(text: str) -> str:
    """Traditional Chinese characters and phrases → simplified; anything else unchanged."""
    return _T2S.convert(text)


# A subscript kept from a formula-aware conversion ("PM _{2.5}", "CO_{2}") is written as
# questions write it ("PM2.5", "CO2").
SUBSCRIPT = re.compile(r"\s*_\{\s*([0-9a-z.]{1,6})\s*\}", re.I)


def normalise(text: str) -> str:
    """Full-width → half-width, traditional → simplified, subscripts inline and case folding,
    for matching only (never for display)."""
    return SUBSCRIPT.sub(r"\1", simplified(unicodedata.normalize("NFKC", text))).lower()


def valid_terms(terms: Iterable[str]) -> set[str]:
    """Terms as the tokenizer holds them: normalised, MIN_TERM to MAX_TERM characters."""
    return {t for t in (normalise(term).strip() for term in terms) if MIN_TERM <= len(t) <= MAX_TERM}


JIEBA_CACHE_VERSION = 1  # bump when the layout `_pack_frequencies` writes changes


def _pack_frequencies(freq: dict[str, int], total: int) -> bytes | None:
    """jieba's prefix dictionary as one file: total and count, the frequencies as int64, then the
    words one a line (read back several times faster than jieba's own marshal cache)."""
    words = "\n".join(freq)
    if words.count("\n") != len(freq) - 1:
        return None  # a word holding a line break: no cache, jieba's own is used
    counts = np.fromiter(freq.values(), dtype=np.int64, count=len(freq))
    return struct.pack("<qq", total, len(freq)) + counts.tobytes() + words.encode("utf-8")


def _unpack_frequencies(data: bytes) -> tuple[dict[str, int], int]:
    total, n = struct.unpack_from("<qq", data)
    counts = np.frombuffer(data, dtype=np.int64, count=n, offset=16).tolist()
    words = data[16 + 8 * n:].decode("utf-8").split("\n")
    if len(words) != n:
        raise ValueError("jieba dictionary cache is damaged")
    return dict(zip(words, counts)), total


@lru_cache(maxsize=1)
def jieba_base() -> jieba.Tokenizer:
    """A `jieba.Tokenizer` on jieba's own dictionary, read once per process and never changed:
    every Tokenizer starts from a copy of its frequencies, and the part-of-speech tagger reads it.
    The dictionary comes from this machine's cache of it (qa.machine_cache) when there is one."""
    base = jieba.Tokenizer()
    cache = cache_path("qa-jieba", JIEBA_DICT, JIEBA_CACHE_VERSION, "bin")
    data = read_cache(cache)
    if data is not None:
        try:
            base.FREQ, base.total = _unpack_frequencies(data)
            base.initialized = True
            return base
        except (ValueError, struct.error, UnicodeDecodeError):
            pass
    base.check_initialized()
    packed = _pack_frequencies(base.FREQ, base.total)
    if packed is not None:
        write_cache(cache, packed)
    return base


def _jieba_dictionary() -> tuple[dict, int]:
    """jieba's own word frequencies and their total (read-only)."""
    base = jieba_base()
    return base.FREQ, base.total


def jieba_frequencies() -> dict[str, int]:
    """How often jieba's dictionary counts each word (read-only)."""
    return _jieba_dictionary()[0]


class Tokenizer:
    """A `jieba.Tokenizer` instance holding jieba's dictionary plus exactly these terms.

    `names` (places, periods, planning vocabulary) are kept whole too, but are not the
    corpus's own terms in the sense of `is_corpus_term`: a question naming one asks about
    scope, not about an indicator or a project.
    """

    def __init__(self, terms: Iterable[str] = (), names: Iterable[str] = ()):
        freq, total = _jieba_dictionary()
        self._jieba = jieba.Tokenizer()
        self._jieba.FREQ = dict(freq)
        # jieba's add_word raises the total, which weighs every route through every sentence;
        # held fixed, a term changes only the segmentation of text that contains it
        self._jieba.total = total
        self._jieba.initialized = True
        self.names = frozenset(valid_terms(names))
        self.terms = frozenset(valid_terms(terms)) | self.names
        for term in sorted(self.terms):
            self._add(term)
        self._cached = lru_cache(maxsize=CACHED_TEXTS)(self.segment)

    def _add(self, term: str) -> None:
        freq = self._jieba.FREQ
        for end in range(1, len(term)):
            freq.setdefault(term[:end], 0)
        freq[term] = TERM_FREQ

    def segment(self, text: str) -> tuple[str, ...]:
        """jieba search-mode tokens without stopwords and punctuation (not cached)."""
        tokens = []
        for token in self._jieba.cut_for_search(normalise(text)):
            token = token.strip()
            if token and token not in STOPWORDS and not _PUNCT.match(token):
                tokens.append(token)
        return tuple(tokens)

    def tokenize(self, text: str) -> list[str]:
        """`segment`, remembered for short texts: a question is segmented by analysis,
        retrieval and record matching alike."""
        if len(text) > MAX_CACHED_CHARS:
            return list(self.segment(text))
        return list(self._cached(text))

    def is_corpus_term(self, term: str) -> bool:
        """A name the corpus itself taught the tokenizer (an indicator, a quoted name), not a place."""
        return term in self.terms and term not in self.names

    def clear_cache(self) -> None:
        self._cached.cache_clear()


@lru_cache(maxsize=1)
def planning_terms() -> frozenset[str]:
    """Planning vocabulary every index keeps whole (qa/data/planning_terms.txt)."""
    lines = PLANNING_TERMS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))
