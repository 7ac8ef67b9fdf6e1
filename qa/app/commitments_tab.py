"""The staff's commitments tab: filters, the records table, the source passage, a CSV download.

Staff check what a plan promises: each row is one record with its status (计划/已实现/在建/
已完成), 属性, baseline, target, investment and lead in columns of their own; filters narrow by
kind, status, 属性, place, document, a year range and a keyword. The source passage beside the
table follows the selected row, and the CSV download is named for the filters it holds.

Callbacks are plain functions of plain values plus the web app's runtime (only the index it
serves now is read), so tests call them without a browser; `commitments_tab` only wires them to
components. Text from documents is escaped before it reaches HTML. The web app imports this
module when it builds its tabs, so the passage highlighting of qa.app.web is shared, not copied.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass

import gradio as gr

from qa.app.exports import ExportFolder
from qa.app.limits import MAX_KEYWORD_CHARS, MAX_NAME_CHARS, text_param
from qa.app.web import highlight
from qa.commitments.models import STATUS_NAMES, STATUSES
from qa.commitments.search import KIND_NAMES, search_commitments as search_db
from qa.csvsafe import csv_text
from qa.errors import QAError

COMMITMENT_COLUMNS = ["类型", "状态", "事项", "基期值", "目标/数值", "年份", "属性", "投资", "牵头单位", "文档"]
COLUMN_WIDTHS = ["7%", "7%", "24%", "9%", "10%", "8%", "7%", "9%", "9%", "10%"]
ATTRIBUTES = ("预期性", "约束性")
NO_SOURCE = "<p>点击表格中的一行，查看原文段落。</p>"


@dataclass
class Filters:
    """What the staff filtered by; '' or None means any."""

    kind: str = ""
    status: str = ""
    attribute: str = ""
    place: str = ""
    doc: str = ""
    year_from: int | None = None
    year_to: int | None = None
    keyword: str = ""

    def file_name(self) -> str:
        """'承诺_目标指标_计划_2026-2030_小学.csv': the download says what it holds."""
        years = ""
        if self.year_from or self.year_to:
            years = f"{self.year_from or ''}-{self.year_to or ''}"
        parts = [KIND_NAMES.get(self.kind, ""), STATUS_NAMES.get(self.status, ""), self.attribute,
                 self.place, self.doc.rsplit(".", 1)[0], years, self.keyword]
        name = "_".join(["承诺"] + [p for p in parts if p] + ([] if any(parts) else ["全部"]))
        return re.sub(r"[^\w\u4e00-\u9fff\-]+", "_", name)[:120] + ".csv"


def _year(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def search_commitments(kind: str, place: str, doc: str, keyword: str, runtime, status: str = "",
                       attribute: str = "", year_from=None, year_to=None) -> list[dict]:
    """Records matching the filters ('' = any), all of them, as plain JSON, from the index the
    app serves now (a keyword segmented by that index's tokenizer); a parameter of the wrong
    type or length is refused (QAError) before anything is searched."""
    kind, place, doc, status, attribute = (text_param(v, f, MAX_NAME_CHARS) for v, f in (
        (kind, "kind"), (place, "place"), (doc, "doc"), (status, "status"), (attribute, "attribute")))
    keyword = text_param(keyword, "keyword", MAX_KEYWORD_CHARS).strip()
    index = runtime.assistant.index
    found = search_db(index.commitments_db, kind or None, place or None, doc or None,
                      keyword or None, limit=None, tokenizer=index.tokenizer, status=status or None,
                      attribute=attribute or None, years=(_year(year_from), _year(year_to)))
    return [r.to_json() for r in found]


def _figure(value: str, unit: str) -> str:
    return value + ("" if not value or unit in value else unit)


def commitment_row(r: dict) -> list[str]:
    """One compact table row; a column a kind has no use for stays empty."""
    kind = r.get("kind", "")
    baseline = (f"{r['baseline']}（{r['baseline_year']}）" if r.get("baseline_year") else r.get("baseline", "")) \
        if kind == "target" else ""
    if kind == "project":
        figure = r.get("scale", "")
    else:
        figure = _figure(r.get("value", ""), r.get("unit", ""))
    name = r.get("name", "") + (r.get("measure") or "")
    lead = r.get("lead", "") + (f"（与{'、'.join(r['partners'])}）" if r.get("partners") else "")
    return [KIND_NAMES.get(kind, kind), STATUS_NAMES.get(r.get("status", ""), r.get("status", "")),
            name, baseline, figure, r.get("year", ""), r.get("attribute", ""), r.get("investment", ""),
            lead, r.get("short_title") or r.get("doc", "")]


def commitment_source(records: list[dict], row: int | None) -> str:
    """The passage a record came from, its sentence highlighted, plus the same item elsewhere."""
    if not records or row is None or not 0 <= row < len(records):
        return NO_SOURCE
    r = records[row]
    head = f"{html.escape(r.get('short_title', ''))} › {html.escape(r.get('heading', ''))}"
    related = "".join(f"<li>{html.escape(x.get('short_title', ''))}：{html.escape(x.get('name', ''))} "
                      f"{html.escape(_figure(x.get('value', ''), x.get('unit', '')))} "
                      f"{html.escape(x.get('year', ''))} {html.escape(STATUS_NAMES.get(x.get('status', ''), ''))}</li>"
                      for x in r.get("related") or [])
    return (f'<div class="qa-source"><div class="qa-source-head">{head}</div>'
            f'<p>{html.escape(r.get("summary", ""))}</p><div class="qa-source-text">'
            f'{highlight(r.get("text", ""), r.get("sentence", ""))}</div>'
            + (f"<p>其他文件中的同一事项：</p><ul>{related}</ul>" if related else "") + "</div>")


def commitments_csv(records: list[dict], filters: Filters | None, folder: ExportFolder) -> str:
    """The shown records, table columns then source fields; UTF-8 with BOM so Excel reads Chinese;
    no cell starts a formula (qa.csvsafe). The file is named for the filters and written to the
    app's bounded export folder (`folder`, a qa.app.exports.ExportFolder), so the same filters
    reuse one file."""
    rows = (commitment_row(r) + [r.get("place", ""), r.get("summary", ""), r.get("sentence", ""),
                                 r.get("doc", ""), r.get("node_id", "")] for r in records)
    text = csv_text(COMMITMENT_COLUMNS + ["地域", "摘要", "原句", "文件", "段落编号"], rows)
    return str(folder.write((filters or Filters()).file_name(), text))


def filters_of(kind, status, attribute, place, doc, year_from, year_to, keyword) -> Filters:
    return Filters(kind or "", status or "", attribute or "", place or "", doc or "",
                   _year(year_from), _year(year_to), keyword.strip() if isinstance(keyword, str) else keyword)


def records_for(filters: Filters, runtime) -> list[dict]:
    """The records of `filters` from the index serving now, remembered per app for a few filter
    combinations (runtime.commitment_results, bounded; every filter is length-checked), so a
    browser session keeps only its filters, not ~1 MB of records."""
    index = runtime.assistant.index
    key = tuple(vars(filters).values())
    found = runtime.commitment_results.get(key)
    if found is not None and found[0] is index:
        return found[1]
    records = search_commitments(filters.kind, filters.place, filters.doc, filters.keyword, runtime,
                                 filters.status, filters.attribute, filters.year_from, filters.year_to)
    runtime.commitment_results.put(key, (index, records))
    return records


def commitments_query(kind, status, attribute, place, doc, year_from, year_to, keyword, runtime):
    """Commitments tab search → (table rows, records, CSV path, status line, source panel)."""
    filters = filters_of(kind, status, attribute, place, doc, year_from, year_to, keyword)
    try:
        records = records_for(filters, runtime)
    except QAError as exc:
        return [], [], None, str(exc), NO_SOURCE
    return ([commitment_row(r) for r in records], records, commitments_csv(records, filters, runtime.exports),
            f"共 {len(records)} 条。点击一行查看原文。", NO_SOURCE)


def filter_choices(records: list[dict]) -> tuple[list, list]:
    """The place and document dropdowns' choices: what the records hold."""
    places = [("全部", "")] + sorted({(r["place"], r["place"]) for r in records if r.get("place")})
    docs = [("全部", "")] + sorted({(r["short_title"], r["doc"]) for r in records if r.get("doc")})
    return places, docs


def on_page_load(runtime) -> tuple:
    """The filters' choices, read again from the index serving when a page loads (an upload may
    have replaced it since the app started). The table itself waits until the tab is opened."""
    places, docs = filter_choices(records_for(Filters(), runtime))
    return gr.Dropdown(choices=places), gr.Dropdown(choices=docs)


def commitments_tab(runtime, opened=None) -> dict | None:
    """The staff's table; returns what to refresh when a page loads. The records are not part of
    the page: they load when the tab is `opened` (a gr.Tab) or a filter changes."""
    try:
        every = records_for(Filters(), runtime)
    except QAError as exc:
        gr.Markdown(f"承诺库暂不可用：{exc}")
        return None
    kinds = [("全部", "")] + [(v, k) for k, v in KIND_NAMES.items()]
    statuses = [("全部", "")] + [(STATUS_NAMES[s], s) for s in dict.fromkeys(x for v in STATUSES.values() for x in v)]
    attributes = [("全部", "")] + [(a, a) for a in ATTRIBUTES]
    places, docs = filter_choices(every)
    shown = gr.State(None, time_to_live=runtime.config.session_ttl_s)  # the Filters the table shows
    with gr.Row():
        kind = gr.Dropdown(kinds, value="", label="类型", min_width=100)
        status = gr.Dropdown(statuses, value="", label="状态", min_width=100)
        attribute = gr.Dropdown(attributes, value="", label="属性", min_width=100)
        place = gr.Dropdown(places, value="", label="地域", min_width=100)
        doc = gr.Dropdown(docs, value="", label="文档", min_width=160)
    with gr.Row():
        year_from = gr.Number(label="年份自", precision=0, minimum=1949, maximum=2100, min_width=100)
        year_to = gr.Number(label="年份至", precision=0, minimum=1949, maximum=2100, min_width=100)
        keyword = gr.Textbox(label="关键词", placeholder="如：小学、招商引资", scale=3)
        search = gr.Button("查询", variant="primary", scale=1)
    count = gr.Markdown("正在载入承诺事项…")
    with gr.Row():
        with gr.Column(scale=3):
            table = gr.Dataframe([], headers=COMMITMENT_COLUMNS,
                                 interactive=False, wrap=False, max_height=520, column_widths=COLUMN_WIDTHS,
                                 elem_id="commitments")
            download = gr.DownloadButton("下载 CSV")
        with gr.Column(scale=2):
            source = gr.HTML(NO_SOURCE, elem_id="commitment-source")
    inputs = [kind, status, attribute, place, doc, year_from, year_to, keyword]
    def session_query(*args):  # the session keeps the filters; the records stay with the app
        rows, _, path, status_line, panel = commitments_query(*args, runtime)
        return rows, filters_of(*args), path, status_line, panel

    query = dict(fn=session_query, inputs=inputs, outputs=[table, shown, download, count, source],
                 api_visibility="undocumented")
    search.click(**query)
    keyword.submit(**query)
    for control in (kind, status, attribute, place, doc, year_from, year_to):
        control.change(**query)
    if opened is not None:  # first opening: every record (its number boxes are not mounted yet)
        opened.select(lambda filters: (gr.skip(),) * 5 if filters is not None else
                      session_query("", "", "", "", "", None, None, ""),
                      inputs=[shown], outputs=query["outputs"], api_visibility="undocumented")

    def show_source(filters: Filters | None, evt: gr.SelectData) -> str:
        try:
            records = records_for(filters or Filters(), runtime)
        except QAError:
            return NO_SOURCE
        return commitment_source(records, evt.index[0] if evt.index else None)

    table.select(show_source, inputs=[shown], outputs=source, api_visibility="undocumented")
    return dict(fn=lambda: on_page_load(runtime), outputs=[place, doc])
