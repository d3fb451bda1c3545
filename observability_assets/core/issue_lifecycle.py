"""When a finding is over: the rules that open, keep and close Vigil's issues, as pure functions.

Each kind of finding ends its own way, and none of them ends merely because nobody saw it again:

- a flaky test is a state: its issue stays open while `marts.flaky_scores` flags the test
  (`flaky` or `quarantined`) and is over when the flag clears;
- a performance regression is a level: a step change persists without being "seen again", so it
  is over only when the series is back within tolerance of its old level, or when a person
  accepts the new level (`vigil baselines update --accept-regression`, or the issue label
  `vigil:accepted`);
- a cost anomaly is an event on a day: it is over once `clean_days` of data have passed without
  another anomalous day of the same scope.

The sensor applies the same rules to a finding it sees for the first time, so a finding already
over after a backfill is recorded as resolved and never opened.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import datetime, timedelta

FLAGGED_STATUSES = ("flaky", "quarantined")
ACCEPTED_LABEL = "vigil:accepted"
# Points of the newest stretch of a series that measure its current level.
LEVEL_POINTS = 6


def flaky_over(status: str | None) -> str | None:
    """Why a flaky-test finding is over (None while the test is flagged).

    `status` is the test's current status in marts.flaky_scores (None: not in the window at all,
    so not flagged any more either).
    """
    if status in FLAGGED_STATUSES:
        return None
    if status is None:
        return "no longer in the flaky-score window (not run recently): no longer flagged"
    return f"no longer flagged flaky (status {status})"


def current_level(values: Sequence[float], points: int = LEVEL_POINTS) -> float | None:
    """The series' current level: the median of its newest `points` values (None: too few yet)."""
    if len(values) < points:
        return None
    return statistics.median(values[-points:])


def regression_over(
    before: float, after: float, level: float | None, bigger_is_better: bool, tolerance: float
) -> str | None:
    """Why a regression is over (None while the new level persists or the evidence is too thin).

    Back within tolerance means the remaining change from the old level is smaller than
    `tolerance` (relative, the detector's own `min_relative_change`): less than what Vigil would
    call a regression in the first place. A series that got better than its old level is back too.
    """
    if level is None or before == 0:
        return None
    remaining = (before - level) / abs(before) if bigger_is_better else (level - before) / abs(before)
    if remaining < tolerance:
        return (
            f"back within {tolerance:.0%} of its old level: now {level:,.4g}, "
            f"was {before:,.4g} before and {after:,.4g} after the change"
        )
    return None


def event_over(last_seen_at: datetime, as_of: datetime, clean_days: int) -> str | None:
    """Why a one-day event (a cost anomaly) is over: `clean_days` of data without it since."""
    if last_seen_at < as_of - timedelta(days=clean_days):
        return (
            f"last seen {last_seen_at:%Y-%m-%d}, {clean_days} clean days of data since "
            f"(data up to {as_of:%Y-%m-%d})"
        )
    return None
