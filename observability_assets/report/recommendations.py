"""Recommendations of the weekly report: rules over the report's frames, ordered by urgency.

Each rule reads the same frames the sections show and points at the section holding the evidence,
so a reader can check every recommendation against the figures above it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from observability_assets.derived.automation_kpis import (
    FALSE_POSITIVE_TARGET,
    MTTR_TARGET_MINUTES,
    SELF_HEALING_TARGET,
)
from observability_assets.report.html import (
    STATUS_MISSING,
    STATUS_OK,
    Section,
    day,
    esc,
    is_blank,
    note,
    pct,
    usd,
)
from observability_assets.report.sections import (
    BUDGET_LOW,
    CI_SUCCESS_LOW,
    automation_figures,
    automation_period,
    by_repo,
    change_text,
    series_label,
    test_label,
)

if TYPE_CHECKING:
    from observability_assets.report.data import ReportData


@dataclass(frozen=True)
class Recommendation:
    priority: int  # 1 = act now, 2 = this week, 3 = when convenient
    text: str  # HTML
    section: str


Rule = Callable[["ReportData"], list[Recommendation]]


def _slo_rules(data: ReportData) -> list[Recommendation]:
    slo = data.frame("slo")
    if slo is None:
        return []
    found = []
    for r in slo.to_dict("records"):
        name = f"<b>{esc(r['service'])}</b> {esc(r['slo'])}"
        if r.get("alert") == "page":
            found.append(
                Recommendation(1, f"{name} is paging: burning budget fast. Follow its runbook now.", "slo")
            )
        elif not is_blank(r.get("error_budget_remaining")) and r["error_budget_remaining"] < 0:
            found.append(
                Recommendation(
                    1,
                    f"{name} has spent its error budget ({pct(r['error_budget_remaining'], 0)} left): "
                    "freeze risky releases and put reliability work first until it recovers.",
                    "slo",
                )
            )
        elif not is_blank(r.get("error_budget_remaining")) and r["error_budget_remaining"] < BUDGET_LOW:
            found.append(
                Recommendation(
                    2,
                    f"{name} has {pct(r['error_budget_remaining'], 0)} of its budget left: release with care.",
                    "slo",
                )
            )
    return found


def _incident_rules(data: ReportData) -> list[Recommendation]:
    incidents = data.frame("incidents")
    if incidents is None or incidents.empty:
        return []
    down = incidents[incidents["health"] == "down"]
    found = []
    for service, group in down.groupby("service"):
        found.append(
            Recommendation(
                2,
                f"<b>{esc(service)}</b> was down {len(group)} time(s) this week: review the incidents and the "
                "remediation recorded in the ledger.",
                "incidents",
            )
        )
    return found


def _canary_rules(data: ReportData) -> list[Recommendation]:
    canary = data.frame("canary")
    if canary is None or canary.empty:
        return []
    failed = canary[canary["verdict"] == "fail"]["replay_id"].unique()
    return [
        Recommendation(
            1,
            f"Do not promote the candidate of replay <code>{esc(r)}</code>: the canary judge failed it.",
            "errors",
        )
        for r in failed[:3]
    ]


def _flaky_rules(data: ReportData) -> list[Recommendation]:
    changes = data.frame("flaky_changes")
    top = data.frame("flaky_top")
    found = []
    if changes is not None and not changes.empty and "status" in changes.columns:
        newly = [
            r
            for r in changes.to_dict("records")
            if change_text(r, data).startswith("newly") and r["status"] == "flaky"
        ]
        if newly:
            names = ", ".join(f"<code>{esc(test_label(r))}</code>" for r in newly[:3])
            found.append(
                Recommendation(
                    2,
                    f"Quarantine the {len(newly)} newly flaky test(s) ({names}{', …' if len(newly) > 3 else ''}) "
                    "with the quarantine list, and fix them before they hide real failures.",
                    "flaky",
                )
            )
    if top is not None and "status" in top.columns:
        for r in top[top["status"] == "broken"].head(3).to_dict("records"):
            found.append(
                Recommendation(
                    1,
                    f"Fix <code>{esc(test_label(r))}</code> in {esc(r.get('repo'))}: it fails every time, it is broken, not flaky.",
                    "flaky",
                )
            )
    return found


def _drift_rules(data: ReportData) -> list[Recommendation]:
    drift = data.frame("drift")
    if drift is None or drift.empty:
        return []
    new = drift[(drift["direction"] == "regression") & (drift["change_at"] > data.window.start)]
    return [
        Recommendation(
            2,
            f"Investigate the {esc(r['series_kind'])} regression of <code>{esc(series_label(r))}</code> "
            f"({float(r['change_pct']):+.0f} %)"
            + (
                ""
                if is_blank(r.get("commit_sha"))
                else f", first seen at commit <code>{esc(str(r['commit_sha'])[:10])}</code>"
            )
            + ".",
            "drift",
        )
        for r in new.head(3).to_dict("records")
    ]


def _cost_rules(data: ReportData) -> list[Recommendation]:
    anomalies = data.frame("cost_anomalies")
    found = []
    if anomalies is not None:
        for r in anomalies.head(3).to_dict("records"):
            found.append(
                Recommendation(
                    2,
                    f"Review CI spend of <code>{esc(r['scope'])}</code> on {esc(day(r['day']))}: "
                    f"{usd(r['actual_usd'])} against {usd(r['expected_usd'])} expected ({usd(r['impact_usd'])} over).",
                    "ci",
                )
            )
    kpis = data.frame("ci_kpis")
    if kpis is not None and not kpis.empty:
        for r in by_repo(kpis[data.window.in_week(kpis["day"])]):
            if not is_blank(r["success_rate"]) and r["success_rate"] < CI_SUCCESS_LOW:
                found.append(
                    Recommendation(
                        3,
                        f"CI of <b>{esc(r['repo'])}</b> succeeded in only {pct(r['success_rate'], 0)} of finished runs this week.",
                        "ci",
                    )
                )
    return found


def _automation_rules(data: ReportData) -> list[Recommendation]:
    period = automation_period(data)
    if period is None or period.week.empty:
        return []
    figures = automation_figures(period.week)
    found = []
    if figures.success_rate is not None and figures.success_rate < SELF_HEALING_TARGET:
        found.append(
            Recommendation(
                3,
                f"Self-healing succeeded {pct(figures.success_rate, 0)} of the time (target {pct(SELF_HEALING_TARGET, 0)}): "
                "review the runbooks of the services it failed on.",
                "automation",
            )
        )
    if figures.mttr_minutes is not None and figures.mttr_minutes > MTTR_TARGET_MINUTES:
        found.append(
            Recommendation(
                3,
                f"MTTR was {figures.mttr_minutes:.0f} min (target under {MTTR_TARGET_MINUTES:.0f} min).",
                "automation",
            )
        )
    if figures.false_positive_rate is not None and figures.false_positive_rate > FALSE_POSITIVE_TARGET:
        found.append(
            Recommendation(
                3,
                f"{pct(figures.false_positive_rate, 0)} of diagnosed alerts were false positives "
                f"(target under {pct(FALSE_POSITIVE_TARGET, 0)}): tune the alert thresholds.",
                "automation",
            )
        )
    return found


RULES: tuple[Rule, ...] = (
    _slo_rules,
    _canary_rules,
    _incident_rules,
    _flaky_rules,
    _drift_rules,
    _cost_rules,
    _automation_rules,
)


def recommendations(data: ReportData) -> list[Recommendation]:
    found = [r for rule in RULES for r in rule(data)]
    return sorted(found, key=lambda r: r.priority)


PRIORITY_LABELS = {1: "act now", 2: "this week", 3: "when convenient"}


def recommendations_section(data: ReportData, sections: Sequence[Section]) -> Section:
    found = recommendations(data)
    missing = [s.title for s in sections if s.status == STATUS_MISSING]
    items = [
        f'<li><span class="badge {"page" if r.priority == 1 else "ticket" if r.priority == 2 else "none"}">'
        f'{PRIORITY_LABELS[r.priority]}</span> {r.text} <a href="#{esc(r.section)}">evidence</a></li>'
        for r in found[:15]
    ]
    if missing:
        items.append(
            f'<li><span class="badge none">{PRIORITY_LABELS[3]}</span> Build the tables behind '
            f"{esc(', '.join(missing))} so this report covers them.</li>"
        )
    body = (
        f'<ol class="recommendations">{"".join(items)}</ol>'
        if items
        else note("Nothing needs attention this week.")
    )
    urgent = sum(1 for r in found if r.priority == 1)
    return Section(
        "recommendations",
        "Recommendations",
        STATUS_OK,
        body,
        headline=(
            f"{len(found)} recommendations, {urgent} to act on now"
            if found
            else "build the missing tables first"
            if missing
            else "nothing needs attention"
        ),
    )
