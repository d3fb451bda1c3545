"""Golden baselines: stored outputs that current outputs are compared with, field by field.

JSON outputs are walked leaf by leaf (fields named by JSON Pointer, RFC 6901). Numbers may differ
within a tolerance, absolute or relative, chosen per field: a pointer in the tolerance map may
use `*` for any one segment (`/rows/*/cost_usd`); the most specific match wins. Everything else
(text, booleans, null, structure) must be equal. Images are compared by perceptual hash (pHash,
64 bits, via the imagehash library): the Hamming distance between the two hashes is small for
re-encoded, resized or slightly re-rendered pictures and large for different ones.

Each comparison is `ok` (identical), `drift` (different but within tolerance: reported) or `fail`
(beyond tolerance, missing, extra or of another type: a blocking asset check fails on it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OK, DRIFT, FAIL = "ok", "drift", "fail"
DEFAULT_MAX_DISTANCE = 8  # of 64 bits


@dataclass(frozen=True)
class Tolerance:
    """|actual - expected| <= max(abs, rel * |expected|) counts as drift, not failure."""

    abs: float = 0.0
    rel: float = 0.0

    def __post_init__(self) -> None:
        if self.abs < 0 or self.rel < 0:
            raise ValueError("tolerances must not be negative")

    def allows(self, diff: float, expected: float) -> bool:
        return diff <= max(self.abs, self.rel * abs(expected))

    def describe(self) -> str:
        return f"abs={self.abs:g} rel={self.rel:g}"

    @classmethod
    def parse(cls, spec: Mapping[str, Any] | None) -> Tolerance:
        spec = spec or {}
        unknown = set(spec) - {"abs", "rel"}
        if unknown:
            raise ValueError(f"unknown tolerance keys {sorted(unknown)} (use abs and rel)")
        return cls(float(spec.get("abs", 0.0)), float(spec.get("rel", 0.0)))


@dataclass(frozen=True)
class FieldResult:
    field: str
    expected: str | None  # JSON text, or the hash for images
    actual: str | None
    abs_diff: float | None
    rel_diff: float | None
    tolerance: str
    status: str


def pointer(parts: tuple[str | int, ...]) -> str:
    """JSON Pointer of a path (`~` and `/` escaped as RFC 6901 says)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _segments(ptr: str) -> list[str]:
    return [s.replace("~1", "/").replace("~0", "~") for s in ptr.split("/")[1:]] if ptr else []


def tolerance_for(field: str, tolerances: Mapping[str, Tolerance], default: Tolerance) -> Tolerance:
    """The tolerance of the most specific matching pattern (fewest wildcards), else `default`."""
    if field in tolerances:
        return tolerances[field]
    parts = _segments(field)
    best: tuple[int, Tolerance] | None = None
    for pattern, tolerance in tolerances.items():
        segments = _segments(pattern)
        if len(segments) == len(parts) and all(s in ("*", p) for s, p in zip(segments, parts, strict=True)):
            wildcards = segments.count("*")
            if best is None or wildcards < best[0]:
                best = (wildcards, tolerance)
    return best[1] if best else default


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _leaves(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    if isinstance(value, dict):
        if not value:
            yield path, value
        for key in sorted(value):
            yield from _leaves(value[key], (*path, key))
    elif isinstance(value, list):
        if not value:
            yield path, value
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path, value


def compare_json(
    expected: Any,
    actual: Any,
    tolerances: Mapping[str, Tolerance] | None = None,
    default: Tolerance = Tolerance(),
) -> list[FieldResult]:
    """Every leaf of either document, compared (see the module docstring)."""
    tolerances = tolerances or {}
    golden = {pointer(p): v for p, v in _leaves(expected)}
    current = {pointer(p): v for p, v in _leaves(actual)}
    results = []
    for field in sorted(golden.keys() | current.keys()):
        tolerance = tolerance_for(field, tolerances, default)
        if field not in current:
            results.append(
                FieldResult(field, _text(golden[field]), None, None, None, tolerance.describe(), FAIL)
            )
        elif field not in golden:
            results.append(
                FieldResult(field, None, _text(current[field]), None, None, tolerance.describe(), FAIL)
            )
        else:
            results.append(_compare_leaf(field, golden[field], current[field], tolerance))
    return results


def _compare_leaf(field: str, expected: Any, actual: Any, tolerance: Tolerance) -> FieldResult:
    if _is_number(expected) and _is_number(actual):
        if not (math.isfinite(expected) and math.isfinite(actual)):
            same = expected == actual
            return FieldResult(
                field, _text(expected), _text(actual), None, None, tolerance.describe(), OK if same else FAIL
            )
        diff = abs(float(actual) - float(expected))
        rel = diff / abs(expected) if expected else (0.0 if diff == 0 else math.inf)
        status = OK if diff == 0 else DRIFT if tolerance.allows(diff, float(expected)) else FAIL
        return FieldResult(field, _text(expected), _text(actual), diff, rel, tolerance.describe(), status)
    status = OK if type(expected) is type(actual) and expected == actual else FAIL
    return FieldResult(field, _text(expected), _text(actual), None, None, "equal", status)


def perceptual_hash(path: Path) -> str:
    """64-bit pHash of an image file, as 16 hex digits."""
    import imagehash
    from PIL import Image

    with Image.open(path) as image:
        return str(imagehash.phash(image))


def compare_image(
    field: str, expected_hash: str, actual_hash: str | None, max_distance: int = DEFAULT_MAX_DISTANCE
) -> FieldResult:
    """Hamming distance between two pHashes: 0 ok, up to `max_distance` drift, beyond it fail."""
    import imagehash

    tolerance = f"distance<={max_distance}"
    if actual_hash is None:
        return FieldResult(field, expected_hash, None, None, None, tolerance, FAIL)
    distance = imagehash.hex_to_hash(expected_hash) - imagehash.hex_to_hash(actual_hash)
    status = OK if distance == 0 else DRIFT if distance <= max_distance else FAIL
    return FieldResult(field, expected_hash, actual_hash, float(distance), None, tolerance, status)
