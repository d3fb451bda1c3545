"""CI cost anomalies: expected versus actual spend per scope and day, robust to the week's rhythm.

A scope is one repository, workflow and runner type. Its expected spend on a day is the median
spend on the same weekday in the four weeks before (weekly seasonality: CI is quiet at weekends).
During the first weeks of history, when fewer than `min_reference` same weekdays lie behind a day,
the nearest same weekdays after it fill in, so a spike on the second day of data is still judged
against a normal week. The spread is the median absolute deviation of those reference days
(times 1.4826, a standard deviation for normal data), floored so that a scope whose spend never
varies does not turn a cent into a hundred sigmas.

A day is an anomaly when it is an increase on all three counts: the robust score, the impact in
USD and the impact in percent. The last two are the minimum-impact thresholds of AWS Cost Anomaly
Detection (which reports expected and actual spend and the impact in dollars and percent); they
keep tiny scopes quiet. Decreases are never anomalies: nobody is paged for spending less.

The median/MAD test over same-weekday references is the robust core of Twitter's seasonal hybrid
ESD (Hochenbaum, Vallis and Kejariwal, 2017: seasonal decomposition, then median and MAD in place
of mean and standard deviation); here the seasonal part is the same-weekday selection itself.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import lazy_loader

# numpy loads on first use, not with the definitions (docs/architecture.md).
np = lazy_loader.load("numpy")

MAD_TO_SIGMA = 1.4826
WEEK = 7


@dataclass(frozen=True)
class CostSettings:
    """Defaults chosen on the simulated organisation (docs/quality.md)."""

    lookback_weeks: int = 4  # same weekdays behind a day that form its reference
    min_reference: int = 3  # fewer behind it: the nearest same weekdays after it fill in
    z_threshold: float = 5.0
    min_impact_usd: float = 1.0
    min_impact_pct: float = 50.0
    scale_floor_usd: float = 0.25
    scale_floor_pct: float = 10.0  # of the expected spend

    def __post_init__(self) -> None:
        if self.lookback_weeks < 1 or not 1 <= self.min_reference <= self.lookback_weeks:
            raise ValueError("need lookback_weeks >= 1 and 1 <= min_reference <= lookback_weeks")
        if min(self.z_threshold, self.min_impact_usd, self.min_impact_pct, self.scale_floor_usd) < 0:
            raise ValueError("thresholds and floors must not be negative")


@dataclass(frozen=True)
class CostScores:
    """Per scope (rows) and day (columns)."""

    expected: np.ndarray
    impact: np.ndarray
    impact_pct: np.ndarray  # NaN where nothing was expected
    score: np.ndarray
    is_anomaly: np.ndarray
    expected_jobs: np.ndarray | None = None


def reference_offsets(day: int, days: int, settings: CostSettings) -> list[int]:
    """Offsets of the same weekdays that form `day`'s expected value (never the day itself)."""
    return _offsets(day, days, WEEK, settings.lookback_weeks, settings.min_reference)


def spread_offsets(day: int, days: int, settings: CostSettings) -> list[int]:
    """Offsets of the days whose residuals give `day`'s spread: every day of the lookback."""
    return _offsets(day, days, 1, settings.lookback_weeks * WEEK, settings.min_reference * WEEK)


def _offsets(day: int, days: int, step: int, count: int, minimum: int) -> list[int]:
    """`count` steps behind `day`; while fewer than `minimum` exist, the nearest ones ahead."""
    behind = [-step * k for k in range(1, count + 1) if day - step * k >= 0]
    ahead = [step * k for k in range(1, count + 1) if day + step * k < days]
    return behind + ahead[: max(0, minimum - len(behind))]


def _window_stack(values: np.ndarray, offsets: list[list[int]]) -> np.ndarray:
    """(scopes, days, window) of `values[:, day + offset]`, NaN-padded to the widest window."""
    scopes, days = values.shape
    width = max((len(o) for o in offsets), default=0)
    stack = np.full((scopes, days, max(width, 1)), np.nan)
    for day, day_offsets in enumerate(offsets):
        for j, offset in enumerate(day_offsets):
            stack[:, day, j] = values[:, day + offset]
    return stack


def expected_values(values: np.ndarray, settings: CostSettings = CostSettings()) -> np.ndarray:
    """Median of each day's same-weekday references (0 where a day has none)."""
    values = np.asarray(values, dtype=np.float64)
    days = values.shape[1]
    stack = _window_stack(values, [reference_offsets(d, days, settings) for d in range(days)])
    with _all_nan_days_allowed():
        return np.nan_to_num(np.nanmedian(stack, axis=2), nan=0.0)


def score_costs(
    actual_usd: np.ndarray,
    jobs: np.ndarray | None = None,
    settings: CostSettings = CostSettings(),
) -> CostScores:
    """Expected spend, impact, robust score and the anomaly flag of every scope-day.

    `actual_usd` is (scopes, consecutive days) with 0 for days a scope spent nothing; `jobs`
    (same shape) gives the expected job counts the root-cause hint compares against.
    """
    actual = np.asarray(actual_usd, dtype=np.float64)
    days = actual.shape[1]
    expected = expected_values(actual, settings)
    # The spread comes from the residuals of every day in the lookback (about 28 of them), not
    # from the three or four same-weekday references: far steadier for scopes with few jobs.
    residuals = _window_stack(actual - expected, [spread_offsets(d, days, settings) for d in range(days)])
    with _all_nan_days_allowed():
        centre = np.nanmedian(residuals, axis=2)
        spread = np.nanmedian(np.abs(residuals - centre[:, :, None]), axis=2) * MAD_TO_SIGMA
    spread = np.nan_to_num(spread, nan=0.0)
    floor = np.maximum(settings.scale_floor_usd, settings.scale_floor_pct / 100.0 * expected)
    scale = np.maximum(spread, floor)
    impact = actual - expected
    with np.errstate(divide="ignore", invalid="ignore"):
        impact_pct = np.where(expected > 0, impact / expected * 100.0, np.nan)
    score = np.divide(impact, scale, out=np.zeros_like(impact), where=scale > 0)
    relative_ok = np.where(expected > 0, impact_pct >= settings.min_impact_pct, True)
    is_anomaly = (score >= settings.z_threshold) & (impact >= settings.min_impact_usd) & relative_ok
    expected_jobs = expected_values(jobs, settings) if jobs is not None else None
    return CostScores(expected, impact, impact_pct, score, is_anomaly, expected_jobs)


@dataclass(frozen=True)
class DayContext:
    """What the warehouse knows about one anomalous scope-day, for the root-cause hint."""

    actual_usd: float
    expected_usd: float
    jobs: int
    expected_jobs: float
    top_branch: str | None = None
    top_branch_usd: float = 0.0
    top_actor: str | None = None
    job_names: tuple[str, ...] = ()


def root_cause(ctx: DayContext, runner_type: str | None) -> str:
    """One line naming what drove the spend: a new runner type, more jobs or longer jobs."""
    parts: list[str] = []
    if ctx.expected_usd <= 0:
        jobs = ", ".join(ctx.job_names) or "unknown jobs"
        parts.append(
            f"new spend on {runner_type or 'an unknown runner'}: none on the reference days; jobs {jobs}"
        )
    else:
        volume = ctx.jobs / ctx.expected_jobs if ctx.expected_jobs > 0 else float("inf")
        per_job_now = ctx.actual_usd / ctx.jobs if ctx.jobs else 0.0
        per_job_before = ctx.expected_usd / ctx.expected_jobs if ctx.expected_jobs > 0 else 0.0
        unit = per_job_now / per_job_before if per_job_before > 0 else float("inf")
        if volume >= unit:
            parts.append(f"volume: {ctx.jobs} jobs vs {ctx.expected_jobs:g} expected (x{volume:.1f})")
        else:
            parts.append(f"longer jobs: ${per_job_now:.3f} per job vs ${per_job_before:.3f} (x{unit:.1f})")
    if ctx.top_branch is not None and ctx.actual_usd > 0:
        share = ctx.top_branch_usd / ctx.actual_usd * 100.0
        by = f", mostly by {ctx.top_actor}" if ctx.top_actor else ""
        parts.append(f"top branch {ctx.top_branch} (${ctx.top_branch_usd:.2f}, {share:.0f}% of the day{by})")
    return "; ".join(parts)


@contextmanager
def _all_nan_days_allowed() -> Iterator[None]:
    """nanmedian warns on all-NaN slices (days without references); those are expected here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
