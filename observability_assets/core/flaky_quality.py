"""How well flaky-test scoring matches ground truth (the simulator's labels file).

Pure: the caller hands over the final status per test, the days each test was flagged, and the
labels (`Organisation.labels()`: flaky tests, broken tests with their start and fix commits, the
infrastructure outage). Test ids are computed from the labels with `core.junit.test_id`, the same
identity the ingestion gives the tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from observability_assets.core.flaky import BROKEN, FLAGGED_STATUSES


@dataclass(frozen=True)
class FlakyQuality:
    as_of: str
    flaky_labelled: int  # labelled flaky and run in the final window
    flagged: int  # flaky or quarantined at the end
    true_positives: int
    precision: float
    recall: float
    broken_labelled: int  # labelled broken at some point of the history
    broken_flagged_flaky: int  # of those, flagged flaky on any day (must be 0)
    still_broken: int  # labelled broken and not fixed at the end
    broken_detected: int  # of those, status broken at the end
    false_flags: int  # tests not labelled flaky that were flagged on any day
    outage_false_flags: int  # of those, flagged while the outage day was in the window
    missed: tuple[str, ...]  # labelled flaky, not flagged at the end (classname::name)
    false_positives: tuple[str, ...]
    broken_undetected: tuple[str, ...] = ()  # still broken, status not broken (yet)
    by_frequency: dict[str, dict[str, Any]] = field(default_factory=dict)  # see frequency_quality
    # Flaky tests with MIN_FAILURES_FOR_RECALL failures or more in their final window (given failures)
    flaky_with_enough_failures: int = 0
    recall_enough_failures: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


SEVERAL_A_DAY, DAILY, WEEKLY = "several a day", "daily", "weekly"
FREQUENCIES = (SEVERAL_A_DAY, DAILY, WEEKLY)
MIN_FAILURES_FOR_RECALL = 4  # recall by frequency counts flaky tests with this many failures or more


def frequency_bucket(runs_per_day: float) -> str:
    """How often a test runs: distinct workflow runs per day over its window."""
    if runs_per_day >= 1.5:
        return SEVERAL_A_DAY
    if runs_per_day >= 0.4:
        return DAILY
    return WEEKLY


def frequency_quality(
    final_status: Mapping[str, str],
    flaky_ids: set[str],
    broken_ids: set[str],
    ever_flagged: set[str],
    frequency: Mapping[str, str],
    failures: Mapping[str, int],
) -> dict[str, dict[str, Any]]:
    """Precision and recall per run frequency; recall over flaky tests with enough failures to judge."""
    out: dict[str, dict[str, Any]] = {}
    for bucket in FREQUENCIES:
        tests = {t for t in final_status if frequency.get(t) == bucket}
        flagged = {t for t in tests if final_status[t] in FLAGGED_STATUSES}
        flaky = tests & flaky_ids
        eligible = {t for t in flaky if failures.get(t, 0) >= MIN_FAILURES_FOR_RECALL}
        true_positives = flagged & flaky
        out[bucket] = {
            "tests": len(tests),
            "flaky_labelled": len(flaky),
            "flaky_with_enough_failures": len(eligible),
            "flagged": len(flagged),
            "true_positives": len(true_positives),
            "precision": len(true_positives) / len(flagged) if flagged else 1.0,
            "recall_enough_failures": len(eligible & flagged) / len(eligible) if eligible else 1.0,
            "recall_all": len(true_positives) / len(flaky) if flaky else 1.0,
            "broken_labelled": len(tests & broken_ids),
            "broken_ever_flagged": len(tests & broken_ids & ever_flagged),
        }
    return out


def label_id(item: Mapping[str, Any]) -> str:
    # core.junit builds Arrow schemas when imported: load it with the first label, not the definitions.
    from observability_assets.core.junit import test_id

    return test_id(item["repo"], item.get("classname"), item.get("file"), item["test_name"])


def _name(item: Mapping[str, Any]) -> str:
    return f"{item.get('classname')}::{item['test_name']}"


def measure(
    final_status: Mapping[str, str],
    flagged_days: Iterable[tuple[str, date]],
    labels: Mapping[str, Any],
    *,
    as_of: date,
    window_days: int,
    frequency: Mapping[str, str] | None = None,
    failures: Mapping[str, int] | None = None,
) -> FlakyQuality:
    """Precision and recall at `as_of`, plus the checks the acceptance criteria name.

    `final_status` maps test_id -> status for the tests in the final window; `flagged_days` holds
    (test_id, day) for every day a test was flagged (flaky, quarantined, or broken while flagged).
    With `frequency` (test_id -> one of FREQUENCIES) and `failures` (test_id -> failures in its
    final window) the figures are also broken down by run frequency.
    """
    flaky = {label_id(t): t for t in labels["flaky_tests"]}
    broken = {label_id(t): t for t in labels["broken_tests"]}
    flagged_now = {t for t, s in final_status.items() if s in FLAGGED_STATUSES}
    in_window = set(final_status)
    relevant = {t for t in flaky if t in in_window}
    true_positives = flagged_now & relevant
    still_broken = {t for t, b in broken.items() if b.get("fix_sha") is None and t in in_window}

    ever: dict[str, list[date]] = {}
    for test, day in flagged_days:
        ever.setdefault(test, []).append(day)
    false_flags = {t for t in ever if t not in flaky}
    outage = labels.get("outage")
    outage_false = set()
    if outage:
        first = date.fromisoformat(outage["day"])
        last = first + timedelta(days=window_days - 1)
        outage_false = {t for t in false_flags if any(first <= d <= last for d in ever[t])}
    eligible = {t for t in relevant if (failures or {}).get(t, 0) >= MIN_FAILURES_FOR_RECALL}
    names = {**{t: _name(i) for t, i in flaky.items()}, **{t: _name(i) for t, i in broken.items()}}
    return FlakyQuality(
        as_of=as_of.isoformat(),
        flaky_labelled=len(relevant),
        flagged=len(flagged_now),
        true_positives=len(true_positives),
        precision=len(true_positives) / len(flagged_now) if flagged_now else 1.0,
        recall=len(true_positives) / len(relevant) if relevant else 1.0,
        broken_labelled=len(broken),
        broken_flagged_flaky=len(set(broken) & set(ever)),
        still_broken=len(still_broken),
        broken_detected=sum(final_status.get(t) == BROKEN for t in still_broken),
        false_flags=len(false_flags),
        outage_false_flags=len(outage_false),
        missed=tuple(sorted(names[t] for t in relevant - flagged_now)),
        false_positives=tuple(sorted(names.get(t, t) for t in flagged_now - relevant)),
        broken_undetected=tuple(sorted(names[t] for t in still_broken if final_status.get(t) != BROKEN)),
        flaky_with_enough_failures=len(eligible),
        recall_enough_failures=len(eligible & flagged_now) / len(eligible) if eligible else 1.0,
        by_frequency=(
            frequency_quality(final_status, set(flaky), set(broken), set(ever), frequency, failures or {})
            if frequency is not None
            else {}
        ),
    )
