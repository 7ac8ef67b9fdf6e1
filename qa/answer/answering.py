"""Extractive, cited answers: pick the sentences or table rows that answer, or abstain.

No language model: every sentence of an answer is copied from a passage (numbers exactly as
printed) and ends with the [n] of that passage. When the best evidence covers too little of
the question, or speaks of another place, period or year than asked, the answer says so plainly
and lists the nearest passages instead.
"""
from __future__ import annotations

import re
import time
from functools import lru_cache

import numpy as np

from qa.index.passage import NodeWithScore
from qa.config import Config
from qa.errors import InputError
from qa.answer import features as F
from qa.answer.abstain import load_abstention, load_floor, model_file
from qa.answer.ranker import Ranker, fits_index, load_ranker
from qa.answer.compose import Writer, enumeration, sentences, trim, unverified_numbers  # noqa: F401
from qa.answer.meaning import MeaningMatcher
from qa.answer.records import RecordAnswers
from qa.answer.results import Answer, Candidate, Citation, clean_question  # noqa: F401
from qa.answer.rules import coverage, has_figure, kind_fits, measures_in, shared_run, year_fits
from qa.search.crosslingual import CrossLingual
from qa.search.query import Query, analyse, uses_glossary
from qa.search.fusion import load_fusion
from qa.search.retrieval import HybridRetriever, Scope
from qa.index.index import Index
from qa.index.store import embed_text
from qa.text import normalise

PASSAGES_READ = 6         # top passages whose sentences compete
MAX_SENTENCES = 3
LEARNED_POOL = 16         # candidates (best by the hand-set score) the learned scorer reorders
MAX_LINKED = 2            # figures of the same indicator from other documents
FOLLOW_UP_RATIO = 0.75    # a further sentence must score this close to the best…
CLOSE_RATIO = 0.9         # …and add a term, unless it is nearly as good as the best
# A word no passage contains (colloquial "房子", "孩子") cannot tell passages apart.
UNKNOWN_TERM_WEIGHT = 0.5
ITEM_NUMBER = re.compile(r"^\s*\d{1,2}[.．、]\s*")
ANCHOR_BONUS = 1.2
PHRASE_WEIGHT = 0.5  # a run of the question's own words in a sentence is strong evidence
PHRASE_CAP = 12  # characters: a run this long counts fully
NAME_MISSING = 0.5
MEASURE_MISSING = 0.3  # "总投资多少" is not answered by a sentence that gives only a length


WEIGHTS_CACHED = 8192  # terms whose weight an answerer remembers
PIECES_CACHED = 4096  # passages whose sentences an answerer remembers


def states_figure(sentence: str) -> bool:
    """Whether a sentence states a figure beyond its list item's number ("3．…")."""
    return has_figure(ITEM_NUMBER.sub("", sentence))


class Answerer:
    """Answers from one index; `ask` is cheap enough for a chat and a batch."""

    def __init__(self, index: Index, config: Config, mode: str = "hybrid",
                 use_commitments: bool = True, ranker: Ranker | None | str = "configured"):
        self.index = index
        self.config = config
        # the learned scorer (qa/data/answer_ranker.json) when configured and the index's embedding
        # model is the one it was trained on; None: the hand-set score
        if ranker == "configured":
            ranker = load_ranker() if config.answer_scorer == "learned" and fits_index(index) else None
        self.ranker = ranker
        # the learned answer-or-decline decision when configured, calibrated on the scorer's choices
        # (qa/data/abstention.json for the hand-set one, abstention_learned.json for the learned one)
        self.abstention = load_abstention(model_file("learned" if ranker is not None else "rules")) \
            if config.abstention == "learned" else None
        # questions the learned scorer does not read (scorer_for) are judged as the hand-set score's
        self.abstention_by_meaning = load_abstention(model_file("rules")) \
            if config.abstention == "learned" and ranker is not None else self.abstention
        self.glossary = uses_glossary(config.glossary, index)  # QA_GLOSSARY, "auto" resolved
        self.records = RecordAnswers(index) if use_commitments else None
        self.retriever = HybridRetriever(index, top_k=config.top_k, rrf_k=config.rrf_k, mode=mode,
                                         fusion=load_fusion() if config.fusion == "learned" else None)
        self._weights = lru_cache(maxsize=WEIGHTS_CACHED)(self._weight)
        self._pieces = lru_cache(maxsize=PIECES_CACHED)(self._passage_pieces)
        self.writer = Writer(self)
        # English questions against Chinese sentences (USE multilingual v3), loaded on first use
        self.crosslingual = CrossLingual.from_config(config)
        # questions read by meaning are also declined when no chosen sentence is closer to them, by
        # the cross-lingual model, than unrelated text is by chance (qa/data/abstention_meaning.json)
        self.floor = load_floor(self.crosslingual) if config.abstention == "learned" else None
        self.meaning = MeaningMatcher(index, crosslingual=self.crosslingual)  # questions with little Chinese

    def scorer_for(self, query: Query) -> Ranker | None:
        """The learned scorer, except for a question judged by meaning (English read through the
        dictionary, so no Chinese word to share with a sentence): its features were learned on
        questions that share words, and it declined most such questions (7 of our 21 English ones
        answered, against 16 by the hand-set score with meaning)."""
        return None if self.ranker is None or self.meaning.applies(query) else self.ranker

    def weight(self, term: str) -> float:
        """A question term's weight: its inverse document frequency over passages (rare terms
        decide what a question is about); a term no passage holds weighs UNKNOWN_TERM_WEIGHT."""
        return self._weights(term)

    def _weight(self, term: str) -> float:
        # terms are jieba tokens like the index's own, so the index's counts serve (no scan)
        idf = self.index.stats.idf(term)
        return UNKNOWN_TERM_WEIGHT if idf is None else idf

    def clear_caches(self) -> None:
        """Forget memoised tokens and term weights (a benchmark's fair start)."""
        self.index.clear_caches()
        self._weights.cache_clear()

    def prepare(self, questions: list[str]) -> None:
        """Embed many questions' retrieval texts in one call (a batch file): one model call
        for all is several times faster than one per question. Unreadable questions are left
        for `ask` to refuse."""
        queries = []
        for question in questions:
            try:
                queries.append(analyse(clean_question(question, self.config.max_question_chars),
                                       self.index, self.glossary, self.config.lexicon))
            except InputError:
                continue
        self.retriever.prepare(queries)

    def ask(self, question: str) -> Answer:
        started = time.perf_counter()
        question = clean_question(question, self.config.max_question_chars)
        query = analyse(question, self.index, self.glossary, self.config.lexicon)
        results = self.retriever.retrieve_query(query)
        answer = self._compose(question, query, self.evidence(query, results))
        answer.retrieved = [self._retrieved(r) for r in results[:10]]
        answer.latency_ms = (time.perf_counter() - started) * 1000
        return answer

    def evidence(self, query: Query, results: list[NodeWithScore]) -> list[NodeWithScore]:
        """The passages whose sentences compete: the top retrieved, then those of matching records."""
        read = results[:PASSAGES_READ]
        if self.records is not None:
            seen = {r.node.node_id for r in read}
            read += [r for r in self.records.passages(query) if r.node.node_id not in seen]
        return read

    @staticmethod
    def _retrieved(result: NodeWithScore) -> dict:
        meta = result.node.metadata
        return {"doc": meta.get("doc", ""), "title": meta.get("title", ""),
                "heading": meta.get("heading", ""), "text": result.node.get_content(),
                "score": round(float(result.score or 0.0), 6)}

    def context_and_pieces(self, result: NodeWithScore) -> tuple[str, tuple[tuple[str, str], ...]]:
        """A passage's normalised heading and text, and its candidate sentences (raw, normalised):
        from the cache for a passage of the index, worked out afresh for one from elsewhere."""
        if self.index.passages.get(result.node.node_id) is not None:
            return self._pieces(result.node.node_id)
        return self._passage_pieces(result.node.node_id, result.node)

    def _passage_pieces(self, node_id: str, node=None) -> tuple[str, tuple[tuple[str, str], ...]]:
        """A passage's normalised context and its candidate sentences (raw, normalised),
        worked out once per passage rather than once per question."""
        node = node or self.index.passages[node_id]
        body = node.get_content()
        context = normalise(node.metadata.get("heading", "") + body)
        raw = [body] if node.metadata.get("type") == "table_row" else sentences(body)
        pieces = tuple((p.strip(), normalise(p.strip())) for p in raw if len(p.strip()) >= 4)
        return context, pieces

    def candidates(self, query: Query, results: list[NodeWithScore]) -> list[Candidate]:
        """Every candidate sentence of the passages read, best first, with its features and,
        when a learned scorer is loaded, its probability (the order is then by probability)."""
        weights = {t: self.weight(t) for t in query.terms}
        measures = measures_in(query.terms) if query.kind == "how_much" else []
        known = [t for t in query.terms if weights[t] != UNKNOWN_TERM_WEIGHT]
        # the question's most specific word (链主, 巩固率…) should be in the answering sentence
        anchor = max(known, key=lambda t: (weights[t], len(t))) if known else None
        names = [t for t in query.terms if self.index.tokenizer.is_corpus_term(t)]
        named = max(names, key=len) if names else None
        asked = normalise(query.retrieval_text or query.search_text)
        fits = Scope(query)
        view = F.QuestionView.of(normalise(query.search_text or query.text), query.kind, query.terms,
                                 weights, query.wants_number)
        top_score = max((float(r.score or 0.0) for r in results[:PASSAGES_READ]), default=0.0) or 1.0
        ranker = self.scorer_for(query)
        dense = self._dense_similarities(query, results) if ranker is not None else None
        by_meaning = {} if not self.meaning.applies(query) else self.meaning.shares(query, [
            p for r in results for p, _ in self.context_and_pieces(r)[1]
            if not query.wants_number or states_figure(p)])
        candidates = []
        for rank, result in enumerate(results):
            meta = result.node.metadata
            body = result.node.get_content()
            heading = meta.get("heading", "")
            context, pieces = self.context_and_pieces(result)  # normalised: matched, never shown
            if fits.place_fits(meta, context) is False or fits.period_fits(meta, context) is False:
                continue  # evidence about another place or period never answers
            if meta.get("type") == "caption" and "图" not in query.text:
                continue  # a figure's caption answers only questions about the figure
            scope = min(fits.factor(meta, context), 1.0)
            context_cov, _ = coverage(query.terms, context, weights, normalised=True)
            passage = {"retrieval_rank": 1.0 / (1 + rank), "scope": scope,
                       # a record's passage (rank ≥ PASSAGES_READ) has a score of another scale
                       "retrieval_score_ratio": min(float(result.score or 0.0) / top_score, 1.0),
                       "record_passage": float(rank >= PASSAGES_READ), "top_passage": float(rank == 0),
                       "table_row": float(meta.get("type") == "table_row"),
                       "context_coverage": context_cov, f"kind={query.kind}": 1.0,
                       "dense_similarity": dense[rank] if dense is not None else 0.0}
            norm_heading = normalise(heading)
            kept = [i for i, (piece, _) in enumerate(pieces)
                    if not query.wants_number or states_figure(piece)]
            found_in = {i: coverage(query.terms, pieces[i][1], weights, normalised=True) for i in kept}
            # the learned scorer reads the neighbours' coverage too, kept or not
            coverages = [found_in[i][0] if i in found_in else coverage(query.terms, norm, weights, normalised=True)[0]
                         for i, (_, norm) in enumerate(pieces)] if ranker is not None else []
            for position in kept:
                piece, norm_piece = pieces[position]
                cov, found = found_in[position]
                support = max(0.6 * cov + 0.4 * context_cov, by_meaning.get(piece, 0.0))
                year_ok = year_fits(query, piece, body, heading, meta.get("period", ""))
                measure_missing = bool(measures) and not any(m in norm_piece for m in measures)
                name_missing = bool(named) and named not in context
                if not year_ok:
                    support *= 0.3
                if measure_missing:
                    support *= MEASURE_MISSING
                if name_missing:
                    support *= NAME_MISSING  # the question names an indicator or project not here
                phrase = shared_run(asked, norm_piece, PHRASE_CAP) / PHRASE_CAP
                fit = kind_fits(query.kind, piece)
                has_anchor = bool(anchor and anchor in found)
                score = (support + PHRASE_WEIGHT * phrase) * (1 + fit) \
                    * (1 + 0.1 / (1 + rank)) * (ANCHOR_BONUS if has_anchor else 1.0)
                values = dict(passage)
                if ranker is not None:
                    values.update({
                        "coverage": cov, "support": support, "phrase": phrase, "anchor": float(has_anchor),
                        "name_missing": float(name_missing), "measure_missing": float(measure_missing),
                        "year_mismatch": float(not year_ok), "kind_fit": fit, "rule_score": score * scope})
                candidates.append(Candidate(score * scope, support * scope, piece, result, found, values,
                                            where=(norm_piece, norm_heading, position, coverages)))
        candidates.sort(key=lambda c: -c.score)
        if ranker is not None and candidates:
            # the learned scorer reorders the hand-set score's best LEARNED_POOL (they hold the
            # answer's sentence nearly always: 98.1 % of CMRC dev's 98.8 % at 200 passages)
            candidates = candidates[:LEARNED_POOL]
            for cand in candidates:
                cand.features.update(F.piece_features(view, cand.sentence, *cand.where))
            rows = F.relative_features(candidates)
            for cand, p in zip(candidates, ranker.probabilities(np.asarray(rows))):
                cand.probability = float(p)
            candidates.sort(key=lambda c: -c.probability)  # ties keep the hand-set order
        return candidates

    def _dense_similarities(self, query: Query, results: list[NodeWithScore]) -> list[float]:
        """The model's cosine similarity of the question and each passage: stored vectors for the
        index's passages (the question's vector is the one retrieval embedded), embedded afresh
        for passages from elsewhere."""
        question = self.index.embed_queries([self.retriever.dense_text(query)])[0]
        rows = [self.index.passages.row_of(r.node.node_id) for r in results]
        out = np.zeros(len(results))
        known = [i for i, row in enumerate(rows) if row is not None]
        if known:
            out[known] = self.index.passage_vectors([rows[i] for i in known]) @ question
        other = [i for i, row in enumerate(rows) if row is None]
        if other:
            out[other] = self.index.embed_passages([embed_text(results[i].node) for i in other]) @ question
        return out.tolist()

    def select(self, query: Query, results: list[NodeWithScore] | None = None) -> list[Candidate]:
        """The sentences that answer `query` from `results` (the passages read; retrieved for the
        query when not given): the best, plus close runners-up; [] when none answers."""
        if results is None:
            results = self.evidence(query, self.retriever.retrieve_query(query))
        candidates = self.candidates(query, results)
        ranker = self.scorer_for(query)
        if ranker is not None:
            return self._select_learned(ranker, candidates, self.config.min_support)
        if not candidates or candidates[0].coverage < self.config.min_support:
            return []
        best = candidates[0]
        chosen = [best]
        covered = set(best.covered)
        for cand in candidates[1:]:
            if len(chosen) >= MAX_SENTENCES:
                break
            if cand.score < FOLLOW_UP_RATIO * best.score or cand.sentence in {c.sentence for c in chosen}:
                continue
            if cand.covered - covered or cand.score >= CLOSE_RATIO * best.score:
                chosen.append(cand)
                covered |= cand.covered
        return chosen

    @staticmethod
    def _select_learned(ranker: Ranker, candidates: list[Candidate], min_support: float) -> list[Candidate]:
        """The most probable sentence when it reaches the model's threshold and covers enough of
        the question, or is probable enough that its wording does not matter (else nothing: the
        answer declines), plus runners-up nearly as probable."""
        if not candidates or candidates[0].probability < ranker.threshold:
            return []
        if candidates[0].coverage < min_support and candidates[0].probability < ranker.confident:
            return []
        best = candidates[0]
        chosen = [best]
        for cand in candidates[1:]:
            if len(chosen) >= MAX_SENTENCES or cand.probability < ranker.follow_ratio * best.probability:
                break
            if cand.sentence not in {c.sentence for c in chosen}:
                chosen.append(cand)
        return chosen

    @staticmethod
    def reading_order(chosen: list[Candidate]) -> list[Candidate]:
        """Sentences of one passage in the passage's order (an answer running over two sentences
        stays whole); passages in the order of their best sentence."""
        passages = {c.node.node.node_id: n for n, c in reversed(list(enumerate(chosen)))}
        return sorted(chosen, key=lambda c: (passages[c.node.node.node_id], c.where[2] if c.where else 0))

    def _chosen(self, query: Query, results: list[NodeWithScore]) -> list[Candidate]:
        """The selected sentences, or none when the abstention model judges that they probably do
        not hold what is asked (each part of a multi-part question is judged on its own), or, for
        a question read by meaning, when they are no closer than chance or state no figure asked."""
        chosen = self.select(query, results)
        judge = self.abstention if self.scorer_for(query) is self.ranker else self.abstention_by_meaning
        if chosen and judge is not None and not judge.answers(self, query, chosen, results):
            return []
        if chosen and self.floor is not None and self.meaning.applies(query) \
                and not self.floor.answers(self.crosslingual, query, chosen):
            return []
        if chosen and query.asks_figure and self.meaning.applies(query) \
                and not any(states_figure(c.sentence) for c in chosen):
            return []  # closest in meaning, yet no figure where one is asked: the figure is not there
        return chosen

    def _compose(self, question: str, query: Query, results: list[NodeWithScore]) -> Answer:
        selections = []
        if query.parts:
            # each sub-question gets its own best sentence; a vague follow-on part
            # ("这个数是每年的吗") that finds none is left to the other parts' evidence
            selections = [self._chosen(part, results)[:1] for part in query.parts]
            chosen = list({c.sentence: c for sel in selections for c in sel}.values())
        else:
            chosen = self._chosen(query, results)
        if not chosen:
            return self._abstain(question, query, results)
        chosen = self._with_linked(chosen, query)
        if self.scorer_for(query) is not None:
            chosen = self.reading_order(chosen)
        written = self.writer.write(query, chosen, results, list(zip(query.parts, selections)))
        citations = [self._citation(n, node, sentence) for n, node, sentence in written.cited]
        return Answer(question=question, answer=written.text, abstained=False, citations=citations,
                      sentences=written.sentences)

    def _with_linked(self, chosen: list[Candidate], query: Query) -> list[Candidate]:
        """Add the same indicator's figure from other documents, each with its own source,
        and put dated figures newest first."""
        if self.records is None or query.kind not in ("how_much", "what"):
            return chosen
        best = chosen[0]
        cited = {c.node.node.node_id for c in chosen}
        extra = []
        for other in self.records.linked(best.node.node.node_id, query, cited)[:MAX_LINKED]:
            node = self.index.passages.get(other["node_id"])
            sentence = node and next((s for s in sentences(node.get_content()) if other["value"] in s), None)
            if sentence:
                extra.append(Candidate(best.score, best.coverage, sentence,
                                       NodeWithScore(node=node, score=0.0), frozenset()))
        if not extra:
            return chosen
        newest_first = sorted(chosen[:1] + extra, reverse=True,
                              key=lambda c: self.records.year_of(c.node.node.node_id))
        return newest_first + chosen[1:]

    def _citation(self, n: int, result: NodeWithScore, sentence: str) -> Citation:
        meta = result.node.metadata
        return Citation(n=n, doc=meta.get("doc", ""), title=meta.get("short_title") or meta.get("title", ""),
                        heading=meta.get("heading", ""), text=result.node.get_content(),
                        sentence=sentence)

    def _abstain(self, question: str, query: Query, results: list[NodeWithScore]) -> Answer:
        """Decline, saying what the nearest passage of the asked place and period does mention and
        what it does not give ("文件提到…，但没有给出…"), then the nearest passages."""
        scope = "".join(query.places) + "".join(query.periods) + "".join(f"{y}年" for y in query.years)
        text = (f"现有文件中没有找到能回答这个问题的内容{('（' + scope + '）') if scope else ''}。"
                "以下是最相关的段落，供参考。")
        related = results[:3]
        view = F.QuestionView.of(normalise(query.search_text or query.text), query.kind, query.terms,
                                 {t: self.weight(t) for t in query.terms}, query.wants_number)
        fits = Scope(query)
        for result in results[:3]:
            context, _ = self.context_and_pieces(result)
            meta = result.node.metadata
            if fits.place_fits(meta, context) is False or fits.period_fits(meta, context) is False:
                continue
            found = F.found_instead(view, context)
            if found:
                text = f"文件提到“{found[0]}”[1]，但没有给出{found[1]}。" + text
                related = [result] + [r for r in results[:3] if r is not result]
                break
        citations = [self._citation(i + 1, r, "") for i, r in enumerate(related)]
        return Answer(question=question, answer=text, abstained=True, citations=citations)
