"""Charts of the weekly report: matplotlib figures rendered to inline SVG.

matplotlib is imported inside the functions (it costs ≈0.5 s and only the report needs it), uses
the Agg backend through `matplotlib.figure.Figure` (no pyplot global state, safe in any thread),
and writes text as SVG text so the files stay small. Every artist that draws data gets an id
ending in `-data-N`, so a test (or a person with dev tools) can tell data from axes and labels;
ids are prefixed with the chart's key because many SVGs share one HTML document.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# One colour per series name across every chart of a report.
PALETTE = (
    "#2563eb",
    "#d97706",
    "#059669",
    "#dc2626",
    "#7c3aed",
    "#0891b2",
    "#be185d",
    "#4d7c0f",
    "#9a3412",
    "#475569",
)
REGRESSION = "#dc2626"
IMPROVEMENT = "#059669"
ANOMALY = "#dc2626"
TARGET = "#6b7280"
SEVERITY_COLOURS = {0: "#86efac", 1: "#fbbf24", 2: "#dc2626"}
WIDTH_IN = 7.6
HEIGHT_IN = 2.7

Series = tuple[Sequence[Any], Sequence[float]]


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    svg: str
    points: int  # data points drawn; 0 means the chart would be blank


@dataclass(frozen=True)
class Marker:
    x: Any
    y: float
    label: str


def colour_for(name: str, names: Sequence[str]) -> str:
    return PALETTE[sorted(set(names)).index(name) % len(PALETTE)] if name in names else PALETTE[-1]


def _figure(height: float = HEIGHT_IN, rows: int = 1, cols: int = 1, width: float = WIDTH_IN):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", color="#e5e7eb", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.tick_params(labelsize=8)
    return figure, axes


def _date_axis(ax) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(url\(#|href="#)([^")]+)')


def _to_svg(figure, key: str, title: str) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": key}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.DOTALL)
    svg = _ID.sub(lambda m: f'id="{key}-{m.group(1)}"', svg)
    svg = _REF.sub(lambda m: f"{m.group(1)}{key}-{m.group(2)}", svg)
    # Scale with the page: keep the viewBox, drop the fixed size.
    svg = re.sub(r'<svg([^>]*?) width="[^"]+" height="[^"]+"', r'<svg\1 width="100%"', svg, count=1)
    return svg.replace("<svg", f'<svg role="img" aria-label="{_attr(title)}"', 1)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _finish(figure, key: str, title: str, points: int) -> Chart:
    return Chart(key=key, title=title, svg=_to_svg(figure, key, title), points=points)


def _sparse_markers(points: int) -> dict[str, Any]:
    # A line through a handful of points (a short demo, a new service) is hard to see: draw the
    # points themselves, large enough to read at a glance.
    if points >= 12:
        return {}
    return {"marker": "o", "markersize": 10 if points < 4 else 7}


def _mark(artist, index: int) -> int:
    artist.set_gid(f"data-{index}")
    return index + 1


def line_chart(
    key: str,
    title: str,
    series: Mapping[str, Series],
    ylabel: str,
    *,
    percent: bool = False,
    targets: Sequence[tuple[float, str]] = (),
    markers: Sequence[Marker] = (),
    span: tuple[Any, Any] | None = None,
    step: bool = False,
    ylim: tuple[float | None, float | None] | None = None,
    log_scale: bool = False,
) -> Chart:
    """Lines over time, one per series; optional target lines, anomaly markers and a shaded span."""
    figure, axes = _figure()
    ax = axes[0, 0]
    names = list(series)
    points, gid = 0, 0
    for name, (x, y) in series.items():
        if len(x) == 0:
            continue
        draw = ax.step if step else ax.plot
        (line,) = draw(
            x,
            y,
            label=name,
            color=colour_for(name, names),
            linewidth=1.4,
            **_sparse_markers(len(x)),
            **({"where": "post"} if step else {}),
        )
        gid = _mark(line, gid)
        points += len(x)
    for value, label in targets:
        ax.axhline(value, color=TARGET, linestyle="--", linewidth=0.9)
        ax.annotate(
            label,
            (1, value),
            xycoords=("axes fraction", "data"),
            fontsize=7,
            color=TARGET,
            ha="right",
            va="bottom",
        )
    if markers:
        scatter = ax.scatter(
            [m.x for m in markers], [m.y for m in markers], s=46, color=ANOMALY, zorder=5, label="anomaly"
        )
        gid = _mark(scatter, gid)
        for m in markers:
            ax.annotate(
                m.label, (m.x, m.y), xytext=(4, 6), textcoords="offset points", fontsize=7, color=ANOMALY
            )
    if span is not None:
        ax.axvspan(span[0], span[1], color="#dbeafe", alpha=0.5, linewidth=0, label="report week")
    _date_axis(ax)
    ax.set_ylabel(ylabel, fontsize=8)
    if percent:
        from matplotlib.ticker import PercentFormatter

        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    if ylim is not None:
        ax.set_ylim(*ylim)
    if log_scale:
        # Latencies: an outage's timeouts would otherwise flatten every normal hour to the axis.
        from matplotlib.ticker import FuncFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    if len(names) > 1 or markers or span is not None:
        ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _finish(figure, key, title, points)


def panel_lines(
    key: str,
    title: str,
    panels: Mapping[str, Mapping[str, Series]],
    ylabel: str,
    *,
    percent: bool = False,
    zero_line: bool = False,
) -> Chart:
    """One small panel per group (for example per service), with a line per series in each."""
    count = max(len(panels), 1)
    cols = min(count, 3)
    rows = -(-count // cols)
    figure, axes = _figure(height=2.3 * rows, rows=rows, cols=cols)
    points, gid = 0, 0
    all_names = sorted({name for group in panels.values() for name in group})
    for ax, (panel, series) in zip(axes.flat, panels.items(), strict=False):
        for name, (x, y) in series.items():
            if len(x) == 0:
                continue
            (line,) = ax.plot(
                x, y, label=name, color=colour_for(name, all_names), linewidth=1.4, **_sparse_markers(len(x))
            )
            gid = _mark(line, gid)
            points += len(x)
        if zero_line:
            ax.axhline(0, color=TARGET, linestyle="--", linewidth=0.9)
        ax.set_title(panel, fontsize=9)
        _date_axis(ax)
        if percent:
            from matplotlib.ticker import PercentFormatter

            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.legend(fontsize=7, frameon=False)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    axes[0, 0].set_ylabel(ylabel, fontsize=8)
    return _finish(figure, key, title, points)


def timeline_chart(
    key: str,
    title: str,
    rows: Mapping[str, Sequence[tuple[datetime, float, int]]],
    window: tuple[datetime, datetime],
) -> Chart:
    """Per row (service) a bar of hours coloured by the worst health seen: ok, degraded, down.

    `rows` maps a name to (start, width in days, severity 0-2) triples.
    """
    import matplotlib.dates as mdates
    from matplotlib.patches import Patch

    figure, axes = _figure(height=0.5 + 0.45 * max(len(rows), 1))
    ax = axes[0, 0]
    ax.grid(False)
    points, gid = 0, 0
    names = list(rows)
    for index, name in enumerate(names):
        spans = rows[name]
        for severity in (0, 1, 2):
            bars = [(mdates.date2num(start), width) for start, width, s in spans if s == severity]
            if bars:
                collection = ax.broken_barh(bars, (index - 0.35, 0.7), facecolors=SEVERITY_COLOURS[severity])
                gid = _mark(collection, gid)
                points += len(bars)
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(-0.6, len(names) - 0.4)
    ax.invert_yaxis()
    ax.set_xlim(mdates.date2num(window[0]), mdates.date2num(window[1]))
    ax.xaxis_date()
    _date_axis(ax)
    ax.legend(
        handles=[
            Patch(color=SEVERITY_COLOURS[s], label=label)
            for s, label in ((0, "ok"), (1, "degraded"), (2, "down"))
        ],
        fontsize=7,
        frameon=False,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
    )
    return _finish(figure, key, title, points)


def horizontal_bars(
    key: str, title: str, labels: Sequence[str], values: Sequence[float], colours: Sequence[str], xlabel: str
) -> Chart:
    figure, axes = _figure(height=0.6 + 0.28 * max(len(labels), 1))
    ax = axes[0, 0]
    ax.grid(axis="x", color="#e5e7eb", linewidth=0.6)
    ax.grid(axis="y", visible=False)
    bars = ax.barh(range(len(labels)), values, color=colours)
    for index, bar in enumerate(bars):
        bar.set_gid(f"data-{index}")
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel, fontsize=8)
    return _finish(figure, key, title, len(values))


def stacked_bars(
    key: str, title: str, x: Sequence[Any], stacks: Mapping[str, Sequence[float]], ylabel: str
) -> Chart:
    """Bars per day, stacked by category (for example cost by runner type)."""
    import numpy as np

    figure, axes = _figure()
    ax = axes[0, 0]
    bottom = np.zeros(len(x))
    names = list(stacks)
    gid = 0
    for name, values in stacks.items():
        heights = np.asarray(values, dtype=float)
        bars = ax.bar(x, heights, bottom=bottom, label=name, color=colour_for(name, names), width=0.8)
        for bar in bars:
            gid = _mark(bar, gid)
        bottom += heights
    _date_axis(ax)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _finish(figure, key, title, int((bottom > 0).sum()))


def before_after(
    key: str,
    title: str,
    change_at: datetime,
    before: float,
    after: float,
    regression: bool,
    window: tuple[datetime, datetime],
    unit: str,
    series: Series | None = None,
) -> Chart:
    """A drift finding: the level before and after the change point, over the measured series."""
    # Drawn for half the page width (two per row), so at the size it is shown.
    figure, axes = _figure(height=2.3, width=WIDTH_IN / 1.6)
    ax = axes[0, 0]
    gid, points = 0, 0
    if series is not None and len(series[0]):
        (measured,) = ax.plot(
            series[0], series[1], color="#94a3b8", linewidth=1.0, marker=".", markersize=3, label="measured"
        )
        gid = _mark(measured, gid)
        points += len(series[0])
    start, end = min(window[0], change_at), max(window[1], change_at)
    colour = REGRESSION if regression else IMPROVEMENT
    (level,) = ax.step(
        [start, change_at, end],
        [before, after, after],
        where="post",
        color=colour,
        linewidth=2,
        label="level",
    )
    gid = _mark(level, gid)
    points += 2
    ax.axvline(change_at, color=TARGET, linestyle=":", linewidth=1)
    ax.annotate(
        f"before {before:,.4g}", (start, before), xytext=(2, 4), textcoords="offset points", fontsize=7
    )
    ax.annotate(
        f"after {after:,.4g}",
        (end, after),
        xytext=(-2, 4),
        textcoords="offset points",
        fontsize=7,
        ha="right",
    )
    ax.set_ylabel(unit, fontsize=8)
    ax.set_ylim(bottom=0)
    _date_axis(ax)
    return _finish(figure, key, title, points)
