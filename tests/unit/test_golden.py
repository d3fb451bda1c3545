"""Golden baselines: per-field numeric tolerance for JSON, perceptual-hash distance for images."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from observability_assets.core.golden import (
    DRIFT,
    FAIL,
    OK,
    Tolerance,
    compare_image,
    compare_json,
    perceptual_hash,
    pointer,
    tolerance_for,
)

GOLDEN = {
    "total_usd": 120.0,
    "repos": [{"name": "acme/api", "usd": 80.0, "runs": 410}, {"name": "acme/web", "usd": 40.0, "runs": 220}],
    "window": {"days": 28, "complete": True},
}


def status_of(results, field):
    return next(r.status for r in results if r.field == field)


def changed(**updates):
    doc = {"total_usd": 120.0, "repos": [dict(r) for r in GOLDEN["repos"]], "window": dict(GOLDEN["window"])}
    for path, value in updates.items():
        target = doc
        *parents, last = path.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value
    return doc


def test_identical_documents_are_ok():
    results = compare_json(GOLDEN, changed())
    assert {r.status for r in results} == {OK}
    assert {r.field for r in results} == {
        "/total_usd", "/repos/0/name", "/repos/0/usd", "/repos/0/runs", "/repos/1/name", "/repos/1/usd",
        "/repos/1/runs", "/window/days", "/window/complete",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("actual", "tolerance", "status"),
    [
        (120.0, Tolerance(), OK),
        (120.5, Tolerance(abs=1.0), DRIFT),
        (121.5, Tolerance(abs=1.0), FAIL),
        (122.0, Tolerance(rel=0.02), DRIFT),  # 2% of 120 is 2.4
        (123.0, Tolerance(rel=0.02), FAIL),
        (123.0, Tolerance(abs=3.0, rel=0.01), DRIFT),  # the larger of the two allowances
        (119.99999, Tolerance(), FAIL),  # no tolerance: any difference fails
    ],
)
def test_numeric_tolerance(actual, tolerance, status):
    results = compare_json(GOLDEN, changed(total_usd=actual), default=tolerance)
    assert status_of(results, "/total_usd") == status
    result = next(r for r in results if r.field == "/total_usd")
    assert result.abs_diff == pytest.approx(abs(actual - 120.0))
    assert result.rel_diff == pytest.approx(abs(actual - 120.0) / 120.0)


def test_per_field_tolerances_with_wildcards():
    tolerances = {"/repos/*/usd": Tolerance(rel=0.05), "/repos/1/usd": Tolerance(abs=0.1)}
    actual = changed(repos__0__usd=83.0, repos__1__usd=41.0, repos__0__runs=411)
    results = compare_json(GOLDEN, actual, tolerances)
    assert status_of(results, "/repos/0/usd") == DRIFT  # wildcard: 5% of 80 = 4
    assert status_of(results, "/repos/1/usd") == FAIL  # exact pointer wins: 0.1 < 1.0
    assert status_of(results, "/repos/0/runs") == FAIL  # default: exact


def test_most_specific_pattern_wins():
    tolerances = {"/*/*/usd": Tolerance(abs=9), "/repos/*/usd": Tolerance(abs=1)}
    assert tolerance_for("/repos/3/usd", tolerances, Tolerance()).abs == 1
    assert tolerance_for("/other/3/usd", tolerances, Tolerance()).abs == 9
    assert tolerance_for("/repos/3/runs", tolerances, Tolerance(abs=5)).abs == 5


@pytest.mark.parametrize(
    ("actual", "field"),
    [
        (changed(repos__0__name="acme/apx"), "/repos/0/name"),  # text must be equal
        (changed(window__complete=1), "/window/complete"),  # a boolean is not a number
        (changed(window__days="28"), "/window/days"),  # nor is text
        (changed(window__days=None), "/window/days"),
    ],
)
def test_non_numeric_changes_fail(actual, field):
    assert status_of(compare_json(GOLDEN, actual, default=Tolerance(abs=100)), field) == FAIL


def test_missing_and_extra_fields_fail():
    actual = changed()
    del actual["window"]["complete"]
    actual["repos"].append({"name": "acme/data", "usd": 1.0, "runs": 3})
    results = compare_json(GOLDEN, actual)
    missing = next(r for r in results if r.field == "/window/complete")
    assert missing.status == FAIL and missing.actual is None
    assert status_of(results, "/repos/2/usd") == FAIL


def test_non_finite_numbers():
    assert status_of(compare_json({"x": math.inf}, {"x": math.inf}), "/x") == OK
    assert status_of(compare_json({"x": 1.0}, {"x": math.nan}, default=Tolerance(abs=10)), "/x") == FAIL


def test_json_pointer_escaping():
    assert pointer(("a/b", "m~n", 0)) == "/a~1b/m~0n/0"
    results = compare_json({"a/b": {"m~n": 1}}, {"a/b": {"m~n": 2}}, {"/a~1b/m~0n": Tolerance(abs=1)})
    assert [(r.field, r.status) for r in results] == [("/a~1b/m~0n", DRIFT)]


def test_tolerance_parsing():
    assert Tolerance.parse({"abs": 0.5, "rel": "0.1"}) == Tolerance(0.5, 0.1)
    assert Tolerance.parse(None) == Tolerance()
    with pytest.raises(ValueError):
        Tolerance.parse({"absolute": 1})
    with pytest.raises(ValueError):
        Tolerance(abs=-1)


# -- images ----------------------------------------------------------------------------------------


def bar_chart(bars: list[int], size: tuple[int, int] = (320, 200)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    width = size[0] // len(bars)
    for i, height in enumerate(bars):
        draw.rectangle(
            [i * width + 4, size[1] - height, (i + 1) * width - 4, size[1] - 1], fill=(40, 90, 200)
        )
    return image


def saved(image: Image.Image, path: Path, **options) -> Path:
    image.save(path, **options)
    return path


def test_images_by_perceptual_hash(tmp_path):
    bars = [50, 120, 80, 160, 60, 140]
    golden = saved(bar_chart(bars), tmp_path / "golden.png")
    same = saved(bar_chart(bars), tmp_path / "same.png")
    resized = saved(bar_chart(bars).resize((640, 400)), tmp_path / "resized.png")
    buffer = io.BytesIO()
    bar_chart(bars).save(buffer, "JPEG", quality=60)
    jpeg = saved(Image.open(io.BytesIO(buffer.getvalue())), tmp_path / "jpeg.png")
    nudged = saved(bar_chart([*bars[:-1], 146]), tmp_path / "nudged.png")
    other = saved(bar_chart([160, 40, 150, 30, 170, 20]), tmp_path / "other.png")

    expected = perceptual_hash(golden)
    assert len(expected) == 16
    outcomes = {
        path.stem: compare_image("chart.png", expected, perceptual_hash(path))
        for path in (same, resized, jpeg, nudged, other)
    }
    assert outcomes["same"].status == OK and outcomes["resized"].status == OK
    assert outcomes["jpeg"].status in (OK, DRIFT) and outcomes["nudged"].status == DRIFT
    assert outcomes["other"].status == FAIL and outcomes["other"].abs_diff > 16
    assert compare_image("chart.png", expected, None).status == FAIL
