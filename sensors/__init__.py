"""Vigil's sensors, and the wiring of the ones that act (for the composition root).

`acting_resources` reads the environment the way `definitions.env_or` does: an `EnvVar` when the
variable is set (the UI then shows where a value comes from), else the default. Defaults are
safe: remediation is a dry run and issues are only recorded in ops.issues.

    VIGIL_REMEDIATION=live              act on services (anything else: dry run)
    VIGIL_REMEDIATION_ENDPOINTS         JSON {service: admin base URL} for non-demo services
    VIGIL_ADMIN_TOKEN                   token for those admin endpoints
    VIGIL_NOTIFY_WEBHOOK_URL            notification webhook (escalation)
    VIGIL_PAGE_WEBHOOK_URL              paging webhook (critical services)
    VIGIL_WEBHOOK_SECRET                HMAC key signing both webhooks
    VIGIL_ISSUES=github                 open issues on GitHub (anything else: record only)
    VIGIL_INCIDENT_REPO                 owner/name for incidents and Vigil's own failures
    VIGIL_ISSUES_PER_TICK               most new issues per sensor tick (default 5)
    VIGIL_ISSUE_STORM_THRESHOLD         more new findings at once -> one summary issue (default 25)
    VIGIL_ISSUE_CLEAN_DAYS              close issues after this many clean days (default 7)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from observability_assets.assetkit.settings import env_or
from resources.issue_tracker import IssueTrackerResource
from resources.ledger import LedgerResource
from resources.remediator import MODE_DRY_RUN, RemediatorResource
from resources.warehouse import WarehouseResource
from sensors.findings import findings_sensor
from sensors.run_failure import make_run_failure_sensor
from sensors.slo_burn import remediation_job, slo_burn_sensor

ACTING_JOBS = [remediation_job]


def acting_resources(
    warehouse: WarehouseResource,
    remediator: Mapping[str, Any] | None = None,
    issue_tracker: Mapping[str, Any] | None = None,
) -> dict[str, dg.ConfigurableResource]:
    """`ledger`, `issue_tracker` and `remediator` from the environment; the mappings override fields."""
    return {
        "ledger": LedgerResource(warehouse=warehouse, anchor_path=env_or("VIGIL_LEDGER_ANCHOR", "")),
        "issue_tracker": IssueTrackerResource(
            **{
                "mode": env_or("VIGIL_ISSUES", "record"),
                "incident_repo": env_or("VIGIL_INCIDENT_REPO", "acme/infra"),
                "max_new_per_tick": env_or("VIGIL_ISSUES_PER_TICK", 5, int),
                "storm_threshold": env_or("VIGIL_ISSUE_STORM_THRESHOLD", 25, int),
                "close_after_clean_days": env_or("VIGIL_ISSUE_CLEAN_DAYS", 7, int),
                **(issue_tracker or {}),
            }
        ),
        "remediator": RemediatorResource(
            **{
                "mode": env_or("VIGIL_REMEDIATION", MODE_DRY_RUN),
                "endpoints": env_or("VIGIL_REMEDIATION_ENDPOINTS", ""),
                "admin_token": env_or("VIGIL_ADMIN_TOKEN", None),
                "notify_webhook_url": env_or("VIGIL_NOTIFY_WEBHOOK_URL", None),
                "page_webhook_url": env_or("VIGIL_PAGE_WEBHOOK_URL", None),
                "webhook_secret": env_or("VIGIL_WEBHOOK_SECRET", None),
                **(remediator or {}),
            }
        ),
    }


def acting_sensors(
    definitions_module: str = "observability_assets.definitions", **run_failure: Any
) -> list[dg.SensorDefinition]:
    """The SLO-burn, findings and run-failure sensors; failed runs are re-executed from
    `definitions_module`'s `defs` (keyword arguments tune `make_run_failure_sensor`)."""
    return [slo_burn_sensor, findings_sensor, make_run_failure_sensor(definitions_module, **run_failure)]
