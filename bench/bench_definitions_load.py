"""Loading the code location against `import dagster`, both in fresh processes of the same run.

Dagster imports the definitions in every run worker and, with the multiprocess executor, in every
step process, so whatever they import beyond Dagster is paid again and again. Goal: the load costs
at most 1.5× `import dagster`. Each figure is the median over interleaved fresh processes of CPU
time (user + system: on a shared 2-core machine wall time mostly measures the neighbours), in
demo mode and in production mode (a GitHub URL and token set, nothing contacted).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.5
HEAVY = ("numpy", "pandas", "pyarrow", "sqlglot", "scipy", "requests", "matplotlib")
REPORT_HEAVY = (
    "import sys, observability_assets.definitions\n"
    f"print(','.join(m for m in {HEAVY!r} if m in sys.modules "
    "and type(sys.modules[m]).__name__ != '_LazyModule'))"
)


def _cpu_seconds(code: str, env: dict[str, str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "VIGIL_"))}
    return env | settings


def run(quick: bool = False) -> str:
    rounds = 3 if quick else 9
    modes = {
        "demo (`VIGIL_MODE=demo`)": _env(VIGIL_MODE="demo"),
        "production (GitHub URL and token set)": _env(
            GITHUB_API_URL="https://api.github.com", GITHUB_TOKEN="not-a-real-token"
        ),
    }
    base_env = _env()
    # Warm the page cache and bytecode once, so no round pays for compiling.
    for env in modes.values():
        _cpu_seconds("import observability_assets.definitions", env)
    dagster: list[float] = []
    loads: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(rounds):  # interleaved: a busy spell hits both sides alike
        dagster.append(_cpu_seconds("import dagster", base_env))
        for name, env in modes.items():
            loads[name].append(_cpu_seconds("import observability_assets.definitions", env))
    base = statistics.median(dagster)
    lines = [
        "## Definitions load (`bench/bench_definitions_load.py`)",
        "",
        f"Median CPU seconds of a fresh process over {rounds} interleaved rounds; goal ≤ {GOAL}× `import dagster`.",
        "",
        "| process | CPU s | ratio | goal |",
        "|---|---|---|---|",
        f"| `python -c 'import dagster'` | {base:.2f} | 1.00× | |",
    ]
    for name, samples in loads.items():
        ratio = statistics.median(samples) / base
        verdict = "met" if ratio <= GOAL else "MISSED"
        lines.append(
            f"| `import observability_assets.definitions`, {name} | {statistics.median(samples):.2f} "
            f"| **{ratio:.2f}×** | ≤ {GOAL}× ({verdict}) |"
        )
    heavy = subprocess.run(
        [sys.executable, "-c", REPORT_HEAVY],
        cwd=ROOT,
        env=modes[next(iter(modes))],
        capture_output=True,
        text=True,
    ).stdout.strip()
    lines += [
        "",
        f"Heavy libraries loaded by the definitions: {heavy or 'none'} (of {', '.join(HEAVY)}). "
        "SQL model lineage comes from `dbt_like_sql/parse_cache.json`; numpy, pyarrow and requests load "
        "on first use (`lazy_loader`); the simulator loads with the first demo resource call.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
