"""`vigil demo`: the demo window on the simulated organisation, checked against the simulation.

With the CLI's other demo entry points and the composition root, this is the only production
module that imports the simulator (`observability_assets.demo`).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date, timedelta

from observability_assets.assetkit.settings import MODE_ENV
from observability_assets.cli.instance import QUIET_LOGGING
from observability_assets.cli.runs import failure_text, print_summary, run_range


def _cmd_demo(args: argparse.Namespace) -> int:
    # `vigil demo` is demo mode by definition: the composition root then plugs in the simulator.
    os.environ[MODE_ENV] = "demo"
    from observability_assets.demo.embedded import demo_spec_from_env
    from observability_assets.demo.verify import verify_against_simulation

    spec = demo_spec_from_env()
    # The simulated organisation breaches policy gates on purpose (sim_coverage, sim_advisories):
    # its policy checks warn instead of blocking, so the marts and the report after them still build.
    os.environ.setdefault("VIGIL_POLICY_CHECK_SEVERITY", "WARN")
    # Its breached gates would also become issues, and the sensors' first tick already fills the
    # per-tick issue limit the incident drill relies on: the demo files none (VIGIL_GATE_ISSUES=1 does).
    os.environ.setdefault("VIGIL_GATE_ISSUES", "0")
    end = spec.start + timedelta(days=spec.days - 1)
    print(f"Vigil demo: simulated organisation seed {spec.seed}, {spec.start} to {end}\n", flush=True)
    summary = run_range(spec.start, end, demo=True)
    print_summary(summary)
    if not summary.ok:
        return 1
    narrowed = [r.strip() for r in os.environ.get("VIGIL_GITHUB_REPOS", "").split(",") if r.strip()]
    problems = verify_against_simulation(spec, repos=narrowed or None)
    if problems:
        print(
            "\nDEMO CHECK FAILED: the warehouse does not equal the simulated organisation:", file=sys.stderr
        )
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(
        "\nDemo check: the warehouse equals the simulated organisation "
        "(every run attempt, job, changed file and test execution)."
    )
    # The report covers the simulated weeks, not the minutes the live drill adds at today's date.
    return _demo_sensors_and_ledger(report_as_of=end + timedelta(days=1))


def _demo_sensors_and_ledger(report_as_of: date) -> int:
    """One tick of every sensor, the live incident drill, the ledger check and the weekly report."""
    import dagster as dg

    from observability_assets.cli.ops import verify_ledger
    from observability_assets.definitions import defs
    from observability_assets.demo.drill import DrillFailed, run_incident_drill
    from observability_assets.report.weekly_report import latest_report_path
    from resources.warehouse import warehouse_from_env
    from sensors.tick import tick_sensors

    print("\nSensors (one tick, as `vigil sensors tick` runs them):")
    with dg.DagsterInstance.get() as instance:
        for result in tick_sensors(defs, instance):
            print(f"  {result.describe()}")
        drill_ok = True
        if os.environ.get("VIGIL_DEMO_DRILL", "1") != "0":
            try:
                drill = run_incident_drill(defs, instance, sys.stdout)
            except DrillFailed as error:
                print(f"\nINCIDENT DRILL FAILED: {error}", file=sys.stderr)
                return 1
            drill_ok = drill.ok or drill.skipped
        # Last, so the automation KPIs and the report include what the sensors and the drill did.
        report_config = {"ops": {"reports__weekly_health": {"config": {"as_of": report_as_of.isoformat()}}}}
        report_run = defs.resolve_job_def("weekly_report").execute_in_process(
            instance=instance, run_config={**QUIET_LOGGING, **report_config}, raise_on_error=False
        )
    warehouse = warehouse_from_env()
    warehouse.publish_snapshot()
    verification = verify_ledger(warehouse.path)
    print(f"Ledger: {verification.describe()}")
    print(f"\nWeekly health report: {latest_report_path(warehouse)}")
    if not report_run.success:
        print(f"report failed: {failure_text(report_run)}", file=sys.stderr)
    return 0 if verification.ok and report_run.success and drill_ok else 1


def register(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser("demo", help="run the whole demo window and check it against the simulation")
    demo.set_defaults(handler=_cmd_demo)
