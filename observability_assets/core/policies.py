"""Policy gates: the rules of config/policies.yaml, evaluated over facts about one commit.

Pure: the facts (coverage of the commit and of the default branch it builds on, open advisories,
quarantined and flaky tests) are gathered elsewhere (`derived.policy_gates`); here they become a
pass/fail/skip decision per gate and a Markdown summary that fits a GitHub job summary or a check
run body. A gate without data to judge is skipped with the reason, never passed silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PASS, FAIL, SKIP = "pass", "fail", "skip"
SEVERITIES = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class Policies:
    min_line_coverage_pct: float = 80.0
    max_drop_points: float = 1.0
    require_report: bool = False
    max_open_days: Mapping[str, float] = field(default_factory=lambda: {"critical": 7.0})
    max_quarantine_days: float = 30.0
    max_flaky_rate: float = 0.1
    check_severity: str = "ERROR"


def policies_from_mapping(raw: Mapping[str, Any] | None) -> Policies:
    """Policies from the parsed YAML; unknown sections or keys are errors (a typo must not disable a gate)."""
    raw = dict(raw or {})
    known = {
        "coverage": {"min_line_coverage_pct", "max_drop_points", "require_report"},
        "advisories": {"max_open_days"},
        "flaky": {"max_quarantine_days", "max_flaky_rate"},
        "asset_checks": {"severity"},
    }
    for section, values in raw.items():
        if section not in known:
            raise ValueError(f"unknown policies section {section!r} (known: {', '.join(known)})")
        unknown = set(values or {}) - known[section]
        if unknown:
            raise ValueError(f"unknown keys in policies section {section!r}: {', '.join(sorted(unknown))}")
    coverage, advisories = raw.get("coverage") or {}, raw.get("advisories") or {}
    flaky, checks = raw.get("flaky") or {}, raw.get("asset_checks") or {}
    defaults = Policies()
    open_days = {
        str(k): float(v) for k, v in (advisories.get("max_open_days") or defaults.max_open_days).items()
    }
    bad = set(open_days) - set(SEVERITIES)
    if bad:
        raise ValueError(f"max_open_days names unknown severities: {', '.join(sorted(bad))}")
    severity = str(checks.get("severity", defaults.check_severity)).upper()
    if severity not in ("ERROR", "WARN"):
        raise ValueError("asset_checks.severity must be ERROR or WARN")
    policies = Policies(
        min_line_coverage_pct=float(coverage.get("min_line_coverage_pct", defaults.min_line_coverage_pct)),
        max_drop_points=float(coverage.get("max_drop_points", defaults.max_drop_points)),
        require_report=bool(coverage.get("require_report", defaults.require_report)),
        max_open_days=open_days,
        max_quarantine_days=float(flaky.get("max_quarantine_days", defaults.max_quarantine_days)),
        max_flaky_rate=float(flaky.get("max_flaky_rate", defaults.max_flaky_rate)),
        check_severity=severity,
    )
    if not 0 <= policies.min_line_coverage_pct <= 100 or not 0 <= policies.max_flaky_rate <= 1:
        raise ValueError("min_line_coverage_pct must lie in [0, 100] and max_flaky_rate in [0, 1]")
    return policies


@dataclass(frozen=True)
class OpenAlert:
    number: int
    severity: str
    package: str
    ghsa_id: str | None
    age_days: float
    html_url: str | None = None


@dataclass(frozen=True)
class QuarantinedTest:
    name: str
    quarantined_days: float


@dataclass(frozen=True)
class Facts:
    """What the warehouse knows about one commit of one repository."""

    repo: str
    sha: str
    branch: str | None = None
    line_coverage_pct: float | None = None  # the commit's own, over its latest measured run
    base_sha: str | None = None  # default-branch commit measured before it
    base_line_coverage_pct: float | None = None
    open_alerts: tuple[OpenAlert, ...] = ()
    alerts_crawled: bool = False
    quarantined: tuple[QuarantinedTest, ...] = ()
    tests_scored: int = 0
    flaky_tests: int = 0


@dataclass(frozen=True)
class GateResult:
    gate: str
    status: str
    observed: str
    threshold: str
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status == FAIL


def evaluate(policies: Policies, facts: Facts) -> list[GateResult]:
    return [
        _coverage_floor(policies, facts),
        _coverage_drop(policies, facts),
        _advisories(policies, facts),
        _quarantine_age(policies, facts),
        _flaky_rate(policies, facts),
    ]


def _coverage_floor(p: Policies, f: Facts) -> GateResult:
    threshold = f">= {p.min_line_coverage_pct:g} %"
    if f.line_coverage_pct is None:
        status = FAIL if p.require_report else SKIP
        return GateResult(
            "coverage", status, "no coverage report", threshold, "no run of this commit uploaded coverage"
        )
    status = PASS if f.line_coverage_pct >= p.min_line_coverage_pct else FAIL
    return GateResult("coverage", status, f"{f.line_coverage_pct:.2f} %", threshold)


def _coverage_drop(p: Policies, f: Facts) -> GateResult:
    threshold = f"drop <= {p.max_drop_points:g} points"
    if f.line_coverage_pct is None or f.base_line_coverage_pct is None:
        why = (
            "no coverage report for this commit"
            if f.line_coverage_pct is None
            else "no earlier default-branch coverage"
        )
        return GateResult("coverage-drop", SKIP, "—", threshold, why)
    change = f.line_coverage_pct - f.base_line_coverage_pct
    status = PASS if -change <= p.max_drop_points + 1e-9 else FAIL
    return GateResult(
        "coverage-drop",
        status,
        f"{change:+.2f} points",
        threshold,
        f"against {f.base_sha[:12] if f.base_sha else '?'} ({f.base_line_coverage_pct:.2f} %)",
    )


def _advisories(p: Policies, f: Facts) -> GateResult:
    limits = ", ".join(f"{s} <= {d:g} days" for s, d in p.max_open_days.items())
    if not f.alerts_crawled:
        return GateResult(
            "advisories",
            SKIP,
            "alerts not crawled",
            limits,
            "raw.dependency_alerts has no rows for the repository",
        )
    breaching = [
        a for a in f.open_alerts if a.severity in p.max_open_days and a.age_days > p.max_open_days[a.severity]
    ]
    if not breaching:
        return GateResult("advisories", PASS, f"{len(f.open_alerts)} open, none past its SLA", limits)
    listed = "; ".join(
        f"#{a.number} {a.severity} {a.package} ({a.ghsa_id or 'no GHSA'}) open {a.age_days:.1f} days"
        for a in breaching
    )
    return GateResult("advisories", FAIL, f"{len(breaching)} open past the SLA", limits, listed)


def _quarantine_age(p: Policies, f: Facts) -> GateResult:
    threshold = f"<= {p.max_quarantine_days:g} days"
    stale = [q for q in f.quarantined if q.quarantined_days > p.max_quarantine_days]
    if not stale:
        return GateResult(
            "quarantine-age", PASS, f"{len(f.quarantined)} quarantined, none too long", threshold
        )
    listed = "; ".join(f"{q.name} ({q.quarantined_days:.0f} days)" for q in stale[:10])
    return GateResult("quarantine-age", FAIL, f"{len(stale)} quarantined too long", threshold, listed)


def _flaky_rate(p: Policies, f: Facts) -> GateResult:
    threshold = f"<= {100 * p.max_flaky_rate:g} % of tests"
    if f.tests_scored == 0:
        return GateResult(
            "flaky-rate",
            SKIP,
            "no scored tests",
            threshold,
            "marts.flaky_scores has no tests of the repository",
        )
    rate = f.flaky_tests / f.tests_scored
    status = PASS if rate <= p.max_flaky_rate else FAIL
    return GateResult(
        "flaky-rate", status, f"{100 * rate:.1f} % ({f.flaky_tests}/{f.tests_scored})", threshold
    )


def render_markdown(facts: Facts, results: list[GateResult]) -> str:
    """The summary a GitHub job summary or check run shows: verdict first, one row per gate."""
    failed = [r for r in results if r.failed]
    icon = {PASS: "✅ pass", FAIL: "❌ fail", SKIP: "⏭️ skip"}
    verdict = (
        f"❌ **{len(failed)} of {len(results)} policy gates failed**"
        if failed
        else "✅ **All policy gates passed**"
    )
    lines = [
        f"## Vigil policy gates: {facts.repo} @ `{facts.sha[:12]}`",
        "",
        verdict + (f" (branch `{facts.branch}`)" if facts.branch else ""),
        "",
        "| gate | result | observed | policy | detail |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.gate} | {icon[r.status]} | {_cell(r.observed)} | {_cell(r.threshold)} | {_cell(r.detail)} |"
        )
    lines += ["", "_Policies: config/policies.yaml. Every decision is recorded in ops.ledger._", ""]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
