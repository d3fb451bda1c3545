"""Running the planned workflow runs: attempts, jobs, steps, test outcomes and re-runs.

Attempts are executed in passes: every run's first attempt, then the second attempt of the failed
runs somebody re-ran, then the rare third. Each pass draws its random numbers in blocks, so one
repository's history is a deterministic function of its seed stream.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from observability_assets.demo.junit_writer import execution_counts, final_failed
from observability_assets.demo.sim_faults import (
    MACOS_LABEL,
    OUTAGE_DEATH_PROBABILITY,
    OUTAGE_FAILURE_PROBABILITY,
    OrgFaults,
    RepoFaults,
)
from observability_assets.demo.sim_nightly import ScheduledSuite
from observability_assets.demo.sim_plan import CI, DAY_S, NIGHTLY, RELEASE, RepoPlan
from observability_assets.demo.sim_tests import (
    ASSERT,
    FLAKY,
    GO,
    INFRA,
    JEST,
    PASS,
    PYTEST,
    SKIP,
    SUREFIRE,
    TestCatalogue,
)

LINUX, WINDOWS, MACOS = "Linux", "Windows", "macOS"
HOSTED_GROUP, LARGER_GROUP = "GitHub Actions", "larger-runners"
HOSTED_GROUP_ID, LARGER_GROUP_ID = 0, 3

_TOOLCHAIN = {
    PYTEST: "Run actions/setup-python@v5",
    JEST: "Run actions/setup-node@v4",
    SUREFIRE: "Run actions/setup-java@v4",
    GO: "Run actions/setup-go@v5",
}
SET_UP, CONTAINERS, CHECKOUT, INSTALL = (
    "Set up job",
    "Initialize containers",
    "Run actions/checkout@v4",
    "Install dependencies",
)
RUN_TESTS, UPLOAD, STOP, POST_CHECKOUT = (
    "Run tests",
    "Upload test results",
    "Stop containers",
    "Post Run actions/checkout@v4",
)
COMPLETE = "Complete job"
# Steps that still run after an earlier step failed (`if: always()` and runner housekeeping).
ALWAYS_RUN = frozenset({UPLOAD, STOP, POST_CHECKOUT, COMPLETE})

# Seconds (low, high) of the housekeeping steps; the job's own work step is drawn separately.
_STEP_SECONDS = {
    SET_UP: (1, 4), CONTAINERS: (8, 30), CHECKOUT: (1, 6), INSTALL: (15, 70), UPLOAD: (2, 7),
    STOP: (1, 4), POST_CHECKOUT: (0, 2), COMPLETE: (0, 1), "Restore cache": (2, 12),
    "Save cache": (3, 15), "Start stack": (30, 90), **{name: (4, 20) for name in _TOOLCHAIN.values()},
}  # fmt: skip
_OS_SLOWDOWN = {LINUX: 1.0, WINDOWS: 1.8, MACOS: 1.3}
_TEST_SLOWDOWN = {LINUX: 1.0, WINDOWS: 1.6, MACOS: 1.25}
_QUEUE_MEDIAN_S = {LINUX: 6.0, WINDOWS: 14.0, MACOS: 35.0}
_LARGER_QUEUE_MEDIAN_S = 25.0
_RERUN_PROBABILITY = {1: 0.55, 2: 0.3}
_MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class JobTemplate:
    name: str
    kind: str  # lint, test, build, e2e, release, publish
    labels: tuple[str, ...]
    runner_os: str
    larger: bool
    steps: tuple[str, ...]
    work_step: int  # index of the step that does the job's real work (and fails when the job fails)

    @property
    def runner_group(self) -> tuple[int, str]:
        return (LARGER_GROUP_ID, LARGER_GROUP) if self.larger else (HOSTED_GROUP_ID, HOSTED_GROUP)


def _os_of(label: str) -> str:
    return WINDOWS if label.startswith("windows") else MACOS if label.startswith("macos") else LINUX


def _template(
    name: str, kind: str, label: str, work: str, toolchain: str, *, larger: bool = False
) -> JobTemplate:
    runner_os = _os_of(label)
    if kind == "test":
        services = runner_os == LINUX  # service containers only run on Linux runners
        steps = [SET_UP, *([CONTAINERS] if services else []), CHECKOUT, toolchain, INSTALL, RUN_TESTS, UPLOAD,
                 *([STOP] if services else []), POST_CHECKOUT, COMPLETE]  # fmt: skip
    elif kind == "build":
        steps = [SET_UP, CHECKOUT, toolchain, "Restore cache", work, "Save cache", POST_CHECKOUT, COMPLETE]
    elif kind == "lint":
        steps = [SET_UP, CHECKOUT, toolchain, INSTALL, work, POST_CHECKOUT, COMPLETE]
    elif kind == "e2e":
        steps = [SET_UP, CHECKOUT, "Start stack", work, POST_CHECKOUT, COMPLETE]
    else:
        steps = [SET_UP, CHECKOUT, work, POST_CHECKOUT, COMPLETE]
    work_name = RUN_TESTS if kind == "test" else work
    return JobTemplate(name, kind, (label,), runner_os, larger, tuple(steps), steps.index(work_name))


@functools.lru_cache(maxsize=256)
def job_templates(
    dialect: str,
    workflow: str,
    *,
    macos_matrix: bool,
    full_matrix: bool = True,
    lint_build_on_macos: bool = False,
) -> tuple[JobTemplate, ...]:
    """The jobs one attempt of a workflow runs.

    Pull requests test on Linux only; pushes to main run the full operating-system matrix.
    """
    tool = _TOOLCHAIN[dialect]
    if workflow == CI:
        matrix = ["ubuntu-latest"]
        if full_matrix:
            matrix += ["windows-latest"] + (["macos-latest"] if macos_matrix else [])
        lint_label = MACOS_LABEL if lint_build_on_macos else "ubuntu-latest"
        build_label = MACOS_LABEL if lint_build_on_macos else "ubuntu-latest-4-cores"
        return (
            _template("lint", "lint", lint_label, "Run lint", tool),
            *(_template(f"test ({os})", "test", os, RUN_TESTS, tool) for os in matrix),
            _template("build", "build", build_label, "Build", tool, larger=not lint_build_on_macos),
        )
    if workflow == NIGHTLY:
        return (
            _template("test (ubuntu-latest)", "test", "ubuntu-latest", RUN_TESTS, tool),
            _template("e2e", "e2e", "ubuntu-latest-8-cores", "Run end-to-end tests", tool, larger=True),
        )
    assert workflow == RELEASE
    return (
        _template(
            "build-release", "release", "ubuntu-latest-16-cores", "Build release artifacts", tool, larger=True
        ),
        _template("publish", "publish", "ubuntu-latest", "Publish packages", tool),
    )


def step_conclusions(template: JobTemplate, failed_step: int) -> list[str]:
    """Each step's conclusion; after a failure only housekeeping and `if: always()` steps run."""
    steps = template.steps
    if failed_step < 0:
        return ["success"] * len(steps)
    ran_checkout = CHECKOUT in steps and steps.index(CHECKOUT) < failed_step
    out = []
    for s, name in enumerate(steps):
        if s < failed_step:
            out.append("success")
        elif s == failed_step:
            out.append("failure")
        elif name in ALWAYS_RUN and (name != POST_CHECKOUT or ran_checkout):
            out.append("success")
        else:
            out.append("skipped")
    return out


def containers_step(template: JobTemplate) -> int:
    """Step index a test job fails at when its service containers never come up."""
    return template.steps.index(CONTAINERS)


@dataclass
class RepoExecution:
    """Columnar result of running one repository's planned runs."""

    # attempts
    att_run: list[int] = field(default_factory=list)
    att_number: list[int] = field(default_factory=list)
    att_started: list[int] = field(default_factory=list)
    att_updated: list[int] = field(default_factory=list)
    att_failed: list[bool] = field(default_factory=list)
    # jobs
    job_attempt: list[int] = field(default_factory=list)
    job_order: list[int] = field(default_factory=list)  # position in the workflow's job list
    job_template: list[JobTemplate] = field(default_factory=list)
    job_created: list[int] = field(default_factory=list)
    job_started: list[int] = field(default_factory=list)
    job_completed: list[int] = field(default_factory=list)
    job_failed: list[bool] = field(default_factory=list)
    job_step_seconds: list[list[int]] = field(default_factory=list)
    job_failed_step: list[int] = field(default_factory=list)  # -1 when the job succeeded
    job_runner: list[int] = field(default_factory=list)
    job_test_row: list[int] = field(default_factory=list)  # row of the test matrices, -1 for none
    job_artifact_at: list[int] = field(default_factory=list)  # upload time, -1 without artifact
    job_outage: list[bool] = field(default_factory=list)  # hit by the infrastructure outage
    # test matrices, one row per test job that ran its tests
    reason: list[np.ndarray] = field(default_factory=list)
    fails: list[np.ndarray] = field(default_factory=list)
    time_s: list[np.ndarray] = field(default_factory=list)

    def finish(self) -> None:
        """Stack the per-pass test matrices."""
        for name in ("reason", "fails", "time_s"):
            parts = getattr(self, name)
            if isinstance(parts, list):
                setattr(self, name, np.concatenate(parts) if parts else np.zeros((0, 0)))


@dataclass
class _Context:
    repo_name: str
    catalogue: TestCatalogue
    plan: RepoPlan
    faults: RepoFaults
    org: OrgFaults
    full_name: str
    start_s: int
    rng: np.random.Generator
    effective: np.ndarray  # per commit
    build_median_s: float
    macos_matrix: bool
    scheduled: ScheduledSuite | None = None  # nightly/weekly-only tests (sim_nightly)


def execute_repo(
    *,
    full_name: str,
    repo_name: str,
    catalogue: TestCatalogue,
    plan: RepoPlan,
    faults: RepoFaults,
    org: OrgFaults,
    start_s: int,
    rng: np.random.Generator,
    scheduled: ScheduledSuite | None = None,
) -> RepoExecution:
    ctx = _Context(
        repo_name=repo_name,
        catalogue=catalogue,
        plan=plan,
        faults=faults,
        org=org,
        full_name=full_name,
        start_s=start_s,
        rng=rng,
        effective=plan.commits.effective_position(),
        build_median_s=float(rng.uniform(180, 420)),
        macos_matrix="mobile" in repo_name or "ios" in repo_name,
        scheduled=scheduled,
    )
    out = RepoExecution()
    created = np.asarray(plan.runs.created, dtype=np.int64)
    first_start = created + rng.integers(2, 12, len(created))
    pending = [(r, 1, int(s)) for r, s in enumerate(first_start)]
    while pending:
        failed = _run_pass(ctx, out, pending)
        pending = _reruns(ctx, out, failed)
    out.finish()
    return out


def _reruns(ctx: _Context, out: RepoExecution, failed: list[int]) -> list[tuple[int, int, int]]:
    """Failed attempts somebody re-ran: minutes to hours later, sometimes the next day."""
    rng = ctx.rng
    failed = [a for a in failed if out.att_number[a] < _MAX_ATTEMPTS]
    draws = rng.random(len(failed))
    delays = np.exp(np.log(1500.0) + 1.2 * rng.standard_normal(len(failed))).clip(60, 30 * 3600)
    # With scheduled-only suites nobody re-runs a failed schedule (sim_nightly): no retries.
    no_rerun = NIGHTLY if ctx.scheduled is not None else None
    return [
        (out.att_run[a], out.att_number[a] + 1, out.att_updated[a] + int(delay))
        for a, u, delay in zip(failed, draws, delays, strict=True)
        if u < _RERUN_PROBABILITY[out.att_number[a]] and ctx.plan.runs.workflow[out.att_run[a]] != no_rerun
    ]


def _templates_for(ctx: _Context, run: int) -> tuple[JobTemplate, ...]:
    plan = ctx.plan
    workflow = plan.runs.workflow[run]
    change = ctx.org.runner_change
    day = (plan.runs.created[run] - ctx.start_s) // DAY_S
    on_macos = (
        change is not None
        and workflow == CI
        and change.repo == ctx.full_name
        and change.first_day <= day <= change.last_day
    )
    return job_templates(
        ctx.catalogue.dialect,
        workflow,
        macos_matrix=ctx.macos_matrix,
        full_matrix=plan.runs.event[run] != "pull_request",
        lint_build_on_macos=on_macos,
    )


def _run_pass(ctx: _Context, out: RepoExecution, pending: list[tuple[int, int, int]]) -> list[int]:
    """Execute one attempt of each pending run; returns the attempts that failed."""
    rng = ctx.rng
    jobs: list[tuple[int, int, JobTemplate]] = []  # (attempt index, order, template)
    for run, number, started in pending:
        attempt = len(out.att_run)
        out.att_run.append(run)
        out.att_number.append(number)
        out.att_started.append(started)
        jobs += [(attempt, order, t) for order, t in enumerate(_templates_for(ctx, run))]
    n = len(jobs)
    uniform = rng.random((n, 16))
    normal = rng.standard_normal((n, 2))
    runners = rng.integers(1, 1000, n)

    attempt_idx = np.fromiter((a for a, _, _ in jobs), dtype=np.int64, count=n)
    templates = [t for _, _, t in jobs]
    started_att = np.asarray(out.att_started, dtype=np.int64)[attempt_idx]
    created = started_att + 1 + (uniform[:, 0] * 3).astype(np.int64)
    median = np.array(
        [_LARGER_QUEUE_MEDIAN_S if t.larger else _QUEUE_MEDIAN_S[t.runner_os] for t in templates]
    )
    queue = np.exp(np.log(median) + 0.7 * normal[:, 0])
    queue += (uniform[:, 1] < 0.03) * (60 + uniform[:, 2] * 540)  # now and then the pool is busy
    started = created + queue.astype(np.int64)

    runs = np.asarray([out.att_run[a] for a in attempt_idx.tolist()], dtype=np.int64)
    commits = np.asarray(ctx.plan.runs.commit, dtype=np.int64)[runs]
    outage = ctx.org.outage
    is_test = np.array([t.kind == "test" for t in templates], dtype=bool)
    is_linux = np.array([t.runner_os == LINUX for t in templates], dtype=bool)
    in_window = (started >= outage.start_s) & (started < outage.end_s) if outage else np.zeros(n, dtype=bool)
    hit = is_test & is_linux & in_window
    died = hit & (uniform[:, 3] < OUTAGE_DEATH_PROBABILITY)

    live = np.flatnonzero(is_test & ~died)
    test_rows = np.full(n, -1, dtype=np.int64)
    test_seconds = np.zeros(n)
    test_failed = np.zeros(n, dtype=bool)
    if len(live):
        first_row = sum(len(r) for r in out.reason)
        windows = np.array([templates[i].runner_os == WINDOWS for i in live], dtype=bool)
        os_factor = np.array([_TEST_SLOWDOWN[templates[i].runner_os] for i in live])
        reason, fails, times = _test_outcomes(ctx, commits[live], windows, hit[live], os_factor)
        if ctx.scheduled is not None:
            reason, fails, times = ctx.scheduled.append_outcomes(
                reason, fails, times,
                workflows=[ctx.plan.runs.workflow[r] for r in runs[live].tolist()],
                created=np.asarray(ctx.plan.runs.created, dtype=np.int64)[runs[live]],
                effective=ctx.effective[commits[live]], outage=hit[live], os_factor=os_factor,
            )  # fmt: skip
        out.reason.append(reason)
        out.fails.append(fails)
        out.time_s.append(times)
        test_rows[live] = first_row + np.arange(len(live))
        max_exec = ctx.catalogue.max_executions
        test_seconds[live] = (times * execution_counts(fails, max_exec)).sum(axis=1)
        test_failed[live] = final_failed(fails, max_exec).any(axis=1)

    return _finish_jobs(
        ctx,
        out,
        _Pass(
            jobs,
            uniform,
            normal,
            runners,
            created,
            started,
            commits,
            hit,
            died,
            test_rows,
            test_seconds,
            test_failed,
        ),
    )


@dataclass(frozen=True)
class _Pass:
    """One pass's jobs and the per-job arrays drawn or derived for them (all of length n)."""

    jobs: list[tuple[int, int, JobTemplate]]  # (attempt index, order in the workflow, template)
    uniform: np.ndarray  # (n, 16) uniform draws
    normal: np.ndarray  # (n, 2) standard normal draws
    runners: np.ndarray  # hosted runner numbers
    created: np.ndarray
    started: np.ndarray
    commits: np.ndarray
    hit: np.ndarray  # hit by the outage
    died: np.ndarray  # died before running tests
    test_rows: np.ndarray
    test_seconds: np.ndarray
    test_failed: np.ndarray


def _test_outcomes(
    ctx: _Context, commits: np.ndarray, windows: np.ndarray, outage: np.ndarray, os_factor: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reason, failed executions and time of every test case of the given test jobs."""
    catalogue, faults, rng = ctx.catalogue, ctx.faults, ctx.rng
    jobs, tests = len(commits), len(catalogue)
    effective = ctx.effective[commits]
    probability = np.zeros((jobs, tests))
    for test, p in faults.flaky.items():
        probability[:, test] = p
    deterministic = np.zeros((jobs, tests), dtype=bool)
    for broken in faults.broken:
        rows = effective >= broken.start_position
        if broken.fix_position is not None:
            rows &= effective < broken.fix_position
        deterministic[rows, broken.test] = True
    for row, commit in enumerate(commits.tolist()):
        if broken_tests := faults.commit_failures.get(commit):
            deterministic[row, list(broken_tests)] = True
    probability[deterministic] = 1.0
    probability[outage] = np.maximum(probability[outage], OUTAGE_FAILURE_PROBABILITY)
    skipped = catalogue.always_skipped[None, :] | (windows[:, None] & catalogue.skipped_on_windows[None, :])
    probability[skipped] = 0.0

    draws = rng.random((catalogue.max_executions, jobs, tests))
    still_failing = np.ones((jobs, tests), dtype=bool)
    fails = np.zeros((jobs, tests), dtype=np.int8)
    for draw in draws:
        still_failing &= draw < probability
        fails += still_failing
    cause = np.where(outage[:, None], INFRA, np.where(deterministic, ASSERT, FLAKY))
    reason = np.where(skipped, SKIP, np.where(fails > 0, cause, PASS)).astype(np.int8)

    factor = np.ones((jobs, tests))
    for step in faults.duration_steps:
        if step.kind == "test":
            factor[effective >= step.position, step.test] = step.factor
    noise = np.exp(0.15 * rng.standard_normal((jobs, tests)))
    times = catalogue.base_duration_s[None, :] * os_factor[:, None] * factor * noise
    times = np.where(reason == INFRA, times * 0.05, times)  # connection refused fails fast
    times = np.where(skipped, 0.0, times).round(3)
    return reason, fails, times


def _finish_jobs(ctx: _Context, out: RepoExecution, p: _Pass) -> list[int]:
    """Steps, durations and conclusions of each job; then each attempt's end and conclusion."""
    faults, effective = ctx.faults, ctx.effective
    build_factor = {s.position: s.factor for s in faults.duration_steps if s.kind == "job"}
    attempt_end: dict[int, int] = {}
    attempt_failed: dict[int, bool] = {}
    for i, (attempt, order, template) in enumerate(p.jobs):
        u = p.uniform[i]
        kind, steps = template.kind, template.steps
        slow = _OS_SLOWDOWN[template.runner_os]
        seconds = [0] * len(steps)
        for s, name in enumerate(steps):
            if s != template.work_step:
                lo, hi = _STEP_SECONDS[name]
                seconds[s] = int((lo + u[4 + s % 12] * (hi - lo)) * slow)
        commit = int(p.commits[i])
        failed = False
        failing_step = template.work_step
        if kind == "test":
            if p.died[i]:
                failed, failing_step = True, containers_step(template)
                seconds[failing_step] = int(seconds[failing_step] * 3 + 45)  # pulls retried, then given up
            else:
                seconds[template.work_step] = int(np.ceil(p.test_seconds[i])) + 3 + int(u[15] * 8)
                failed = bool(p.test_failed[i])
        else:
            seconds[template.work_step] = _work_seconds(
                ctx, template, p.normal[i, 1], build_factor, effective[commit]
            )
            if kind == "lint":
                failed = commit in faults.lint_failures
            elif kind == "build":
                failed = u[15] < 0.004  # "No space left on device" now and then
            elif kind == "e2e":
                failed = u[15] < 0.03
        if failed:
            conclusions = step_conclusions(template, failing_step)
            seconds = [0 if c == "skipped" else sec for sec, c in zip(seconds, conclusions, strict=True)]
        completed = int(p.started[i]) + sum(seconds)
        artifact_at = -1
        if kind == "test" and not p.died[i]:
            upload = steps.index(UPLOAD)
            artifact_at = int(p.started[i]) + sum(seconds[: upload + 1])

        out.job_attempt.append(attempt)
        out.job_order.append(order)
        out.job_template.append(template)
        out.job_created.append(int(p.created[i]))
        out.job_started.append(int(p.started[i]))
        out.job_completed.append(completed)
        out.job_failed.append(failed)
        out.job_step_seconds.append(seconds)
        out.job_failed_step.append(failing_step if failed else -1)
        out.job_runner.append(int(p.runners[i]))
        out.job_test_row.append(int(p.test_rows[i]))
        out.job_artifact_at.append(artifact_at)
        out.job_outage.append(bool(p.hit[i]))
        attempt_end[attempt] = max(attempt_end.get(attempt, 0), completed)
        attempt_failed[attempt] = attempt_failed.get(attempt, False) or failed

    settle = ctx.rng.integers(1, 6, len(attempt_end))
    failed_attempts = []
    for (attempt, end), extra in zip(sorted(attempt_end.items()), settle, strict=True):
        out.att_updated.append(end + int(extra))
        out.att_failed.append(attempt_failed[attempt])
        if attempt_failed[attempt]:
            failed_attempts.append(attempt)
    return failed_attempts


def _work_seconds(
    ctx: _Context, template: JobTemplate, z: float, build_factor: dict[int, float], effective: int
) -> int:
    """Duration of a non-test job's work step, with any duration step its commit contains."""
    medians = {"lint": 45.0, "build": ctx.build_median_s, "e2e": 700.0, "release": 420.0, "publish": 70.0}
    seconds = medians[template.kind] * float(np.exp(0.12 * z)) * _OS_SLOWDOWN[template.runner_os] ** 0.5
    if template.kind == "build":
        for position, factor in build_factor.items():
            if effective >= position:
                seconds *= factor
    return int(seconds)
