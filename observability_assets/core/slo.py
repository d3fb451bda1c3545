"""SLO math: error budgets, burn rates and multiwindow, multi-burn-rate alerts.

The alerting scheme is the one in the Google SRE workbook, chapter 5 "Alerting on SLOs"
(approach 6, "Multiwindow, multi-burn-rate alerts"), in the four-rule form Sloth and Pyrra generate:

    severity  long window  short window  burn rate (30 d)  error budget consumed
    page      1 h          5 m           14.4              2 %
    page      6 h          30 m          6                 5 %
    ticket    1 d          2 h           3                 10 %
    ticket    3 d          6 h           1                 10 %

A rule fires when both its windows burn at least at its rate. The budget fractions and long windows
are fixed; the burn rate follows from them and the SLO window:
``burn rate = budget consumed * SLO window / long window`` (30 d: 14.4, 6, 3, 1; 28 d: 13.44, 5.6,
2.8, 0.933...). Short windows are 1/12 of the long ones.

Detection time uses the workbook's formula ``(1 - SLO) / error ratio * window * burn rate``: the
error ratio over a window of length W, after a sustained error ratio e began on a clean history,
is ``e * min(t, W) / W``, so the long window crosses its threshold after
``burn rate * (1 - SLO) * W / e``; the short window, being 12 times shorter, is already above by
then. For a 100 % outage of a 99.9 % SLO the 14.4 rule fires after 0.864 minutes.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

AlertLevel = Literal["page", "ticket", "none"]
Severity = Literal["page", "ticket"]
SloKind = Literal["availability", "latency"]

# (severity, long window, share of the error budget consumed when the rule fires), workbook order.
_RULES: tuple[tuple[Severity, timedelta, float], ...] = (
    ("page", timedelta(hours=1), 0.02),
    ("page", timedelta(hours=6), 0.05),
    ("ticket", timedelta(days=1), 0.10),
    ("ticket", timedelta(days=3), 0.10),
)
SHORT_WINDOW_RATIO = 12
# Burn rates are compared with a relative tolerance so that e.g. an error ratio of exactly
# 14.4 * 0.1 % is not missed through binary rounding of 1 - 0.999.
_REL_TOL = 1e-9


@dataclass(frozen=True)
class AlertWindow:
    """One multiwindow burn-rate rule."""

    severity: Severity
    long: timedelta
    short: timedelta
    burn_rate: float
    budget_consumed: float

    @property
    def name(self) -> str:
        return f"{window_label(self.long)}/{window_label(self.short)}"


@dataclass(frozen=True)
class AlertDecision:
    level: AlertLevel
    rule: AlertWindow | None
    burn_rates: Mapping[timedelta, float]


@dataclass(frozen=True)
class AlertPrediction:
    """When a rule first fires for a sustained error ratio that started on a clean history."""

    rule: AlertWindow
    after: timedelta | None  # None: the error ratio is too low for this rule ever to fire

    def at(self, onset: datetime) -> datetime | None:
        return None if self.after is None else onset + self.after


@dataclass(frozen=True)
class EventCounts:
    good: int
    valid: int

    def __post_init__(self) -> None:
        if self.valid < 0 or self.good < 0 or self.good > self.valid:
            raise ValueError(f"need 0 <= good <= valid, got good={self.good}, valid={self.valid}")

    @property
    def bad(self) -> int:
        return self.valid - self.good

    @property
    def sli(self) -> float | None:
        return sli(self.good, self.valid)


# --------------------------------------------------------------------------------------------------
# Budget arithmetic
# --------------------------------------------------------------------------------------------------


def _check_objective(objective: float) -> None:
    if not 0 < objective < 1:
        raise ValueError(f"objective must be between 0 and 1 (exclusive), got {objective}")


def error_budget(objective: float) -> float:
    """Share of valid events allowed to be bad: 1 - objective."""
    _check_objective(objective)
    return 1.0 - objective


def sli(good: int, valid: int) -> float | None:
    """good / valid; None when there were no valid events (no evidence either way)."""
    if valid < 0 or good < 0 or good > valid:
        raise ValueError(f"need 0 <= good <= valid, got good={good}, valid={valid}")
    return None if valid == 0 else good / valid


def error_budget_remaining(sli_value: float | None, objective: float) -> float:
    """1 - (1 - SLI) / (1 - objective); negative once the budget is overspent, 1 without data."""
    budget = error_budget(objective)
    if sli_value is None:
        return 1.0
    return 1.0 - (1.0 - sli_value) / budget


def burn_rate(error_ratio: float, objective: float) -> float:
    """How many times faster than sustainable the budget burns: error ratio / (1 - objective)."""
    return error_ratio / error_budget(objective)


def latency_events(latencies_ms: Iterable[float | None], threshold_ms: float) -> EventCounts:
    """A latency SLO as good events: a request is good when it answered within ``threshold_ms``.

    Every request is valid; one without a latency (it failed, timed out, was refused) is not good,
    so an outage burns the latency budget as well as the availability budget.
    """
    if threshold_ms <= 0:
        raise ValueError(f"threshold_ms must be positive, got {threshold_ms}")
    good = valid = 0
    for latency in latencies_ms:
        valid += 1
        good += latency is not None and latency <= threshold_ms
    return EventCounts(good, valid)


def availability_events(outcomes: Iterable[bool]) -> EventCounts:
    good = valid = 0
    for ok in outcomes:
        valid += 1
        good += bool(ok)
    return EventCounts(good, valid)


# --------------------------------------------------------------------------------------------------
# Multiwindow, multi-burn-rate alerts
# --------------------------------------------------------------------------------------------------


def window_label(window: timedelta) -> str:
    """Compact Prometheus-style label: 5m, 30m, 1h, 2h, 6h, 1d, 3d."""
    seconds = int(window.total_seconds())
    if seconds <= 0 or seconds != window.total_seconds():
        raise ValueError(f"windows are whole positive seconds, got {window}")
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def alert_windows(window_days: int = 30) -> list[AlertWindow]:
    """The four rules for an SLO window of ``window_days``, page rules first."""
    if window_days <= 0:
        raise ValueError(f"window_days must be positive, got {window_days}")
    slo_window = timedelta(days=window_days)
    return [
        AlertWindow(severity, long, long / SHORT_WINDOW_RATIO, consumed * (slo_window / long), consumed)
        for severity, long, consumed in _RULES
    ]


def required_windows(window_days: int = 30) -> list[timedelta]:
    """Every window ``evaluate_alerts`` needs an error ratio for, shortest first."""
    return sorted({w for rule in alert_windows(window_days) for w in (rule.long, rule.short)})


def _at_least(value: float, threshold: float) -> bool:
    return value >= threshold or math.isclose(value, threshold, rel_tol=_REL_TOL)


def evaluate_alerts(
    error_ratios_by_window: Mapping[timedelta, float], objective: float, window_days: int = 30
) -> AlertDecision:
    """The most severe rule whose long and short windows both burn at or above its rate.

    ``error_ratios_by_window`` needs every window of ``required_windows(window_days)``; a window
    without events should be given as 0.0 (nothing burned).
    """
    rules = alert_windows(window_days)
    missing = [window_label(w) for w in required_windows(window_days) if w not in error_ratios_by_window]
    if missing:
        raise ValueError(f"error ratios missing for windows: {', '.join(missing)}")
    rates = {w: burn_rate(error_ratios_by_window[w], objective) for w in required_windows(window_days)}
    for rule in rules:
        if _at_least(rates[rule.long], rule.burn_rate) and _at_least(rates[rule.short], rule.burn_rate):
            return AlertDecision(rule.severity, rule, rates)
    return AlertDecision("none", None, rates)


def budget_exhaustion_time(rate: float, window_days: int = 30) -> timedelta:
    """How long a constant burn rate takes to spend the whole budget: SLO window / burn rate."""
    if rate <= 0:
        raise ValueError(f"burn rate must be positive, got {rate}")
    return timedelta(days=window_days) / rate


def detection_time(rule: AlertWindow, error_ratio: float, objective: float) -> timedelta | None:
    """Workbook: (1 - SLO) / error ratio * long window * burn rate; None if it never fires."""
    threshold_ratio = rule.burn_rate * error_budget(objective)
    if error_ratio <= 0 or not _at_least(error_ratio, threshold_ratio):
        return None
    # min(): an error ratio equal to the threshold (within tolerance) fills the whole long window.
    return min(rule.long * (threshold_ratio / error_ratio), rule.long)


def predict_alerts(error_ratio: float, objective: float, window_days: int = 30) -> list[AlertPrediction]:
    """For each rule, how long after the onset of a sustained error ratio it first fires."""
    return [
        AlertPrediction(rule, detection_time(rule, error_ratio, objective))
        for rule in alert_windows(window_days)
    ]


def first_alert(error_ratio: float, objective: float, window_days: int = 30) -> AlertPrediction | None:
    """The first rule to fire (a page beats a ticket firing at the same moment), or None."""
    firing = [p for p in predict_alerts(error_ratio, objective, window_days) if p.after is not None]
    return min(firing, key=lambda p: p.after) if firing else None


# --------------------------------------------------------------------------------------------------
# Error ratios over trailing windows
# --------------------------------------------------------------------------------------------------


class EventSeries:
    """Timestamped good/bad events with O(log n) error ratios over any trailing window.

    A window ending at ``as_of`` covers ``(as_of - window, as_of]``.
    """

    def __init__(self, events: Iterable[tuple[datetime, bool]]) -> None:
        ordered = sorted(events, key=lambda e: e[0])
        self._times = [at for at, _ in ordered]
        self._bad_before = [0]
        for _, good in ordered:
            self._bad_before.append(self._bad_before[-1] + (not good))

    def __len__(self) -> int:
        return len(self._times)

    def counts(self, as_of: datetime, window: timedelta) -> EventCounts:
        start = bisect.bisect_right(self._times, as_of - window)
        end = bisect.bisect_right(self._times, as_of)
        bad = self._bad_before[end] - self._bad_before[start]
        return EventCounts(end - start - bad, end - start)

    def error_ratio(self, as_of: datetime, window: timedelta) -> float | None:
        counts = self.counts(as_of, window)
        return None if counts.valid == 0 else counts.bad / counts.valid

    def error_ratios(self, as_of: datetime, windows: Iterable[timedelta]) -> dict[timedelta, float]:
        """Error ratio per window, 0.0 for windows without events (for ``evaluate_alerts``)."""
        return {w: self.error_ratio(as_of, w) or 0.0 for w in windows}


# --------------------------------------------------------------------------------------------------
# Status and JSON export (slo-summary.json, slo-timeseries.json)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SloStatus:
    """One SLO of one service at one moment: the row shape of marts.slo_compliance."""

    service: str
    slo: str
    objective: float
    window_days: int
    valid_events: int
    good_events: int
    as_of: datetime
    burn_rates: Mapping[str, float] = field(default_factory=dict)  # window label -> burn rate
    alert: AlertLevel = "none"
    alert_rule: str | None = None
    kind: SloKind = "availability"
    threshold_ms: float | None = None

    @property
    def key(self) -> str:
        return f"{self.service}/{self.slo}"

    @property
    def sli(self) -> float | None:
        return sli(self.good_events, self.valid_events)

    @property
    def error_budget_remaining(self) -> float:
        return error_budget_remaining(self.sli, self.objective)

    @property
    def compliant(self) -> bool:
        """Meeting the objective over the SLO window (no data counts as meeting it)."""
        value = self.sli
        return (
            value is None or value >= self.objective or math.isclose(value, self.objective, rel_tol=_REL_TOL)
        )


def evaluate_slo(
    *,
    service: str,
    slo: str,
    objective: float,
    window_days: int,
    window_counts: EventCounts,
    error_ratios_by_window: Mapping[timedelta, float],
    as_of: datetime,
    kind: SloKind = "availability",
    threshold_ms: float | None = None,
) -> SloStatus:
    """Combine the SLO-window counts and the alert windows into one status."""
    decision = evaluate_alerts(error_ratios_by_window, objective, window_days)
    return SloStatus(
        service=service,
        slo=slo,
        objective=objective,
        window_days=window_days,
        valid_events=window_counts.valid,
        good_events=window_counts.good,
        as_of=as_of,
        burn_rates={window_label(w): rate for w, rate in decision.burn_rates.items()},
        alert=decision.level,
        alert_rule=decision.rule.name if decision.rule else None,
        kind=kind,
        threshold_ms=threshold_ms,
    )


def _timestamp(at: datetime) -> str:
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.isoformat(timespec="seconds") + "Z"


def _finite(value: float | None, digits: int = 6) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def slo_summary(statuses: Sequence[SloStatus]) -> dict[str, Any]:
    """slo-summary.json: targets, metrics and compliance per SLO (key ``service/slo``) and overall."""
    ordered = sorted(statuses, key=lambda s: s.key)
    return {
        "timestamp": _timestamp(max(s.as_of for s in ordered)) if ordered else None,
        "targets": {
            s.key: {"kind": s.kind, "objective": s.objective, "window_days": s.window_days}
            | ({"threshold_ms": s.threshold_ms} if s.threshold_ms is not None else {})
            for s in ordered
        },
        "metrics": {
            s.key: {
                "sli": _finite(s.sli),
                "good_events": s.good_events,
                "valid_events": s.valid_events,
                "error_budget_remaining": _finite(s.error_budget_remaining),
                "burn_rates": {label: _finite(rate) for label, rate in s.burn_rates.items()},
                "alert": s.alert,
                "alert_rule": s.alert_rule,
            }
            for s in ordered
        },
        "compliance": {s.key: s.compliant for s in ordered} | {"overall": all(s.compliant for s in ordered)},
    }


def slo_timeseries(statuses: Iterable[SloStatus]) -> dict[str, Any]:
    """slo-timeseries.json: one point list per SLO and the overall compliance at each moment."""
    ordered = sorted(statuses, key=lambda s: (s.key, s.as_of))
    series: dict[str, list[dict[str, Any]]] = {}
    overall: dict[datetime, bool] = {}
    for s in ordered:
        series.setdefault(s.key, []).append(
            {
                "timestamp": _timestamp(s.as_of),
                "sli": _finite(s.sli),
                "error_budget_remaining": _finite(s.error_budget_remaining),
                "alert": s.alert,
                "compliant": s.compliant,
            }
        )
        overall[s.as_of] = overall.get(s.as_of, True) and s.compliant
    return {
        "timestamp": _timestamp(max(overall)) if overall else None,
        "series": series,
        "overall": [{"timestamp": _timestamp(at), "compliant": ok} for at, ok in sorted(overall.items())],
    }


def to_json_text(document: Mapping[str, Any]) -> str:
    """Deterministic JSON for the exported files (sorted keys, no NaN)."""
    return json.dumps(document, indent=2, sort_keys=True, allow_nan=False) + "\n"
