"""What the acting sensors share: opening the issue tracker, finding tables, resolving services."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from resources.github import GitHubResource
from resources.issue_tracker import IssueTracker, IssueTrackerResource
from resources.ledger import Ledger

if TYPE_CHECKING:
    import duckdb

# Sensor and run tag showing whether remediation acts; the UI lists it on every remediation run.
MODE_TAG = "vigil/remediation"


def utc_now() -> datetime:
    """Now as the warehouse stores times: UTC without a zone."""
    return datetime.now(UTC).replace(tzinfo=None)


class SimulatedWarehouseRefused(RuntimeError):
    """A sensor was about to open issues on a real GitHub from a demo warehouse."""


@contextmanager
def open_issue_tracker(
    issue_tracker: IssueTrackerResource, ledger: Ledger, github: GitHubResource
) -> Iterator[IssueTracker]:
    """The tracker, with a GitHub client only when issues are really opened (`VIGIL_ISSUES=github`).

    Findings from a warehouse of simulated data never become issues on a real GitHub."""
    if not issue_tracker.opens_issues:
        yield issue_tracker.tracker(ledger, None)
        return
    if not github.simulated and ledger.warehouse.holds_simulated_data():
        raise SimulatedWarehouseRefused(
            f"{ledger.warehouse.path} holds simulated data (ops.warehouse_origin, written by demo mode): "
            f"refusing to open issues on {github.describe()}; point VIGIL_WAREHOUSE at a production warehouse"
        )
    with github.client() as client:
        yield issue_tracker.tracker(ledger, client)


def existing_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """`schema.name` of every table and view in the warehouse (marts built by other assets may be missing)."""
    rows = con.execute(
        "SELECT schema_name || '.' || table_name FROM duckdb_tables() UNION ALL "
        "SELECT schema_name || '.' || view_name FROM duckdb_views() WHERE NOT internal"
    ).fetchall()
    return {name for (name,) in rows}
