"""raw.test_results for one big day: the asset parsing its artifacts in one process or over cores.

A simulated day of 4 repositories × ~30 runs with 3,000 tests each (~780,000 test executions in
JUnit artifacts of four dialects) is ingested once over loopback HTTP, which fills the artifact
cache. Then `dagster.materialize` of the `junit_test_results` asset alone is timed, alternating:
with its archives parsed in this process only, and over worker processes (the default on a day
this big). Both must leave the same rows (a checksum over every column that matters).

    .venv/bin/python bench/run_all.py --only bench_test_results
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import dagster as dg

from observability_assets.core.process_pool import usable_cores
from observability_assets.demo.github_server import GitHubServer
from observability_assets.demo.simulator import OrgSpec, simulate
from observability_assets.ingest import junit_collect
from observability_assets.ingest.github_actions import github_actions_runs
from observability_assets.ingest.junit_config import JUnitSourceConfig
from observability_assets.ingest.junit_reports import junit_test_results
from resources.github import GitHubResource
from resources.warehouse import Warehouse, WarehouseResource

TOKEN = "bench-token"
CHECKSUM = (
    "SELECT count(*) AS n, sum(hash(test_id, outcome, attempt, duration_s, message, report_path, "
    "job_id, run_attempt)) AS h FROM raw.test_results"
)


def run(quick: bool = False) -> str:
    spec = OrgSpec(
        seed=3,
        repos=("api", "web", "mobile", "infra"),
        days=1,
        runs_per_repo_day=8 if quick else 30,
        tests_per_repo=3000,
    )
    org = simulate(spec)
    day = spec.start.isoformat()
    repeats = 2 if quick else 3
    default_threshold = junit_collect.PARALLEL_MIN_BYTES
    with (
        tempfile.TemporaryDirectory(prefix="vigil-bench-tr-") as tmp,
        GitHubServer(org, token=TOKEN) as server,
    ):
        workdir = Path(tmp)
        resources = {
            "warehouse": WarehouseResource(path=str(workdir / "w.duckdb")),
            "github": GitHubResource(
                api_url=server.url,
                token=TOKEN,
                repos=",".join(f"acme/{r}" for r in spec.repos),
                cache_dir=str(workdir / "cache"),
            ),
            "junit_sources": JUnitSourceConfig(landing_dir=str(workdir / "landing")),
        }
        began = time.perf_counter()
        assert dg.materialize(
            [github_actions_runs, junit_test_results], partition_key=day, resources=resources
        ).success
        first_s = time.perf_counter() - began
        zip_mb = sum(p.stat().st_size for p in (workdir / "cache").rglob("*.zip")) / 1e6
        warehouse = Warehouse(workdir / "w.duckdb")
        timings: dict[str, list[float]] = {"one process": [], "worker processes": []}
        checksums: dict[str, set[tuple]] = {label: set() for label in timings}
        try:
            for _ in range(repeats):
                for label, threshold in (("one process", 1 << 62), ("worker processes", default_threshold)):
                    junit_collect.PARALLEL_MIN_BYTES = threshold
                    began = time.perf_counter()
                    assert dg.materialize(
                        [junit_test_results], partition_key=day, resources=resources
                    ).success
                    timings[label].append(time.perf_counter() - began)
                    checksums[label].add(tuple(warehouse.query(CHECKSUM).iloc[0].tolist()))
        finally:
            junit_collect.PARALLEL_MIN_BYTES = default_threshold
    ((rows, _),) = checksums["one process"]
    assert checksums["one process"] == checksums["worker processes"], checksums
    one, many = statistics.median(timings["one process"]), statistics.median(timings["worker processes"])
    return "\n".join(
        [
            "## raw.test_results: one big day through the asset",
            "",
            f"{rows:,.0f} test executions in {zip_mb:.0f} MB of artifact zips (one simulated day, "
            f"{len(spec.repos)} repositories, 3,000 tests each); first ingestion with the downloads "
            f"{first_s:.1f} s. Then `dagster.materialize` of `junit_test_results` alone, artifacts "
            f"cached, median of {repeats}:",
            "",
            "| archives parsed | wall s | rows per second |",
            "|---|---:|---:|",
            f"| in the asset's process only | {one:.2f} | {rows / one:,.0f} |",
            f"| over worker processes ({usable_cores()} processes, the default on a day this big) | {many:.2f} | {rows / many:,.0f} |",
            f"| **speed-up** | **{one / many:.2f}x** | |",
            "",
            "Both ways leave the same rows (checksum over ids, outcomes, attempts, durations, messages, "
            "report paths, jobs). The rest of the asset's time is reading the day's runs, guarded unzip, "
            "and the one-transaction load.",
        ]
    )
