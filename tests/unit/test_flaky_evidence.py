"""Flaky or not, at any run frequency: the window query (real DuckDB) and core.flaky's statistical rule.

Each case is a test's history as one letter per build on the default branch, oldest first:
`P` passed, `F` failed, one execution each, no retries. Builds are nightly (one a day) or weekly
(one every seven days), each on a new commit unless the case says the schedule ran twice on one
commit. The history goes into staging.test_commit_outcomes as the staging model writes it; the
window query and the day's decision then run exactly as marts.flaky_daily runs them.
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pytest

from observability_assets.core.flaky import (
    BROKEN,
    FLAKY,
    QUARANTINED,
    STABLE,
    FlakyPolicy,
    WindowSignals,
    binomial_tail,
    decide,
    p_deterministic,
)
from observability_assets.derived.flaky_scores import decide_day, window_signals

AS_OF = date(2026, 12, 6)
POLICY = FlakyPolicy()
FLAGGED = (FLAKY, QUARANTINED)


def _warehouse(history: str, every_days: int, same_commit_pairs: int = 0) -> duckdb.DuckDBPyConnection:
    """staging.test_commit_outcomes and staging.test_cases holding one test's history up to AS_OF."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA staging")
    con.execute(
        "CREATE TABLE staging.test_commit_outcomes (test_id VARCHAR, head_sha VARCHAR, on_default_branch BOOLEAN, "
        "partition_day DATE, executions BIGINT, passes BIGINT, last_run_id BIGINT, last_failed_run_id BIGINT)"
    )
    con.execute(
        "CREATE TABLE staging.test_cases (test_id VARCHAR, partition_day DATE, repo VARCHAR, classname VARCHAR, "
        "test_name VARCHAR, file VARCHAR)"
    )
    n = len(history)
    for build, outcome in enumerate(history):
        day = AS_OF - timedelta(days=(n - 1 - build) * every_days)
        # The first `same_commit_pairs` pairs of builds ran on one commit (nothing merged in between).
        commit = build // 2 if build < 2 * same_commit_pairs else build - same_commit_pairs
        run_id = 1000 + build
        passed = outcome == "P"
        con.execute(
            "INSERT INTO staging.test_commit_outcomes VALUES ('t1', ?, true, ?, 1, ?, ?, ?)",
            [f"sha{commit:03d}", day, int(passed), run_id, None if passed else run_id],
        )
        con.execute(
            "INSERT INTO staging.test_cases VALUES ('t1', ?, 'acme/web', 'e2e', 'checkout', NULL)", [day]
        )
    # Rows of one commit across days are separate rows, as the staging model keeps them per day.
    return con


def _decide(
    history: str, every_days: int = 1, same_commit_pairs: int = 0
) -> tuple[WindowSignals, str, float]:
    con = _warehouse(history, every_days, same_commit_pairs)
    signals = window_signals(con, AS_OF, POLICY)
    rows, _ = decide_day(signals, {}, AS_OF, POLICY)
    (row,) = rows.to_pylist()
    window = WindowSignals(**{name: int(row[name]) for name in WindowSignals.__dataclass_fields__})
    return window, row["status"], row["p_deterministic"]


NIGHTLY_FLAKY = "PPFPPPPFPPPFPPFPPFP"  # 19 nightly runs, 5 isolated failures (about 1 night in 4)
P, F = "P", "F"

# (case, history, days between builds, pairs of builds on one unchanged commit, expected statuses)
CASES = [
    ("5 isolated failures in 19 nightly runs", NIGHTLY_FLAKY, 1, 0, FLAGGED),
    ("4 isolated failures in 12 weekly runs", "PPFPPFPPFPFP", 7, 0, FLAGGED),
    ("3 isolated failures in 40 nightly runs", P * 10 + F + P * 12 + F + P * 9 + F + P * 6, 1, 0, FLAGGED),
    ("2 isolated failures in 40 nightly runs", P * 10 + F + P * 20 + F + P * 8, 1, 0, (STABLE,)),
    ("1 failure in 19 nightly runs: not enough evidence", P * 9 + F + P * 9, 1, 0, (STABLE,)),
    ("6 failures in a row from a commit on: broken", P * 13 + F * 6, 1, 0, (BROKEN,)),
    ("6 weekly failures in a row from a commit on: broken", P * 6 + F * 6, 7, 0, (BROKEN,)),
    ("3 failures in a row from a commit on: not yet broken", P * 16 + F * 3, 1, 0, (STABLE,)),
    ("broken for 5 nights, then fixed", P * 7 + F * 5 + P * 7, 1, 0, (STABLE,)),
    ("two breakages fixed the next night in 60", P * 20 + "FP" + P * 20 + "FP" + P * 16, 1, 0, (STABLE,)),
    ("passed and failed on an unchanged commit, twice", "PFFP" + P * 15, 1, 2, FLAGGED),
    ("never failed", P * 19, 1, 0, (STABLE,)),
]


@pytest.mark.parametrize(("case", "history", "every_days", "same_commit_pairs", "expected"), CASES)
def test_the_evidence_decides_at_any_run_frequency(case, history, every_days, same_commit_pairs, expected):
    window, status, p_value = _decide(history, every_days, same_commit_pairs)
    assert status in expected, (case, window, p_value)


def test_the_nightly_example_counts_breaks_and_recoveries_build_by_build():
    window, status, p_value = _decide(NIGHTLY_FLAKY)
    assert len(NIGHTLY_FLAKY) == 19
    assert (window.runs, window.failures, window.isolated_failures) == (19, 5, 5)
    assert (window.pass_steps, window.breaks, window.fail_steps, window.recoveries) == (13, 5, 5, 5)
    # P(>= 5 breaks in 13 steps at 1 %) * P(>= 5 recoveries in 5 failing builds at 50 %)
    assert p_value == pytest.approx(binomial_tail(5, 13, 0.01) * 0.5**5)
    assert p_value < 1e-7 < POLICY.significance and status in FLAGGED


def test_a_weekly_test_is_judged_over_the_lookback_not_the_window():
    window, _, _ = _decide("PPFPPFPPFPFP", every_days=7)
    # 12 weekly builds span 78 days: all inside the 84-day lookback, only 2 inside 14 days.
    assert window.runs == 12 and window.failures == 4


def test_a_test_run_often_keeps_the_short_window():
    history = "P" * 40  # one build a day, but 40 executions would be the same with several a day
    con = _warehouse(history, 1)
    con.execute("UPDATE staging.test_commit_outcomes SET executions = 3, passes = 3")
    (row,) = window_signals(con, AS_OF, POLICY).to_pylist()
    assert row["runs"] == 3 * POLICY.window_days
    assert row["window_start"] == AS_OF - timedelta(days=POLICY.window_days - 1)


TAILS = [(0, 10, 0.3), (1, 17, 0.01), (5, 13, 0.01), (4, 76, 0.01), (5, 5, 0.5), (3, 200, 0.01)]


@pytest.mark.parametrize(("successes", "trials", "probability"), [*TAILS, (50, 100, 0.5), (11, 10, 0.5)])
def test_binomial_tail_is_exact(successes, trials, probability):
    from scipy.stats import binom

    assert binomial_tail(successes, trials, probability) == pytest.approx(
        binom.sf(successes - 1, trials, probability), rel=1e-9, abs=1e-300
    )


def test_deterministic_histories_are_not_evidence():
    broken = WindowSignals(runs=19, failures=6, flaky_commits=0, isolated_failures=0, nondeterministic_failures=0,
                           clean_runs=0, broken_commits=6, broken_failures=6, pass_steps=13, breaks=1,
                           fail_steps=5, recoveries=0)  # fmt: skip
    assert p_deterministic(broken, POLICY) == pytest.approx(binomial_tail(1, 13, 0.01))
    assert decide_status(broken) == BROKEN


def decide_status(window: WindowSignals) -> str:
    from observability_assets.core.flaky import FlakyState

    return decide(FlakyState(), window, AS_OF, POLICY).status
