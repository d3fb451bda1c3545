"""Predictive test selection: which tests a change needs, learned from which tests failed before.

The model is counts, on purpose (a measured baseline first; see docs/quality.md):

- **co-failure**: how often a test newly failed (failed on a commit, not on its parent) when a
  file, its directory or its file type changed, smoothed toward the test's base failure rate and
  weighted by recency (half-life `half_life_days`);
- **co-change**: how often a test's own test file changed together with a file (developers
  update the tests of what they touch, and of what uses it), a dense signal where failures are rare;
- **path affinity**: the share of a test's distinctive location tokens (module, class, package)
  a changed path carries; the tokens every test shares (`src`, `test`, `core`, ...) are ignored;
- **flakiness**: failures of a test that also passed on the same commit, or that marts.flaky_scores
  marks flaky, are discounted, so flaky tests are not "predicted".

Pure: no Dagster, DuckDB or network. Inputs are plain records; the model round-trips through JSON.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MODEL_FORMAT = 1
SMOOTHING = 2.0  # pseudo-commits pulling a feature's failure rate toward the test's base rate
COCHANGE_WEIGHT = 0.3
AFFINITY_WEIGHT = 0.3
FLAKY_DISCOUNT = 0.9
STOP_TOKEN_SHARE = 0.2  # tokens in more of the test locations than this say nothing
INFRA_FAILURE_SHARE = 0.5  # a commit failing more than this share of its tests hit infrastructure
MAX_SHARDS = 4
LOW_RISK_MIN_PROBABILITY = 0.5
EARLIER_WEIGHT = 0.3  # files a pull request changed in commits an earlier CI run already tested


# -- paths and tokens ---------------------------------------------------------------------------------

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT = re.compile(r"[^A-Za-z0-9]+")


def tokens(text: str) -> frozenset[str]:
    """Lower-case word tokens of a path or class name: `core/LedgerService.java` -> core, ledger, service, java."""
    return frozenset(t.lower() for part in _SPLIT.split(text) for t in _CAMEL.split(part) if len(t) > 1)


def path_features(path: str) -> tuple[str, ...]:
    """What a changed path is counted under: the file, its directory and parent, its extension."""
    parts = path.split("/")
    features = [f"f:{path}"]
    if len(parts) > 1:
        features.append("d:" + "/".join(parts[:-1]))
    if len(parts) > 2:
        features.append("p:" + "/".join(parts[:-2]))
    name = parts[-1]
    if "." in name:
        features.append("e:" + name.rsplit(".", 1)[1].lower())
    return tuple(features)


def test_location(classname: str | None, file: str | None, suite: str | None) -> str:
    """Where a test lives, as a path: its file, else a path-like suite (jest), else its class."""
    if file:
        return file
    if suite and "/" in suite and "." in suite.rsplit("/", 1)[-1]:
        return suite
    name = classname or suite or ""
    return name if "/" in name else name.replace(".", "/")


def _strip_ext(path: str) -> str:
    head, _, name = path.rpartition("/")
    stem = name.split(".", 1)[0] if "." in name else name
    return f"{head}/{stem}" if head else stem


def owns(location: str, path: str) -> bool:
    """Whether `path` is the test file of tests at `location` (same file, class file or package dir)."""
    loc, stem = _strip_ext(location), _strip_ext(path)
    if not loc:
        return False
    directory = path.rpartition("/")[0]
    return stem == loc or stem.endswith("/" + loc) or (bool(directory) and loc.endswith(directory))


# -- inputs ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestInfo:
    """One test of a repository, as raw.test_results names it."""

    __test__ = False

    test_id: str
    classname: str | None
    test_name: str
    file: str | None = None
    suite: str | None = None
    duration_s: float = 0.0

    @property
    def location(self) -> str:
        return test_location(self.classname, self.file, self.suite)

    @property
    def selector(self) -> str:
        """How a runner names it: `file::name` (pytest; jest, whose suite is its file), else
        `Class#method` (Maven Surefire; Go: `package#TestName`)."""
        if self.file:
            return f"{self.file}::{self.test_name}"
        if self.suite and "/" in self.suite and "." in self.suite.rsplit("/", 1)[-1]:
            return f"{self.suite}::{self.test_name}"
        return f"{self.classname}#{self.test_name}"


@dataclass(frozen=True)
class CommitRecord:
    """A built commit: its changed files and, from its test results, what failed."""

    sha: str
    parent: str | None
    files: tuple[str, ...]
    age_days: float  # before the end of the training window
    failed: frozenset[str] = frozenset()  # test ids that failed on it
    flaky: frozenset[str] = frozenset()  # test ids that both failed and passed on it
    tested: bool = True  # it has test results at all


# -- the model -----------------------------------------------------------------------------------------


@dataclass
class TestSelectionModel:
    __test__ = False  # not a pytest test class

    repo: str
    version: str
    tests: dict[str, TestInfo]
    feature_commits: dict[str, float]
    cofail: dict[str, dict[str, float]]
    cochange: dict[str, dict[str, float]]
    base_rate: dict[str, float]
    flakiness: dict[str, float]
    stop_tokens: frozenset[str]
    training: dict[str, Any] = field(default_factory=dict)
    _test_tokens: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._test_tokens = {t: tokens(i.location) - self.stop_tokens for t, i in self.tests.items()}

    def known(self, path: str) -> bool:
        """Whether the model has anything to say about `path` (history or a test it names)."""
        return any(self.feature_commits.get(f, 0) > 0 for f in path_features(path)[:3]) or any(
            self._affinity(tokens(path), t) > 0 for t in self.tests
        )

    def _affinity(self, path_tokens: frozenset[str], test_id: str) -> float:
        mine = self._test_tokens[test_id]
        return len(mine & path_tokens) / len(mine) if mine else 0.0

    def explain(
        self, files: Sequence[str], weights: Mapping[str, float] | None = None
    ) -> dict[str, tuple[float, str]]:
        """Per test: failure probability for a change of `files`, and the strongest reason.

        Per changed file, a test's evidence is its best smoothed co-failure rate over the file's
        features, plus weighted co-change and path affinity; files combine as independent
        chances (1 - product of misses), each scaled by its weight (`weights`, default 1: a pull
        request's files already tested on an earlier push weigh less). Work is per file and per test with evidence, not per
        file x test: a test without any evidence only carries its base rate.
        """
        miss: dict[str, float] = dict.fromkeys(self.tests, 1.0)
        best: dict[str, tuple[float, str]] = {}
        base = self.base_rate
        for path in files:
            features = path_features(path)
            fail: dict[str, tuple[float, str]] = {}
            together: dict[str, float] = defaultdict(float)
            for feature in features:
                n = self.feature_commits.get(feature, 0.0)
                for test_id, failed in self.cofail.get(feature, {}).items():
                    rate = (failed + SMOOTHING * base.get(test_id, 0.0)) / (n + SMOOTHING)
                    if rate > fail.get(test_id, (0.0, ""))[0]:
                        fail[test_id] = (rate, f"failed {failed:.1f}x in {n:.1f} changes of {feature[2:]}")
                if feature[0] in "fd":
                    for test_id, changed in self.cochange.get(feature, {}).items():
                        together[test_id] = max(together[test_id], changed / (n + SMOOTHING))
            path_tokens = tokens(path)
            affinity = {t: a for t in self.tests if (a := self._affinity(path_tokens, t)) > 0}
            for test_id in fail.keys() | together.keys() | affinity.keys():
                rate, why = fail.get(test_id, (base.get(test_id, 0.0), "base failure rate"))
                parts = (
                    (rate, why),
                    (COCHANGE_WEIGHT * together.get(test_id, 0.0), f"its tests changed with {path}"),
                    (AFFINITY_WEIGHT * affinity.get(test_id, 0.0), f"{path} is in the code it tests"),
                )
                score = min(sum(v for v, _ in parts), 0.99) * (weights or {}).get(path, 1.0)
                miss[test_id] *= 1 - score
                top = max(parts, key=lambda x: x[0])
                if top[0] > best.get(test_id, (0.0, ""))[0]:
                    best[test_id] = top
        out: dict[str, tuple[float, str]] = {}
        for test_id, m in miss.items():
            if test_id not in best:
                # No evidence from any file: its base rate, once per file.
                m = (1 - min(base.get(test_id, 0.0), 0.99)) ** max(len(files), 1)
            flaky = 1 - FLAKY_DISCOUNT * self.flakiness.get(test_id, 0.0)
            out[test_id] = ((1 - m) * flaky, best.get(test_id, (0.0, "base failure rate"))[1])
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "repo": self.repo,
            "version": self.version,
            "tests": [vars(t) for t in self.tests.values()],
            "feature_commits": self.feature_commits,
            "cofail": self.cofail,
            "cochange": self.cochange,
            "base_rate": self.base_rate,
            "flakiness": self.flakiness,
            "stop_tokens": sorted(self.stop_tokens),
            "training": self.training,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TestSelectionModel:
        if data.get("format") != MODEL_FORMAT:
            raise ValueError(f"test selection model format {data.get('format')!r}, expected {MODEL_FORMAT}")
        return cls(
            repo=data["repo"],
            version=data["version"],
            tests={t["test_id"]: TestInfo(**t) for t in data["tests"]},
            feature_commits=dict(data["feature_commits"]),
            cofail={k: dict(v) for k, v in data["cofail"].items()},
            cochange={k: dict(v) for k, v in data["cochange"].items()},
            base_rate=dict(data["base_rate"]),
            flakiness=dict(data["flakiness"]),
            stop_tokens=frozenset(data["stop_tokens"]),
            training=dict(data.get("training") or {}),
        )


def stop_tokens(tests: Iterable[TestInfo]) -> frozenset[str]:
    """Tokens in more than STOP_TOKEN_SHARE of the distinct test locations."""
    locations = {t.location for t in tests}
    counts: dict[str, int] = defaultdict(int)
    for location in locations:
        for token in tokens(location):
            counts[token] += 1
    limit = max(1.0, STOP_TOKEN_SHARE * len(locations))
    return frozenset(t for t, n in counts.items() if n > limit or t in ("test", "tests", "spec"))


def train(
    repo: str,
    version: str,
    tests: Mapping[str, TestInfo],
    commits: Sequence[CommitRecord],
    *,
    flaky_tests: Iterable[str] = (),
    half_life_days: float = 14.0,
) -> TestSelectionModel:
    """Count co-failures and co-changes over `commits`; `flaky_tests` from marts.flaky_scores."""
    by_sha = {c.sha: c for c in commits}
    locations: dict[str, list[str]] = defaultdict(list)
    for test_id, info in tests.items():
        locations[info.location].append(test_id)
    feature_commits: dict[str, float] = defaultdict(float)
    cofail: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    cochange: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    new_failures: dict[str, float] = defaultdict(float)
    failing_commits: dict[str, int] = defaultdict(int)
    flaky_commits: dict[str, int] = defaultdict(int)
    weight_total = 0.0
    infra_commits = 0
    for commit in commits:
        for test_id in commit.failed:
            failing_commits[test_id] += 1
        for test_id in commit.flaky:
            flaky_commits[test_id] += 1
        weight = 0.5 ** (commit.age_days / half_life_days)
        features = {f for path in commit.files for f in path_features(path)}
        owned = {t for path in commit.files for loc, ids in locations.items() if owns(loc, path) for t in ids}
        for feature in features:
            feature_commits[feature] += weight
            for test_id in owned:
                cochange[feature][test_id] += weight
        if not commit.tested:
            continue
        if len(commit.failed) > INFRA_FAILURE_SHARE * max(len(tests), 1):
            infra_commits += 1  # an outage, not the change
            continue
        weight_total += weight
        parent = by_sha.get(commit.parent or "")
        inherited = parent.failed if parent is not None and parent.tested else frozenset()
        for test_id in commit.failed - commit.flaky - inherited:
            new_failures[test_id] += weight
            for feature in features:
                cofail[feature][test_id] += weight
    flakiness = {t: flaky_commits[t] / failing_commits[t] for t in failing_commits if flaky_commits[t]}
    for test_id in flaky_tests:
        if test_id in tests:
            flakiness[test_id] = 1.0
    base = {t: new_failures[t] / weight_total for t in new_failures} if weight_total else {}
    return TestSelectionModel(
        repo=repo,
        version=version,
        tests=dict(tests),
        feature_commits={k: round(v, 4) for k, v in feature_commits.items()},
        cofail={k: {t: round(v, 4) for t, v in d.items()} for k, d in cofail.items()},
        cochange={k: {t: round(v, 4) for t, v in d.items()} for k, d in cochange.items()},
        base_rate=base,
        flakiness=flakiness,
        stop_tokens=stop_tokens(tests.values()),
        training={
            "commits": len(commits),
            "tested_commits": sum(c.tested for c in commits),
            "infrastructure_commits_skipped": infra_commits,
            "half_life_days": half_life_days,
        },
    )


# -- risk, plans and shards -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathRules:
    """Glob rules (`**` crosses directories) from config/test_selection.yaml."""

    low: tuple[str, ...] = ("docs/**", "*.md", "**/*.md", "*.rst", "**/*.rst", "LICENSE", "config/**")
    high: tuple[str, ...] = ("**/shared/**", "**/common/**", "**/core/**", "core/**", "**/platform/**")
    build: tuple[str, ...] = (
        "pyproject.toml", "setup.py", "setup.cfg", "*.lock", "requirements*.txt", "package.json",
        "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "tsconfig.json", "pom.xml", "**/pom.xml",
        "build.gradle*", "**/build.gradle*", "go.mod", "go.sum", "Makefile", "Dockerfile", ".github/workflows/**",
    )  # fmt: skip

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> PathRules:
        default = cls()
        return cls(
            low=tuple(data.get("low", default.low)),
            high=tuple(data.get("high", default.high)),
            build=tuple(data.get("build", default.build)),
        )


def matches(path: str, patterns: Iterable[str]) -> bool:
    """fnmatch globs where `**/` may also match nothing (`**/core/**` matches `core/x`)."""
    for pattern in patterns:
        if fnmatch.fnmatchcase(path, pattern) or (
            pattern.startswith("**/") and fnmatch.fnmatchcase(path, pattern[3:])
        ):
            return True
    return False


def risk_of(files: Sequence[str], rules: PathRules) -> str:
    if not files:
        return "low"
    if any(matches(f, rules.build) or matches(f, rules.high) for f in files):
        return "high"
    if all(matches(f, rules.low) for f in files):
        return "low"
    return "medium"


@dataclass
class Plan:
    risk: str
    tests: list[str]  # selectors, in order of predicted failure probability
    shard_count: int
    reasons: dict[str, str]
    quarantined: list[str]
    all_tests: bool
    why: str
    estimated_recall: float
    shards: list[list[str]]
    changed_files: list[str]
    model_version: str

    def to_json(self) -> dict[str, Any]:
        return {
            "risk": self.risk,
            "tests": self.tests,
            "shardCount": self.shard_count,
            "reasons": self.reasons,
            "quarantined": self.quarantined,
            "allTests": self.all_tests,
            "why": self.why,
            "estimatedRecall": round(self.estimated_recall, 4),
            "shards": self.shards,
            "changedFiles": self.changed_files,
            "model": self.model_version,
        }


def rank(
    model: TestSelectionModel, files: Sequence[str], latest: Iterable[str] | None = None
) -> list[tuple[str, float, str]]:
    """(test id, probability, reason), most likely to fail first; ties by test id.

    `latest`: the files of the newest commit(s) not yet tested; the others changed in commits an
    earlier run already tested, so they weigh EARLIER_WEIGHT."""
    weights = None
    if latest is not None:
        fresh = set(latest)
        weights = {f: 1.0 if f in fresh else EARLIER_WEIGHT for f in files}
    scored = model.explain(files, weights)
    return sorted(((t, p, why) for t, (p, why) in scored.items()), key=lambda x: (-x[1], x[0]))


def plan_change(
    model: TestSelectionModel,
    files: Sequence[str],
    *,
    budget: float = 0.3,
    min_recall: float = 0.95,
    rules: PathRules = PathRules(),
    quarantined: Iterable[str] = (),
    unknown_share: float = 0.5,
    shard_target_s: float = 300.0,
    min_probability: float = 0.01,
    ranked: Sequence[tuple[str, float, str]] | None = None,
    latest: Iterable[str] | None = None,
) -> Plan:
    """The tests a change of `files` needs, within `budget` (share of tests), with reasons.

    Tests are taken by predicted failure probability until their share of the predicted failures
    reaches `min_recall`, never more than `budget` of the tests, never one below
    `min_probability` (LOW_RISK_MIN_PROBABILITY for a low-risk change). Build files, or mostly files the model knows nothing about, select every
    test instead, and `why` says so. Quarantined tests are listed apart, never selected.
    """
    quarantine = set(quarantined) & set(model.tests)
    risk = risk_of(files, rules)
    if risk == "low":
        # Docs and configuration: only tests with failure evidence of their own, not path names.
        min_probability = max(min_probability, LOW_RISK_MIN_PROBABILITY)
    runnable = [t for t in sorted(model.tests) if t not in quarantine]
    build = [f for f in files if matches(f, rules.build)]
    unknown = [f for f in files if not model.known(f)]
    ranked = [r for r in (rank(model, files, latest) if ranked is None else ranked) if r[0] not in quarantine]
    everything = None
    if build:
        everything = f"build files changed ({', '.join(build[:3])}): every test may be affected"
    elif files and len(unknown) > unknown_share * len(files):
        everything = f"model unsure: {len(unknown)} of {len(files)} changed files have no history"
    elif not model.tests:
        everything = "no test history for this repository"
    if everything:
        chosen = [(t, 1.0, everything) for t in runnable]
        estimated = 1.0
    else:
        total = sum(p for _, p, _ in ranked) or 1.0
        cap = math.ceil(budget * len(runnable))
        chosen, mass = [], 0.0
        for test_id, p, why in ranked:
            if len(chosen) >= cap or mass / total >= min_recall or p < min_probability:
                break
            chosen.append((test_id, p, f"p={p:.2f}: {why}"))
            mass += p
        estimated = mass / total
    info = model.tests
    selectors = [info[t].selector for t, _, _ in chosen]
    shards = balanced_shards([(info[t].selector, info[t].duration_s) for t, _, _ in chosen], shard_target_s)
    return Plan(
        risk=risk,
        tests=selectors,
        shard_count=len(shards),
        reasons={info[t].selector: why for t, _, why in chosen},
        quarantined=sorted(info[t].selector for t in quarantine),
        all_tests=everything is not None,
        why=everything or f"{len(chosen)} of {len(runnable)} tests carry the predicted failures",
        estimated_recall=estimated,
        shards=[s for s in shards],
        changed_files=list(files),
        model_version=model.version,
    )


def shard_count(total_s: float, target_s: float) -> int:
    return max(1, min(MAX_SHARDS, math.ceil(total_s / target_s))) if total_s > 0 else 1


def balanced_shards(tests: Sequence[tuple[str, float]], target_s: float) -> list[list[str]]:
    """Longest-processing-time-first into 1-4 shards of about `target_s` each."""
    count = shard_count(sum(d for _, d in tests), target_s)
    shards: list[list[str]] = [[] for _ in range(count)]
    loads = [0.0] * count
    for name, duration in sorted(tests, key=lambda x: (-x[1], x[0])):
        lightest = loads.index(min(loads))
        shards[lightest].append(name)
        loads[lightest] += duration
    return shards
