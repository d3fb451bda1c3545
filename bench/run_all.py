"""Run the benchmarks and write their figures to docs/performance.md.

Each `bench_*.py` module exposes `run(quick: bool) -> str`, returning a markdown section whose
goals are ratios against a baseline measured in the same run (these machines are noisy). Sections
of benchmarks not run this time are kept as they were.
Usage: `make bench`, or `.venv/bin/python bench/run_all.py [--quick] [--only bench_junit ...]`.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "performance.md"
BENCHES = sorted(p.stem for p in (ROOT / "bench").glob("bench_*.py"))
HEADER = (
    "# Performance\n\n"
    "Figures from `make bench` (or the command named in a section), on the 2-core machine kind this\n"
    "project is developed and tested on. Every goal is a ratio against a baseline measured in the\n"
    "same run; absolute times are for orientation only.\n"
)


def _section(name: str, body: str) -> str:
    return f"<!-- bench:{name} -->\n{body.strip()}\n<!-- /bench:{name} -->"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller inputs, for a smoke run")
    parser.add_argument("--only", nargs="*", default=None, help="benchmark module names to run")
    words = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(words)
    sys.path.insert(0, str(ROOT / "bench"))
    command = "make bench" if not words else "python bench/run_all.py " + " ".join(words)
    for name in args.only or BENCHES:
        print(f"== {name}", flush=True)
        started = time.monotonic()
        body = importlib.import_module(name).run(quick=args.quick)
        stamp = (
            f"\n\n_Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{command}` "
            f"(Python {platform.python_version()}, {platform.machine()}); took {time.monotonic() - started:.0f} s._"
        )
        section = _section(name, body + stamp)
        print(body, flush=True)
        pattern = re.compile(rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->", re.S)
        # Re-read and write after each benchmark: a later failure keeps what was measured.
        existing = OUTPUT.read_text() if OUTPUT.exists() else HEADER
        if pattern.search(existing):
            existing = pattern.sub(section.replace("\\", "\\\\"), existing)
        else:
            existing += "\n" + section + "\n"
        OUTPUT.parent.mkdir(exist_ok=True)
        OUTPUT.write_text(existing)
        print(f"wrote {name} to {OUTPUT}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
