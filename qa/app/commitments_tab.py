"""The staff's commitments tab: filters, the records table, the source passage, a CSV download.

Callbacks are plain functions of plain values plus the web app's runtime (only the index it
serves now is read), so tests call them without a browser; `commitments_tab` only wires them to components.
Text from documents is escaped before it reaches HTML. The web app imports this module when it
builds its tabs, so the passage highlighting of qa.app.web is shared, not copied.
"""
from __future__ import annotations

import csv
import html
import tempfile
from pathlib import Path

import gradio as gr

from qa.app.web import highlight
from qa.commitments.search import DB_NAME, KIND_NAMES, search_commitments as search_db
from qa.errors import QAError

COMMITMENT_COLUMNS = ["类型", "地域", "文档", "事项", "目标/数值", "年份", "属性/角色", "出处"]


def search_commitments(kind: str, place: str, doc: str, keyword: str, runtime) -> list[dict]:
    """Records matching the filters ('' = any), all of them, as plain JSON, from the index the
    app serves now (a keyword segmented by that index's tokenizer)."""
    index = runtime.assistant.index
    found = search_db(index.directory / DB_NAME, kind or None, place or None, doc or None,
                      keyword or None, limit=None, tokenizer=index.tokenizer)
    return [r.to_json() for r in found]


def commitment_row(r: dict) -> list[str]:
    f = r.get("fields") or {}
    if r.get("value"):
        value = r["value"] + ("" if r.get("unit", "") in r["value"] else r["unit"])
    else:
        value = "；".join(f"{label}{f[k]}" for k, label in (("investment", "投资"), ("scale", "规模")) if f.get(k))
    if r.get("kind") == "responsibility":
        role = f"{f.get('actor', '')}{f.get('role', '')}" + (f"（与{f['partner']}）" if f.get("partner") else "")
    else:
        role = "，".join(x for x in (f.get("attribute"), f.get("qualifier"), f.get("stance"), f.get("status")) if x)
    return [KIND_NAMES.get(r.get("kind"), r.get("kind", "")), r.get("place", ""),
            r.get("short_title") or r.get("doc", ""), r.get("name", ""), value, r.get("year", ""),
            role, r.get("heading", "")]


def commitment_source(records: list[dict], row: int | None) -> str:
    """The passage a record came from, its clause highlighted, plus the same item elsewhere."""
    if not records or row is None or not 0 <= row < len(records):
        return "<p>点击表格中的一行，查看原文段落。</p>"
    r = records[row]
    f = r.get("fields") or {}
    head = f"{html.escape(r.get('short_title', ''))} › {html.escape(r.get('heading', ''))}"
    related = "".join(f"<li>{html.escape(x.get('short_title', ''))}：{html.escape(x.get('name', ''))} "
                      f"{html.escape(x.get('value', '') + x.get('unit', ''))} {html.escape(x.get('year', ''))}</li>"
                      for x in r.get("related") or [])
    return (f'<div class="qa-source"><div class="qa-source-head">{head}</div>'
            f'<p>{html.escape(r.get("summary", ""))}</p><div class="qa-source-text">'
            f'{highlight(r.get("text", ""), f.get("sentence") or f.get("clause") or "")}</div>'
            + (f"<p>其他文件中的同一事项：</p><ul>{related}</ul>" if related else "") + "</div>")


def commitments_csv(records: list[dict]) -> str:
    """The shown records, table columns then source fields; UTF-8 with BOM so Excel reads Chinese."""
    path = Path(tempfile.mkdtemp(prefix="qa-")) / "commitments.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COMMITMENT_COLUMNS + ["摘要", "文件", "段落编号", "原文"])
        for r in records:
            writer.writerow(commitment_row(r) + [r.get("summary", ""), r.get("doc", ""),
                                                 r.get("node_id", ""), r.get("text", "")])
    return str(path)


def commitments_query(kind, place, doc, keyword, runtime):
    """Commitments tab search → (table rows, records, CSV path, status)."""
    try:
        records = search_commitments(kind, place, doc, keyword, runtime)
    except QAError as exc:
        return [], [], None, str(exc)
    return [commitment_row(r) for r in records], records, commitments_csv(records), f"共 {len(records)} 条。"



def filter_choices(records: list[dict]) -> tuple[list, list]:
    """The place and document dropdowns' choices: what the records hold."""
    places = [("全部", "")] + sorted({(r["place"], r["place"]) for r in records if r.get("place")})
    docs = [("全部", "")] + sorted({(r["short_title"], r["doc"]) for r in records if r.get("doc")})
    return places, docs


def on_page_load(runtime) -> tuple:
    """Everything the tab shows, read again from the index serving when a page loads (an
    upload may have replaced it since the app started)."""
    every = search_commitments("", "", "", "", runtime)
    places, docs = filter_choices(every)
    return (gr.Dropdown(choices=places, value=""), gr.Dropdown(choices=docs, value=""),
            [commitment_row(r) for r in every], every, commitments_csv(every),
            f"共 {len(every)} 条。点击一行查看原文。")


def commitments_tab(runtime) -> dict | None:
    """The staff's table; returns what to refresh when a page loads."""
    try:
        every = search_commitments("", "", "", "", runtime)
    except QAError as exc:
        gr.Markdown(f"承诺库暂不可用：{exc}")
        return None
    kinds = [("全部", "")] + [(v, k) for k, v in KIND_NAMES.items()]
    places, docs = filter_choices(every)
    records = gr.State(every)
    with gr.Row():
        kind = gr.Dropdown(kinds, value="", label="类型")
        place = gr.Dropdown(places, value="", label="地域")
        doc = gr.Dropdown(docs, value="", label="文档")
        keyword = gr.Textbox(label="关键词", placeholder="如：小学、招商引资")
        search = gr.Button("查询", variant="primary")
    status = gr.Markdown(f"共 {len(every)} 条。点击一行查看原文。")
    table = gr.Dataframe([commitment_row(r) for r in every], headers=COMMITMENT_COLUMNS, interactive=False, wrap=True, max_height=420,
                         column_widths=["8%", "7%", "15%", "22%", "14%", "8%", "12%", "14%"], elem_id="commitments")
    download = gr.DownloadButton("下载 CSV", value=commitments_csv(every))
    source = gr.HTML(commitment_source([], None), elem_id="commitment-source")
    query = dict(fn=lambda *a: commitments_query(*a, runtime), inputs=[kind, place, doc, keyword],
                 outputs=[table, records, download, status], api_visibility="undocumented")
    search.click(**query)
    keyword.submit(**query)
    for dropdown in (kind, place, doc):
        dropdown.change(**query)

    def show_source(recs: list, evt: gr.SelectData) -> str:
        return commitment_source(recs, evt.index[0] if evt.index else None)

    table.select(show_source, inputs=[records], outputs=source, api_visibility="undocumented")
    return dict(fn=lambda: on_page_load(runtime), outputs=[place, doc, table, records, download, status])
