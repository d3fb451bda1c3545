"""github-action-benchmark custom JSON: both tools, the stored-entry form, and rejections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from observability_assets.core.errors import RejectedInput
from observability_assets.ingest.benchmarks import BIGGER, SMALLER, parse_results

# The example of the action's README for customSmallerIsBetter.
README_EXAMPLE = [
    {"name": "My Custom Smaller Is Better Benchmark - CPU Load", "unit": "Percent", "value": 50},
    {"name": "My Custom Smaller Is Better Benchmark - Memory Used", "unit": "Megabytes", "value": 100,
     "range": "3", "extra": "Value for Tooltip: 25\nOptional Num #2: 100\nAnything Else!"},
]  # fmt: skip


def encode(document) -> bytes:
    return json.dumps(document).encode()


def test_readme_example_with_either_tool():
    bigger, rows = parse_results(encode(README_EXAMPLE), SMALLER)
    assert bigger is False
    assert [(r["name"][-8:], r["unit"], r["value"], r["range"]) for r in rows] == [
        ("CPU Load", "Percent", 50.0, None),
        ("ory Used", "Megabytes", 100.0, "3"),
    ]
    assert rows[1]["extra"].startswith("Value for Tooltip")
    assert parse_results(encode(README_EXAMPLE), BIGGER)[0] is True


def test_stored_entry_form_carries_its_tool():
    entry = {"commit": {"id": "abc"}, "date": 1700000000000, "tool": BIGGER, "benches": README_EXAMPLE[:1]}
    bigger, rows = parse_results(encode(entry), SMALLER)
    assert bigger is True and len(rows) == 1


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b"{not json", "not JSON"),
        (encode({"tool": "pytest", "benches": []}), "neither customSmallerIsBetter"),
        (encode({"name": "x"}), "expected an array"),
        (encode([{"name": "", "unit": "ms", "value": 1}]), "`name` must be a non-empty string"),
        (encode([{"name": "a", "value": 1}]), "`unit` must be a string"),
        (encode([{"name": "a", "unit": "ms", "value": "1"}]), "finite number"),
        (encode([{"name": "a", "unit": "ms", "value": True}]), "finite number"),
        (b'[{"name": "a", "unit": "ms", "value": NaN}]', "finite number"),
        (
            encode([{"name": "a", "unit": "ms", "value": 1}, {"name": "a", "unit": "ms", "value": 2}]),
            "duplicate",
        ),
        (encode(["a"]), "entry 0 is not an object"),
    ],
)
def test_invalid_files_are_rejected_with_a_reason(document, reason):
    with pytest.raises(RejectedInput, match=reason):
        parse_results(document, SMALLER)


def test_artifact_zip_is_read_through_the_guarded_unzip(tmp_path):
    import zipfile
    from datetime import datetime

    from observability_assets.ingest.benchmarks import (
        ARTIFACT_SOURCE,
        BenchmarkSourceConfig,
        Collected,
        Origin,
        _read_archive,
    )

    archive = tmp_path / "benchmark-results.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("results/output.json", json.dumps(README_EXAMPLE))
        z.writestr("results/notes.txt", "not a result file")
        z.writestr("../escape.json", json.dumps(README_EXAMPLE))
        z.writestr("results/broken.json", "[1, 2")
    origin = Origin("acme/api", 11, 2, "a" * 40, "main", datetime(2026, 10, 3, 12), ARTIFACT_SOURCE)
    out = Collected()
    _read_archive(
        archive, "acme/api/runs/11/artifacts/5(benchmark-results)", origin, BenchmarkSourceConfig(), out
    )
    assert [(r["suite"], r["run_attempt"], r["bigger_is_better"]) for r in out.rows] == [
        ("output", 2, False)
    ] * 2
    assert out.rows[0]["source_path"] == "acme/api/runs/11/artifacts/5(benchmark-results)/results/output.json"
    reasons = {Path(r.path).name: r.reason for r in out.rejections}
    assert set(reasons) == {"escape.json", "broken.json"} and "not JSON" in reasons["broken.json"]
