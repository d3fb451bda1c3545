"""Turn GitHub Actions REST payloads into rows of the warehouse contract (raw.ci_runs, raw.ci_jobs).

Pure functions over the documented response shapes (see shared/fixtures/github). Fields the API
may omit (the documented job example has no `created_at` or `run_attempt`) become None or are
filled from the request that fetched them, never invented.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

RUN_FIELDS = (
    "repo",
    "run_id",
    "run_attempt",
    "run_number",
    "workflow_id",
    "workflow_name",
    "event",
    "head_branch",
    "head_sha",
    "actor",
    "status",
    "conclusion",
    "created_at",
    "run_started_at",
    "updated_at",
    "html_url",
)

JOB_FIELDS = (
    "repo",
    "run_id",
    "run_attempt",
    "job_id",
    "job_name",
    "workflow_name",
    "head_branch",
    "head_sha",
    "status",
    "conclusion",
    "created_at",
    "started_at",
    "completed_at",
    "runner_labels",
    "runner_os",
    "runner_name",
    "runner_group_name",
    "html_url",
)

TIMESTAMP_FIELDS = frozenset({"created_at", "run_started_at", "updated_at", "started_at", "completed_at"})

# Label prefixes of GitHub-hosted images and the usual self-hosted OS labels.
_OS_BY_LABEL_PREFIX = (
    ("ubuntu", "Linux"),
    ("linux", "Linux"),
    ("windows", "Windows"),
    ("win", "Windows"),
    ("macos", "macOS"),
    ("mac", "macOS"),
    ("osx", "macOS"),
)


def runner_os_from_labels(labels: Iterable[str]) -> str | None:
    """Linux, Windows or macOS from `runs-on` labels; None when no label names an OS."""
    for label in labels:
        lowered = label.lower()
        for prefix, os_name in _OS_BY_LABEL_PREFIX:
            if lowered.startswith(prefix):
                return os_name
    return None


def run_row(run: Mapping[str, Any], repo: str) -> dict[str, Any]:
    """One raw.ci_runs row from a workflow-run object (one attempt)."""
    actor = run.get("triggering_actor") or run.get("actor") or {}
    return {
        "repo": repo,
        "run_id": run["id"],
        "run_attempt": run.get("run_attempt") or 1,
        "run_number": run.get("run_number"),
        "workflow_id": run.get("workflow_id"),
        "workflow_name": run.get("name"),
        "event": run.get("event"),
        "head_branch": run.get("head_branch"),
        "head_sha": run.get("head_sha"),
        "actor": actor.get("login"),
        "status": run.get("status"),
        "conclusion": run.get("conclusion"),
        "created_at": run.get("created_at"),
        "run_started_at": run.get("run_started_at"),
        "updated_at": run.get("updated_at"),
        "html_url": run.get("html_url"),
    }


def job_row(job: Mapping[str, Any], repo: str, run_attempt: int | None = None) -> dict[str, Any]:
    """One raw.ci_jobs row; `run_attempt` is the attempt the job was fetched for, if known."""
    labels = list(job.get("labels") or [])
    return {
        "repo": repo,
        "run_id": job["run_id"],
        "run_attempt": job.get("run_attempt") or run_attempt or 1,
        "job_id": job["id"],
        "job_name": job.get("name"),
        "workflow_name": job.get("workflow_name"),
        "head_branch": job.get("head_branch"),
        "head_sha": job.get("head_sha"),
        "status": job.get("status"),
        "conclusion": job.get("conclusion"),
        "created_at": job.get("created_at"),
        "started_at": job.get("started_at"),
        "completed_at": job.get("completed_at"),
        "runner_labels": labels,
        "runner_os": runner_os_from_labels(labels),
        "runner_name": job.get("runner_name"),
        "runner_group_name": job.get("runner_group_name"),
        "html_url": job.get("html_url"),
    }
