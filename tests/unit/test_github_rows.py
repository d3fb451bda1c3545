"""GitHub payloads (the documented examples in shared/fixtures) to contract rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from observability_assets.core.contract import CI_JOBS, CI_RUNS
from observability_assets.core.github_rows import (
    JOB_FIELDS,
    RUN_FIELDS,
    job_row,
    run_row,
    runner_os_from_labels,
)


def test_field_lists_cover_the_contract_except_load_columns() -> None:
    assert set(RUN_FIELDS) == set(CI_RUNS.column_names) - {"partition_day", "ingested_at"}
    assert set(JOB_FIELDS) == set(CI_JOBS.column_names) - {"partition_day", "ingested_at"}


def test_documented_run_example_maps_to_a_row(fixtures_dir: Path) -> None:
    run = json.loads((fixtures_dir / "github" / "actions_get_workflow_run.json").read_text())
    row = run_row(run, "octo-org/hello-world")
    assert row["run_id"] == run["id"] and row["run_attempt"] == run["run_attempt"]
    assert row["workflow_name"] == run["name"]
    assert row["head_sha"] == run["head_sha"]
    assert row["actor"] == run["triggering_actor"]["login"]
    assert row["created_at"] == run["created_at"]
    assert list(row) == list(RUN_FIELDS)


def test_documented_job_example_lacks_created_at_and_attempt(fixtures_dir: Path) -> None:
    payload = json.loads(
        (fixtures_dir / "github" / "actions_list_jobs_for_workflow_run_attempt.json").read_text()
    )
    job = payload["jobs"][0]
    assert "run_attempt" not in job and "created_at" not in job
    row = job_row(job, "octo-org/octo-repo", run_attempt=2)
    assert row["run_attempt"] == 2  # taken from the request, not invented
    assert row["created_at"] is None
    assert row["runner_labels"] == ["self-hosted", "foo", "bar"]
    assert row["runner_os"] is None  # no label names an operating system
    assert list(row) == list(JOB_FIELDS)


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["ubuntu-latest"], "Linux"),
        (["ubuntu-24.04-arm"], "Linux"),
        (["ubuntu-latest-4-cores"], "Linux"),
        (["windows-2022"], "Windows"),
        (["macos-14"], "macOS"),
        (["self-hosted", "Linux", "X64"], "Linux"),
        (["self-hosted", "gpu"], None),
        ([], None),
    ],
)
def test_runner_os_from_labels(labels: list[str], expected: str | None) -> None:
    assert runner_os_from_labels(labels) == expected
