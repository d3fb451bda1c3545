"""`vigil gate` on the simulated organisation: one repository passes, one fails, the ledger holds."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from observability_assets.assetkit.partitions import DAILY
from observability_assets.demo.github_server import GitHubServer
from observability_assets.demo.simulator import OrgSpec, simulate
from observability_assets.ingest.coverage_reports import CoverageSourceConfig, coverage_files
from observability_assets.ingest.dependency_alerts import dependency_alerts
from observability_assets.ingest.github_actions import github_actions_runs
from observability_assets.sql_layer.build import build_sql_assets
from resources.github import GitHubResource
from resources.ledger import Ledger
from resources.warehouse import Warehouse, WarehouseResource

SPEC = OrgSpec(seed=7, repos=("api", "web"), days=10, runs_per_repo_day=3)
TOKEN = "test-token-for-gates"
REPO_ROOT = Path(__file__).resolve().parents[2]


def _vigil(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "observability_assets.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=300,
    )


def _latest_main_sha(wh: Warehouse, repo: str) -> str:
    return wh.query(
        "SELECT head_sha FROM raw.coverage_files WHERE repo = ? AND branch = 'main' ORDER BY run_id DESC LIMIT 1",
        [repo],
    )["head_sha"].iloc[0]


def test_gate_passes_one_repository_fails_the_other_and_records_both(tmp_path: Path) -> None:
    org = simulate(SPEC)
    warehouse_path = tmp_path / "w.duckdb"
    with GitHubServer(org, token=TOKEN) as server:
        resources = {
            "warehouse": WarehouseResource(path=str(warehouse_path)),
            "github": GitHubResource(
                api_url=server.url, token=TOKEN, repos="acme/api,acme/web", cache_dir=str(tmp_path)
            ),
            "coverage_sources": CoverageSourceConfig(landing_dir=str(tmp_path / "landing")),
        }
        for day in range(SPEC.days - 3, SPEC.days):  # the last days: enough main commits to compare
            key = DAILY.get_partition_keys()[day]
            assert dg.materialize(
                [github_actions_runs, coverage_files], partition_key=key, resources=resources
            ).success
        sql_assets, _ = build_sql_assets(partitions_def=DAILY)
        wanted = {("seeds", "repo_default_branches")}
        seeds = [a for a in sql_assets if any(tuple(k.path) in wanted for k in a.keys)]
        assert dg.materialize([dependency_alerts, *seeds], resources=resources).success

    wh = Warehouse(warehouse_path)
    labels = org.labels()
    passing, failing = labels["coverage"]["coverage_gate_passes"], labels["coverage"]["coverage_gate_fails"]
    assert labels["advisories"]["critical_sla_breached"] == failing
    env = {
        **os.environ,
        "VIGIL_WAREHOUSE": str(warehouse_path),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "step.md"),
    }
    env.pop("VIGIL_POLICIES", None)

    good_sha = _latest_main_sha(wh, passing)
    good = _vigil(["gate", "--repo", passing, "--sha", good_sha], env)
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"## Vigil policy gates: {passing} @ `{good_sha[:12]}`" in good.stdout
    assert "✅ **All policy gates passed** (branch `main`)" in good.stdout
    assert "| coverage | ✅ pass |" in good.stdout and "| advisories | ✅ pass |" in good.stdout
    assert "| flaky-rate | ⏭️ skip | no scored tests |" in good.stdout

    bad_sha = _latest_main_sha(wh, failing)
    summary_file = tmp_path / "check-run.md"
    bad = _vigil(["gate", "--repo", failing, "--sha", bad_sha, "--summary", str(summary_file)], env)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "❌ **2 of 5 policy gates failed**" in bad.stdout
    assert "| coverage | ❌ fail |" in bad.stdout and "| >= 80 % |" in bad.stdout
    # Ages count to the crawl (today): every simulated critical alert still open is past 7 days.
    open_critical = [
        a
        for a in org.dependabot_alerts(failing)
        if a["state"] == "open" and a["security_advisory"]["severity"] == "critical"
    ]
    assert (
        f"| advisories | ❌ fail | {len(open_critical)} open past the SLA | critical <= 7 days |"
        in bad.stdout
    )
    assert all(a["security_advisory"]["ghsa_id"] in bad.stdout for a in open_critical)
    assert summary_file.read_text(encoding="utf-8").strip() == bad.stdout.strip()
    # GitHub's job summary got both, appended in order.
    step = (tmp_path / "step.md").read_text(encoding="utf-8")
    assert step.index(passing) < step.index(failing)

    unknown = _vigil(["gate", "--repo", "not a repo", "--sha", bad_sha], env)
    assert unknown.returncode == 2

    ledger = Ledger(Warehouse(warehouse_path))
    decisions = [e for e in ledger.entries() if e.actor == "vigil gate"]
    assert [(e.action, e.subject) for e in decisions] == [
        ("gate.pass", f"{passing}@{good_sha}"),
        ("gate.fail", f"{failing}@{bad_sha}"),
    ]
    assert '"failed":["coverage","advisories"]' in decisions[1].detail.replace(" ", "")
    assert ledger.verify().ok
