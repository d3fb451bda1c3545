"""marts.automation_kpis: is the automation earning its keep? Computed from the ledger, per UTC day.

- self-healing success rate (target at least 80%): episodes verified recovered / episodes that
  took a live action;
- MTTR (target under 15 minutes): detection (the SLO evaluation that first showed the burn) to
  verified recovery, over healed episodes;
- false-positive alert rate (target under 5%): episodes whose live diagnosis found nothing wrong /
  episodes diagnosed;
- volume: alerts, actions, dry-run decisions, escalations, issues, notifications, pages and
  re-executed runs per day.

The ledger is the only input, so the figures are as trustworthy as the audit trail itself.
"""

from __future__ import annotations

import dagster as dg

from observability_assets.assetkit.metadata import column_schema
from observability_assets.core.contract import AUTOMATION_KPIS
from resources.warehouse import WarehouseResource

SELF_HEALING_TARGET = 0.8
MTTR_TARGET_MINUTES = 15.0
FALSE_POSITIVE_TARGET = 0.05
AUTOMATION_KPIS_KEY = dg.AssetKey(AUTOMATION_KPIS.qualified_name.split("."))

# json_extract_string/json_extract are DuckDB's JSON functions (Postgres: ->>, Spark:
# get_json_object); the ledger keeps its evidence as canonical JSON text, so they are needed here.
KPIS_SQL = """
WITH entries AS (
    SELECT CAST("at" AS DATE) AS day, action,
           json_extract_string(detail, '$.episode') AS episode,
           TRY_CAST(json_extract_string(detail, '$.time_to_recover_s') AS DOUBLE) AS recover_s,
           coalesce(TRY_CAST(json_extract_string(detail, '$.delivered') AS BOOLEAN), false) AS delivered
    FROM ops.ledger
), daily AS (
    SELECT day,
           count(*) FILTER (WHERE action = 'slo_burn.alert') AS alerts,
           count(*) FILTER (WHERE action = 'remediation.diagnosis') AS episodes,
           count(*) FILTER (WHERE action = 'remediation.no_action') AS false_positives,
           count(DISTINCT episode) FILTER (WHERE action = 'remediation.action') AS heal_attempts,
           count(DISTINCT episode) FILTER (WHERE action = 'remediation.recovered') AS healed,
           avg(recover_s) FILTER (WHERE action = 'remediation.recovered') / 60.0 AS mttr_minutes,
           count(*) FILTER (WHERE action = 'remediation.action') AS actions,
           count(*) FILTER (WHERE action = 'remediation.dry_run') AS dry_run_actions,
           count(*) FILTER (WHERE action = 'remediation.escalated') AS escalations,
           count(*) FILTER (WHERE action IN ('issue.opened', 'issue.opened_storm_summary')) AS issues_opened,
           count(*) FILTER (WHERE action IN ('issue.would_open', 'issue.would_open_storm_summary'))
               AS issues_recorded,
           count(*) FILTER (WHERE action = 'escalation.notify' AND delivered) AS notifications,
           count(*) FILTER (WHERE action = 'escalation.page' AND delivered) AS pages,
           count(*) FILTER (WHERE action = 'run.reexecute') AS runs_reexecuted,
           count(*) FILTER (WHERE action = 'run.escalated') AS run_failures_escalated
    FROM entries
    GROUP BY day
), rates AS (
    SELECT *,
           CASE WHEN episodes > 0 THEN false_positives / episodes END AS false_positive_rate,
           CASE WHEN heal_attempts > 0 THEN healed / heal_attempts END AS self_healing_rate
    FROM daily
)
SELECT day, alerts, episodes, false_positives, false_positive_rate, ? AS false_positive_target,
       heal_attempts, healed, self_healing_rate, ? AS self_healing_target,
       mttr_minutes, ? AS mttr_target_minutes,
       actions, dry_run_actions, escalations, issues_opened, issues_recorded, notifications, pages,
       runs_reexecuted, run_failures_escalated,
       coalesce(false_positive_rate < ?, true) AND coalesce(self_healing_rate >= ?, true)
           AND coalesce(mttr_minutes < ?, true) AS meets_targets,
       CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP) AS computed_at
FROM rates
ORDER BY day
"""
TARGETS = [
    FALSE_POSITIVE_TARGET,
    SELF_HEALING_TARGET,
    MTTR_TARGET_MINUTES,
    FALSE_POSITIVE_TARGET,
    SELF_HEALING_TARGET,
    MTTR_TARGET_MINUTES,
]


def refresh_automation_kpis(warehouse: WarehouseResource) -> dict[str, float | int | None]:
    """Recompute marts.automation_kpis in one write; returns the figures over all days."""
    columns = ", ".join(f'"{c}"' for c in AUTOMATION_KPIS.column_names)
    with warehouse.get().write("marts.automation_kpis") as con:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DELETE FROM marts.automation_kpis")
            con.execute(f"INSERT INTO marts.automation_kpis ({columns}) {KPIS_SQL}", TARGETS)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        ((days, healed, attempts, fps, episodes, mttr, alerts, actions),) = con.execute(
            "SELECT count(*), sum(healed), sum(heal_attempts), sum(false_positives), sum(episodes), "
            "sum(mttr_minutes * healed) / nullif(sum(healed), 0), sum(alerts), sum(actions) "
            "FROM marts.automation_kpis"
        ).fetchall()
    return {
        "days": days,
        "self_healing_rate": healed / attempts if attempts else None,
        "mttr_minutes": mttr,
        "false_positive_rate": fps / episodes if episodes else None,
        "alerts": int(alerts or 0),
        "actions": int(actions or 0),
    }


@dg.asset(
    key=AUTOMATION_KPIS_KEY,
    description=AUTOMATION_KPIS.comment,
    group_name="marts",
    kinds={"duckdb", "sql"},
    owners=["team:platform"],
    metadata={"dagster/column_schema": column_schema(AUTOMATION_KPIS)},
)
def automation_kpis(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Self-healing rate, MTTR, false-positive rate and volume per day, from ops.ledger."""
    figures = refresh_automation_kpis(warehouse)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": figures["days"],
            "self_healing_rate": figures["self_healing_rate"],
            "self_healing_target": SELF_HEALING_TARGET,
            "mttr_minutes": figures["mttr_minutes"],
            "mttr_target_minutes": MTTR_TARGET_MINUTES,
            "false_positive_rate": figures["false_positive_rate"],
            "false_positive_target": FALSE_POSITIVE_TARGET,
            "alerts": figures["alerts"],
            "actions": figures["actions"],
        }
    )
