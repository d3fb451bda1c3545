"""`vigil ledger verify` and `vigil sensors tick`: the ledger audit and the sensors, from a shell.

`vigil sensors tick` evaluates every sensor of the Definitions once, through Dagster's own sensor
evaluation (`SensorDefinition.evaluate_tick` on a `build_sensor_context` with the sensor's
resources and its cursor), and launches the runs they request on the instance (`DAGSTER_HOME`),
where they show in the UI like any other run. Cursors live in the instance's key-value store,
so they survive process restarts. It is for deployments that run Vigil from cron or CI, for the
demo and for tests; in production the Dagster daemon evaluates the same sensors. It ignores
`minimum_interval_seconds` (each invocation is one tick) and skips when another tick is running.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from observability_assets.core.ledger import Verification

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


def verify_ledger(warehouse_path: Path, anchor_path: Path | None = None) -> Verification:
    from resources.ledger import Ledger
    from resources.warehouse import Warehouse

    return Ledger(Warehouse(warehouse_path), anchor_path).verify()


def _cmd_ledger_verify(args: argparse.Namespace) -> int:
    from resources.warehouse import warehouse_from_env

    path = Path(args.warehouse) if args.warehouse else warehouse_from_env().path
    if not path.exists():
        print(f"no warehouse at {path}", file=sys.stderr)
        return 1
    result = verify_ledger(path, Path(args.anchor) if args.anchor else None)
    if result.ok:
        print(result.describe())
        return 0
    print(f"LEDGER VERIFICATION FAILED: {result.describe()}", file=sys.stderr)
    return 1


def _cmd_sensors_tick(args: argparse.Namespace) -> int:
    import dagster as dg

    from observability_assets.cli import ensure_dagster_home

    ensure_dagster_home()
    defs = load_definitions(args.definitions)
    with dg.DagsterInstance.get() as instance:
        results = tick_sensors(defs, instance, args.sensor)
    for result in results:
        print(result.describe(), flush=True)
    failed = [r for r in results if r.error or any(not ok for _, ok in r.runs)]
    return 1 if failed else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `ledger verify` and `sensors tick` to the `vigil` command line."""
    ledger = subparsers.add_parser("ledger", help="the audit trail of automated decisions (ops.ledger)")
    ledger_commands = ledger.add_subparsers(dest="ledger_command", required=True)
    verify = ledger_commands.add_parser(
        "verify", help="check every row's hash and link; exit 1 naming the first bad row"
    )
    verify.add_argument("--warehouse", help="DuckDB file (default: VIGIL_WAREHOUSE or data/warehouse.duckdb)")
    verify.add_argument("--anchor", help="anchor file (default: <warehouse>.ledger-anchor.json)")
    verify.set_defaults(handler=_cmd_ledger_verify)

    sensors = subparsers.add_parser("sensors", help="Vigil's sensors outside the Dagster daemon")
    sensor_commands = sensors.add_subparsers(dest="sensors_command", required=True)
    tick = sensor_commands.add_parser(
        "tick", help="evaluate every sensor once and launch the runs they request (for cron, CI, the demo)"
    )
    tick.add_argument(
        "--definitions", default=DEFAULT_DEFINITIONS, help="module:attribute of the Definitions"
    )
    tick.add_argument("--sensor", action="append", help="only this sensor (repeatable)")
    tick.set_defaults(handler=_cmd_sensors_tick)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vigil", description="Vigil ledger and sensor commands.")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
