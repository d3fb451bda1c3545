"""The sections of the weekly health report, each from the frames report_data read.

A section whose tables were never built says which ones and how to build them; a section whose
tables were built but hold nothing for the window says that instead (report_recommendations
turns the same frames into recommendations).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from observability_assets.derived.automation_kpis import (
    FALSE_POSITIVE_TARGET,
    MTTR_TARGET_MINUTES,
    SELF_HEALING_TARGET,
)
from observability_assets.report import charts as charts
from observability_assets.report import data as rd
from observability_assets.report.html import (
    STATUS_EMPTY,
    STATUS_MISSING,
    STATUS_OK,
    Col,
    Section,
    badge,
    day,
    delta,
    duration,
    esc,
    figure,
    is_blank,
    ms,
    note,
    number,
    pct,
    table,
    tiles,
    usd,
    when,
)

if TYPE_CHECKING:
    import pandas as pd

    from observability_assets.report.data import ReportData

BUDGET_LOW = 0.25
# Incidents table: degradations shorter than this are counted, not listed; at most this many rows.
SHORT_DEGRADATION_MIN = 10
MAX_INCIDENT_ROWS = 25
MAX_DRIFT_ROWS = 15
CI_SUCCESS_LOW = 0.85


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def asset_path(table_name: str) -> str:
    return table_name.replace(".", "/")


def _unavailable(
    section_id: str, title: str, data: ReportData, tables: Sequence[str], when_empty: str
) -> Section | None:
    """A section saying what is missing: tables never built, or built and empty; else None."""
    not_built = data.not_built(*tables)
    if not_built:
        items = "".join(
            f"<li><code>{esc(t)}</code> "
            + ("has not been materialized yet" if data.has(t) else "does not exist yet")
            + f": materialize the asset <code>{esc(asset_path(t))}</code>.</li>"
            for t in not_built
        )
        return Section(
            section_id,
            title,
            STATUS_MISSING,
            note(
                f"This section needs tables that are not built in this warehouse yet:<ul>{items}</ul>",
                "missing",
            ),
            headline=f"not available ({', '.join(not_built)} not built)",
        )
    if data.empty(*tables):
        return _empty(section_id, title, when_empty)
    return None


def _empty(section_id: str, title: str, what: str) -> Section:
    return Section(section_id, title, STATUS_EMPTY, note(esc(what), "empty"), headline=what)


def _series(frame: pd.DataFrame, key: str, x: str, y: str) -> dict[str, charts.Series]:
    return {
        str(name): (group[x].to_numpy(), group[y].to_numpy()) for name, group in frame.groupby(key, sort=True)
    }


def _weeks(data: ReportData) -> pd.DataFrame:
    """Per service the figures of this week and the week before, side by side."""
    frame = data.frame("probe_weeks")
    this = frame[frame["period"] == "this"].set_index("service")
    before = frame[frame["period"] == "previous"].set_index("service")
    joined = this.join(before.add_suffix("_prev"), how="left")
    joined["uptime"] = joined["ok_probes"] / joined["probes"]
    joined["uptime_prev"] = joined["ok_probes_prev"] / joined["probes_prev"]
    joined["error_rate"] = joined["failed"] / joined["probes"]
    joined["error_rate_prev"] = joined["failed_prev"] / joined["probes_prev"]
    return joined.reset_index()


def _week_span(data: ReportData) -> tuple[Any, Any]:
    return (data.window.start, data.window.as_of)


def uptime_section(data: ReportData) -> Section:
    title = "Uptime"
    if missing := _unavailable("uptime", title, data, [rd.PROBES], "No health probes recorded yet."):
        return missing
    weeks = _weeks(data)
    if weeks.empty:
        return _empty("uptime", title, "No health probes in the report week.")
    daily = data.frame("probe_daily").assign(uptime=lambda f: f["ok_probes"] / f["probes"])
    chart = charts.line_chart(
        "uptime-daily",
        "Daily uptime per service (share of successful probes); the report week is shaded",
        _series(daily, "service", "day", "uptime"),
        "uptime",
        percent=True,
        span=_week_span(data),
    )
    rows = weeks.to_dict("records")
    body = table(
        [
            {**r, "uptime_html": delta(r["uptime"], r["uptime_prev"], higher_is_better=True, fmt=pct)}
            for r in rows
        ],
        [
            Col("service", "service"),
            Col("probes", "probes", number, numeric=True),
            Col("failed probes", "failed", number, numeric=True),
            Col("uptime (▲▼ vs previous week)", "uptime_html", lambda v: v, raw_html=True, numeric=True),
        ],
    )
    worst = weeks.sort_values("uptime").iloc[0]
    return Section(
        "uptime",
        title,
        STATUS_OK,
        body + figure(chart),
        [chart],
        headline=f"lowest {worst['service']} {pct(worst['uptime'])} over {len(weeks)} services",
    )


def latency_section(data: ReportData) -> Section:
    title = "Response time"
    if missing := _unavailable("latency", title, data, [rd.PROBES], "No health probes recorded yet."):
        return missing
    weeks = _weeks(data)
    hourly = data.frame("probe_hourly")
    if weeks.empty or hourly.empty:
        return _empty("latency", title, "No health probes in the report week.")
    rows = [
        {
            **r,
            "avg_html": delta(r["avg_ms"], r["avg_ms_prev"], higher_is_better=False, fmt=ms),
            "p95_html": delta(r["p95_ms"], r["p95_ms_prev"], higher_is_better=False, fmt=ms),
        }
        for r in weeks.to_dict("records")
    ]
    body = table(
        rows,
        [
            Col("service", "service"),
            Col("average", "avg_html", lambda v: v, raw_html=True, numeric=True),
            Col("p95", "p95_html", lambda v: v, raw_html=True, numeric=True),
        ],
    )
    avg_chart = charts.line_chart(
        "latency-avg",
        "Average response time per hour (log scale)",
        _series(hourly, "service", "hour", "avg_ms"),
        "ms",
        log_scale=True,
    )
    p95_chart = charts.line_chart(
        "latency-p95",
        "p95 response time per hour (log scale)",
        _series(hourly, "service", "hour", "p95_ms"),
        "ms",
        log_scale=True,
    )
    slowest = weeks.sort_values("p95_ms", ascending=False).iloc[0]
    return Section(
        "latency",
        title,
        STATUS_OK,
        body + figure(avg_chart) + figure(p95_chart),
        [avg_chart, p95_chart],
        headline=f"highest p95 {slowest['service']} {ms(slowest['p95_ms'])}",
    )


def errors_section(data: ReportData) -> Section:
    title = "Error rate"
    if missing := _unavailable("errors", title, data, [rd.PROBES], "No health probes recorded yet."):
        return missing
    hourly = data.frame("probe_hourly")
    weeks = _weeks(data)
    if hourly.empty:
        return _empty("errors", title, "No health probes in the report week.")
    hourly = hourly.assign(error_rate=lambda f: f["failed"] / f["probes"])
    chart = charts.line_chart(
        "error-rate",
        "Share of failed probes per hour (no answer, or not 2xx)",
        _series(hourly, "service", "hour", "error_rate"),
        "error rate",
        percent=True,
    )
    rows = [
        {**r, "rate_html": delta(r["error_rate"], r["error_rate_prev"], higher_is_better=False, fmt=pct)}
        for r in weeks.to_dict("records")
    ]
    body = table(
        rows,
        [
            Col("service", "service"),
            Col("failed probes", "failed", number, numeric=True),
            Col("error rate (▲▼ vs previous week)", "rate_html", lambda v: v, raw_html=True, numeric=True),
        ],
    ) + figure(chart)
    canary = data.frame("canary")
    if canary is not None and not canary.empty:
        body += "<h3>Canary verdicts (latest replays)</h3>" + table(
            canary.to_dict("records"),
            [
                Col("judged", "judged_at", when),
                Col("replay", "replay_id"),
                Col("metric", "metric"),
                Col("classification", "classification", badge, raw_html=True),
                Col("baseline mean", "control_mean", lambda v: number(v, 3), numeric=True),
                Col("candidate mean", "experiment_mean", lambda v: number(v, 3), numeric=True),
                Col("score", "score", number, numeric=True),
                Col("verdict", "verdict", badge, raw_html=True),
            ],
        )
    worst = hourly.sort_values("error_rate", ascending=False).iloc[0]
    headline = (
        f"worst hour {worst['service']} {pct(worst['error_rate'], 1)} at {when(worst['hour'])}"
        if worst["error_rate"] > 0
        else "no failed probes"
    )
    return Section("errors", title, STATUS_OK, body, [chart], headline=headline)


def _state_rows(frame: pd.DataFrame) -> dict[str, list]:
    """Hourly severities merged into runs of equal severity: fewer bars, same picture."""
    rows: dict[str, list] = {}
    hour = timedelta(hours=1)
    for service, group in frame.groupby("service", sort=True):
        runs: list[list] = []
        for at, severity in zip(group["hour"], group["severity"], strict=True):
            start = at.to_pydatetime()
            if runs and runs[-1][2] == severity and runs[-1][0] + runs[-1][1] == start:
                runs[-1][1] += hour
            else:
                runs.append([start, hour, int(severity)])
        rows[str(service)] = [(s, width / timedelta(days=1), sev) for s, width, sev in runs]
    return rows


def incidents_section(data: ReportData) -> Section:
    title = "Incidents"
    if missing := _unavailable("incidents", title, data, [rd.PROBES], "No health probes recorded yet."):
        return missing
    states = data.frame("state_hours")
    if states.empty:
        return _empty("incidents", title, "No health probes in the report week.")
    chart = charts.timeline_chart(
        "incident-timeline",
        "Worst health per service and hour (probe hysteresis: ok, degraded, down)",
        _state_rows(states),
        _week_span(data),
    )
    incidents = data.frame("incidents").copy()
    end = incidents["recovered_at"].fillna(data.window.as_of)
    incidents["minutes"] = (end - incidents["started_at"]).dt.total_seconds() / 60
    # Every outage is listed; a degradation only once it lasted long enough to matter.
    listed = incidents[
        (incidents["health"] == "down") | (incidents["minutes"] >= SHORT_DEGRADATION_MIN)
    ].copy()
    listed["actions"] = _ledger_actions_for(data, listed)
    short = len(incidents) - len(listed)
    down = incidents[incidents["health"] == "down"]
    if incidents.empty:
        body = note("No incidents: every endpoint stayed ok all week.")
        headline = "none"
    else:
        body = table(
            listed.head(MAX_INCIDENT_ROWS).to_dict("records"),
            [
                Col("service", "service"),
                Col("health", "health", badge, raw_html=True),
                Col("started", "started_at", when),
                Col("recovered", "recovered_at", lambda v: "ongoing" if is_blank(v) else when(v)),
                Col("duration", "minutes", lambda v: duration(60 * v), numeric=True),
                Col("failed probes", "failed_probes", number, numeric=True),
                Col("typical error", "typical_error"),
                Col("automated actions (ledger)", "actions"),
            ],
        )
        left_out = max(len(listed) - MAX_INCIDENT_ROWS, 0)
        if short or left_out:
            body += note(
                esc(
                    ", ".join(
                        part
                        for part in (
                            f"{left_out} more incidents" if left_out else "",
                            f"{short} degradations shorter than {SHORT_DEGRADATION_MIN} min" if short else "",
                        )
                        if part
                    )
                    + " are not listed; the timeline shows them all."
                ),
                "empty",
            )
        headline = (
            f"{plural(len(down), 'outage')} ({duration(60 * down['minutes'].sum())} down in total), "
            f"{plural(len(incidents) - len(down), 'degradation')}"
        )
    body += figure(chart)
    issues = data.frame("issues")
    if issues is not None and not issues.empty:
        recent = issues[issues["updated_at"] > data.window.start]
        if not recent.empty:
            body += "<h3>Issues Vigil opened or updated this week</h3>" + table(
                recent.to_dict("records"),
                [
                    Col("kind", "kind", badge, raw_html=True),
                    Col("repository", "repo"),
                    Col("issue", "number", lambda v: "–" if is_blank(v) else f"#{int(v)}"),
                    Col("title", "title"),
                    Col("state", "state"),
                    Col("occurrences", "occurrences", number, numeric=True),
                    Col("updated", "updated_at", when),
                ],
            )
    return Section("incidents", title, STATUS_OK, body, [chart], headline=headline)


def _ledger_actions_for(data: ReportData, incidents: pd.DataFrame) -> list[str]:
    """Ledger actions on each incident's service between its start and an hour after recovery."""
    ledger = data.frame("ledger_detail")
    if ledger is None or ledger.empty or incidents.empty:
        return ["–"] * len(incidents)
    found = []
    for row in incidents.itertuples(index=False):
        end = (row.recovered_at if not is_blank(row.recovered_at) else data.window.as_of) + timedelta(hours=1)
        hits = ledger[
            (ledger["subject"] == row.service) & (ledger["at"] >= row.started_at) & (ledger["at"] <= end)
        ]
        found.append(", ".join(dict.fromkeys(hits["action"].astype(str))) or "none recorded")
    return found


def burn_down(slo: pd.DataFrame, hourly: pd.DataFrame | None) -> dict[str, dict[str, charts.Series]]:
    """Error budget remaining through each SLO's window, per service: 1 - bad so far / budget.

    The budget is (1 - objective) × the window's valid events, so the line starts at 100 % and
    ends at the budget the SLO mart reports for `as_of` (appended as the last point).
    """
    import numpy as np

    panels: dict[str, dict[str, charts.Series]] = {}
    for row in slo.itertuples(index=False):
        allowed = (1 - row.objective) * row.valid_events if row.valid_events else 0
        xs: list = []
        ys: list = []
        if hourly is not None and allowed > 0:
            mine = hourly[(hourly["service"] == row.service) & (hourly["slo"] == row.slo)]
            bad = np.cumsum((mine["valid"] - mine["good"]).to_numpy())
            xs = list(mine["bucket_end"].to_numpy())
            ys = list(1 - bad / allowed)
        if not is_blank(row.error_budget_remaining):
            xs.append(np.datetime64(row.as_of))
            ys.append(float(row.error_budget_remaining))
        panels.setdefault(str(row.service), {})[str(row.slo)] = (np.array(xs), np.array(ys))
    return panels


def slo_section(data: ReportData) -> Section:
    title = "SLO error budgets"
    if missing := _unavailable("slo", title, data, [rd.SLO], "No SLO evaluated yet."):
        return missing
    slo = data.frame("slo")
    chart = charts.panel_lines(
        "slo-burn-down",
        "Error budget remaining through each SLO window (burn-down; below 0 % the budget is spent)",
        burn_down(slo, data.frame("slo_hourly")),
        "budget left",
        percent=True,
        zero_line=True,
    )
    columns = [
        Col("service", "service"),
        Col("SLO", "slo"),
        Col("objective", "objective", lambda v: pct(v, 2), numeric=True),
        Col("window", "window_days", lambda v: f"{int(v)} d", numeric=True),
        Col("SLI", "sli", lambda v: pct(v, 3), numeric=True),
        Col("budget left", "error_budget_remaining", lambda v: pct(v, 1), numeric=True),
    ]
    columns += [
        Col(f"burn {w}", f"burn_rate_{w}", lambda v: number(v, 1), numeric=True)
        for w in ("1h", "6h", "1d")
        if f"burn_rate_{w}" in slo.columns
    ]
    columns.append(Col("alert", "alert", badge, raw_html=True))
    spent = slo[slo["error_budget_remaining"] < 0]
    alerting = slo[slo["alert"].isin(["page", "ticket"])]
    as_of = when(slo["as_of"].max()) if "as_of" in slo.columns else "–"
    body = note(f"As of {esc(as_of)} UTC.") + table(slo.to_dict("records"), columns) + figure(chart)
    return Section(
        "slo",
        title,
        STATUS_OK,
        body,
        [chart],
        headline=f"{len(spent)} of {len(slo)} SLOs over budget, {len(alerting)} alerting",
    )


def test_label(row: dict[str, Any]) -> str:
    name = row.get("test_name") or row.get("test_id") or "?"
    cls = row.get("classname")
    return f"{cls}::{name}" if cls and not is_blank(cls) else str(name)


def _as_date(value: Any) -> Any:
    return value.date() if hasattr(value, "date") else value


def _first(row: dict[str, Any], columns: Sequence[str]) -> Any:
    return next((row[c] for c in columns if not is_blank(row.get(c))), None)


def change_text(row: dict[str, Any], data: ReportData) -> str:
    """How a test's status changed inside the report week, from whichever history columns exist."""

    def inside(columns: Sequence[str]) -> bool:
        # Days (DATE columns) count as their midnight: a test flagged on the first day of the
        # window changed status inside it.
        return any(
            not is_blank(row.get(c))
            and data.window.start.date() <= _as_date(row[c]) <= data.window.as_of.date()
            for c in columns
        )

    if inside(rd.FLAKY_STATUS_CHANGED_COLUMNS) and not is_blank(row.get("previous_status")):
        return f"{row['previous_status']} → {row['status']}"
    if inside(rd.FLAKY_CLEARED_COLUMNS):
        return "cleared"
    if inside(rd.FLAKY_QUARANTINED_COLUMNS):
        return "quarantined"
    if inside(rd.FLAKY_FLAGGED_COLUMNS):
        return f"newly {row.get('status', 'flagged')}"
    return str(row.get("status", "changed"))


def flaky_section(data: ReportData) -> Section:
    title = "Flaky tests"
    if missing := _unavailable("flaky", title, data, [rd.FLAKY], "No test has been scored yet."):
        return missing
    counts = dict(zip(data.frame("flaky_status")["status"], data.frame("flaky_status")["tests"], strict=True))
    top = data.frame("flaky_top")
    flagged = top[top["status"] != "stable"] if "status" in top.columns else top
    changes = data.frame("flaky_changes")
    body = tiles(
        [
            (status, f"{int(counts.get(status, 0)):,}", "tests")
            for status in ("flaky", "broken", "quarantined", "stable")
        ]
    )
    chart_list = []
    if not flagged.empty and "score" in flagged.columns:
        chart = charts.horizontal_bars(
            "flaky-leaderboard",
            "Flakiness score of the tests currently flagged",
            [test_label(r)[-60:] for r in flagged.to_dict("records")],
            flagged["score"].fillna(0).tolist(),
            [
                {"flaky": charts.REGRESSION, "broken": "#d97706", "quarantined": "#7c3aed"}.get(s, "#94a3b8")
                for s in flagged.get("status", [])
            ],
            "score",
        )
        chart_list.append(chart)
    leaderboard_cols = [
        Col("#", "rank", numeric=True),
        Col("repository", "repo"),
        Col("test", "label"),
        Col("status", "status", badge, raw_html=True),
        Col("score", "score", lambda v: number(v, 2), numeric=True),
        Col("flip rate", "flip_rate", lambda v: pct(v, 0), numeric=True),
        Col("failures / runs", "fails_runs", numeric=True),
        Col("flaky commits", "flaky_commits", number, numeric=True),
        Col("first flagged", "flagged", when),
    ]
    rows = [
        {
            **r,
            "rank": i,
            "label": test_label(r),
            "fails_runs": f"{number(r.get('failures'))} / {number(r.get('runs'))}",
            "flagged": _first(r, rd.FLAKY_FLAGGED_COLUMNS),
        }
        for i, r in enumerate(top.to_dict("records"), 1)
    ]
    available = set(top.columns) | {"rank", "label", "fails_runs", "flagged"}
    body += "<h3>Leaderboard</h3>" + table(rows, [c for c in leaderboard_cols if c.key in available])
    body += "".join(figure(c) for c in chart_list)
    change_rows = [
        {**r, "label": test_label(r), "change": change_text(r, data)} for r in changes.to_dict("records")
    ]
    if change_rows:
        body += "<h3>Status changes this week</h3>" + table(
            change_rows,
            [
                Col("repository", "repo"),
                Col("test", "label"),
                Col("change", "change"),
                Col("status now", "status", badge, raw_html=True),
                Col("score", "score", lambda v: number(v, 2), numeric=True),
            ],
        )
    else:
        body += note("No test changed status this week.")
    newly = sum(1 for r in change_rows if r["change"].startswith("newly"))
    cleared = sum(1 for r in change_rows if r["change"] == "cleared")
    return Section(
        "flaky",
        title,
        STATUS_OK,
        body,
        chart_list,
        headline=(
            f"{int(counts.get('flaky', 0))} flaky, {int(counts.get('broken', 0))} broken, "
            f"{int(counts.get('quarantined', 0))} quarantined; {newly} newly flagged, {cleared} cleared this week"
        ),
    )


MAX_CAUSE_ROWS = 8
MAX_NEW_CAUSE_ROWS = 5
CAUSE_TEXT_CHARS = 110


def _cause_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    from observability_assets.assetkit.metadata import sparkline

    rows = []
    for i, r in enumerate(frame.to_dict("records"), 1):
        message = str(r.get("example_message") or r.get("signature_text") or "")
        daily = r.get("daily_failures")
        rows.append(
            {
                **r,
                "rank": i,
                "cause": message
                if len(message) <= CAUSE_TEXT_CHARS
                else message[: CAUSE_TEXT_CHARS - 1] + "…",
                "where": r.get("probable_file") or "–",
                "trend": sparkline([float(v) for v in daily]) if daily is not None else "",
                "repositories": ", ".join(r.get("repo_list") if r.get("repo_list") is not None else []),
            }
        )
    return rows


def failure_causes_section(data: ReportData) -> Section:
    """The week's failures grouped by root cause: the largest clusters and the newest ones."""
    title = "Top failure causes"
    if missing := _unavailable("failures", title, data, [rd.FAILURES], "No failure was clustered this week."):
        return missing
    frame, totals = data.frame("failure_clusters"), data.frame("failure_totals")
    if frame is None or frame.empty:
        return _empty("failures", title, "No test failed this week.")
    total = totals.iloc[0].to_dict()
    body = tiles(
        [
            ("failures", f"{int(total['failures']):,}", f"in {int(total['window_days'])} days"),
            ("causes", f"{int(total['clusters']):,}", "clusters"),
            (
                "shared causes",
                f"{int(total['shared']):,}",
                f"{pct(total['shared_failures'] / total['failures'], 0)} of failures",
            ),
            ("infrastructure", pct(total["infra_share"], 0), "of failures"),
        ]
    )
    largest = frame.head(MAX_CAUSE_ROWS)
    chart = charts.horizontal_bars(
        "failure-causes",
        "Failures of the largest causes this week",
        [
            f"#{i} {str(r['probable_file'] or r['signature'])[-40:]}"
            for i, r in enumerate(largest.to_dict("records"), 1)
        ],
        largest["failures"].astype(float).tolist(),
        [charts.REGRESSION if s > 0.5 else "#2563eb" for s in largest["infra_share"].fillna(0)],
        "failures",
    )
    columns = [
        Col("#", "rank", numeric=True),
        Col("cause (latest message)", "cause"),
        Col("probable module / file", "where"),
        Col("tests", "tests", number, numeric=True),
        Col("repos", "repos", number, numeric=True),
        Col("failures", "failures", number, numeric=True),
        Col("infra", "infra_share", lambda v: pct(v, 0), numeric=True),
        Col("tests are", "test_status", badge, raw_html=True),
        Col("per day", "trend", lambda v: f"<code class='spark'>{esc(v)}</code>", raw_html=True),
        Col("first seen", "first_seen", when),
    ]
    body += "<h3>Largest causes</h3>" + table(_cause_rows(largest), columns)
    body += figure(chart)
    newest = frame.sort_values(["first_seen_ever", "failures"], ascending=[False, False]).head(
        MAX_NEW_CAUSE_ROWS
    )
    body += "<h3>Newest causes</h3>" + table(
        _cause_rows(newest), [c for c in columns if c.key != "rank"] + [Col("repositories", "repositories")]
    )
    top = largest.iloc[0]
    return Section(
        "failures",
        title,
        STATUS_OK,
        body,
        [chart],
        headline=(
            f"{int(total['failures']):,} failures from {int(total['clusters']):,} causes; the largest, "
            f"{int(top['failures']):,} failures in {int(top['tests'])} tests, at {top['probable_file'] or 'an unknown place'}"
        ),
    )


def series_label(row: dict[str, Any]) -> str:
    """What a drift series measures, readable (`subject`), else its key."""
    return str(row["subject"]) if not is_blank(row.get("subject")) else str(row["series_key"])


def _unit(kind: str) -> str:
    kind = (kind or "").lower()
    if "latency" in kind or kind.endswith("_ms"):
        return "ms"
    if "duration" in kind:
        return "seconds"
    return "value"


def drift_section(data: ReportData) -> Section:
    title = "Performance drift"
    if missing := _unavailable("drift", title, data, [rd.DRIFT], "No change points found."):
        return missing
    drift = data.frame("drift")
    if drift.empty:
        return _empty("drift", title, f"No change points in the last {data.window.context_days} days.")
    drift = drift.assign(new=drift["change_at"] > data.window.start)
    rows = [{**r, "label": series_label(r)} for r in drift.to_dict("records")]
    body = table(
        rows[:MAX_DRIFT_ROWS],
        [
            Col("kind", "series_kind"),
            Col("series", "label"),
            Col("changed", "change_at", when),
            Col("this week", "new", lambda v: "new" if v else ""),
            Col("commit", "commit_sha", lambda v: "–" if is_blank(v) else str(v)[:10]),
            Col("before", "before_value", lambda v: number(v, 2), numeric=True),
            Col("after", "after_value", lambda v: number(v, 2), numeric=True),
            Col("change", "change_pct", lambda v: "–" if is_blank(v) else f"{float(v):+.1f} %", numeric=True),
            Col("direction", "direction", badge, raw_html=True),
        ],
    )
    if len(rows) > MAX_DRIFT_ROWS:
        body += note(
            esc(
                f"{len(rows) - MAX_DRIFT_ROWS} more changes in the last {data.window.context_days} days are not listed."
            ),
            "empty",
        )
    points = data.frame("drift_points")
    chart_list = []
    for index, row in enumerate(rows[: rd.DRIFT_CHARTED]):
        measured = None
        unit = row.get("unit") if not is_blank(row.get("unit")) else _unit(str(row["series_kind"]))
        if points is not None:
            mine = points[
                (points["series_kind"] == row["series_kind"]) & (points["series_key"] == row["series_key"])
            ]
            if not mine.empty:
                measured = (mine["point_at"].to_numpy(), mine["value"].to_numpy(dtype=float))
                unit = str(mine["unit"].iloc[0]) if not is_blank(mine["unit"].iloc[0]) else unit
        chart_list.append(
            charts.before_after(
                f"drift-{index}",
                f"{row['direction']}: {row['series_kind']} {row['label']} "
                f"({float(row['change_pct']):+.0f} % at {when(row['change_at'])})",
                row["change_at"].to_pydatetime(),
                float(row["before_value"]),
                float(row["after_value"]),
                row["direction"] == "regression",
                (data.window.context_start, data.window.as_of),
                unit,
                measured,
            )
        )
    body += (
        '<h3>Before and after</h3><div class="drift-grid">'
        + "".join(figure(c) for c in chart_list)
        + "</div>"
    )
    counts = drift_counts(data)
    return Section(
        "drift",
        title,
        STATUS_OK,
        body,
        chart_list,
        headline=(
            f"{plural(counts['regressions'], 'regression')}, {plural(counts['improvements'], 'improvement')} "
            f"in {data.window.context_days} days ({counts['regressions_this_week']} regressions this week)"
        ),
    )


def drift_counts(data: ReportData) -> dict[str, int]:
    """Changes found over the context window, counted in SQL (the frame holds the top ones only)."""
    frame = data.frame("drift_counts")
    regression = frame["direction"] == "regression"
    return {
        "regressions": int(frame.loc[regression, "changes"].sum()),
        "improvements": int(frame.loc[~regression, "changes"].sum()),
        "regressions_this_week": int(frame.loc[regression & frame["this_week"], "changes"].sum()),
    }


def _anomaly_markers(anomalies: pd.DataFrame | None, per_repo: pd.DataFrame) -> list[charts.Marker]:
    """Each anomaly on the cost line of its repository (at the day's total when it has none)."""
    if anomalies is None or anomalies.empty:
        return []
    markers = []
    for row in anomalies.to_dict("records"):
        on_day = per_repo[per_repo["day"] == row["day"]]
        if not is_blank(row.get("repo")):
            on_day = on_day[on_day["repo"] == row["repo"]]
        y = float(on_day["cost_usd"].sum()) if not on_day.empty else float(row["actual_usd"])
        markers.append(charts.Marker(row["day"], y, f"+{usd(row['impact_usd'])}"))
    return markers


def ci_section(data: ReportData) -> Section:
    title = "CI duration and cost"
    if missing := _unavailable("ci", title, data, [rd.CI_KPIS, rd.CI_COST], "No CI runs recorded yet."):
        return missing
    kpis, cost = data.frame("ci_kpis"), data.frame("ci_cost")
    if kpis.empty and cost.empty:
        return _empty("ci", title, f"No CI runs in the last {data.window.context_days} days.")
    this_week, last_week = (
        cost[data.window.in_week(cost["day"])],
        cost[data.window.in_previous_week(cost["day"])],
    )
    per_repo = cost.groupby(["repo", "day"], as_index=False)["cost_usd"].sum()
    anomalies = data.frame("cost_anomalies")
    markers = _anomaly_markers(anomalies, per_repo)
    cost_chart = charts.line_chart(
        "ci-cost-repo",
        "CI cost per repository and day (USD, list prices); red dots are cost anomalies",
        _series(per_repo, "repo", "day", "cost_usd"),
        "USD",
        markers=markers,
        span=_week_span(data),
    )
    per_runner = cost.pivot_table(
        index="day", columns="runner_type", values="cost_usd", aggfunc="sum"
    ).fillna(0)
    runner_chart = charts.stacked_bars(
        "ci-cost-runner",
        "CI cost per runner type and day (USD)",
        per_runner.index.to_numpy(),
        {str(c): per_runner[c].to_numpy() for c in per_runner.columns},
        "USD",
    )
    duration_chart = charts.line_chart(
        "ci-duration",
        "p95 run duration of each repository's slowest workflow per day (minutes)",
        _series(kpis.assign(p95_min=kpis["p95_duration_s"] / 60), "repo", "day", "p95_min"),
        "minutes",
        span=_week_span(data),
    )
    total, total_prev = this_week["cost_usd"].sum(), last_week["cost_usd"].sum()
    kweek = kpis[data.window.in_week(kpis["day"])]
    finished = kweek["finished_runs"].sum()
    success = kweek["successful_runs"].sum() / finished if finished else None
    body = tiles(
        [
            (
                "cost this week",
                delta(total, total_prev or None, higher_is_better=False, fmt=usd),
                "GitHub list prices",
            ),
            ("billable minutes", number(this_week["billable_minutes"].sum()), "rounded up per job"),
            ("runs", number(kweek["runs"].sum()), "workflow runs created"),
            ("success rate", pct(success, 1), "of finished runs"),
        ]
    )
    by_runner = _by_repo_runner(this_week, last_week)
    body += "<h3>This week by repository and runner</h3>" + table(
        by_runner,
        [
            Col("repository", "repo"),
            Col("runner", "runner_type"),
            Col("jobs", "jobs", number, numeric=True),
            Col("billable minutes", "billable_minutes", number, numeric=True),
            Col("cost (▲▼ vs previous week)", "cost_html", lambda v: v, raw_html=True, numeric=True),
        ],
    )
    body += "<h3>Run duration and reliability this week</h3>" + table(
        by_repo(kweek),
        [
            Col("repository", "repo"),
            Col("runs", "runs", number, numeric=True),
            Col("success rate", "success_rate", lambda v: pct(v, 1), numeric=True),
            Col("median duration", "p50_duration_s", duration, numeric=True),
            Col("p95 duration (slowest workflow)", "p95_duration_s", duration, numeric=True),
            Col("re-run runs", "rerun_runs", number, numeric=True),
        ],
    )
    body += figure(duration_chart) + figure(cost_chart) + figure(runner_chart)
    if anomalies is not None and not anomalies.empty:
        body += "<h3>Cost anomalies</h3>" + table(
            anomalies.to_dict("records"),
            [
                Col("scope", "scope"),
                Col("day", "day", day),
                Col("expected", "expected_usd", usd, numeric=True),
                Col("actual", "actual_usd", usd, numeric=True),
                Col("impact", "impact_usd", usd, numeric=True),
                Col(
                    "impact %",
                    "impact_pct",
                    lambda v: "–" if is_blank(v) else f"{float(v):+.0f} %",
                    numeric=True,
                ),
                *([Col("root cause hint", "root_cause")] if "root_cause" in anomalies.columns else []),
            ],
        )
    elif data.has(rd.COST_ANOMALIES):
        body += note("No cost anomalies in the window.")
    else:
        body += note(
            f"Cost anomalies are not marked: <code>{rd.COST_ANOMALIES}</code> is not built yet.", "missing"
        )
    return Section(
        "ci",
        title,
        STATUS_OK,
        body,
        [duration_chart, cost_chart, runner_chart],
        headline=(
            f"{usd(total)} this week ({usd(total_prev)} the week before), "
            f"{0 if anomalies is None else len(anomalies)} cost anomalies in {data.window.context_days} days"
        ),
    )


def _by_repo_runner(this_week: pd.DataFrame, last_week: pd.DataFrame) -> list[dict[str, Any]]:
    keys = ["repo", "runner_type"]
    now = this_week.groupby(keys, as_index=False)[["jobs", "billable_minutes", "cost_usd"]].sum()
    before = (
        last_week.groupby(keys, as_index=False)["cost_usd"].sum().rename(columns={"cost_usd": "cost_prev"})
    )
    merged = now.merge(before, on=keys, how="left").sort_values("cost_usd", ascending=False)
    return [
        {**r, "cost_html": delta(r["cost_usd"], r["cost_prev"], higher_is_better=False, fmt=usd)}
        for r in merged.to_dict("records")
    ]


def by_repo(week: pd.DataFrame) -> list[dict[str, Any]]:
    grouped = week.groupby("repo", as_index=False).agg(
        runs=("runs", "sum"),
        finished=("finished_runs", "sum"),
        successful=("successful_runs", "sum"),
        p50_duration_s=("p50_duration_s", "median"),
        p95_duration_s=("p95_duration_s", "max"),
        rerun_runs=("rerun_runs", "sum"),
    )
    grouped["success_rate"] = grouped["successful"] / grouped["finished"].where(grouped["finished"] > 0)
    return grouped.to_dict("records")


@dataclass(frozen=True)
class AutomationFigures:
    """The loop's three targets over a span of days."""

    success_rate: float | None
    mttr_minutes: float | None
    false_positive_rate: float | None


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def automation_figures(frame: pd.DataFrame) -> AutomationFigures:
    """Self-healing, MTTR and false positives over the rows of marts.automation_kpis given.

    Summed from the daily counts (healed / heal_attempts, false_positives / episodes, MTTR
    weighted by healed episodes), not averaged from daily rates: a quiet day weighs little.
    """

    def total(column: str) -> float:
        return float(frame[column].fillna(0).sum()) if column in frame.columns else 0.0

    mttr = None
    if {"mttr_minutes", "healed"} <= set(frame.columns):
        timed = frame.dropna(subset=["mttr_minutes"])
        mttr = _ratio(float((timed["mttr_minutes"] * timed["healed"]).sum()), float(timed["healed"].sum()))
    return AutomationFigures(
        _ratio(total("healed"), total("heal_attempts")),
        mttr,
        _ratio(total("false_positives"), total("episodes")),
    )


@dataclass(frozen=True)
class AutomationPeriod:
    """The days the automation figures cover: the report week, or the latest week with activity."""

    charted: pd.DataFrame  # rows of marts.automation_kpis to chart
    week: pd.DataFrame  # rows the three figures sum over
    ledger: pd.DataFrame | None  # ledger actions per day and action over the same days
    note: str  # why the period is not the report week ("" when it is)


def automation_period(data: ReportData) -> AutomationPeriod | None:
    frame, latest = data.frame("automation"), data.frame("automation_latest")
    if frame is None or latest is None:
        return None
    week = frame[data.window.in_week(frame["day"])]
    ledger = data.frame("ledger_daily")
    if week.empty and not latest.empty:
        first, last = latest["day"].min(), latest["day"].max()
        return AutomationPeriod(
            latest,
            latest,
            data.frame("ledger_latest"),
            f"No automated activity in the report week; shown instead: the latest week with "
            f"activity, {day(first)} to {day(last)}.",
        )
    return AutomationPeriod(
        frame, week, None if ledger is None else ledger[data.window.in_week(ledger["day"])], ""
    )


def automation_section(data: ReportData) -> Section:
    title = "Automation"
    if missing := _unavailable(
        "automation", title, data, [rd.AUTOMATION], "No automated alerts or actions recorded yet."
    ):
        return missing
    period = automation_period(data)
    if period is None or period.week.empty:
        return _empty("automation", title, "No automated alerts or actions in the report week.")
    figures = automation_figures(period.week)

    def verdict(value: float | None, target: float, higher_is_better: bool) -> str:
        if value is None:
            return "no episodes"
        good = value >= target if higher_is_better else value <= target
        return f'<span class="{"good" if good else "bad"}">{"meets" if good else "misses"} target</span>'

    mttr_text = "–" if figures.mttr_minutes is None else f"{figures.mttr_minutes:.1f} min"
    body = note(esc(period.note)) if period.note else ""
    body += tiles(
        [
            (
                "self-healing success rate",
                esc(pct(figures.success_rate, 0)),
                f"target ≥ {pct(SELF_HEALING_TARGET, 0)}: "
                + verdict(figures.success_rate, SELF_HEALING_TARGET, True),
            ),
            (
                "mean time to restore",
                esc(mttr_text),
                f"target &lt; {MTTR_TARGET_MINUTES:.0f} min: "
                + verdict(figures.mttr_minutes, MTTR_TARGET_MINUTES, False),
            ),
            (
                "false-positive alerts",
                esc(pct(figures.false_positive_rate, 1)),
                f"target &lt; {pct(FALSE_POSITIVE_TARGET, 0)}: "
                + verdict(figures.false_positive_rate, FALSE_POSITIVE_TARGET, False),
            ),
        ]
    )
    chart_list = _automation_charts(period.charted)
    if period.ledger is not None and not period.ledger.empty:
        actions = (
            period.ledger.groupby("action", as_index=False)["actions"]
            .sum()
            .sort_values("actions", ascending=False)
        )
        body += "<h3>Automated decisions (ledger)</h3>" + table(
            actions.to_dict("records"),
            [Col("action", "action"), Col("count", "actions", number, numeric=True)],
        )
    body += "".join(figure(c) for c in chart_list)
    return Section(
        "automation",
        title,
        STATUS_OK,
        body,
        chart_list,
        headline=(
            f"self-healing {pct(figures.success_rate, 0)}, MTTR {mttr_text}, "
            f"false positives {pct(figures.false_positive_rate, 1)}"
            + (" (latest week with activity)" if period.note else "")
        ),
    )


def _automation_charts(frame: pd.DataFrame) -> list[charts.Chart]:
    """Daily rates against their targets, and daily counts; only series with data are drawn."""
    days = frame["day"].to_numpy()
    rates = {
        label: (days, frame[column].to_numpy(dtype=float))
        for label, column in (
            ("self-healing success", "self_healing_rate"),
            ("false-positive alerts", "false_positive_rate"),
        )
        if column in frame.columns and frame[column].notna().any()
    }
    counts = {
        label: (days, frame[column].fillna(0).to_numpy(dtype=float))
        for label, column in (("alerts", "alerts"), ("actions", "actions"), ("pages", "pages"))
        if column in frame.columns
    }
    found = []
    if rates:
        found.append(
            charts.line_chart(
                "automation-rates",
                "Self-healing success and false-positive alert rates per day, with targets",
                rates,
                "rate",
                percent=True,
                targets=[
                    (SELF_HEALING_TARGET, "self-healing target"),
                    (FALSE_POSITIVE_TARGET, "false-positive target"),
                ],
                ylim=(0, 1.05),
            )
        )
    if counts:
        found.append(
            charts.line_chart(
                "automation-counts", "Alerts, actions and pages per day", counts, "count", step=True
            )
        )
    return found


# Section order in marts.data_trust, with the heading each gets in the report.
DATA_TRUST_SECTIONS: tuple[tuple[str, str], ...] = (
    ("freshness", "Freshness against the schedules"),
    ("reconciliation", "Row counts against the sources' own totals"),
    ("checks", "Asset checks"),
    ("rejected_inputs", "Rejected inputs by reason"),
    ("redactions", "Secrets and personal data redacted at ingest, by kind"),
    ("late_changes", "Late changes picked up by re-crawls"),
)


def _figure(value: Any) -> str:
    """Counts as whole numbers, hours with one decimal."""
    if is_blank(value):
        return "–"
    return number(value) if float(value).is_integer() else number(value, 1)


def data_trust_section(data: ReportData) -> Section:
    """Can this week's numbers be trusted? Everything marts.data_trust found, failures first."""
    title = "Data trust"
    if missing := _unavailable("data-trust", title, data, [rd.DATA_TRUST], "The data trust report is empty."):
        return missing
    frame = data.frames.get("data_trust")
    if frame is None or frame.empty:
        return _empty("data-trust", title, "The data trust report is empty.")
    counts = frame["status"].value_counts().to_dict()
    failing, warning = int(counts.get("fail", 0)), int(counts.get("warn", 0))
    redacted = frame.loc[frame["section"] == "redactions", "observed"].sum()
    reconciled = frame[frame["section"] == "reconciliation"]
    body = tiles(
        [
            ("findings that fail", esc(number(failing)), "stale sources, totals that differ, failed checks"),
            ("warnings", esc(number(warning)), "rejected inputs, runs needing a backfill"),
            (
                "reconciled against the source",
                esc(f"{int((reconciled['status'] == 'ok').sum())} of {len(reconciled)}"),
                "repositories × measures whose counts match",
            ),
            ("redacted at ingest", esc(number(int(redacted))), "secrets and personal data replaced"),
        ]
    )
    start = frame["window_start"].iloc[0]
    body += note(esc(f"Partitions from {day(start)} on; checks at their latest evaluation."))
    columns = [
        Col("status", "status", lambda v: badge(str(v)), raw_html=True),
        Col("source", "source"),
        Col("measure", "subject"),
        Col("expected", "expected", _figure, numeric=True),
        Col("observed", "observed", _figure, numeric=True),
        Col("detail", "detail"),
    ]
    for section, heading in DATA_TRUST_SECTIONS:
        rows = frame[frame["section"] == section]
        if not rows.empty:
            body += f"<h3>{esc(heading)}</h3>" + table(rows.head(30).to_dict("records"), columns)
    return Section(
        "data-trust",
        title,
        STATUS_OK,
        body,
        headline=f"{plural(failing, 'failing finding')}, {plural(warning, 'warning')}, "
        f"{number(int(redacted))} redactions",
    )


SECTION_BUILDERS: tuple[Callable[[ReportData], Section], ...] = (
    uptime_section,
    latency_section,
    errors_section,
    incidents_section,
    slo_section,
    flaky_section,
    failure_causes_section,
    drift_section,
    ci_section,
    automation_section,
    data_trust_section,
)
