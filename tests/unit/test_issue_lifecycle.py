"""When a finding is over (core.issue_lifecycle): table-driven."""

from __future__ import annotations

from datetime import datetime

import pytest

from observability_assets.core.issue_lifecycle import current_level, event_over, flaky_over, regression_over


@pytest.mark.parametrize(
    ("status", "over"),
    [
        ("flaky", None),
        ("quarantined", None),
        ("stable", "no longer flagged flaky (status stable)"),
        ("broken", "no longer flagged flaky (status broken)"),
        (None, "no longer in the flaky-score window (not run recently): no longer flagged"),
    ],
)
def test_a_flaky_test_is_over_when_its_flag_clears(status, over):
    assert flaky_over(status) == over


@pytest.mark.parametrize(
    ("before", "after", "level", "bigger_is_better", "over"),
    [
        # Twice as slow and still twice as slow: persists, however long ago the change was.
        (1.0, 2.0, 2.0, False, False),
        (1.0, 2.0, 1.15, False, False),  # 15 % above the old level: not back yet
        (1.0, 2.0, 1.05, False, True),  # within 10 %
        (1.0, 2.0, 0.8, False, True),  # better than before
        (100.0, 50.0, 52.0, True, False),  # throughput halved and stays low
        (100.0, 50.0, 95.0, True, True),
        (1.0, 2.0, None, False, False),  # too few points since the change: no verdict
        (0.0, 2.0, 0.0, False, False),  # no old level to be back to
    ],
)
def test_a_regression_is_over_only_back_within_tolerance_of_its_old_level(
    before, after, level, bigger_is_better, over
):
    assert (regression_over(before, after, level, bigger_is_better, 0.10) is not None) == over


def test_the_reason_names_the_levels():
    assert regression_over(2.0, 4.0, 2.1, False, 0.10) == (
        "back within 10% of its old level: now 2.1, was 2 before and 4 after the change"
    )


def test_the_current_level_is_the_median_of_the_newest_points():
    assert current_level([9.0, 1.0, 2.0, 3.0, 100.0, 2.0, 2.5], points=6) == 2.25
    assert current_level([1.0, 2.0], points=6) is None


@pytest.mark.parametrize(
    ("last_seen", "over"),
    [
        (datetime(2026, 11, 6), True),  # 8 days before the data ends
        (datetime(2026, 11, 7), False),  # exactly 7: not yet
        (datetime(2026, 11, 13), False),
    ],
)
def test_an_event_is_over_after_clean_days_of_data(last_seen, over):
    assert (event_over(last_seen, datetime(2026, 11, 14), 7) is not None) == over
