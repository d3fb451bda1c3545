"""Evaluate sensors once, outside the Dagster daemon, and launch the runs they request.

`tick_sensors` evaluates every sensor of the Definitions once, through Dagster's own sensor
evaluation (`SensorDefinition.evaluate_tick` on a `build_sensor_context` with the sensor's
resources and its cursor), and launches the runs they request on the instance (`DAGSTER_HOME`),
where they show in the UI like any other run. Cursors live in the instance's key-value store,
so they survive process restarts. `vigil sensors tick` (cron and CI deployments), the demo and its
drill, and the tests use it; in production the Dagster daemon evaluates the same sensors. It
ignores `minimum_interval_seconds` (each invocation is one tick) and skips when another tick is
running.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dagster as dg

DEFAULT_DEFINITIONS = "observability_assets.definitions:defs"
CURSOR_KEY = "vigil/sensor-cursor/{}"
# The tags the Dagster daemon puts on runs a sensor requests (dagster/_core/storage/tags.py).
RUN_KEY_TAG = "dagster/run_key"
SENSOR_NAME_TAG = "dagster/sensor_name"


@dataclass
class TickResult:
    sensor: str
    skipped: str | None = None
    runs: list[tuple[str, bool]] = field(default_factory=list)
    duplicate_run_keys: list[str] = field(default_factory=list)
    error: str | None = None

    def describe(self) -> str:
        if self.error:
            return f"{self.sensor}: ERROR {self.error}"
        parts = [f"{run_id} {'ok' if ok else 'FAILED'}" for run_id, ok in self.runs]
        if self.duplicate_run_keys:
            parts.append(f"{len(self.duplicate_run_keys)} already requested")
        if parts:
            return f"{self.sensor}: launched {', '.join(parts)}"
        return f"{self.sensor}: {self.skipped or 'nothing requested'}"


def load_definitions(target: str = DEFAULT_DEFINITIONS) -> dg.Definitions:
    """`module:attribute` (attribute defaults to `defs`) -> the Definitions object."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute or "defs")


def _cursor_key(name: str) -> str:
    return CURSOR_KEY.format(name)


def tick_sensors(
    defs: dg.Definitions, instance: dg.DagsterInstance, names: Sequence[str] | None = None
) -> list[TickResult]:
    """Evaluate each sensor (or those named) once and launch what it requests."""
    import dagster as dg
    from filelock import FileLock, Timeout

    from resources.github import redact

    repo = defs.get_repository_def()
    sensors = [s for s in repo.sensor_defs if not names or s.name in names]
    unknown = set(names or ()) - {s.name for s in sensors}
    if unknown:
        raise ValueError(
            f"no sensor named {sorted(unknown)}; known: {sorted(s.name for s in repo.sensor_defs)}"
        )
    lock = FileLock(str(Path(instance.root_directory) / "vigil-sensors-tick.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return [TickResult(s.name, skipped="another `vigil sensors tick` is running") for s in sensors]
    try:
        results = []
        for sensor in sensors:
            key = _cursor_key(sensor.name)
            cursor = instance.run_storage.get_cursor_values({key}).get(key)
            resources = {
                k: v for k, v in repo.get_top_level_resources().items() if k in sensor.required_resource_keys
            }
            result = TickResult(sensor.name)
            try:
                with dg.build_sensor_context(
                    instance=instance,
                    cursor=cursor,
                    repository_def=repo,
                    sensor_name=sensor.name,
                    resources=resources,
                ) as context:
                    data = sensor.evaluate_tick(context)
            except Exception as error:
                result.error = redact(f"{type(error).__name__}: {error}")
                results.append(result)
                continue
            if data.cursor is not None and data.cursor != cursor:
                instance.run_storage.set_cursor_values({key: data.cursor})
            result.skipped = data.skip_message
            for request in data.run_requests or []:
                _launch(repo, sensor, request, instance, result)
            results.append(result)
        return results
    finally:
        lock.release()


def _launch(
    repo: dg.RepositoryDefinition,
    sensor: dg.SensorDefinition,
    request: dg.RunRequest,
    instance: dg.DagsterInstance,
    result: TickResult,
) -> None:
    import dagster as dg

    tags = {**request.tags, SENSOR_NAME_TAG: sensor.name}
    if request.run_key:
        # As the daemon does: a run key already used by this sensor is not launched again.
        tags[RUN_KEY_TAG] = request.run_key
        earlier = instance.get_runs(
            filters=dg.RunsFilter(tags={SENSOR_NAME_TAG: sensor.name, RUN_KEY_TAG: request.run_key}), limit=1
        )
        if earlier:
            result.duplicate_run_keys.append(request.run_key)
            return
    job = repo.get_job(request.job_name or sensor.job_name)
    run = job.execute_in_process(
        run_config=request.run_config,
        instance=instance,
        tags=tags,
        partition_key=request.partition_key,
        asset_selection=list(request.asset_selection) if request.asset_selection else None,
        raise_on_error=False,
    )
    result.runs.append((run.run_id, run.success))
