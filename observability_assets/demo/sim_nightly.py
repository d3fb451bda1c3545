"""Scheduled-only test suites: end-to-end tests only the Nightly workflow runs, some only on Sundays.

Real teams keep their slow suites out of pull-request CI: a nightly schedule runs them once a day
on the tip of main, and a weekly one (a second cron line, Sundays) runs the slowest. Nobody re-runs
a failed schedule at 02:00, and these suites have no retries, so a flaky test there shows as a
lone failure between passing nights — never as a pass and a fail on one commit.

Each repository whose runner does not retry failing tests (all but Maven Surefire, whose
`rerunFailingTestsCount` would retry them) gets `NIGHTLY_TESTS` nightly and `WEEKLY_TESTS` weekly
test cases appended to its catalogue. Outside their schedule they are reported as skipped. Among
them: flaky tests failing with a probability of `FLAKY_PROBABILITY` per run, and tests broken from
a commit on main until the end of the history. The labels go beside the other flaky and broken
tests (`Organisation.labels()`), with `schedule` saying which suite they belong to.

Own random streams (keyed by seed, "scheduled-suites" and the repository), so the other features'
draws do not move.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import numpy as np

from observability_assets.demo.sim_faults import OUTAGE_FAILURE_PROBABILITY
from observability_assets.demo.sim_plan import DAY_S, NIGHTLY, RepoPlan
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

NIGHTLY_SCHEDULE, WEEKLY_SCHEDULE = "nightly", "weekly"
NIGHTLY_TESTS, WEEKLY_TESTS = 10, 10
# (flaky, broken) tests per suite and repository; the rest are stable.
FAULTS = {NIGHTLY_SCHEDULE: (4, 1), WEEKLY_SCHEDULE: (6, 1)}
FLAKY_PROBABILITY = (0.05, 0.20)
SUNDAY = 6  # weekday of the weekly run (0 = Monday)
_STREAM = 0x5C4ED


@dataclass(frozen=True)
class ScheduledTest:
    test: int  # index in the extended catalogue
    schedule: str  # nightly or weekly
    failure_probability: float  # 0 for stable and broken tests
    start_position: int | None = None  # broken from this main position on (fix: never)
    fix_position: int | None = None


class ScheduledSuite:
    """The scheduled tests of one repository, their catalogue entries and their outcomes."""

    def __init__(
        self, catalogue: TestCatalogue, tests: tuple[ScheduledTest, ...], rng: np.random.Generator
    ) -> None:
        self.catalogue = catalogue  # the repository's catalogue with the scheduled tests appended
        self.tests = tests
        self._rng = rng  # outcome draws, consumed in the (deterministic) order attempts run

    @property
    def flaky(self) -> tuple[ScheduledTest, ...]:
        return tuple(t for t in self.tests if t.failure_probability > 0)

    @property
    def broken(self) -> tuple[ScheduledTest, ...]:
        return tuple(t for t in self.tests if t.start_position is not None)

    def append_outcomes(
        self,
        reason: np.ndarray,
        fails: np.ndarray,
        times: np.ndarray,
        *,
        workflows: list[str],
        created: np.ndarray,
        effective: np.ndarray,
        outage: np.ndarray,
        os_factor: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The base catalogue's outcome columns for some test jobs, with the scheduled tests' added."""
        jobs, n = len(workflows), len(self.tests)
        draws = self._rng.random((jobs, n))
        noise = np.exp(0.15 * self._rng.standard_normal((jobs, n)))
        nightly = np.asarray([w == NIGHTLY for w in workflows], dtype=bool)
        sunday = (np.asarray(created, dtype=np.int64) // DAY_S + 3) % 7 == SUNDAY
        runs = np.empty((jobs, n), dtype=bool)
        probability = np.empty((jobs, n))
        cause = np.empty((jobs, n), dtype=np.int8)
        for column, test in enumerate(self.tests):
            runs[:, column] = nightly & (sunday if test.schedule == WEEKLY_SCHEDULE else True)
            probability[:, column] = test.failure_probability
            cause[:, column] = FLAKY
            if test.start_position is not None:
                broken = effective >= test.start_position
                probability[broken, column] = 1.0
                cause[broken, column] = ASSERT
        probability[outage] = np.maximum(probability[outage], OUTAGE_FAILURE_PROBABILITY)
        cause[outage] = INFRA
        failed = runs & (draws < probability)
        # No retries: a failing case fails every execution the runner gives it (one, off Surefire).
        new_fails = np.where(failed, self.catalogue.max_executions, 0).astype(fails.dtype)
        new_reason = np.where(~runs, SKIP, np.where(failed, cause, PASS)).astype(reason.dtype)
        base = self.catalogue.base_duration_s[-n:]
        new_times = np.where(runs, base[None, :] * os_factor[:, None] * noise, 0.0).round(3)
        return (
            np.concatenate([reason, new_reason], axis=1),
            np.concatenate([fails, new_fails], axis=1),
            np.concatenate([times, new_times], axis=1),
        )


def plan_scheduled_suite(
    *, seed: int, repo_name: str, catalogue: TestCatalogue, plan: RepoPlan, start_s: int, days: int
) -> ScheduledSuite | None:
    """The repository's scheduled suites (None where its runner retries failing tests)."""
    if catalogue.dialect == SUREFIRE:
        return None
    key = zlib.crc32(repo_name.encode())
    rng = np.random.default_rng([seed, _STREAM, key])
    cases = [
        _case(catalogue.dialect, repo_name, schedule, i)
        for schedule, count in ((NIGHTLY_SCHEDULE, NIGHTLY_TESTS), (WEEKLY_SCHEDULE, WEEKLY_TESTS))
        for i in range(count)
    ]
    first = len(catalogue)
    tests: list[ScheduledTest] = []
    for schedule in (NIGHTLY_SCHEDULE, WEEKLY_SCHEDULE):
        indices = [first + i for i, c in enumerate(cases) if c[0] == schedule]
        flaky, broken = FAULTS[schedule]
        order = rng.permutation(len(indices))
        for rank, i in enumerate(order.tolist()):
            test = indices[i]
            if rank < flaky:
                tests.append(ScheduledTest(test, schedule, float(rng.uniform(*FLAKY_PROBABILITY))))
            elif rank < flaky + broken:
                tests.append(ScheduledTest(test, schedule, 0.0, _breaking_position(plan, start_s, days, rng)))
            else:
                tests.append(ScheduledTest(test, schedule, 0.0))
    tests.sort(key=lambda t: t.test)
    extended = _extend(catalogue, cases, rng)
    return ScheduledSuite(extended, tuple(tests), np.random.default_rng([seed, _STREAM + 1, key]))


def _breaking_position(plan: RepoPlan, start_s: int, days: int, rng: np.random.Generator) -> int:
    """A main commit in the middle of the history: the test fails from there to the end."""
    at = np.asarray(plan.commits.at, dtype=np.int64)[plan.main]
    lo, hi = start_s + int(days * 0.35) * DAY_S, start_s + int(days * 0.75) * DAY_S
    candidates = np.flatnonzero((at >= lo) & (at < hi))
    if not len(candidates):
        return len(plan.main) - 1
    return int(candidates[int(rng.integers(len(candidates)))])


_JOURNEYS = ("checkout", "signup", "billing", "search", "export", "login", "upload", "refund", "invite",
             "archive")  # fmt: skip


def _case(dialect: str, repo_name: str, schedule: str, i: int) -> tuple[str, str, str, str | None, str, str]:
    """(schedule, classname, name, file, suite, report path) of one scheduled test."""
    journey = _JOURNEYS[i % len(_JOURNEYS)]
    if dialect == PYTEST:
        module = f"tests.{schedule}.test_{journey}_journey"
        return (schedule, module, f"test_{journey}_end_to_end", module.replace(".", "/") + ".py", "pytest",
                "test-results/junit.xml")  # fmt: skip
    if dialect == JEST:
        group = f"e2e/{schedule}/{journey.capitalize()}.e2e.test.ts"
        return (schedule, f"{journey.capitalize()} journey › {schedule}", f"completes the {journey} flow",
                None, group, "reports/jest-junit.xml")  # fmt: skip
    assert dialect == GO
    package = f"github.com/acme/{repo_name}/e2e/{schedule}"
    return (schedule, package, f"Test{schedule.capitalize()}{journey.capitalize()}Journey", None, package,
            "report.xml")  # fmt: skip


def _extend(
    catalogue: TestCatalogue,
    cases: list[tuple[str, str, str, str | None, str, str]],
    rng: np.random.Generator,
) -> TestCatalogue:
    n = len(cases)
    durations = np.exp(rng.normal(np.log(20.0), 0.6, n)).clip(2.0, 120.0).round(3)
    schedules = {len(catalogue) + i: c[0] for i, c in enumerate(cases)}
    return replace(
        catalogue,
        classname=catalogue.classname + tuple(c[1] for c in cases),
        name=catalogue.name + tuple(c[2] for c in cases),
        file=catalogue.file + tuple(c[3] for c in cases),
        line=catalogue.line + tuple(int(x) for x in rng.integers(8, 200, n)),
        suite=catalogue.suite + tuple(c[4] for c in cases),
        report_path=catalogue.report_path + tuple(c[5] for c in cases),
        base_duration_s=np.concatenate([catalogue.base_duration_s, durations]),
        always_skipped=np.concatenate([catalogue.always_skipped, np.zeros(n, dtype=bool)]),
        skipped_on_windows=np.concatenate([catalogue.skipped_on_windows, np.zeros(n, dtype=bool)]),
        schedule_only=schedules,
    )
