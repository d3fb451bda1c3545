"""Names of the simulated JUnit artifacts, as varied as real workflows write them.

Each repository's workflow file names its test-report artifact one way, for every run: after the
job (`junit-${{ github.job }}-…`), after a matrix value (`test-results-${{ matrix.os }}`), with
the run attempt (`…-attempt-${{ github.run_attempt }}`), after the strategy's job index
(`junit-${{ strategy.job-index }}`), with upload-artifact's default name `artifact` (only where one
job uploads: names are unique per run), or a custom name unrelated to the job
(`test-report-${{ github.sha }}`). The convention is drawn per repository and workflow from its
own random stream, so other features' draws do not move.

Ground truth beside it: for each convention, the job Vigil is expected to attribute the
artifact's rows to and how (`core.job_match`'s exact / tokens / none), written down from the
convention itself, not computed by the matcher: `demo.verify` compares the loaded `job_id` and
`job_match` with it.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from observability_assets.demo.sim_plan import CI, NIGHTLY


@dataclass(frozen=True)
class Convention:
    """One way a workflow names its test-report artifact, and the attribution it should get."""

    key: str
    template: str  # str.format fields: job (slug), os, attempt, index, sha7
    expected_match: str  # exact, tokens or none
    weight: int


# CI runs a test job per operating system (a matrix): names must differ between its jobs.
CI_CONVENTIONS = (
    Convention("job", "junit-{job}", "exact", 3),
    Convention("matrix-os", "test-results-{os}", "tokens", 3),
    Convention("matrix-os-attempt", "junit-{os}-attempt-{attempt}", "tokens", 2),
    Convention("titled", "JUnit ({os})", "tokens", 1),
    Convention("job-run-attempt", "test-results-{job}-{attempt}", "tokens", 1),
    Convention("job-index", "junit-{index}", "none", 1),
)
# Nightly runs one test job: upload-artifact's default name works, and so do custom names.
# (Order and weights decide which convention a draw picks; these keep every nightly artifact of
# the demo seed attributable, so the demo's findings stay those its goldens hold.)
NIGHTLY_CONVENTIONS = (
    Convention("job", "junit-{job}", "exact", 1),
    Convention("default", "artifact", "none", 1),
    Convention("custom", "test-report-{sha7}", "none", 1),
    Convention("matrix-os", "test-results-{os}", "tokens", 2),
)
CONVENTIONS = {CI: CI_CONVENTIONS, NIGHTLY: NIGHTLY_CONVENTIONS}
# The matrix order of operating systems: `strategy.job-index` counts in it.
MATRIX_OS = ("ubuntu-latest", "windows-latest", "macos-latest")


def choose_conventions(seed: int, repo: str) -> dict[str, Convention]:
    """The convention of each test-uploading workflow of one repository."""
    rng = random.Random(f"{seed}:artifact-names:{repo}")
    return {
        workflow: rng.choices(options, weights=[c.weight for c in options])[0]
        for workflow, options in CONVENTIONS.items()
    }


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def artifact_name(convention: Convention, job_name: str, runner_label: str, attempt: int, sha: str) -> str:
    """The artifact name a job of `convention`'s workflow uploads (`runner_label`: its matrix os)."""
    index = MATRIX_OS.index(runner_label) if runner_label in MATRIX_OS else 0
    return convention.template.format(
        job=slug(job_name), os=runner_label, attempt=attempt, index=index, sha7=sha[:7]
    )
