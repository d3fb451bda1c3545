"""Shared by the SQL-layer tests: a simulated organisation loaded into the raw tables, and runs."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date

import dagster as dg
import pandas as pd

from observability_assets.demo.simulator import OrgSpec, simulate
from resources.warehouse import Warehouse, WarehouseResource

START = date(2026, 10, 1)
DAILY = dg.DailyPartitionsDefinition(start_date=START.isoformat(), timezone="UTC")
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def small_org(days: int = 10, repos: tuple[str, ...] = ("api", "web", "data"), reports: bool = True):
    return simulate(OrgSpec(repos=repos, start=START, days=days, with_test_reports=reports))


def stable_test_id(frame: pd.DataFrame) -> pd.Series:
    """A stable test identity (the ingestion uses its own hash; any stable one will do here)."""
    keys = (
        frame["repo"] + "|" + frame["classname"].fillna(frame["file"]).fillna("") + "|" + frame["test_name"]
    )
    return keys.map(lambda k: hashlib.sha256(k.encode()).hexdigest()[:16])


def run_days(runs: pd.DataFrame) -> pd.DataFrame:
    """Each run's partition: the UTC day it was created."""
    return (
        runs.groupby(["repo", "run_id"], as_index=False)["created_at"]
        .min()
        .assign(day=lambda f: f["created_at"].dt.date)[["repo", "run_id", "day"]]
    )


def load_raw(
    warehouse: Warehouse, runs: pd.DataFrame, jobs: pd.DataFrame, tests: pd.DataFrame | None = None
) -> list[date]:
    """Write the frames into raw.* one daily partition at a time, as the ingestion does."""
    days = run_days(runs)
    tables = [("raw.ci_runs", runs), ("raw.ci_jobs", jobs)]
    if tests is not None:
        tables.append(("raw.test_results", tests))
    for name, frame in tables:
        keyed = frame.merge(days, on=["repo", "run_id"], how="left", validate="many_to_one")
        for day, part in keyed.groupby("day"):
            warehouse.replace_partition(name, day.isoformat(), part.drop(columns="day"))
    return sorted(days["day"].unique())


def materialize(
    assets: Sequence[dg.AssetsDefinition | dg.AssetChecksDefinition],
    resource: WarehouseResource,
    first: date | None = None,
    last: date | None = None,
) -> dg.ExecuteInProcessResult:
    """One in-process run; partitioned assets get the window [first, last] as a single-run range."""
    tags = {RANGE_START: first.isoformat(), RANGE_END: last.isoformat()} if first and last else None
    return dg.materialize(list(assets), resources={"warehouse": resource}, tags=tags, raise_on_error=True)
