from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from observability_assets.core.probe_state import (
    Health,
    HysteresisPolicy,
    ProbeResult,
    ProbeState,
    fold,
    step,
    timeline,
    transitions,
)

OK, DEG, DOWN = Health.OK, Health.DEGRADED, Health.DOWN
POLICY = HysteresisPolicy(failures_to_down=3, successes_to_recover=2, latency_threshold_ms=1000, window=5)


def probes(pattern: str, start: datetime | None = None) -> list[ProbeResult]:
    """'.' ok and fast, 's' ok but slow, 'x' failed; one probe per minute from ``start``."""
    start = start or datetime(2026, 1, 1)
    kinds = {".": (True, 100.0), "s": (True, 2500.0), "x": (False, None)}
    return [
        ProbeResult(ok=kinds[c][0], latency_ms=kinds[c][1], at=start + timedelta(minutes=i))
        for i, c in enumerate(pattern)
    ]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("....", [OK, OK, OK, OK]),
        ("x...", [OK, OK, OK, OK]),  # one failure is a blip
        ("xx..", [OK, DEG, DEG, DEG]),  # two bad in the window: degraded until they age out
        ("xx.....", [OK, DEG, DEG, DEG, DEG, OK, OK]),
        ("xxx", [OK, DEG, DOWN]),  # three consecutive failures: down
        ("xxx.x.", [OK, DEG, DOWN, DOWN, DOWN, DOWN]),  # a success between failures does not recover
        ("xxx..", [OK, DEG, DOWN, DOWN, OK]),  # two consecutive successes recover, clean
        ("xxx.s", [OK, DEG, DOWN, DOWN, OK]),  # a slow success still counts towards recovery
        ("s.s..", [OK, OK, DEG, DEG, DEG]),  # two slow probes in five: degraded
        ("x.x.x.x", [OK, OK, DEG, DEG, DEG, DEG, DEG]),  # intermittent failures never go down
        ("xxxxxx..", [OK, DEG] + [DOWN] * 5 + [OK]),
    ],
)
def test_health_timeline(pattern, expected):
    assert [s.health for s in timeline(probes(pattern), POLICY)] == expected


def test_recovery_through_slow_probes_is_degraded_not_ok():
    # Only the recovery probes count after an outage: two slow ones land in degraded, not ok.
    states = timeline(probes("xxxss"), POLICY)
    assert [s.health for s in states] == [OK, DEG, DOWN, DOWN, DEG]
    assert states[-1].reason.startswith("2 of the last 2 probes bad")


def test_policy_is_configurable():
    eager = HysteresisPolicy(failures_to_down=1, successes_to_recover=1, window=1, bad_to_degrade=1)
    assert [s.health for s in timeline(probes("x.s."), eager)] == [DOWN, OK, DEG, OK]
    patient = HysteresisPolicy(failures_to_down=5, successes_to_recover=3)
    assert fold(probes("xxxx"), patient).health is DEG
    assert fold(probes("xxxxx.."), patient).health is DOWN


def test_state_records_when_and_why():
    ps = probes("..xxx..")
    final = fold(ps, POLICY)
    assert final.health is OK and final.since == ps[-1].at and final.probes == 7
    down = fold(ps[:5], POLICY)
    assert down.since == ps[4].at and down.reason == "3 consecutive failed probes"
    assert down.consecutive_failures == 3 and down.consecutive_successes == 0


def test_transitions():
    ps = probes("..xxx....s.s")
    changes = transitions(ps, POLICY)
    assert [(c.index, c.before, c.after) for c in changes] == [
        (3, OK, DEG),
        (4, DEG, DOWN),
        (6, DOWN, OK),
        (11, OK, DEG),
    ]
    assert changes[1].at == ps[4].at


def test_fold_is_resumable():
    ps = probes("x.xx.xxx...")
    halfway = fold(ps[:5], POLICY)
    assert fold(ps[5:], POLICY, initial=halfway) == fold(ps, POLICY)
    assert step(ProbeState(), ps[0], POLICY).probes == 1


@pytest.mark.parametrize(
    "kwargs",
    [{"failures_to_down": 0}, {"window": 2, "bad_to_degrade": 3}, {"latency_threshold_ms": 0}],
)
def test_invalid_policies_are_rejected(kwargs):
    with pytest.raises(ValueError):
        HysteresisPolicy(**kwargs)
