"""Deterministic simulated probe history for the demo services, with labelled incidents.

SLO windows span weeks, and probing real HTTP once a minute for 28 days is not a demo. This module
generates the minutes instead, one day at a time, as arrays (numpy, then one DataFrame):

- healthy baseline: a per-service median latency with a gentle daily cycle and log-normal noise,
  and rare isolated failures (2 in 10,000 probes), well inside every catalogue SLO;
- three labelled incidents per service, one in each third of the window, in shuffled order:
  an outage (every probe fails for 15-40 minutes, as 503s or refused connections), a latency
  degradation (1.5-2.5 s for 1.5-4 hours) and an error burst (5-25 % of probes answer 500 for
  45-120 minutes).

Every random draw comes from a generator keyed by (seed, service, url, day), so a day generated
alone equals the same day generated within a range, and re-loading a partition gives the same rows.
``labels_document`` describes the incidents and, for each SLO they touch, when core.slo predicts the
first alert (assuming a clean history before the incident), so the demo can be checked against it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd

from observability_assets.core.service_catalogue import ServiceCatalogue
from observability_assets.core.slo import first_alert

IncidentKind = Literal["outage", "latency", "errors"]
MINUTES_PER_DAY = 24 * 60
BASELINE_FAILURE_RATE = 0.0002
_INCIDENT_KINDS: tuple[IncidentKind, ...] = ("outage", "latency", "errors")


@dataclass(frozen=True)
class Incident:
    service: str
    kind: IncidentKind
    start: datetime  # UTC, naive, on a minute; the first affected probe
    end: datetime  # exclusive
    failure_ratio: float  # share of probes that fail (1.0 for an outage, 0 for a latency incident)
    latency_ms: float | None = None  # typical latency during a latency degradation
    refused: bool = False  # outage by refused connections (no response) rather than 503s

    def covers(self, times: np.ndarray) -> np.ndarray:
        return (times >= np.datetime64(self.start)) & (times < np.datetime64(self.end))

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "kind": self.kind,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "minutes": int((self.end - self.start) / timedelta(minutes=1)),
            "failure_ratio": self.failure_ratio,
            "latency_ms": self.latency_ms,
            "refused": self.refused,
        }


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds") + "Z"


def _rng(seed: int, *parts: str | int) -> np.random.Generator:
    key = [seed & 0xFFFFFFFF] + [zlib.crc32(p.encode()) if isinstance(p, str) else int(p) for p in parts]
    return np.random.default_rng(key)


def plan_incidents(services: Sequence[str], first_day: date, days: int, seed: int) -> list[Incident]:
    """Three incidents per service, one in each third of the window (after its first day)."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    window_start = datetime.combine(first_day, time())
    # The first day stays clean when there is room, so every incident starts on a clean history.
    lead_in = MINUTES_PER_DAY if days > 1 else 0
    span = days * MINUTES_PER_DAY - lead_in
    incidents = []
    for service in services:
        rng = _rng(seed, "incidents", service)
        order = rng.permutation(len(_INCIDENT_KINDS))
        for segment, kind_index in enumerate(order):
            kind = _INCIDENT_KINDS[kind_index]
            minutes = {"outage": (15, 40), "latency": (90, 240), "errors": (45, 120)}[kind]
            duration = int(rng.integers(minutes[0], minutes[1] + 1))
            segment_start = lead_in + segment * span // 3
            latest = max(segment_start, segment_start + span // 3 - duration)
            offset = int(rng.integers(segment_start, latest + 1))
            start = window_start + timedelta(minutes=offset)
            incidents.append(
                Incident(
                    service=service,
                    kind=kind,
                    start=start,
                    end=start + timedelta(minutes=duration),
                    failure_ratio={"outage": 1.0, "latency": 0.0}.get(
                        kind, round(float(rng.uniform(0.05, 0.25)), 3)
                    ),
                    latency_ms=round(float(rng.uniform(1500, 2500)), 1) if kind == "latency" else None,
                    refused=kind == "outage" and bool(rng.random() < 0.5),
                )
            )
    return sorted(incidents, key=lambda i: (i.start, i.service))


def simulate_day(
    endpoints: Sequence[tuple[str, str]],
    day: date,
    incidents: Iterable[Incident],
    seed: int,
    interval: timedelta = timedelta(minutes=1),
) -> pd.DataFrame:
    """Probe results of ``day`` for each (service, url): service, url, probed_at, status_code,
    latency_ms, ok, error; one row per endpoint and tick, ticks every ``interval`` from midnight."""
    ticks = np.arange(
        np.datetime64(datetime.combine(day, time())),
        np.datetime64(datetime.combine(day + timedelta(days=1), time())),
        np.timedelta64(int(interval.total_seconds()), "s"),
    ).astype("datetime64[us]")
    by_service: dict[str, list[Incident]] = {}
    for incident in incidents:
        by_service.setdefault(incident.service, []).append(incident)
    frames = [
        _simulate_endpoint(service, url, ticks, by_service.get(service, []), seed, day)
        for service, url in endpoints
    ]
    if not frames:
        return _empty_frame()
    return pd.concat(frames, ignore_index=True)


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "service": pd.Series(dtype="string"),
            "url": pd.Series(dtype="string"),
            "probed_at": pd.Series(dtype="datetime64[us]"),
            "status_code": pd.Series(dtype="Int32"),
            "latency_ms": pd.Series(dtype="Float64"),
            "ok": pd.Series(dtype="boolean"),
            "error": pd.Series(dtype="string"),
        }
    )


def _simulate_endpoint(
    service: str, url: str, ticks: np.ndarray, incidents: list[Incident], seed: int, day: date
) -> pd.DataFrame:
    n = len(ticks)
    median_ms = float(_rng(seed, "median", service).uniform(35, 140))
    rng = _rng(seed, "probes", service, url, day.toordinal())
    hour = (ticks - ticks.astype("datetime64[D]")).astype("timedelta64[m]").astype(float) / 60.0
    daily = 1.0 + 0.2 * np.sin(2 * np.pi * (hour - 9.0) / 24.0)  # busiest mid-afternoon UTC
    latency = median_ms * daily * rng.lognormal(0.0, 0.25, n)
    failure_draw = rng.random(n)
    failed = failure_draw < BASELINE_FAILURE_RATE
    status = np.full(n, 200, dtype=np.int32)
    status[failed] = 503
    refused = np.zeros(n, dtype=bool)
    for incident in incidents:
        inside = incident.covers(ticks)
        if incident.kind == "latency":
            latency[inside] = incident.latency_ms * rng.lognormal(0.0, 0.05, int(inside.sum()))
            continue
        hit = inside & (failure_draw < incident.failure_ratio)
        failed |= hit
        if incident.refused:
            refused |= hit
        status[hit] = 503 if incident.kind == "outage" else 500
    has_response = ~refused
    error = np.full(n, None, dtype=object)
    error[failed & has_response] = np.char.add("HTTP ", status[failed & has_response].astype(str))
    error[refused] = "connection refused"
    return pd.DataFrame(
        {
            "service": pd.Series(np.full(n, service), dtype="string"),
            "url": pd.Series(np.full(n, url), dtype="string"),
            "probed_at": ticks,
            "status_code": pd.Series(status, dtype="Int32").where(has_response),
            "latency_ms": pd.Series(np.round(latency, 3), dtype="Float64").where(has_response),
            "ok": pd.Series(~failed, dtype="boolean"),
            "error": pd.Series(error, dtype="string"),
        }
    )


def labels_document(
    incidents: Sequence[Incident],
    catalogue: ServiceCatalogue,
    *,
    seed: int,
    first_day: date,
    days: int,
) -> dict[str, Any]:
    """The labels file: every incident and, per SLO it burns, core.slo's predicted first alert."""
    labelled = []
    for incident in incidents:
        entry = incident.to_dict()
        predictions = []
        service = catalogue.get(incident.service) if incident.service in catalogue.names else None
        for slo in service.slos if service else ():
            ratio = _error_ratio(incident, slo.kind, slo.threshold_ms)
            first = first_alert(ratio, slo.objective, slo.window_days) if ratio > 0 else None
            predictions.append(
                {
                    "slo": slo.name,
                    "error_ratio": ratio,
                    "alert": first.rule.severity if first else "none",
                    "rule": first.rule.name if first else None,
                    "after_minutes": round(first.after / timedelta(minutes=1), 3) if first else None,
                    "at": _iso(incident.start + first.after) if first and first.after is not None else None,
                    # Only an incident that outlasts the prediction actually raises the alert.
                    "expected": bool(first and incident.start + first.after <= incident.end),
                }
            )
        entry["predictions"] = predictions
        labelled.append(entry)
    return {
        "generator": "observability_assets.demo.health_history",
        "seed": seed,
        "start": first_day.isoformat(),
        "days": days,
        "incidents": labelled,
    }


def _error_ratio(incident: Incident, kind: str, threshold_ms: float | None) -> float:
    """Share of the incident's probes that are bad events for an SLO of ``kind``."""
    if kind == "latency" and incident.kind == "latency":
        return 1.0 if threshold_ms is not None and incident.latency_ms > threshold_ms else 0.0
    return incident.failure_ratio
