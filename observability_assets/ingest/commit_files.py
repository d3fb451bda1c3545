"""raw.commit_files: the files every built commit changed, from GitHub's commit API.

For the partition's day, the commits are the head SHAs of the CI runs whose *first* run was
created that day (raw.ci_runs, so this asset runs after the run crawl); each is fetched once with
`GET /repos/{owner}/{repo}/commits/{sha}` (files Link-paginated past 300). A commit addressed by
its full SHA never changes, so the client serves a cached copy without any request: a re-crawl
costs one request per *new* commit and nothing for the others. Transient API faults are retried
by the client (and the asset's RetryPolicy); a commit GitHub no longer has (force-pushed away) is
recorded in ops.rejected_inputs and the rest of the day loads.
"""

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext

from observability_assets.assetkit.metadata import column_schema
from observability_assets.assetkit.partitions import DAILY
from observability_assets.core.contract import CI_RUNS, COMMIT_FILES
from observability_assets.ingest.github_source import open_github, permanent_github_errors_fail_fast
from resources.github import GitHubClient, GitHubError, GitHubResource
from resources.warehouse import WarehouseResource

CRAWL_WORKERS = 4
SOURCE = "github_commits"
FIELDS = ("repo", "sha", "parent_sha", "path", "status", "additions", "deletions", "previous_path", "parents")

# Commits first built on the day: a commit built again later (a pull request's head pushed to
# main, nightly runs on an unchanged tip) stays in the partition of its first run.
_FIRST_BUILT_ON = f"""
SELECT repo, head_sha
FROM {CI_RUNS.qualified_name}
WHERE head_sha IS NOT NULL
  AND (repo, head_sha) IN (
      SELECT repo, head_sha FROM {CI_RUNS.qualified_name} WHERE partition_day = CAST(? AS DATE))
GROUP BY repo, head_sha
HAVING CAST(min(created_at) AS DATE) = CAST(? AS DATE)
ORDER BY repo, head_sha
"""  # noqa: S608 (table names from the contract, values are parameters)


def commit_rows(commit: dict[str, Any], repo: str) -> list[dict[str, Any]]:
    """raw.commit_files rows of one commit object (GitHub's documented shape)."""
    parents = commit.get("parents") or []
    parent = parents[0]["sha"] if parents else None
    return [
        {
            "repo": repo,
            "sha": commit["sha"],
            "parent_sha": parent,
            "path": f["filename"],
            "status": f.get("status"),
            "additions": f.get("additions"),
            "deletions": f.get("deletions"),
            "previous_path": f.get("previous_filename"),
            "parents": len(parents),
        }
        for f in commit.get("files") or []
    ]


@dataclass
class CommitCrawl:
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    commits: int = 0
    requests: int = 0


def crawl_commits(make_client: Callable[[], GitHubClient], commits: list[tuple[str, str]]) -> CommitCrawl:
    """Files of every (repo, sha); commits GitHub cannot find are rejected with the reason."""
    local = threading.local()
    clients: list[GitHubClient] = []
    lock = threading.Lock()

    def client() -> GitHubClient:
        if not hasattr(local, "client"):
            local.client = make_client()
            with lock:
                clients.append(local.client)
        return local.client

    def fetch(item: tuple[str, str]) -> tuple[list[dict[str, Any]], tuple[str, str] | None]:
        repo, sha = item
        try:
            return commit_rows(client().get_commit(repo, sha), repo), None
        except GitHubError as error:
            if error.status not in (404, 422):
                raise
            return [], (f"{repo}@{sha}", f"GitHub has no such commit any more ({error.status})")

    crawl = CommitCrawl(commits=len(commits))
    with ThreadPoolExecutor(CRAWL_WORKERS, thread_name_prefix="commits") as pool:
        for rows, rejected in pool.map(fetch, commits):
            crawl.rows += rows
            if rejected:
                crawl.rejected.append(rejected)
    crawl.requests = sum(c.stats.requests for c in clients)
    for c in clients:
        c.close()
    return crawl


def _frame(rows: list[dict[str, Any]]):
    import pandas as pd

    frame = pd.DataFrame.from_records(rows, columns=list(FIELDS))
    return frame.astype({"additions": "Int32", "deletions": "Int32", "parents": "Int32"})


@dg.asset(
    key=COMMIT_FILES.qualified_name.split("."),
    description=COMMIT_FILES.comment,
    group_name="ingest",
    kinds={"github", "duckdb"},
    owners=["team:platform"],
    partitions_def=DAILY,
    deps=[dg.AssetDep(CI_RUNS.qualified_name.split("."))],
    metadata={"dagster/column_schema": column_schema(COMMIT_FILES), "partition_column": "partition_day"},
    retry_policy=dg.RetryPolicy(
        max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
    ),
)
def commit_files(
    context: AssetExecutionContext, warehouse: WarehouseResource, github: GitHubResource
) -> dg.MaterializeResult:
    """Fetch the changed files of the commits first built on the partition's day."""
    day = date.fromisoformat(context.partition_key).isoformat()
    wh = warehouse.get()
    shas = wh.query(_FIRST_BUILT_ON, [day, day])
    started = time.monotonic()
    with permanent_github_errors_fail_fast():
        source = open_github(github)
        wanted = set(source.repos)
        commits = [(r, s) for r, s in shas.itertuples(index=False) if r in wanted]
        crawl = crawl_commits(source.make_client, commits)
    count = wh.replace_partitions(
        context.partition_key, {COMMIT_FILES: _frame(crawl.rows)}, rejections={SOURCE: crawl.rejected}
    )[COMMIT_FILES.qualified_name]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": count,
            "commits": crawl.commits,
            "commits_rejected": len(crawl.rejected),
            "api_requests": crawl.requests,
            "crawl_seconds": round(time.monotonic() - started, 2),
            "source": source.description,
        }
    )
