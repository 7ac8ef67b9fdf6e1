"""Chinese text normalisation and jieba tokenisation shared by indexing and querying.

The same function must segment passages at build time and questions at query time, so it
lives here once. Traditional characters are matched as simplified ones (OpenCC's t2s tables),
so "張家窩鎮" finds the documents' "张家窝镇" and a traditional-script document answers
simplified questions; what is shown is never converted. Corpus terms (indicator, project and
place names) are added to a private jieba dictionary so "研发经费投入强度" or "张家窝第三小学" stay whole tokens.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache
from typing import Iterable

import jieba
from opencc import OpenCC

jieba.setLogLevel(logging.WARNING)

_TOKENIZER = jieba.Tokenizer()
_ADDED_TERMS: set[str] = set()
_UNDO: list[tuple[str, int | None]] = []  # dictionary entries as they were before our terms
TERM_FREQ = 2000  # high enough that a corpus term always beats splitting it

STOPWORDS = frozenset(
    "的 了 和 与 及 或 是 在 对 为 把 被 将 要 有 也 都 就 并 等 其 中 上 下 之 以 于 由 从 向 "
    "吗 呢 吧 啊 呀 么 哪 哪些 什么 多少 几 几个 怎么 怎样 如何 是否 有没有 请问 一下 这个 那个 "
    "这 那 啥 咋 个 们 我 你 他 它 我们 你们 the a an of in to for and or is are was were what "
    "which who how many much does do did".split()
)
_PUNCT = re.compile(r"^[\W_]+$", re.UNICODE)
_T2S = OpenCC("t2s")  # immutable conversion tables, safe to share between threads


def simplified(text: str) -> str:
    """Traditional Chinese characters and phrases → simplified; anything else unchanged."""
    return _T2S.convert(text)


def normalise(text: str) -> str:
    """Full-width → half-width, traditional → simplified and case folding, for matching only
    (never for display)."""
    return simplified(unicodedata.normalize("NFKC", text)).lower()


def _valid_terms(terms: Iterable[str]) -> set[str]:
    return {t for t in (normalise(term).strip() for term in terms) if 2 <= len(t) <= 20}


def _add_word(term: str) -> None:
    """jieba's add_word, minus its raising of the dictionary's total frequency: that total
    weighs every route through every sentence, so raising it would change how text without
    the term is segmented too. Held fixed, a term changes only the text that contains it."""
    freq = _TOKENIZER.FREQ
    for end in range(1, len(term) + 1):
        _UNDO.append((term[:end], freq.get(term[:end])))
        freq.setdefault(term[:end], 0)
    freq[term] = TERM_FREQ
    _ADDED_TERMS.add(term)


def add_terms(terms: Iterable[str]) -> None:
    """Teach the tokenizer the corpus's own names; safe to call again with the same terms."""
    _TOKENIZER.check_initialized()
    new = _valid_terms(terms) - _ADDED_TERMS
    for term in sorted(new):
        _add_word(term)
    if new:
        _cached_tokenize.cache_clear()


def use_terms(terms: Iterable[str]) -> None:
    """The tokenizer becomes jieba's dictionary plus exactly these terms (an index's own), so
    how text is segmented never depends on which other index this process loaded before."""
    wanted = _valid_terms(terms)
    if wanted == _ADDED_TERMS:
        return
    _TOKENIZER.check_initialized()
    for frag, old in reversed(_UNDO):
        if old is None:
            _TOKENIZER.FREQ.pop(frag, None)
        else:
            _TOKENIZER.FREQ[frag] = old
    _UNDO.clear()
    _ADDED_TERMS.clear()
    add_terms(wanted)
    _cached_tokenize.cache_clear()


def is_corpus_term(term: str) -> bool:
    """A name the corpus itself taught the tokenizer (an indicator, a quoted name), not a place."""
    return term in _ADDED_TERMS and term not in _BASE_NORMALISED


@lru_cache(maxsize=4096)
def _cached_tokenize(text: str) -> tuple[str, ...]:
    tokens = []
    for token in _TOKENIZER.cut_for_search(normalise(text)):
        token = token.strip()
        if token and token not in STOPWORDS and not _PUNCT.match(token):
            tokens.append(token)
    return tuple(tokens)


def tokenize(text: str) -> list[str]:
    """jieba search-mode tokens without stopwords and punctuation."""
    return list(_cached_tokenize(text))


# Places and periods every question may name; kept whole so scoping can see them.
BASE_TERMS = ("张家窝镇", "张家窝", "西青区", "西青", "静海镇", "静海区", "静海", "十五五", "十四五",
              "十三五", "津农精品", "规上工业", "一般公共预算收入", "固定资产投资")
_BASE_NORMALISED = frozenset(normalise(t) for t in BASE_TERMS)
QUOTED = re.compile(r"“([^”]{2,16})”")


def corpus_terms(texts: Iterable[str]) -> list[str]:
    """Names worth keeping whole: the base places and periods and the corpus's quoted terms."""
    found: set[str] = set(BASE_TERMS)
    for text in texts:
        found.update(m.group(1) for m in QUOTED.finditer(text))
    return sorted(found)
