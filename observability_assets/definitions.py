"""The one composition root of the Vigil code location.

It alone (with the CLI's demo command) decides which resources serve: a real GitHub API, live
service probes and the configured warehouse — or, in demo mode (`VIGIL_MODE=demo`, set by
`make demo` and `make dev`), the simulated organisation and services of `observability_assets.demo`,
plugged in as resources. Outside demo mode a missing `GITHUB_API_URL` or `GITHUB_TOKEN` stops the
code location with one error naming the variable, never a fallback to simulated data.

Loading reads environment variables and parses SQL model headers, nothing more: no database is
opened and no network call is made until an asset runs.
"""

import os
from datetime import timedelta

import dagster as dg
from dagster import ScheduleEvaluationContext

from observability_assets.assetkit.partitions import DAILY, DEFAULT_START_DATE
from observability_assets.assetkit.settings import SettingError, demo_mode, env_or, required_env
from observability_assets.catalog.code_health import (
    CODE_HEALTH_ASSETS,
    CODE_HEALTH_CHECKS,
    CODE_HEALTH_RAW_ASSETS,
)
from observability_assets.catalog.drift import DRIFT_ASSETS, DRIFT_CHECKS
from observability_assets.catalog.failures import FAILURE_ASSETS, FAILURE_CHECKS
from observability_assets.catalog.flaky import FLAKY_ASSETS, FLAKY_CHECKS
from observability_assets.catalog.health import HEALTH_ASSETS, HEALTH_CHECKS, HEALTH_JOBS, HEALTH_SCHEDULES
from observability_assets.catalog.test_selection import TEST_SELECTION_ASSETS, TEST_SELECTION_RAW_ASSETS
from observability_assets.derived.automation_kpis import automation_kpis
from observability_assets.derived.baselines import BaselinesResource, baselines_dir
from observability_assets.derived.data_trust import data_trust
from observability_assets.derived.retention import retention_job, retention_schedule
from observability_assets.ingest.benchmarks import BenchmarkSourceConfig, benchmark_results
from observability_assets.ingest.coverage_reports import DEFAULT_COVERAGE_ARTIFACTS, CoverageSourceConfig
from observability_assets.ingest.github_actions import RECRAWL_DAYS, github_actions_runs
from observability_assets.ingest.junit_config import DEFAULT_ARTIFACT_PATTERNS, JUnitSourceConfig
from observability_assets.ingest.junit_reports import junit_test_results
from observability_assets.report.weekly_report import report_assets
from observability_assets.sql_layer.build import build_sql_assets
from resources.github import GitHubResource
from resources.http_probe import DEFAULT_CATALOGUE_PATH, HttpProbeResource, ServiceCatalogueResource
from resources.paths import data_path
from resources.service_runtime import ServiceRuntimeResource
from resources.warehouse import DEFAULT_SNAPSHOT_INTERVAL_S, WarehouseResource
from sensors import ACTING_JOBS, acting_resources, acting_sensors
from sensors.analyst_snapshot import analyst_snapshot_sensor
from sensors.junit_landing import junit_landing_sensor, test_results_job

DEMO_MODE = demo_mode()


def _github() -> GitHubResource:
    repos = env_or("VIGIL_GITHUB_REPOS", "")
    if DEMO_MODE:
        from observability_assets.demo.resources import DemoGitHubResource

        return DemoGitHubResource(repos=repos)
    url = required_env(
        "GITHUB_API_URL",
        "set it to your GitHub REST API (https://api.github.com, or https://HOST/api/v3 for GitHub "
        "Enterprise), or run the demo with VIGIL_MODE=demo",
    )
    if os.environ["GITHUB_API_URL"].strip().lower() == "demo":
        raise SettingError(
            "GITHUB_API_URL=demo: the simulated organisation serves only in demo mode (VIGIL_MODE=demo)"
        )
    token = required_env("GITHUB_TOKEN", "give a token with read access to Actions (and Issues: write)")
    return GitHubResource(api_url=url, token=token, repos=repos)


def _service_runtime() -> ServiceRuntimeResource:
    if DEMO_MODE:
        from observability_assets.demo.resources import DemoServicesResource
        from observability_assets.demo.settings import DEFAULT_DEMO_DAYS

        return DemoServicesResource(
            seed=env_or("VIGIL_DEMO_SEED", 7, int),
            start_date=env_or("VIGIL_START_DATE", DEFAULT_START_DATE),
            days=env_or("VIGIL_DEMO_DAYS", DEFAULT_DEMO_DAYS, int),
        )
    return ServiceRuntimeResource()


RESOURCES = {
    "warehouse": WarehouseResource(
        path=env_or("VIGIL_WAREHOUSE", data_path("warehouse.duckdb")),
        snapshot_interval_s=float(os.environ.get("VIGIL_SNAPSHOT_INTERVAL_S") or DEFAULT_SNAPSHOT_INTERVAL_S),
        origin="demo" if DEMO_MODE else "",
    ),
    "github": _github(),
    "junit_sources": JUnitSourceConfig(
        artifact_patterns=env_or("VIGIL_JUNIT_ARTIFACTS", DEFAULT_ARTIFACT_PATTERNS),
        report_glob=env_or("VIGIL_JUNIT_GLOB", "**/*.xml"),
        landing_dir=env_or("VIGIL_JUNIT_LANDING", data_path("landing", "junit")),
        parse_workers=env_or("VIGIL_PARSE_WORKERS", 0, int),
    ),
    "http_probe": HttpProbeResource(),
    "service_catalogue": ServiceCatalogueResource(path=env_or("VIGIL_SERVICES", DEFAULT_CATALOGUE_PATH)),
    "service_runtime": _service_runtime(),
    "benchmark_sources": BenchmarkSourceConfig(
        landing_dir=env_or("VIGIL_BENCHMARK_LANDING", data_path("landing", "benchmarks")),
        artifact_patterns=env_or("VIGIL_BENCHMARK_ARTIFACTS", "*benchmark*"),
    ),
    "baselines": BaselinesResource(
        directory=env_or("VIGIL_BASELINES", str(baselines_dir())),
        candidates_dir=env_or("VIGIL_GOLDEN_CANDIDATES", "."),
    ),
    "coverage_sources": CoverageSourceConfig(
        artifact_patterns=env_or("VIGIL_COVERAGE_ARTIFACTS", DEFAULT_COVERAGE_ARTIFACTS),
        landing_dir=env_or("VIGIL_COVERAGE_LANDING", data_path("landing", "coverage")),
    ),
}
# ledger, issue_tracker and remediator: dry run and record-only unless the environment says otherwise.
RESOURCES |= acting_resources(RESOURCES["warehouse"])

SQL_ASSETS, SQL_CHECKS = build_sql_assets(partitions_def=DAILY)

ASSETS: list[dg.AssetsDefinition] = [
    github_actions_runs,
    *TEST_SELECTION_RAW_ASSETS,
    junit_test_results,
    *SQL_ASSETS,
    *DRIFT_ASSETS,
    *FLAKY_ASSETS,
    *TEST_SELECTION_ASSETS,
    *CODE_HEALTH_RAW_ASSETS,
    *CODE_HEALTH_ASSETS,
    *FAILURE_ASSETS,
    automation_kpis,
    data_trust,
]
CHECKS: list[dg.AssetChecksDefinition] = [
    *SQL_CHECKS,
    *DRIFT_CHECKS,
    *FLAKY_CHECKS,
    *CODE_HEALTH_CHECKS,
    *FAILURE_CHECKS,
]

RAW_DAILY_SELECTION = dg.AssetSelection.assets(
    github_actions_runs,
    *TEST_SELECTION_RAW_ASSETS,
    junit_test_results,
    benchmark_results,
    *CODE_HEALTH_RAW_ASSETS,
)
# Daily models read the seeds (runner prices, default branches): the seeds are loaded with them, so
# the first day of a fresh warehouse finds them too. Loading a few CSV rows costs nothing.
SEED_ASSETS = [a for a in SQL_ASSETS if a.key.path[0] == "seeds"]
MODELS_DAILY_SELECTION = dg.AssetSelection.assets(
    *SEED_ASSETS, *[a for a in [*SQL_ASSETS, *FLAKY_ASSETS] if a.partitions_def is not None]
)
DAILY_SELECTION = RAW_DAILY_SELECTION | MODELS_DAILY_SELECTION

daily_ingest_job = dg.define_asset_job(
    "daily_ingest",
    selection=DAILY_SELECTION,
    description="Ingest one UTC day from every source (CI runs and jobs, test results) and its daily models.",
)

# `vigil run` ingests day by day, then builds the daily models over the whole range in one run
# (single-run backfill): one Great Expectations import and one set of checks instead of one a day.
ingest_raw_job = dg.define_asset_job(
    "ingest_raw",
    selection=RAW_DAILY_SELECTION,
    description="Ingest one UTC day from every source, without the models.",
)
daily_models_job = dg.define_asset_job(
    "daily_models",
    selection=MODELS_DAILY_SELECTION,
    description="Build the incremental (daily) models for a range of days in one run.",
)

# Service health runs on its own clock (the minute probe job, the on-demand shadow replay), with
# partitions that include today: it stays out of the nightly jobs.
HEALTH_SELECTION = dg.AssetSelection.assets(*HEALTH_ASSETS)

refresh_derived_job = dg.define_asset_job(
    "refresh_derived",
    selection=dg.AssetSelection.all() - DAILY_SELECTION - HEALTH_SELECTION,
    description="Rebuild every unpartitioned derived table (staging, marts, reports) from the raw layer.",
)


@dg.schedule(job=daily_ingest_job, cron_schedule="15 2 * * *", execution_timezone="UTC")
def daily_ingest_schedule(context: ScheduleEvaluationContext):
    """Ingest yesterday and re-crawl the days before it, which re-runs and late completions change."""
    today = context.scheduled_execution_time.date()
    first = DAILY.start.date()
    for back in range(1, RECRAWL_DAYS + 1):
        day = today - timedelta(days=back)
        if day >= first:
            key = day.isoformat()
            yield dg.RunRequest(run_key=f"{key}@{today.isoformat()}", partition_key=key)


refresh_derived_schedule = dg.ScheduleDefinition(
    job=refresh_derived_job, cron_schedule="0 3 * * *", execution_timezone="UTC"
)

REPORT_ASSETS = report_assets([*ASSETS, *HEALTH_ASSETS])
weekly_report_job = dg.define_asset_job(
    "weekly_report",
    selection=dg.AssetSelection.assets(automation_kpis, data_trust, *REPORT_ASSETS),
    description="Refresh the automation KPIs and write the weekly health report.",
)
weekly_report_schedule = dg.ScheduleDefinition(
    job=weekly_report_job, cron_schedule="0 6 * * 1", execution_timezone="UTC"
)

EXECUTORS = ("multiprocess", "celery")


def step_executor() -> dg.ExecutorDefinition | None:
    """Where the steps of a run execute: `VIGIL_EXECUTOR` (docs/deploy.md).

    `multiprocess` (the default) is Dagster's own: one subprocess per step on the run's host.
    `celery` hands each step to Celery workers over a broker (the deploy profile, extra `[deploy]`),
    with the broker and result backend read from `VIGIL_CELERY_BROKER` / `VIGIL_CELERY_BACKEND` when
    the run starts, so the URLs and their passwords never enter a run's configuration.
    """
    choice = (os.environ.get("VIGIL_EXECUTOR") or "multiprocess").strip().lower()
    if choice not in EXECUTORS:
        raise ValueError(f"VIGIL_EXECUTOR={choice!r}: expected one of {', '.join(EXECUTORS)}")
    if choice == "multiprocess":
        return None  # Dagster's default executor
    from dagster_celery import celery_executor

    return celery_executor.configured(
        {"broker": {"env": "VIGIL_CELERY_BROKER"}, "backend": {"env": "VIGIL_CELERY_BACKEND"}},
        name="celery",
    )


defs = dg.Definitions(
    assets=[*ASSETS, *HEALTH_ASSETS, *REPORT_ASSETS],
    asset_checks=[*CHECKS, *HEALTH_CHECKS],
    jobs=[
        daily_ingest_job,
        ingest_raw_job,
        daily_models_job,
        refresh_derived_job,
        test_results_job,
        *HEALTH_JOBS,
        *ACTING_JOBS,
        weekly_report_job,
        retention_job,
    ],
    schedules=[
        daily_ingest_schedule,
        refresh_derived_schedule,
        weekly_report_schedule,
        retention_schedule,
        *HEALTH_SCHEDULES,
    ],
    sensors=[junit_landing_sensor, analyst_snapshot_sensor, *acting_sensors()],
    resources=RESOURCES,
    executor=step_executor(),
)
