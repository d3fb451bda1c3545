"""Dagster assets for a loaded SQL project: one per model and per seed, plus their table checks."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping

import dagster as dg

from observability_assets.sql_layer.checks import CheckTarget, build_table_checks
from observability_assets.sql_layer.headers import Header, SqlLayerError
from observability_assets.sql_layer.materialize import Built, Window, build_model, load_seed
from observability_assets.sql_layer.project import Model, Seed, SqlProject

MODEL_KINDS = {"sql", "duckdb"}
SEED_KINDS = {"csv", "duckdb"}


def table_key(table: str, source_keys: Mapping[str, dg.AssetKey]) -> dg.AssetKey:
    """The asset that produces `schema.table`: a source asset's own key, else [schema, table]."""
    return source_keys.get(table) or dg.AssetKey(table.split("."))


def build_assets(
    project: SqlProject,
    source_keys: Mapping[str, dg.AssetKey],
    partitions_def: dg.PartitionsDefinition | None,
) -> tuple[list[dg.AssetsDefinition], list[dg.AssetChecksDefinition]]:
    incremental = [m for m in project.models if m.header.materialized == "incremental"]
    if incremental and partitions_def is None:
        files = ", ".join(str(m.path) for m in incremental)
        raise SqlLayerError(f"{files}: incremental models need the daily partitions definition")
    with warnings.catch_warnings():
        # Chosen on purpose: single-run backfills (one SQL statement per backfill, not one run per
        # day) are "beta" and partitioned asset checks (checks read only the window) "preview".
        warnings.simplefilter("ignore", dg.BetaWarning)
        warnings.simplefilter("ignore", dg.PreviewWarning)
        assets = [_guard(seed, lambda s=seed: _seed_asset(s)) for seed in project.seeds]
        assets += [
            _guard(model, lambda m=model: _model_asset(m, source_keys, partitions_def))
            for model in project.models
        ]
        checks = build_table_checks(_check_targets(project, source_keys, partitions_def))
    return assets, checks


def _check_targets(
    project: SqlProject,
    source_keys: Mapping[str, dg.AssetKey],
    partitions_def: dg.PartitionsDefinition | None,
) -> list[CheckTarget]:
    return [
        CheckTarget(
            asset_key=table_key(node.qualified_name, source_keys),
            table=node.qualified_name,
            tests=node.header.tests,
            related_keys={
                t.to_table: table_key(t.to_table, source_keys) for t in node.header.tests if t.to_table
            },
            partitions_def=partitions_def if node.header.materialized == "incremental" else None,
            partition_column=node.header.partition_column,
        )
        for node in (*project.seeds, *project.models)
    ]


def _guard(node: Model | Seed, make: Callable[[], dg.AssetsDefinition]) -> dg.AssetsDefinition:
    """Dagster's own validation errors (owners, names) name the file they came from."""
    try:
        return make()
    except dg.DagsterError as error:
        raise SqlLayerError(f"{node.path}: {error}") from error


def _definition_metadata(node: Model | Seed, body: str, language: str) -> dict[str, object]:
    return {
        "dagster/table_name": node.qualified_name,
        "path": dg.MetadataValue.path(str(node.path)),
        language: dg.MetadataValue.md(f"```{language}\n{body.strip()}\n```"),
    }


def _model_asset(
    model: Model, source_keys: Mapping[str, dg.AssetKey], partitions_def: dg.PartitionsDefinition | None
) -> dg.AssetsDefinition:
    incremental = model.header.materialized == "incremental"
    metadata = _definition_metadata(model, model.sql, "sql")
    metadata["materialized"] = model.header.materialized
    if model.duckdb_only:
        metadata["duckdb_only"] = dg.MetadataValue.json(
            [{"line": m.line, "code": m.code, "reason": m.reason} for m in model.duckdb_only]
        )

    @dg.asset(
        key=dg.AssetKey([model.schema, model.name]),
        deps=[table_key(t, source_keys) for t in model.upstream],
        group_name=model.schema,
        kinds=MODEL_KINDS,
        description=model.header.description,
        owners=list(model.header.owners) or None,
        metadata=metadata,
        code_version=model.code_version,
        partitions_def=partitions_def if incremental else None,
        backfill_policy=dg.BackfillPolicy.single_run() if incremental else None,
        required_resource_keys={"warehouse"},
    )
    # `context` stays unannotated: with postponed annotations Dagster would see a string and reject it.
    def _materialize(context) -> dg.MaterializeResult:
        began = time.perf_counter()
        window = None
        if incremental:
            span = context.partition_time_window
            window = Window(span.start.date(), span.end.date())
        warehouse = context.resources.warehouse.get()
        with warehouse.write(f"model {model.qualified_name}") as con:
            built = build_model(con, model, window)
        return dg.MaterializeResult(metadata=_result_metadata(built, model.header, began, window, model.sql))

    return _materialize


def _seed_asset(seed: Seed) -> dg.AssetsDefinition:
    metadata = _definition_metadata(seed, seed.text, "csv")
    if seed.header.source:
        metadata["source"] = seed.header.source

    @dg.asset(
        key=dg.AssetKey([seed.schema, seed.name]),
        group_name=seed.schema,
        kinds=SEED_KINDS,
        description=seed.header.description,
        owners=list(seed.header.owners) or None,
        metadata=metadata,
        code_version=seed.code_version,
        required_resource_keys={"warehouse"},
    )
    def _load(context) -> dg.MaterializeResult:  # unannotated, see _materialize
        began = time.perf_counter()
        warehouse = context.resources.warehouse.get()
        with warehouse.write(f"seed {seed.qualified_name}") as con:
            built = load_seed(con, seed)
        return dg.MaterializeResult(metadata=_result_metadata(built, seed.header, began, None, None))

    return _load


def _result_metadata(
    built: Built, header: Header, began: float, window: Window | None, sql: str | None
) -> dict[str, object]:
    columns = [
        dg.TableColumn(
            name=name, type=sql_type, description=doc.description if (doc := header.column(name)) else ""
        )
        for name, sql_type in built.columns
    ]
    metadata: dict[str, object] = {
        "dagster/row_count": built.row_count,
        "dagster/column_schema": dg.TableSchema(columns=columns),
        "preview": dg.MetadataValue.md(built.preview_markdown),
        # Time inside the asset: lock wait, the SQL, comments, metadata queries, checkpoint, snapshot.
        "vigil/seconds_in_asset": round(time.perf_counter() - began, 4),
        "vigil/seconds_in_sql": round(built.statement_seconds, 4),
    }
    if window is not None:
        metadata["dagster/partition_row_count"] = built.window_row_count
        metadata["window"] = f"[{window.start.isoformat()}, {window.end.isoformat()})"
    if sql is not None:
        metadata["sql"] = dg.MetadataValue.md(f"```sql\n{sql.strip()}\n```")
    return metadata
