"""Build one model or seed on an open warehouse connection (the caller holds a short write).

- `table`: CREATE OR REPLACE TABLE ... AS <model SQL>, comments included, in one transaction.
- `view`: CREATE OR REPLACE VIEW, the same way.
- `incremental`: the model reads one window of daily partitions through the bound parameters
  `$partition_start` / `$partition_end`; its rows replace exactly that window of the table
  (delete + insert in one transaction), after checking that none fall outside it.

Schema, table and column names come from file names and header lines that the project loader
accepted as plain lower-case identifiers; every value goes in as a bound parameter. Comments are
the one exception: DuckDB's COMMENT ON takes no parameters, and their text is the header prose.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from observability_assets.sql_layer.headers import PARTITION_PARAMETERS, Header
from observability_assets.sql_layer.project import Model, Seed

if TYPE_CHECKING:
    import duckdb

PREVIEW_ROWS = 5


class IncrementalSchemaChanged(RuntimeError):
    """The model's columns no longer match its table; other partitions would be inconsistent."""


@dataclass(frozen=True)
class Window:
    """Daily partitions [start, end): `end` is the day after the last partition."""

    start: date
    end: date

    def parameters(self) -> dict[str, date]:
        return dict(zip(PARTITION_PARAMETERS, (self.start, self.end), strict=True))


@dataclass(frozen=True)
class Built:
    row_count: int
    window_row_count: int | None
    columns: list[tuple[str, str]]  # (name, DuckDB type) in table order
    preview_markdown: str
    statement_seconds: float  # the model's own SQL, without comments and metadata queries


def build_model(con: duckdb.DuckDBPyConnection, model: Model, window: Window | None) -> Built:
    import duckdb

    kind = model.header.materialized
    if (kind == "incremental") != (window is not None):
        raise ValueError(
            f"{model.qualified_name}: a partition window is needed exactly for incremental models"
        )
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {model.schema}")
    began = time.perf_counter()
    if kind == "incremental":
        _drop_other_kind(con, model.schema, model.name, "TABLE")
        window_rows, seconds = _replace_window(con, model, window)
    else:
        window_rows = None
        try:
            _in_transaction(con, lambda: _create(con, model, kind))
        except duckdb.CatalogException:
            # Rare: the model switched between table and view. Looking this up on every run
            # would cost the first catalog scan of the connection (~8 ms), so only on failure.
            if not _drop_other_kind(con, model.schema, model.name, kind.upper()):
                raise
            _in_transaction(con, lambda: _create(con, model, kind))
        seconds = time.perf_counter() - began
    window_filter = (model.header.partition_column or "", window) if window else None
    return _describe(con, model.qualified_name, seconds, window_rows, window_filter)


def load_seed(con: duckdb.DuckDBPyConnection, seed: Seed) -> Built:
    import pyarrow as pa

    rows = seed.rows()
    names = seed.columns
    for number, row in enumerate(rows, 1):
        if len(row) != len(names):
            raise ValueError(f"{seed.path}: data row {number} has {len(row)} fields, expected {len(names)}")
    frame = pa.table({name: pa.array([row[i] for row in rows], pa.string()) for i, name in enumerate(names)})
    select = ", ".join(
        f"CAST(NULLIF({_quote(c.name)}, '') AS {c.sql_type}) AS {_quote(c.name)}" for c in seed.header.columns
    )
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {seed.schema}")
    con.register("vigil_seed_rows", frame)

    def replace() -> None:
        # Names and types come from the seed's header, which the loader checked.
        con.execute(f"CREATE OR REPLACE TABLE {seed.qualified_name} AS SELECT {select} FROM vigil_seed_rows")  # noqa: S608
        _comment(con, seed.qualified_name, "TABLE", seed.header)

    began = time.perf_counter()
    try:
        _in_transaction(con, replace)
    finally:
        con.unregister("vigil_seed_rows")
    seconds = time.perf_counter() - began
    return _describe(con, seed.qualified_name, seconds, None, None)


def _create(con: duckdb.DuckDBPyConnection, model: Model, kind: str) -> None:
    con.execute(f"CREATE OR REPLACE {kind.upper()} {model.qualified_name} AS\n{model.query}\n")
    _comment(con, model.qualified_name, kind.upper(), model.header)


def _replace_window(con: duckdb.DuckDBPyConnection, model: Model, window: Window) -> tuple[int, float]:
    target = model.qualified_name
    column = _quote(model.header.partition_column or "")
    params = window.parameters()
    began = time.perf_counter()
    # Stage the window first so rows outside it are caught before anything is replaced.
    con.execute(f"CREATE OR REPLACE TEMP TABLE vigil_model_window AS\n{model.query}\n", params)
    try:
        (outside,) = con.execute(
            f"SELECT count(*) FROM vigil_model_window WHERE {column} IS NULL "  # noqa: S608
            f"OR {column} < $partition_start OR {column} >= $partition_end",
            params,
        ).fetchone()
        if outside:
            raise ValueError(
                f"{model.path}: {outside} rows fall outside the partition window "
                f"[{window.start}, {window.end}); filter the input on $partition_start and $partition_end"
            )
        existing = _column_names(con, model.schema, model.name)
        if existing and existing != list(model.columns):
            raise IncrementalSchemaChanged(
                f"{model.path}: columns changed from {existing} to {list(model.columns)}; "
                f"drop {target} and backfill every partition to rebuild it"
            )

        def replace() -> None:
            if existing:
                con.execute(
                    f"DELETE FROM {target} WHERE {column} >= $partition_start AND {column} < $partition_end",  # noqa: S608
                    params,
                )
                con.execute(f"INSERT INTO {target} SELECT * FROM vigil_model_window")  # noqa: S608
            else:
                con.execute(f"CREATE TABLE {target} AS SELECT * FROM vigil_model_window")  # noqa: S608
            _comment(con, target, "TABLE", model.header)

        _in_transaction(con, replace)
        (window_rows,) = con.execute("SELECT count(*) FROM vigil_model_window").fetchone()
    finally:
        con.execute("DROP TABLE IF EXISTS vigil_model_window")
    return int(window_rows), time.perf_counter() - began


def _in_transaction(con: duckdb.DuckDBPyConnection, work: Any) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        work()
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _drop_other_kind(con: duckdb.DuckDBPyConnection, schema: str, name: str, wanted: str) -> bool:
    """Drop `schema.name` if it is a table where a view is wanted or the reverse; True if dropped."""
    row = con.execute(
        "SELECT 'TABLE' FROM duckdb_tables() WHERE schema_name = ? AND table_name = ? AND NOT temporary "
        "UNION ALL SELECT 'VIEW' FROM duckdb_views() WHERE schema_name = ? AND view_name = ? AND NOT internal",
        [schema, name, schema, name],
    ).fetchone()
    existing = None if row is None else row[0]
    if existing is None or existing == wanted:
        return False
    con.execute(f"DROP {existing} {schema}.{name}")
    return True


def _comment(con: duckdb.DuckDBPyConnection, qualified_name: str, kind: str, header: Header) -> None:
    con.execute(f"COMMENT ON {kind} {qualified_name} IS {_literal(header.description)}")
    for column in header.columns:
        con.execute(
            f"COMMENT ON COLUMN {qualified_name}.{_quote(column.name)} IS {_literal(column.description)}"
        )


def _column_names(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> list[str]:
    """Columns of an existing table in order; empty when it does not exist yet."""
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() "
        "WHERE schema_name = ? AND table_name = ? AND NOT internal ORDER BY column_index",
        [schema, name],
    ).fetchall()
    return [str(n) for (n,) in rows]


def _describe(
    con: duckdb.DuckDBPyConnection,
    qualified_name: str,
    seconds: float,
    window_rows: int | None,
    window_filter: tuple[str, Window] | None,
) -> Built:
    """Row count, column types and a preview (of the window, for incremental models)."""
    (row_count,) = con.execute(f"SELECT count(*) FROM {qualified_name}").fetchone()  # noqa: S608
    if window_filter is not None:
        column, window = _quote(window_filter[0]), window_filter[1]
        preview = con.execute(
            f"SELECT * FROM {qualified_name} WHERE {column} >= $partition_start AND {column} < $partition_end "  # noqa: S608
            f"LIMIT {PREVIEW_ROWS}",
            window.parameters(),
        )
    else:
        preview = con.execute(f"SELECT * FROM {qualified_name} LIMIT {PREVIEW_ROWS}")  # noqa: S608
    columns = [(str(d[0]), str(d[1])) for d in preview.description]
    return Built(
        row_count=int(row_count),
        window_row_count=window_rows,
        columns=columns,
        preview_markdown=markdown_table([n for n, _ in columns], preview.fetchall()),
        statement_seconds=seconds,
    )


def markdown_table(names: list[str], rows: list[tuple[Any, ...]]) -> str:
    def cell(value: Any) -> str:
        text = "NULL" if value is None else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
