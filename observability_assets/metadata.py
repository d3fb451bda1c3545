"""Dagster metadata built from the warehouse contract."""

from __future__ import annotations

import dagster as dg

from observability_assets.core.contract import Table


def column_schema(spec: Table) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name=c.name, type=c.sql_type, description=c.comment) for c in spec.columns]
    )
