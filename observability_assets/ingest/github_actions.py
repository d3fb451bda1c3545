"""raw.ci_runs and raw.ci_jobs: one crawl of the GitHub Actions API per day of run creation.

For each repository the crawl lists the runs created on the partition's UTC day (the API returns
only each run's latest attempt), fetches every earlier attempt, and lists the jobs of all attempts
with `filter=all`. Both tables are replaced for that day in a single transaction.

Late changes: a run belongs to the day it was created, but it can be re-run or finish later. The
daily schedule therefore re-crawls the last `RECRAWL_DAYS` days; conditional requests (ETags) make
re-reading unchanged runs free of rate limit, so the overlap costs little.
"""

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from observability_assets.assetkit.metadata import column_schema
from observability_assets.assetkit.partitions import DAILY
from observability_assets.core.contract import CI_JOBS, CI_RUNS
from observability_assets.core.github_rows import JOB_FIELDS, RUN_FIELDS, TIMESTAMP_FIELDS, job_row, run_row
from observability_assets.ingest.github_source import (
    GitHubSource,
    open_github,
    permanent_github_errors_fail_fast,
)
from resources.github import GitHubClient, GitHubResource
from resources.warehouse import WarehouseResource

RECRAWL_DAYS = 3
# ops.source_totals source of what the Actions API reported.
TOTALS_SOURCE = "github_actions"
CRAWL_WORKERS = 4


@dataclass
class DayCrawl:
    runs: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    not_modified: int = 0
    rate_limit_remaining: int | None = None
    # (repo, measure, total) as GitHub counted them: reconciled in marts.data_trust.
    totals: list[tuple[str, str, int]] = field(default_factory=list)


def crawl_day(make_client: Callable[[], GitHubClient], repos: list[str], day: date) -> DayCrawl:
    """Every attempt and job of the runs created on `day` (UTC) in `repos`."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)  # exclusive
    lister = make_client()
    latest: list[tuple[str, dict[str, Any]]] = []
    crawl = DayCrawl()
    for repo in repos:
        reported: list[int] = []
        latest += [(repo, run) for run in lister.list_runs_created(repo, start, end, reported)]
        crawl.totals.append((repo, "runs", reported[0] if reported else 0))

    # Each worker thread gets its own client: requests sessions are not meant to be shared.
    local = threading.local()
    clients: list[GitHubClient] = [lister]
    clients_lock = threading.Lock()

    def client() -> GitHubClient:
        if not hasattr(local, "client"):
            local.client = make_client()
            with clients_lock:
                clients.append(local.client)
        return local.client

    def fetch(
        item: tuple[str, dict[str, Any]],
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
        repo, run = item
        gh = client()
        attempts = [run] + [
            gh.get_run_attempt(repo, run["id"], n) for n in range(1, run.get("run_attempt", 1))
        ]
        reported: list[int] = []
        jobs = gh.list_jobs(repo, run["id"], filter="all", reported=reported)
        return [run_row(a, repo) for a in attempts], [job_row(j, repo) for j in jobs], sum(reported)

    jobs_reported = dict.fromkeys(repos, 0)
    with ThreadPoolExecutor(CRAWL_WORKERS, thread_name_prefix="crawl") as pool:
        for (repo, _), (runs, jobs, reported_jobs) in zip(latest, pool.map(fetch, latest), strict=True):
            crawl.runs.extend(runs)
            crawl.jobs.extend(jobs)
            jobs_reported[repo] += reported_jobs
    crawl.totals += [(repo, "jobs", total) for repo, total in jobs_reported.items()]
    for c in clients:
        crawl.requests += c.stats.requests
        crawl.not_modified += c.stats.not_modified
    remaining = [c.stats.rate_limit_remaining for c in clients if c.stats.rate_limit_remaining is not None]
    crawl.rate_limit_remaining = min(remaining) if remaining else None
    return crawl


def rows_to_frame(rows: list[dict[str, Any]], columns: tuple[str, ...]):
    """A DataFrame in contract column order with UTC timestamps made zone-less."""
    import pandas as pd

    frame = pd.DataFrame.from_records(rows, columns=list(columns))
    for column in TIMESTAMP_FIELDS.intersection(columns):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601").dt.tz_localize(None)
    return frame


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            CI_RUNS.qualified_name.split("."),
            description=CI_RUNS.comment,
            kinds={"github", "duckdb"},
            owners=["team:platform"],
            metadata={"dagster/column_schema": column_schema(CI_RUNS), "partition_column": "partition_day"},
        ),
        dg.AssetSpec(
            CI_JOBS.qualified_name.split("."),
            description=CI_JOBS.comment,
            kinds={"github", "duckdb"},
            owners=["team:platform"],
            metadata={"dagster/column_schema": column_schema(CI_JOBS), "partition_column": "partition_day"},
        ),
    ],
    name="github_actions_runs",
    group_name="ingest",
    partitions_def=DAILY,
    retry_policy=dg.RetryPolicy(
        max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
    ),
)
def github_actions_runs(
    context: AssetExecutionContext, warehouse: WarehouseResource, github: GitHubResource
) -> Iterator[dg.MaterializeResult]:
    """Crawl the partition's day of GitHub Actions runs and jobs and replace it in the warehouse."""
    day = date.fromisoformat(context.partition_key)
    started = time.monotonic()
    with permanent_github_errors_fail_fast():
        source: GitHubSource = open_github(github)
        crawl = crawl_day(source.make_client, source.repos, day)
    crawl_s = time.monotonic() - started

    counts = warehouse.get().replace_partitions(
        context.partition_key,
        {CI_RUNS: rows_to_frame(crawl.runs, RUN_FIELDS), CI_JOBS: rows_to_frame(crawl.jobs, JOB_FIELDS)},
        source_totals={TOTALS_SOURCE: crawl.totals},
    )
    shared = {
        "repositories": dg.MetadataValue.json(source.repos),
        "api_requests": crawl.requests,
        "api_not_modified": crawl.not_modified,
        "rate_limit_remaining": crawl.rate_limit_remaining if crawl.rate_limit_remaining is not None else -1,
        "crawl_seconds": round(crawl_s, 2),
        "source": source.description,
    }
    yield dg.MaterializeResult(
        asset_key=CI_RUNS.qualified_name.split("."),
        metadata={"dagster/row_count": counts[CI_RUNS.qualified_name], **shared},
    )
    yield dg.MaterializeResult(
        asset_key=CI_JOBS.qualified_name.split("."),
        metadata={"dagster/row_count": counts[CI_JOBS.qualified_name], **shared},
    )
