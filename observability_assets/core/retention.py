"""Retention: which daily partitions of which tables are past their age (pure; issue 20).

A policy maps a contract table to the days its partitions are kept, or to None (kept for ever).
A partition day `d` is past its age on `today` when ``d < today - days``: with 180 days, on
2026-12-07 the partitions up to 2026-06-09 go and 2026-06-10 stays. `config/retention.yaml`
holds the deployment's policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from observability_assets.core.contract import table


@dataclass(frozen=True)
class RetentionPolicy:
    """Days kept per table (qualified name); tables not listed are kept."""

    days: Mapping[str, int]

    def cutoff(self, table_name: str, today: date) -> date | None:
        """First partition day kept, or None when the table is kept for ever."""
        days = self.days.get(table_name)
        return None if days is None else today - timedelta(days=days)

    def expired(self, table_name: str, partition_days: Iterable[date], today: date) -> list[date]:
        """The partition days of `table_name` past their age on `today`, oldest first."""
        cutoff = self.cutoff(table_name, today)
        if cutoff is None:
            return []
        return sorted(day for day in set(partition_days) if day < cutoff)


def policy_from_mapping(data: Mapping[str, Any] | None) -> RetentionPolicy:
    """The policy from parsed YAML (``tables: {schema.name: days | keep}``); a table that is not
    in the contract or not daily-partitioned is an error, so a typo never keeps data silently."""
    tables = dict((data or {}).get("tables") or {})
    days: dict[str, int] = {}
    for name, value in tables.items():
        spec = table(str(name))  # KeyError for a table outside the contract
        if spec.partition_column is None:
            raise ValueError(f"{name} is not daily-partitioned: retention drops partitions")
        if value in (None, "keep"):
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(
                f"{name}: retention must be a whole number of days >= 1 or 'keep', not {value!r}"
            )
        days[spec.qualified_name] = value
    return RetentionPolicy(days)
