"""Canary judgement as Kayenta's NetflixACAJudge-v1.0 does it: Mann-Whitney per metric, weighted score.

Sources (spinnaker/kayenta, read for this port; the numbers in the tests come from their test suites):

- ``kayenta-mannwhitney/.../MannWhitney.scala``: the p-value comes from Apache commons-math
  ``MannWhitneyUTest`` (normal approximation, no tie or continuity correction); the confidence
  interval for the shift ``experiment - control`` inverts the asymptotic Wilcoxon rank-sum test with
  continuity and tie correction, a port of R's ``wilcox.test(conf.int=TRUE, exact=FALSE)``.
- ``kayenta-judge/.../classifiers/metric/MannWhitneyClassifier.scala``: a metric is High when the
  interval's lower end lies above ``tolerance * |estimate|`` and the effect size reaches
  ``allowedIncrease``; Low is the mirror image; anything else passes. Identical samples, or one
  distinct value overall, pass without a test. Empty samples are Nodata.
- ``kayenta-judge/.../NetflixACAJudge.scala``: NaNs removed (or replaced by 0), outliers removed with
  an IQR fence (factor 3, widened to the 1st/99th percentiles), tolerance 0.25, confidence 0.98.
- ``kayenta-judge/.../scorers/WeightedSumScorer.scala`` and ``ThresholdScoreClassifier.scala``:
  group score = 100 * Pass / (Pass + High + Low + NodataFailMetric); summary = weighted sum of group
  scores; a failed critical metric or 50 % or more Nodata metrics zeroes it; >= pass -> Pass,
  >= marginal -> Marginal, else Fail.

Where Kayenta's answer depends on where an iterative solver happens to stop, this port decides
exactly (the published vectors come out the same):

- Estimate: Kayenta takes whatever root its Brent solver finds of the rank-sum equation with z = 0,
  which holds on a whole interval of shifts. The Hodges-Lehmann estimator (median of all pairwise
  differences) always lies in that interval, so it is used here (Kayenta's own test expects 22.5 for
  control [1,2,3,4] vs experiment [10,20,30,40], which is exactly that median).
- Interval ends: the inverted statistic is a step function that jumps only at pairwise
  differences, so its root is found exactly by bisection over those differences instead of a
  solver stopping within 1e-6.
- Ties between an interval end and the tolerance bound (typical of zero-inflated metrics, where
  both are 0): decided by whether the rank-sum test rejects that shift (see ``_above``).
- Two constant samples: Kayenta adds Gaussian noise (sd = 1e-5 * value) so the rank test can run;
  the samples are then completely separated and the interval collapses to the difference, which
  is returned directly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from statistics import NormalDist

import lazy_loader

# numpy loads on first use, not with the definitions (docs/architecture.md).
np = lazy_loader.load("numpy")

KAYENTA_TOLERANCE = 0.25
KAYENTA_CONFIDENCE_LEVEL = 0.98
PASS_THRESHOLD = 95.0
MARGINAL_THRESHOLD = 75.0
# WeightedSumScorer.NODATA_THRESHOLD: this share of Nodata metrics (in percent) fails the canary.
NODATA_THRESHOLD_PCT = 50.0


class Direction(StrEnum):
    INCREASE = "increase"
    DECREASE = "decrease"
    EITHER = "either"


class NaNStrategy(StrEnum):
    REMOVE = "remove"
    REPLACE = "replace"


class EffectSizeMeasure(StrEnum):
    MEAN_RATIO = "meanRatio"
    CLES = "cles"


class Classification(StrEnum):
    """Kayenta's metric classification labels, spelled as Kayenta reports them."""

    PASS = "Pass"
    HIGH = "High"
    LOW = "Low"
    NODATA = "Nodata"
    NODATA_FAIL = "NodataFailMetric"
    ERROR = "Error"


class Verdict(StrEnum):
    PASS = "pass"
    MARGINAL = "marginal"
    FAIL = "fail"


@dataclass(frozen=True)
class MannWhitneyResult:
    """Rank-sum comparison of experiment against control; the shift is ``experiment - control``."""

    u: float  # commons-math's statistic: the larger of U(control) and U(experiment)
    p_value: float  # two-sided, commons-math's normal approximation
    estimate: float  # Hodges-Lehmann shift
    lower: float
    upper: float
    confidence_level: float


@dataclass(frozen=True)
class MetricConfig:
    """Per-metric analysis settings, named after Kayenta's ``analysisConfigurations.canary`` keys."""

    name: str
    direction: Direction = Direction.EITHER
    nan_strategy: NaNStrategy = NaNStrategy.REMOVE
    critical: bool = False
    must_have_data: bool = False
    effect_size_measure: EffectSizeMeasure = EffectSizeMeasure.MEAN_RATIO
    # None means Kayenta's default: 1.0 for the mean ratio, 0.5 for CLES (i.e. any significant shift).
    allowed_increase: float | None = None
    allowed_decrease: float | None = None
    critical_increase: float = 1.0
    critical_decrease: float = 1.0
    groups: tuple[str, ...] = ("default",)

    def effect_thresholds(self) -> tuple[float, float]:
        neutral = 0.5 if self.effect_size_measure is EffectSizeMeasure.CLES else 1.0
        decrease = neutral if self.allowed_decrease is None else self.allowed_decrease
        increase = neutral if self.allowed_increase is None else self.allowed_increase
        return decrease, increase


@dataclass(frozen=True)
class MetricResult:
    name: str
    classification: Classification
    reason: str | None
    # Ratio of means experiment/control (NaN when either mean is 0), Kayenta's "deviation".
    deviation: float
    effect_size: float
    critical: bool
    groups: tuple[str, ...]
    control_count: int
    experiment_count: int
    test: MannWhitneyResult | None = None


@dataclass(frozen=True)
class GroupScore:
    name: str
    score: float
    no_data: bool
    label_counts: Mapping[str, int]


@dataclass(frozen=True)
class CanaryJudgement:
    score: float
    verdict: Verdict
    reason: str | None
    results: tuple[MetricResult, ...]
    group_scores: tuple[GroupScore, ...] = field(default_factory=tuple)


# --------------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------------


def _as_array(values: Iterable[float]) -> np.ndarray:
    return np.asarray(values if isinstance(values, np.ndarray | Sequence) else list(values), dtype=float)


def _average_ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranks with ties averaged (commons-math TiesStrategy.AVERAGE) and the size of every tie group."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    group_start = np.cumsum(counts) - counts
    average_rank = group_start + (counts + 1) / 2.0
    return average_rank[inverse], counts


def commons_math_u_test(experiment: Sequence[float], control: Sequence[float]) -> tuple[float, float]:
    """``MannWhitneyUTest.mannWhitneyUTest``: (U max, two-sided asymptotic p-value), no tie correction."""
    x, y = _as_array(control), _as_array(experiment)
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("the Mann-Whitney U test needs at least one value in each sample")
    ranks, _ = _average_ranks(np.concatenate([x, y]))
    u1 = float(ranks[:n1].sum()) - n1 * (n1 + 1) / 2.0
    u_max = max(u1, n1 * n2 - u1)
    u_min = n1 * n2 - u_max
    z = (u_min - n1 * n2 / 2.0) / math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12.0)
    # 2 * Phi(z) for z <= 0, written with erfc to keep precision in the tail.
    return u_max, math.erfc(-z / math.sqrt(2.0))


def hodges_lehmann(experiment: Sequence[float], control: Sequence[float]) -> float:
    """Median of all pairwise differences ``experiment[i] - control[j]``."""
    x, y = _as_array(experiment), _as_array(control)
    if len(x) == 0 or len(y) == 0:
        raise ValueError("the Hodges-Lehmann estimate needs at least one value in each sample")
    return float(np.median(np.subtract.outer(x, y)))


def _wilcoxon_z(x: np.ndarray, y: np.ndarray, shift: float) -> float:
    """R's ``wdiff(d, zq=0)`` from wilcox.test: continuity- and tie-corrected z of the rank sum of x - d."""
    nx, ny = len(x), len(y)
    ranks, ties = _average_ranks(np.concatenate([x - shift, y]))
    dz = float(ranks[:nx].sum()) - nx * (nx + 1) / 2.0 - nx * ny / 2.0
    correction = math.copysign(0.5, dz) if dz != 0 else 0.0
    tie_term = float(np.sum(ties.astype(float) ** 3 - ties)) / ((nx + ny) * (nx + ny - 1))
    sigma = math.sqrt((nx * ny / 12.0) * ((nx + ny + 1) - tie_term))
    if sigma == 0:
        raise ValueError("cannot compute confidence interval when all observations are tied")
    return (dz - correction) / sigma


def _interval_end(x: np.ndarray, y: np.ndarray, steps: np.ndarray, quantile: float) -> float:
    """Where ``z(shift) - quantile`` changes sign; Kayenta's ``findRoot`` without the iterative solver.

    z(shift) is non-increasing and constant between consecutive pairwise differences (``steps``),
    so the root is the step at which it falls to or below the quantile.
    """
    shift_min, shift_max = float(x.min() - y.max()), float(x.max() - y.min())
    if _wilcoxon_z(x, y, shift_min) - quantile <= 0:
        return shift_min
    if _wilcoxon_z(x, y, shift_max) - quantile >= 0:
        return shift_max
    midpoints = (steps[:-1] + steps[1:]) / 2.0
    low, high = 0, len(midpoints)  # first midpoint whose value is <= 0, by bisection
    while low < high:
        mid = (low + high) // 2
        if _wilcoxon_z(x, y, float(midpoints[mid])) - quantile <= 0:
            high = mid
        else:
            low = mid + 1
    if low == len(midpoints):
        return float(steps[-1])
    if _wilcoxon_z(x, y, float(midpoints[low])) - quantile < 0:
        return float(steps[low])
    # Exactly zero on a whole stretch: take its middle.
    end = low
    while end + 1 < len(midpoints) and _wilcoxon_z(x, y, float(midpoints[end + 1])) - quantile == 0:
        end += 1
    return float((steps[low] + steps[end + 1]) / 2.0)


def mann_whitney(
    experiment: Sequence[float],
    control: Sequence[float],
    confidence_level: float = KAYENTA_CONFIDENCE_LEVEL,
) -> MannWhitneyResult:
    """Rank-sum test, Hodges-Lehmann shift and its confidence interval, as Kayenta's MannWhitney."""
    if not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level must be between 0 and 1, got {confidence_level}")
    x, y = _as_array(experiment), _as_array(control)
    if len(x) == 0 or len(y) == 0:
        raise ValueError("the Mann-Whitney test needs at least one value in each sample")
    if np.isnan(x).any() or np.isnan(y).any():
        raise ValueError("remove or replace NaN values before the Mann-Whitney test")
    u, p_value = commons_math_u_test(experiment=x, control=y)
    differences = np.subtract.outer(x, y).ravel()
    estimate = float(np.median(differences))
    if len(np.unique(x)) == 1 and len(np.unique(y)) == 1:
        lower = upper = estimate
    else:
        steps = np.unique(differences)
        quantile = _critical_z(confidence_level)
        lower = _interval_end(x, y, steps, quantile)
        upper = _interval_end(x, y, steps, -quantile)
    return MannWhitneyResult(u, p_value, estimate, lower, upper, confidence_level)


def mean_ratio(control: Sequence[float], experiment: Sequence[float]) -> float:
    """``EffectSizes.meanRatio``: mean(experiment) / mean(control), NaN when either mean is 0."""
    control_mean, experiment_mean = float(np.mean(control)), float(np.mean(experiment))
    if control_mean == 0.0 or experiment_mean == 0.0:
        return math.nan
    return experiment_mean / control_mean


def cles(control: Sequence[float], experiment: Sequence[float]) -> float:
    """``EffectSizes.cles``: share of pairs where experiment > control, ties counting half."""
    x, y = _as_array(experiment), _as_array(control)
    m, n = len(x), len(y)
    ranks, _ = _average_ranks(np.concatenate([x, y]))
    return (2 * float(ranks[:m].sum()) - m * (m + 1)) / (2 * n * m)


def commons_math_percentile(values: np.ndarray, percentile: float) -> float:
    """``StatUtils.percentile`` (commons-math's default estimation, R type 6 / numpy "weibull")."""
    return float(np.percentile(values, percentile, method="weibull"))


def remove_outliers(
    values: Sequence[float], factor: float = 3.0, reduce_sensitivity: bool = True
) -> np.ndarray:
    """Kayenta's ``IQRDetector``: drop values outside the Tukey fences, optionally widened to p1/p99."""
    data = _as_array(values)
    if len(data) == 0:
        return data
    p25, p75 = commons_math_percentile(data, 25), commons_math_percentile(data, 75)
    lower, upper = p25 - factor * (p75 - p25), p75 + factor * (p75 - p25)
    if reduce_sensitivity:
        lower = min(commons_math_percentile(data, 1), lower)
        upper = max(commons_math_percentile(data, 99), upper)
    return data[(data >= lower) & (data <= upper)]


def prepare_values(values: Iterable[float], nan_strategy: NaNStrategy, outliers: bool = True) -> np.ndarray:
    """NaN handling then outlier removal, as ``NetflixACAJudge.transformMetric``."""
    data = _as_array(values)
    data = data[~np.isnan(data)] if nan_strategy is NaNStrategy.REMOVE else np.nan_to_num(data, nan=0.0)
    return remove_outliers(data) if outliers else data


# --------------------------------------------------------------------------------------------------
# Classification and scoring
# --------------------------------------------------------------------------------------------------


def _critical_z(confidence_level: float) -> float:
    return NormalDist().inv_cdf(1 - (1 - confidence_level) / 2)


def _above(test: MannWhitneyResult, experiment: np.ndarray, control: np.ndarray, bound: float) -> bool:
    """Kayenta's ``lowerConfidence > upperBound``, with exact ties decided by the test itself.

    Both numbers are often the same step of the rank statistic (zero-inflated metrics: interval end
    and estimate both 0); Kayenta's solver then lands within 1e-6 on either side of it. Here the tie
    is decided by whether the rank-sum test rejects the shift ``bound`` in favour of larger shifts.
    """
    if test.lower != bound:
        return test.lower > bound
    return _wilcoxon_z(experiment, control, bound) > _critical_z(test.confidence_level)


def _below(test: MannWhitneyResult, experiment: np.ndarray, control: np.ndarray, bound: float) -> bool:
    """Kayenta's ``upperConfidence < lowerBound``, ties decided as in ``_above``."""
    if test.upper != bound:
        return test.upper < bound
    return _wilcoxon_z(experiment, control, bound) < -_critical_z(test.confidence_level)


def classify_metric(
    control: Iterable[float],
    experiment: Iterable[float],
    config: MetricConfig,
    *,
    tolerance: float = KAYENTA_TOLERANCE,
    confidence_level: float = KAYENTA_CONFIDENCE_LEVEL,
    outliers: bool = True,
) -> MetricResult:
    """Classify one metric as Pass, High, Low, Nodata or NodataFailMetric (Kayenta's rule)."""
    c = prepare_values(control, config.nan_strategy, outliers)
    e = prepare_values(experiment, config.nan_strategy, outliers)

    def result(
        label: Classification,
        reason: str | None,
        deviation: float = 1.0,
        effect_size: float = math.nan,
        critical: bool = False,
        test: MannWhitneyResult | None = None,
    ) -> MetricResult:
        return MetricResult(
            config.name, label, reason, deviation, effect_size, critical, config.groups, len(c), len(e), test
        )

    if len(c) == 0 or len(e) == 0:
        if config.nan_strategy is NaNStrategy.REPLACE:
            return result(Classification.PASS, None)
        reason = f"Missing data for {config.name}"
        if config.must_have_data and not config.critical:
            return result(Classification.NODATA_FAIL, reason)
        return result(Classification.NODATA, reason, critical=config.critical)
    if np.array_equal(np.sort(c), np.sort(e)):
        return result(Classification.PASS, "The Canary and Baseline data are identical")
    if len(np.unique(np.concatenate([c, e]))) == 1:
        return result(Classification.PASS, None)

    test = mann_whitney(e, c, confidence_level)
    deviation = mean_ratio(c, e)
    effect = cles(c, e) if config.effect_size_measure is EffectSizeMeasure.CLES else deviation
    allowed_decrease, allowed_increase = config.effect_thresholds()
    bound = tolerance * abs(test.estimate)
    # A NaN effect size (a zero mean) cannot veto a significant shift; Kayenta's zero-mean tests
    # expect High/Low there.
    is_high = (
        config.direction in (Direction.INCREASE, Direction.EITHER)
        and _above(test, e, c, bound)
        and (math.isnan(effect) or effect >= allowed_increase)
    )
    is_low = (
        config.direction in (Direction.DECREASE, Direction.EITHER)
        and _below(test, e, c, -bound)
        and (math.isnan(effect) or effect <= allowed_decrease)
    )
    if not (is_high or is_low):
        return result(Classification.PASS, None, deviation, effect_size=effect, test=test)
    label = Classification.HIGH if is_high else Classification.LOW
    critical = config.critical and (
        math.isnan(effect)
        or (effect >= config.critical_increase if is_high else effect <= config.critical_decrease)
    )
    reason = (
        f"The metric {config.name} was classified as {label} (Critical)"
        if critical
        else f"{config.name} was classified as {label}"
    )
    return result(label, reason, deviation, effect_size=effect, critical=critical, test=test)


def _round_half_up(value: float, places: int = 2) -> float:
    """commons-math ``MathUtils.round``: decimal HALF_UP rounding of the printed double."""
    return float(Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def group_scores(results: Sequence[MetricResult]) -> tuple[GroupScore, ...]:
    labels_by_group: dict[str, list[str]] = {}
    for metric in results:
        for group in metric.groups:
            labels_by_group.setdefault(group, []).append(metric.classification.value)
    scores = []
    for group, labels in labels_by_group.items():
        counts = {label: labels.count(label) for label in sorted(set(labels))}
        passed = counts.get(Classification.PASS.value, 0)
        counted = passed + sum(
            counts.get(label.value, 0)
            for label in (Classification.HIGH, Classification.LOW, Classification.NODATA_FAIL)
        )
        no_data = counted == 0
        scores.append(GroupScore(group, 0.0 if no_data else 100.0 * passed / counted, no_data, counts))
    return tuple(scores)


def score(
    results: Sequence[MetricResult], group_weights: Mapping[str, float] | None = None
) -> tuple[float, str | None, tuple[GroupScore, ...]]:
    """Kayenta's ``WeightedSumScorer``: (summary score 0-100, failure reason, group scores)."""
    weights = dict(group_weights or {})
    groups = group_scores(results)
    critical_failures = [r for r in results if r.critical and r.classification is not Classification.PASS]
    if critical_failures:
        return 0.0, f"Canary Failed: {critical_failures[0].reason}", groups
    nodata = sum(r.classification is Classification.NODATA for r in results)
    if results and 100.0 * nodata / len(results) >= NODATA_THRESHOLD_PCT:
        return 0.0, f"Canary Failed: {NODATA_THRESHOLD_PCT:g}% or more metrics returned NODATA", groups
    unweighted = [g.name for g in groups if g.name not in weights]
    default_weight = (100.0 - sum(weights.values())) / len(unweighted) if unweighted else 0.0
    summary = 0.0
    for group in groups:
        effective = 100.0 if group.no_data else group.score
        summary += effective * weights.get(group.name, default_weight) / 100.0
    return _round_half_up(summary), None, groups


def verdict(
    summary_score: float,
    pass_threshold: float = PASS_THRESHOLD,
    marginal_threshold: float = MARGINAL_THRESHOLD,
) -> Verdict:
    """``ThresholdScoreClassifier``: >= pass -> pass, >= marginal -> marginal, else fail."""
    if summary_score >= pass_threshold:
        return Verdict.PASS
    if summary_score >= marginal_threshold:
        return Verdict.MARGINAL
    return Verdict.FAIL


def judge(
    metrics: Iterable[tuple[MetricConfig, Iterable[float], Iterable[float]]],
    *,
    group_weights: Mapping[str, float] | None = None,
    pass_threshold: float = PASS_THRESHOLD,
    marginal_threshold: float = MARGINAL_THRESHOLD,
    tolerance: float = KAYENTA_TOLERANCE,
    confidence_level: float = KAYENTA_CONFIDENCE_LEVEL,
) -> CanaryJudgement:
    """Classify every (config, control, experiment) triple, score them and give the verdict.

    A metric whose values cannot be judged (not numbers) is classified Error, as Kayenta's judge
    does, and does not count towards the score.
    """
    results = []
    for config, control, experiment in metrics:
        try:
            results.append(
                classify_metric(
                    control, experiment, config, tolerance=tolerance, confidence_level=confidence_level
                )
            )
        except (TypeError, ValueError) as error:
            reason = f"Metric Classification Failed: {error}"
            results.append(
                MetricResult(
                    config.name, Classification.ERROR, reason, math.nan, math.nan, False, config.groups, 0, 0
                )
            )
    summary, reason, groups = score(results, group_weights)
    return CanaryJudgement(
        summary, verdict(summary, pass_threshold, marginal_threshold), reason, results, groups
    )
