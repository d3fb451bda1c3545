"""Traffic-shadow comparison with Diffy-style noise filtering, and traffic summary statistics.

Diffy (opendiffy/diffy) replays each request to the primary, a second copy of the primary and the
candidate. Fields that differ between the two primaries are noise (timestamps, request ids, random
order), so a candidate difference in such a field says nothing. The same idea here, per request and
in aggregate:

- ``compare_responses``: flatten both JSON bodies to JSON Pointer paths (RFC 6901), diff them field
  by field, and drop the fields that also differ between two baseline replays.
- ``DifferenceCounter`` / ``significant_fields``: Diffy's ``DifferencesFilterFactory`` over many
  requests: a field is a real difference when it differs more often against the candidate than
  between the baselines, by more than ``relative_threshold_pct`` of the two counts together and
  ``absolute_threshold_pct`` of the endpoint's requests.
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lazy_loader

# numpy loads on first use, not with the definitions (docs/architecture.md).
np = lazy_loader.load("numpy")


class _Missing:
    """A field that one side does not have at all (distinct from JSON null)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def flatten_json(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of a JSON value by JSON Pointer path.

    Empty objects and arrays are leaves themselves, so a field that became ``{}`` still shows.
    """
    if isinstance(value, Mapping) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten_json(item, f"{prefix}/{_escape(str(key))}"))
        return flat
    if isinstance(value, list) and value:
        flat = {}
        for index, item in enumerate(value):
            flat.update(flatten_json(item, f"{prefix}/{index}"))
        return flat
    return {prefix: value}


def parse_body(body: bytes | str | None) -> Any:
    """A response body as JSON when it is JSON, else as its text (compared as one root field)."""
    if body is None:
        return MISSING
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    try:
        return json.loads(text)
    except ValueError:
        return text


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality of two leaves: 1 == 1.0, but true != 1 and "1" != 1 (unlike Python's ==)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


@dataclass(frozen=True)
class FieldDiff:
    path: str
    baseline: Any
    candidate: Any

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path}
        if self.baseline is not MISSING:
            out["baseline"] = self.baseline
        if self.candidate is not MISSING:
            out["candidate"] = self.candidate
        return out


def diff_json(baseline: Any, candidate: Any) -> tuple[FieldDiff, ...]:
    """Every leaf path whose value differs (or exists on one side only), sorted by path."""
    left, right = flatten_json(baseline), flatten_json(candidate)
    diffs = []
    for path in sorted(left.keys() | right.keys()):
        a, b = left.get(path, MISSING), right.get(path, MISSING)
        if a is MISSING or b is MISSING or not _json_equal(a, b):
            diffs.append(FieldDiff(path, a, b))
    return tuple(diffs)


@dataclass(frozen=True)
class ShadowComparison:
    baseline_status: int | None
    candidate_status: int | None
    differences: tuple[FieldDiff, ...]  # after noise filtering
    raw_paths: frozenset[str]  # every differing path, noise included (for DifferenceCounter)
    noise_paths: frozenset[str]  # paths that differed between the baseline replays or were ignored

    @property
    def status_match(self) -> bool:
        return self.baseline_status == self.candidate_status

    @property
    def body_match(self) -> bool:
        return not self.differences

    @property
    def match(self) -> bool:
        return self.status_match and self.body_match

    def diff_json(self) -> str:
        """Canonical JSON of what differs, for raw.shadow_samples.diff ('{}' when nothing does)."""
        document: dict[str, Any] = {}
        if not self.status_match:
            document["status"] = {"baseline": self.baseline_status, "candidate": self.candidate_status}
        if self.differences:
            document["fields"] = [d.to_dict() for d in self.differences]
        if self.noise_paths and document:
            document["noise"] = sorted(self.noise_paths)
        return json.dumps(document, sort_keys=True, separators=(",", ":"), default=repr)


def compare_responses(
    baseline_status: int | None,
    baseline_body: Any,
    candidate_status: int | None,
    candidate_body: Any,
    *,
    baseline_replay_body: Any = MISSING,
    ignore: Sequence[str] = (),
) -> ShadowComparison:
    """Compare a candidate response to the baseline, ignoring noise.

    Bodies are parsed JSON values (see ``parse_body``). ``baseline_replay_body`` is the same request
    replayed to the baseline again: fields that differ between the two baseline bodies are noise.
    ``ignore`` adds glob patterns over paths (e.g. ``*/request_id``) that are always noise.
    """
    raw = diff_json(baseline_body, candidate_body)
    noise = (
        {d.path for d in diff_json(baseline_body, baseline_replay_body)}
        if baseline_replay_body is not MISSING
        else set()
    )
    noise |= {d.path for d in raw if any(fnmatch.fnmatchcase(d.path, pattern) for pattern in ignore)}
    return ShadowComparison(
        baseline_status=baseline_status,
        candidate_status=candidate_status,
        differences=tuple(d for d in raw if d.path not in noise),
        raw_paths=frozenset(d.path for d in raw),
        noise_paths=frozenset(noise),
    )


# --------------------------------------------------------------------------------------------------
# Diffy's aggregate filter
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldStats:
    endpoint: str
    path: str
    raw: int  # requests where baseline and candidate differed in this field
    noise: int  # requests where the two baselines differed in it
    total: int  # requests seen for the endpoint

    @property
    def absolute_pct(self) -> float:
        """Diffy: |raw - noise| as a percentage of the endpoint's requests."""
        return abs(self.raw - self.noise) / self.total * 100 if self.total else 0.0

    @property
    def relative_pct(self) -> float:
        """Diffy: |raw - noise| as a percentage of raw + noise."""
        both = self.raw + self.noise
        return abs(self.raw - self.noise) / both * 100 if both else 0.0


@dataclass
class DifferenceCounter:
    """Per endpoint: how often each field differed against the candidate and between baselines."""

    totals: Counter[str] = field(default_factory=Counter)
    raw: dict[str, Counter[str]] = field(default_factory=dict)
    noise: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, endpoint: str, comparison: ShadowComparison) -> None:
        self.totals[endpoint] += 1
        self.raw.setdefault(endpoint, Counter()).update(comparison.raw_paths)
        self.noise.setdefault(endpoint, Counter()).update(comparison.noise_paths)

    def fields(self, endpoint: str) -> list[FieldStats]:
        raw, noise = self.raw.get(endpoint, Counter()), self.noise.get(endpoint, Counter())
        return [
            FieldStats(endpoint, path, raw[path], noise[path], self.totals[endpoint])
            for path in sorted(raw.keys() | noise.keys())
        ]


def significant_fields(
    counter: DifferenceCounter, relative_threshold_pct: float = 20.0, absolute_threshold_pct: float = 0.03
) -> list[FieldStats]:
    """Fields whose candidate differences stand out from the noise (Diffy's filter rule)."""
    return [
        stats
        for endpoint in sorted(counter.totals)
        for stats in counter.fields(endpoint)
        if stats.raw > stats.noise
        and stats.relative_pct > relative_threshold_pct
        and stats.absolute_pct > absolute_threshold_pct
    ]


# --------------------------------------------------------------------------------------------------
# Traffic summaries
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrafficSummary:
    requests: int
    status_counts: Mapping[str, int]  # "200", "503", ... and "error" for no response at all
    error_rate: float | None  # share of requests with no response or a 5xx status
    mean_latency_ms: float | None
    p95_latency_ms: float | None  # linear interpolation between order statistics (numpy/DuckDB default)


def summarize_traffic(responses: Iterable[tuple[int | None, float | None]]) -> TrafficSummary:
    """Summary of (status, latency_ms) pairs; status None means the request got no response."""
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    errors = requests = 0
    for status, latency in responses:
        requests += 1
        statuses["error" if status is None else str(status)] += 1
        errors += status is None or status >= 500
        if latency is not None and math.isfinite(latency):
            latencies.append(float(latency))
    return TrafficSummary(
        requests=requests,
        status_counts=dict(sorted(statuses.items())),
        error_rate=errors / requests if requests else None,
        mean_latency_ms=float(np.mean(latencies)) if latencies else None,
        p95_latency_ms=float(np.percentile(latencies, 95)) if latencies else None,
    )


@dataclass(frozen=True)
class ShadowReport:
    baseline: TrafficSummary
    candidate: TrafficSummary
    status_match_rate: float | None
    body_match_rate: float | None


def shadow_report(
    samples: Iterable[tuple[int | None, int | None, float | None, float | None, bool]],
) -> ShadowReport:
    """Both sides' traffic summaries and match rates from raw.shadow_samples-like rows:
    (baseline_status, candidate_status, baseline_latency_ms, candidate_latency_ms, body_match)."""
    rows = list(samples)
    n = len(rows)
    return ShadowReport(
        baseline=summarize_traffic((r[0], r[2]) for r in rows),
        candidate=summarize_traffic((r[1], r[3]) for r in rows),
        status_match_rate=sum(r[0] == r[1] for r in rows) / n if n else None,
        body_match_rate=sum(bool(r[4]) for r in rows) / n if n else None,
    )
