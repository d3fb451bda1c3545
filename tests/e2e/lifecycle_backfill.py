"""A backfill of the simulated organisation, then findings-sensor ticks until the issue queue drains.

Run in its own process by test_issue_lifecycle_backfill.py (`python lifecycle_backfill.py OUT.json`),
so the embedded GitHub server, the Definitions and the Dagster instance are this backfill's own,
whatever the test process imported before. The environment (VIGIL_DEMO_*, VIGIL_GITHUB_REPOS,
VIGIL_WAREHOUSE, DAGSTER_HOME, VIGIL_ISSUES=github, the working directory) is set by the test.

It writes, per tick, the range of ledger rows the tick appended and the sensor's own summary,
so the test can prove from the hash-chained ledger what each tick did. After the queue drains
it ticks twice more (nothing may change), then accepts one regression's new level through
`vigil baselines update --accept-regression` and ticks once more.
"""

from __future__ import annotations

import io
import json
import sys
from contextlib import redirect_stdout
from datetime import timedelta

DRAINED_EXTRA_TICKS = 2
MAX_TICKS = 40


def _ledger_seq(warehouse) -> int:
    return int(warehouse.query("SELECT coalesce(max(seq), 0) AS seq FROM ops.ledger")["seq"][0])


def _queued(warehouse) -> int:
    return int(warehouse.query("SELECT count(*) AS n FROM ops.issues WHERE state = 'queued'")["n"][0])


def main(out_path: str) -> int:
    import dagster as dg

    from observability_assets.cli import main as vigil
    from observability_assets.cli.runs import run_range
    from observability_assets.definitions import defs
    from observability_assets.demo.embedded import demo_spec_from_env
    from resources.warehouse import warehouse_from_env
    from sensors.tick import tick_sensors

    spec = demo_spec_from_env()
    with redirect_stdout(io.StringIO()) as backfill_log:
        summary = run_range(spec.start, spec.start + timedelta(days=spec.days - 1), demo=True)
    if not summary.ok:
        print(backfill_log.getvalue()[-5000:], file=sys.stderr)
        return 1
    warehouse = warehouse_from_env()
    ticks: list[dict[str, object]] = []

    def tick(phase: str) -> None:
        first = _ledger_seq(warehouse) + 1
        (result,) = tick_sensors(defs, instance, ["findings_sensor"])
        if result.error:
            raise RuntimeError(result.describe())
        ticks.append(
            {
                "phase": phase,
                "first_seq": first,
                "last_seq": _ledger_seq(warehouse),
                "queued_after": _queued(warehouse),
                "describe": result.describe(),
            }
        )

    with dg.DagsterInstance.get() as instance:
        tick("backfill")
        while _queued(warehouse) and len(ticks) < MAX_TICKS:
            tick("drain")
        for _ in range(DRAINED_EXTRA_TICKS):
            tick("drained")
        accepted = warehouse.query(
            "SELECT fingerprint FROM ops.issues WHERE kind = 'perf-regression' AND state = 'open' "
            "ORDER BY title LIMIT 1"
        )["fingerprint"].tolist()
        if accepted:
            code = vigil(
                [
                    "baselines",
                    "update",
                    "--reason",
                    "the slower build is the new normal",
                    "--accept-regression",
                ]
                + accepted
            )
            if code:
                return code
            tick("accepted")
    with open(out_path, "w", encoding="utf-8") as out:
        json.dump({"ticks": ticks, "accepted": accepted, "backfill_seconds": summary.seconds}, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
