"""The predictive test selection model, retrained as an asset; and the replay that measures it.

Inputs are the warehouse's raw.commit_files (what each commit changed), raw.test_results (what
failed on it), raw.ci_runs (when it was built) and marts.flaky_scores (tests not to predict). The
model (core/test_selection.py) is written per repository as versioned JSON under the data
directory (`models/test_selection/<version>.json`, and `latest.json`), which `vigil plan` reads;
marts.test_selection_models lists the versions with their evaluation on the last held-back week.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from observability_assets.assetkit.metadata import column_schema
from observability_assets.core.contract import COMMIT_FILES, FLAKY_SCORES, TEST_RESULTS, TEST_SELECTION_MODELS
from observability_assets.core.test_selection import (
    CommitRecord,
    PathRules,
    TestInfo,
    TestSelectionModel,
    plan_change,
    rank,
    train,
)
from resources.paths import data_path
from resources.warehouse import WarehouseResource

if TYPE_CHECKING:
    import pandas as pd

BUDGETS = (0.1, 0.2, 0.3, 0.5)
HOLDOUT_DAYS = 7
MODEL_DIR_ENV = "VIGIL_TEST_SELECTION_MODELS"
FAILED = ("failed", "error")


def model_dir() -> Path:
    import os

    return Path(os.environ.get(MODEL_DIR_ENV) or data_path("models", "test_selection"))


# -- frames -> model inputs ------------------------------------------------------------------------------


@dataclass
class RepoHistory:
    """One repository's history in model terms."""

    repo: str
    tests: dict[str, TestInfo]
    commits: dict[str, CommitRecord]
    first_built: dict[str, datetime]  # sha -> first run creation
    parents: dict[str, str | None]
    files: dict[str, tuple[str, ...]]
    on_default_branch: dict[str, datetime]  # sha -> first run on the default branch
    merges: set[str]  # commits with two or more parents


def histories(
    commit_files: pd.DataFrame, test_results: pd.DataFrame, runs: pd.DataFrame, end: datetime
) -> dict[str, RepoHistory]:
    """Per repository: tests, and every built commit with its files and failures up to `end`.

    commit_files: repo, sha, parent_sha, path. test_results: repo, head_sha, test_id, classname,
    test_name, file, suite, outcome, duration_s. runs: repo, head_sha, head_branch, event, created_at.
    """
    out: dict[str, RepoHistory] = {}
    runs = runs[runs["created_at"] < end]
    for repo, repo_runs in runs.groupby("repo"):
        first = repo_runs.groupby("head_sha")["created_at"].min().to_dict()
        on_main = repo_runs[repo_runs["head_branch"] == "main"]
        default = on_main.groupby("head_sha")["created_at"].min().to_dict()
        cf = commit_files[(commit_files["repo"] == repo) & commit_files["sha"].isin(first.keys())]
        files: dict[str, list[str]] = defaultdict(list)
        parents: dict[str, str | None] = {}
        merges: set[str] = set()
        for sha, parent, path, n in cf[["sha", "parent_sha", "path", "parents"]].itertuples(index=False):
            files[sha].append(path)
            parents[sha] = parent if isinstance(parent, str) else None
            if n and n > 1:
                merges.add(sha)
        tr = test_results[(test_results["repo"] == repo) & test_results["head_sha"].isin(first.keys())]
        tests = _tests(tr)
        failed = tr[tr["outcome"].isin(FAILED)].groupby("head_sha")["test_id"].agg(frozenset).to_dict()
        passed = tr[tr["outcome"] == "passed"].groupby("head_sha")["test_id"].agg(frozenset).to_dict()
        tested = set(tr["head_sha"])
        commits = {}
        for sha, at in first.items():
            f = failed.get(sha, frozenset())
            commits[sha] = CommitRecord(
                sha=sha,
                parent=parents.get(sha),
                files=tuple(sorted(files.get(sha, ()))),
                age_days=(end - at).total_seconds() / 86_400,
                failed=f,
                flaky=f & passed.get(sha, frozenset()),
                tested=sha in tested,
            )
        out[str(repo)] = RepoHistory(
            str(repo),
            tests,
            commits,
            first,
            parents,
            {k: tuple(v) for k, v in files.items()},
            default,
            merges,
        )
    return out


def _tests(results: pd.DataFrame) -> dict[str, TestInfo]:
    grouped = results.groupby("test_id", sort=True).agg(
        classname=("classname", "first"),
        test_name=("test_name", "first"),
        file=("file", "first"),
        suite=("suite", "first"),
        duration_s=("duration_s", "mean"),
    )
    return {
        str(t): TestInfo(
            str(t),
            _text(r.classname),
            str(r.test_name),
            _text(r.file),
            _text(r.suite),
            0.0 if r.duration_s != r.duration_s else round(float(r.duration_s), 3),
        )
        for t, r in grouped.iterrows()
    }


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _chain(
    history: RepoHistory, head: str, base: str | None, max_commits: int
) -> tuple[list[str], str | None]:
    """First parents from `head` down to `base` or the first commit built on the default branch."""
    chain: list[str] = []
    sha: str | None = head
    for _ in range(max_commits):
        if sha is None or sha == base or (sha != head and sha in history.on_default_branch):
            break
        chain.append(sha)
        sha = history.parents.get(sha)
    return chain, sha


def branch_files(
    history: RepoHistory, head: str, base: str | None = None, max_commits: int = 200
) -> list[str]:
    """Files a pull request changed, like GitHub's three-dot compare: its commits from `head`
    down to `base` (or to the first commit built on the default branch), by first parents.

    A merge of the default branch into the pull request shows the default branch's changes; of
    those files, only the ones the default branch did not change since the base count (conflict
    resolutions)."""
    chain, stop = _chain(history, head, base, max_commits)
    files: set[str] = set()
    merged_in: set[str] | None = None
    for commit in chain:
        if commit not in history.merges:
            files.update(history.files.get(commit, ()))
            continue
        if merged_in is None:
            main = history.on_default_branch
            since = main.get(stop or "", min(history.first_built.values()))
            until = history.first_built[head]
            merged_in = set()
            for main_sha, at in main.items():
                if since < at <= until:
                    # A pull request merged meanwhile brings all of its commits.
                    for sha in _chain(history, main_sha, None, max_commits)[0]:
                        merged_in.update(history.files.get(sha, ()))
        files.update(p for p in history.files.get(commit, ()) if p not in merged_in)
    return sorted(files)


def latest_files(history: RepoHistory, head: str, files: Sequence[str]) -> tuple[str, ...]:
    """Of a pull request's files, those its head commit changed (all of them for a first push)."""
    own = set(history.files.get(head, ()))
    return tuple(f for f in files if f in own) or tuple(files)


# -- training and evaluation -------------------------------------------------------------------------


def fit(
    history: RepoHistory, before: datetime | None = None, flaky_tests: Iterable[str] = ()
) -> TestSelectionModel:
    """A model from the commits first built before `before` (all when None), versioned by content."""
    commits = [c for sha, c in history.commits.items() if before is None or history.first_built[sha] < before]
    if before is not None:
        shift = (max(history.first_built.values()) - before).total_seconds() / 86_400
        commits = [
            CommitRecord(c.sha, c.parent, c.files, c.age_days - shift, c.failed, c.flaky, c.tested)
            for c in commits
        ]
    digest = hashlib.sha256(
        json.dumps([history.repo, sorted(c.sha for c in commits), sorted(flaky_tests)]).encode()
    ).hexdigest()[:12]
    return train(history.repo, digest, history.tests, commits, flaky_tests=flaky_tests)


@dataclass(frozen=True)
class ChangeCase:
    """One pull-request change to replay: its files, the failures it must be caught by, its CI cost."""

    repo: str
    head: str
    files: tuple[str, ...]
    failing: frozenset[str]  # test ids the change broke (flaky failures excluded)
    latest: tuple[str, ...]  # files of the head commit itself (the rest an earlier run tested)
    test_minutes: float  # minutes its test jobs ran
    usd_per_minute: float


@dataclass
class BudgetResult:
    budget: float
    changes: int = 0
    faulty_changes: int = 0
    faulty_caught: int = 0
    failing_tests: int = 0
    failing_caught: int = 0
    tests_selected: int = 0
    tests_total: int = 0
    all_tests_fallbacks: int = 0
    minutes: float = 0.0
    minutes_saved: float = 0.0
    usd_saved: float = 0.0

    def add(self, other: BudgetResult) -> None:
        for name in vars(self):
            if name != "budget":
                setattr(self, name, getattr(self, name) + getattr(other, name))

    def row(self) -> dict[str, Any]:
        return {
            "budget": self.budget,
            "changes": self.changes,
            "faulty_changes": self.faulty_changes,
            "faulty_caught_share": self.faulty_caught / self.faulty_changes if self.faulty_changes else None,
            "failing_tests": self.failing_tests,
            "failing_caught_share": self.failing_caught / self.failing_tests if self.failing_tests else None,
            "tests_run_share": self.tests_selected / self.tests_total if self.tests_total else None,
            "all_tests_fallbacks": self.all_tests_fallbacks,
            "minutes_saved": round(self.minutes_saved, 1),
            "minutes_saved_share": self.minutes_saved / self.minutes if self.minutes else None,
            "usd_saved": round(self.usd_saved, 2),
        }


def evaluate(
    model: TestSelectionModel,
    cases: Sequence[ChangeCase],
    budgets: Sequence[float] = BUDGETS,
    rules: PathRules | None = None,
) -> list[BudgetResult]:
    """Replay `cases` through the plan at each budget: the top `budget` of the tests by predicted
    failure probability (min-recall stopping off), or every test when the plan falls back."""
    rules = rules or PathRules()
    results = [BudgetResult(b) for b in budgets]
    total_duration = sum(t.duration_s for t in model.tests.values()) or 1.0
    for case in cases:
        ranked = rank(model, case.files, case.latest)
        for result in results:
            plan = plan_change(
                model,
                case.files,
                budget=result.budget,
                min_recall=1.0,
                min_probability=0.0,
                rules=rules,
                ranked=ranked,
            )
            # By id: selectors of two tests may coincide (a jest name in two describe blocks).
            chosen = set(model.tests) if plan.all_tests else {t for t, _, _ in ranked[: len(plan.tests)]}
            result.changes += 1
            result.tests_selected += len(chosen)
            result.tests_total += len(model.tests)
            result.all_tests_fallbacks += plan.all_tests
            failing = case.failing & set(model.tests)
            if failing:
                result.faulty_changes += 1
                result.faulty_caught += bool(failing & chosen)
                result.failing_tests += len(failing)
                result.failing_caught += len(failing & chosen)
            skipped = 1 - sum(model.tests[t].duration_s for t in chosen) / total_duration
            saved = case.test_minutes * max(skipped, 0.0)
            result.minutes += case.test_minutes
            result.minutes_saved += saved
            result.usd_saved += saved * case.usd_per_minute
    return results


def holdout_cases(
    history: RepoHistory, since: datetime, until: datetime, pr_heads: Mapping[str, str | None]
) -> list[ChangeCase]:
    """Pull-request changes first built in [since, until); failures to catch are the tests that
    newly failed on the head (not on its parent, not flaky on it), from the test results alone."""
    cases = []
    for head, base in pr_heads.items():
        at = history.first_built.get(head)
        commit = history.commits.get(head)
        if at is None or commit is None or not since <= at < until or not commit.tested:
            continue
        parent = history.commits.get(commit.parent or "")
        inherited = parent.failed if parent is not None else frozenset()
        failing = commit.failed - commit.flaky - inherited
        if len(commit.failed) > 0.5 * max(len(history.tests), 1):
            failing = frozenset()  # an outage
        changed = tuple(branch_files(history, head, base))
        cases.append(
            ChangeCase(history.repo, head, changed, failing, latest_files(history, head, changed), 0.0, 0.0)
        )
    return cases


# -- the asset ---------------------------------------------------------------------------------------------------


def _load(warehouse) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    wh = warehouse.get()
    files = wh.query("SELECT repo, sha, parent_sha, path, parents FROM raw.commit_files")
    results = wh.query(
        "SELECT repo, head_sha, test_id, any_value(classname) AS classname, any_value(test_name) AS test_name, "
        "any_value(file) AS file, any_value(suite) AS suite, outcome, avg(duration_s) AS duration_s "
        "FROM raw.test_results WHERE outcome <> 'skipped' GROUP BY repo, head_sha, test_id, outcome"
    )
    runs = wh.query("SELECT repo, head_sha, head_branch, event, created_at FROM raw.ci_runs")
    flaky = wh.query("SELECT repo, test_id FROM marts.flaky_scores WHERE status IN ('flaky', 'quarantined')")
    return files, results, runs, flaky


def write_model(model: TestSelectionModel, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    safe = model.repo.replace("/", "__")
    path = folder / f"{safe}.{model.version}.json"
    text = json.dumps(model.to_json(), separators=(",", ":"), sort_keys=True)
    path.write_text(text, encoding="utf-8")
    (folder / f"{safe}.latest.json").write_text(text, encoding="utf-8")
    return path


def load_model(repo: str, folder: Path | None = None) -> TestSelectionModel | None:
    path = (folder or model_dir()) / f"{repo.replace('/', '__')}.latest.json"
    if not path.exists():
        return None
    return TestSelectionModel.from_json(json.loads(path.read_text(encoding="utf-8")))


@dg.asset(
    key=TEST_SELECTION_MODELS.qualified_name.split("."),
    description=TEST_SELECTION_MODELS.comment,
    group_name="marts",
    kinds={"python", "duckdb"},
    owners=["team:platform"],
    deps=[
        dg.AssetKey(COMMIT_FILES.qualified_name.split(".")),
        dg.AssetKey(TEST_RESULTS.qualified_name.split(".")),
        dg.AssetKey(FLAKY_SCORES.qualified_name.split(".")),
    ],
    metadata={"dagster/column_schema": column_schema(TEST_SELECTION_MODELS)},
)
def test_selection_models(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Retrain every repository's test selection model; evaluate it on the last week held back."""
    import pandas as pd

    from observability_assets.derived.tables import replace_mart

    files, results, runs, flaky = _load(warehouse)
    if runs.empty:
        return dg.MaterializeResult(metadata={"dagster/row_count": 0})
    end = runs["created_at"].max() + timedelta(seconds=1)
    holdout = end - timedelta(days=HOLDOUT_DAYS)
    rows, metadata = [], {}
    pr_runs = runs[runs["event"] == "pull_request"]
    for repo, history in histories(files, results, runs, end).items():
        flaky_tests = set(flaky.loc[flaky["repo"] == repo, "test_id"])
        held = fit(history, holdout, flaky_tests)
        heads = {sha: None for sha in pr_runs.loc[pr_runs["repo"] == repo, "head_sha"]}
        cases = holdout_cases(history, holdout, end, heads)
        at30 = evaluate(held, cases, (0.3,))[0].row()
        model = fit(history, None, flaky_tests)
        path = write_model(model, model_dir())
        rows.append({
            "repo": repo,
            "version": model.version,
            "model_path": str(path),
            "trained_through": end.to_pydatetime() if hasattr(end, "to_pydatetime") else end,
            "commits": len(history.commits),
            "tests": len(history.tests),
            "holdout_changes": at30["changes"],
            "holdout_faulty_changes": at30["faulty_changes"],
            "holdout_failing_caught_share": at30["failing_caught_share"],
            "holdout_faulty_caught_share": at30["faulty_caught_share"],
            "holdout_tests_run_share": at30["tests_run_share"],
            "computed_at": datetime.utcnow(),
        })  # fmt: skip
        metadata[repo] = dg.MetadataValue.json({"version": model.version, **at30})
    frame = pd.DataFrame(rows)
    count = replace_mart(warehouse.get(), TEST_SELECTION_MODELS, frame)
    return dg.MaterializeResult(metadata={"dagster/row_count": count, **metadata})


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
