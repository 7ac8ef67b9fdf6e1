"""Evidence by meaning for questions with little Chinese ("What forest coverage rate had the
district reached?" with the glossary off): their words are not the documents' words, so counting shared
words finds nothing. A multilingual model compares the question with each candidate sentence
instead; a sentence's share is how far it stands above the question's other candidates. The model
is the cross-lingual USE multilingual v3 (qa.search.crosslingual; each sentence and its clauses)
where installed and not turned off (QA_CROSSLINGUAL), else the index's e5.

Only where the index's model reads both languages (not the corpus-fitted LSA), and only for the
sentences of the top passages: each sentence costs one pass of the model at question time (a few
to tens of ms), so vectors are remembered (e5's here per index, USE's by the CrossLingual).
"""
from __future__ import annotations

import re
from collections import OrderedDict

import numpy as np

from qa.search.query import Query

CJK = re.compile(r"[\u4e00-\u9fff]")
# A question reads "by meaning" when the Chinese terms it types carry less than this share of its
# content terms: the rest are English words no document contains.
CHINESE_SHARE = 0.5
# Similarity this far above the question's median candidate counts as a full match (coverage 1);
# e5's cosines crowd into 0.7–0.85, so what tells sentences apart is the distance from the median.
# Chosen among 0.01/0.02/0.04/0.08 (and two scale-free variants) by document-grouped
# cross-validation over the English gold (eval/questions.jsonl's 21, eval/questions_english_heldout.jsonl's
# 30; glossary off, lexicon on): every fold chose 0.01, held-out 35/51 (0.08: 20/51); eval/ENGLISH.md.
SPREAD = 0.01
# The same for the cross-lingual model's cosines (qa.search.crosslingual, USE multilingual v3),
# which spread out far more (the answering sentence ~0.3–0.6 above a median near 0.2). Chosen among
# 0.02/0.03/0.05/0.07/0.1/0.2 by the same document-grouped cross-validation over the 51 English
# gold questions (learned scorer, glossary off): every fold chose 0.05, held-out 39/51 (e5 with
# SPREAD: 37/51); eval/ENGLISH.md, round 4.
USE_SPREAD = 0.05
# A long sentence lists many things ("…国家科技型中小企业71家、高新技术企业82家。") and its vector
# is their blend: each clause of at least CLAUSE_MIN_CHARS characters is compared too, and the
# sentence counts as its best clause where that is closer (same cross-validation: sentences alone
# 37/51, clauses 39/51; clauses of 4 or 10 characters at least, or clause pairs: no better).
CLAUSE = re.compile(r"(?<=[，；。：、？！,;｜])")
CLAUSE_MIN_CHARS = 6
SENTENCES_CACHED = 8192


def reads_by_meaning(query: Query, multilingual: bool) -> bool:
    """Whether a question's evidence should be judged by meaning rather than shared words: an
    English question whose Chinese terms, all typed by the asker (none from the glossary: where
    it knows a word, shared words judge, and a glossary word no passage has rightly declines),
    are less than CHINESE_SHARE of its content terms."""
    if not (query.english and multilingual and query.terms):
        return False
    chinese = [t for t in query.terms if CJK.search(t)]
    if any(t not in query.text for t in chinese):
        return False  # the glossary gave Chinese words
    return len(chinese) < CHINESE_SHARE * len(query.terms)


def clauses(sentence: str) -> list[str]:
    """A sentence's clauses (split after Chinese and Western commas, enumeration commas,
    semicolons, colons, stops and a table row's ｜) of at least CLAUSE_MIN_CHARS characters,
    other than the sentence itself."""
    parts = [p.strip() for p in CLAUSE.split(sentence)]
    return [p for p in dict.fromkeys(parts) if len(p) >= CLAUSE_MIN_CHARS and p != sentence.strip()]


def closest_clauses(crosslingual, question: str, sentences: list[str]) -> np.ndarray:
    """The cross-lingual cosine of the question with each sentence or its closest clause."""
    if not sentences:
        return np.zeros(0, dtype=np.float32)
    parts = {s: clauses(s) for s in sentences}
    texts = list(dict.fromkeys([*sentences, *(c for cs in parts.values() for c in cs)]))
    sims = dict(zip(texts, crosslingual.similarities(question, texts)))
    return np.array([max([sims[s], *(sims[c] for c in parts[s])]) for s in sentences])


class MeaningMatcher:
    """Cosine similarity of a question with sentences, turned into a coverage-like share in
    [0, 1]: (similarity − the median over the question's candidate sentences) / spread, clipped.
    The similarity is the cross-lingual model's (qa.search.crosslingual, USE_SPREAD) where it is
    available, else e5's (question "query: ", sentences "passage: ", SPREAD)."""

    def __init__(self, index, spread: float = SPREAD, crosslingual=None, use_spread: float = USE_SPREAD):
        self.index = index
        self.spread = spread
        self.crosslingual = crosslingual
        self.use_spread = use_spread
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    def applies(self, query: Query) -> bool:
        return reads_by_meaning(query, self.index.reads_english)

    def shares(self, query: Query, sentences: list[str]) -> dict[str, float]:
        """Each sentence's share of the question's meaning (the question as asked, whose vector
        retrieval has already computed and the index remembers)."""
        sentences = list(dict.fromkeys(sentences))
        if not sentences:
            return {}
        if self.crosslingual is not None and self.crosslingual.available:
            sims, spread = self._crosslingual(query.text, sentences), self.use_spread
        else:
            question = self.index.embed_queries([query.text])[0]
            sims, spread = self._embed(sentences) @ question, self.spread
        base = float(np.median(sims)) if len(sims) > 2 else float(sims.min()) - spread / 2
        shares = np.clip((sims - base) / spread, 0.0, 1.0)
        return {s: float(v) for s, v in zip(sentences, shares)}

    def focus(self, query: Query, sentence: str) -> str:
        """The part of a long sentence that is closest in meaning to the question: the clause an
        answer should show where it cuts the sentence (counting shared words finds none of an
        English question's words in it), or the sentence itself when that is closer."""
        parts = [sentence, *clauses(sentence)]
        if len(parts) == 1:
            return sentence
        if self.crosslingual is not None and self.crosslingual.available:
            sims = self.crosslingual.similarities(query.text, parts)
        else:
            sims = self._embed(parts) @ self.index.embed_queries([query.text])[0]
        return parts[int(np.argmax(sims))]

    def _crosslingual(self, question: str, sentences: list[str]) -> np.ndarray:
        return closest_clauses(self.crosslingual, question, sentences)

    def _embed(self, sentences: list[str]) -> np.ndarray:
        missing = [s for s in sentences if s not in self._vectors]
        if missing:
            for sentence, vector in zip(missing, self.index.embed_passages(missing)):
                self._vectors[sentence] = vector
            while len(self._vectors) > SENTENCES_CACHED:
                self._vectors.popitem(last=False)
        return np.stack([self._vectors[s] for s in sentences])
