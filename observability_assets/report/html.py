"""HTML building blocks of the weekly report: one self-contained page, no scripts, no network.

Everything that comes from data passes through `esc`; charts are SVG produced by report_charts.
The page works offline, prints reasonably and reads top to bottom without JavaScript.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from observability_assets.report.charts import Chart

STATUS_OK = "ok"  # the section shows data
STATUS_EMPTY = "empty"  # its tables exist but hold nothing for this window
STATUS_MISSING = "missing"  # a table it needs has not been built


@dataclass
class Section:
    id: str
    title: str
    status: str
    body: str
    charts: list[Chart] = field(default_factory=list)
    # One line for the summary at the top of the report and in the Dagster UI.
    headline: str = ""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def is_blank(value: Any) -> bool:
    """None, NaN, NaT or pd.NA: a value the report shows as a dash."""
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array: not a scalar, so not blank
        return False


def pct(value: Any, digits: int = 2) -> str:
    return "–" if is_blank(value) else f"{100 * float(value):.{digits}f} %"


def ms(value: Any) -> str:
    return "–" if is_blank(value) else f"{float(value):,.0f} ms"


def usd(value: Any) -> str:
    return "–" if is_blank(value) else f"${float(value):,.2f}"


def number(value: Any, digits: int = 0) -> str:
    return "–" if is_blank(value) else f"{float(value):,.{digits}f}"


def duration(seconds: Any) -> str:
    if is_blank(seconds):
        return "–"
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def day(value: Any) -> str:
    """A calendar day (DATE columns arrive as midnight timestamps)."""
    return "–" if is_blank(value) else when(value)[:10]


def when(value: Any) -> str:
    if is_blank(value):
        return "–"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def delta(now: Any, before: Any, *, higher_is_better: bool, fmt: Callable[[Any], str]) -> str:
    """`now` with an arrow against `before`, coloured good or bad."""
    if is_blank(now):
        return "–"
    if is_blank(before) or float(before) == float(now):
        return esc(fmt(now))
    up = float(now) > float(before)
    good = up == higher_is_better
    arrow = "▲" if up else "▼"
    return (
        f'{esc(fmt(now))} <span class="{"good" if good else "bad"}" '
        f'title="previous week {esc(fmt(before))}">{arrow}</span>'
    )


@dataclass(frozen=True)
class Col:
    header: str
    key: str
    fmt: Callable[[Any], str] = lambda v: "–" if is_blank(v) else str(v)
    raw_html: bool = False  # fmt already returns safe HTML
    numeric: bool = False


def table(rows: Sequence[dict[str, Any]], columns: Sequence[Col], css: str = "") -> str:
    head = "".join(f'<th class="{"num" if c.numeric else ""}">{esc(c.header)}</th>' for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            text = c.fmt(row.get(c.key))
            cells.append(f'<td class="{"num" if c.numeric else ""}">{text if c.raw_html else esc(text)}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def figure(chart: Chart) -> str:
    return (
        f'<figure class="chart" data-chart="{esc(chart.key)}" data-points="{chart.points}">'
        f"{chart.svg}<figcaption>{esc(chart.title)}</figcaption></figure>"
    )


def note(text: str, kind: str = "info") -> str:
    return f'<p class="note {esc(kind)}">{text}</p>'


def tiles(items: Sequence[tuple[str, str, str]]) -> str:
    """KPI tiles: (label, value HTML, hint HTML)."""
    cells = "".join(
        f'<div class="tile"><div class="label">{esc(label)}</div><div class="value">{value}</div>'
        f'<div class="hint">{hint}</div></div>'
        for label, value, hint in items
    )
    return f'<div class="tiles">{cells}</div>'


CSS = """
:root { --fg:#111827; --muted:#6b7280; --line:#e5e7eb; --good:#047857; --bad:#b91c1c; --warn:#b45309; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       margin: 0; background: #f9fafb; }
header { background: #111827; color: #f9fafb; padding: 20px 32px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #d1d5db; }
nav { padding: 10px 32px; background: #fff; border-bottom: 1px solid var(--line); font-size: 13px; }
nav a { margin-right: 14px; color: #1d4ed8; text-decoration: none; white-space: nowrap; }
main { max-width: 1100px; margin: 0 auto; padding: 8px 24px 40px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px;
          margin: 16px 0; }
section h2 { margin: 0 0 8px; font-size: 18px; }
section[data-status="missing"] { border-style: dashed; }
h3 { font-size: 14px; margin: 16px 0 6px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
figure.chart { margin: 8px 0 14px; }
figure.chart svg { display: block; max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 12px; }
.good { color: var(--good); } .bad { color: var(--bad); } .warn { color: var(--warn); }
.note { padding: 8px 12px; border-radius: 6px; background: #eff6ff; }
.note.missing { background: #fef3c7; }
.note.empty { background: #f3f4f6; }
.tiles { display: flex; gap: 12px; flex-wrap: wrap; margin: 8px 0 12px; }
.tile { flex: 1 1 160px; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.tile .label { color: var(--muted); font-size: 12px; }
.tile .value { font-size: 22px; font-weight: 600; }
.tile .hint { color: var(--muted); font-size: 12px; }
.badge { display: inline-block; padding: 0 6px; border-radius: 9px; font-size: 12px; background: #e5e7eb; }
.badge.flaky, .badge.page, .badge.regression, .badge.fail, .badge.down, .badge.high { background: #fee2e2; color: var(--bad); }
.badge.broken, .badge.ticket, .badge.marginal, .badge.degraded, .badge.low { background: #fef3c7; color: var(--warn); }
.badge.quarantined { background: #ede9fe; color: #5b21b6; }
.badge.stable, .badge.none, .badge.improvement, .badge.pass { background: #d1fae5; color: var(--good); }
.drift-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 8px; }
ol.recommendations li { margin: 6px 0; }
.summary li { margin: 2px 0; }
footer { color: var(--muted); font-size: 12px; text-align: center; padding: 12px; }
"""


def badge(value: Any) -> str:
    text = "–" if is_blank(value) else str(value)
    return f'<span class="badge {esc(text.lower())}">{esc(text)}</span>'


def render_page(title: str, subtitle: str, sections: Sequence[Section], footer: str) -> str:
    nav = "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in sections)
    summary = "".join(
        f'<li><a href="#{esc(s.id)}">{esc(s.title)}</a>: {esc(s.headline)}</li>'
        for s in sections
        if s.headline
    )
    body = "".join(
        f'<section id="{esc(s.id)}" class="report-section" data-status="{esc(s.status)}">'
        f"<h2>{esc(s.title)}</h2>{s.body}</section>"
        for s in sections
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # Nothing on this page may reach the network: no scripts, no remote fonts or images.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header><nav>{nav}</nav><main>"
        f'<section id="summary" class="summary"><h2>This week in one glance</h2><ul>{summary}</ul></section>'
        f"{body}</main><footer>{esc(footer)}</footer></body></html>"
    )
