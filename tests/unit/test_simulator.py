"""The simulated GitHub organisation: deterministic, self-consistent, and true to its labels.

Later quality tests score Vigil against `labels()` and the truth frames, so these tests pin down
that the labels describe what the API objects and JUnit artifacts really contain.
"""

from __future__ import annotations

import fnmatch
import io
import json
import time
import zipfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lxml import etree

from observability_assets.core.contract import CI_JOBS, CI_RUNS
from observability_assets.demo.simulator import Organisation, OrgSpec, simulate
from observability_assets.ingest.junit_config import DEFAULT_ARTIFACT_PATTERNS

SMALL = OrgSpec(seed=5, repos=("api", "web", "infra", "data"), days=5, runs_per_repo_day=8)
LOAD_COLUMNS = {"partition_day", "ingested_at"}
FAILED = ("failed", "error")


@pytest.fixture(scope="module")
def org() -> Organisation:
    return simulate(OrgSpec())


@pytest.fixture(scope="module")
def truth(org: Organisation) -> pd.DataFrame:
    return org.test_results_truth()


@pytest.fixture(scope="module")
def labels(org: Organisation) -> dict:
    return org.labels()


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text.rstrip("Z"))


# -- determinism and identity ---------------------------------------------------------------------


def test_same_spec_gives_identical_organisation_and_zip_bytes() -> None:
    first, second = Organisation(SMALL), Organisation(SMALL)  # bypass the cache
    pd.testing.assert_frame_equal(first.runs_frame(), second.runs_frame())
    pd.testing.assert_frame_equal(first.jobs_frame(), second.jobs_frame())
    pd.testing.assert_frame_equal(first.test_results_truth(), second.test_results_truth())
    assert json.dumps(first.run_attempts) == json.dumps(second.run_attempts)
    assert json.dumps(first.jobs) == json.dumps(second.jobs)
    assert first.artifacts == second.artifacts
    assert first.labels() == second.labels()
    for artifact in first.artifacts[:: max(1, len(first.artifacts) // 10)]:
        assert first.artifact_zip(artifact["id"]) == second.artifact_zip(artifact["id"])
    assert simulate(SMALL) is simulate(SMALL)


def test_a_different_seed_gives_a_different_organisation() -> None:
    other = Organisation(replace(SMALL, seed=SMALL.seed + 1))
    mine = simulate(SMALL)
    assert set(other.runs_frame()["head_sha"]).isdisjoint(mine.runs_frame()["head_sha"])
    assert other.labels()["flaky_tests"] != mine.labels()["flaky_tests"]


def test_adding_a_repository_leaves_the_others_histories_alone() -> None:
    # Injected organisation-wide faults pick among the repositories, so compare without them.
    quiet = replace(SMALL, inject_ground_truth=False)
    bigger = Organisation(replace(quiet, repos=(*SMALL.repos, "extra")))
    columns = ["repo", "head_sha", "created_at", "conclusion", "run_attempt"]
    mine = Organisation(quiet).runs_frame()[columns]
    theirs = bigger.runs_frame()[columns]
    theirs = theirs[theirs["repo"] != "acme/extra"].reset_index(drop=True)
    pd.testing.assert_frame_equal(mine.sort_values(columns).reset_index(drop=True),
                                  theirs.sort_values(columns).reset_index(drop=True))  # fmt: skip


def test_ids_are_unique_across_the_organisation_and_grow_with_time(org: Organisation) -> None:
    runs = org.runs_frame()
    first = runs[runs["run_attempt"] == 1]
    assert first["run_id"].is_unique
    assert first.sort_values(["created_at", "run_id"])["run_id"].is_monotonic_increasing
    assert runs.groupby("run_id")["repo"].nunique().max() == 1
    job_ids = [j["id"] for j in org.jobs]
    assert len(job_ids) == len(set(job_ids))
    artifact_ids = [a["id"] for a in org.artifacts]
    assert len(artifact_ids) == len(set(artifact_ids))
    assert all(isinstance(i, int) for i in job_ids[:100] + artifact_ids[:100])


# -- structure ------------------------------------------------------------------------------------


def test_attempts_are_numbered_1_to_n_and_keep_the_runs_creation_time(org: Organisation) -> None:
    runs = org.runs_frame()
    for _, attempts in runs.groupby("run_id"):
        assert attempts["run_attempt"].tolist() == list(range(1, len(attempts) + 1))
        assert attempts["created_at"].nunique() == 1
        starts, ends = attempts["run_started_at"].tolist(), attempts["updated_at"].tolist()
        assert all(later > end for later, end in zip(starts[1:], ends[:-1], strict=False))
    counts = runs.groupby("run_id")["run_attempt"].max().value_counts()
    assert counts.get(2, 0) > 50 and counts.get(3, 0) > 5
    reruns = runs[runs["run_attempt"] > 1]
    assert (reruns["run_started_at"].dt.date > reruns["created_at"].dt.date).any(), "no re-run the next day"
    assert (runs["status"] == "completed").all()


def test_every_attempt_has_its_workflows_jobs(org: Organisation, labels: dict) -> None:
    runs, jobs = org.runs_frame(), org.jobs_frame()
    names = jobs.groupby(["run_id", "run_attempt"])["job_name"].apply(frozenset)
    assert len(names) == len(runs), "an attempt without jobs"
    workflows = {r["repo"]: r["workflows"] for r in labels["repos"]}
    for row in runs.itertuples():
        expected = set(workflows[row.repo][row.workflow_name])
        if row.event == "pull_request":  # pull requests test on Linux only
            expected = {n for n in expected if not n.startswith("test (") or n == "test (ubuntu-latest)"}
        assert names[(row.run_id, row.run_attempt)] == expected
    assert any("macos-latest" in n for n in jobs["job_name"])
    larger = jobs[jobs["runner_group_name"] == "larger-runners"]
    assert {"ubuntu-latest-4-cores", "ubuntu-latest-8-cores", "ubuntu-latest-16-cores"} <= {
        label for labels_ in larger["runner_labels"] for label in labels_
    }
    assert (
        jobs.loc[jobs["runner_group_name"] == "GitHub Actions", "runner_name"]
        .str.match(r"GitHub Actions \d+$")
        .all()
    )


def test_pull_request_heads_that_fast_forward_run_again_on_main(org: Organisation) -> None:
    runs = org.runs_frame()
    pr_shas = set(runs.loc[runs["event"] == "pull_request", "head_sha"])
    pushed = runs[(runs["event"] == "push") & (runs["head_branch"] == "main")]
    assert pushed["head_sha"].isin(pr_shas).sum() >= 20
    assert {"push", "pull_request", "schedule", "workflow_dispatch"} <= set(runs["event"])


def test_truth_frames_have_the_contract_columns(org: Organisation) -> None:
    assert list(org.runs_frame().columns) == [c for c in CI_RUNS.column_names if c not in LOAD_COLUMNS]
    assert list(org.jobs_frame().columns) == [c for c in CI_JOBS.column_names if c not in LOAD_COLUMNS]
    runs = org.runs_frame()
    assert runs["created_at"].dtype == "datetime64[us]" and runs["created_at"].dt.tz is None


def test_run_truth_matches_the_workflow_run_objects(org: Organisation) -> None:
    from_api = pd.DataFrame(
        {
            "repo": r["repository"]["full_name"],
            "run_id": r["id"],
            "run_attempt": r["run_attempt"],
            "run_number": r["run_number"],
            "workflow_id": r["workflow_id"],
            "workflow_name": r["name"],
            "event": r["event"],
            "head_branch": r["head_branch"],
            "head_sha": r["head_sha"],
            "actor": r["triggering_actor"]["login"],
            "status": r["status"],
            "conclusion": r["conclusion"],
            "created_at": _ts(r["created_at"]),
            "run_started_at": _ts(r["run_started_at"]),
            "updated_at": _ts(r["updated_at"]),
            "html_url": r["html_url"],
        }
        for r in org.run_attempts
    )
    truth = org.runs_frame()
    key = ["repo", "run_id", "run_attempt"]
    from_api = from_api.sort_values(key).reset_index(drop=True)
    for column in truth.columns:
        got, want = from_api[column].tolist(), truth[column].tolist()
        assert got == want, column
    for r in org.run_attempts:
        expected = None if r["run_attempt"] == 1 else f"{r['url']}/attempts/{r['run_attempt'] - 1}"
        assert r["previous_attempt_url"] == expected
        assert r["head_commit"]["id"] == r["head_sha"]


def test_job_truth_matches_the_job_objects(org: Organisation) -> None:
    repo_of_run = {r["id"]: r["repository"]["full_name"] for r in org.run_attempts}
    from_api = pd.DataFrame(
        {
            "repo": repo_of_run[j["run_id"]],
            "run_id": j["run_id"],
            "run_attempt": j["run_attempt"],
            "job_id": j["id"],
            "job_name": j["name"],
            "workflow_name": j["workflow_name"],
            "head_branch": j["head_branch"],
            "head_sha": j["head_sha"],
            "status": j["status"],
            "conclusion": j["conclusion"],
            "created_at": _ts(j["created_at"]),
            "started_at": _ts(j["started_at"]),
            "completed_at": _ts(j["completed_at"]),
            "runner_labels": j["labels"],
            "runner_name": j["runner_name"],
            "runner_group_name": j["runner_group_name"],
            "html_url": j["html_url"],
        }
        for j in org.jobs
    ).sort_values(["repo", "run_id", "run_attempt", "job_id"])
    truth = org.jobs_frame()
    for column in from_api.columns:
        assert from_api[column].tolist() == truth[column].tolist(), column
    assert set(truth["runner_os"]) == {"Linux", "Windows", "macOS"}
    for job in org.jobs[:500]:
        steps = job["steps"]
        assert (
            steps[0]["started_at"] == job["started_at"] and steps[-1]["completed_at"] == job["completed_at"]
        )
        assert [s["number"] for s in steps] == list(range(1, len(steps) + 1))
        assert ("failure" in {s["conclusion"] for s in steps}) == (job["conclusion"] == "failure")


def test_artifacts_belong_to_the_attempt_whose_window_holds_them(
    org: Organisation, truth: pd.DataFrame
) -> None:
    attempts = {(r["id"], r["run_attempt"]): r for r in org.run_attempts}
    by_artifact = truth.drop_duplicates("artifact_id").set_index("artifact_id")
    junit = [a for a in org.artifacts if not org.coverage.owns(a["id"])]
    assert len(by_artifact) == len(junit)
    # Coverage artifacts (sim_coverage) too fall inside an attempt of their run, one per attempt.
    coverage = org.coverage.truth_frame().drop_duplicates(["run_id", "run_attempt"])
    assert len(coverage) == len(org.artifacts) - len(junit) > 0
    for row in coverage.itertuples(index=False):
        attempt = attempts[(row.run_id, row.run_attempt)]
        artifact = next(
            a
            for a in org.artifacts[len(junit) :]
            if a["workflow_run"]["id"] == row.run_id
            and attempt["run_started_at"] <= a["created_at"] <= attempt["updated_at"]
        )
        assert artifact["name"] == "coverage-report"
    for artifact in junit:
        row = by_artifact.loc[artifact["id"]]
        run = artifact["workflow_run"]
        assert (run["id"], run["head_sha"], run["head_branch"]) == (
            row["run_id"],
            row["head_sha"],
            row["branch"],
        )
        attempt = attempts[(row["run_id"], row["run_attempt"])]
        assert attempt["run_started_at"] <= artifact["created_at"] <= attempt["updated_at"]
    # upload-artifact needs names unique within a run attempt; Vigil's default globs find them all.
    names = [(r, a, n) for r, a, n in zip(truth.run_id, truth.run_attempt, truth.artifact_id, strict=True)]
    by_id = {artifact["id"]: artifact["name"] for artifact in junit}
    per_attempt = {(r, a, by_id[n]) for r, a, n in set(names)}
    assert len(per_attempt) == len({n for _, _, n in names})
    patterns = DEFAULT_ARTIFACT_PATTERNS.split(",")
    assert all(any(fnmatch.fnmatchcase(name.lower(), p) for p in patterns) for name in by_id.values())


def test_api_objects_carry_the_documented_fields(org: Organisation, fixtures_dir: Path) -> None:
    documented = {
        "run": json.loads((fixtures_dir / "github" / "actions_get_workflow_run.json").read_text()),
        "job": json.loads((fixtures_dir / "github" / "actions_list_jobs_for_workflow_run.json").read_text())[
            "jobs"
        ][0],
        "artifact": json.loads(
            (fixtures_dir / "github" / "actions_list_workflow_run_artifacts.json").read_text()
        )["artifacts"][0],
    }
    ours = {"run": org.run_attempts[-1], "job": org.jobs[-1], "artifact": org.artifacts[-1]}
    # Fields the simulator leaves out on purpose (it does not model check suites' node ids,
    # artifact digests or head-repository URL lists).
    optional = {"check_suite_node_id", "digest"}
    for kind, example in documented.items():
        missing = set(example) - set(ours[kind]) - optional
        assert not missing, f"{kind} lacks {missing}"
        for field, value in example.items():
            if field in ours[kind] and value is not None and ours[kind][field] is not None:
                assert type(ours[kind][field]) is type(value), f"{kind}.{field}"
    assert set(documented["run"]["repository"]["owner"]) >= {"login", "id"}
    for stamp in (ours["run"]["created_at"], ours["job"]["completed_at"], ours["artifact"]["expires_at"]):
        assert stamp.endswith("Z") and len(stamp) == 20


# -- JUnit artifacts ------------------------------------------------------------------------------


def _parse_executions(path: str, xml: bytes) -> list[tuple]:
    """An independent reading of the reports: (path, classname, name, attempt, outcome, time)."""
    rows = []
    for case in etree.fromstring(xml).iter("testcase"):
        tags = [child.tag for child in case]
        reruns = [("failed" if "Failure" in t else "error") for t in tags if t.startswith("rerun")]
        flaky = [("failed" if "Failure" in t else "error") for t in tags if t.startswith("flaky")]
        if "skipped" in tags:
            outcomes = ["skipped"]
        elif flaky:
            outcomes = [*flaky, "passed"]
        elif "failure" in tags or "error" in tags:
            outcomes = ["failed" if "failure" in tags else "error", *reruns]
        else:
            outcomes = ["passed"]
        own = len(flaky)  # the testcase's own time belongs to its own outcome
        for attempt, outcome in enumerate(outcomes):
            time_s = float(case.get("time")) if attempt == own else None
            rows.append((path, case.get("classname"), case.get("name"), attempt, outcome, time_s))
    return rows


def _sample_artifacts(org: Organisation, truth: pd.DataFrame) -> list[int]:
    """Per repository: artifacts with each outcome and with reruns, plus a few ordinary ones."""
    chosen: set[int] = set()
    for _, rows in truth.groupby("repo"):
        for outcome in ("failed", "error", "skipped"):
            chosen |= set(rows.loc[rows["outcome"] == outcome, "artifact_id"].unique()[:3].tolist())
        chosen |= set(rows.loc[rows["attempt"] > 0, "artifact_id"].unique()[:4].tolist())
        chosen |= set(rows["artifact_id"].unique()[::400].tolist())
    return sorted(chosen)


def test_zipped_reports_parse_and_equal_the_truth(org: Organisation, truth: pd.DataFrame) -> None:
    sample = _sample_artifacts(org, truth)
    assert len(sample) >= 30
    by_artifact = dict(tuple(truth.groupby("artifact_id")))
    for artifact_id in sample:
        with zipfile.ZipFile(io.BytesIO(org.artifact_zip(artifact_id))) as archive:
            parsed = [
                row for name in archive.namelist() for row in _parse_executions(name, archive.read(name))
            ]
        rows = by_artifact[artifact_id]
        expected = [
            (
                r.report_path,
                r.classname,
                r.test_name,
                r.attempt,
                r.outcome,
                None if np.isnan(r.duration_s) else r.duration_s,
            )
            for r in rows.itertuples()
        ]
        assert Counter(parsed) == Counter(expected), artifact_id
        assert Counter(p[4] for p in parsed) == Counter(rows["outcome"])


def test_every_dialect_writes_reruns_errors_skips_and_awkward_names(
    truth: pd.DataFrame, labels: dict
) -> None:
    dialects = {r["repo"]: r["dialect"] for r in labels["repos"]}
    assert set(dialects.values()) == {"pytest", "jest", "surefire", "go"}
    outcomes = truth.groupby(truth["repo"].map(dialects))["outcome"].apply(set)
    assert outcomes["surefire"] == outcomes["pytest"] == {"passed", "failed", "error", "skipped"}
    assert outcomes["jest"] == outcomes["go"] == {"passed", "failed", "skipped"}  # no <error> in these tools
    surefire = truth[truth["repo"].map(dialects) == "surefire"]
    flaky_pass = surefire[(surefire["attempt"] == 1) & (surefire["outcome"] == "passed")]
    assert len(flaky_pass) > 0, "no flaky test passed on its Surefire rerun"
    assert truth.loc[truth["repo"].map(dialects) != "surefire", "attempt"].eq(0).all()
    assert (truth.loc[truth["repo"].map(dialects) == "pytest", "file"].str.endswith(".py")).all()

    for repo in labels["repos"]:
        names = {role: ref["test_name"] for role, ref in repo["awkward_tests"].items()}
        if repo["dialect"] in ("pytest", "surefire"):
            assert "[" in names["quoted_param"] and "]" in names["quoted_param"]
        assert '"' in names["quoted_param"] and "'" in names["apostrophe_param"]
        assert not names["unicode"].isascii()
        assert len(names["long_name"]) >= 300
        a, b = repo["awkward_tests"]["duplicate_a"], repo["awkward_tests"]["duplicate_b"]
        assert a["test_name"] == b["test_name"] and a["classname"] != b["classname"]
        seen = truth.loc[truth["repo"] == repo["repo"], "test_name"]
        assert set(names.values()) <= set(seen)


def test_without_test_reports_there_are_no_artifacts_but_the_same_runs() -> None:
    plain = Organisation(replace(SMALL, with_test_reports=False))
    assert plain.artifacts == [] and plain.test_results_truth().empty
    pd.testing.assert_frame_equal(plain.jobs_frame(), simulate(SMALL).jobs_frame())


# -- ground truth ---------------------------------------------------------------------------------


def _clean_executions(truth: pd.DataFrame, labels: dict) -> pd.DataFrame:
    """First executions outside the outage and outside commits that break the test on purpose."""
    outage_jobs = {j["job_id"] for j in labels["outage"]["affected_jobs"]}
    commit_broken = {(f["repo"], f["sha"], f["classname"], f["test_name"]) for f in labels["commit_failures"]}
    first = truth[(truth["attempt"] == 0) & ~truth["job_id"].isin(outage_jobs)]
    keys = zip(first["repo"], first["head_sha"], first["classname"], first["test_name"], strict=True)
    return first[[k not in commit_broken for k in keys]]


def test_flaky_tests_fail_at_their_labelled_probability(truth: pd.DataFrame, labels: dict) -> None:
    clean = _clean_executions(truth, labels)
    clean = clean[clean["outcome"] != "skipped"]  # scheduled-only tests are skipped outside their schedule
    assert 8 <= sum("schedule" not in t for t in labels["flaky_tests"]) <= 20
    assert {t.get("schedule") for t in labels["flaky_tests"]} == {None, "nightly", "weekly"}
    for flaky in labels["flaky_tests"]:
        p = flaky["failure_probability"]
        assert 0.05 <= p <= (0.20 if "schedule" in flaky else 0.40)
        mine = clean[(clean["repo"] == flaky["repo"]) & (clean["classname"] == flaky["classname"])
                     & (clean["test_name"] == flaky["test_name"])]  # fmt: skip
        n = len(mine)
        rate = mine["outcome"].isin(FAILED).mean()
        # Several runs a day, one a night (no retries), one a week.
        assert n > {None: 100, "nightly": 20, "weekly": 3}[flaky.get("schedule")]
        assert abs(rate - p) < 4 * np.sqrt(p * (1 - p) / n) + 0.01, (flaky, rate, n)


def test_unlabelled_tests_never_fail_outside_the_outage(truth: pd.DataFrame, labels: dict) -> None:
    clean = _clean_executions(truth, labels)
    labelled = {
        (t["repo"], t["classname"], t["test_name"]) for t in labels["flaky_tests"] + labels["broken_tests"]
    }
    keys = zip(clean["repo"], clean["classname"], clean["test_name"], strict=True)
    others = clean[[k not in labelled for k in keys]]
    assert not others["outcome"].isin(FAILED).any()


def test_broken_tests_fail_exactly_in_their_commit_range(
    org: Organisation, truth: pd.DataFrame, labels: dict
) -> None:
    commits = org.commits_frame().set_index(["repo", "sha"])["effective_position"]
    clean = _clean_executions(truth, labels)
    clean = clean[clean["outcome"] != "skipped"]
    assert labels["broken_tests"]
    assert any(b["fix_sha"] is None for b in labels["broken_tests"])
    assert any(b["fix_sha"] is not None for b in labels["broken_tests"])
    for broken in labels["broken_tests"]:
        rows = clean[(clean["repo"] == broken["repo"]) & (clean["classname"] == broken["classname"])
                     & (clean["test_name"] == broken["test_name"])]  # fmt: skip
        position = commits.loc[list(zip(rows["repo"], rows["head_sha"], strict=True))].to_numpy()
        inside = position >= broken["start_position"]
        if broken["fix_position"] is not None:
            inside &= position < broken["fix_position"]
        failed = rows["outcome"].isin(FAILED).to_numpy()
        assert inside.any() and (~inside).any()
        assert (failed == inside).all(), broken
        assert commits.loc[(broken["repo"], broken["start_sha"])] == broken["start_position"]


def test_outage_fails_most_tests_of_affected_jobs(
    org: Organisation, truth: pd.DataFrame, labels: dict
) -> None:
    outage = labels["outage"]
    affected = outage["affected_jobs"]
    assert len(affected) >= 10
    jobs = org.jobs_frame().set_index("job_id")
    died = [a["job_id"] for a in affected if a["died_before_tests"]]
    ran = [a["job_id"] for a in affected if not a["died_before_tests"]]
    assert died and ran
    assert (jobs.loc[died, "conclusion"] == "failure").all()
    assert not truth["job_id"].isin(died).any(), "a job that died before its tests uploaded reports"
    hit = truth[truth["job_id"].isin(ran) & (truth["attempt"] == 0) & (truth["outcome"] != "skipped")]
    failure_share = hit.groupby("job_id")["outcome"].apply(lambda o: o.isin(FAILED).mean())
    assert (failure_share > outage["min_failure_fraction"]).all()
    start, end = _ts(outage["start"]), _ts(outage["end"])
    assert jobs.loc[[a["job_id"] for a in affected], "started_at"].between(start, end, inclusive="left").all()
    assert (jobs.loc[[a["job_id"] for a in affected], "runner_os"] == "Linux").all()


def test_duration_steps_slow_down_from_their_commit(
    org: Organisation, truth: pd.DataFrame, labels: dict
) -> None:
    commits = org.commits_frame().set_index(["repo", "sha"])["effective_position"]
    jobs = org.jobs_frame()
    steps = labels["duration_steps"]
    assert {s["kind"] for s in steps} == {"test", "job"}
    for step in steps:
        if step["kind"] == "test":
            rows = truth[(truth["repo"] == step["repo"]) & (truth["test_name"] == step["test_name"])
                         & (truth["classname"] == step["classname"]) & truth["duration_s"].notna()
                         & (truth["outcome"] == "passed")]  # fmt: skip
            linux = rows[rows["job_id"].isin(jobs.loc[jobs["runner_os"] == "Linux", "job_id"])]
            values, shas = linux["duration_s"], linux["head_sha"]
        else:
            rows = jobs[(jobs["repo"] == step["repo"]) & (jobs["job_name"] == step["job_name"])
                        & (jobs["runner_os"] == "Linux")]  # fmt: skip
            values = (rows["completed_at"] - rows["started_at"]).dt.total_seconds()
            shas = rows["head_sha"]
        after = (
            commits.loc[list(zip([step["repo"]] * len(shas), shas, strict=True))].to_numpy()
            >= step["commit_position"]
        )
        ratio = values[after].median() / values[~after].median()
        assert after.sum() > 10 and (~after).sum() > 10
        # A job's median also holds its fixed set-up steps, which do not slow down.
        tolerance = 0.1 if step["kind"] == "test" else 0.2
        assert abs(ratio / step["factor"] - 1) < tolerance, (step, ratio)


def test_cost_spikes_show_in_runs_and_runner_labels(org: Organisation, labels: dict) -> None:
    runs, jobs = org.runs_frame(), org.jobs_frame()
    spikes = {s["kind"]: s for s in labels["cost_spikes"]}
    volume = spikes["run_volume"]
    ci = runs[(runs["repo"] == volume["repo"]) & (runs["workflow_name"] == "CI") & (runs["run_attempt"] == 1)]
    per_day = ci.groupby(ci["created_at"].dt.date.astype(str)).size()
    weekdays = per_day[pd.to_datetime(per_day.index).day_of_week < 5]
    assert per_day[volume["day"]] == volume["runs"]
    assert per_day[volume["day"]] > 4 * weekdays.drop(volume["day"]).median()

    change = spikes["runner_change"]
    mine = jobs[(jobs["repo"] == change["repo"]) & jobs["job_name"].isin(change["jobs"])]
    run_day = mine["run_id"].map(
        runs.drop_duplicates("run_id").set_index("run_id")["created_at"].dt.date.astype(str)
    )
    inside = run_day.between(change["first_day"], change["last_day"])
    on_macos = mine["runner_labels"].map(lambda labels_: labels_ == change["to_labels"])
    assert inside.sum() > 10
    assert (on_macos == inside).all()


def test_labels_are_json_and_carry_the_spec(org: Organisation, tmp_path: Path) -> None:
    path = tmp_path / "labels.json"
    org.write_labels(path)
    loaded = json.loads(path.read_text(encoding="utf-8"))
    assert loaded == json.loads(json.dumps(org.labels()))
    assert loaded["spec"]["seed"] == org.spec.seed and loaded["spec"]["start"] == "2026-10-01"
    assert loaded["outage"]["day"] == loaded["outage"]["start"][:10]


def test_without_ground_truth_nothing_is_injected() -> None:
    quiet = Organisation(replace(SMALL, inject_ground_truth=False))
    found = quiet.labels()
    assert (
        found["flaky_tests"] == found["broken_tests"] == found["duration_steps"] == found["cost_spikes"] == []
    )
    assert found["outage"] is None
    truth = quiet.test_results_truth()
    broken_by_commit = {(f["sha"], f["test_name"]) for f in found["commit_failures"]}
    failing = truth[truth["outcome"].isin(FAILED)]
    assert set(zip(failing["head_sha"], failing["test_name"], strict=True)) <= broken_by_commit


# -- volume and speed -----------------------------------------------------------------------------


def test_a_busy_day_has_exactly_the_forced_number_of_runs_spread_over_the_day() -> None:
    spec = OrgSpec(seed=3, repos=("api",), days=2, busy_days=(("api", 1, 1200),), with_test_reports=False)
    runs = simulate(spec).runs_frame()
    first = runs[runs["run_attempt"] == 1]
    busy = first[first["created_at"].dt.date.astype(str) == "2026-10-02"]
    assert len(busy) == 1200 and busy["run_id"].is_unique
    assert busy["created_at"].dt.hour.nunique() == 24


def test_default_spec_simulates_in_under_three_seconds() -> None:
    started = time.perf_counter()
    fresh = Organisation(OrgSpec())
    assert fresh.run_attempts and fresh.jobs and fresh.artifacts
    elapsed = time.perf_counter() - started
    assert elapsed < 3.0, f"{elapsed:.2f} s"
    assert len(fresh.jobs) > 6_000 and len(fresh.runs_frame()) > 1_500
