"""Watch the JUnit landing folder and re-ingest the days that received new drops.

The cursor holds the newest sidecar modification time seen and the drops seen at that instant,
so a tick reads only the folder listing (no warehouse access) and requests each day once.
"""

import json
from pathlib import Path

import dagster as dg
from dagster import SensorEvaluationContext

from observability_assets.assetkit.partitions import DAILY
from observability_assets.ingest.junit_collect import scan_landing
from observability_assets.ingest.junit_config import JUnitSourceConfig

MAX_DROPS_PER_TICK = 200

test_results_job = dg.define_asset_job(
    "test_results_ingest",
    selection=dg.AssetSelection.assets(dg.AssetKey(["raw", "test_results"])),
    description="Re-ingest raw.test_results for one day (artifacts and landed drops).",
)


@dg.sensor(job=test_results_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def junit_landing_sensor(context: SensorEvaluationContext, junit_sources: JUnitSourceConfig):
    """New drops in `VIGIL_JUNIT_LANDING` → a raw.test_results run for each day they belong to."""
    state = json.loads(context.cursor) if context.cursor else {"mtime_ns": 0, "seen": []}
    drops, rejected = scan_landing(Path(junit_sources.landing_dir))
    new = sorted(
        (
            d
            for d in drops
            if d.mtime_ns > state["mtime_ns"]
            or (d.mtime_ns == state["mtime_ns"] and str(d.folder) not in state["seen"])
        ),
        key=lambda d: (d.mtime_ns, str(d.folder)),
    )[:MAX_DROPS_PER_TICK]
    if rejected:
        context.log.warning(
            f"{len(rejected)} landing sidecars are unusable; they are recorded on the next load"
        )
    if not new:
        return dg.SkipReason("no new drops in the landing folder")
    valid_days = set(DAILY.get_partition_keys())
    newest = new[-1].mtime_ns
    seen = [str(d.folder) for d in new if d.mtime_ns == newest]
    if newest == state["mtime_ns"]:
        seen += state["seen"]
    context.update_cursor(json.dumps({"mtime_ns": newest, "seen": seen}))
    by_day: dict[str, int] = {}
    for drop in new:
        if drop.day in valid_days:
            by_day[drop.day] = max(by_day.get(drop.day, 0), drop.mtime_ns)
        else:
            context.log.warning(f"drop {drop.folder} is dated {drop.day}, outside the partitions; skipped")
    return [
        dg.RunRequest(run_key=f"landing:{day}:{mtime}", partition_key=day)
        for day, mtime in sorted(by_day.items())
    ]
