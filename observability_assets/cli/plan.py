"""`vigil plan`: the tests a pull request needs, as ci-plan.json (predictive test selection).

    vigil plan --repo acme/api --base <sha> --head <sha> [--budget 0.3] [--min-recall 0.95]

Changed files come from the warehouse (raw.commit_files, walking the head's first parents down to
the base), or from `--files` (one path a line, `-` for stdin: `git diff --name-only base...head`)
for CI systems Vigil does not crawl. The model is the repository's latest one written by the
`marts/test_selection_models` asset (trained here from the warehouse when there is none yet).
Prints the plan as JSON: `{"risk": ..., "tests": [...], "shardCount": n, ...}` plus a reason per
selected test, the quarantined tests apart, and why everything runs when it does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

RULES_ENV = "VIGIL_TEST_SELECTION_RULES"
DEFAULT_RULES = "config/test_selection.yaml"

# The head's first-parent chain down to the base (exclusive), with each commit's files.
_CHAIN_SQL = """
WITH RECURSIVE commits AS (
    SELECT sha, any_value(parent_sha) AS parent_sha, any_value(parents) AS parents, list(path) AS paths
    FROM raw.commit_files WHERE repo = ? GROUP BY sha
), chain AS (
    SELECT sha, parent_sha, parents, paths, 0 AS depth FROM commits WHERE sha = ? AND sha <> ?
    UNION ALL
    SELECT c.sha, c.parent_sha, c.parents, c.paths, chain.depth + 1
    FROM commits c JOIN chain ON c.sha = chain.parent_sha
    WHERE c.sha <> ? AND chain.depth < 200
)
SELECT sha, parents, paths FROM chain ORDER BY depth
"""

# Files the default branch changed between the base and the head were built: a merge of the
# default branch into the pull request shows them, but they are not the pull request's changes.
_MERGED_IN_SQL = """
WITH built AS (
    SELECT head_sha, min(created_at) AS built_at, min(created_at) FILTER (WHERE head_branch = ?) AS at_default
    FROM raw.ci_runs WHERE repo = ? GROUP BY head_sha
)
SELECT DISTINCT f.path
FROM raw.commit_files f JOIN built b ON b.head_sha = f.sha
WHERE f.repo = ? AND b.at_default IS NOT NULL
  AND b.at_default > (SELECT coalesce(at_default, built_at) FROM built WHERE head_sha = ?)
  AND b.at_default <= (SELECT built_at FROM built WHERE head_sha = ?)
"""


def load_rules(path: str | None):
    import yaml

    from observability_assets.core.test_selection import PathRules

    file = Path(path or os.environ.get(RULES_ENV) or DEFAULT_RULES)
    if not file.exists():
        return PathRules()
    return PathRules.from_mapping(yaml.safe_load(file.read_text(encoding="utf-8")) or {})


def changed_files_from_warehouse(con, repo: str, base: str, head: str, default_branch: str = "main"):
    """The pull request's files and those of its head commit, or None when the head is not in
    raw.commit_files (`con`: an open warehouse connection)."""
    chain = con.execute(_CHAIN_SQL, [repo, head, base, base]).fetchall()
    if not chain:
        return None
    merged_in: set[str] = set()
    if any((parents or 0) > 1 for _, parents, _ in chain):
        rows = con.execute(_MERGED_IN_SQL, [default_branch, repo, repo, base, head]).fetchall()
        merged_in = {r[0] for r in rows}
    files: set[str] = set()
    for _, parents, paths in chain:
        files.update(p for p in paths if (parents or 0) <= 1 or p not in merged_in)
    # The head's own files are new; an earlier run of the pull request tested the others.
    latest = sorted(files & set(chain[0][2])) or sorted(files)
    return sorted(files), latest


def changed_files_from_github(repo: str, base: str, head: str) -> list[str]:
    """GitHub's compare, when the head is not in the warehouse (GITHUB_API_URL, GITHUB_TOKEN)."""
    from resources.github import GitHubResource

    api_url = os.environ.get("GITHUB_API_URL", "").strip()
    if not api_url or api_url == "demo":
        raise SystemExit(
            f"vigil plan: {head} is not in raw.commit_files of {repo}; ingest its day, set GITHUB_API_URL "
            "and GITHUB_TOKEN to ask GitHub's compare, or pass --files"
        )
    github = GitHubResource(api_url=api_url, token=os.environ.get("GITHUB_TOKEN"), repos=repo)
    with github.client() as client:
        return sorted(f["filename"] for f in client.compare(repo, base, head).get("files") or [])


def quarantined_tests(warehouse, repo: str) -> list[str]:
    try:
        frame = warehouse.query(
            "SELECT test_id FROM marts.flaky_scores WHERE repo = ? AND status = 'quarantined'", [repo]
        )
    except Exception:
        return []
    return frame["test_id"].tolist()


def model_for(warehouse, repo: str):
    """The latest trained model, else one trained now from the warehouse."""
    from observability_assets.derived.test_selection import fit, histories, load_model

    model = load_model(repo)
    if model is not None:
        return model
    print(f"vigil plan: no trained model for {repo}; training one from the warehouse", file=sys.stderr)
    files = warehouse.query(
        "SELECT repo, sha, parent_sha, path, parents FROM raw.commit_files WHERE repo = ?", [repo]
    )
    results = warehouse.query(
        "SELECT repo, head_sha, test_id, any_value(classname) AS classname, any_value(test_name) AS test_name, "
        "any_value(file) AS file, any_value(suite) AS suite, outcome, avg(duration_s) AS duration_s "
        "FROM raw.test_results WHERE repo = ? AND outcome <> 'skipped' GROUP BY repo, head_sha, test_id, outcome",
        [repo],
    )
    runs = warehouse.query(
        "SELECT repo, head_sha, head_branch, event, created_at FROM raw.ci_runs WHERE repo = ?", [repo]
    )
    if runs.empty:
        raise SystemExit(f"vigil plan: {repo} has no runs in the warehouse")
    end = runs["created_at"].max().to_pydatetime()
    history = histories(files, results, runs, end).get(repo)
    if history is None:
        raise SystemExit(f"vigil plan: {repo} has no history in the warehouse")
    return fit(history)


def make_plan(args: argparse.Namespace):
    """The plan for the arguments, and how long planning took (seconds)."""
    from observability_assets.core.test_selection import plan_change
    from resources.warehouse import warehouse_from_env

    started = time.perf_counter()
    warehouse = warehouse_from_env()
    latest, found = None, None
    # One short read for everything the warehouse answers (opening the file is most of its cost).
    with warehouse.read("vigil plan") as con:
        quarantined = quarantined_tests(con, args.repo)
        if not args.files:
            found = changed_files_from_warehouse(con, args.repo, args.base, args.head)
    if args.files:
        stream = sys.stdin if args.files == "-" else open(args.files, encoding="utf-8")  # noqa: SIM115
        with stream:
            files = sorted({line.strip() for line in stream if line.strip()})
    elif found is None:
        files = changed_files_from_github(args.repo, args.base, args.head)
    else:
        files, latest = found
    model = model_for(warehouse, args.repo)
    plan = plan_change(
        model,
        files,
        budget=args.budget,
        min_recall=args.min_recall,
        rules=load_rules(args.rules),
        quarantined=quarantined,
        latest=latest,
    )
    return plan, time.perf_counter() - started


def _cmd_plan(args: argparse.Namespace) -> int:
    if not 0 < args.budget <= 1 or not 0 < args.min_recall <= 1:
        raise SystemExit("--budget and --min-recall are shares in (0, 1]")
    plan, seconds = make_plan(args)
    text = json.dumps(plan.to_json(), indent=2, ensure_ascii=False)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    print(text)
    print(
        f"vigil plan: {len(plan.tests)} tests, risk {plan.risk}, {plan.shard_count} shard(s) "
        f"in {seconds * 1000:.0f} ms",
        file=sys.stderr,
    )
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    plan = commands.add_parser("plan", help="predictive test selection: write ci-plan.json for a change")
    plan.add_argument("--repo", required=True, help="owner/name")
    plan.add_argument("--base", required=True, help="base commit SHA (the pull request's target)")
    plan.add_argument("--head", required=True, help="head commit SHA")
    plan.add_argument("--budget", type=float, default=0.3, help="most tests to run, as a share (default 0.3)")
    plan.add_argument(
        "--min-recall", type=float, default=0.95, help="stop once this share of predicted failures is covered"
    )
    plan.add_argument("--files", help="changed paths, one a line ('-' for stdin) instead of the warehouse")
    plan.add_argument("--rules", help=f"path rules (default ${RULES_ENV} or {DEFAULT_RULES})")
    plan.add_argument("--output", "-o", help="also write the plan to this file (e.g. ci-plan.json)")
    plan.set_defaults(handler=_cmd_plan)
