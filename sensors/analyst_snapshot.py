"""Keep the analyst snapshot at most about 30 seconds behind the warehouse.

Writes publish the snapshot at most every `VIGIL_SNAPSHOT_INTERVAL_S` (30 s by default), so the
last writes of a burst, a run's or a sensor's own (ops.ledger, ops.issues), can stay unpublished
when no later write comes along. This sensor publishes them on its next tick: whatever wrote, and
whether the run succeeded or failed.
"""

import dagster as dg

from resources.warehouse import Warehouse, WarehouseLockTimeout, WarehouseResource

# A tick never waits long behind a write: the next tick comes soon enough.
LOCK_WAIT_S = 5.0


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Republishes data/warehouse.snapshot.duckdb when the warehouse holds writes it does not show yet.",
)
def analyst_snapshot_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.SkipReason:
    configured = warehouse.get()
    if not configured.snapshot_is_stale():
        return dg.SkipReason("the analyst snapshot shows every write")
    try:
        Warehouse(configured.path, configured.snapshot_path, lock_timeout_s=LOCK_WAIT_S).publish_snapshot()
    except WarehouseLockTimeout:
        return dg.SkipReason("a write holds the warehouse; publishing on the next tick")
    context.log.info(f"published the analyst snapshot {configured.snapshot_path}")
    return dg.SkipReason("published the analyst snapshot (no run needed)")
