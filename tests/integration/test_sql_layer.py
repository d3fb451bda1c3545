"""The SQL model layer end to end: simulated CI data in raw.*, models materialized by Dagster,
figures compared with an independent pandas computation from the simulator's truth, and the
header tests run as Great Expectations asset checks (passing on good data, failing on planted
bad rows)."""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from sql_layer_data import DAILY, load_raw, materialize, small_org, stable_test_id

from observability_assets.sql_layer.build import build_sql_assets, contract_source_keys
from resources.warehouse import WarehouseResource

FINISHED = {"success", "failure", "timed_out", "startup_failure"}
# GitHub's published per-minute prices for the labels the simulator uses (brief / GitHub Docs).
PRICE_BY_LABEL = {
    "ubuntu-latest": ("linux_2core", 0.006),
    "ubuntu-latest-4-cores": ("linux_4core", 0.012),
    "ubuntu-latest-8-cores": ("linux_8core", 0.022),
    "ubuntu-latest-16-cores": ("linux_16core", 0.042),
    "windows-latest": ("windows_2core", 0.010),
    "macos-latest": ("macos", 0.062),
}
DUPLICATED_REPORT = "merged/TEST-all.xml"


# ---------------------------------------------------------------------------------------------
# Independent figures from the simulator's truth frames
# ---------------------------------------------------------------------------------------------


def latest_runs(runs: pd.DataFrame) -> pd.DataFrame:
    ordered = runs.sort_values(["repo", "run_id", "run_attempt"])
    latest = ordered.groupby(["repo", "run_id"]).tail(1).set_index(["repo", "run_id"])
    first = ordered[ordered["run_attempt"] == 1].set_index(["repo", "run_id"])
    latest["queue_s"] = (first["run_started_at"] - first["created_at"]).dt.total_seconds()
    completed = latest["status"] == "completed"
    latest["duration_s"] = (
        (latest["updated_at"] - latest["run_started_at"]).dt.total_seconds().where(completed)
    )
    latest["completed_at"] = latest["updated_at"].where(completed)
    return latest.reset_index()


def kpis_truth(runs: pd.DataFrame) -> pd.DataFrame:
    latest = latest_runs(runs).assign(day=lambda f: f["created_at"].dt.date)
    rows = []
    for (repo, workflow, day), group in latest.groupby(["repo", "workflow_name", "day"]):
        finished = group["conclusion"].isin(FINISHED)
        successes = int((group["conclusion"] == "success").sum())
        durations = group["duration_s"].where(finished)
        reruns = int((group["run_attempt"] > 1).sum())
        rows.append({
            "repo": repo, "workflow_name": workflow, "day": day, "runs": len(group),
            "finished_runs": int(finished.sum()), "successful_runs": successes,
            "success_rate": successes / finished.sum() if finished.any() else math.nan,
            "p50_duration_s": durations.quantile(0.5), "p95_duration_s": durations.quantile(0.95),
            "avg_queue_s": group["queue_s"].mean(), "p95_queue_s": group["queue_s"].quantile(0.95),
            "rerun_runs": reruns, "rerun_rate": reruns / len(group),
        })  # fmt: skip
    return pd.DataFrame(rows)


def cost_truth(jobs: pd.DataFrame) -> pd.DataFrame:
    frame = jobs.copy()
    label = frame["runner_labels"].map(lambda labels: labels[0])
    frame["runner_type"] = label.map(lambda name: PRICE_BY_LABEL[name][0])
    frame["usd_per_minute"] = label.map(lambda name: PRICE_BY_LABEL[name][1])
    seconds = (frame["completed_at"] - frame["started_at"]).dt.total_seconds()
    frame["minutes"] = np.where(seconds.notna() & (seconds > 0), np.ceil(seconds / 60), 0)
    frame["day"] = frame["started_at"].fillna(frame["created_at"]).dt.date
    grouped = frame.groupby(["repo", "workflow_name", "runner_type", "day"], as_index=False).agg(
        jobs=("job_id", "size"),
        billable_minutes=("minutes", "sum"),
        usd_per_minute=("usd_per_minute", "first"),
    )
    grouped["cost_usd"] = grouped["billable_minutes"] * grouped["usd_per_minute"]
    return grouped


def delivery_truth(runs: pd.DataFrame) -> pd.DataFrame:
    latest = latest_runs(runs)
    latest = latest[
        latest["head_branch"].isin(["main", "master"]) & latest["conclusion"].isin(FINISHED)
    ].copy()
    latest["week_start"] = (
        latest["created_at"].dt.normalize() - pd.to_timedelta(latest["created_at"].dt.day_of_week, unit="D")
    ).dt.date
    streaks = []
    for _, group in latest.sort_values(["created_at", "run_id"]).groupby(["repo", "workflow_name"]):
        rows = list(group.itertuples())
        previous_failed = False
        for i, row in enumerate(rows):
            failed = row.conclusion != "success"
            if failed and not previous_failed:
                successes = [later.completed_at for later in rows[i + 1 :] if later.conclusion == "success"]
                restore = max(0.0, (min(successes) - row.completed_at).total_seconds()) if successes else None
                streaks.append({"repo": row.repo, "week_start": row.week_start, "restore_s": restore})
            previous_failed = failed
    weekly = latest.groupby(["repo", "week_start"], as_index=False).agg(
        runs=("run_id", "size"),
        deployments=("conclusion", lambda c: int((c == "success").sum())),
        commits=("head_sha", "nunique"),
        failed_runs=("conclusion", lambda c: int((c != "success").sum())),
    )
    weekly["change_failure_rate"] = weekly["failed_runs"] / weekly["runs"]
    streak_frame = pd.DataFrame(streaks, columns=["repo", "week_start", "restore_s"])
    per_week = streak_frame.groupby(["repo", "week_start"], as_index=False).agg(
        failure_streaks=("restore_s", "size"),
        restored_streaks=("restore_s", "count"),
        median_time_to_restore_s=("restore_s", "median"),
    )
    merged = weekly.merge(per_week, on=["repo", "week_start"], how="left")
    merged[["failure_streaks", "restored_streaks"]] = merged[["failure_streaks", "restored_streaks"]].fillna(
        0
    )
    return merged


def truth_of_test_daily(tests: pd.DataFrame) -> pd.DataFrame:
    frame = tests.assign(
        failed=tests["outcome"].isin(["failed", "error"]),
        skipped=tests["outcome"] == "skipped",
        passed=tests["outcome"] == "passed",
        timed=tests["duration_s"].where(tests["outcome"] != "skipped"),
    )
    return frame.groupby(["repo", "test_id", "day"], as_index=False).agg(
        executions=("outcome", "size"),
        passes=("passed", "sum"),
        failures=("failed", "sum"),
        skips=("skipped", "sum"),
        avg_duration_s=("timed", "mean"),
    )


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame, keys: list[str]) -> None:
    actual = actual.sort_values(keys).reset_index(drop=True)
    expected = expected[list(actual.columns)].sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False, check_exact=False, rtol=1e-9)


def query(resource: WarehouseResource, sql: str) -> pd.DataFrame:
    frame = resource.get().query(sql)
    for column in ("day", "week_start"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame


# ---------------------------------------------------------------------------------------------
# One warehouse built from a simulated organisation, shared by the figure tests
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    org = small_org()
    runs, jobs = org.runs_frame(), org.jobs_frame()
    tests = org.test_results_truth().drop(columns=["artifact_id"])
    tests["test_id"] = stable_test_id(tests)
    # The same executions reported a second time, in a merged report: staging must count them once.
    copies = tests.sample(n=500, random_state=1).assign(report_path=DUPLICATED_REPORT)
    resource = WarehouseResource(path=str(tmp_path_factory.mktemp("wh") / "warehouse.duckdb"))
    days = load_raw(resource.get(), runs, jobs, pd.concat([tests, copies], ignore_index=True))
    assets, checks = build_sql_assets(partitions_def=DAILY)
    result = materialize([*assets, *checks], resource, days[0], days[-1])
    run_day = runs.groupby(["repo", "run_id"], as_index=False)["created_at"].min()
    tests = tests.merge(run_day.assign(day=run_day["created_at"].dt.date)[["repo", "run_id", "day"]])
    return SimpleNamespace(runs=runs, jobs=jobs, tests=tests, resource=resource, result=result, assets=assets)


def test_ci_daily_kpis_equal_the_simulators_truth(built: SimpleNamespace) -> None:
    actual = query(built.resource, "SELECT * FROM marts.ci_daily_kpis")
    assert len(actual) > 50
    assert_same(actual, kpis_truth(built.runs), ["repo", "workflow_name", "day"])


def test_stg_ci_runs_keeps_the_latest_attempt_with_first_attempt_queue_time(built: SimpleNamespace) -> None:
    actual = query(
        built.resource,
        "SELECT repo, run_id, attempts, conclusion, queue_s, duration_s FROM staging.stg_ci_runs",
    )
    expected = latest_runs(built.runs).rename(columns={"run_attempt": "attempts"})
    assert (expected["attempts"] > 1).any(), "the simulation should contain re-runs"
    assert_same(actual, expected, ["repo", "run_id"])


def test_ci_cost_daily_prices_billed_minutes_at_githubs_list_prices(built: SimpleNamespace) -> None:
    actual = query(built.resource, "SELECT * FROM marts.ci_cost_daily")
    expected = cost_truth(built.jobs)
    assert set(expected["runner_type"]) >= {"linux_2core", "linux_4core", "windows_2core"}
    assert_same(actual, expected, ["repo", "workflow_name", "runner_type", "day"])


def test_delivery_metrics_equal_the_simulators_truth(built: SimpleNamespace) -> None:
    actual = query(built.resource, "SELECT * FROM marts.delivery_metrics")
    expected = delivery_truth(built.runs)
    assert expected["restored_streaks"].sum() > 0, "the simulation should contain restored failure streaks"
    assert_same(actual, expected, ["repo", "week_start"])


def test_test_daily_counts_each_execution_once(built: SimpleNamespace) -> None:
    actual = query(
        built.resource,
        "SELECT repo, test_id, day, executions, passes, failures, skips, avg_duration_s FROM marts.test_daily",
    )
    assert_same(actual, truth_of_test_daily(built.tests), ["repo", "test_id", "day"])
    (raw_copies,) = built.resource.get().query(
        "SELECT count(*) AS n FROM raw.test_results WHERE report_path = ?", [DUPLICATED_REPORT]
    )["n"]
    assert raw_copies == 500


def test_every_check_passes_on_simulated_data(built: SimpleNamespace) -> None:
    evaluations = built.result.get_asset_check_evaluations()
    failed = [(e.asset_key.to_user_string(), e.check_name, e.metadata) for e in evaluations if not e.passed]
    assert failed == []
    # Every declared test ran: 10 tables with tests, dozens of checks, partitioned ones per window.
    assert len({(e.asset_key, e.check_name) for e in evaluations}) > 60


def test_materializations_carry_schema_descriptions_preview_and_sql(built: SimpleNamespace) -> None:
    events = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in built.result.get_asset_materialization_events()
    }
    kpis = events["marts/ci_daily_kpis"]
    schema = kpis["dagster/column_schema"].value
    assert [c.name for c in schema.columns][:3] == ["repo", "workflow_name", "day"]
    assert all(c.description for c in schema.columns)
    assert {c.name: c.type for c in schema.columns}["success_rate"] == "DOUBLE"
    assert kpis["dagster/row_count"].value == len(kpis_truth(built.runs))
    assert kpis["preview"].value.startswith("| repo | workflow_name | day |")
    assert "FROM staging.stg_ci_runs" in kpis["sql"].value
    assert events["staging/stg_ci_runs"]["window"].value == "[2026-10-01, 2026-10-11)"
    # The same descriptions are DuckDB comments, so the CLI and notebooks see them.
    undocumented = built.resource.get().query(
        "SELECT schema_name || '.' || table_name || '.' || column_name AS name FROM duckdb_columns() "
        "WHERE schema_name IN ('seeds', 'staging', 'marts') AND (comment IS NULL OR comment = '')"
    )
    assert undocumented["name"].tolist() == []


# ---------------------------------------------------------------------------------------------
# Incremental models: a window is replaced exactly, and only it
# ---------------------------------------------------------------------------------------------


def _stg_runs_asset(assets: list[dg.AssetsDefinition]) -> dg.AssetsDefinition:
    return next(a for a in assets if a.key == dg.AssetKey(["staging", "stg_ci_runs"]))


def test_rematerializing_a_partition_replaces_exactly_that_day(tmp_path: Path) -> None:
    org = small_org(days=4, repos=("api",), reports=False)
    runs, jobs = org.runs_frame(), org.jobs_frame()
    resource = WarehouseResource(path=str(tmp_path / "warehouse.duckdb"))
    warehouse = resource.get()
    days = load_raw(warehouse, runs, jobs)
    assets, _ = build_sql_assets(partitions_def=DAILY)
    stg = _stg_runs_asset(assets)
    materialize([stg], resource, days[0], days[-1])
    before = warehouse.query(
        "SELECT partition_day, count(*) AS n FROM staging.stg_ci_runs GROUP BY 1 ORDER BY 1"
    )

    # Day 2 loses every run but one in a re-crawl; materializing day 2 again must follow it.
    day = days[1]
    on_day = runs[runs["created_at"].dt.date == day]
    kept = on_day[on_day["run_id"] == on_day["run_id"].min()]
    warehouse.replace_partition("raw.ci_runs", day.isoformat(), kept)
    materialize([stg], resource, day, day)
    materialize([stg], resource, day, day)  # and again: idempotent
    after = warehouse.query(
        "SELECT partition_day, count(*) AS n FROM staging.stg_ci_runs GROUP BY 1 ORDER BY 1"
    )
    expected = before.copy()
    expected.loc[pd.to_datetime(expected["partition_day"]).dt.date == day, "n"] = 1
    pd.testing.assert_frame_equal(after, expected)


def _write(folder: Path, relative: str, text: str) -> None:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


LEAKY_MODEL = """-- description: Runs, with a filter that forgets the end of the window.
-- materialized: incremental
-- column run_id: Run id.
-- column partition_day: Partition day.
SELECT run_id, partition_day FROM raw.ci_runs
WHERE partition_day >= $partition_start AND partition_day < $partition_end + INTERVAL 5 DAY
"""


def test_an_incremental_model_that_leaks_outside_its_window_fails_without_writing(tmp_path: Path) -> None:
    org = small_org(days=3, repos=("api",), reports=False)
    resource = WarehouseResource(path=str(tmp_path / "warehouse.duckdb"))
    days = load_raw(resource.get(), org.runs_frame(), org.jobs_frame())
    models = tmp_path / "models"
    _write(models, "staging/leaky.sql", LEAKY_MODEL)
    (models / "seeds").mkdir()
    assets, _ = build_sql_assets(models, models / "seeds", contract_source_keys(), DAILY)
    with pytest.raises(ValueError, match=r"leaky\.sql: \d+ rows fall outside the partition window"):
        materialize(assets, resource, days[0], days[0])
    exists = resource.get().query("SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = 'leaky'")
    assert exists["n"][0] == 0


# ---------------------------------------------------------------------------------------------
# Model tests as Great Expectations checks: pass on good rows, fail on planted bad rows
# ---------------------------------------------------------------------------------------------

CHECKED_SEED = """# description: Runner classes.
# column runner_type VARCHAR: Runner class.
# column usd_per_minute DOUBLE: Price.
# tests: unique(runner_type); not_null(usd_per_minute); accepted_range(usd_per_minute: 0, 1)
runner_type,usd_per_minute
linux,0.006
windows,0.010
"""

CHECKED_MODEL = """-- description: Jobs of the runs, with every kind of test declared.
-- column repo: Repository.
-- column job_id: Job id.
-- column conclusion: Conclusion.
-- column runner_type: Runner class.
-- column minutes: Minutes.
-- tests: unique(repo, job_id); not_null(repo, conclusion)
-- tests: accepted_values(conclusion: success, failure); accepted_range(minutes: 0, 600)
-- tests: relationships(runner_type -> seeds.runner_classes.runner_type)
SELECT repo, job_id, conclusion, lower(runner_os) AS runner_type, CAST(job_id AS INTEGER) AS minutes
FROM raw.ci_jobs
"""


def _jobs(rows: list[tuple[str, int, str | None, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "repo": [r[0] for r in rows],
            "run_id": 1,
            "run_attempt": 1,
            "job_id": [r[1] for r in rows],
            "conclusion": [r[2] for r in rows],
            "runner_os": [r[3] for r in rows],
        }
    )


GOOD_JOBS = [
    ("acme/api", 1, "success", "Linux"),
    ("acme/api", 2, "failure", "Windows"),
    ("acme/web", 1, "success", "Linux"),
]

# (what is planted, the checks that must fail, with their unexpected counts)
PLANTED = [
    ("duplicate key", [("acme/api", 1, "success", "Linux")], {"unique_repo_job_id": 2}),
    ("NULL conclusion", [("acme/api", 3, None, "Linux")], {"not_null_conclusion": 1}),
    ("unknown conclusion", [("acme/api", 4, "exploded", "Linux")], {"accepted_values_conclusion": 1}),
    ("unknown runner", [("acme/api", 5, "success", "Plan9"), ("acme/api", 6, "success", "Plan9")],
     {"relationships_runner_type": 2}),
    ("minutes out of range", [("acme/api", 700, "success", "Linux")], {"accepted_range_minutes": 1}),
]  # fmt: skip


@pytest.mark.parametrize(("label", "bad_rows", "failing"), PLANTED, ids=[p[0] for p in PLANTED])
def test_checks_fail_exactly_on_planted_rows(
    tmp_path: Path, label: str, bad_rows: list[tuple], failing: dict[str, int]
) -> None:
    models = tmp_path / "models"
    _write(models, "seeds/runner_classes.csv", CHECKED_SEED)
    _write(models, "marts/checked_jobs.sql", CHECKED_MODEL)
    assets, checks = build_sql_assets(models, models / "seeds", contract_source_keys())
    resource = WarehouseResource(path=str(tmp_path / "warehouse.duckdb"))
    resource.get().replace_partition("raw.ci_jobs", "2026-10-01", _jobs(GOOD_JOBS + bad_rows))
    result = materialize([*assets, *checks], resource)
    outcomes = {
        e.check_name: e
        for e in result.get_asset_check_evaluations()
        if e.asset_key.path == ["marts", "checked_jobs"]
    }
    assert len(outcomes) == 6
    assert {name for name, e in outcomes.items() if not e.passed} == set(failing), label
    for name, count in failing.items():
        assert outcomes[name].metadata["unexpected_count"].value == count
    seed_checks = [e for e in result.get_asset_check_evaluations() if e.asset_key.path[0] == "seeds"]
    assert len(seed_checks) == 3 and all(e.passed for e in seed_checks)


def test_checks_pass_on_good_rows(tmp_path: Path) -> None:
    models = tmp_path / "models"
    _write(models, "seeds/runner_classes.csv", CHECKED_SEED)
    _write(models, "marts/checked_jobs.sql", CHECKED_MODEL)
    assets, checks = build_sql_assets(models, models / "seeds", contract_source_keys())
    resource = WarehouseResource(path=str(tmp_path / "warehouse.duckdb"))
    resource.get().replace_partition("raw.ci_jobs", "2026-10-01", _jobs(GOOD_JOBS))
    result = materialize([*assets, *checks], resource)
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 9 and all(e.passed for e in evaluations)
    methods = {e.check_name: e.metadata["method"].value for e in evaluations}
    assert methods["unique_repo_job_id"].startswith("great_expectations 1.")
    assert methods["relationships_runner_type"] == "SQL anti-join"


def test_shipped_checks_catch_bad_raw_rows(tmp_path: Path) -> None:
    org = small_org(days=2, repos=("api",), reports=False)
    runs, jobs = org.runs_frame(), org.jobs_frame()
    runs.loc[runs.index[0], "workflow_name"] = None
    jobs.loc[jobs.index[:3], "runner_os"] = None
    for i in jobs.index[:3]:
        jobs.at[i, "runner_labels"] = ["gpu-pool"]
    resource = WarehouseResource(path=str(tmp_path / "warehouse.duckdb"))
    days = load_raw(resource.get(), runs, jobs)
    assets, checks = build_sql_assets(partitions_def=DAILY)
    wanted = {("staging", "stg_ci_runs"), ("staging", "stg_ci_jobs"), ("marts", "ci_cost_daily")}
    selected = [a for a in assets if tuple(a.key.path) in wanted or a.key.path[0] == "seeds"]
    keys = {a.key for a in selected}
    selected_checks = [c for c in checks if {k.asset_key for k in c.check_keys} <= keys]
    result = materialize([*selected, *selected_checks], resource, days[0], days[-1])
    failed = {
        (e.asset_key.to_user_string(), e.check_name)
        for e in result.get_asset_check_evaluations()
        if not e.passed
    }
    assert failed == {
        ("staging/stg_ci_runs", "not_null_workflow_name"),
        ("marts/ci_cost_daily", "not_null_runner_type"),
    }


# ---------------------------------------------------------------------------------------------
# Views, and a model that changes from table to view
# ---------------------------------------------------------------------------------------------

VIEW_MODEL = """-- description: Repositories with runs.
-- materialized: {kind}
-- column repo: Repository.
-- column runs: Run attempts.
SELECT repo, count(*) AS runs FROM raw.ci_runs GROUP BY repo
"""


def test_a_model_can_switch_between_table_and_view(tmp_path: Path) -> None:
    models = tmp_path / "models"
    resource = WarehouseResource(path=str(tmp_path / "warehouse.duckdb"))
    org = small_org(days=1, repos=("api", "web"), reports=False)
    load_raw(resource.get(), org.runs_frame(), org.jobs_frame())
    for kind in ("table", "view", "table"):
        _write(models, "marts/repo_runs.sql", VIEW_MODEL.format(kind=kind))
        (models / "seeds").mkdir(exist_ok=True)
        assets, _ = build_sql_assets(models, models / "seeds", contract_source_keys())
        result = materialize(assets, resource)
        (event,) = result.get_asset_materialization_events()
        assert event.materialization.metadata["dagster/row_count"].value == 2
        listed = resource.get().query(
            "SELECT 'view' AS kind FROM duckdb_views() WHERE view_name = 'repo_runs' "
            "UNION ALL SELECT 'table' FROM duckdb_tables() WHERE table_name = 'repo_runs'"
        )
        assert listed["kind"].tolist() == [kind]
    comment = resource.get().query("SELECT comment FROM duckdb_tables() WHERE table_name = 'repo_runs'")
    assert comment["comment"][0] == "Repositories with runs."


def test_a_day_outside_any_run_gives_empty_partitions(tmp_path: Path) -> None:
    org = small_org(days=2, repos=("api",), reports=False)
    resource = WarehouseResource(path=str(tmp_path / "warehouse.duckdb"))
    days = load_raw(resource.get(), org.runs_frame(), org.jobs_frame())
    assets, _ = build_sql_assets(partitions_def=DAILY)
    stg = _stg_runs_asset(assets)
    empty_day = days[-1] + timedelta(days=5)
    result = materialize([stg], resource, empty_day, empty_day)
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.metadata["dagster/partition_row_count"].value == 0
    assert date.fromisoformat(event.partition) == empty_day
