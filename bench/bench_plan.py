"""Benchmark: planning one change with `vigil plan` on the demo warehouse (docs/performance.md).

Against a bare query reading that repository's test list (the least any planner must do), it
times the whole plan: changed files from raw.commit_files (recursive parent walk), the model
file, quarantined tests, scoring, selection and shards. Run after `make demo`:

    .venv/bin/python bench/bench_plan.py --repo acme/api [--repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from observability_assets.cli.plan import make_plan  # noqa: E402
from resources.warehouse import warehouse_from_env  # noqa: E402

BARE_QUERY = "SELECT DISTINCT test_id, classname, test_name FROM raw.test_results WHERE repo = ?"


def bare_query(warehouse, repo: str) -> None:
    """What any planner pays at least: open the warehouse, read the repository's test list."""
    with warehouse.read("bench: test list") as con:
        con.execute(BARE_QUERY, [repo]).fetchall()


def pull_request(warehouse, repo: str) -> tuple[str, str]:
    """The latest pull-request head and the default-branch commit its branch starts from."""
    head = warehouse.query(
        "SELECT head_sha FROM raw.ci_runs WHERE repo = ? AND event = 'pull_request' "
        "ORDER BY created_at DESC LIMIT 1",
        [repo],
    )["head_sha"][0]
    main = set(
        warehouse.query(
            "SELECT DISTINCT head_sha FROM raw.ci_runs WHERE repo = ? AND head_branch = 'main'", [repo]
        )["head_sha"]
    )
    parents = dict(
        warehouse.query(
            "SELECT DISTINCT sha, parent_sha FROM raw.commit_files WHERE repo = ?", [repo]
        ).itertuples(index=False)
    )
    sha = head
    while sha not in main:
        sha = parents[sha]
    return sha, head


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default="acme/api")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    warehouse = warehouse_from_env()
    base, head = pull_request(warehouse, args.repo)
    plan_args = argparse.Namespace(
        repo=args.repo, base=base, head=head, budget=0.3, min_recall=0.95, files=None, rules=None, output=None
    )
    make_plan(plan_args)  # warm: imports, first model load
    bare = timed(lambda: bare_query(warehouse, args.repo), args.repeat)
    plans = timed(lambda: make_plan(plan_args), args.repeat)
    plan, _ = make_plan(plan_args)
    print(
        f"{args.repo} {base[:8]}...{head[:8]}: {len(plan.changed_files)} files, {len(plan.tests)} tests, risk {plan.risk}"
    )
    for name, values in (("bare test-list query", bare), ("vigil plan (one change)", plans)):
        print(
            f"{name:<26} median {statistics.median(values):7.1f} ms  p90 {sorted(values)[int(0.9 * len(values)) - 1]:7.1f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
