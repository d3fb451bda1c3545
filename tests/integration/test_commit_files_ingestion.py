"""raw.commit_files through Dagster's own execution, over real HTTP to the local GitHub server."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from observability_assets.core.contract import COMMIT_FILES
from observability_assets.demo.github_server import GitHubServer
from observability_assets.demo.sim_code import compare_files
from observability_assets.demo.simulator import OrgSpec, simulate
from observability_assets.demo.verify import diff_table
from observability_assets.ingest.commit_files import commit_files
from observability_assets.ingest.github_actions import github_actions_runs
from resources.github import GitHubClient, GitHubResource
from resources.warehouse import Warehouse, WarehouseResource

SPEC = OrgSpec(seed=11, repos=("api", "data"), days=3, runs_per_repo_day=10)
TOKEN = "ghp_PLANTEDtoken0123456789abcdefSECRET"


@pytest.fixture()
def server():
    with GitHubServer(simulate(SPEC), token=TOKEN) as srv:
        yield srv


def _materialize(server: GitHubServer, db: Path, day: str, assets=(github_actions_runs, commit_files)):
    return dg.materialize(
        list(assets),
        partition_key=day,
        resources={
            "warehouse": WarehouseResource(path=str(db)),
            "github": GitHubResource(
                api_url=server.url,
                token=TOKEN,
                repos="acme/api,acme/data",
                cache_dir=str(db.parent / "cache"),
            ),
        },
    )


def _expected(day: str):
    truth = simulate(SPEC).commit_files_frame()
    return truth[truth["partition_day"].astype(str) == day]


def _commit_requests(server: GitHubServer, since: int = 0) -> list[str]:
    return [target for method, target, _ in server.request_log[since:] if "/commits/" in target]


def test_commit_files_equal_the_simulation_despite_api_faults(server: GitHubServer, tmp_path: Path) -> None:
    server.faults.inject(r"/commits/", 502, times=2)
    server.faults.inject(r"/commits/", 429, times=1, retry_after=1)
    server.faults.inject(r"/commits/", 403, times=1, retry_after=1, secondary=True)
    db = tmp_path / "w.duckdb"
    for day in ("2026-10-01", "2026-10-02"):
        assert _materialize(server, db, day).success
    assert {502, 429, 403} <= {status for _, target, status in server.request_log if "/commits/" in target}
    wh = Warehouse(db)
    for day in ("2026-10-01", "2026-10-02"):
        expected = _expected(day)
        actual = wh.query("SELECT * FROM raw.commit_files WHERE partition_day = ?", [day])
        assert len(expected) > 20
        assert diff_table(expected, actual, COMMIT_FILES) == []
    # Text, not only counts: a breaking pull-request commit names the source file behind the failure.
    sample = wh.query(
        "SELECT path, status FROM raw.commit_files WHERE sha = ? ORDER BY path",
        [_expected("2026-10-01")["sha"].iloc[0]],
    )
    assert "README.md" in sample["path"].tolist() and set(sample["status"]) == {"added"}


def test_a_recrawl_costs_one_request_per_new_commit_only(server: GitHubServer, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    assert _materialize(server, db, "2026-10-01").success
    first = _commit_requests(server)
    assert len(first) == _expected("2026-10-01")["sha"].nunique() > 5

    before = len(server.request_log)
    assert _materialize(server, db, "2026-10-01", assets=(commit_files,)).success
    assert _commit_requests(server, before) == []  # known commits cost nothing, not even a 304

    before = len(server.request_log)
    assert _materialize(server, db, "2026-10-02").success
    new = _commit_requests(server, before)
    assert len(new) == len(set(new)) == _expected("2026-10-02")["sha"].nunique()


def test_commit_files_paginate_and_compare_matches_the_branch(server: GitHubServer) -> None:
    org = simulate(SPEC)
    view = org.code["acme/data"]
    root = view.plan.commits.sha[0]
    with GitHubClient(server.url, TOKEN) as client:
        commit = client.get_commit("acme/data", root, files_per_page=7)
        assert [f["filename"] for f in commit["files"]] == [c.path for c in view.code.changes[0]]
        assert len(commit["files"]) > 14  # three or more pages were followed
        # A pull request's last commit against main: its own changes, merges from main left out.
        c = view.plan.commits
        head = max(i for i in range(len(c)) if c.pr_number[i] and c.main_position[i] < 0)
        first = min(i for i in range(len(c)) if c.pr_number[i] == c.pr_number[head])
        base = view.plan.main[c.base_position[first]]
        body = client.compare("acme/data", c.sha[base], c.sha[head])
    expected = compare_files(view.code, view.plan, base, head)
    assert [f["filename"] for f in body["files"]] == [f.path for f in expected]
    assert body["total_commits"] >= 1 and body["status"] in ("ahead", "diverged")
