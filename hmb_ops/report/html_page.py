"""The page every HTML report shares: one self-contained file with uPlot, the styles and the data inlined.

Nothing is fetched when the page opens (no CDN, no font, no image): it works from file:// offline
and in a CI artefact viewer. Text from a document goes through `esc` in markup and through
`data_block` (JSON, `<` escaped) into the chart script, never into JavaScript source.
"""

from __future__ import annotations

import html
import json
from importlib import resources

# Colours that stay apart for people with the common colour-vision deficiencies (Okabe-Ito).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
P50, P95, P99 = "#0072B2", "#E69F00", "#D55E00"

_CSS = """
:root{--ok:#067647;--ok-bg:#ecfdf3;--bad:#b42318;--bad-bg:#fef3f2;--muted:#667085;--line:#eaecf0}
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#101828;background:#f9fafb}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:0 0 8px}h3{font-size:15px;margin:8px 0 4px}
.sub{color:var(--muted);margin:0 0 16px}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:16px 20px;margin:16px 0}
.banner{border-radius:10px;padding:14px 20px;font-size:20px;font-weight:650;margin:16px 0}
.banner.pass{background:var(--ok-bg);color:var(--ok);border:1px solid #abefc6}
.banner.fail{background:var(--bad-bg);color:var(--bad);border:1px solid #fecdca}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;margin:16px 0}
.tile{background:#fff;border:1px solid var(--line);border-radius:10px;padding:12px 16px}
.tile b{display:block;font-size:22px;font-variant-numeric:tabular-nums}.tile span{color:var(--muted);font-size:13px}
table{border-collapse:collapse;margin:8px 0;font-variant-numeric:tabular-nums;width:auto}
td,th{border-bottom:1px solid var(--line);padding:5px 10px;text-align:right;vertical-align:top}
td.t,th.t{text-align:left}th{background:#f2f4f7;font-weight:600}
tr.knee td{background:#f4ebff;font-weight:600}
.pass{color:var(--ok);font-weight:650}.fail{color:var(--bad);font-weight:650}
.valid{border-left:5px solid var(--ok)}.invalid{border-left:5px solid var(--bad)}
.note{color:var(--muted)}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:12px}
.chart{min-height:120px;margin:4px 0 12px;overflow:hidden}figure{margin:0;min-width:0}
.marks{font-size:13px;color:var(--muted);margin:2px 0 0 8px}
.mark{margin-right:16px;white-space:nowrap}
.mark i{display:inline-block;width:22px;margin:0 6px 3px 0;vertical-align:middle}
.wrap{overflow-x:auto}
"""


def esc(value) -> str:
    return html.escape("–" if value is None else str(value), quote=True)


def _asset(name: str) -> str:
    return resources.files("hmb_ops.report").joinpath(name).read_text(encoding="utf-8")


def data_block(data: dict) -> str:
    """The page's data as JSON inside a non-executing script element.

    Every <, > and & becomes a \\u escape, so `</script>` or `<!--` in an endpoint name cannot
    end or confuse the element; JSON.parse restores the text exactly.
    """
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f'<script type="application/json" id="hmb-data">{text}</script>'


def table(header, rows, *, row_classes=None, text_cols=(0,)) -> str:
    """A table of formatted cells. A cell may be (text, css class); "pass"/"FAIL" are coloured.

    Numbers are right-aligned; the columns in `text_cols` hold words and are left-aligned.
    """
    head = "".join(f"<th{' class=t' if i in text_cols else ''}>{esc(h)}</th>" for i, h in enumerate(header))
    body = []
    for r, row in enumerate(rows):
        cells = []
        for i, cell in enumerate(row):
            text, mark = cell if isinstance(cell, tuple) else (cell, {"pass": "pass", "FAIL": "fail"}.get(cell, ""))
            cls = " ".join(c for c in (mark, "t" if i in text_cols else "") if c)
            cells.append(f"<td{f' class={chr(34)}{cls}{chr(34)}' if cls else ''}>{esc(text)}</td>")
        rc = (row_classes or {}).get(r)
        body.append(f"<tr{f' class={chr(34)}{rc}{chr(34)}' if rc else ''}>" + "".join(cells) + "</tr>")
    return f"<div class='wrap'><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"


def tiles(items) -> str:
    """Key figures as large tiles: (value, caption) pairs."""
    return "<div class='tiles'>" + "".join(f"<div class='tile'><b>{esc(v)}</b><span>{esc(c)}</span></div>"
                                           for v, c in items) + "</div>"


def chart_box(spec: dict) -> str:
    title = esc(spec["title"])
    return (f"<figure><h3>{title}</h3><div class='chart' id='chart-{esc(spec['id'])}' role='img' "
            f"aria-label='{title}'></div></figure>")


def section(title: str, *parts: str, cls: str = "") -> str:
    return f"<section class='{cls}'><h2>{esc(title)}</h2>{''.join(parts)}</section>"


def para(text: str, cls: str = "") -> str:
    return f"<p class='{cls}'>{esc(text)}</p>" if cls else f"<p>{esc(text)}</p>"


def bullets(items) -> str:
    return "<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"


def sentence(text: str) -> str:
    """A reason as a sentence: capital first letter, full stop at the end."""
    text = str(text).strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def verdict_section(verdict) -> str:
    """Thresholds passed/failed, for the top of the page (empty when nothing was checked)."""
    if verdict is None or not getattr(verdict, "checked", False):
        return ""
    from . import fmt

    cls = "pass" if verdict.passed else "fail"
    parts = [f"<div class='banner {cls}'>{esc(verdict.headline())}</div>"]
    rows = fmt.check_rows(verdict)
    body = table(["check", "measured", "result"], rows) if rows else ""
    notes = "".join(para(n, "note") for n in getattr(verdict, "notes", ()) or ())
    return parts[0] + (section("Checks", body, notes) if body or notes else "")


def page(title: str, subtitle: str, body: str, charts: list[dict]) -> str:
    head = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'><title>{esc(title)}</title>"
            f"<style>{_asset('vendor/uPlot.min.css')}</style><style>{_CSS}</style></head>")
    # uPlot only when there is something to draw; the chart script always runs, so window.hmbCharts
    # exists (empty) on a page without charts too.
    uplot = f"<script>{_asset('vendor/uPlot.iife.min.js')}</script>" if charts else ""
    script = data_block({"charts": charts}) + uplot + f"<script>{_asset('html_charts.js')}</script>"
    return (f"{head}<body><main><h1>{esc(title)}</h1><p class='sub'>{esc(subtitle)}</p>{body}</main>"
            f"{script}</body></html>\n")
