"""The chat page's example questions, asked of the served index before they are shown: a
resident's first click must get the documents' own figure, not a decline or a neighbouring one.

Questions are written from the index's commitment records (a project's total investment, a
planned indicator-table target), so they fit whatever corpus is served, and each is kept only
when the answer holds the record's figure. A corpus without such records falls back to
questions from its catalog, kept when they are answered at all.
"""
from __future__ import annotations

import re
import sqlite3
from collections import defaultdict

from qa.commitments.models import PLANNED
from qa.commitments.search import Commitment, search_commitments
from qa.errors import QAError

MAX_EXAMPLES = 4
# questions tried per example shown: each is one answer (~0.1 s) when a page first loads per build
TRIES_PER_EXAMPLE = 3
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def record_question(record: Commitment) -> tuple[str, str] | None:
    """(question, the figure its answer must hold) for a record a resident could ask about."""
    if not record.place or not NUMBER.search(record.value or ""):
        return None
    if record.kind == "project" and record.fields.get("investment"):
        return f"{record.place}{record.name}总投资多少？", record.fields["investment"]
    if (record.kind == "target" and record.status == PLANNED and record.fields.get("origin") == "table"
            and re.fullmatch(r"\d{4}", record.year or "")):
        return f"{record.place}到{record.year}年{record.name}的目标是多少？", record.value
    return None


def record_questions(db, catalog: dict[str, dict]) -> list[tuple[str, str]]:
    """Newest documents first, one question each, projects and targets in turn, so that the
    first examples cover several documents and both kinds; then each document's other kind."""
    by_doc: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
    for record in search_commitments(db, limit=None, with_related=False):
        asked = record_question(record)
        if asked and record.kind not in by_doc[record.doc]:
            by_doc[record.doc][record.kind] = asked
    newest = sorted(by_doc, key=lambda doc: (catalog.get(doc) or {}).get("date", ""), reverse=True)
    turns = [sorted(by_doc[doc], reverse=i % 2 == 1) for i, doc in enumerate(newest)]  # "project" < "target"
    return [by_doc[doc][kinds[0]] for doc, kinds in zip(newest, turns)] + \
        [by_doc[doc][kind] for doc, kinds in zip(newest, turns) for kind in kinds[1:]]


def catalog_questions(catalog: dict[str, dict]) -> list[str]:
    """Questions from what the catalog knows of each document (place, period), newest first."""
    from qa.ingest.catalog import FIVE_YEAR_PLAN_NAMES

    plans = {span: name for name, span in FIVE_YEAR_PLAN_NAMES.items()}
    questions: list[str] = []
    for meta in sorted(catalog.values(), key=lambda m: m.get("date", ""), reverse=True):
        place, period = meta.get("place", ""), meta.get("period", "")
        if not place:
            continue
        if period in plans:
            question = f"{place}{plans[period]}期间要建哪些重点项目？"
        elif period[-4:].isdigit():
            question = f"{place}{period[-4:]}年地区生产总值增长目标是多少？"
        else:
            question = f"{place}的主要发展目标是什么？"
        if question not in questions:
            questions.append(question)
    return questions


def holds_figure(answer: str, figure: str) -> bool:
    return all(number in answer for number in NUMBER.findall(figure))


def answered_examples(assistant, limit: int = MAX_EXAMPLES) -> list[str]:
    """Up to `limit` questions the served index answers; record questions must give the record's
    figure, catalog questions (the fallback) must be answered."""
    index = assistant.index
    try:
        candidates = record_questions(index.commitments_db, index.catalog) if index.commitments_db else []
    except (QAError, OSError, sqlite3.Error):  # records unreadable: the catalog still gives examples
        candidates = []
    candidates += [(question, "") for question in catalog_questions(index.catalog)]
    examples: list[str] = []
    for question, figure in candidates[:limit * TRIES_PER_EXAMPLE]:
        answer = assistant.ask(question)
        if not answer.abstained and holds_figure(answer.answer, figure) and question not in examples:
            examples.append(question)
            if len(examples) == limit:
                break
    return examples
