"""Which job of a run attempt uploaded a test-report artifact, from the two names alone.

GitHub does not record which job uploaded an artifact, and real artifact names rarely equal job
names: `test-results-unit-3.12` comes from job `unit (3.12)`, `junit-ubuntu-latest` from
`test (ubuntu-latest)` (named with `${{ matrix.os }}`), `artifact` from any job that kept
upload-artifact's default. Both names are reduced to their *significant tokens*:

* lower-case, split on anything that is not a letter, digit or dot; dots split too unless they
  sit between digits (`3.12`, `22.04` stay whole: `3.12` must not match `3.11`'s `3`), and a
  version glued to a word comes apart (`py3.12` is `py`, `3.12`);
* `<x>-latest` stays one token (`ubuntu-latest`), since `latest` alone says nothing;
* generic words are dropped (`junit`, `report(s)`, `result(s)`, `artifact(s)`, `xml`, ...),
  `test`/`tests` only when a generic word follows (`test-results`: `test` may name the job);
* run-attempt suffixes are dropped (`attempt-2`, `attempt2`).

Then, among the attempt's jobs:

1. **exact**: one job whose token sequence equals the artifact's (`junit-unit-3.12` for
   `unit (3.12)`);
2. **tokens**: else the job sharing the most tokens with the artifact, ties broken by the
   Jaccard similarity of the two token sets, if that best job is unique and shares at least one
   token (`junit-ubuntu-latest` for `test (ubuntu-latest)` among `lint` and `build`);
3. **none**: else (no significant token, nothing shared, or a tie, e.g. `test-results-3.12`
   between `unit (3.12)` and `integration (3.12)`). An unknown job is better than a wrong one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

JobMatch = Literal["exact", "tokens", "none"]
EXACT: JobMatch = "exact"
TOKENS: JobMatch = "tokens"
NONE: JobMatch = "none"

GENERIC_TOKENS = frozenset(
    {
        "junit",
        "junitxml",
        "xunit",
        "report",
        "reports",
        "result",
        "results",
        "testresults",
        "testreports",
        "artifact",
        "artifacts",
        "xml",
        "surefire",
    }
)
_TEST_WORDS = frozenset({"test", "tests"})
_VERSION = re.compile(r"^\d+(\.\d+)+$")
_PREFIXED_VERSION = re.compile(r"^([a-z]+)(\d+(?:\.\d+)+)$")
_ATTEMPT = re.compile(r"^attempt\d*$")
_SPLIT = re.compile(r"[^a-z0-9.]+")


def tokens(name: str) -> tuple[str, ...]:
    """The significant tokens of an artifact or job name, in order."""
    raw: list[str] = []
    for part in _SPLIT.split(name.lower()):
        prefixed = _PREFIXED_VERSION.match(part)
        if _VERSION.match(part):
            raw.append(part)
        elif prefixed:  # "py3.12" is the matrix value 3.12
            raw.extend(prefixed.groups())
        else:
            raw.extend(piece for piece in part.split(".") if piece)
    out: list[str] = []
    i = 0
    while i < len(raw):
        token = raw[i]
        following = raw[i + 1] if i + 1 < len(raw) else None
        if following == "latest":
            out.append(f"{token}-latest")
            i += 2
            continue
        if _ATTEMPT.match(token):  # "attempt-2" or "attempt2": the number goes too
            i += 2 if token == "attempt" and following is not None and following.isdigit() else 1
            continue
        if token in GENERIC_TOKENS or (token in _TEST_WORDS and following in GENERIC_TOKENS):
            i += 1
            continue
        out.append(token)
        i += 1
    return tuple(out)


def match_job(artifact_name: str, jobs: Sequence[tuple[str, int]]) -> tuple[int | None, JobMatch]:
    """(job id, how) for an artifact among one attempt's (job name, job id) pairs."""
    wanted = tokens(artifact_name)
    if not wanted:
        return None, NONE
    named = [(tokens(name), job_id) for name, job_id in jobs]
    exact = {job_id for job_tokens, job_id in named if job_tokens == wanted}
    if len(exact) == 1:
        return exact.pop(), EXACT
    wanted_set = set(wanted)
    scored: dict[int, tuple[int, float]] = {}
    for job_tokens, job_id in named:
        job_set = set(job_tokens)
        shared = len(wanted_set & job_set)
        if shared:
            scored[job_id] = max(scored.get(job_id, (0, 0.0)), (shared, shared / len(wanted_set | job_set)))
    if not scored:
        return None, NONE
    best = max(scored.values())
    winners = [job_id for job_id, score in scored.items() if score == best]
    return (winners[0], TOKENS) if len(winners) == 1 else (None, NONE)
