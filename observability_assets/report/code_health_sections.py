"""The weekly report's code-health sections: default-branch coverage and dependency advisories.

Built after the other sections (`weekly_report.build_sections`), before the recommendations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from observability_assets.report import charts as charts
from observability_assets.report import data as rd
from observability_assets.report.html import (
    STATUS_EMPTY,
    STATUS_OK,
    Col,
    Section,
    badge,
    day,
    esc,
    figure,
    note,
    number,
    table,
    tiles,
)
from observability_assets.report.sections import _series, _unavailable

if TYPE_CHECKING:
    from observability_assets.report.data import ReportData

# The floor the policy gate holds the default branch to (config/policies.yaml); shown for context.
COVERAGE_FLOOR_PCT = 80.0


def _points(value: object) -> str:
    return "–" if value is None or value != value else f"{float(value):+.2f}"


def coverage_section(data: ReportData) -> Section:
    title = "Code coverage"
    missing = _unavailable(
        "coverage", title, data, [rd.COVERAGE], "No coverage reports on default branches yet."
    )
    if missing:
        return missing
    frame = data.frame("coverage")
    if frame is None or frame.empty:
        what = "No default-branch coverage in the last four weeks."
        return Section("coverage", title, STATUS_EMPTY, note(what, "empty"), headline=what)
    latest = frame.sort_values("day").groupby("repo").tail(1).sort_values("line_coverage_pct")
    below = latest[latest["line_coverage_pct"] < COVERAGE_FLOOR_PCT]
    chart = charts.line_chart(
        "coverage-daily",
        "Default-branch line coverage (%)",
        _series(frame, "repo", "day", "line_coverage_pct"),
        "%",
        targets=[(COVERAGE_FLOOR_PCT, "policy floor")],
    )
    body = (
        tiles(
            [
                ("repositories", number(len(latest)), "with default-branch coverage"),
                ("below the floor", number(len(below)), f"under {COVERAGE_FLOOR_PCT:g} % line coverage"),
            ]
        )
        + table(
            latest.to_dict("records"),
            [
                Col("repository", "repo"),
                Col("day", "day", day),
                Col("commit", "head_sha", lambda v: str(v)[:12]),
                Col("lines", "line_coverage_pct", lambda v: number(v, 2) + " %", numeric=True),
                Col(
                    "branches",
                    "branch_coverage_pct",
                    lambda v: "–" if v is None or v != v else number(v, 2) + " %",
                    numeric=True,
                ),
                Col("change (points)", "line_change_points", _points, numeric=True),
                Col("biggest drops", "biggest_drops"),
            ],
        )
        + figure(chart)
    )
    worst = latest.iloc[0]
    headline = (
        f"{len(below)} of {len(latest)} repositories under {COVERAGE_FLOOR_PCT:g} % line coverage; "
        f"lowest {esc(worst['repo'])} at {float(worst['line_coverage_pct']):.1f} %"
    )
    return Section("coverage", title, STATUS_OK, body, charts=[chart], headline=headline)


def advisories_section(data: ReportData) -> Section:
    title = "Dependency advisories"
    missing = _unavailable("advisories", title, data, [rd.DEPENDENCY_RISK], "No Dependabot alerts crawled.")
    if missing:
        return missing
    frame = data.frame("dependency_risk")
    open_alerts = int(frame["open_alerts"].sum())
    breaches = int(frame["sla_breaches"].sum())
    critical = frame[frame["severity"] == "critical"]
    body = tiles(
        [
            (
                "open alerts",
                number(open_alerts),
                f"{int(frame['fixable_open_alerts'].sum())} fixable by an upgrade",
            ),
            ("SLA breaches", number(breaches), "open longer than their severity allows"),
            ("open critical", number(int(critical["open_alerts"].sum())), "critical alerts open"),
        ]
    ) + table(
        frame.to_dict("records"),
        [
            Col("repository", "repo"),
            Col("severity", "severity", badge, raw_html=True),
            Col("open", "open_alerts", number, numeric=True),
            Col("fixable", "fixable_open_alerts", number, numeric=True),
            Col("oldest open (days)", "oldest_open_days", lambda v: number(v, 1), numeric=True),
            Col("SLA (days)", "sla_days", number, numeric=True),
            Col("breaches", "sla_breaches", number, numeric=True),
            Col("fixed", "fixed_alerts", number, numeric=True),
            Col("mean days to fix", "mean_days_to_fix", lambda v: number(v, 1), numeric=True),
        ],
    )
    headline = f"{open_alerts} open alerts, {breaches} past their SLA"
    return Section("advisories", title, STATUS_OK, body, headline=headline)


CODE_HEALTH_SECTION_BUILDERS = (coverage_section, advisories_section)
