"""Check the warehouse against the simulated organisation it was loaded from.

The demo is also a test: what the crawler wrote must equal the simulator's truth row for row, so a
regression anywhere between the API server, the client and the loader fails `make demo` loudly.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from observability_assets.core.contract import CI_JOBS, CI_RUNS, COMMIT_FILES, COVERAGE_FILES, Table

if TYPE_CHECKING:
    import pandas as pd

    from observability_assets.demo.simulator import OrgSpec
    from resources.warehouse import Warehouse

LOAD_COLUMNS = {"partition_day", "ingested_at"}


def _normalise(frame: pd.DataFrame, spec: Table) -> pd.DataFrame:
    import pandas as pd

    columns = [c for c in spec.column_names if c not in LOAD_COLUMNS]
    out = frame[columns].copy()
    for column in out.columns:
        series = out[column]
        if pd.api.types.is_datetime64_any_dtype(series):
            out[column] = series.astype("datetime64[us]")
        elif (
            series.dtype == object
            and series.map(lambda v: hasattr(v, "__len__") and not isinstance(v, str)).any()
        ):
            out[column] = series.map(lambda v: tuple(v) if v is not None else None)
        else:
            out[column] = series.astype(object).where(series.notna(), None)
    return out.sort_values(list(spec.key)).reset_index(drop=True)


def diff_table(expected: pd.DataFrame, actual: pd.DataFrame, spec: Table, limit: int = 5) -> list[str]:
    """Human-readable differences between two frames of one contract table ([] when equal)."""
    want, have = _normalise(expected, spec), _normalise(actual, spec)
    key = list(spec.key)
    problems: list[str] = []
    want_keys = set(map(tuple, want[key].itertuples(index=False)))
    have_keys = set(map(tuple, have[key].itertuples(index=False)))
    if missing := want_keys - have_keys:
        problems.append(f"{spec.qualified_name}: {len(missing)} rows missing, e.g. {sorted(missing)[:limit]}")
    if extra := have_keys - want_keys:
        problems.append(f"{spec.qualified_name}: {len(extra)} unexpected rows, e.g. {sorted(extra)[:limit]}")
    if len(have) != len(have_keys):
        problems.append(f"{spec.qualified_name}: {len(have) - len(have_keys)} duplicate rows")
    if problems:
        return problems
    for column in want.columns:
        differs = [
            (tuple(want.loc[i, key]), want.at[i, column], have.at[i, column])
            for i in range(len(want))
            if not _same(want.at[i, column], have.at[i, column])
        ]
        if differs:
            problems.append(
                f"{spec.qualified_name}.{column}: {len(differs)} rows differ, e.g. {differs[:limit]}"
            )
    return problems


def _is_missing(value: object) -> bool:
    import pandas as pd

    return value is None or (not isinstance(value, tuple) and bool(pd.isna(value)))


def _same(a: object, b: object) -> bool:
    if _is_missing(a) or _is_missing(b):
        return _is_missing(a) and _is_missing(b)
    return bool(a == b)


def verify_against_simulation(
    spec: OrgSpec, warehouse: Warehouse | None = None, repos: list[str] | None = None
) -> list[str]:
    """Differences between the warehouse and the simulation (limited to `repos` when given)."""
    from observability_assets.demo.simulator import simulate

    if warehouse is None:
        from resources.warehouse import warehouse_from_env

        warehouse = warehouse_from_env()
    org = simulate(spec)
    window = [spec.start.isoformat(), (spec.start + timedelta(days=spec.days - 1)).isoformat()]
    problems: list[str] = []
    for table_spec, expected in (
        (CI_RUNS, org.runs_frame()),
        (CI_JOBS, org.jobs_frame()),
        (COMMIT_FILES, org.commit_files_frame()),
        (COVERAGE_FILES, org.coverage.truth_frame()),
    ):
        if repos is not None:
            expected = expected[expected["repo"].isin(repos)]
        actual = warehouse.query(
            f"SELECT * FROM {table_spec.qualified_name} WHERE partition_day BETWEEN ? AND ?",  # noqa: S608
            window,
        )
        problems += diff_table(expected, actual, table_spec)
    truth = org.test_results_truth()
    if repos is not None:
        truth = truth[truth["repo"].isin(repos)]
    problems += diff_test_results(truth, org.artifact_attribution(), warehouse, window)
    return problems


# The artifact tells apart the executions of two matrix jobs whose artifacts name no job.
TEST_KEY = ["repo", "run_id", "run_attempt", "job_id", "artifact_name", "classname", "test_name", "attempt"]


def attributed(truth: pd.DataFrame, attribution: pd.DataFrame) -> pd.DataFrame:
    """The truth frame with `job_id` the job the artifact's name attributes it to (NA if none),
    its `job_match` and `artifact_name` (`Organisation.artifact_attribution()`)."""
    merged = truth.drop(columns="job_id").merge(
        attribution.astype({"artifact_id": "int64"}), on="artifact_id", how="left", validate="many_to_one"
    )
    return merged.rename(columns={"attributed_job_id": "job_id"}).astype({"job_id": "Int64"})


def diff_test_results(
    truth: pd.DataFrame, attribution: pd.DataFrame, warehouse: Warehouse, window: list[str], limit: int = 5
) -> list[str]:
    """Every simulated test execution loaded once, with its outcome and the job its artifact's
    name attributes it to, and how (the reports carry no ids; see sim_artifact_names)."""
    loaded = warehouse.query(
        "SELECT repo, run_id, run_attempt, job_id, split_part(report_path, '/', 1) AS artifact_name, "
        "classname, test_name, attempt, outcome, job_match "
        "FROM raw.test_results WHERE partition_day BETWEEN ? AND ?",
        window,
    )
    want = attributed(truth, attribution)[[*TEST_KEY, "outcome", "job_match"]]
    have = loaded.astype({"job_id": "Int64"})
    merged = want.merge(have, on=TEST_KEY, how="outer", indicator=True, suffixes=("_simulated", "_loaded"))
    problems = []
    for side, label in (("left_only", "missing"), ("right_only", "unexpected")):
        rows = merged[merged["_merge"] == side]
        if len(rows):
            problems.append(
                f"raw.test_results: {len(rows)} {label} executions, e.g. {rows[TEST_KEY].head(limit).values.tolist()}"
            )
    both = merged[merged["_merge"] == "both"]
    wrong = both[both["outcome_simulated"] != both["outcome_loaded"]]
    if len(wrong):
        problems.append(
            f"raw.test_results: {len(wrong)} outcomes differ, e.g. {wrong.head(limit).values.tolist()}"
        )
    matched = both[both["job_match_simulated"] != both["job_match_loaded"]]
    if len(matched):
        problems.append(
            f"raw.test_results: {len(matched)} job attributions differ, e.g. {matched.head(limit).values.tolist()}"
        )
    if len(loaded) != len(have.drop_duplicates(TEST_KEY)):
        problems.append("raw.test_results: duplicate executions")
    return problems
