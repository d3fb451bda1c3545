"""Safety replay of predictive test selection on simulated organisations (docs/quality.md).

For each seed: the organisation's four weeks, as the warehouse holds them (the simulator's truth
frames, which `make demo` checks row for row against the loaded warehouse). For k = 1..3 the
model trains on weeks 1..k and plans every pull-request change first built in week k+1, at each
budget (share of tests run at most). Failures to catch are the tests the change broke (the
simulation's ground truth: flaky failures and the infrastructure outage are excluded); minutes
saved are the change's test-job minutes times the share of test time not run, priced with
dbt_like_sql/seeds/runner_prices.csv.

    .venv/bin/python bench/quality_test_selection.py --seeds 1 2 3 4 5
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from observability_assets.demo.simulator import OrgSpec, simulate  # noqa: E402
from observability_assets.derived.test_selection import (  # noqa: E402
    BUDGETS,
    BudgetResult,
    ChangeCase,
    branch_files,
    evaluate,
    fit,
    histories,
    latest_files,
)


def runner_prices() -> dict[str, float]:
    """Per-minute USD of the standard hosted runner per OS (the seed the SQL models use)."""
    lines = [
        line
        for line in (ROOT / "dbt_like_sql/seeds/runner_prices.csv").read_text().splitlines()
        if not line.startswith("#")
    ]
    return {r["os"]: float(r["usd_per_minute"]) for r in csv.DictReader(lines) if r["standard"] == "true"}


def test_key(classname: object, test_name: object) -> str:
    return f"{classname}::{test_name}"


def replay_seed(seed: int, weeks: int = 4) -> tuple[dict[float, BudgetResult], dict[str, int]]:
    spec = OrgSpec(seed=seed, days=7 * weeks)
    org = simulate(spec)
    runs = org.runs_frame()
    results = org.test_results_truth()
    results = results[results["outcome"] != "skipped"].copy()
    results["test_id"] = [
        test_key(c, n) for c, n in zip(results["classname"], results["test_name"], strict=True)
    ]
    files = org.commit_files_frame()
    jobs = org.jobs_frame()
    prices = runner_prices()
    test_jobs = jobs[jobs["job_name"].str.startswith("test")].copy()
    seconds = (test_jobs["completed_at"] - test_jobs["started_at"]).dt.total_seconds().clip(lower=0)
    # GitHub bills each job by the whole minute.
    test_jobs["minutes"] = [math.ceil(s / 60) for s in seconds]
    test_jobs["usd"] = test_jobs["minutes"] * test_jobs["runner_os"].map(prices).fillna(prices["Linux"])
    first_attempt = test_jobs[test_jobs["run_attempt"] == 1]
    per_run = first_attempt.groupby(["repo", "run_id"])[["minutes", "usd"]].sum()

    start = datetime.combine(spec.start, datetime.min.time())
    labels = org.labels()
    flaky = {(f["repo"], test_key(f["classname"], f["test_name"])) for f in labels["flaky_tests"]}
    totals = {b: BudgetResult(b) for b in BUDGETS}
    counts = {"changes": 0, "faulty": 0}
    for k in range(1, weeks):
        since, until = start + timedelta(days=7 * k), start + timedelta(days=7 * (k + 1))
        by_repo = histories(files, results, runs, until)
        for repo, view in org.code.items():
            history = by_repo[repo]
            model = fit(history, since)
            c = view.plan.commits
            catalogue_keys = _catalogue_keys(org, repo)
            pr_runs = runs[
                (runs["repo"] == repo) & (runs["event"] == "pull_request") & (runs["run_attempt"] == 1)
            ]
            pr_runs = pr_runs[(pr_runs["created_at"] >= since) & (pr_runs["created_at"] < until)]
            cases = []
            for head, group in pr_runs.groupby("head_sha"):
                if history.first_built.get(head) is None or not since <= history.first_built[head] < until:
                    continue  # replay each change once, when it is first built
                index = view.index[head]
                broken = {catalogue_keys[t] for t in view.code.breaks.get(index, ())}
                failing = frozenset(t for t in broken if (repo, t) not in flaky)
                run_id = group.sort_values("created_at")["run_id"].iloc[0]
                minutes, usd = per_run.loc[(repo, run_id)] if (repo, run_id) in per_run.index else (0.0, 0.0)
                changed = tuple(branch_files(history, head, c.sha[view.plan.main[c.base_position[index]]]))
                cases.append(
                    ChangeCase(
                        repo,
                        head,
                        changed,
                        failing,
                        latest_files(history, head, changed),
                        float(minutes),
                        float(usd) / float(minutes) if minutes else 0.0,
                    )
                )
            counts["changes"] += len(cases)
            counts["faulty"] += sum(bool(x.failing) for x in cases)
            for result in evaluate(model, cases):
                totals[result.budget].add(result)
    return totals, counts


def _catalogue_keys(org, repo: str) -> list[str]:
    repo_obj = next(r for r in org._repos if r.full_name == repo)
    cat = repo_obj.catalogue
    return [test_key(cat.classname[t], cat.name[t]) for t in range(len(cat))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    began = time.monotonic()
    table: dict[str, list[dict]] = {}
    overall = {b: BudgetResult(b) for b in BUDGETS}
    for seed in args.seeds:
        totals, counts = replay_seed(seed)
        table[str(seed)] = [totals[b].row() for b in BUDGETS]
        for b in BUDGETS:
            overall[b].add(totals[b])
        row30 = totals[0.3].row()
        print(
            f"seed {seed}: {counts['changes']} pull-request changes, {counts['faulty']} faulty; at 30 %: "
            f"failing tests caught {row30['failing_caught_share']:.3f}, faulty changes caught "
            f"{row30['faulty_caught_share']:.3f}, tests run {row30['tests_run_share']:.3f}",
            flush=True,
        )
    print("\nbudget | changes | faulty | failing tests caught | faulty changes caught | tests run | "
          "all-tests fallbacks | CI minutes saved | USD saved")  # fmt: skip
    for b in BUDGETS:
        r = overall[b].row()
        print(
            f"{int(b * 100)} % | {r['changes']} | {r['faulty_changes']} | {r['failing_caught_share']:.3f} "
            f"({overall[b].failing_caught}/{r['failing_tests']}) | {r['faulty_caught_share']:.3f} "
            f"({overall[b].faulty_caught}/{r['faulty_changes']}) | {r['tests_run_share']:.3f} | "
            f"{r['all_tests_fallbacks']} | {r['minutes_saved']:.0f} of {overall[b].minutes:.0f} "
            f"({r['minutes_saved_share']:.1%}) | {r['usd_saved']:.2f}"
        )
    print(f"\n{time.monotonic() - began:.0f} s")
    if args.json:
        args.json.write_text(
            json.dumps({"per_seed": table, "overall": [overall[b].row() for b in BUDGETS]}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
