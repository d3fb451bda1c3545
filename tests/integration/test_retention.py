"""Retention drops exactly the partitions past their age, idempotently, and the ledger verifies."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from observability_assets.core.retention import policy_from_mapping
from observability_assets.derived.retention import ACTION, retention_job
from resources.ledger import Ledger, LedgerResource
from resources.warehouse import Warehouse, WarehouseResource


def test_policy_cutoff_is_inclusive_of_the_last_day_kept() -> None:
    policy = policy_from_mapping({"tables": {"raw.test_results": 180, "raw.ci_runs": "keep"}})
    today = date(2026, 12, 7)
    days = [date(2026, 6, 8), date(2026, 6, 9), date(2026, 6, 10), date(2026, 12, 6)]
    assert policy.expired("raw.test_results", days, today) == [date(2026, 6, 8), date(2026, 6, 9)]
    assert policy.expired("raw.ci_runs", days, today) == []
    with pytest.raises(ValueError, match="not daily-partitioned"):
        policy_from_mapping({"tables": {"marts.flaky_scores": 30}})
    with pytest.raises(KeyError):
        policy_from_mapping({"tables": {"raw.test_result": 30}})


def _seed(warehouse: Warehouse, table: str, days: list[date], rows_per_day: int) -> None:
    with warehouse.write("seed") as con:
        for day in days:
            for n in range(rows_per_day):
                if table == "raw.test_results":
                    con.execute(
                        "INSERT INTO raw.test_results (repo, run_id, test_name, outcome, partition_day) VALUES (?, ?, ?, ?, ?)",
                        ["acme/api", n, f"t{n}", "passed", day],
                    )
                else:
                    con.execute(
                        "INSERT INTO raw.health_probes (probe_id, service, probed_at, ok, partition_day) VALUES (?, ?, ?, ?, ?)",
                        [f"{day}-{n}", "api", datetime.combine(day, datetime.min.time()), True, day],
                    )


def test_retention_job_drops_exactly_the_expired_partitions_once_and_the_ledger_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = tmp_path / "retention.yaml"
    policy.write_text("tables:\n  raw.test_results: 180\n  raw.health_probes: 90\n  raw.ci_runs: keep\n")
    monkeypatch.setenv("VIGIL_RETENTION", str(policy))
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path / "data"))
    today = datetime.now(UTC).date()
    ages = [0, 1, 89, 90, 91, 150, 179, 180, 181, 400]
    days = [today - timedelta(days=age) for age in ages]
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    _seed(warehouse, "raw.test_results", days, 3)
    _seed(warehouse, "raw.health_probes", days, 2)
    ledger = Ledger(warehouse)
    ledger.append("test", "seeded", "warehouse", {"days": len(days)})

    resources = {
        "ledger": LedgerResource(warehouse=WarehouseResource(path=str(tmp_path / "warehouse.duckdb")))
    }
    first = retention_job.execute_in_process(resources=resources)
    assert first.success

    with warehouse.read("left") as con:
        kept_results = sorted(
            r[0] for r in con.execute("SELECT DISTINCT partition_day FROM raw.test_results").fetchall()
        )
        kept_probes = sorted(
            r[0] for r in con.execute("SELECT DISTINCT partition_day FROM raw.health_probes").fetchall()
        )
    # Age 180 is the first day kept (cutoff = today - 180 days); 181 and 400 go.
    assert kept_results == sorted(today - timedelta(days=a) for a in ages if a <= 180)
    assert kept_probes == sorted(today - timedelta(days=a) for a in ages if a <= 90)

    drops = [e for e in ledger.entries() if e.action == ACTION]
    assert [e.subject for e in drops] == ["raw.health_probes", "raw.test_results"]
    assert '"rows":12' in drops[0].detail.replace(" ", "")  # 6 expired days x 2 probes
    assert '"rows":6' in drops[1].detail.replace(" ", "")  # 2 expired days x 3 results
    expected_probe_days = sorted((today - timedelta(days=a)).isoformat() for a in ages if a > 90)
    assert all(day in drops[0].detail for day in expected_probe_days)

    second = retention_job.execute_in_process(resources=resources)
    assert second.success
    assert [e.action for e in ledger.entries()].count(ACTION) == 2  # nothing more to drop, nothing recorded
    assert ledger.verify().ok
