"""Writing a whole Python-computed mart: one transaction, so readers see the old table or the new one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from observability_assets.core.contract import Table
from resources.warehouse import Warehouse, quote_identifier

if TYPE_CHECKING:
    import pandas as pd


def replace_mart(warehouse: Warehouse, spec: Table, frame: pd.DataFrame) -> int:
    """Replace every row of `spec` with `frame` (contract columns; missing ones become NULL)."""
    unknown = set(frame.columns) - set(spec.column_names)
    if unknown:
        raise ValueError(f"columns {sorted(unknown)} are not in {spec.qualified_name}'s contract")
    names = ", ".join(quote_identifier(c.name) for c in spec.columns)
    select = ", ".join(
        f"CAST({quote_identifier(c.name)} AS {c.sql_type})"
        if c.name in frame.columns
        else f"CAST(NULL AS {c.sql_type})"
        for c in spec.columns
    )
    with warehouse.write(f"replace {spec.qualified_name}") as con:
        con.execute("BEGIN TRANSACTION")
        try:
            con.register("incoming_rows", frame)
            # Table and column names come from contract.py, never from data.
            con.execute(f"DELETE FROM {spec.qualified_name}")  # noqa: S608
            con.execute(f"INSERT INTO {spec.qualified_name} ({names}) SELECT {select} FROM incoming_rows")  # noqa: S608
            con.unregister("incoming_rows")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return len(frame)
