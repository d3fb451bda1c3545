"""A small organisation for the GitHub server and client tests, built from the documented examples.

Every object is a copy of a documented GitHub example response (../shared/fixtures/github) with
ids, times and links changed, so the server is tested on the real shapes. It has the same
attributes as `observability_assets.demo.simulator.Organisation`.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def fixtures_dir() -> Path:
    """The shared fixtures; skip (or fail on CI) when they are missing."""
    folder = Path(os.environ.get("VIGIL_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures"))
    if not (folder / "github").is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"GitHub fixtures missing at {folder}")
        pytest.skip(f"GitHub fixtures missing at {folder}")
    return folder


def load_example(name: str) -> Any:
    return json.loads((fixtures_dir() / "github" / name).read_text(encoding="utf-8"))


@dataclass
class FakeOrg:
    repos: list[str]
    run_attempts: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    zips: dict[int, bytes] = field(default_factory=dict)

    def artifact_zip(self, artifact_id: int) -> bytes:
        return self.zips[artifact_id]

    def latest_runs(self, repo: str) -> list[dict[str, Any]]:
        latest: dict[int, dict[str, Any]] = {}
        for run in self.run_attempts:
            if run["repository"]["full_name"] != repo:
                continue
            if run["id"] not in latest or run["run_attempt"] > latest[run["id"]]["run_attempt"]:
                latest[run["id"]] = run
        return list(latest.values())


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _junit_zip(name: str) -> bytes:
    report = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuites><testsuite name="{name}" tests="1"><testcase classname="{name}" name="works"/>'
        "</testsuite></testsuites>\n"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("junit.xml", (2026, 10, 1, 0, 0, 0)), report)
    return buffer.getvalue()


def make_org(
    runs_per_repo: dict[str, int],
    day: date = date(2026, 10, 1),
    *,
    rerun_every: int = 5,
    large_artifact_bytes: int = 0,
) -> FakeOrg:
    """`runs_per_repo[repo]` runs spread evenly over `day`; every `rerun_every`-th run has a second
    attempt; each attempt has two jobs; each run one JUnit artifact. With `large_artifact_bytes`,
    the first run of the first repository also gets an incompressible artifact of that size."""
    # Kept as JSON text: parsing a fresh copy is several times faster than copy.deepcopy.
    run_example = json.dumps(load_example("actions_get_workflow_run.json"))
    job_example = json.dumps(load_example("actions_list_jobs_for_workflow_run.json")["jobs"][0])
    artifact_example = json.dumps(load_example("actions_list_workflow_run_artifacts.json")["artifacts"][0])
    org = FakeOrg(repos=sorted(runs_per_repo))
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    run_id, job_id, artifact_id = 10_000, 500_000, 900_000
    for repo, count in sorted(runs_per_repo.items()):
        for index in range(count):
            run_id += 1
            created = midnight + timedelta(seconds=index * 86_400 // count)
            attempts = 2 if rerun_every and index % rerun_every == 0 else 1
            for attempt in range(1, attempts + 1):
                started = created + timedelta(minutes=10 * (attempt - 1))
                run = json.loads(run_example)
                run.update(
                    id=run_id,
                    run_attempt=attempt,
                    run_number=index + 1,
                    created_at=_stamp(created),
                    run_started_at=_stamp(started),
                    updated_at=_stamp(started + timedelta(minutes=5)),
                    status="completed",
                    conclusion="failure" if attempt < attempts else "success",
                    head_branch="main" if index % 2 else "feature",
                    event="push" if index % 3 else "pull_request",
                    previous_attempt_url=None,
                )
                run["repository"].update(full_name=repo, name=repo.split("/")[1])
                org.run_attempts.append(run)
                for name in ("build", "test"):
                    job_id += 1
                    job = json.loads(job_example)
                    job.update(
                        id=job_id,
                        run_id=run_id,
                        run_attempt=attempt,
                        name=name,
                        created_at=_stamp(started),
                        started_at=_stamp(started),
                        completed_at=_stamp(started + timedelta(minutes=4)),
                    )
                    org.jobs.append(job)
            artifact_id += 1
            org.zips[artifact_id] = _junit_zip(f"{repo}#{run_id}")
            org.artifacts.append(_artifact(artifact_example, artifact_id, run_id, len(org.zips[artifact_id])))
    if large_artifact_bytes:
        artifact_id += 1
        first_run = next(r for r in org.run_attempts if r["repository"]["full_name"] == org.repos[0])
        org.zips[artifact_id] = os.urandom(large_artifact_bytes)
        org.artifacts.append(_artifact(artifact_example, artifact_id, first_run["id"], large_artifact_bytes))
    return org


def _artifact(example: str, artifact_id: int, run_id: int, size: int) -> dict[str, Any]:
    artifact = json.loads(example)
    artifact.update(id=artifact_id, name=f"junit-{artifact_id}", size_in_bytes=size, expired=False)
    artifact["workflow_run"]["id"] = run_id
    return artifact
