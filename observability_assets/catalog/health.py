"""Service health for the composition root: assets, checks, jobs and schedules.

- `health_probe` job (every minute): probe every catalogue endpoint for the tick, then evaluate
  every SLO as of that tick, so burn-rate alerts switch on within one probe interval. It runs in
  process: two short steps do not pay for two subprocesses each minute.
- `shadow_canary` job (on demand, e.g. after a deploy): replay the captured sample against
  baseline and candidate, then judge the replay.
- Backfilling `raw/health_probes` over the demo window loads the simulated demo history (one run
  for the whole range).
"""

from datetime import UTC, datetime

import dagster as dg

from observability_assets.derived.canary_verdicts import canary_verdicts, canary_verdicts_consistent
from observability_assets.derived.slo_compliance import slo_compliance, slo_compliance_consistent
from observability_assets.ingest.health_probes import health_probes, health_probes_checks
from observability_assets.ingest.shadow_replay import shadow_samples, shadow_samples_consistent

PROBE_CRON = "* * * * *"
# Op names in run configuration: a multi-asset's name, or an asset key joined with "__".
PROBE_OP = "health_probes"
SLO_OP = "marts__slo_compliance"

HEALTH_ASSETS: list[dg.AssetsDefinition] = [health_probes, slo_compliance, shadow_samples, canary_verdicts]
HEALTH_CHECKS: list[dg.AssetChecksDefinition] = [
    health_probes_checks,
    slo_compliance_consistent,
    shadow_samples_consistent,
    canary_verdicts_consistent,
]

health_probe_job = dg.define_asset_job(
    "health_probe",
    selection=dg.AssetSelection.assets(health_probes, slo_compliance),
    executor_def=dg.in_process_executor,
    description="Probe every endpoint of the service catalogue for one tick, then evaluate every SLO.",
)

shadow_canary_job = dg.define_asset_job(
    "shadow_canary",
    selection=dg.AssetSelection.assets(shadow_samples, canary_verdicts),
    executor_def=dg.in_process_executor,
    description="Replay the captured traffic sample against baseline and candidate and judge the candidate.",
)


def tick_run_config(tick: datetime) -> dict:
    """Run configuration of the `health_probe` job for one tick (UTC)."""
    iso = (tick.astimezone(UTC) if tick.tzinfo else tick).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "ops": {
            PROBE_OP: {"config": {"tick": iso}},
            SLO_OP: {"config": {"as_of": iso}},
        }
    }


@dg.schedule(job=health_probe_job, cron_schedule=PROBE_CRON, execution_timezone="UTC")
def health_probe_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Probe for the tick the schedule was due (not the moment it ran), once per tick."""
    tick = context.scheduled_execution_time
    key = tick.strftime("%Y-%m-%dT%H:%MZ")
    return dg.RunRequest(run_key=key, partition_key=tick.date().isoformat(), run_config=tick_run_config(tick))


HEALTH_JOBS = [health_probe_job, shadow_canary_job]
HEALTH_SCHEDULES = [health_probe_schedule]
