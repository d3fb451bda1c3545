"""Retention enforced: partitions past their age are deleted and every drop is in the ledger.

`retention_job` (one op, scheduled daily at 03:30 UTC after the ingest and the models) reads the
policy (`VIGIL_RETENTION`, default config/retention.yaml), finds each listed table's partition
days past their age, deletes their rows and records one ledger row per table with the days and
row counts, in one transaction: the rows go together with their audit entry or not at all. A second
run the same day finds nothing to drop and records nothing, so it is idempotent. The analyst
snapshot follows with the next publish.
"""

import os
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import yaml
from dagster import OpExecutionContext

from observability_assets.core.contract import table
from observability_assets.core.retention import RetentionPolicy, policy_from_mapping
from resources.ledger import Ledger, LedgerResource

POLICY_ENV = "VIGIL_RETENTION"
DEFAULT_POLICY_PATH = str(Path(__file__).resolve().parents[2] / "config" / "retention.yaml")
ACTOR = "retention_job"
ACTION = "retention.drop_partitions"


def load_policy(path: str | None = None) -> RetentionPolicy:
    with open(path or os.environ.get(POLICY_ENV) or DEFAULT_POLICY_PATH, encoding="utf-8") as handle:
        return policy_from_mapping(yaml.safe_load(handle))


def apply_retention(ledger: Ledger, policy: RetentionPolicy, today: date) -> dict[str, dict[str, object]]:
    """Delete every partition past its age; returns {table: {"days": [...], "rows": n}} of what
    was dropped (tables with nothing to drop are left out)."""
    dropped: dict[str, dict[str, object]] = {}
    with ledger.transaction(f"retention {today}") as (con, recorder):
        for name in sorted(policy.days):
            spec = table(name)
            column = spec.partition_column
            cutoff = policy.cutoff(name, today)
            # Identifiers come from the contract, never from data; the cutoff is a parameter.
            days = [
                row[0]
                for row in con.execute(
                    f"SELECT DISTINCT {column} FROM {name} WHERE {column} < ? ORDER BY 1",  # noqa: S608
                    [cutoff],
                ).fetchall()
            ]
            expired = policy.expired(name, days, today)
            if not expired:
                continue
            ((rows,),) = con.execute(
                f"SELECT count(*) FROM {name} WHERE {column} < ?",  # noqa: S608
                [cutoff],
            ).fetchall()
            con.execute(f"DELETE FROM {name} WHERE {column} < ?", [cutoff])  # noqa: S608
            detail = {
                "retention_days": policy.days[name],
                "cutoff": cutoff.isoformat(),
                "partitions": [day.isoformat() for day in expired],
                "rows": int(rows),
            }
            recorder.record(ACTOR, ACTION, name, detail)
            dropped[name] = {"days": detail["partitions"], "rows": int(rows)}
    return dropped


@dg.op(description="Delete daily partitions past their retention (config/retention.yaml); ledger rows.")
def enforce_retention(context: OpExecutionContext, ledger: LedgerResource) -> dg.Output:
    today = datetime.now(UTC).date()
    dropped = apply_retention(ledger.get(), load_policy(), today)
    for name, what in dropped.items():
        context.log.info(f"retention: dropped {what['rows']} rows of {name} ({len(what['days'])} partitions)")
    return dg.Output(
        None,
        metadata={
            "tables_dropped": len(dropped),
            "rows_dropped": sum(int(what["rows"]) for what in dropped.values()),
            "dropped": dg.MetadataValue.json(dropped),
        },
    )


@dg.job(description="Retention: drop partitions past their age and record it in the ledger.")
def retention_job() -> None:
    enforce_retention()


retention_schedule = dg.ScheduleDefinition(
    job=retention_job, cron_schedule="30 3 * * *", execution_timezone="UTC"
)
