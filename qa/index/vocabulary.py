"""What an index's tokenizer keeps whole, and the places it knows.

A build gathers, per document, the names jieba would otherwise cut (quoted names, indicator-table
rows) and, for the corpus, the names a question scopes itself with (the corpus's places and their
short forms, five-year plan names, planning vocabulary): the latter are kept whole but are not
"corpus terms" to answering, since naming one asks about scope rather than about a subject.
"""
from __future__ import annotations

from qa.ingest.catalog import FIVE_YEAR_PLAN_NAMES
from qa.ingest.divisions import Divisions
from qa.ingest.gazetteer import Gazetteer, OwnPlace, corpus_places
from qa.ingest.tables import find_tables
from qa.text import QUOTED, planning_terms

# Plan names a tokenizer keeps whole: "十一五" onwards (two-character early ones like "一五" are
# mostly pieces of other numbers).
PERIOD_NAMES = frozenset(name for name in FIVE_YEAR_PLAN_NAMES if len(name) >= 3)


def document_terms(document) -> list[str]:
    """Words jieba must keep whole: the document's quoted names and its tables' indicators."""
    indicators = {row.indicator for t in find_tables(document.text) for row in t.rows}
    return sorted({m.group(1) for m in QUOTED.finditer(document.text)} | indicators)


def places_and_names(catalog: dict[str, dict]) -> tuple[list[OwnPlace], set[str]]:
    """The corpus's own places (from every document's metadata) and the scoping names the
    tokenizer keeps whole: places and their short forms, plan periods, planning vocabulary."""
    places = corpus_places(catalog, Divisions.load())
    return places, Gazetteer(places).terms() | PERIOD_NAMES | set(planning_terms())
