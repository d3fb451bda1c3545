"""Ground truth injected into the simulated organisation, chosen before anything runs.

Organisation-wide: one infrastructure outage (a window on one day in which Linux test jobs cannot
reach their database service), a CI volume spike (a bot re-pushing all day), a runner change (lint
and build moved to macOS for several days) and two or three duration steps. Per repository: flaky
tests, broken tests between a breaking and a fixing commit, and the natural noise of pull
requests (a commit that breaks a test or the linter until the next push).

Every change is anchored at a commit pushed straight to main, so "the commit contains the change"
is exactly "its effective position is >= the anchor's position" (see sim_plan).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from observability_assets.demo.sim_plan import CI, DAY_S, RepoPlan
from observability_assets.demo.sim_tests import TestCatalogue

VOLUME_FACTOR = 6
MIN_FLAKY_PROBABILITY, MAX_FLAKY_PROBABILITY = 0.05, 0.40
OUTAGE_FAILURE_PROBABILITY = 0.95  # per test in an affected job
OUTAGE_DEATH_PROBABILITY = 0.3  # affected job dies before its tests run
MACOS_LABEL = "macos-latest"


@dataclass(frozen=True)
class Outage:
    day: int
    start_s: int
    end_s: int


@dataclass(frozen=True)
class VolumeSpike:
    repo: str  # full name
    day: int
    factor: int = VOLUME_FACTOR


@dataclass(frozen=True)
class RunnerChange:
    repo: str
    first_day: int
    last_day: int  # inclusive
    jobs: tuple[str, ...] = ("lint", "build")


@dataclass(frozen=True)
class DurationStepPlan:
    repo: str
    kind: str  # "test" or "job"
    target_day: int
    factor: float


@dataclass(frozen=True)
class OrgFaults:
    outage: Outage | None = None
    volume_spike: VolumeSpike | None = None
    runner_change: RunnerChange | None = None
    duration_steps: tuple[DurationStepPlan, ...] = ()


@dataclass(frozen=True)
class BrokenTest:
    test: int
    start_position: int
    fix_position: int | None  # None: still broken at the end of the window


@dataclass(frozen=True)
class DurationStep:
    kind: str  # "test" or "job"
    position: int
    factor: float
    test: int | None = None
    workflow: str = CI
    job_name: str | None = None


@dataclass(frozen=True)
class RepoFaults:
    flaky: dict[int, float]  # test index -> failure probability per execution
    broken: tuple[BrokenTest, ...] = ()
    commit_failures: dict[int, tuple[int, ...]] = field(
        default_factory=dict
    )  # commit index -> tests it breaks
    lint_failures: frozenset[int] = frozenset()  # commit indices
    duration_steps: tuple[DurationStep, ...] = ()


def plan_org_faults(repos: list[str], start_s: int, days: int, rng: np.random.Generator) -> OrgFaults:
    """Where the organisation-wide faults go; they avoid each other's days."""
    weekday = [((start_s + d * DAY_S) // DAY_S + 3) % 7 < 5 for d in range(days)]
    taken: set[int] = set()

    def pick(lo: int, hi: int) -> int | None:
        days_ok = [d for d in range(max(lo, 0), min(hi, days)) if d not in taken]
        preferred = [d for d in days_ok if weekday[d]] or days_ok
        if not preferred:
            return None
        day = int(preferred[int(rng.integers(len(preferred)))])
        taken.add(day)
        return day

    outage = None
    if days >= 3 and (day := pick(max(1, days // 2), days - 1)) is not None:
        start = start_s + day * DAY_S + int(rng.integers(9, 13)) * 3600
        outage = Outage(day, start, start + int(rng.integers(3, 7)) * 3600)

    spike = None
    if days >= 5 and (day := pick(1, days // 2)) is not None:
        spike = VolumeSpike(repos[int(rng.integers(len(repos)))], day)

    change = None
    if days >= 8:
        length = int(rng.integers(3, 6))
        candidates = [d for d in range(days // 3, days - length) if not taken & set(range(d, d + length))]
        if candidates:
            first = candidates[int(rng.integers(len(candidates)))]
            others = [r for r in repos if spike is None or r != spike.repo] or repos
            change = RunnerChange(others[int(rng.integers(len(others)))], first, first + length - 1)

    steps: list[DurationStepPlan] = []
    if days >= 4:
        count = int(rng.integers(2, 4))
        order = [repos[int(i)] for i in rng.permutation(len(repos))]
        for n in range(count):
            kind = ("test", "job")[n % 2] if n < 2 else ("test", "job")[int(rng.integers(2))]
            target = int(rng.integers(int(days * 0.3), max(int(days * 0.7), int(days * 0.3) + 1)))
            steps.append(
                DurationStepPlan(order[n % len(order)], kind, target, round(float(rng.uniform(1.5, 3.0)), 2))
            )
    return OrgFaults(outage, spike, change, tuple(steps))


def plan_repo_faults(
    *,
    full_name: str,
    repo_index: int,
    catalogue: TestCatalogue,
    plan: RepoPlan,
    org: OrgFaults,
    start_s: int,
    days: int,
    inject: bool,
    rng: np.random.Generator,
) -> RepoFaults:
    commit_failures, lint_failures = _pull_request_noise(catalogue, plan, rng)
    if not inject:
        return RepoFaults({}, commit_failures=commit_failures, lint_failures=lint_failures)

    runnable = [int(i) for i in catalogue.runnable()]
    # A third of the repositories get an awkward name among their flaky tests, so id schemes and
    # parsers meet quotes and duplicate names where it matters.
    preferred = {0: "quoted_param", 1: "duplicate_a"}.get(repo_index % 3)
    flaky_tests: list[int] = [catalogue.awkward[preferred]] if preferred else []
    count = int(rng.integers(2, 5))
    others = [i for i in runnable if i not in flaky_tests]
    flaky_tests += [int(i) for i in rng.choice(others, size=count - len(flaky_tests), replace=False)]
    flaky = dict(zip(flaky_tests, _flaky_probabilities(len(flaky_tests), rng), strict=True))

    direct = _direct_main_commits(plan)
    broken: list[BrokenTest] = []
    candidates = [i for i in runnable if i not in flaky]
    # The first breakage is fixed one to four days later; a second one lands near the end of the
    # window and is still broken when it closes.
    windows = [(1, max(2, int(days * 0.6)), True), (max(1, days - 3), days, False)]
    count = int(rng.integers(1, 3))
    for test, (lo, hi, fixed) in zip(
        rng.choice(candidates, size=count, replace=False), windows[:count], strict=True
    ):
        starts = [(at, pos) for at, pos in direct if start_s + lo * DAY_S <= at < start_s + hi * DAY_S]
        if not starts:
            continue
        start_at, start_pos = starts[int(rng.integers(len(starts)))]
        fixes = [pos for at, pos in direct if start_at + DAY_S <= at <= start_at + 4 * DAY_S] if fixed else []
        fix = fixes[int(rng.integers(len(fixes)))] if fixes else None
        broken.append(BrokenTest(int(test), start_pos, fix))

    steps: list[DurationStep] = []
    used = set(flaky) | {b.test for b in broken}
    for step in org.duration_steps:
        if step.repo != full_name:
            continue
        after = [pos for at, pos in direct if at >= start_s + step.target_day * DAY_S + 12 * 3600]
        if not after:
            continue
        if step.kind == "test":
            # A test long enough that the step shows in its timings.
            choices = sorted(
                (i for i in runnable if i not in used), key=lambda i: -catalogue.base_duration_s[i]
            )
            test = choices[int(rng.integers(min(5, len(choices))))]
            used.add(test)
            steps.append(DurationStep("test", after[0], step.factor, test=test))
        else:
            steps.append(DurationStep("job", after[0], step.factor, job_name="build"))
    return RepoFaults(flaky, tuple(broken), commit_failures, lint_failures, tuple(steps))


def _flaky_probabilities(count: int, rng: np.random.Generator) -> list[float]:
    """Per-execution failure probabilities in [5%, 40%], log-uniform (most fail now and then).

    Redrawn until a test job still passes its flaky tests at least 70% of the time: a suite so
    flaky that nothing is ever green would not be lived with.
    """
    while True:
        p = np.exp(rng.uniform(np.log(MIN_FLAKY_PROBABILITY), np.log(MAX_FLAKY_PROBABILITY), count)).round(3)
        if np.prod(1 - p) >= 0.7:
            return [float(x) for x in p]


def _direct_main_commits(plan: RepoPlan) -> list[tuple[int, int]]:
    """(committed at, main position) of commits pushed straight to main, by position."""
    c = plan.commits
    return [(c.at[i], c.main_position[i]) for i in plan.main if c.direct[i] and c.main_position[i] > 0]


def _pull_request_noise(
    catalogue: TestCatalogue, plan: RepoPlan, rng: np.random.Generator
) -> tuple[dict[int, tuple[int, ...]], frozenset[int]]:
    """Pull-request commits that break a test or the linter; the next push repairs them."""
    c = plan.commits
    runnable = catalogue.runnable()
    eligible = [
        i for i in range(len(c)) if c.main_position[i] < 0 and c.pr_number[i] and i not in plan.bot_commits
    ]
    draws = rng.random((len(eligible), 2))
    failures: dict[int, tuple[int, ...]] = {}
    lint: set[int] = set()
    for commit, (u_test, u_lint) in zip(eligible, draws, strict=True):
        if u_test < 0.05:
            tests = rng.choice(runnable, size=int(rng.integers(1, 3)), replace=False)
            failures[commit] = tuple(sorted(int(t) for t in tests))
        if u_lint < 0.03:
            lint.add(commit)
    return failures, frozenset(lint)
