"""Composition: the selected sentences in, the answer's text, its sources and its parts out.

Every sentence stays copied from its passage (cut to clauses at most, marked with "…") and ends
with the [n] of its source; a figure the cited passage does not print is never stated. What
composition adds is order and labels:

- a how-much or when question leads with the clause that gives the figure or date;
- a whether-question leads with what the documents say ("《…》提出：…");
- a list question gets the items that follow its introducing sentence, in the passage and in the
  passages after it under the same heading, or the one item the question names ("两带");
- a question that names no place, answered from several places, is answered place by place, each
  group labelled with its place and its document's short title;
- a question of several parts gets each part's answer, and is told which part no document answers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from qa.index.passage import NodeWithScore
from qa.answer.lists import condense, list_items
from qa.ingest.divisions import level_of
from qa.text import normalise

SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]?")
CLAUSE = re.compile(r"[^，,；;：:。！？]+[，,；;：:。！？]?")
FIGURE = re.compile(r"\d+(?:\.\d+)?")
SHORT_SENTENCE = 16
LONG_SENTENCE = 160       # longer sentences are trimmed to the clauses that answer
LONG_LIST = 300
LEAD_AFTER = 30           # a figure printed this far into a sentence is brought to the front…
LEAD_MIN_SENTENCE = 60    # …of a sentence at least this long
ITEM_ENDS = ("；", ";", "。", "：", ":")  # a clause ending so closes an item of an enumeration
LEAD_SHARE = 0.75         # share of the question's content characters a leading clause holds
MAX_PLACES = 4            # places an answer to a question naming none is grouped into
PER_PLACE = 2             # sentences each place contributes
PLACE_RATIO = 0.75        # a place's best sentence must score this close to the best overall

WORDS_FILE = Path(__file__).resolve().parents[1] / "data" / "answer_words.tsv"
PLACE_WORDS_FILE = Path(__file__).resolve().parents[1] / "data" / "place_words.tsv"


@lru_cache(maxsize=1)
def place_words() -> tuple[tuple[str, str], ...]:
    """("镇上", "镇"): words for an unnamed place of some level, longest first."""
    pairs = []
    for line in PLACE_WORDS_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#") and "\t" in line:
            word, level = line.split("\t", 1)
            pairs.append((word.strip(), level.strip()))
    return tuple(sorted(pairs, key=lambda p: -len(p[0])))


def asked_level(question: str) -> str:
    """The level of place a question means without naming one ("镇上…" → 镇); '' when it says none."""
    return next((level for word, level in place_words() if word in question), "")


@lru_cache(maxsize=1)
def lead_verbs() -> list[tuple[re.Pattern, str]]:
    """How a whether-answer introduces what a document says, by its kind or title ("规划" → 提出)."""
    pairs = []
    for line in WORDS_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#") and "\t" in line:
            pattern, verb = line.split("\t", 1)
            pairs.append((re.compile(pattern.strip()), verb.strip()))
    return pairs


def lead_verb(kind: str, title: str) -> str:
    for pattern, verb in lead_verbs():
        if pattern.search(kind) or pattern.search(title):
            return verb
    return "提到"


def sentences(passage: str) -> list[str]:
    """Sentences of a passage; a short title sentence ("1.城关镇市民运动中心。") stays with the next."""
    out: list[str] = []
    carry = ""
    for sentence in SENTENCE.findall(passage):
        sentence = carry + sentence.strip()
        carry = ""
        if len(sentence) < SHORT_SENTENCE:
            carry = sentence
            continue
        out.append(sentence)
    if carry:
        out.append(carry)
    return out


def trim(sentence: str, terms: list[str], weights: dict[str, float], kind: str = "what") -> str:
    """Cut an over-long sentence to the run of clauses that mention the question's terms;
    an enumeration is kept whole up to a larger bound, since its items are the answer."""
    if len(sentence) <= (LONG_LIST if kind == "list" else LONG_SENTENCE):
        return sentence
    clauses = CLAUSE.findall(sentence)
    hits = [i for i, c in enumerate(clauses) if any(t in normalise(c) for t in terms)]
    if not hits:
        return sentence[:LONG_SENTENCE] + "…"
    first, last = hits[0], hits[-1]
    while len("".join(clauses[first:last + 1])) > 2 * LONG_SENTENCE and last > first:
        last -= 1
    # what is asked usually follows the clause naming the subject: later clauses join up to LONG_SENTENCE
    while last + 1 < len(clauses) and len("".join(clauses[first:last + 2])) <= LONG_SENTENCE:
        last += 1
    return _run(clauses, first, last)


def _run(clauses: list[str], first: int, last: int) -> str:
    """Clauses first..last of a sentence, with "…" where the sentence goes on."""
    text = "".join(clauses[first:last + 1]).strip()
    return ("…" if first > 0 else "") + text.rstrip("，,；;：:") + ("…" if last < len(clauses) - 1 else "")


def enumeration(sentence: str, passage: str) -> str:
    """A list's items often follow the sentence that introduces them ("三片区：…。高新智造集聚区…。
    生态宜居示范区…。"): keep the following sentences of the passage up to the list bound."""
    start = passage.find(sentence)
    if start < 0 or len(sentence) >= LONG_LIST:
        return condense(sentence, LONG_LIST)
    text = sentence
    for following in sentences(passage[start + len(sentence):]):
        if len(text) + len(following) > LONG_LIST:
            break
        text += following
    return text


def unverified_numbers(text: str, passage: str) -> list[str]:
    """Figures of an answer sentence that its cited passage does not contain verbatim."""
    return [n for n in FIGURE.findall(text) if n not in passage]


def _weighed(terms: list[str], weights: dict[str, float], text: str) -> float:
    norm = normalise(text)
    return sum(weights.get(t, 1.0) for t in terms if t in norm)


def figure_first(sentence: str, terms: list[str], weights: dict[str, float]) -> str:
    """A long sentence whose figure comes late, cut to the clauses around the figure that answers
    ("…全年盘活闲置楼宇、工业厂房面积60万平方米以上"): of the clauses holding a figure, the one
    whose neighbourhood (the clause before and after) holds most of the question's terms, with the
    neighbours that hold some, and the figures that follow it within its item (up to a "；")."""
    if len(sentence) < LEAD_MIN_SENTENCE:
        return sentence
    clauses = CLAUSE.findall(sentence)
    figures = [i for i, c in enumerate(clauses) if FIGURE.search(c)]
    if not figures:
        return sentence

    def window(i: int) -> tuple[int, int]:
        first = i - 1 if i > 0 and _weighed(terms, weights, clauses[i - 1]) \
            and not clauses[i - 1].endswith(ITEM_ENDS) else i
        last = i + 1 if i + 1 < len(clauses) and _weighed(terms, weights, clauses[i + 1]) \
            and not clauses[i].endswith(ITEM_ENDS) else i
        return first, last

    def held(i: int) -> float:
        first, last = window(i)
        return _weighed(terms, weights, "".join(clauses[first:last + 1]))

    best = max(figures, key=lambda i: (held(i), -i))
    first, last = window(best)
    if len("".join(clauses[:first])) < LEAD_AFTER:
        return sentence
    while last + 1 < len(clauses) and FIGURE.search(clauses[last + 1]) \
            and not clauses[last].endswith(ITEM_ENDS) and len("".join(clauses[first:last + 2])) <= LONG_SENTENCE:
        last += 1
    return _run(clauses, first, last)


def asked_clauses(sentence: str, terms: list[str], found: frozenset) -> str | None:
    """For a whether-question: the clauses of a sentence that say the thing asked ("推进某某第三小学
    项目建设"). A clause must hold every question term its sentence holds, and most of the
    question's content characters, so that "建新小学" finds "新建小学" and "小学项目建设" but not
    "现有…小学5所"; None when no clause does."""
    wanted = set("".join(terms))
    if len(wanted) < 2:
        return None
    clauses = CLAUSE.findall(sentence)
    shares = []
    for clause in clauses:
        norm = normalise(clause)
        whole = all(t in norm for t in found)
        shares.append(len(wanted & set(norm)) / len(wanted) if whole else 0.0)
    best = max(shares, default=0.0)
    if best < LEAD_SHARE:
        return None
    return "…".join(_run(clauses, i, i).strip("…") for i, s in enumerate(shares) if s == best)


@dataclass
class Piece:
    """One sentence (or clause run) of an answer and where it comes from."""
    text: str
    node: NodeWithScore
    sentence: str  # the whole sentence, shown with the citation
    lead: bool = False   # a whether-question's answering clause
    first: bool = False  # the list item the question names

    @property
    def meta(self) -> dict:
        return self.node.node.metadata

    @property
    def key(self) -> str:
        return self.meta.get("doc", "")


def distinct(pieces: list[Piece]) -> list[Piece]:
    """Pieces without repeats: one whose text another already holds is dropped, and one that holds
    an earlier one's text takes its place (a list item found both as a sentence and as an item)."""
    out: list[Piece] = []
    for piece in pieces:
        core = piece.text.strip("…。 ")
        if any(core in kept.text for kept in out):
            continue
        held = next((i for i, kept in enumerate(out) if kept.text.strip("…。 ") in piece.text), None)
        if held is None:
            out.append(piece)
        else:
            piece.first = piece.first or out[held].first
            out[held] = piece
    return out


@dataclass
class Composition:
    text: str
    cited: list[tuple[int, NodeWithScore, str]] = field(default_factory=list)
    sentences: list[dict] = field(default_factory=list)


def group_label(meta: dict) -> str:
    """「某某镇《“十五五”规划纲要》」: the place, then the document's short title without it."""
    place = meta.get("place", "")
    title = meta.get("short_title") or meta.get("title", "")
    if not place:
        return title
    rest = title[len(place):].strip() if title.startswith(place) else title
    return f"{place}《{rest}》" if rest else place


class Writer:
    """Composes the answers of one answerer (its index, records, term weights and settings)."""

    def __init__(self, answerer):
        self.answerer = answerer

    def by_place(self, query, chosen: list, results: list[NodeWithScore]) -> list:
        """A question naming no place whose best evidence comes from several places: the best
        sentences of each place (searched in that place's documents), best place first."""
        if query.places or query.other_places or query.parts:
            return chosen
        places = list(dict.fromkeys(c.node.node.metadata.get("place", "") for c in chosen))
        if len([p for p in places if p]) < 2:
            return chosen
        for r in results:
            place = r.node.metadata.get("place", "")
            if place and place not in places:
                places.append(place)
        level = asked_level(query.text)
        if level and any(level_of(p) == level for p in places):
            places = [p for p in places if level_of(p) == level]  # "镇上…": the towns, not the district
        gazetteer = self.answerer.index.gazetteer
        found = []
        for place in places[:MAX_PLACES]:
            if not place:
                continue
            forms = tuple(f for f in gazetteer.forms_of(place) if not f.isascii() and f != place)
            scoped = replace(query, places=[place], place_forms={**query.place_forms, place: forms})
            own = [c for c in self.answerer.select(scoped)
                   if c.node.node.metadata.get("place") == place][:PER_PLACE]
            if own:
                found.append(own)
        if not found:
            return chosen
        top = max(group[0].score for group in found)
        found = sorted((g for g in found if g[0].score >= PLACE_RATIO * top), key=lambda g: -g[0].score)
        return [c for group in found for c in group] if len(found) >= 2 or level else chosen

    def render(self, query, chosen: list) -> list[Piece]:
        """Each selected sentence as the text to show: a record's fact, a list's items, a clause run."""
        answerer = self.answerer
        weights = {t: answerer.weight(t) for t in query.terms}
        pieces = []
        listed = False  # one list is collected whole, from the first sentence that heads one
        # an English question's words are in no sentence: cut around the clause closest in meaning
        by_meaning = answerer.meaning.applies(query)
        for cand in chosen:
            node = cand.node.node
            passage = node.get_content()
            fact = answerer.records.fact(node.node_id, cand.sentence, query) if answerer.records else None
            if not fact:
                items = list_items(answerer.index.passages, cand.node, cand.sentence, query.text,
                                   query.kind == "list" and not listed)
                if items:
                    listed = listed or len(items) > 1
                    pieces += [Piece(i.text, i.node, i.sentence, first=i.named) for i in items
                               if not unverified_numbers(i.text, i.node.node.get_content())]
                    continue
            lead = False
            terms, cut_weights = query.terms, weights
            if by_meaning:
                focus = normalise(answerer.meaning.focus(query, cand.sentence))
                terms, cut_weights = [focus], {focus: 1.0}
            if fact:
                text = fact
            elif query.kind == "list" and len(chosen) == 1:
                text = enumeration(cand.sentence, passage)
            elif query.kind in ("how_much", "when") and not query.parts:
                text = trim(figure_first(cand.sentence, terms, cut_weights), terms, cut_weights, query.kind)
            elif query.kind == "whether" and asked_clauses(cand.sentence, query.terms, cand.covered):
                text, lead = asked_clauses(cand.sentence, query.terms, cand.covered), True
            else:
                text = trim(cand.sentence, terms, cut_weights, query.kind)
            if unverified_numbers(text, passage):
                continue  # never state a figure the cited passage does not print
            pieces.append(Piece(text, cand.node, cand.sentence, lead))
        pieces = distinct(pieces)
        if query.kind in ("how_much", "when"):
            pieces.sort(key=lambda p: not FIGURE.search(p.text))
        pieces.sort(key=lambda p: not p.first)
        if query.kind == "whether":
            # what a document says about the thing asked stands for it; its other sentences go
            led = {p.key for p in pieces if p.lead}
            pieces = sorted((p for p in pieces if p.lead or p.key not in led), key=lambda p: not p.lead)
        return pieces

    def write(self, query, chosen: list, results: list[NodeWithScore],
              parts: list[tuple] = ()) -> Composition:
        chosen = self.by_place(query, chosen, results)
        pieces = self.render(query, chosen)
        grouped = not query.places and len(self.answerer.index.gazetteer.document_places) > 1 \
            and len({p.meta.get("place", "") for p in pieces}) > 1
        missing = self.unanswered(parts, pieces)
        return self.assemble(query, pieces, grouped, missing)

    def unanswered(self, parts, pieces: list[Piece]) -> list[str]:
        """Sub-questions nothing answers: their own search found no sentence, and not one of their
        words known to the index is in what the other parts' sentences say."""
        said = normalise("".join(p.text for p in pieces))
        out = []
        for part, selected in parts:
            known = [t for t in part.terms if self.answerer.index.stats.idf(t) is not None]
            if not selected and known and not any(t in said for t in known):
                out.append(part.text.strip().rstrip("？?。"))
        return out

    def assemble(self, query, pieces: list[Piece], grouped: bool, missing: list[str]) -> Composition:
        """The answer's text within its length bound: groups by document when places are labelled
        or a whether-question leads, each sentence with its [n]; then the parts left unanswered."""
        limit = self.answerer.config.max_answer_chars
        done = Composition(text="")
        numbers: dict[str, int] = {}
        out: list[str] = []
        used = 0
        groups: dict[str, list[Piece]] = {}
        for piece in pieces:
            groups.setdefault(piece.key if (grouped or query.kind == "whether") else "", []).append(piece)
        for members in groups.values():
            meta = members[0].meta
            title = meta.get("short_title") or meta.get("title", "")
            label = group_label(meta) if grouped else ""
            if members[0].lead:
                label = (label or f"《{title}》") + lead_verb(meta.get("kind", ""), title)
            head = f"{label}：" if label else ""
            written = ""
            for i, piece in enumerate(members):
                passage = piece.node.node.get_content()
                n = numbers.get(passage) or len(numbers) + 1
                text = piece.text.rstrip()
                if piece.lead:  # "《…》提出：clause[1]；clause[2]。"
                    more = i + 1 < len(members) and members[i + 1].lead
                    text = text.rstrip("。；;，,") + f"[{n}]" + ("；" if more else "。")
                else:
                    text += f"[{n}]"
                cost = len(text) + (0 if written else len(head))
                if used + cost > limit:
                    break
                if passage not in numbers:
                    numbers[passage] = n
                    done.cited.append((n, piece.node, piece.sentence))
                written += text
                used += cost
                done.sentences.append({"text": text, "n": n, "place": meta.get("place", ""),
                                       "title": title, "doc": meta.get("doc", ""),
                                       "label": group_label(meta) if grouped else ""})
            if written:
                out.append(head + (written[:-1] + "。" if written.endswith("；") else written))
        for part in missing:
            note = f"关于“{part}”，现有文件中没有找到答案。"
            if used + len(note) <= limit:
                out.append(note)
                used += len(note)
                done.sentences.append({"text": note, "n": 0, "place": "", "title": "", "doc": "",
                                       "label": ""})
        done.text = ("\n" if grouped else "").join(out)
        return done
