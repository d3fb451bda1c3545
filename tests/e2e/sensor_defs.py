"""Definitions for the sensors end-to-end tests: the acting sensors wired as in definitions.py, with
the health assets, test timings, and two jobs whose runs fail on purpose (for the run-failure sensor).

Importable by module name (`sensor_defs:defs`), so `vigil sensors tick --definitions` in a new
process and Dagster's re-execution both rebuild the same Definitions.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from observability_assets.catalog.health import HEALTH_ASSETS, HEALTH_CHECKS, HEALTH_JOBS
from observability_assets.demo.resources import DemoGitHubResource, DemoServicesResource
from observability_assets.derived.automation_kpis import automation_kpis
from resources.github import GitHubResource
from resources.http_probe import DEFAULT_CATALOGUE_PATH, HttpProbeResource, ServiceCatalogueResource
from resources.warehouse import WarehouseResource, default_warehouse_path
from sensors import ACTING_JOBS, acting_resources, acting_sensors

FAST_REMEDIATION = {
    "backoff_base_s": 0.02,
    "backoff_max_s": 0.05,
    "verify_timeout_s": 0.6,
    "verify_interval_s": 0.05,
    "verify_successes": 2,
    "diagnose_probes": 2,
    "max_data_age_s": 3600.0,
    "connect_timeout_s": 1.0,
    "read_timeout_s": 2.0,
}


def _env_or(name: str, default: object) -> object:
    return dg.EnvVar(name) if os.environ.get(name) else default


def _failures_left(name: str) -> int:
    """Counts down a file named by E2E_FAIL_DIR/<name>: the asset fails while it is above zero."""
    path = Path(os.environ["E2E_FAIL_DIR"]) / name
    left = int(path.read_text()) if path.exists() else 0
    if left > 0:
        path.write_text(str(left - 1))
    return left


@dg.asset(key=["e2e", "fetched"])
def fetched() -> int:
    if _failures_left("network"):
        raise ConnectionError(f"Connection refused by api.example: {os.environ.get('E2E_PLANTED', '')}")
    return 1


@dg.asset(key=["e2e", "summarised"], deps=[fetched])
def summarised() -> int:
    return 2


@dg.asset(key=["e2e", "buggy"])
def buggy() -> int:
    if _failures_left("code"):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'NoneType'")
    return 3


fragile_job = dg.define_asset_job(
    "e2e_fragile",
    selection=dg.AssetSelection.assets(fetched, summarised),
    executor_def=dg.in_process_executor,
)
buggy_job = dg.define_asset_job(
    "e2e_buggy", selection=dg.AssetSelection.assets(buggy), executor_def=dg.in_process_executor
)


def build_defs() -> dg.Definitions:
    warehouse = WarehouseResource(path=_env_or("VIGIL_WAREHOUSE", default_warehouse_path()))
    resources = {
        "warehouse": warehouse,
        "github": GitHubResource(api_url=dg.EnvVar("GITHUB_API_URL"), token=_env_or("GITHUB_TOKEN", None))
        if os.environ.get("GITHUB_API_URL")
        else DemoGitHubResource(),
        "http_probe": HttpProbeResource(),
        "service_runtime": DemoServicesResource(),
        "service_catalogue": ServiceCatalogueResource(path=_env_or("VIGIL_SERVICES", DEFAULT_CATALOGUE_PATH)),
        **acting_resources(
            warehouse,
            remediator={"cooldown_s": float(os.environ.get("E2E_COOLDOWN_S", "900")), **FAST_REMEDIATION},
            issue_tracker={"storm_threshold": 50},
        ),
    }
    return dg.Definitions(
        assets=[*HEALTH_ASSETS, automation_kpis, fetched, summarised, buggy],
        asset_checks=HEALTH_CHECKS,
        jobs=[*HEALTH_JOBS, *ACTING_JOBS, fragile_job, buggy_job],
        sensors=acting_sensors("sensor_defs", backoff_base_s=0.02, backoff_max_s=0.05),
        resources=resources,
    )


defs = build_defs()
