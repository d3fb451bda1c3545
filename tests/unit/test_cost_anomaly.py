"""Cost anomalies: same-weekday references, robust scores, minimum-impact thresholds, root causes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from observability_assets.core.cost_anomaly import (
    CostSettings,
    DayContext,
    expected_values,
    reference_offsets,
    root_cause,
    score_costs,
    spread_offsets,
)

WEEKS = 8
DAYS = 7 * WEEKS


def weekly(weekday_usd: float, weekend_usd: float, noise: float = 0.1, seed: int = 0) -> np.ndarray:
    """Spend with a working week: days 5 and 6 of every week are the weekend."""
    rng = np.random.default_rng(seed)
    base = np.array([weekday_usd] * 5 + [weekend_usd] * 2)
    return np.tile(base, WEEKS) * np.exp(rng.normal(0.0, noise, DAYS))


@pytest.mark.parametrize(
    ("day", "days", "offsets"),
    [
        (0, 28, [7, 14, 21]),  # no history: the next three same weekdays
        (10, 28, [-7, 7, 14]),  # one week behind, two borrowed ahead
        (21, 28, [-7, -14, -21]),  # enough history: behind only
        (40, 56, [-7, -14, -21, -28]),  # at most four weeks back
        (3, 5, []),  # nothing to compare with
    ],
)
def test_reference_offsets(day, days, offsets):
    assert reference_offsets(day, days, CostSettings()) == offsets


def test_spread_uses_every_day_of_the_lookback():
    assert spread_offsets(40, 56, CostSettings()) == [-k for k in range(1, 29)]
    assert len(spread_offsets(0, 56, CostSettings())) == 21  # warm-up: three weeks ahead


def test_weekly_rhythm_is_expected_not_anomalous():
    spend = weekly(20.0, 2.0)
    scores = score_costs(spend[None, :])
    assert not scores.is_anomaly.any()
    expected = scores.expected[0]
    assert expected[5 + 7 * 5] == pytest.approx(2.0, rel=0.2)  # a Saturday expects weekend spend
    assert expected[2 + 7 * 5] == pytest.approx(20.0, rel=0.2)


def test_weekday_spend_on_a_saturday_is_an_anomaly():
    spend = weekly(20.0, 2.0)
    saturday = 5 + 7 * 6
    spend[saturday] = 20.0
    scores = score_costs(spend[None, :])
    assert np.flatnonzero(scores.is_anomaly[0]).tolist() == [saturday]
    assert scores.impact_pct[0, saturday] > 500


def test_a_spike_on_the_second_day_of_history_is_found():
    """Warm-up: the second day has one day behind it; the weeks ahead fill its reference."""
    spend = weekly(20.0, 2.0)
    spend[1] *= 6
    scores = score_costs(spend[None, :])
    assert np.flatnonzero(scores.is_anomaly[0]).tolist() == [1]


def test_expected_actual_and_impact_in_usd_and_percent():
    spend = np.full(DAYS, 100.0)
    spend[DAYS - 1] = 150.0
    scores = score_costs(spend[None, :])
    assert scores.expected[0, -1] == 100.0
    assert scores.impact[0, -1] == 50.0
    assert scores.impact_pct[0, -1] == 50.0
    assert scores.is_anomaly[0, -1]  # a flat spend: the floor (10% of expected) is the spread


def test_new_spend_has_no_percentage_but_is_an_anomaly():
    spend = np.zeros(DAYS)
    spend[40:43] = 12.0  # jobs moved to a new, pricier runner type for three days
    scores = score_costs(spend[None, :])
    assert scores.is_anomaly[0, 40:43].all() and scores.is_anomaly[0].sum() == 3
    assert math.isnan(scores.impact_pct[0, 40])


@pytest.mark.parametrize(
    ("baseline", "day_spend", "flagged"),
    [
        (0.05, 0.5, False),  # 10x, but $0.45: a tiny scope does not alert
        (4.0, 5.5, False),  # +$1.50 is only +38%
        (4.0, 9.0, True),  # +$5, +125%
        (10.0, 2.0, False),  # decreases never alert
    ],
)
def test_minimum_impact_thresholds(baseline, day_spend, flagged):
    spend = np.full(DAYS, baseline) * np.exp(np.random.default_rng(1).normal(0.0, 0.02, DAYS))
    spend[-1] = day_spend
    assert bool(score_costs(spend[None, :]).is_anomaly[0, -1]) is flagged


def test_scopes_are_scored_independently():
    quiet, spiky = weekly(10.0, 1.0, seed=2), weekly(10.0, 1.0, seed=3)
    spiky[30] *= 5
    scores = score_costs(np.vstack([quiet, spiky]), np.vstack([quiet, spiky]) * 3)
    assert scores.is_anomaly.sum() == 1 and scores.is_anomaly[1, 30]
    assert scores.expected_jobs[1, 30] == pytest.approx(scores.expected[1, 30] * 3)


def test_expected_values_of_count_series():
    jobs = np.tile([10, 10, 10, 10, 10, 1, 1], WEEKS)
    assert expected_values(jobs[None, :])[0].tolist() == jobs.tolist()


def test_settings_are_validated():
    with pytest.raises(ValueError):
        CostSettings(min_reference=5)
    with pytest.raises(ValueError):
        CostSettings(min_impact_usd=-1)


@pytest.mark.parametrize(
    ("ctx", "runner", "expected"),
    [
        (
            DayContext(40.0, 6.0, 310, 52.0, "renovate/lockfile", 36.0, "renovate[bot]", ("build", "test")),
            "linux_2core",
            "volume: 310 jobs vs 52 expected (x6.0); top branch renovate/lockfile ($36.00, 90% of the day, "
            "mostly by renovate[bot])",
        ),
        (
            DayContext(12.0, 4.0, 20, 20.0, "main", 12.0, None, ("build",)),
            "linux_4core",
            "longer jobs: $0.600 per job vs $0.200 (x3.0); top branch main ($12.00, 100% of the day)",
        ),
        (
            DayContext(5.0, 0.0, 24, 0.0, "main", 5.0, "ada", ("build", "lint")),
            "macos",
            "new spend on macos: none on the reference days; jobs build, lint; top branch main ($5.00, "
            "100% of the day, mostly by ada)",
        ),
    ],
)
def test_root_cause(ctx, runner, expected):
    assert root_cause(ctx, runner) == expected
