"""raw.ci_runs / raw.ci_jobs through Dagster's own execution, over real HTTP to the local server."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from observability_assets.core.contract import CI_JOBS, CI_RUNS
from observability_assets.demo.github_server import GitHubServer
from observability_assets.demo.simulator import OrgSpec, simulate
from observability_assets.demo.verify import diff_table
from observability_assets.ingest.github_actions import github_actions_runs
from resources.github import GitHubResource
from resources.warehouse import Warehouse, WarehouseResource

SPEC = OrgSpec(seed=11, repos=("api", "web"), days=3, runs_per_repo_day=10)
DAY = "2026-10-02"
TOKEN = "ghp_PLANTEDtoken0123456789abcdefSECRET"


@pytest.fixture()
def server():
    with GitHubServer(simulate(SPEC), token=TOKEN) as srv:
        yield srv


def _materialize(server: GitHubServer, db: Path, day: str = DAY, repos: str = "acme/api,acme/web"):
    return dg.materialize(
        [github_actions_runs],
        partition_key=day,
        resources={
            "warehouse": WarehouseResource(path=str(db)),
            "github": GitHubResource(
                api_url=server.url, token=TOKEN, repos=repos, cache_dir=str(db.parent / "cache")
            ),
        },
    )


def _expected(org, spec, day: str):
    runs, jobs = org.runs_frame(), org.jobs_frame()
    run_days = runs.groupby(["repo", "run_id"])["created_at"].min().dt.date.astype(str)
    keep = run_days[run_days == day].index
    runs = runs.set_index(["repo", "run_id"]).loc[lambda f: f.index.isin(keep)].reset_index()
    jobs = jobs.set_index(["repo", "run_id"]).loc[lambda f: f.index.isin(keep)].reset_index()
    return runs, jobs


def test_faults_injected_still_give_the_full_day(server: GitHubServer, tmp_path: Path) -> None:
    server.faults.inject(r"/actions/runs\?", 403, times=1, retry_after=1, secondary=True)
    server.faults.inject(r"/jobs", 429, times=1, retry_after=1)
    server.faults.inject(r"/attempts/|/jobs", 502, times=2)
    result = _materialize(server, tmp_path / "w.duckdb")
    assert result.success
    statuses = [status for _, _, status in server.request_log]
    assert {403, 429, 502} <= set(statuses)

    wh = Warehouse(tmp_path / "w.duckdb")
    runs, jobs = _expected(simulate(SPEC), SPEC, DAY)
    assert len(runs) > 10 and len(jobs) > 30
    assert diff_table(runs, wh.query("SELECT * FROM raw.ci_runs"), CI_RUNS) == []
    assert diff_table(jobs, wh.query("SELECT * FROM raw.ci_jobs"), CI_JOBS) == []

    metadata = result.asset_materializations_for_node("github_actions_runs")[0].metadata
    assert metadata["api_requests"].value > len(runs) / 2
    assert metadata["dagster/row_count"].value == len(runs)


def _checksum(db: Path) -> tuple:
    wh = Warehouse(db)
    return tuple(
        wh.query(f"SELECT count(*) AS n, sum(hash(COLUMNS(* EXCLUDE (ingested_at)))) AS h FROM {t}")
        .iloc[0]
        .tolist()
        for t in ("raw.ci_runs", "raw.ci_jobs")
    )


def test_materializing_a_partition_twice_gives_identical_rows(server: GitHubServer, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    assert _materialize(server, db).success
    first = _checksum(db)
    requests_before = len(server.request_log)
    assert _materialize(server, db).success
    assert _checksum(db) == first
    # The re-crawl was answered from the ETag cache: 304s cost no rate limit.
    second_statuses = [s for _, _, s in server.request_log[requests_before:]]
    assert second_statuses.count(304) >= len(second_statuses) * 0.8


def test_a_day_with_more_than_1000_runs_is_fetched_completely(tmp_path: Path) -> None:
    spec = OrgSpec(seed=3, repos=("api",), days=2, busy_days=(("api", 1, 1200),), with_test_reports=False)
    org = simulate(spec)
    with GitHubServer(org, token=TOKEN) as srv:
        assert _materialize(srv, tmp_path / "w.duckdb", day="2026-10-02", repos="acme/api").success
    wh = Warehouse(tmp_path / "w.duckdb")
    n = wh.query("SELECT count(DISTINCT run_id) AS n FROM raw.ci_runs WHERE partition_day = '2026-10-02'")[
        "n"
    ][0]
    assert n == 1200


def test_planted_token_never_appears_in_logs_metadata_or_errors(
    server: GitHubServer, tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.faults.inject(r"/actions/runs", 502, times=1)
    result = _materialize(server, tmp_path / "w.duckdb")
    assert result.success
    # A failing crawl: the wrong token makes every request 401 and the run fails with an error.
    bad = dg.materialize(
        [github_actions_runs],
        partition_key=DAY,
        resources={
            "warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
            "github": GitHubResource(api_url=server.url, token=TOKEN + "x", repos="acme/api"),
        },
        raise_on_error=False,
    )
    assert not bad.success
    texts = [caplog.text, *capfd.readouterr()]
    for event in result.all_events + bad.all_events:
        texts.append(repr(event))
    for mat in result.asset_materializations_for_node("github_actions_runs"):
        texts.append(repr(mat.metadata))
    leaked = [t for t in texts if TOKEN in t]
    assert not leaked
    assert any("401" in t for t in texts)


def test_partition_dates_are_utc_days() -> None:
    assert github_actions_runs.partitions_def.get_partition_keys()[0] == date(2026, 10, 1).isoformat()
