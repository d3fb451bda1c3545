"""Policy gates over the warehouse: facts about a commit for `vigil gate`, and the blocking asset
checks that hold every repository's default branch to the same rules.

The rules live in config/policies.yaml (`VIGIL_POLICIES`), their evaluation in `core.policies`.
Facts are read in one short warehouse read; tables that do not exist yet count as no data (the
gate is skipped, with the reason). Every decision, by the command or by a check, is appended to
the ledger.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from observability_assets.core.policies import (
    Facts,
    GateResult,
    OpenAlert,
    Policies,
    QuarantinedTest,
    policies_from_mapping,
)
from resources.ledger import LedgerResource
from resources.warehouse import WarehouseResource

if TYPE_CHECKING:
    import duckdb

    from resources.ledger import Ledger
    from resources.warehouse import Warehouse

DEFAULT_POLICIES = Path(__file__).resolve().parents[2] / "config" / "policies.yaml"
ACTOR_GATE, ACTOR_CHECKS = "vigil gate", "policy_checks"


def load_policies(path: str | Path | None = None) -> Policies:
    """config/policies.yaml, or the file `VIGIL_POLICIES` names; `VIGIL_POLICY_CHECK_SEVERITY`
    overrides the asset checks' severity."""
    import yaml

    chosen = Path(path or os.environ.get("VIGIL_POLICIES") or DEFAULT_POLICIES)
    raw = yaml.safe_load(chosen.read_text(encoding="utf-8")) or {}
    override = os.environ.get("VIGIL_POLICY_CHECK_SEVERITY")
    if override:
        raw.setdefault("asset_checks", {})["severity"] = override
    return policies_from_mapping(raw)


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("SELECT table_schema || '.' || table_name FROM information_schema.tables").fetchall()
    return {row[0] for row in rows}


# Coverage per measured run attempt of the repository.
_RUN_COVERAGE = """
SELECT head_sha, branch, run_id, run_attempt,
       100.0 * SUM(lines_covered) / NULLIF(SUM(lines_valid), 0) AS pct
FROM raw.coverage_files WHERE repo = ?
GROUP BY head_sha, branch, run_id, run_attempt
"""


def gather_facts(warehouse: Warehouse, repo: str, sha: str) -> Facts:
    """Everything the gates judge about `sha` of `repo`, in one read."""
    with warehouse.read(f"gate facts {repo}@{sha[:12]}") as con:
        tables = _tables(con)
        coverage = _coverage_facts(con, tables, repo, sha)
        alerts, crawled = _alert_facts(con, tables, repo)
        quarantined, scored, flaky = _flaky_facts(con, tables, repo)
    return Facts(
        repo=repo,
        sha=sha,
        **coverage,
        open_alerts=alerts,
        alerts_crawled=crawled,
        quarantined=quarantined,
        tests_scored=scored,
        flaky_tests=flaky,
    )


def _coverage_facts(con: duckdb.DuckDBPyConnection, tables: set[str], repo: str, sha: str) -> dict[str, Any]:
    """The commit's coverage (its latest run attempt that uploaded any) and its base: the latest
    default-branch commit whose first measured run came before the commit's first one."""
    if "raw.coverage_files" not in tables:
        return {}
    runs = con.execute(_RUN_COVERAGE, [repo]).df()
    mine = runs[runs["head_sha"] == sha]
    if mine.empty:
        return {}
    default = ["main", "master"]
    if "seeds.repo_default_branches" in tables:
        seeded = con.execute(
            "SELECT default_branch FROM seeds.repo_default_branches WHERE repo = ?", [repo]
        ).fetchall()
        default = [seeded[0][0]] if seeded else default
    latest = mine.sort_values(["run_id", "run_attempt"]).iloc[-1]
    facts: dict[str, Any] = {"branch": latest["branch"], "line_coverage_pct": _float(latest["pct"])}
    on_default = runs[runs["branch"].isin(default) & (runs["head_sha"] != sha)]
    commits = (
        on_default.sort_values(["run_id", "run_attempt"])
        .groupby("head_sha")
        .agg(first_run_id=("run_id", "min"), pct=("pct", "last"))
    )
    earlier = commits[commits["first_run_id"] < mine["run_id"].min()]
    if not earlier.empty:
        base = earlier.sort_values("first_run_id").iloc[-1]
        facts |= {"base_sha": base.name, "base_line_coverage_pct": _float(base["pct"])}
    return facts


def _alert_facts(
    con: duckdb.DuckDBPyConnection, tables: set[str], repo: str
) -> tuple[tuple[OpenAlert, ...], bool]:
    if "raw.dependency_alerts" not in tables:
        return (), False
    crawled = con.execute("SELECT COUNT(*) FROM raw.dependency_alerts").fetchall()[0][0] > 0
    rows = con.execute(
        "SELECT number, severity, package, ghsa_id, "
        "DATE_DIFF('second', created_at, fetched_at) / 86400.0 AS age_days, html_url "
        "FROM raw.dependency_alerts WHERE repo = ? AND state = 'open' ORDER BY age_days DESC, number",
        [repo],
    ).fetchall()
    return tuple(OpenAlert(int(n), s, p, g, float(a), u) for n, s, p, g, a, u in rows), crawled


def _flaky_facts(
    con: duckdb.DuckDBPyConnection, tables: set[str], repo: str
) -> tuple[tuple[QuarantinedTest, ...], int, int]:
    if "marts.flaky_scores" not in tables:
        return (), 0, 0
    scored, flaky = con.execute(
        "SELECT COUNT(*), COUNT(CASE WHEN status IN ('flaky', 'quarantined') THEN 1 END) "
        "FROM marts.flaky_scores WHERE repo = ?",
        [repo],
    ).fetchall()[0]
    rows = con.execute(
        "SELECT concat_ws('.', classname, test_name), DATE_DIFF('day', flagged_since, as_of) "
        "FROM marts.flaky_scores WHERE repo = ? AND status = 'quarantined' ORDER BY 2 DESC",
        [repo],
    ).fetchall()
    return tuple(QuarantinedTest(name, float(days or 0)) for name, days in rows), int(scored), int(flaky)


def _float(value: Any) -> float | None:
    return None if value is None or value != value else float(value)


def record_decision(ledger: Ledger, actor: str, facts: Facts, results: list[GateResult]) -> None:
    """One ledger row per gate run: the verdict and every gate's observation."""
    failed = [r.gate for r in results if r.failed]
    ledger.append(
        actor,
        "gate.fail" if failed else "gate.pass",
        f"{facts.repo}@{facts.sha}",
        {
            "failed": failed,
            "gates": [
                {
                    "gate": r.gate,
                    "status": r.status,
                    "observed": r.observed,
                    "policy": r.threshold,
                    "detail": r.detail,
                }
                for r in results
            ],
        },
    )


# ---------------------------------------------------------------------------------------------
# Blocking asset checks: the default branch of every repository


def _check_result(
    ledger: LedgerResource, gate: str, breaches: dict[str, str], judged: int, policies: Policies
) -> dg.AssetCheckResult:
    ledger.get().append(
        ACTOR_CHECKS,
        f"check.{'fail' if breaches else 'pass'}",
        gate,
        {"repositories_judged": judged, "breaches": breaches},
    )
    return dg.AssetCheckResult(
        passed=not breaches,
        severity=dg.AssetCheckSeverity.ERROR
        if policies.check_severity == "ERROR"
        else dg.AssetCheckSeverity.WARN,
        description=(
            "; ".join(f"{repo}: {why}" for repo, why in sorted(breaches.items()))
            if breaches
            else f"all {judged} repositories hold the policy"
        ),
        metadata={"repositories_judged": judged, "breaches": dg.MetadataValue.json(breaches)},
    )


@dg.asset_check(
    asset=dg.AssetKey(["marts", "coverage_daily"]),
    blocking=True,
    description="Policy gate: each default branch's latest coverage meets the floor and did not drop "
    "by more than the allowed points (config/policies.yaml).",
)
def coverage_policy(warehouse: WarehouseResource, ledger: LedgerResource) -> dg.AssetCheckResult:
    policies = load_policies()
    latest = warehouse.get().query(
        "SELECT repo, line_coverage_pct, line_change_points FROM marts.coverage_daily "
        "QUALIFY ROW_NUMBER() OVER (PARTITION BY repo ORDER BY day DESC) = 1"
    )
    breaches: dict[str, str] = {}
    for row in latest.itertuples(index=False):
        problems = []
        if row.line_coverage_pct is not None and row.line_coverage_pct < policies.min_line_coverage_pct:
            problems.append(
                f"line coverage {row.line_coverage_pct:.2f} % < {policies.min_line_coverage_pct:g} %"
            )
        change = _float(row.line_change_points)
        if change is not None and -change > policies.max_drop_points:
            problems.append(f"dropped {-change:.2f} points")
        if problems:
            breaches[row.repo] = ", ".join(problems)
    return _check_result(ledger, "coverage", breaches, len(latest), policies)


@dg.asset_check(
    asset=dg.AssetKey(["marts", "dependency_risk"]),
    blocking=True,
    description="Policy gate: no advisory open past its allowed days (config/policies.yaml, e.g. critical 7).",
)
def advisory_policy(warehouse: WarehouseResource, ledger: LedgerResource) -> dg.AssetCheckResult:
    policies = load_policies()
    alerts = warehouse.get().query(
        "SELECT repo, severity, number, DATE_DIFF('second', created_at, fetched_at) / 86400.0 AS age_days "
        "FROM raw.dependency_alerts WHERE state = 'open'"
    )
    breaches: dict[str, str] = {}
    for row in alerts.itertuples(index=False):
        limit = policies.max_open_days.get(row.severity)
        if limit is not None and row.age_days > limit:
            entry = f"#{row.number} {row.severity} open {row.age_days:.1f} days"
            breaches[row.repo] = f"{breaches[row.repo]}; {entry}" if row.repo in breaches else entry
    judged = warehouse.get().query("SELECT COUNT(DISTINCT repo) AS n FROM raw.dependency_alerts")["n"].iloc[0]
    return _check_result(ledger, "advisories", breaches, int(judged), policies)


@dg.asset_check(
    asset=dg.AssetKey(["marts", "flaky_scores"]),
    blocking=True,
    description="Policy gate: no test quarantined longer than allowed, flaky share under the bound.",
)
def flaky_policy(warehouse: WarehouseResource, ledger: LedgerResource) -> dg.AssetCheckResult:
    policies = load_policies()
    per_repo = warehouse.get().query(
        "SELECT repo, COUNT(*) AS tests, "
        "COUNT(CASE WHEN status IN ('flaky', 'quarantined') THEN 1 END) AS flaky, "
        "MAX(CASE WHEN status = 'quarantined' THEN DATE_DIFF('day', flagged_since, as_of) END) AS oldest "
        "FROM marts.flaky_scores GROUP BY repo"
    )
    breaches: dict[str, str] = {}
    for row in per_repo.itertuples(index=False):
        problems = []
        if row.tests and row.flaky / row.tests > policies.max_flaky_rate:
            problems.append(f"{100 * row.flaky / row.tests:.1f} % of tests flaky")
        oldest = _float(row.oldest)
        if oldest is not None and oldest > policies.max_quarantine_days:
            problems.append(f"a test quarantined {oldest:.0f} days")
        if problems:
            breaches[row.repo] = ", ".join(problems)
    return _check_result(ledger, "flaky", breaches, len(per_repo), policies)


POLICY_CHECKS = [coverage_policy, advisory_policy, flaky_policy]
