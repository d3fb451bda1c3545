"""`vigil demo` end to end in a fresh folder: every run, job and test execution of the simulation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from observability_assets.demo.simulator import OrgSpec
from observability_assets.demo.verify import verify_against_simulation
from resources.warehouse import Warehouse

DAYS = 3


def test_vigil_demo_loads_the_simulation_exactly_and_the_check_catches_a_lost_row(tmp_path: Path) -> None:
    vigil = Path(sys.executable).with_name("vigil")
    # The live incident drill has its own test (test_demo_drill.py).
    env = {**os.environ, "VIGIL_DEMO_DAYS": str(DAYS), "VIGIL_DEMO_SEED": "13", "VIGIL_DEMO_DRILL": "0"}
    result = subprocess.run(
        [str(vigil), "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"Partitions: {DAYS} ok, 0 failed" in result.stdout
    assert "the warehouse equals the simulated organisation" in result.stdout
    assert "raw.test_results" in result.stdout

    # The runs are in the instance's history, as the UI shows them.
    runs = list((tmp_path / ".dagster_home").rglob("runs.db")) or list(
        (tmp_path / ".dagster_home").rglob("*.db")
    )
    assert runs

    warehouse = Warehouse(tmp_path / "data" / "warehouse.duckdb")
    spec = OrgSpec(seed=13, days=DAYS)
    assert verify_against_simulation(spec, warehouse) == []
    with warehouse.write("lose a job") as con:
        con.execute("DELETE FROM raw.ci_jobs WHERE job_id = (SELECT min(job_id) FROM raw.ci_jobs)")
        con.execute("UPDATE raw.test_results SET outcome = 'passed' WHERE outcome = 'failed' AND attempt = 0")
    problems = verify_against_simulation(spec, warehouse)
    assert any("raw.ci_jobs: 1 rows missing" in p for p in problems)
    assert any("outcomes differ" in p for p in problems)
