"""Benchmark: clustering a day of 100,000 failures, against reading them and one regex over them.

The day's failures are generated with the simulator's failure texts (`demo/sim_failure_causes`:
pytest, jest, Surefire and go-test messages and stack traces, varying per occurrence) over ten
repositories of 2,000 tests each: a third infrastructure errors, a third flaky failures (most of
them the shared connection reset), a third assertions and a library break. They are written to
raw.test_results of a DuckDB warehouse file.

- **baseline**: read every failure's message and stack trace from that file into Python
  (`SELECT message, stack_trace ... WHERE outcome IN ('failed', 'error')`, a read-only connection)
  and run one plain regex normalisation over them (`[0-9]+` → `<n>`);
- **clustering**: `derived.failure_clusters.refresh_failure_clusters` for a one-day window, what
  the asset runs: read and shape in DuckDB, signatures of the distinct shapes in Python, the
  in-memory aggregation and the write of both marts (the Warehouse's lock included; the analyst
  snapshot copy left out, as in the other benchmarks).

Goal: clustering <= 2x the baseline. One run of each, baseline first.

    .venv/bin/python bench/bench_failure_clusters.py [--quick]
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from observability_assets.core.junit import TEST_ID_SQL
from observability_assets.demo.sim_failure_causes import RepoCauses, failure_text
from observability_assets.demo.sim_tests import ASSERT, DIALECTS, FLAKY, INFRA, build_catalogue
from observability_assets.derived.failure_clusters import refresh_failure_clusters
from resources.warehouse import Warehouse

DAY = date(2026, 10, 5)
REPOS, TESTS = 10, 2000
GOAL = 2.0


def generate(failures: int, seed: int = 1) -> pd.DataFrame:
    rng = random.Random(seed)
    repos = []
    for i in range(REPOS):
        name, dialect = f"svc{i}", DIALECTS[i % len(DIALECTS)]
        catalogue = build_catalogue(name, dialect, TESTS, np.random.default_rng([seed, i]))
        tests = list(range(len(catalogue)))
        causes = RepoCauses(
            f"acme/{name}", dialect, frozenset(rng.sample(tests, 60)), frozenset(rng.sample(tests, 40))
        )
        repos.append((name, catalogue, causes))
    rows = []
    for n in range(failures):
        name, catalogue, causes = repos[n % REPOS]
        u = rng.random()
        if u < 1 / 3:
            reason, test = INFRA, rng.randrange(TESTS)
        elif u < 2 / 3:
            reason = FLAKY
            test = rng.choice(sorted(causes.network_tests)) if rng.random() < 0.7 else rng.randrange(TESTS)
        else:
            reason = ASSERT
            test = rng.choice(sorted(causes.dependency_tests)) if rng.random() < 0.3 else rng.randrange(TESTS)
        job = n // 200
        text = failure_text(causes, catalogue, test, reason, f"{job}|{n}")
        rows.append(
            (
                f"acme/{name}",
                1000 + job,
                1,
                50_000 + job,
                catalogue.classname[test],
                catalogue.name[test],
                catalogue.file[test],
                text.element if text.element == "error" else "failed",
                text.message,
                text.body,
                catalogue.suite[test],
            )
        )
    return pd.DataFrame(
        rows,
        columns=[
            "repo", "run_id", "run_attempt", "job_id", "classname", "test_name", "file", "outcome",
            "message", "stack_trace", "suite",
        ],
    )  # fmt: skip


def load(warehouse: Warehouse, frame: pd.DataFrame) -> None:
    with warehouse.write("bench load", publish=False) as con:
        con.register("f", frame)
        con.execute(
            "INSERT INTO raw.test_results (repo, run_id, run_attempt, job_id, test_id, classname, test_name, file, "
            "suite, outcome, attempt, message, stack_trace, report_path, partition_day) "
            f"SELECT repo, run_id, run_attempt, job_id, {TEST_ID_SQL}, classname, test_name, file, suite, outcome, 0, "
            "message, stack_trace, 'report.xml', ? FROM f",
            [DAY],
        )


def baseline(path: Path) -> tuple[float, int]:
    started = time.perf_counter()
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "SELECT message, stack_trace FROM raw.test_results WHERE outcome IN ('failed', 'error') "
            "AND partition_day = ?",
            [DAY],
        ).fetchall()
    digits = re.compile(r"[0-9]+")
    normalised = [digits.sub("<n>", (m or "") + "\n" + (s or "")) for m, s in rows]
    return time.perf_counter() - started, len(normalised)


def run(quick: bool = False) -> str:
    failures = 10_000 if quick else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        frame = generate(failures)
        generated_s = time.perf_counter() - started
        path = Path(tmp) / "warehouse.duckdb"
        warehouse = Warehouse(path, snapshot_interval_s=1e9)
        load(warehouse, frame)
        text_mb = (frame["message"].str.len().sum() + frame["stack_trace"].str.len().sum()) / 1e6
        base_s, read = baseline(path)
        started = time.perf_counter()
        figures = refresh_failure_clusters(warehouse, windows=(1,))
        cluster_s = time.perf_counter() - started
        ratio = cluster_s / base_s
        (clusters,) = warehouse.query("SELECT count(*) AS n FROM marts.failure_clusters")["n"]
    verdict = "met" if ratio <= GOAL else "NOT met"
    return "\n".join(
        [
            "## Failure clusters: a day of failures",
            "",
            f"{read:,} failing executions on one day ({text_mb:.1f} MB of messages and stack traces, "
            f"10 repositories, 4 dialects; generated in {generated_s:.1f} s), one run each:",
            "",
            "| step | wall s |",
            "|---|---:|",
            f"| baseline: read message + stack trace from DuckDB, one regex over each | {base_s:.2f} |",
            f"| clustering (`refresh_failure_clusters`, one-day window) | {cluster_s:.2f} |",
            f"| — of which: read and shape in DuckDB | {figures['read_s']:.2f} |",
            f"| — of which: signatures of {figures['shapes']:,} distinct shapes in Python | {figures['describe_s']:.2f} |",
            f"| — of which: aggregate in memory | {figures['cluster_s']:.2f} |",
            f"| — of which: write both marts | {figures['write_s']:.2f} |",
            f"| **ratio** (goal <= {GOAL:g}x) | **{ratio:.2f}x, {verdict}** |",
            "",
            f"{clusters:,} clusters. Only the distinct shapes (a failure's text with numbers, addresses, UUIDs and "
            "temporary paths blanked by one regex pass inside DuckDB) reach Python; the rest is SQL.",
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true")
    print(run(parser.parse_args().quick))
