"""Change points: the published TigerBeetle series (Apache Otava's test), filters, attribution."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from observability_assets.core.changepoints import (
    IMPROVEMENT,
    REGRESSION,
    DriftSettings,
    detect,
    detect_change_points,
)

TIGERBEETLE = json.loads((Path(__file__).parents[1] / "data" / "tigerbeetle_otava.json").read_text())


def lognormal(n: int, level: float, sigma: float, seed: int) -> np.ndarray:
    return level * np.exp(np.random.default_rng(seed).normal(0.0, sigma, n))


def step_series(n: int, at: int, factor: float, sigma: float = 0.15, seed: int = 0) -> np.ndarray:
    values = lognormal(n, 10.0, sigma, seed)
    values[at:] *= factor
    return values


# -- a real published series ---------------------------------------------------------------------


def test_tigerbeetle_defaults_agree_with_otavas_assertion():
    """Otava asserts [15, 71] on this series with its old defaults (p 0.01 and 0.05)."""
    found = detect(np.asarray(TIGERBEETLE["values"], dtype=float), bigger_is_better=True)
    assert [c.index for c in found] == TIGERBEETLE["otava_asserted"]["old_defaults_p0.01"]
    drop, rise = found
    assert drop.direction == REGRESSION and drop.change_pct == pytest.approx(-11.4, abs=0.2)
    assert rise.direction == IMPROVEMENT and rise.change_pct > 15


def test_tigerbeetle_without_magnitude_filter_finds_only_otavas_points():
    """With the magnitude filter off, every change point is one Otava also reports at p 0.001,
    the annotated shifts (15, 71, 95) are all found, and the lone outlier at 10 is not."""
    found = [
        c.index
        for c in detect(
            np.asarray(TIGERBEETLE["values"], dtype=float),
            bigger_is_better=True,
            settings=DriftSettings(min_relative_change=0.0),
        )
    ]
    otava = TIGERBEETLE["otava_asserted"]["magnitude0_p0.001"]
    assert set(TIGERBEETLE["annotated_changes"]) <= set(found)
    assert sum(i in otava for i in found) >= len(found) - 1  # 192 vs 194 is the one disagreement
    assert all(min(abs(i - j) for j in otava) <= 2 for i in found)
    assert 10 not in found and 11 not in found


# -- steps, noise and filters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factor", "at", "direction"),
    [(1.5, 60, REGRESSION), (3.0, 20, REGRESSION), (0.6, 80, IMPROVEMENT), (2.0, 94, REGRESSION)],
)
def test_a_step_is_found_at_its_first_point(factor, at, direction):
    found = detect(step_series(100, at, factor))
    assert [c.index for c in found] == [at]
    change = found[0]
    assert change.direction == direction
    assert change.change_pct == pytest.approx((factor - 1) * 100, rel=0.15)
    assert (change.points_before, change.points_after) == (at, 100 - at)
    assert change.p_value <= DriftSettings().max_p_value


def test_bigger_is_better_flips_the_direction():
    (change,) = detect(step_series(100, 50, 0.5), bigger_is_better=True)
    assert change.direction == REGRESSION


def test_stable_series_stay_quiet():
    """Two hundred series of pure noise, several noise levels: not one change point."""
    values = np.concatenate(
        [lognormal(120, 5.0, sigma, seed) for seed, sigma in enumerate([0.05, 0.15, 0.3] * 67)]
    )
    offsets = np.arange(0, len(values) + 1, 120)
    found = detect_change_points(values, offsets, np.zeros(len(offsets) - 1, dtype=bool))
    assert len(found) == 0


def test_min_relative_change_filters_small_steps():
    values = step_series(100, 50, 1.05, sigma=0.005)
    assert detect(values) == []
    assert [c.index for c in detect(values, settings=DriftSettings(min_relative_change=0.02))] == [50]


def test_min_points_each_side():
    values = step_series(100, 96, 3.0)
    assert detect(values) == []  # four points after the step: not yet a change
    assert [c.index for c in detect(values, settings=DriftSettings(min_points=4))] == [96]


def test_significance_filter():
    """A noisy series with a modest step: significant at 0.001 only with enough points."""
    values = step_series(30, 15, 1.25, sigma=0.3, seed=3)
    strict = detect(values, settings=DriftSettings(max_p_value=1e-9, penalty=1.0))
    loose = detect(values, settings=DriftSettings(max_p_value=0.5, penalty=1.0))
    assert strict == [] and len(loose) >= 1


def test_a_lone_spike_is_no_change():
    values = lognormal(100, 10.0, 0.1, 4)
    values[40] *= 20
    values[41] *= 0.05
    assert detect(values) == []


def test_transient_change_gives_two_change_points():
    values = lognormal(150, 10.0, 0.1, 5)
    values[50:90] *= 2.0
    found = detect(values)
    assert [(c.index, c.direction) for c in found] == [(50, REGRESSION), (90, IMPROVEMENT)]


def test_series_that_cannot_change():
    assert detect(np.full(50, 3.0)) == []  # constant
    assert detect(step_series(11, 6, 3.0)) == []  # shorter than two segments of min_points
    assert detect(np.array([])) == []


def test_non_positive_values_use_the_linear_scale():
    values = np.random.default_rng(6).normal(0.0, 1.0, 100)
    values[50:] += 8.0
    (change,) = detect(values, bigger_is_better=True)
    assert change.index == 50 and change.direction == IMPROVEMENT


# -- batches and attribution -----------------------------------------------------------------------


def test_batch_equals_one_series_at_a_time():
    series = [step_series(80, 40, 2.0, seed=1), lognormal(60, 3.0, 0.1, 2), step_series(120, 30, 0.5, seed=3)]
    values = np.concatenate(series)
    offsets = np.cumsum([0, *map(len, series)])
    bigger = np.array([False, False, True])
    batch = detect_change_points(values, offsets, bigger)
    one_by_one = [(i, c) for i, s in enumerate(series) for c in detect(s, bool(bigger[i]))]
    assert list(zip(batch.series.tolist(), batch.changes, strict=True)) == one_by_one
    assert batch.series.tolist() == [0, 2]


def test_change_moves_to_the_first_point_of_its_commit():
    """Three points per commit. The level moves at point 61, the second point of commit 20 (its
    first point measured the old level, say on a warm cache): the change is still commit 20's."""
    commits = np.repeat(np.arange(40), 3)
    values = lognormal(120, 10.0, 0.02, 7)
    values[61:] *= 2.0
    starts = np.r_[True, commits[1:] != commits[:-1]]
    offsets = np.array([0, 120])
    plain = detect_change_points(values, offsets, np.array([False]))
    snapped = detect_change_points(values, offsets, np.array([False]), commit_starts=starts)
    assert [c.index for c in plain.changes] == [61]
    assert [c.index for c in snapped.changes] == [60]


def test_settings_are_validated():
    with pytest.raises(ValueError):
        DriftSettings(min_points=1)
    with pytest.raises(ValueError):
        DriftSettings(max_p_value=0)
    with pytest.raises(ValueError):
        DriftSettings(search="dynp")
