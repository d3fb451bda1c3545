"""Artifact name → job of the run attempt, on names as real workflows write them."""

from __future__ import annotations

import pytest

from observability_assets.core.job_match import match_job, tokens

PY_MATRIX = ["lint", "unit (3.11)", "unit (3.12)", "integration (3.12)"]
OS_MATRIX = ["lint", "test (ubuntu-latest)", "test (windows-latest)", "test (macos-latest)", "build"]
NODE_MATRIX = ["test (18)", "test (20)", "e2e"]
CROSS = ["test (3.12, ubuntu-latest)", "test (3.12, windows-latest)", "test (3.11, ubuntu-latest)"]
REUSABLE = ["ci / unit-tests", "ci / e2e-tests", "ci / lint"]

# (artifact name, job names of the attempt) -> expected job name (None: no job) and how.
CASES: list[tuple[str, list[str], str | None, str]] = [
    # Named after the job, whole: exact.
    ("junit-test-ubuntu-latest", OS_MATRIX, "test (ubuntu-latest)", "exact"),
    ("test-results-unit-3.12", PY_MATRIX, "unit (3.12)", "exact"),
    ("Unit (3.11) test results", PY_MATRIX, "unit (3.11)", "exact"),
    ("test-results-unit-3.12-attempt-2", PY_MATRIX, "unit (3.12)", "exact"),
    ("junit-unit-3.11-attempt2", PY_MATRIX, "unit (3.11)", "exact"),
    ("e2e-junit.xml", NODE_MATRIX, "e2e", "exact"),
    ("lint-report", REUSABLE, "ci / lint", "tokens"),
    # A matrix value or part of the name: the best unique token match.
    ("junit-ubuntu-latest", OS_MATRIX, "test (ubuntu-latest)", "tokens"),
    ("test-results-windows-latest", OS_MATRIX, "test (windows-latest)", "tokens"),
    ("junit-node-18", NODE_MATRIX, "test (18)", "tokens"),
    ("surefire-reports-integration", PY_MATRIX, "integration (3.12)", "tokens"),
    ("pytest-3.11-ubuntu-latest", CROSS, "test (3.11, ubuntu-latest)", "tokens"),
    ("test-results-3.12-windows-latest", CROSS, "test (3.12, windows-latest)", "tokens"),
    ("unit-tests-results", REUSABLE, "ci / unit-tests", "tokens"),
    ("test-results-3.11", PY_MATRIX, "unit (3.11)", "tokens"),  # only one job runs 3.11
    ("junit-py3.11", PY_MATRIX, "unit (3.11)", "tokens"),
    # Ambiguous or unrelated: no job rather than a wrong one.
    ("artifact", OS_MATRIX, None, "none"),  # upload-artifact's default name
    ("test-results", PY_MATRIX, None, "none"),
    ("junit", ["test"], None, "none"),
    ("test-results-3.12", PY_MATRIX, None, "none"),  # unit (3.12) or integration (3.12)?
    ("test-results-3.12", CROSS, None, "none"),
    ("junit-py3.12", PY_MATRIX, None, "none"),
    ("junit-ubuntu-latest", CROSS, None, "none"),
    ("junit-test", OS_MATRIX, None, "none"),  # which operating system?
    ("junit-macos-latest", ["lint", "test (ubuntu-latest)", "test (windows-latest)"], None, "none"),
    ("coverage-and-junit", PY_MATRIX, None, "none"),
    ("nightly-reports", NODE_MATRIX, None, "none"),
    ("test-results-unit-3.12", [], None, "none"),  # the attempt's jobs are not known
    ("junit-test-ubuntu-latest", ["test (ubuntu-latest)", "Test (ubuntu-latest)"], None, "none"),
]


@pytest.mark.parametrize(("artifact", "jobs", "expected", "how"), CASES, ids=[c[0] for c in CASES])
def test_artifact_names_match_the_job_that_uploaded_them(
    artifact: str, jobs: list[str], expected: str | None, how: str
) -> None:
    ids = {name: 1000 + i for i, name in enumerate(jobs)}
    job_id, matched = match_job(artifact, list(ids.items()))
    assert (job_id, matched) == (ids.get(expected) if expected else None, how)


def test_attribution_does_not_depend_on_job_order() -> None:
    for artifact, jobs, _, _ in CASES:
        pairs = [(name, 1000 + i) for i, name in enumerate(jobs)]
        assert match_job(artifact, pairs) == match_job(artifact, pairs[::-1])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("test-results-unit-3.12", ("unit", "3.12")),
        ("unit (3.12)", ("unit", "3.12")),
        ("junit-${{ matrix.os }}", ("matrix", "os")),
        ("junit-ubuntu-latest", ("ubuntu-latest",)),
        ("test (ubuntu-22.04, node-18)", ("test", "ubuntu", "22.04", "node", "18")),
        ("report.xml", ()),
        ("tests-attempt-3", ("tests",)),
        ("Test_Results_Py3.12", ("py", "3.12")),
    ],
)
def test_tokens(name: str, expected: tuple[str, ...]) -> None:
    assert tokens(name) == expected
