"""A deterministic simulated GitHub organisation: the demo's data source and the tests' ground truth.

`simulate(spec)` plans every repository's commits and workflow runs (sim_plan), injects known
faults (sim_faults), runs every attempt, job and test (sim_execute) and exposes the result twice:

- as GitHub REST objects (`run_attempts`, `jobs`, `artifacts`, `artifact_zip()`), shaped like the
  documented examples in shared/fixtures/github, for the local GitHub server;
- as truth frames in warehouse-contract columns (`runs_frame()`, `jobs_frame()`,
  `test_results_truth()`) and labels of everything injected (`labels()`), for quality tests.

Everything derives from `spec.seed` through numpy Generators keyed by repository name, so the same
spec gives the same organisation byte for byte, and adding a repository leaves the others alone.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import zlib
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from observability_assets.demo import sim_failure_causes as causes_sim
from observability_assets.demo import sim_secrets
from observability_assets.demo.junit_writer import (
    JobResults,
    ReportContext,
    execution_counts,
    render_reports,
    zip_reports,
)
from observability_assets.demo.sim_advisories import AdvisorySimulation
from observability_assets.demo.sim_artifact_names import Convention, artifact_name, choose_conventions
from observability_assets.demo.sim_code import CodeView, plan_repo_code
from observability_assets.demo.sim_coverage import CoverageSimulation
from observability_assets.demo.sim_execute import (
    JobTemplate,
    RepoExecution,
    execute_repo,
    job_templates,
    step_conclusions,
)
from observability_assets.demo.sim_faults import (
    MACOS_LABEL,
    OUTAGE_FAILURE_PROBABILITY,
    OrgFaults,
    RepoFaults,
    plan_org_faults,
    plan_repo_faults,
)
from observability_assets.demo.sim_nightly import ScheduledSuite, plan_scheduled_suite
from observability_assets.demo.sim_plan import (
    CI,
    DAY_S,
    NIGHTLY,
    RELEASE,
    RENOVATE,
    WORKFLOW_FILES,
    RepoPlan,
    epoch,
    plan_repo,
)
from observability_assets.demo.sim_tests import INFRA, SKIP, TestCatalogue, build_catalogue, dialect_for

API = "https://api.github.com"
WEB = "https://github.com"
WORKFLOWS = (CI, NIGHTLY, RELEASE)
ARTIFACT_RETENTION_DAYS = 90

# Independent random streams per purpose; repository streams are also keyed by the name's CRC.
_ORG_STREAM, _PLAN_STREAM, _CATALOGUE_STREAM, _FAULT_STREAM, _EXEC_STREAM, _ID_STREAM = range(6)


@dataclass(frozen=True)
class OrgSpec:
    seed: int = 7
    owner: str = "acme"
    repos: tuple[str, ...] = ("api", "web", "mobile", "infra", "data")
    start: date = date(2026, 10, 1)
    days: int = 28
    runs_per_repo_day: float = 12.0  # mean; Poisson around a weekday/weekend pattern
    tests_per_repo: int = 80
    with_test_reports: bool = True  # False: no JUnit artifacts (big ingestion benchmarks)
    busy_days: tuple[tuple[str, int, int], ...] = ()  # (repo, day index, exact number of runs)
    inject_ground_truth: bool = True  # flaky/broken tests, outage, duration steps, cost spikes
    plant_secrets: bool = True  # secrets and personal data in failure texts (sim_secrets)
    scheduled_suites: bool = True  # nightly/weekly-only tests, schedules never re-run (sim_nightly)

    def __post_init__(self) -> None:
        if not self.repos or len(set(self.repos)) != len(self.repos):
            raise ValueError("repos must be a non-empty tuple of distinct names")
        if self.days < 1 or self.runs_per_repo_day < 0:
            raise ValueError("days must be >= 1 and runs_per_repo_day >= 0")
        if self.tests_per_repo < 16:
            raise ValueError("tests_per_repo must be >= 16 (room for awkward names and injected faults)")
        for repo, day, count in self.busy_days:
            if repo not in self.repos or not 0 <= day < self.days or count < 0:
                raise ValueError(f"busy day {(repo, day, count)} is outside the organisation or window")


@functools.lru_cache(maxsize=8)
def simulate(spec: OrgSpec = OrgSpec()) -> Organisation:
    """The organisation for `spec` (cached: treat the returned objects as read-only)."""
    return Organisation(spec)


@dataclass
class _Repo:
    index: int
    name: str
    full_name: str
    id: int
    dialect: str
    catalogue: TestCatalogue
    plan: RepoPlan
    faults: RepoFaults
    exe: RepoExecution
    scheduled: ScheduledSuite | None = None
    run_offset: int = 0
    attempt_offset: int = 0
    job_offset: int = 0
    causes: causes_sim.RepoCauses | None = None


class Organisation:
    """Every run attempt, job and artifact of the simulated organisation, plus its ground truth."""

    def __init__(self, spec: OrgSpec) -> None:
        self.spec = spec
        self.repos = [f"{spec.owner}/{name}" for name in spec.repos]
        self._start_s = epoch(spec.start)
        org_rng = np.random.default_rng([spec.seed, _ORG_STREAM])
        self._faults = (
            plan_org_faults(self.repos, self._start_s, spec.days, org_rng)
            if spec.inject_ground_truth
            else OrgFaults()
        )
        self.dependency_break = (
            causes_sim.plan_dependency_break(
                spec.seed,
                spec.owner,
                spec.repos,
                tuple(dialect_for(n, i) for i, n in enumerate(spec.repos)),
                spec.days,
            )
            if spec.inject_ground_truth
            else None
        )
        self._repos = [self._simulate_repo(i, name) for i, name in enumerate(spec.repos)]
        self._index()
        self._assign_ids(np.random.default_rng([spec.seed, _ID_STREAM]))
        self._zip_cache = functools.lru_cache(maxsize=32)(self._build_zip)

    # -- simulation -----------------------------------------------------------------------------

    def _simulate_repo(self, index: int, name: str) -> _Repo:
        spec, full_name = self.spec, f"{self.spec.owner}/{name}"
        key = zlib.crc32(name.encode())

        def stream(purpose: int) -> np.random.Generator:
            return np.random.default_rng([spec.seed, purpose, key])

        dialect = dialect_for(name, index)
        catalogue = build_catalogue(name, dialect, spec.tests_per_repo, stream(_CATALOGUE_STREAM))
        spike = self._faults.volume_spike
        plan = plan_repo(
            full_name=full_name,
            seed=spec.seed,
            start_s=self._start_s,
            days=spec.days,
            runs_per_day=spec.runs_per_repo_day,
            forced={day: count for repo, day, count in spec.busy_days if repo == name},
            volume_spike_day=spike.day if spike and spike.repo == full_name else None,
            volume_factor=spike.factor if spike else 1,
            rng=stream(_PLAN_STREAM),
        )
        faults = plan_repo_faults(
            full_name=full_name,
            repo_index=index,
            catalogue=catalogue,
            plan=plan,
            org=self._faults,
            start_s=self._start_s,
            days=spec.days,
            inject=spec.inject_ground_truth,
            rng=stream(_FAULT_STREAM),
        )
        scheduled = None
        if spec.inject_ground_truth and spec.scheduled_suites:
            scheduled = plan_scheduled_suite(seed=spec.seed, repo_name=name, catalogue=catalogue, plan=plan,
                                             start_s=self._start_s, days=spec.days)  # fmt: skip
        plain_broken = len(faults.broken)
        faults = causes_sim.add_dependency_break(
            self.dependency_break, seed=spec.seed, full_name=full_name, catalogue=catalogue, plan=plan,
            faults=faults, start_s=self._start_s,
        )  # fmt: skip
        causes = causes_sim.repo_causes(
            self.dependency_break, seed=spec.seed, full_name=full_name, dialect=dialect, faults=faults,
            plain_broken=plain_broken,
        )  # fmt: skip
        exe = execute_repo(
            full_name=full_name,
            repo_name=name,
            catalogue=catalogue,
            plan=plan,
            faults=faults,
            org=self._faults,
            start_s=self._start_s,
            rng=stream(_EXEC_STREAM),
            scheduled=scheduled,
        )
        return _Repo(
            index,
            name,
            full_name,
            700_000_000 + 7919 * index + key % 1000,
            dialect,
            scheduled.catalogue if scheduled else catalogue,
            plan,
            faults,
            exe,
            scheduled,
            causes=causes,
        )

    def _index(self) -> None:
        """Global (organisation-wide) row numbers for runs, attempts and jobs."""
        runs = attempts = jobs = 0
        for repo in self._repos:
            repo.run_offset, repo.attempt_offset, repo.job_offset = runs, attempts, jobs
            runs += len(repo.plan.runs)
            attempts += len(repo.exe.att_run)
            jobs += len(repo.exe.job_attempt)
        cat = np.concatenate
        self._run_repo = cat([np.full(len(r.plan.runs), r.index) for r in self._repos])
        self._run_created = cat([np.asarray(r.plan.runs.created, dtype=np.int64) for r in self._repos])
        self._att_run = cat([np.asarray(r.exe.att_run, dtype=np.int64) + r.run_offset for r in self._repos])
        self._att_number = cat([np.asarray(r.exe.att_number, dtype=np.int64) for r in self._repos])
        self._job_attempt = cat(
            [np.asarray(r.exe.job_attempt, dtype=np.int64) + r.attempt_offset for r in self._repos]
        )
        self._job_repo = cat([np.full(len(r.exe.job_attempt), r.index) for r in self._repos])
        self._job_created = cat([np.asarray(r.exe.job_created, dtype=np.int64) for r in self._repos])
        self._job_order = cat([np.asarray(r.exe.job_order, dtype=np.int64) for r in self._repos])
        self._job_artifact_at = cat([np.asarray(r.exe.job_artifact_at, dtype=np.int64) for r in self._repos])
        if not self.spec.with_test_reports:
            self._job_artifact_at[:] = -1

    def _assign_ids(self, rng: np.random.Generator) -> None:
        """Ids grow with creation time across the organisation, with gaps, like GitHub's."""

        def increasing(order: np.ndarray, base: int, max_gap: int) -> np.ndarray:
            ids = np.empty(len(order), dtype=np.int64)
            ids[order] = base + np.cumsum(rng.integers(1, max_gap, len(order)))
            return ids

        n_runs = len(self._run_created)
        local = np.arange(n_runs)
        self.run_ids = increasing(np.lexsort((local, self._run_repo, self._run_created)), 11_000_000_000, 40)
        job_run_ids = self.run_ids[self._att_run[self._job_attempt]]
        job_order = np.lexsort(
            (self._job_order, self._att_number[self._job_attempt], job_run_ids, self._job_created)
        )
        self.job_ids = increasing(job_order, 31_000_000_000, 25)
        has_artifact = np.flatnonzero(self._job_artifact_at >= 0)
        artifact_order = np.lexsort((self.job_ids[has_artifact], self._job_artifact_at[has_artifact]))
        self.artifact_ids = np.full(len(self.job_ids), -1, dtype=np.int64)
        self.artifact_ids[has_artifact] = increasing(artifact_order, 2_100_000_000, 30)
        self._artifact_job = {
            int(a): int(j) for j, a in zip(has_artifact, self.artifact_ids[has_artifact], strict=True)
        }

        # Run numbers count per repository and workflow in creation order, after some history.
        self._run_number = np.zeros(n_runs, dtype=np.int64)
        for repo in self._repos:
            workflows = np.asarray(repo.plan.runs.workflow)
            rows = np.arange(repo.run_offset, repo.run_offset + len(repo.plan.runs))
            for w, workflow in enumerate(WORKFLOWS):
                mine = rows[workflows == workflow]
                mine = mine[np.lexsort((self.run_ids[mine], self._run_created[mine]))]
                first = (900, 200, 30)[w] + zlib.crc32(repo.name.encode()) % 300
                self._run_number[mine] = first + np.arange(len(mine))

    # -- GitHub REST objects --------------------------------------------------------------------

    @functools.cached_property
    def run_attempts(self) -> list[dict[str, Any]]:
        """Every attempt of every run as a workflow-run object, ordered by run id then attempt."""
        out: list[dict[str, Any]] = []
        users: dict[str, dict[str, Any]] = {}
        for repo in self._repos:
            out += self._repo_run_attempts(repo, users)
        out.sort(key=lambda r: (r["id"], r["run_attempt"]))
        return out

    def _repo_run_attempts(self, repo: _Repo, users: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        plan, exe, commits = repo.plan, repo.exe, repo.plan.commits
        repository = self._repository(repo)
        head_commits: dict[int, dict[str, Any]] = {}
        created = _iso(np.asarray(plan.runs.created))
        started = _iso(np.asarray(exe.att_started))
        updated = _iso(np.asarray(exe.att_updated))
        commit_at = _iso(np.asarray(commits.at))
        out = []
        for a, run in enumerate(exe.att_run):
            g = repo.run_offset + run
            run_id, number = int(self.run_ids[g]), int(exe.att_number[a])
            workflow, commit = plan.runs.workflow[run], plan.runs.commit[run]
            run_url = f"{API}/repos/{repo.full_name}/actions/runs/{run_id}"
            if commit not in head_commits:
                head_commits[commit] = _head_commit(commits.sha[commit], commits.message[commit],
                                                    commit_at[commit], commits.author[commit])  # fmt: skip
            actor = users.get(plan.runs.actor[run]) or users.setdefault(
                plan.runs.actor[run], _user(plan.runs.actor[run])
            )
            workflow_id = _workflow_id(repo, workflow)
            out.append({
                "id": run_id,
                "name": workflow,
                "node_id": _node_id("WorkflowRun", run_id),
                "check_suite_id": run_id + 19_000_000_000,
                "head_branch": plan.runs.branch[run],
                "head_sha": commits.sha[commit],
                "path": WORKFLOW_FILES[workflow],
                "display_title": plan.runs.title[run],
                "run_number": int(self._run_number[g]),
                "event": plan.runs.event[run],
                "status": "completed",
                "conclusion": "failure" if exe.att_failed[a] else "success",
                "workflow_id": workflow_id,
                "url": run_url,
                "html_url": f"{WEB}/{repo.full_name}/actions/runs/{run_id}/attempts/{number}",
                "pull_requests": self._pull_requests(repo, run),
                "created_at": created[run],
                "updated_at": updated[a],
                "actor": actor,
                "run_attempt": number,
                "referenced_workflows": [],
                "run_started_at": started[a],
                "triggering_actor": actor,
                "jobs_url": f"{run_url}/jobs",
                "logs_url": f"{run_url}/logs",
                "check_suite_url": f"{API}/repos/{repo.full_name}/check-suites/{run_id + 19_000_000_000}",
                "artifacts_url": f"{run_url}/artifacts",
                "cancel_url": f"{run_url}/cancel",
                "rerun_url": f"{run_url}/rerun",
                "previous_attempt_url": f"{run_url}/attempts/{number - 1}" if number > 1 else None,
                "workflow_url": f"{API}/repos/{repo.full_name}/actions/workflows/{workflow_id}",
                "head_commit": head_commits[commit],
                "repository": repository,
                "head_repository": repository,
            })  # fmt: skip
        return out

    def _repository(self, repo: _Repo) -> dict[str, Any]:
        owner = self.spec.owner
        return {
            "id": repo.id,
            "node_id": _node_id("Repository", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "private": True,
            "owner": {
                "login": owner,
                "id": 9_000_000 + zlib.crc32(owner.encode()) % 1_000_000,
                "node_id": _node_id("Organization", zlib.crc32(owner.encode())),
                "url": f"{API}/users/{owner}",
                "html_url": f"{WEB}/{owner}",
                "type": "Organization",
                "site_admin": False,
            },
            "html_url": f"{WEB}/{repo.full_name}",
            "description": None,
            "fork": False,
            "url": f"{API}/repos/{repo.full_name}",
        }

    def _pull_requests(self, repo: _Repo, run: int) -> list[dict[str, Any]]:
        plan = repo.plan
        number = plan.runs.pr_number[run]
        if plan.runs.event[run] != "pull_request" or not number:
            return []
        commit = plan.runs.commit[run]
        base_sha = plan.commits.sha[plan.main[plan.commits.base_position[commit]]]
        repo_ref = {"id": repo.id, "url": f"{API}/repos/{repo.full_name}", "name": repo.name}
        return [{
            "url": f"{API}/repos/{repo.full_name}/pulls/{number}",
            "id": 1_500_000_000 + repo.id % 10_000 * 10_000 + number,
            "number": number,
            "head": {"ref": plan.runs.branch[run], "sha": plan.commits.sha[commit], "repo": repo_ref},
            "base": {"ref": "main", "sha": base_sha, "repo": repo_ref},
        }]  # fmt: skip

    @functools.cached_property
    def jobs(self) -> list[dict[str, Any]]:
        """Every job of every attempt as a job object, ordered by run id, attempt and job id."""
        out: list[dict[str, Any]] = []
        for repo in self._repos:
            out += self._repo_jobs(repo)
        out.sort(key=lambda j: (j["run_id"], j["run_attempt"], j["id"]))
        return out

    def _repo_jobs(self, repo: _Repo) -> list[dict[str, Any]]:
        exe, plan = repo.exe, repo.plan
        n = len(exe.job_attempt)
        created, started, completed = (
            _iso(np.asarray(x)) for x in (exe.job_created, exe.job_started, exe.job_completed)
        )
        # All step boundaries of the repository formatted in one go.
        widths = [len(s) + 1 for s in exe.job_step_seconds]
        bounds = np.concatenate([
            np.concatenate(([st], st + np.cumsum(secs))) for st, secs in zip(exe.job_started, exe.job_step_seconds, strict=True)
        ]) if n else np.zeros(0, dtype=np.int64)  # fmt: skip
        bound_text = _iso(bounds)
        offsets = np.concatenate(([0], np.cumsum(widths)))
        out = []
        for j in range(n):
            g = repo.job_offset + j
            job_id = int(self.job_ids[g])
            attempt = exe.job_attempt[j]
            run = exe.att_run[attempt]
            run_id = int(self.run_ids[repo.run_offset + run])
            template: JobTemplate = exe.job_template[j]
            group_id, group_name = template.runner_group
            failed = exe.job_failed[j]
            out.append({
                "id": job_id,
                "run_id": run_id,
                "workflow_name": plan.runs.workflow[run],
                "head_branch": plan.runs.branch[run],
                "run_url": f"{API}/repos/{repo.full_name}/actions/runs/{run_id}",
                "run_attempt": exe.att_number[attempt],
                "node_id": _node_id("CheckRun", job_id),
                "head_sha": plan.commits.sha[plan.runs.commit[run]],
                "url": f"{API}/repos/{repo.full_name}/actions/jobs/{job_id}",
                "html_url": f"{WEB}/{repo.full_name}/actions/runs/{run_id}/job/{job_id}",
                "status": "completed",
                "conclusion": "failure" if failed else "success",
                "created_at": created[j],
                "started_at": started[j],
                "completed_at": completed[j],
                "name": template.name,
                "steps": _steps(template, exe.job_failed_step[j], bound_text[offsets[j]: offsets[j + 1]]),
                "check_run_url": f"{API}/repos/{repo.full_name}/check-runs/{job_id}",
                "labels": list(template.labels),
                "runner_id": _runner_id(template, exe.job_runner[j]),
                "runner_name": _runner_name(template, exe.job_runner[j]),
                "runner_group_id": group_id,
                "runner_group_name": group_name,
            })  # fmt: skip
        return out

    @functools.cached_property
    def artifacts(self) -> list[dict[str, Any]]:
        """One JUnit artifact per test job and attempt (none without test reports), by id."""
        out = []
        for artifact_id, g in sorted(self._artifact_job.items()):
            repo, j = self._locate_job(g)
            exe, plan = repo.exe, repo.plan
            run = exe.att_run[exe.job_attempt[j]]
            at = exe.job_artifact_at[j]
            url = f"{API}/repos/{repo.full_name}/actions/artifacts/{artifact_id}"
            template = exe.job_template[j]
            name = artifact_name(
                self._artifact_convention(repo, run),
                template.name,
                template.labels[0],
                int(exe.att_number[exe.job_attempt[j]]),
                plan.commits.sha[plan.runs.commit[run]],
            )
            created = _iso(np.asarray([at, at + ARTIFACT_RETENTION_DAYS * DAY_S]))
            out.append({
                "id": artifact_id,
                "node_id": _node_id("Artifact", artifact_id),
                "name": name,
                "size_in_bytes": self._artifact_size(repo, j),
                "url": url,
                "archive_download_url": f"{url}/zip",
                "expired": False,
                "created_at": created[0],
                "updated_at": created[0],
                "expires_at": created[1],
                "workflow_run": {
                    "id": int(self.run_ids[repo.run_offset + run]),
                    "repository_id": repo.id,
                    "head_repository_id": repo.id,
                    "head_branch": plan.runs.branch[run],
                    "head_sha": plan.commits.sha[plan.runs.commit[run]],
                },
            })  # fmt: skip
        return out + self.coverage.artifacts

    @functools.cached_property
    def coverage(self) -> CoverageSimulation:
        """Coverage artifacts and their truth (sim_coverage)."""
        return CoverageSimulation(self)

    @functools.cached_property
    def advisories(self) -> AdvisorySimulation:
        """Dependabot alert history (sim_advisories)."""
        return AdvisorySimulation(self)

    def dependabot_alerts(self, full_name: str) -> list[dict[str, Any]]:
        return self.advisories.alerts(full_name)

    @functools.cached_property
    def artifact_conventions(self) -> dict[str, dict[str, Convention]]:
        """repo -> workflow -> how its test-report artifacts are named (sim_artifact_names)."""
        return {repo.full_name: choose_conventions(self.spec.seed, repo.full_name) for repo in self._repos}

    def _artifact_convention(self, repo: _Repo, run: int) -> Convention:
        return self.artifact_conventions[repo.full_name][repo.plan.runs.workflow[run]]

    def artifact_attribution(self) -> pd.DataFrame:
        """Per artifact: its name, the job Vigil should attribute its rows to (`attributed_job_id`,
        NA when the name cannot tell) and how (`job_match`), from its naming convention's label."""
        names = {artifact["id"]: artifact["name"] for artifact in self.artifacts}
        ids, attributed, matches = [], [], []
        for artifact_id, g in sorted(self._artifact_job.items()):
            repo, j = self._locate_job(g)
            run = repo.exe.att_run[repo.exe.job_attempt[j]]
            how = self._artifact_convention(repo, run).expected_match
            ids.append(artifact_id)
            attributed.append(None if how == "none" else int(self.job_ids[g]))
            matches.append(how)
        return pd.DataFrame({
            "artifact_id": pd.array(ids, dtype="Int64"),
            "artifact_name": pd.array([names[i] for i in ids], dtype=object),
            "attributed_job_id": pd.array(attributed, dtype="Int64"),
            "job_match": pd.array(matches, dtype=object),
        })  # fmt: skip

    def _locate_job(self, g: int) -> tuple[_Repo, int]:
        repo = self._repos[int(self._job_repo[g])]
        return repo, g - repo.job_offset

    def _artifact_size(self, repo: _Repo, j: int) -> int:
        """An estimate of the zip's size (the zip itself is only built on download)."""
        row = repo.exe.job_test_row[j]
        failing = int((repo.exe.fails[row] > 0).sum())
        # Fitted on generated zips; Surefire writes one file per class, hence its larger share.
        per_test = {"pytest": 27, "jest": 26.5, "surefire": 93, "go": 26}[repo.dialect]
        return int(per_test * len(repo.catalogue)) + 60 * failing

    def artifact_zip(self, artifact_id: int) -> bytes:
        """The artifact's zip of JUnit reports: built on demand, identical bytes every time."""
        if self.coverage.owns(artifact_id):
            return self.coverage.artifact_zip(artifact_id)
        return self._zip_cache(int(artifact_id))

    def _build_zip(self, artifact_id: int) -> bytes:
        g = self._artifact_job.get(artifact_id)
        if g is None:
            raise KeyError(f"no artifact {artifact_id}")
        repo, j = self._locate_job(g)
        exe = repo.exe
        row, template = exe.job_test_row[j], exe.job_template[j]
        work = template.work_step
        tests_started = exe.job_started[j] + sum(exe.job_step_seconds[j][:work])
        context = ReportContext(
            timestamp=_iso(np.asarray([tests_started]))[0].rstrip("Z"),
            hostname=_runner_name(template, exe.job_runner[j]),
            runner_os=template.runner_os,
            artifact_id=artifact_id,
            plant_seed=self.spec.seed if self.spec.plant_secrets else None,
            failure_texts=self.failure_texts(repo.full_name, f"{exe.job_started[j]}|{j}"),
        )
        results = JobResults(exe.reason[row], exe.fails[row], exe.time_s[row])
        at = datetime.fromtimestamp(exe.job_artifact_at[j], UTC)
        return zip_reports(render_reports(repo.catalogue, results, context), at.timetuple()[:6])

    def failure_texts(self, repo_name: str, occurrence: str):
        """The texts one test job's failures write (`sim_failure_causes`), or None without planted causes."""
        repo = self._repos[self.repos.index(repo_name)]
        causes = repo.causes
        if causes is None or not self.spec.inject_ground_truth:
            return None
        return lambda catalogue, test, reason: causes_sim.failure_text(
            causes, catalogue, test, reason, occurrence
        )

    def failure_cause(self, repo_name: str, test: int, reason: int) -> tuple[str, str, str]:
        """(kind, label, expected probable file) of one failing execution: the clustering truth."""
        repo = self._repos[self.repos.index(repo_name)]
        kind, label = causes_sim.cause_of(repo.causes, test, reason)
        return kind, label, causes_sim.expected_file(repo.causes, repo.catalogue, test, kind)

    def artifact_job(self, artifact_id: int) -> dict[str, Any] | None:
        """The test job a JUnit artifact belongs to, and whether any of its test cases failed
        (None for other artifacts, e.g. coverage reports)."""
        g = self._artifact_job.get(artifact_id)
        if g is None:
            return None
        repo, j = self._locate_job(g)
        exe = repo.exe
        attempt = exe.job_attempt[j]
        row = exe.job_test_row[j]
        return {
            "repo": repo.full_name,
            "run_id": int(self.run_ids[repo.run_offset + exe.att_run[attempt]]),
            "run_attempt": int(exe.att_number[attempt]),
            "job_id": int(self.job_ids[repo.job_offset + j]),
            "has_failures": bool(row >= 0 and (exe.fails[row] > 0).any()),
        }

    def failure_cause_truth(self) -> pd.DataFrame:
        """Every failed or errored execution with its planted cause: kind, label, expected probable file."""
        parts = []
        for repo in self._repos:
            truth = self._repo_test_truth(repo)
            if not len(truth) or repo.causes is None:
                continue
            truth = truth[truth["outcome"].isin(["failed", "error"])]
            index = {
                key: i
                for i, key in enumerate(zip(repo.catalogue.classname, repo.catalogue.name, strict=True))
            }
            job_of = {int(self.job_ids[repo.job_offset + j]): j for j in range(len(repo.exe.job_attempt))}
            rows = []
            for job_id, classname, name in zip(
                truth["job_id"], truth["classname"], truth["test_name"], strict=True
            ):
                test = index[(classname, name)]
                reason = int(repo.exe.reason[repo.exe.job_test_row[job_of[int(job_id)]], test])
                rows.append(self.failure_cause(repo.full_name, test, reason))
            kinds, labels, files = zip(*rows, strict=True) if rows else ((), (), ())
            parts.append(truth.assign(cause_kind=list(kinds), cause=list(labels), expected_file=list(files)))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    # -- truth frames ---------------------------------------------------------------------------

    def runs_frame(self) -> pd.DataFrame:
        """raw.ci_runs truth: one row per run attempt (contract columns but the load columns)."""
        parts = []
        for repo in self._repos:
            plan, exe = repo.plan, repo.exe
            run = np.asarray(exe.att_run, dtype=np.int64)
            g = repo.run_offset + run
            workflow = np.asarray(plan.runs.workflow, dtype=object)[run]
            commit = np.asarray(plan.runs.commit, dtype=np.int64)[run]
            run_ids = self.run_ids[g]
            number = np.asarray(exe.att_number, dtype=np.int64)
            parts.append(pd.DataFrame({
                "repo": repo.full_name,
                "run_id": run_ids,
                "run_attempt": number.astype(np.int32),
                "run_number": self._run_number[g].astype(np.int32),
                "workflow_id": np.array([_workflow_id(repo, w) for w in workflow], dtype=np.int64),
                "workflow_name": workflow,
                "event": np.asarray(plan.runs.event, dtype=object)[run],
                "head_branch": np.asarray(plan.runs.branch, dtype=object)[run],
                "head_sha": np.asarray(plan.commits.sha, dtype=object)[commit],
                "actor": np.asarray(plan.runs.actor, dtype=object)[run],
                "status": "completed",
                "conclusion": np.where(np.asarray(exe.att_failed, dtype=bool), "failure", "success").astype(object),
                "created_at": _timestamps(np.asarray(plan.runs.created, dtype=np.int64)[run]),
                "run_started_at": _timestamps(exe.att_started),
                "updated_at": _timestamps(exe.att_updated),
                "html_url": [f"{WEB}/{repo.full_name}/actions/runs/{r}/attempts/{a}" for r, a in zip(run_ids.tolist(), number.tolist(), strict=True)],
            }))  # fmt: skip
        return _sorted(pd.concat(parts, ignore_index=True), ["repo", "run_id", "run_attempt"])

    def jobs_frame(self) -> pd.DataFrame:
        """raw.ci_jobs truth: one row per job of each attempt (contract columns but the load columns)."""
        parts = []
        for repo in self._repos:
            plan, exe = repo.plan, repo.exe
            attempt = np.asarray(exe.job_attempt, dtype=np.int64)
            run = np.asarray(exe.att_run, dtype=np.int64)[attempt]
            commit = np.asarray(plan.runs.commit, dtype=np.int64)[run]
            g = repo.job_offset + np.arange(len(attempt))
            run_ids = self.run_ids[repo.run_offset + run]
            templates = exe.job_template
            parts.append(pd.DataFrame({
                "repo": repo.full_name,
                "run_id": run_ids,
                "run_attempt": np.asarray(exe.att_number, dtype=np.int32)[attempt],
                "job_id": self.job_ids[g],
                "job_name": [t.name for t in templates],
                "workflow_name": np.asarray(plan.runs.workflow, dtype=object)[run],
                "head_branch": np.asarray(plan.runs.branch, dtype=object)[run],
                "head_sha": np.asarray(plan.commits.sha, dtype=object)[commit],
                "status": "completed",
                "conclusion": np.where(np.asarray(exe.job_failed, dtype=bool), "failure", "success").astype(object),
                "created_at": _timestamps(exe.job_created),
                "started_at": _timestamps(exe.job_started),
                "completed_at": _timestamps(exe.job_completed),
                "runner_labels": [list(t.labels) for t in templates],
                "runner_os": [t.runner_os for t in templates],
                "runner_name": [_runner_name(t, n) for t, n in zip(templates, exe.job_runner, strict=True)],
                "runner_group_name": [t.runner_group[1] for t in templates],
                "html_url": [f"{WEB}/{repo.full_name}/actions/runs/{r}/job/{j}" for r, j in zip(run_ids.tolist(), self.job_ids[g].tolist(), strict=True)],
            }))  # fmt: skip
        return _sorted(pd.concat(parts, ignore_index=True), ["repo", "run_id", "run_attempt", "job_id"])

    def test_results_truth(self) -> pd.DataFrame:
        """One row per test-case execution written into the JUnit artifacts.

        Columns: repo, run_id, run_attempt, job_id, head_sha, branch, classname, test_name, file,
        outcome, attempt, report_path, artifact_id, plus suite and duration_s. `job_id` is the job
        that ran the tests (`artifact_attribution()` says which job id raw.test_results should
        hold, given the artifact's name). `attempt` counts
        executions inside one report (Surefire reruns); `duration_s` is the testcase `time`, on the
        row of the testcase element's own outcome (NaN on rows from rerun/flaky child elements).
        """
        parts = [self._repo_test_truth(repo) for repo in self._repos]
        parts = [p for p in parts if len(p)]
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in _TRUTH_COLUMNS})
        return pd.concat(parts, ignore_index=True)

    def _repo_test_truth(self, repo: _Repo) -> pd.DataFrame:
        exe, plan, catalogue = repo.exe, repo.plan, repo.catalogue
        jobs = np.flatnonzero(
            self._job_artifact_at[repo.job_offset : repo.job_offset + len(exe.job_attempt)] >= 0
        )
        if not len(jobs):
            return pd.DataFrame()
        jobs = jobs[np.argsort(self.artifact_ids[repo.job_offset + jobs], kind="stable")]
        rows = np.asarray(exe.job_test_row, dtype=np.int64)[jobs]
        n_tests, max_exec = len(catalogue), catalogue.max_executions
        reason, fails, times = exe.reason[rows], exe.fails[rows], exe.time_s[rows]
        counts = execution_counts(fails, max_exec).ravel()
        cell = np.repeat(np.arange(counts.size), counts)
        attempt = np.arange(cell.size) - np.repeat(np.cumsum(counts) - counts, counts)
        job = jobs[cell // n_tests]
        test = cell % n_tests
        cell_reason, cell_fails = reason.ravel()[cell], fails.ravel()[cell].astype(np.int64)
        bad = np.where((cell_reason == INFRA) & catalogue.has_error_outcome, "error", "failed")
        outcome = np.where(cell_reason == SKIP, "skipped", np.where(attempt < cell_fails, bad, "passed"))
        # The testcase element's own outcome: the final pass after flaky reruns, else the first run.
        own = np.where((cell_fails > 0) & (cell_fails < max_exec), cell_fails, 0)
        duration = np.where(attempt == own, times.ravel()[cell], np.nan)

        attempt_of_job = np.asarray(exe.job_attempt, dtype=np.int64)[job]
        run = np.asarray(exe.att_run, dtype=np.int64)[attempt_of_job]
        g = repo.job_offset + job
        return pd.DataFrame({
            "repo": repo.full_name,
            "run_id": self.run_ids[repo.run_offset + run],
            "run_attempt": np.asarray(exe.att_number, dtype=np.int32)[attempt_of_job],
            "job_id": self.job_ids[g],
            "head_sha": np.asarray(plan.commits.sha, dtype=object)[np.asarray(plan.runs.commit, dtype=np.int64)[run]],
            "branch": np.asarray(plan.runs.branch, dtype=object)[run],
            "classname": np.asarray(catalogue.classname, dtype=object)[test],
            "test_name": np.asarray(catalogue.name, dtype=object)[test],
            "file": np.asarray(catalogue.file, dtype=object)[test],
            "outcome": outcome.astype(object),
            "attempt": attempt.astype(np.int32),
            "report_path": np.asarray(catalogue.report_path, dtype=object)[test],
            "artifact_id": self.artifact_ids[g],
            "suite": np.asarray(catalogue.suite, dtype=object)[test],
            "duration_s": duration,
        })  # fmt: skip

    def planted_corpus(self) -> sim_secrets.Corpus:
        """Ground truth of the planted secrets and ordinary noise in the failure texts."""
        if not self.spec.plant_secrets:
            return sim_secrets.Corpus((), ())
        truth = self.test_results_truth()
        failing = truth[truth["outcome"].isin(["failed", "error"])]
        # A test name can repeat in a repository (two classes): cells are keyed by the identity.
        index = {
            r.full_name: (
                {key: i for i, key in enumerate(zip(r.catalogue.classname, r.catalogue.name, strict=True))},
                r.catalogue.dialect,
            )
            for r in self._repos
        }
        identities = zip(failing["classname"], failing["test_name"], strict=True)
        cells = {
            (repo, int(artifact), index[repo][1], index[repo][0][identity])
            for repo, artifact, identity in zip(
                failing["repo"], failing["artifact_id"], identities, strict=True
            )
        }
        return sim_secrets.corpus(self.spec.seed, sorted(cells))

    def commits_frame(self) -> pd.DataFrame:
        """Every commit: where it sits relative to main (see sim_plan's effective position)."""
        parts = []
        for repo in self._repos:
            c = repo.plan.commits
            parts.append(pd.DataFrame({
                "repo": repo.full_name,
                "sha": c.sha,
                "branch": c.branch,
                "main_position": pd.array([p if p >= 0 else None for p in c.main_position], dtype="Int64"),
                "base_position": np.asarray(c.base_position, dtype=np.int64),
                "effective_position": c.effective_position(),
                "committed_at": _timestamps(c.at),
                "author": c.author,
                "message": c.message,
                "pr_number": pd.array([n or None for n in c.pr_number], dtype="Int64"),
            }))  # fmt: skip
        return pd.concat(parts, ignore_index=True)

    # -- the code behind the tests (sim_code) ---------------------------------------------------

    @functools.cached_property
    def code(self) -> dict[str, CodeView]:
        """Per repository: modules, test dependencies and every commit's files (see sim_code)."""
        return {
            r.full_name: CodeView(r.full_name, r.plan, plan_repo_code(r.name, r.catalogue, r.plan, r.faults, self.spec.seed))
            for r in self._repos
        }  # fmt: skip

    def commit_files_frame(self) -> pd.DataFrame:
        """raw.commit_files truth: the files of every commit a run built, on its first run's day."""
        rows = [row for view in self.code.values() for row in view.rows()]
        files = pd.DataFrame(
            rows,
            columns=[
                "repo",
                "sha",
                "parent_sha",
                "path",
                "status",
                "additions",
                "deletions",
                "previous_path",
                "parents",
            ],
        )
        runs = self.runs_frame()
        first = runs.groupby(["repo", "head_sha"])["created_at"].min().dt.date.rename("partition_day")
        return files.merge(first.reset_index().rename(columns={"head_sha": "sha"}), on=["repo", "sha"])

    # -- ground truth ---------------------------------------------------------------------------

    def labels(self) -> dict[str, Any]:
        """Everything injected, JSON-serialisable, with the spec it came from."""
        spec = self.spec
        spec_dict = asdict(spec)
        spec_dict["start"] = spec.start.isoformat()
        spec_dict["repos"] = list(spec.repos)
        spec_dict["busy_days"] = [list(b) for b in spec.busy_days]
        return {
            "spec": spec_dict,
            "window": {
                "start": spec.start.isoformat(),
                "days": spec.days,
                "last_day": self._day(spec.days - 1),
            },
            "rule": (
                "A change anchored at main position X is in every commit whose effective_position "
                "(commits_frame) is >= X: broken tests fail on every execution with "
                "start_position <= effective_position < fix_position; duration steps apply from X on."
            ),
            "repos": [self._repo_labels(repo) for repo in self._repos],
            "flaky_tests": [
                {**self._test_ref(repo, t), "failure_probability": p}
                for repo in self._repos
                for t, p in sorted(repo.faults.flaky.items())
            ]
            + [
                {
                    **self._test_ref(repo, t.test),
                    "failure_probability": t.failure_probability,
                    "schedule": t.schedule,
                }
                for repo in self._repos
                for t in (repo.scheduled.flaky if repo.scheduled else ())
            ],
            "broken_tests": [self._broken_label(repo, b) for repo in self._repos for b in repo.faults.broken]
            + [
                {**self._broken_label(repo, t), "schedule": t.schedule}
                for repo in self._repos
                for t in (repo.scheduled.broken if repo.scheduled else ())
            ],
            "commit_failures": [
                {
                    **self._test_ref(repo, t),
                    "sha": repo.plan.commits.sha[c],
                    "branch": repo.plan.commits.branch[c],
                }
                for repo in self._repos
                for c, tests in sorted(repo.faults.commit_failures.items())
                for t in tests
            ],
            "lint_failures": [
                {
                    "repo": repo.full_name,
                    "sha": repo.plan.commits.sha[c],
                    "branch": repo.plan.commits.branch[c],
                }
                for repo in self._repos
                for c in sorted(repo.faults.lint_failures)
            ],
            "outage": self._outage_label(),
            "duration_steps": [
                self._step_label(repo, s) for repo in self._repos for s in repo.faults.duration_steps
            ],
            "cost_spikes": self._cost_labels(),
            "coverage": self.coverage.labels(),
            "advisories": self.advisories.labels(),
            "failure_causes": self._failure_cause_labels(),
        }

    def write_labels(self, path: Path) -> None:
        Path(path).write_text(
            json.dumps(self.labels(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )

    def _day(self, index: int) -> str:
        return datetime.fromtimestamp(self._start_s + index * DAY_S, UTC).date().isoformat()

    def _repo_labels(self, repo: _Repo) -> dict[str, Any]:
        macos = "mobile" in repo.name or "ios" in repo.name
        return {
            "repo": repo.full_name,
            "dialect": repo.dialect,
            "tests": len(repo.catalogue),
            "awkward_tests": {
                role: self._test_ref(repo, t) for role, t in sorted(repo.catalogue.awkward.items())
            },
            "workflows": {
                w: [t.name for t in job_templates(repo.dialect, w, macos_matrix=macos)] for w in WORKFLOWS
            },
            "runs": len(repo.plan.runs),
            "artifact_names": {
                workflow: {"template": c.template, "expected_job_match": c.expected_match}
                for workflow, c in self.artifact_conventions[repo.full_name].items()
            },
        }

    def _test_ref(self, repo: _Repo, test: int) -> dict[str, Any]:
        c = repo.catalogue
        return {
            "repo": repo.full_name,
            "classname": c.classname[test],
            "test_name": c.name[test],
            "file": c.file[test],
        }

    def _commit_ref(self, repo: _Repo, position: int | None, prefix: str) -> dict[str, Any]:
        if position is None:
            return {f"{prefix}_sha": None, f"{prefix}_position": None, f"{prefix}_at": None}
        commit = repo.plan.main[position]
        at = repo.plan.commits.at[commit]
        return {
            f"{prefix}_sha": repo.plan.commits.sha[commit],
            f"{prefix}_position": position,
            f"{prefix}_at": _iso(np.asarray([at]))[0],
        }

    def _broken_label(self, repo: _Repo, broken: Any) -> dict[str, Any]:
        return {
            **self._test_ref(repo, broken.test),
            **self._commit_ref(repo, broken.start_position, "start"),
            **self._commit_ref(repo, broken.fix_position, "fix"),
        }

    def _step_label(self, repo: _Repo, step: Any) -> dict[str, Any]:
        test = (
            self._test_ref(repo, step.test)
            if step.test is not None
            else {"classname": None, "test_name": None, "file": None}
        )
        return {
            "repo": repo.full_name,
            "kind": step.kind,
            "workflow": step.workflow,
            "job_name": step.job_name,
            **{k: v for k, v in test.items() if k != "repo"},
            "factor": step.factor,
            **self._commit_ref(repo, step.position, "commit"),
        }

    def _failure_cause_labels(self) -> dict[str, Any]:
        brk = self.dependency_break
        return {
            "dependency_break": None
            if brk is None
            else {
                "dialect": brk.dialect,
                "repos": list(brk.repos),
                "day": self._day(brk.day),
                "fix_after_days": brk.fix_after_days,
                "tests": [
                    self._test_ref(repo, t) for repo in self._repos if repo.causes
                    for t in sorted(repo.causes.dependency_tests)
                ],
            },
            "network_error_tests": [
                self._test_ref(repo, t) for repo in self._repos if repo.causes for t in sorted(repo.causes.network_tests)
            ],
        }  # fmt: skip

    def _outage_label(self) -> dict[str, Any] | None:
        outage = self._faults.outage
        if outage is None:
            return None
        affected = []
        for repo in self._repos:
            exe = repo.exe
            for j in np.flatnonzero(np.asarray(exe.job_outage, dtype=bool)).tolist():
                attempt = exe.job_attempt[j]
                affected.append({
                    "repo": repo.full_name,
                    "run_id": int(self.run_ids[repo.run_offset + exe.att_run[attempt]]),
                    "run_attempt": exe.att_number[attempt],
                    "job_id": int(self.job_ids[repo.job_offset + j]),
                    "job_name": exe.job_template[j].name,
                    "died_before_tests": exe.job_test_row[j] < 0,
                })  # fmt: skip
        affected.sort(key=lambda a: a["job_id"])
        start, end = _iso(np.asarray([outage.start_s, outage.end_s]))
        return {
            "day": self._day(outage.day),
            "start": start,
            "end": end,
            "cause": "database service container unreachable (connection refused) on Linux runners",
            "runner_os": "Linux",
            "job_kind": "test",
            "test_failure_probability": OUTAGE_FAILURE_PROBABILITY,
            "min_failure_fraction": 0.8,
            "affected_jobs": affected,
        }

    def _cost_labels(self) -> list[dict[str, Any]]:
        labels: list[dict[str, Any]] = []
        spike, change = self._faults.volume_spike, self._faults.runner_change
        if spike is not None:
            repo = self._repos[self.repos.index(spike.repo)]
            day_start = self._start_s + spike.day * DAY_S
            runs = sum(
                1
                for w, c in zip(repo.plan.runs.workflow, repo.plan.runs.created, strict=True)
                if w == CI and day_start <= c < day_start + DAY_S
            )
            labels.append({
                "kind": "run_volume",
                "repo": spike.repo,
                "workflow": CI,
                "day": self._day(spike.day),
                "factor": spike.factor,
                "runs": runs,
                "actor": RENOVATE,
            })  # fmt: skip
        if change is not None:
            labels.append({
                "kind": "runner_change",
                "repo": change.repo,
                "workflow": CI,
                "jobs": list(change.jobs),
                "first_day": self._day(change.first_day),
                "last_day": self._day(change.last_day),
                "from_labels": {"lint": ["ubuntu-latest"], "build": ["ubuntu-latest-4-cores"]},
                "to_labels": [MACOS_LABEL],
            })  # fmt: skip
        return labels


_TRUTH_COLUMNS = (
    "repo", "run_id", "run_attempt", "job_id", "head_sha", "branch", "classname", "test_name", "file",
    "outcome", "attempt", "report_path", "artifact_id", "suite", "duration_s",
)  # fmt: skip


def _iso(epoch_s: np.ndarray) -> list[str]:
    """Epoch seconds to GitHub's `2026-10-01T12:00:00Z` strings, vectorised."""
    text = np.datetime_as_string(np.asarray(epoch_s, dtype=np.int64).astype("datetime64[s]"), unit="s")
    return [t + "Z" for t in text.tolist()]


def _timestamps(epoch_s: Any) -> np.ndarray:
    """Naive UTC timestamps (microsecond precision, like DuckDB's TIMESTAMP)."""
    return np.asarray(epoch_s, dtype=np.int64).astype("datetime64[s]").astype("datetime64[us]")


def _sorted(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    return frame.sort_values(key, kind="stable").reset_index(drop=True)


def _node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


def _workflow_id(repo: _Repo, workflow: str) -> int:
    return 60_000_000 + repo.id % 1_000_000 * 10 + WORKFLOWS.index(workflow)


def _user(login: str) -> dict[str, Any]:
    user_id = 100_000 + zlib.crc32(login.encode()) % 90_000_000
    return {
        "login": login,
        "id": user_id,
        "node_id": _node_id("User", user_id),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
        "url": f"{API}/users/{login}",
        "html_url": f"{WEB}/{login}",
        "type": "Bot" if login.endswith("[bot]") else "User",
        "site_admin": False,
    }


def _head_commit(sha: str, message: str, at: str, author: str) -> dict[str, Any]:
    person = {"name": author, "email": f"{author.replace('[bot]', '')}@users.noreply.github.com"}
    return {
        "id": sha,
        "tree_id": hashlib.sha1(f"tree\0{sha}".encode(), usedforsecurity=False).hexdigest(),
        "message": message,
        "timestamp": at,
        "author": person,
        "committer": {"name": "GitHub", "email": "noreply@github.com"},
    }


def _runner_name(template: JobTemplate, number: int) -> str:
    if template.larger:
        return f"{template.labels[0]}_{number:04x}"
    return f"GitHub Actions {number}"


def _runner_id(template: JobTemplate, number: int) -> int:
    return 100_000 + number if template.larger else number


def _steps(template: JobTemplate, failed_step: int, bounds: list[str]) -> list[dict[str, Any]]:
    """Step objects between the job's start and completion."""
    return [
        {
            "name": name,
            "status": "completed",
            "conclusion": conclusion,
            "number": s + 1,
            "started_at": bounds[s],
            "completed_at": bounds[s + 1],
        }
        for s, (name, conclusion) in enumerate(
            zip(template.steps, step_conclusions(template, failed_step), strict=True)
        )
    ]
