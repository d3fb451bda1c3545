"""Breached policy gates → findings for the findings sensor (one issue per repository and gate).

A gate breach is a state, not an event: every tick reports the breaches that hold now, the issue
tracker deduplicates them by fingerprint (kind `policy-gate`, key `<gate>:<repo>`), comments at
most once per ISO week while a breach lasts, and closes the issue after the clean days once it
stops being reported. Read in the findings sensor's one read; marts not built yet are skipped.
"""

from __future__ import annotations

import os
from datetime import date, datetime, time
from typing import Any

from observability_assets.derived.policy_gates import load_policies
from resources.issue_tracker import Finding

KIND = "policy-gate"


def read_gate_breaches(con: Any, tables: set[str]) -> tuple[list[Finding], datetime | None]:
    """Findings for every breached default-branch coverage floor and advisory SLA, and the latest
    time the data speaks for (for closing cleared breaches). `VIGIL_GATE_ISSUES=0` turns them off."""
    if os.environ.get("VIGIL_GATE_ISSUES", "1").strip() == "0":
        return [], None
    policies = load_policies()
    findings: list[Finding] = []
    latest: list[datetime] = []
    if "marts.coverage_daily" in tables:
        rows = con.execute(
            "SELECT repo, day, head_sha, line_coverage_pct FROM marts.coverage_daily "
            "QUALIFY ROW_NUMBER() OVER (PARTITION BY repo ORDER BY day DESC) = 1 ORDER BY repo"
        ).fetchall()
        for repo, day, sha, pct in rows:
            observed = _at(day)
            latest.append(observed)
            if pct is not None and pct < policies.min_line_coverage_pct:
                findings.append(
                    _coverage_finding(repo, observed, sha, float(pct), policies.min_line_coverage_pct)
                )
    if "raw.dependency_alerts" in tables:
        rows = con.execute(
            "SELECT repo, number, severity, package, ghsa_id, html_url, fetched_at, "
            "DATE_DIFF('second', created_at, fetched_at) / 86400.0 AS age_days "
            "FROM raw.dependency_alerts WHERE state = 'open' ORDER BY repo, number"
        ).fetchall()
        by_repo: dict[str, list[tuple]] = {}
        for row in rows:
            repo, _, severity, *_, fetched_at, age = row
            latest.append(fetched_at)
            limit = policies.max_open_days.get(severity)
            if limit is not None and age > limit:
                by_repo.setdefault(repo, []).append(row)
        findings += [
            _advisory_finding(repo, breaching, policies.max_open_days) for repo, breaching in by_repo.items()
        ]
    return findings, max(latest) if latest else None


def _at(value: Any) -> datetime:
    return (
        datetime.combine(value, time())
        if isinstance(value, date) and not isinstance(value, datetime)
        else value
    )


def _week(at: datetime) -> str:
    iso = at.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def _coverage_finding(repo: str, observed: datetime, sha: str, pct: float, floor: float) -> Finding:
    return Finding(
        kind=KIND,
        key=f"coverage:{repo}",
        repo=repo,
        title=f"Policy gate: {repo} default-branch coverage {pct:.1f} % is under {floor:g} %",
        summary=(
            f"Line coverage of the default branch's latest measured commit `{sha[:12]}` is {pct:.2f} %, "
            f"under the {floor:g} % floor of config/policies.yaml. marts.coverage_daily names the files "
            "whose coverage dropped most."
        ),
        observed_at=observed,
        occurrence=_week(observed),
        figures={"line coverage %": round(pct, 2), "floor %": floor, "commit": sha[:12]},
        commits=(sha,),
    )


def _advisory_finding(repo: str, breaching: list[tuple], limits: dict[str, float]) -> Finding:
    observed = max(row[6] for row in breaching)
    listed = ", ".join(f"#{row[1]} {row[2]} {row[3]} ({row[4]})" for row in breaching[:10])
    return Finding(
        kind=KIND,
        key=f"advisories:{repo}",
        repo=repo,
        title=f"Policy gate: {repo} has {len(breaching)} Dependabot alert(s) open past their SLA",
        summary=(
            f"Open past the days config/policies.yaml allows ({', '.join(f'{s} {d:g}' for s, d in limits.items())}): "
            f"{listed}."
        ),
        observed_at=observed,
        occurrence=_week(observed),
        figures={
            "alerts past SLA": len(breaching),
            "oldest (days)": round(max(row[7] for row in breaching), 1),
        },
        links=tuple((f"alert #{row[1]}", row[5]) for row in breaching[:10] if row[5]),
    )
