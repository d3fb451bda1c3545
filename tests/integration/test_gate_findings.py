"""Breached policy gates become one issue per repository and gate, never twice, closed when clean."""

from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd

from observability_assets.core.contract import DEPENDENCY_ALERTS
from observability_assets.derived.tables import replace_mart
from resources.github import GitHubResource
from resources.issue_tracker import IssueTrackerResource
from resources.ledger import LedgerResource
from resources.warehouse import Warehouse, WarehouseResource
from sensors.findings import findings_sensor

NOW = datetime(2026, 10, 28, 6, 0)


def _tick(resources: dict, cursor: str | None) -> str | None:
    with dg.build_sensor_context(cursor=cursor, resources=resources) as context:
        findings_sensor(context)
        return context.cursor


def test_breached_gates_open_one_issue_each_and_never_twice(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    warehouse.ensure_schema()
    with warehouse.write("coverage mart") as con:
        con.execute(
            "CREATE TABLE marts.coverage_daily AS SELECT * FROM (VALUES "
            "('acme/api', DATE '2026-10-27', 'a' || repeat('0', 39), 88.0), "
            "('acme/web', DATE '2026-10-26', 'b' || repeat('0', 39), 90.0), "
            "('acme/web', DATE '2026-10-27', 'c' || repeat('0', 39), 71.5)) "
            "AS t(repo, day, head_sha, line_coverage_pct)"
        )
    alerts = pd.DataFrame(
        [
            {"repo": "acme/web", "number": 4, "severity": "critical", "package": "lodash", "ghsa_id": "GHSA-aaaa-bbbb-cccc",
             "state": "open", "created_at": NOW - timedelta(days=12), "fetched_at": NOW, "html_url": "https://github.com/acme/web/security/dependabot/4"},
            {"repo": "acme/api", "number": 1, "severity": "critical", "package": "django", "ghsa_id": "GHSA-dddd-eeee-ffff",
             "state": "open", "created_at": NOW - timedelta(days=2), "fetched_at": NOW, "html_url": None},
            {"repo": "acme/api", "number": 2, "severity": "low", "package": "pyyaml", "ghsa_id": "GHSA-gggg-hhhh-jjjj",
             "state": "open", "created_at": NOW - timedelta(days=60), "fetched_at": NOW, "html_url": None},
        ]
    )  # fmt: skip
    replace_mart(warehouse, DEPENDENCY_ALERTS, alerts)
    resources = {
        "warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
        "ledger": LedgerResource(warehouse=WarehouseResource(path=str(tmp_path / "w.duckdb"))),
        "issue_tracker": IssueTrackerResource(mode="record"),
        "github": GitHubResource(api_url="demo"),
    }
    cursor = _tick(resources, None)
    for _ in range(3):  # the breaches hold: seen again, never a second issue
        cursor = _tick(resources, cursor)
    issues = warehouse.query("SELECT kind, repo, title, state, evidence FROM ops.issues ORDER BY title")
    assert issues["title"].tolist() == [
        "Policy gate: acme/web default-branch coverage 71.5 % is under 80 %",
        "Policy gate: acme/web has 1 Dependabot alert(s) open past their SLA",
    ]
    assert set(issues["kind"]) == {"policy-gate"} and set(issues["state"]) == {"would_open"}
    assert "GHSA-aaaa-bbbb-cccc" in issues["evidence"].iloc[1]
