"""The deploy profile's files validate against Dagster's own schemas; the executor choice is explicit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PG_ENV = {
    "DAGSTER_PG_HOST": "db.internal",
    "DAGSTER_PG_PORT": "6543",
    "DAGSTER_PG_USER": "dagster",
    "DAGSTER_PG_PASSWORD": "s3cret",
    "DAGSTER_PG_DB": "dagster",
}


def test_instance_config_is_postgres_with_a_limited_queue_and_no_telemetry(monkeypatch) -> None:
    from dagster._core.instance.config import dagster_instance_config
    from dagster_postgres.utils import pg_url_from_config

    for name, value in PG_ENV.items():
        monkeypatch.setenv(name, value)
    config, _ = dagster_instance_config(str(DEPLOY))
    url = pg_url_from_config({"postgres_db": _resolved(config["storage"]["postgres"]["postgres_db"])})
    assert url == "postgresql+psycopg2://dagster:s3cret@db.internal:6543/dagster"
    coordinator = config["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    limits = {
        (limit["key"], str(limit.get("value"))): limit["limit"]
        for limit in coordinator["config"]["tag_concurrency_limits"]
    }
    assert limits[("dagster/backfill", "None")] < coordinator["config"]["max_concurrent_runs"]
    assert limits[("dagster/sensor_name", "{'applyLimitPerUniqueValue': True}")] == 1
    assert config["telemetry"] == {"enabled": False}


def _resolved(section: dict) -> dict:
    """`{env: NAME}` values as Dagster resolves them when the instance starts."""
    return {k: os.environ[v["env"]] if isinstance(v, dict) else v for k, v in section.items()}


def test_celery_worker_settings_read_the_broker_from_the_environment(monkeypatch) -> None:
    from dagster_celery.cli import get_validated_config

    monkeypatch.setenv("VIGIL_CELERY_BROKER", "redis://:pw@127.0.0.1:6390/0")
    monkeypatch.setenv("VIGIL_CELERY_BACKEND", "redis://:pw@127.0.0.1:6390/1")
    config = get_validated_config(str(DEPLOY / "celery.yaml"))
    assert config["broker"] == "redis://:pw@127.0.0.1:6390/0"
    assert config["backend"] == "redis://:pw@127.0.0.1:6390/1"
    assert config["config_source"]["task_acks_late"] is True


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("multiprocess", None), ("celery", "celery"), (" Celery ", "celery")],
)
def test_the_step_executor_comes_from_vigil_executor(monkeypatch, value, expected) -> None:
    from observability_assets.definitions import step_executor

    if value is None:
        monkeypatch.delenv("VIGIL_EXECUTOR", raising=False)
    else:
        monkeypatch.setenv("VIGIL_EXECUTOR", value)
    executor = step_executor()
    assert (executor.name if executor else None) == expected


def test_an_unknown_executor_is_a_clear_error(monkeypatch) -> None:
    from observability_assets.definitions import step_executor

    monkeypatch.setenv("VIGIL_EXECUTOR", "dask")
    with pytest.raises(ValueError, match="VIGIL_EXECUTOR='dask': expected one of multiprocess, celery"):
        step_executor()
