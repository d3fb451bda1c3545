"""Change points in performance series: where a duration, latency or benchmark moved for good.

Two steps, after Hunter/Apache Otava ("Hunter: Using Change Point Detection to Hunt for
Performance Regressions", Fleming et al., ICPE 2023, https://doi.org/10.1145/3578244.3583719):

1. **Split.** Candidate change points come from ruptures' kernel change-point detection with the
   linear kernel (`ruptures.KernelCPD(kernel="linear")`: exact penalised least-squares
   segmentation, solved in C). Positive series are taken on a log scale, so a 2x slow-down weighs
   the same at 1 s and at 10 min, and divided by a robust noise estimate (the median absolute
   difference of consecutive points), so one penalty, `penalty x ln(n)`, fits every series.
   Lone spikes (more than 5 noise units from the median of a point and its two neighbours) are
   pulled to that median first: least squares would otherwise bend a boundary towards them.
   When points carry commits, a candidate inside one commit's points moves to its first point.
2. **Merge.** Hunter's merge step: while some candidate fails a filter, the weakest one is removed
   and its neighbours are re-tested against their new neighbours. The filters are the ones
   Chromium's perf dashboard and Otava apply against noise: at least `min_points` points on each
   side, Welch's t-test between the two adjacent segments below `max_p_value`, and a relative
   change of the segment medians of at least `min_relative_change`.

Why ruptures and not a library closer to Otava: apache-otava 0.8.0 pins numpy 2.2.0.* and
scipy < 1.17 and pulls BigQuery, Slack and Postgres clients; MongoDB's signal-processing-algorithms
(the E-divisive implementation Otava grew from) needs numpy < 2, which pandas 3 refuses. ruptures
needs only numpy and scipy, is maintained, and its linear-kernel solver is exact and fast (about
0.2 ms per 200-point series); docs/quality.md compares it with its Pelt and Binseg searches.

The batch entry point `detect_change_points` takes many series at once as one flat array with
start offsets (the way they come out of a sorted SQL query), so the per-series Python work stays
small next to the solver itself (bench/bench_drift.py holds it to 1.3x the bare solver).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import lazy_loader

# numpy loads on first use, not with the definitions (docs/architecture.md).
np = lazy_loader.load("numpy")

REGRESSION = "regression"
IMPROVEMENT = "improvement"
# median(|x[i+1] - x[i]|) of iid normal noise with standard deviation s is s * sqrt(2) * 0.6745.
_MAD_DIFF_TO_SIGMA = 1.0 / (math.sqrt(2.0) * 0.6744897501960817)
SPIKE_SIGMAS = 5.0
SEARCHES = ("kernel", "pelt", "binseg")


@dataclass(frozen=True)
class DriftSettings:
    """Filters against noise; defaults chosen on the simulator (docs/quality.md)."""

    min_points: int = 6  # on each side of a change
    min_relative_change: float = 0.10  # |after / before - 1| of the segment medians
    max_p_value: float = 0.001  # Welch's t-test between the adjacent segments
    penalty: float = 8.0  # per ln(n), on the noise-standardised series
    log_scale: bool = True  # positive series are segmented on log values
    # ruptures search: "kernel" (KernelCPD, linear kernel: exact, in C), "pelt" or "binseg" (l2
    # cost, pure Python; kept to compare quality and speed in docs/quality.md).
    search: str = "kernel"

    def __post_init__(self) -> None:
        if self.min_points < 2:
            raise ValueError("min_points must be at least 2 (a t-test needs two points a side)")
        if not 0 < self.max_p_value <= 1 or self.min_relative_change < 0 or self.penalty <= 0:
            raise ValueError("need 0 < max_p_value <= 1, min_relative_change >= 0 and penalty > 0")
        if self.search not in SEARCHES:
            raise ValueError(f"search must be one of {SEARCHES}")


@dataclass(frozen=True)
class ChangePoint:
    """One accepted change: `index` is the first point of the new level."""

    index: int
    before: float  # median of the segment before, in the series' own units
    after: float  # median of the segment after
    change_pct: float  # (after / before - 1) * 100; NaN when before is 0
    p_value: float
    points_before: int
    points_after: int
    direction: str  # regression or improvement


@dataclass(frozen=True)
class DetectedChanges:
    """Change points of many series, one array element per change, ordered by series then index."""

    series: np.ndarray  # position of the series in the batch
    changes: list[ChangePoint]

    def __len__(self) -> int:
        return len(self.changes)


def detect(
    values: np.ndarray, bigger_is_better: bool = False, settings: DriftSettings = DriftSettings()
) -> list[ChangePoint]:
    """Change points of one series (see the module docstring)."""
    values = np.asarray(values, dtype=np.float64)
    offsets = np.array([0, len(values)])
    return detect_change_points(values, offsets, np.array([bigger_is_better]), settings).changes


def detect_change_points(
    values: np.ndarray,
    offsets: np.ndarray,
    bigger_is_better: np.ndarray,
    settings: DriftSettings = DriftSettings(),
    commit_starts: np.ndarray | None = None,
) -> DetectedChanges:
    """Change points of every series `values[offsets[i]:offsets[i + 1]]`, points in time order.

    NaN values must be dropped beforehand. `bigger_is_better[i]` gives the series' direction
    (throughput benchmarks) versus smaller-is-better (durations, latencies). `commit_starts`, when
    given, marks the points whose commit differs from the previous point's: a code change cannot
    start halfway through one commit's points, so a candidate found there moves back to the first
    point of that commit (and is then attributed to it).
    """
    values = np.asarray(values, dtype=np.float64)
    offsets = np.asarray(offsets, dtype=np.int64)
    bigger = np.broadcast_to(np.asarray(bigger_is_better, dtype=bool), (len(offsets) - 1,))
    transformed = _transform(values, offsets, settings.log_scale)
    scales = _noise_scales(transformed, offsets, settings.min_points)
    standardised = _without_spikes(transformed, offsets, scales)
    group_start = _group_starts(commit_starts, offsets, len(values))
    solver = _solver(settings)
    series_out: list[int] = []
    changes: list[ChangePoint] = []
    bounds = offsets.tolist()
    for i in np.flatnonzero(scales > 0).tolist():
        start, end = bounds[i], bounds[i + 1]
        breaks = solver.fit(standardised[start:end]).predict(pen=settings.penalty * math.log(end - start))
        if len(breaks) < 2:
            continue  # the common case: one segment, no change
        candidates = breaks[:-1]
        if group_start is not None:
            candidates = sorted({int(group_start[start + c]) - start for c in candidates} - {0})
        y = standardised[start:end] * scales[i]
        for change in _merge(y, candidates, values[start:end], settings, bool(bigger[i])):
            series_out.append(i)
            changes.append(change)
    return DetectedChanges(np.asarray(series_out, dtype=np.int64), changes)


def _solver(settings: DriftSettings):
    import ruptures as rpt

    if settings.search == "pelt":
        return rpt.Pelt(model="l2", min_size=settings.min_points, jump=1)
    if settings.search == "binseg":
        return rpt.Binseg(model="l2", min_size=settings.min_points, jump=1)
    return rpt.KernelCPD(kernel="linear", min_size=settings.min_points)


def _group_starts(commit_starts: np.ndarray | None, offsets: np.ndarray, size: int) -> np.ndarray | None:
    """For every point, the index of the first point of its commit's run (within its series)."""
    if commit_starts is None:
        return None
    starts = np.asarray(commit_starts, dtype=bool).copy()
    starts[offsets[:-1][offsets[:-1] < size]] = True
    return np.maximum.accumulate(np.where(starts, np.arange(size), 0))


def _transform(values: np.ndarray, offsets: np.ndarray, log_scale: bool) -> np.ndarray:
    """Log values of every all-positive series (relative changes become level shifts)."""
    if not log_scale or not len(values):
        return values
    lengths = np.diff(offsets)
    nonempty = lengths > 0
    positive = np.zeros(len(lengths), dtype=bool)
    positive[nonempty] = np.minimum.reduceat(values, offsets[:-1][nonempty]) > 0
    if positive.all():
        return np.log(values)
    mask = np.repeat(positive, lengths)
    out = values.copy()
    out[mask] = np.log(values[mask])
    return out


def _noise_scales(y: np.ndarray, offsets: np.ndarray, min_points: int) -> np.ndarray:
    """Robust noise level of each series (0 for series too short to split or constant).

    The median absolute difference of consecutive points is blind to the level shifts
    themselves; when over half the steps are zero (coarse units such as whole seconds) the mean
    absolute step stands in.
    """
    steps = np.abs(np.diff(y)) if len(y) > 1 else np.zeros(0)
    scales = np.zeros(len(offsets) - 1)
    bounds = offsets.tolist()
    for i in range(len(bounds) - 1):
        start, end = bounds[i], bounds[i + 1]
        if end - start < 2 * min_points:
            continue
        own = steps[start : end - 1]
        middle = len(own) // 2
        scale = float(np.partition(own, middle)[middle])
        scales[i] = (scale if scale > 0 else float(own.mean())) * _MAD_DIFF_TO_SIGMA
    return scales


def _without_spikes(y: np.ndarray, offsets: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Every series divided by its noise level, lone spikes pulled to their local median.

    A lone spike (a hiccup of one runner) would drag a least-squares boundary towards it: a
    point more than SPIKE_SIGMAS from the median of itself and its two neighbours takes that
    median. A series' first and last points have one neighbour and stay as they are.
    """
    lengths = np.diff(offsets)
    scale = np.repeat(np.where(scales > 0, scales, 1.0), lengths)
    local = y.copy()
    if len(y) >= 3:
        a, b, c = y[:-2], y[1:-1], y[2:]
        local[1:-1] = np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))
        edges = np.concatenate((offsets[:-1], offsets[1:] - 1))
        edges = edges[(edges >= 0) & (edges < len(y))]
        local[edges] = y[edges]
    cleaned = np.where(np.abs(y - local) > SPIKE_SIGMAS * scale, local, y)
    return cleaned / scale


def _segment_test(left: np.ndarray, right: np.ndarray) -> float:
    """Two-sided Welch's t-test p-value between two segments (0 or 1 when both are constant)."""
    from scipy.special import stdtr

    n1, n2 = len(left), len(right)
    m1, m2 = left.mean(), right.mean()
    v1, v2 = left.var(ddof=1) / n1, right.var(ddof=1) / n2
    se2 = v1 + v2
    if se2 == 0:
        return 0.0 if m1 != m2 else 1.0
    t = (m2 - m1) / np.sqrt(se2)
    dof = se2**2 / ((v1**2 / (n1 - 1) if n1 > 1 else 0) + (v2**2 / (n2 - 1) if n2 > 1 else 0))
    return float(2.0 * stdtr(dof, -abs(t)))


def _relative_change(before: float, after: float) -> float:
    if before == 0:
        return np.inf if after != 0 else 0.0
    return after / before - 1.0


def _merge(
    y: np.ndarray, candidates: list[int], raw: np.ndarray, settings: DriftSettings, bigger_is_better: bool
) -> list[ChangePoint]:
    """Hunter's merge step: drop the weakest candidate until every one passes the filters.

    Each candidate is tested against the segments between its surviving neighbours; one with
    fewer than `min_points` on a side (possible after moving to a commit's first point) fails.
    """
    points = list(candidates)

    def evaluate(k: int) -> ChangePoint:
        lo = points[k - 1] if k > 0 else 0
        hi = points[k + 1] if k + 1 < len(points) else len(y)
        at = points[k]
        before, after = float(np.median(raw[lo:at])), float(np.median(raw[at:hi]))
        too_short = min(at - lo, hi - at) < settings.min_points
        worse = after < before if bigger_is_better else after > before
        return ChangePoint(
            index=int(at),
            before=before,
            after=after,
            change_pct=(after / before - 1.0) * 100.0 if before != 0 else float("nan"),
            p_value=1.0 if too_short else _segment_test(y[lo:at], y[at:hi]),
            points_before=int(at - lo),
            points_after=int(hi - at),
            direction=REGRESSION if worse else IMPROVEMENT,
        )

    def magnitude(change: ChangePoint) -> float:
        return abs(_relative_change(change.before, change.after))

    stats = [evaluate(k) for k in range(len(points))]
    while points:
        worst = max(range(len(points)), key=lambda k: stats[k].p_value)
        if stats[worst].p_value <= settings.max_p_value:
            worst = min(range(len(points)), key=lambda k: magnitude(stats[k]))
            if magnitude(stats[worst]) >= settings.min_relative_change:
                break
        del points[worst], stats[worst]
        for k in (worst - 1, worst):
            if 0 <= k < len(points):
                stats[k] = evaluate(k)
    return stats
