"""Dagster metadata: column schemas from the warehouse contract, previews, sparklines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import dagster as dg

from observability_assets.core.contract import Table

if TYPE_CHECKING:
    import duckdb
    import pandas as pd


def column_schema(spec: Table) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name=c.name, type=c.sql_type, description=c.comment) for c in spec.columns]
    )


# Asset metadata worth looking at in the UI: previews, schemas with comments, sparklines.

_SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float | None]) -> str:
    """A one-line chart of `values` in block characters (blank for missing values).

    Dagster renders markdown metadata but no images, so a sparkline is the small plot that fits
    in a summary; numeric metadata values get their own plots in the UI's asset view.
    """
    present = [v for v in values if v is not None and v == v]
    if not present:
        return ""
    low, high = min(present), max(present)
    scale = (len(_SPARKS) - 1) / (high - low) if high > low else 0.0
    return "".join(
        " " if v is None or v != v else _SPARKS[round((v - low) * scale) if scale else len(_SPARKS) // 2]
        for v in values
    )


def _markdown_cell(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    text = f"{value:,.4g}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")[:80]


def markdown_table(frame: pd.DataFrame, max_rows: int = 10) -> str:
    """The first `max_rows` rows of `frame` as a GitHub-flavoured markdown table."""
    columns = [str(c) for c in frame.columns]
    lines = [
        "| " + " | ".join(_markdown_cell(c) for c in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in frame.head(max_rows).itertuples(index=False):
        lines.append("| " + " | ".join(_markdown_cell(v) for v in row) + " |")
    if len(frame) > max_rows:
        lines.append(f"\n*{max_rows} of {len(frame):,} rows*")
    return "\n".join(lines)


def preview(frame: pd.DataFrame, max_rows: int = 10) -> dg.MetadataValue:
    return dg.MetadataValue.md(markdown_table(frame, max_rows))


def table_metadata(
    con: duckdb.DuckDBPyConnection, qualified_name: str, preview_rows: int = 5
) -> dict[str, dg.MetadataValue | int]:
    """Row count, column schema (with the warehouse's column comments) and a preview of a table.

    Call it inside the same short warehouse read or write that produced the table; the name must
    be one of the warehouse's own tables (it is checked against DuckDB's catalogue, not trusted).
    """
    schema, name = qualified_name.split(".", 1)
    columns = con.execute(
        "SELECT column_name, data_type, comment FROM duckdb_columns() "
        "WHERE schema_name = ? AND table_name = ? ORDER BY column_index",
        [schema, name],
    ).fetchall()
    if not columns:
        raise KeyError(f"{qualified_name} does not exist in the warehouse")
    quoted = f'"{schema}"."{name}"'
    ((rows,),) = con.execute(f"SELECT count(*) FROM {quoted}").fetchall()  # noqa: S608
    sample = con.execute(f"SELECT * FROM {quoted} LIMIT ?", [preview_rows]).df()  # noqa: S608
    return {
        "dagster/row_count": int(rows),
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name=c, type=t, description=d) for c, t, d in columns]
        ),
        "preview": preview(sample, preview_rows),
    }
