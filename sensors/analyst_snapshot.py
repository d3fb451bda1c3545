"""Publish the analyst snapshot after a successful run when writes skipped it.

Writes publish at most every `VIGIL_SNAPSHOT_INTERVAL_S` (30 s by default); this sensor makes
sure the last writes of a run reach analysts even when no later write comes along.
"""

import dagster as dg
from dagster import RunStatusSensorContext

from resources.warehouse import WarehouseResource


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitor_all_code_locations=False,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Republishes data/warehouse.snapshot.duckdb after a run whose writes it does not show yet.",
)
def analyst_snapshot_sensor(context: RunStatusSensorContext, warehouse: WarehouseResource) -> None:
    if warehouse.get().publish_snapshot():
        context.log.info(f"published the analyst snapshot after run {context.dagster_run.run_id}")
