"""CSV cells that a spreadsheet shows as text, never runs as a formula (OWASP "CSV injection").

A document sentence or a resident's comment starting with "=", "+", "-", "@", a tab or a
carriage return would be read by Excel or LibreOffice as a formula ("=HYPERLINK(…)"). Every CSV
the project writes (the web app's downloads and `qa commitments --csv`) passes its cells through
`safe_cell`, which prefixes such a cell with a single quote, as OWASP recommends; the csv
module quotes a cell holding a comma, quote or line break and doubles its quotes.
"""
from __future__ import annotations

import csv
import io
from typing import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """The cell as text, with a leading "'" when it would start a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(header: Iterable, rows: Iterable[Iterable]) -> str:
    """A whole CSV document, every cell neutralised."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([safe_cell(c) for c in header])
    for row in rows:
        writer.writerow([safe_cell(c) for c in row])
    return out.getvalue()
