"""Flaky or broken: the decision per test and day, from counts the SQL layer makes.

The counting happens in SQL (`staging.test_commit_outcomes`, then one query over the sliding
window, see `derived.flaky_scores`); what is left here is the part SQL is clumsy at: a state that carries from one day to the
next (hysteresis) and the status rules, as small pure functions.

Signals over the window, per test (infrastructure failures already left out):

* **flaky commits**: commits on which the test both passed and failed — a re-run attempt, a
  rerun inside one report, or a pull-request and a default-branch run of the same SHA. The code
  was the same, so the outcome was not decided by it.
* **isolated failures**: default-branch commits on which the test only failed, between two
  default-branch commits on which it passed (a pass→fail→pass transition). A commit that breaks
  a test is followed by more failing commits until the fix, so a lone failure between passes
  points at chance rather than code.
* **failure rate**: failures per execution. The *score* is the part of it that is
  non-deterministic: failures on flaky commits and isolated failures, per execution counted.
* **breaks and recoveries**: in the test's own sequence of default-branch commits, the steps from
  a passing commit to a failing one (breaks) and back (recoveries). Under the hypothesis that the
  code alone decides the outcome, a step between two builds breaks the test with a probability of
  at most `break_rate` (someone's change broke it) and a failing build is fixed by the very next
  one with a probability of at most `fix_rate`. `p_deterministic` is the joint binomial tail of
  the breaks and recoveries seen under that hypothesis: how unlikely the observed alternation is
  if the test were deterministic. It counts builds, not days or executions, so it judges a test
  run once a week by the same rule as one run fifty times a day: five isolated failures in
  nineteen nightly runs give about 4e-9, one failure in nineteen about 0.08, a test broken from a
  commit on (one break, no recovery) about 0.1.

The window is `window_days` long; a test that ran fewer than `min_window_runs` times in it (a
nightly or weekly suite) is judged over up to `lookback_days` instead, so rarely run tests bring
as many builds as the evidence needs. That count only chooses how far back to look: whether to
flag is decided by the evidence.

A test is **broken**, not flaky, when it fails deterministically from a commit on: its latest
default-branch commits all failed, `broken_min_failures` executions or more (reruns and the
other jobs of the matrix included) without a single pass on them. A flaky test failing 40 % of
the time does that about once in 250 tries; a broken one does it from its first commit built in
three jobs with reruns, or after two or three commits otherwise.

Flagging has hysteresis, so a test does not flap between flaky and stable: it is flagged when the
score reaches `flag_score` and the evidence rules out "deterministic" — at least `min_evidence`
commits on which the same code both passed and failed, or `p_deterministic` at most
`significance` — and cleared only when the score has fallen below the lower `clear_score`
*and* the test has run `clear_clean_runs` times without failing since its last failure. A flagged
test whose score has reached `quarantine_score` during the episode is quarantined (its CI may skip
it or make it non-blocking) until it clears.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date

STABLE, FLAKY, BROKEN, QUARANTINED = "stable", "flaky", "broken", "quarantined"
STATUSES = (STABLE, FLAKY, BROKEN, QUARANTINED)
FLAGGED_STATUSES = (FLAKY, QUARANTINED)
FLAGGED_EVENT, CLEARED_EVENT = "flagged", "cleared"


@dataclass(frozen=True)
class FlakyPolicy:
    """Thresholds of the decision; `docs/quality.md` reports how the defaults score."""

    window_days: int = 14
    lookback_days: int = 84  # how far back a test with few runs in the window is judged (never < window)
    min_window_runs: int = 20  # fewer executions than this in the window: look back further
    min_evidence: int = 2  # commits that both passed and failed: proof on their own
    significance: float = 1e-3  # flag when p_deterministic is at most this
    break_rate: float = 0.01  # deterministic: chance a step between two builds breaks the test
    fix_rate: float = 0.5  # deterministic: chance a failing build is fixed by the next one
    flag_score: float = 0.01
    clear_score: float = 0.005
    clear_clean_runs: int = 30
    quarantine_score: float = 0.05
    broken_min_commits: int = 1
    broken_min_failures: int = 6

    def __post_init__(self) -> None:
        if self.window_days < 1:
            raise ValueError("window_days must be at least 1")
        if not 0 <= self.clear_score <= self.flag_score <= 1:
            raise ValueError("need 0 <= clear_score <= flag_score <= 1 (hysteresis)")
        if self.lookback_days < 1 or self.min_window_runs < 0:
            raise ValueError("need lookback_days >= 1 and min_window_runs >= 0")
        if self.min_evidence < 1 or self.clear_clean_runs < 0:
            raise ValueError("min_evidence must be >= 1, clear_clean_runs >= 0")
        if not 0 < self.significance < 1:
            raise ValueError("significance must be between 0 and 1 (exclusive)")
        if not (0 < self.break_rate < 1 and 0 < self.fix_rate < 1):
            raise ValueError("break_rate and fix_rate must be between 0 and 1 (exclusive)")
        if self.broken_min_commits < 1 or self.broken_min_failures < 1:
            raise ValueError("broken_min_commits and broken_min_failures must be >= 1")


@dataclass(frozen=True)
class WindowSignals:
    """What the window query counted for one test (see `derived.flaky_scores.WINDOW_SQL`)."""

    runs: int  # executions counted, reruns included
    failures: int
    flaky_commits: int  # passed and failed on the same commit
    isolated_failures: int  # default-branch commits failing alone between passing ones
    nondeterministic_failures: int  # failures on those commits
    clean_runs: int  # executions on commits built after the last failure (none failed)
    broken_commits: int = 0  # trailing default-branch commits that only failed
    broken_failures: int = 0  # failures on them
    pass_steps: int = 0  # default-branch commits without a failure that have a next one
    breaks: int = 0  # of those, followed by a commit with a failure
    fail_steps: int = 0  # default-branch commits with a failure that have a next one
    recoveries: int = 0  # of those, followed by a commit without one


@dataclass(frozen=True)
class FlakyState:
    """What carries from one day's decision to the next."""

    flagged: bool = False
    quarantined: bool = False
    flagged_since: date | None = None
    first_flagged_on: date | None = None
    last_cleared_on: date | None = None


@dataclass(frozen=True)
class Decision:
    state: FlakyState
    status: str
    score: float
    event: str | None  # FLAGGED_EVENT or CLEARED_EVENT on the day the flag changes, else None
    p_deterministic: float = 1.0


def score(signals: WindowSignals) -> float:
    """Share of the window's executions that failed without the code being at fault."""
    if signals.runs <= 0:
        return 0.0
    return min(1.0, signals.nondeterministic_failures / signals.runs)


def evidence(signals: WindowSignals) -> int:
    """Commits that show non-determinism: flaky commits plus isolated default-branch failures."""
    return signals.flaky_commits + signals.isolated_failures


def binomial_tail(successes: int, trials: int, probability: float) -> float:
    """P(X >= successes) for X ~ Binomial(trials, probability), exactly."""
    if successes <= 0:
        return 1.0
    if successes > trials:
        return 0.0

    def pmf(k: int) -> float:
        return math.comb(trials, k) * probability**k * (1.0 - probability) ** (trials - k)

    # Sum the shorter side: the upper tail is tiny exactly when the evidence matters.
    if successes > trials * probability:
        return min(1.0, sum(pmf(k) for k in range(successes, trials + 1)))
    return max(0.0, 1.0 - sum(pmf(k) for k in range(successes)))


def p_deterministic(signals: WindowSignals, policy: FlakyPolicy) -> float:
    """How likely the breaks and recoveries seen are if the code alone decided the outcome.

    Breaks and recoveries are counted as independent under that hypothesis (a change breaks the
    test; a later change fixes it), so the joint tail is the product of the two binomial tails.
    """
    return binomial_tail(signals.breaks, signals.pass_steps, policy.break_rate) * binomial_tail(
        signals.recoveries, signals.fail_steps, policy.fix_rate
    )


def is_broken(signals: WindowSignals, policy: FlakyPolicy) -> bool:
    """Fails deterministically from a commit on (the latest default-branch commits only failed)."""
    return (
        signals.broken_commits >= policy.broken_min_commits
        and signals.broken_failures >= policy.broken_min_failures
    )


def should_flag(signals: WindowSignals, policy: FlakyPolicy) -> bool:
    """Enough non-deterministic failures, and evidence that rules out a deterministic test."""
    if score(signals) < policy.flag_score:
        return False
    return (
        signals.flaky_commits >= policy.min_evidence
        or p_deterministic(signals, policy) <= policy.significance
    )


def should_clear(signals: WindowSignals, policy: FlakyPolicy) -> bool:
    return score(signals) < policy.clear_score and signals.clean_runs >= policy.clear_clean_runs


def decide(state: FlakyState, signals: WindowSignals, day: date, policy: FlakyPolicy) -> Decision:
    """Carry `state` (the decision of the day before) through `day`'s window signals."""
    value = score(signals)
    event = None
    if not state.flagged and should_flag(signals, policy):
        state = replace(
            state, flagged=True, flagged_since=day, first_flagged_on=state.first_flagged_on or day
        )
        event = FLAGGED_EVENT
    elif state.flagged and should_clear(signals, policy):
        state = replace(state, flagged=False, quarantined=False, flagged_since=None, last_cleared_on=day)
        event = CLEARED_EVENT
    if state.flagged and not state.quarantined and value >= policy.quarantine_score:
        state = replace(state, quarantined=True)
    return Decision(state, status_of(state, signals, policy), value, event, p_deterministic(signals, policy))


def status_of(state: FlakyState, signals: WindowSignals, policy: FlakyPolicy) -> str:
    """broken wins over a flag: a test failing on every commit needs a fix, not a quarantine."""
    if is_broken(signals, policy):
        return BROKEN
    if state.quarantined:
        return QUARANTINED
    if state.flagged:
        return FLAKY
    return STABLE
