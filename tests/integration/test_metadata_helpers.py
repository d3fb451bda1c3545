"""Metadata helpers: sparklines, markdown previews and table metadata read from a real DuckDB file."""

from __future__ import annotations

import math
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from observability_assets.assetkit.metadata import markdown_table, sparkline, table_metadata
from resources.warehouse import Warehouse


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1, 2, 3, 4, 5, 6, 7, 8], "▁▂▃▄▅▆▇█"),
        ([0, 10], "▁█"),
        ([5, 5, 5], "▅▅▅"),  # flat: mid-height, not empty
        ([0, None, 10], "▁ █"),
        ([0, math.nan, 10], "▁ █"),
        ([], ""),
        ([None], ""),
    ],
)
def test_sparkline(values: list, expected: str) -> None:
    assert sparkline(values) == expected


def test_markdown_table_escapes_pipes_and_says_when_rows_are_left_out() -> None:
    frame = pd.DataFrame({"test": ["a|b", "c\nd", "e"], "score": [0.123456, None, 2.0]})
    text = markdown_table(frame, max_rows=2)
    lines = text.splitlines()
    assert lines[0] == "| test | score |"
    assert lines[1] == "|---|---|"
    assert lines[2] == "| a\\|b | 0.1235 |"
    assert lines[3] == "| c d |  |"
    assert lines[-1] == "*2 of 3 rows*"


def test_table_metadata_reads_counts_schema_comments_and_a_preview(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    with warehouse.write("fixture") as con:
        con.execute("CREATE TABLE marts.example (service VARCHAR, uptime DOUBLE)")
        con.execute("COMMENT ON COLUMN marts.example.uptime IS 'Share of successful probes.'")
        con.execute("INSERT INTO marts.example VALUES ('checkout', 0.999), ('search', 0.98), ('payments', 1)")

    with warehouse.read() as con:
        metadata = table_metadata(con, "marts.example", preview_rows=2)
        with pytest.raises(KeyError, match="marts.nope does not exist"):
            table_metadata(con, "marts.nope")

    assert metadata["dagster/row_count"] == 3
    schema = metadata["dagster/column_schema"]
    assert isinstance(schema, dg.TableSchema)
    assert [(c.name, c.type, c.description) for c in schema.columns] == [
        ("service", "VARCHAR", None),
        ("uptime", "DOUBLE", "Share of successful probes."),
    ]
    preview = metadata["preview"].value
    assert "| checkout | 0.999 |" in preview and "*2 of 2 rows*" not in preview
    assert "payments" not in preview
