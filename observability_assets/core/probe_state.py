"""Service health from probe results: ok / degraded / down, with hysteresis.

A pure fold: ``step(state, probe, policy)`` gives the next state, ``fold`` runs a whole sequence.

- down: ``failures_to_down`` consecutive failed probes. Once down, a service stays down until
  ``successes_to_recover`` consecutive successes; then only those recovery probes count, so it comes
  back ok (or degraded if they were slow) instead of being held degraded by the outage itself.
- degraded: at least ``bad_to_degrade`` of the last ``window`` probes were bad, where bad means
  failed or slower than ``latency_threshold_ms``. One slow or failed probe alone is a blip; the
  window also delays the way back to ok until the bad probes have aged out of it.
- ok: otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Health(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    latency_ms: float | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class HysteresisPolicy:
    failures_to_down: int = 3
    successes_to_recover: int = 2
    latency_threshold_ms: float = 2000.0
    window: int = 5
    bad_to_degrade: int = 2

    def __post_init__(self) -> None:
        for name in ("failures_to_down", "successes_to_recover", "window", "bad_to_degrade"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.bad_to_degrade > self.window:
            raise ValueError(f"bad_to_degrade ({self.bad_to_degrade}) cannot exceed window ({self.window})")
        if self.latency_threshold_ms <= 0:
            raise ValueError(f"latency_threshold_ms must be positive, got {self.latency_threshold_ms}")

    def is_slow(self, probe: ProbeResult) -> bool:
        return probe.latency_ms is not None and probe.latency_ms > self.latency_threshold_ms


@dataclass(frozen=True)
class ProbeState:
    health: Health = Health.OK
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    recent_bad: tuple[bool, ...] = ()  # newest last, at most policy.window long
    since: datetime | None = None  # time of the probe that brought the current health
    reason: str = "no probes yet"  # why the service is in its current health, as of the last probe
    probes: int = 0


def _describe(probe: ProbeResult, policy: HysteresisPolicy) -> str:
    if not probe.ok:
        return "probe failed"
    if policy.is_slow(probe):
        return f"latency {probe.latency_ms:g} ms over {policy.latency_threshold_ms:g} ms"
    return "probe ok"


def step(state: ProbeState, probe: ProbeResult, policy: HysteresisPolicy = HysteresisPolicy()) -> ProbeState:
    """The state after one more probe."""
    bad = not probe.ok or policy.is_slow(probe)
    failures = 0 if probe.ok else state.consecutive_failures + 1
    successes = state.consecutive_successes + 1 if probe.ok else 0
    recent = (state.recent_bad + (bad,))[-policy.window :]

    if failures >= policy.failures_to_down:
        health, reason = Health.DOWN, f"{failures} consecutive failed probes"
    elif state.health is Health.DOWN and successes < policy.successes_to_recover:
        health, reason = Health.DOWN, f"recovering: {successes} of {policy.successes_to_recover} successes"
    else:
        if state.health is Health.DOWN:
            recent = recent[-policy.successes_to_recover :]
        bad_count = sum(recent)
        if bad_count >= policy.bad_to_degrade:
            health = Health.DEGRADED
            reason = f"{bad_count} of the last {len(recent)} probes bad ({_describe(probe, policy)})"
        else:
            health, reason = Health.OK, _describe(probe, policy)

    changed = health is not state.health or state.probes == 0
    return ProbeState(
        health=health,
        consecutive_failures=failures,
        consecutive_successes=successes,
        recent_bad=recent,
        since=probe.at if changed else state.since,
        reason=reason,
        probes=state.probes + 1,
    )


def fold(
    probes: Iterable[ProbeResult],
    policy: HysteresisPolicy = HysteresisPolicy(),
    initial: ProbeState | None = None,
) -> ProbeState:
    state = initial or ProbeState()
    for probe in probes:
        state = step(state, probe, policy)
    return state


def timeline(
    probes: Iterable[ProbeResult],
    policy: HysteresisPolicy = HysteresisPolicy(),
    initial: ProbeState | None = None,
) -> list[ProbeState]:
    """The state after each probe."""
    states, state = [], initial or ProbeState()
    for probe in probes:
        state = step(state, probe, policy)
        states.append(state)
    return states


@dataclass(frozen=True)
class Transition:
    index: int  # position of the probe that caused it
    at: datetime | None
    before: Health
    after: Health
    reason: str


def transitions(
    probes: Iterable[ProbeResult],
    policy: HysteresisPolicy = HysteresisPolicy(),
    initial: ProbeState | None = None,
) -> list[Transition]:
    """Only the changes of health, e.g. for the ledger or incident timelines."""
    start = initial or ProbeState()
    changes, previous = [], start.health
    for index, state in enumerate(timeline(probes, policy, start)):
        if state.health is not previous:
            changes.append(Transition(index, state.since, previous, state.health, state.reason))
            previous = state.health
    return changes
