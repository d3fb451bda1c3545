"""Data-quality asset checks: the tests declared in model and seed headers, run with Great Expectations.

Each table with tests gets one multi-asset check: one short warehouse read fetches the columns
the tests need (only the partition window for incremental models), Great Expectations 1.x
validates the frame in an ephemeral context, and every test reports as its own Dagster asset
check. `relationships` tests compare two tables, which GX's single-batch expectations do not
cover, so they run as an anti-join in the same read.

Great Expectations takes seconds to import, so it is imported inside the check, never when the
definitions load.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import dagster as dg

from observability_assets.sql_layer.headers import ModelTest

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_SIZE = 5
# Prefix of the text copies of accepted_values columns: their values are compared as text.
_TEXT_PREFIX = "vigil_text__"


@dataclass(frozen=True)
class CheckTarget:
    """A table whose header declares tests."""

    asset_key: dg.AssetKey
    table: str  # schema.table
    tests: tuple[ModelTest, ...]
    related_keys: Mapping[str, dg.AssetKey]  # relationships target table -> its asset key
    partitions_def: dg.PartitionsDefinition | None = None
    partition_column: str | None = None


@dataclass(frozen=True)
class TestOutcome:
    passed: bool
    unexpected_count: int | None
    element_count: int | None
    sample: list[str]
    method: str


def build_table_checks(targets: Sequence[CheckTarget]) -> list[dg.AssetChecksDefinition]:
    return [_table_checks(target) for target in targets if target.tests]


def _table_checks(target: CheckTarget) -> dg.AssetChecksDefinition:
    specs = [
        dg.AssetCheckSpec(
            test.check_name,
            asset=target.asset_key,
            description=test.description,
            additional_deps=[target.related_keys[test.to_table]] if test.to_table else None,
            partitions_def=target.partitions_def,
        )
        for test in target.tests
    ]

    @dg.multi_asset_check(
        name=f"{target.table.replace('.', '__')}__tests",
        specs=specs,
        required_resource_keys={"warehouse"},
        description=f"Tests declared in the header of {target.table}, validated with Great Expectations.",
    )
    # `context` stays unannotated: with postponed annotations Dagster would see a string and reject it.
    def _check(context) -> Iterator[dg.AssetCheckResult]:
        window = _window(context) if target.partitions_def is not None else None
        warehouse = context.resources.warehouse.get()
        with warehouse.read(f"checks on {target.table}") as con:
            frame = con.execute(_frame_query(target, window), _window_params(window)).df()
            outcomes = {
                test.check_name: _relationship_outcome(con, target, test, window)
                for test in target.tests
                if test.kind == "relationships"
            }
        outcomes.update(validate_frame(frame, [t for t in target.tests if t.kind != "relationships"]))
        for test in target.tests:
            outcome = outcomes[test.check_name]
            yield dg.AssetCheckResult(
                check_name=test.check_name,
                asset_key=target.asset_key,
                passed=outcome.passed,
                severity=dg.AssetCheckSeverity.ERROR,
                description=test.description,
                metadata={
                    "unexpected_count": outcome.unexpected_count,
                    "rows_checked": outcome.element_count,
                    "unexpected_sample": dg.MetadataValue.json(outcome.sample),
                    "method": outcome.method,
                    **({"window": f"[{window[0]}, {window[1]})"} if window else {}),
                },
            )

    return _check


def _window(context: dg.AssetCheckExecutionContext) -> tuple[date, date]:
    span = context.partition_time_window
    return span.start.date(), span.end.date()


def _window_params(window: tuple[date, date] | None) -> list[Any]:
    return list(window) if window else []


def _window_clause(target: CheckTarget, window: tuple[date, date] | None, alias: str = "") -> str:
    if window is None:
        return "TRUE"
    column = f'{alias}"{target.partition_column}"'
    return f"{column} >= ? AND {column} < ?"


def _frame_query(target: CheckTarget, window: tuple[date, date] | None) -> str:
    """The columns the GX tests need (text copies for accepted_values), from the window only."""
    columns: list[str] = []
    for test in target.tests:
        if test.kind == "relationships":
            continue
        for name in test.columns:
            quoted = f'"{name}"'
            if quoted not in columns:
                columns.append(quoted)
        if test.kind == "accepted_values":
            text = f'CAST("{test.columns[0]}" AS VARCHAR) AS "{_TEXT_PREFIX}{test.columns[0]}"'
            if text not in columns:
                columns.append(text)
    select = ", ".join(columns) or "1 AS row_present"
    # Names come from header lines the project loader accepted as plain identifiers.
    return f"SELECT {select} FROM {target.table} WHERE {_window_clause(target, window)}"  # noqa: S608


def _relationship_outcome(
    con: Any, target: CheckTarget, test: ModelTest, window: tuple[date, date] | None
) -> TestOutcome:
    column = f'c."{test.columns[0]}"'
    orphans = (
        f"SELECT {column} AS value FROM {target.table} AS c "  # noqa: S608
        f"WHERE {_window_clause(target, window, 'c.')} AND {column} IS NOT NULL "
        f'AND {column} NOT IN (SELECT p."{test.to_column}" FROM {test.to_table} AS p '
        f'WHERE p."{test.to_column}" IS NOT NULL)'
    )
    params = _window_params(window)
    (count,) = con.execute(f"SELECT count(*) FROM ({orphans})", params).fetchone()  # noqa: S608
    (checked,) = con.execute(
        f"SELECT count(*) FROM {target.table} AS c WHERE {_window_clause(target, window, 'c.')}",  # noqa: S608
        params,
    ).fetchone()
    sample = [
        str(v)
        for (v,) in con.execute(
            f"SELECT DISTINCT value FROM ({orphans}) ORDER BY value LIMIT {SAMPLE_SIZE}",  # noqa: S608
            params,
        ).fetchall()
    ]
    return TestOutcome(count == 0, int(count), int(checked), sample, "SQL anti-join")


def validate_frame(frame: pd.DataFrame, tests: Sequence[ModelTest]) -> dict[str, TestOutcome]:
    """Validate `frame` against `tests` with Great Expectations 1.x; results by check name."""
    if not tests:
        return {}
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("vigil")
        .add_dataframe_asset("table")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    suite = gx.ExpectationSuite(name="vigil_table_tests")
    for test in tests:
        suite.add_expectation(_expectation(gx.expectations, test))
    result = batch.validate(suite)
    outcomes: dict[str, TestOutcome] = {}
    for item in result.results:
        details = item.result or {}
        name = item.expectation_config.meta["check_name"]
        error = (item.exception_info or {}).get("exception_message")
        sample = [str(v) for v in (details.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]]
        outcomes[name] = TestOutcome(
            passed=bool(item.success),
            unexpected_count=details.get("unexpected_count"),
            element_count=details.get("element_count"),
            sample=sample if not error else [error],
            method=f"great_expectations {gx.__version__}: {item.expectation_config.type}",
        )
    return outcomes


def _expectation(expectations: Any, test: ModelTest) -> Any:
    meta = {"check_name": test.check_name}
    column = test.columns[0]
    if test.kind == "unique" and len(test.columns) > 1:
        return expectations.ExpectCompoundColumnsToBeUnique(column_list=list(test.columns), meta=meta)
    if test.kind == "unique":
        return expectations.ExpectColumnValuesToBeUnique(column=column, meta=meta)
    if test.kind == "not_null":
        return expectations.ExpectColumnValuesToNotBeNull(column=column, meta=meta)
    if test.kind == "accepted_values":
        return expectations.ExpectColumnValuesToBeInSet(
            column=f"{_TEXT_PREFIX}{column}", value_set=list(test.values), meta=meta
        )
    if test.kind == "accepted_range":
        return expectations.ExpectColumnValuesToBeBetween(
            column=column, min_value=test.low, max_value=test.high, meta=meta
        )
    raise ValueError(f"no Great Expectations expectation for test kind {test.kind!r}")
