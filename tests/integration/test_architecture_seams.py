"""The seams of docs/architecture.md: demo mode is explicit, a demo warehouse never files real
issues, and every runtime path lives under one data directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from observability_assets.demo.resources import DemoGitHubResource
from resources.github import GitHubResource
from resources.issue_tracker import IssueTrackerResource
from resources.ledger import Ledger
from resources.warehouse import Warehouse
from sensors.common import SimulatedWarehouseRefused, open_issue_tracker

VIGIL = Path(sys.executable).with_name("vigil")


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "VIGIL_", "DAGSTER_"))}
    return env | settings


def test_vigil_run_outside_demo_mode_names_the_missing_variable_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(VIGIL), "run", "--from", "2026-10-01", "--to", "2026-10-01"],
        cwd=tmp_path,
        env=_env(VIGIL_DATA_DIR=str(tmp_path / "data")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "vigil: GITHUB_API_URL is not set: set it to your GitHub REST API (https://api.github.com, or "
        "https://HOST/api/v3 for GitHub Enterprise), or run the demo with VIGIL_MODE=demo"
    ]
    assert not (tmp_path / "data").exists()  # stopped before anything was written


def test_vigil_from_another_directory_writes_only_into_the_data_directory(tmp_path: Path) -> None:
    """A demo day through `vigil run` (ingest, models, health history, marts, reports), run from a
    working directory that is not the repository, with nothing but VIGIL_DATA_DIR set."""
    root = tmp_path / "machine"
    data, cwd = root / "state", root / "elsewhere"
    cwd.mkdir(parents=True)
    env = _env(
        VIGIL_MODE="demo",
        VIGIL_DATA_DIR=str(data),
        VIGIL_DEMO_DAYS="2",
        VIGIL_GITHUB_REPOS="acme/api",
        VIGIL_SNAPSHOT_INTERVAL_S="0",
    )
    result = subprocess.run(
        [str(VIGIL), "run", "--from", "2026-10-01", "--to", "2026-10-02"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert sorted(p.name for p in root.iterdir()) == ["elsewhere", "state"]
    assert list(cwd.iterdir()) == []
    written = {p.relative_to(data).parts[0] for p in data.rglob("*")}
    # Warehouse and snapshot, the Dagster instance, the GitHub caches (one folder per API host:
    # the demo's is "demo"), the demo's own state, the SLO reports: all under the data directory.
    assert {
        "warehouse.duckdb",
        "warehouse.snapshot.duckdb",
        "dagster_home",
        "cache",
        "demo",
        "reports",
    } <= written
    assert (data / "cache" / "demo" / "etags.sqlite").exists()
    assert any((data / "cache" / "demo" / "artifacts").rglob("*.zip"))


def test_a_demo_warehouse_never_opens_issues_on_a_real_github(tmp_path: Path) -> None:
    demo_warehouse = Warehouse(tmp_path / "demo.duckdb", origin="demo")
    demo_warehouse.ensure_schema()
    assert demo_warehouse.holds_simulated_data()
    tracker = IssueTrackerResource(mode="github", incident_repo="acme/infra")
    real = GitHubResource(api_url="http://127.0.0.1:9", token="t0ken")  # never reached
    with (
        pytest.raises(SimulatedWarehouseRefused, match="holds simulated data"),
        open_issue_tracker(tracker, Ledger(demo_warehouse), real),
    ):
        pass
    # The simulated GitHub may take them; a production warehouse may file on the real one.
    assert DemoGitHubResource.simulated
    production = Warehouse(tmp_path / "prod.duckdb")
    production.ensure_schema()
    assert not production.holds_simulated_data()
    with open_issue_tracker(tracker, Ledger(production), real) as opened:
        assert opened is not None
