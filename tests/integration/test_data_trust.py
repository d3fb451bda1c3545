"""marts.data_trust reconciles the warehouse against GitHub's own totals (real HTTP to the demo
server) and says exactly which partition lost rows; redactions and rejections are reported."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from observability_assets.demo.github_server import GitHubServer
from observability_assets.demo.simulator import OrgSpec, simulate
from observability_assets.derived.data_trust import compute_data_trust, data_trust
from observability_assets.ingest.github_actions import github_actions_runs
from observability_assets.ingest.junit_config import JUnitSourceConfig
from observability_assets.ingest.junit_reports import junit_test_results
from resources.github import GitHubResource
from resources.warehouse import Warehouse, WarehouseResource

SPEC = OrgSpec(seed=29, repos=("api", "web"), days=2, runs_per_repo_day=10)
DAY = "2026-10-01"
TOKEN = "ghp_PLANTEDtoken0123456789abcdefSECRET"


def test_reconciliation_redactions_and_a_lost_row(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path / "data"))
    org = simulate(SPEC)
    db = tmp_path / "w.duckdb"
    resources = {
        "warehouse": WarehouseResource(path=str(db)),
        "junit_sources": JUnitSourceConfig(
            landing_dir=str(tmp_path / "landing"), cache_dir=str(tmp_path / "artifacts"), parse_workers=1
        ),
    }
    with GitHubServer(org, token=TOKEN) as server:
        resources["github"] = GitHubResource(
            api_url=server.url, token=TOKEN, repos="acme/api,acme/web", cache_dir=str(tmp_path / "cache")
        )
        result = dg.materialize(
            [github_actions_runs, junit_test_results, data_trust], partition_key=DAY, resources=resources
        )
    assert result.success

    runs = org.runs_frame()
    first_day = runs.groupby(["repo", "run_id"])["created_at"].min().dt.date.astype(str)
    expected_runs = first_day[first_day == DAY].groupby(level="repo").size().to_dict()
    warehouse = Warehouse(db)
    trust = warehouse.query("SELECT * FROM marts.data_trust")
    recon = trust[trust["section"] == "reconciliation"].set_index(["source", "subject"])
    for repo, count in expected_runs.items():
        row = recon.loc[(f"github_actions/{repo}", "runs")]
        assert (row["expected"], row["observed"], row["status"]) == (count, count, "ok")
        assert recon.loc[(f"github_actions/{repo}", "jobs"), "status"] == "ok"
        artifacts = recon.loc[(f"junit/{repo}", "artifacts")]
        assert artifacts["expected"] == artifacts["observed"] > 0
    fresh = trust[trust["section"] == "freshness"].set_index("source")
    assert fresh.loc["raw.ci_runs", "status"] == "ok" and fresh.loc["raw.ci_runs", "observed"] < 1
    planted = {cell.item.kind for cell in org.planted_corpus().secrets}
    redacted = set(trust.loc[trust["section"] == "redactions", "subject"])
    assert redacted and redacted <= planted | {"email", "ipv4"}

    # A run lost from the warehouse: the reconciliation names the repository and the partition.
    lost_repo = sorted(expected_runs)[0]
    with warehouse.write("lose a run") as con:
        con.execute(
            "DELETE FROM raw.ci_runs WHERE run_id = (SELECT min(run_id) FROM raw.ci_runs WHERE repo = ?)",
            [lost_repo],
        )
    again = compute_data_trust(warehouse)
    row = again[(again["section"] == "reconciliation") & (again["source"] == f"github_actions/{lost_repo}")]
    row = row[row["subject"] == "runs"].iloc[0]
    assert row["status"] == "fail" and row["observed"] == row["expected"] - 1
    assert f"{DAY} ({expected_runs[lost_repo] - 1} of {expected_runs[lost_repo]})" in row["detail"]
