"""Benchmark Vigil's JUnit ingestion core against a bare lxml pass and junitparser.

    .venv/bin/python bench/bench_junit.py                 # 1,000 files x 1,000 test cases
    .venv/bin/python bench/bench_junit.py --big-report    # plus peak memory on a ~1 GB report

Timed, each on the same files (read once first so every pass hits the page cache):

1. the floor: ``lxml.etree.iterparse(f, tag="testcase")`` counting and clearing elements;
2. Vigil: `parse_many` (parse + normalise into Arrow; by default the files are shared between
   this process and a worker per further CPU core) then a DuckDB ``CREATE TABLE AS`` from the
   Arrow table with `TEST_ID_SQL` hashing the ids in the load query, insertion order not kept
   (as `Warehouse.replace_partitions` loads). `parse_many(workers=1)` is timed too, and the
   first call of a fresh process (worker start and one-time imports included) once;
3. junitparser: ``JUnitXml.fromfile`` and reading name, classname, time and result of every case
   (the same information Vigil extracts; parsing alone without reading is reported too).

Peak memory is measured in a child process from /proc/self/status (VmHWM, Linux), after the
imports, so it is the parser's own growth.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import duckdb  # noqa: E402
import junitparser  # noqa: E402
import pandas  # noqa: E402, F401  - pyarrow imports it on first conversion; keep that out of the timings
import pyarrow as pa  # noqa: E402
from lxml import etree  # noqa: E402

from observability_assets.core.junit import TEST_ID_SQL, parse_many  # noqa: E402
from observability_assets.core.process_pool import usable_cores  # noqa: E402
from observability_assets.core.redaction import Redactor  # noqa: E402

# A fixed key: the bench measures cost, the key's origin does not matter.
REDACTOR = Redactor(b"bench-redaction-key-0123456789ab")

# ---------------------------------------------------------------------------------------------
# Data


# 8 + 5 + 4 + 3 of 20 files.
_DIALECT_MIX = ("pytest",) * 8 + ("surefire",) * 5 + ("jest",) * 4 + ("xunit1",) * 3


def write_report(path: Path, cases: int, seed: int) -> None:
    """One report in the dialect `seed` picks, with ~5% failures and ~3% skips.

    The mix follows what CI artifacts mostly hold: pytest's default xunit2 (40%), Maven Surefire
    with CDATA system-out (25%), jest-junit (20%) and pytest's xunit1 with file and line (15%).
    """
    rnd = random.Random(seed)
    dialect = _DIALECT_MIX[seed % len(_DIALECT_MIX)]
    module = f"pkg_{seed % 40}.test_module_{seed}"
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    if dialect == "surefire":
        parts.append(
            f'<testsuite name="com.acme.{module}.ServiceTest" time="12.5" tests="{cases}" errors="0" skipped="0" failures="0">\n'
        )
        parts.append('  <properties>\n    <property name="java.version" value="17.0.9"/>\n  </properties>\n')
    else:
        parts.append(
            f'<testsuites name="{dialect} tests">\n  <testsuite name="{module if dialect == "jest" else "pytest"}" tests="{cases}" time="12.5" timestamp="2024-05-01T10:00:00">\n'
        )
    for i in range(cases):
        duration = f"{rnd.random() / 10:.3f}"
        roll = rnd.random()
        if dialect == "surefire":
            attributes = f'name="case{i:04d}" classname="com.acme.{module}.ServiceTest" time="{duration}"'
        elif dialect == "jest":
            attributes = f'classname="Service case {i % 25}" name="Service case {i % 25} handles input {i}" time="{duration}"'
        elif dialect == "xunit1":
            attributes = f'classname="tests.{module}" name="test_case_{i:04d}[p{i % 7}]" file="tests/{module}.py" line="{10 + i}" time="{duration}"'
        else:
            attributes = f'classname="tests.{module}" name="test_case_{i:04d}[p{i % 7}]" time="{duration}"'
        if roll < 0.05:
            # One failure in ten prints what HTTP clients print: a URL with a token, a header.
            leak = (
                f"GET https://api.acme.test/v1/items?access_token=ghp_{seed:06d}{i:04d}abcdefghijKLMNOPQRSTUVWXYZ "
                f"Authorization: Bearer tok{seed:06d}{i:04d}abcdefgh for dev{i % 7}@acme.example\n"
                if i % 10 == 0
                else ""
            )
            if dialect == "surefire":
                body = (
                    '<failure message="expected: &lt;1&gt; but was: &lt;2&gt;" type="org.opentest4j.AssertionFailedError">'
                    f"<![CDATA[{leak}org.opentest4j.AssertionFailedError: expected: <1> but was: <2>\n"
                    f"\tat com.acme.ServiceTest.case{i:04d}(ServiceTest.java:{10 + i})\n]]></failure>"
                    "<system-out><![CDATA[12:00:00.000 INFO  Service - handling request\n]]></system-out>"
                )
            elif dialect == "jest":
                body = (
                    f"<failure>Error: expect(received).toBe(expected)\n{leak}\nExpected: 1\nReceived: 2\n"
                    f"    at Object.&lt;anonymous&gt; (src/service.test.js:{10 + i}:5)</failure>"
                )
            else:
                body = (
                    f'<failure message="AssertionError: assert 1 == 2">{leak}def test():\n&gt;       assert compute() == 2\n'
                    f"E       AssertionError: assert 1 == 2\n\ntests/{module}.py:{10 + i}: AssertionError</failure>"
                )
            parts.append(f"    <testcase {attributes}>{body}</testcase>\n")
        elif roll < 0.08:
            parts.append(f'    <testcase {attributes}><skipped message="requires network"/></testcase>\n')
        else:
            parts.append(f"    <testcase {attributes}/>\n")
    parts.append("</testsuite>\n" if dialect == "surefire" else "  </testsuite>\n</testsuites>\n")
    path.write_text("".join(parts), encoding="utf-8")


def write_big_report(path: Path, target_bytes: int) -> int:
    """A ~target_bytes report whose size comes from output: 128 KiB of CDATA system-out per test,
    a 64 KiB failure body on every tenth, and one 50 MiB log. Returns the number of test cases."""
    log_line = b"2024-05-01 10:00:00,123 DEBUG [worker-3] c.a.Service - value=<42> & status=ok ]]\n"
    system_out = log_line * (128 * 1024 // len(log_line))
    failure_body = (log_line * (64 * 1024 // len(log_line))).replace(b"&", b"&amp;").replace(b"<", b"&lt;")
    written = 0
    cases = 0
    with path.open("wb") as handle:
        handle.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="com.acme.ChattyIT">\n')
        handle.write(
            b'<testcase classname="com.acme.ChattyIT" name="hugeLog" time="1.0"><system-out><![CDATA['
        )
        for _ in range(50 * 1024 * 1024 // len(system_out)):
            handle.write(system_out)
        handle.write(b"]]></system-out></testcase>\n")
        written = 50 << 20
        while written < target_bytes:
            head = f'<testcase classname="com.acme.ChattyIT" name="test{cases}" time="0.5">'.encode()
            handle.write(head)
            if cases % 10 == 0:
                handle.write(
                    b'<failure message="boom" type="java.lang.AssertionError">' + failure_body + b"</failure>"
                )
                written += len(failure_body)
            handle.write(b"<system-out><![CDATA[" + system_out + b"]]></system-out></testcase>\n")
            written += len(head) + len(system_out) + 60
            cases += 1
        handle.write(b"</testsuite>\n")
    return cases + 1


# ---------------------------------------------------------------------------------------------
# Passes


def bare_iterparse(files: list[Path]) -> int:
    count = 0
    for path in files:
        for _, element in etree.iterparse(str(path), tag="testcase"):
            count += 1
            element.clear()
    return count


def vigil_parse_and_load(files: list[Path], database: Path, timings: Timings) -> int:
    batch = timings.run("vigil parse", lambda: parse_many((path.name, path) for path in files))
    serial = timings.run("vigil parse 1 process", lambda: parse_many(((p.name, p) for p in files), workers=1))
    assert serial.table.equals(batch.table.combine_chunks()), "parallel and serial parses differ"
    redacted = timings.run(
        "vigil parse redacted", lambda: parse_many(((p.name, p) for p in files), redactor=REDACTOR)
    )
    assert redacted.table.num_rows == batch.table.num_rows and redacted.redactions, "redaction found nothing"
    timings.redactions = redacted.redactions
    # CPU time of one process is the steady figure on a shared machine (workers are invisible to it).
    timings.run(
        "vigil parse 1 process redacted",
        lambda: parse_many(((p.name, p) for p in files), workers=1, redactor=REDACTOR),
    )
    database.unlink(missing_ok=True)
    with duckdb.connect(str(database)) as connection:
        connection.execute("SET preserve_insertion_order = false")
        connection.register("parsed", batch.table)
        timings.run(
            "vigil load",
            lambda: connection.execute(
                f"CREATE TABLE test_results AS SELECT *, {TEST_ID_SQL} AS test_id "
                "FROM (SELECT CAST(? AS VARCHAR) AS repo, * FROM parsed)",
                ["acme/api"],
            ),
        )
        ((rows,),) = connection.execute("SELECT count(*) FROM test_results").fetchall()
    return rows


# A fresh interpreter's first call: worker start, pandas import on pyarrow's first conversion.
_COLD_CHILD = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[2])
import pyarrow
from observability_assets.core.junit import parse_many

if __name__ == "__main__":
    files = sorted(Path(sys.argv[1]).glob("*.xml"))
    started = time.perf_counter()
    rows = parse_many((path.name, path) for path in files).table.num_rows
    print(json.dumps({"rows": rows, "seconds": time.perf_counter() - started}))
"""


def cold_parse_seconds(reports: Path, workdir: Path) -> float:
    script = workdir / "cold_parse.py"  # a file, not -c: forkserver workers re-import __main__
    script.write_text(_COLD_CHILD)
    completed = subprocess.run(
        [sys.executable, str(script), str(reports), str(REPO_ROOT)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout)["seconds"]


def junitparser_fromfile(files: list[Path]) -> int:
    count = 0
    for path in files:
        junitparser.JUnitXml.fromfile(str(path))
        count += 1
    return count


def junitparser_read(files: list[Path]) -> int:
    count = 0
    for path in files:
        xml = junitparser.JUnitXml.fromfile(str(path))
        suites = [xml] if isinstance(xml, junitparser.TestSuite) else list(xml)
        for suite in suites:
            for case in suite:
                _ = (case.name, case.classname, case.time, case.result)
                count += 1
    return count


class Timings:
    """Best wall-clock and CPU time per measure over interleaved rounds.

    Interleaving keeps a load spike from other processes from favouring one side; CPU time
    (all threads of this process) is the steadier figure on a shared machine.
    """

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.redactions: dict[str, int] = {}

    def run(self, label: str, function: Callable[[], object]) -> object:
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        self.record(label, time.perf_counter() - wall, time.process_time() - cpu)
        return result

    def record(self, label: str, wall: float, cpu: float) -> None:
        self.wall[label] = min(wall, self.wall.get(label, float("inf")))
        self.cpu[label] = min(cpu, self.cpu.get(label, float("inf")))


# ---------------------------------------------------------------------------------------------
# Peak memory in a child process

# Peak RSS of the child itself is /proc's VmHWM: ru_maxrss would report the parent's high-water
# mark, which Linux carries across fork and exec (this bench process holds ~1 GB by then).
_CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[2])
import pandas, pyarrow
from observability_assets.core.junit import parse_report

def peak_mib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024

pyarrow.array(["warm-up"])
before = peak_mib()
started = time.perf_counter()
report = parse_report(sys.argv[1])
seconds = time.perf_counter() - started
peak = peak_mib()
print(json.dumps({"rows": report.num_rows, "seconds": seconds, "baseline_mib": before,
                  "peak_mib": peak, "growth_mib": peak - before}))
"""


def measure_in_child(path: Path) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(REPO_ROOT)], capture_output=True, text=True, check=True
    )
    return json.loads(completed.stdout)


# ---------------------------------------------------------------------------------------------


def main() -> None:
    options = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    options.add_argument("--files", type=int, default=1000)
    options.add_argument("--cases", type=int, default=1000, help="test cases per file")
    options.add_argument("--repeats", type=int, default=3, help="best of N for each timing")
    options.add_argument(
        "--big-report", action="store_true", help="also measure peak memory on one big report"
    )
    options.add_argument("--big-mib", type=int, default=1024, help="size of the big report")
    options.add_argument("--workdir", type=Path, help="keep generated data here instead of a temp dir")
    args = options.parse_args()

    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as temporary:
        workdir = args.workdir or Path(temporary)
        reports = workdir / "reports"
        reports.mkdir(parents=True, exist_ok=True)
        files = sorted(reports.glob("*.xml"))
        if len(files) != args.files:
            print(f"generating {args.files} x {args.cases} test cases in {reports}", flush=True)
            for stale in files:
                stale.unlink()
            for index in range(args.files):
                write_report(reports / f"TEST-{index:04d}.xml", args.cases, index)
            files = sorted(reports.glob("*.xml"))
        total_bytes = sum(path.stat().st_size for path in files)
        for path in files:  # warm the page cache
            path.read_bytes()
        pa.array(["warm-up"])
        cases = args.files * args.cases
        print(f"{len(files)} files, {cases:,} test cases, {total_bytes / 2**20:.0f} MiB", flush=True)

        timings = Timings()
        for round_number in range(1, args.repeats + 1):
            print(f"round {round_number}/{args.repeats}", flush=True)
            assert timings.run("bare", lambda: bare_iterparse(files)) == cases
            rows = vigil_parse_and_load(files, workdir / "bench.duckdb", timings)
            assert rows == cases
            timings.run("junitparser fromfile", lambda: junitparser_fromfile(files))
            assert timings.run("junitparser read", lambda: junitparser_read(files)) == cases
        cold = cold_parse_seconds(reports, workdir)
        wall, cpu = timings.wall, timings.cpu
        for measure in (wall, cpu):
            measure["vigil total"] = measure["vigil parse"] + measure["vigil load"]
            measure["vigil total 1 process"] = measure["vigil parse 1 process"] + measure["vigil load"]
            measure["vigil total redacted"] = measure["vigil parse redacted"] + measure["vigil load"]
        cores = usable_cores()

        def row(label: str, key: str, versus: str, versus_label: str, *, own_cpu: bool = True) -> str:
            # process_time() does not see worker processes: CPU is shown for one-process work only.
            cpu_cells = f"{cpu[key]:.2f} | {cpu[key] / cpu[versus]:.2f}x" if own_cpu else "– | –"
            return f"| {label} | {wall[key]:.2f} | {wall[key] / wall[versus]:.2f}x | {cpu_cells} | {versus_label} |"

        def faster(key: str) -> str:
            return f"{wall['junitparser read'] / wall[key]:.2f}x"

        lines = [
            "| measure | wall s | wall ratio | CPU s | CPU ratio | ratio of |",
            "|---|---:|---:|---:|---:|---|",
            row("bare `iterparse(tag='testcase')`, count + clear", "bare", "bare", "bare"),
            row(
                f"Vigil parse + normalise (`parse_many`, {cores} processes)",
                "vigil parse",
                "bare",
                "bare",
                own_cpu=False,
            ),
            row(
                "Vigil parse + normalise, one process (`workers=1`)", "vigil parse 1 process", "bare", "bare"
            ),
            row("DuckDB load, ids hashed in SQL", "vigil load", "bare", "bare"),
            row(
                "**Vigil parse + normalise + load** (goal ≤ 2.0x)",
                "vigil total",
                "bare",
                "bare",
                own_cpu=False,
            ),
            row("Vigil parse + normalise + load, one process", "vigil total 1 process", "bare", "bare"),
            row(
                "Vigil parse + normalise + **redact** (`redactor=`)",
                "vigil parse redacted",
                "bare",
                "bare",
                own_cpu=False,
            ),
            row(
                "**Vigil parse + normalise + redact + load** (goal ≤ 1.3x without redaction)",
                "vigil total redacted",
                "vigil total",
                "Vigil parse + normalise + load",
                own_cpu=False,
            ),
            row("junitparser `fromfile` (tree only, no fields read)", "junitparser fromfile", "bare", "bare"),
            row("junitparser `fromfile` + read every case", "junitparser read", "bare", "bare"),
            "",
            "| junitparser `fromfile` + read every case, against | times slower |",
            "|---|---:|",
            f"| **Vigil parse + normalise** (goal ≥ 3x) | **{faster('vigil parse')}** |",
            f"| Vigil parse + normalise + load | {faster('vigil total')} |",
            f"| Vigil parse + normalise, one process | {faster('vigil parse 1 process')} |",
            "",
            f"Redaction on/off in the same run: {wall['vigil total redacted'] / wall['vigil total']:.2f}x "
            f"the ingestion without it in wall time ({wall['vigil parse redacted'] / wall['vigil parse']:.2f}x on the "
            f"parse alone); one process, CPU time: "
            f"{(cpu['vigil parse 1 process redacted'] + cpu['vigil load']) / (cpu['vigil parse 1 process'] + cpu['vigil load']):.2f}x "
            f"with the load, {cpu['vigil parse 1 process redacted'] / cpu['vigil parse 1 process']:.2f}x on the parse; "
            f"findings replaced: {sum(timings.redactions.values()):,} "
            f"({', '.join(f'{kind} {count:,}' for kind, count in sorted(timings.redactions.items()))}).",
            "",
            f"First call in a fresh process (worker start and one-time imports included): "
            f"{cold:.2f} s for the parse, {cold / wall['bare']:.2f}x the bare pass; later calls reuse the workers.",
        ]
        print(
            f"\n{len(files):,} files, {cases:,} test cases, {total_bytes / 2**20:.0f} MiB, best of {args.repeats}\n"
        )
        print("\n".join(lines))

        if args.big_report:
            big = workdir / "big-report.xml"
            print(f"\ngenerating a ~{args.big_mib} MiB report", flush=True)
            big_cases = write_big_report(big, args.big_mib << 20)
            memory = measure_in_child(big)
            print(
                f"\n| big report | MiB | test cases | parse s | peak RSS MiB | growth MiB |\n|---|---:|---:|---:|---:|---:|\n"
                f"| {big.name} | {big.stat().st_size / 2**20:.0f} | {big_cases:,} | {memory['seconds']:.1f} "
                f"| {memory['peak_mib']:.0f} | {memory['growth_mib']:.0f} |"
            )


if __name__ == "__main__":
    main()


def run(quick: bool = False) -> str:
    """For bench/run_all.py: the timing table (and, in a full run, the 1 GB peak-memory row)."""
    import contextlib
    import io

    argv = ["bench_junit.py"] + (["--files", "200", "--repeats", "2"] if quick else ["--big-report"])
    captured = io.StringIO()
    saved, sys.argv = sys.argv, argv
    try:
        with contextlib.redirect_stdout(captured):
            main()
    finally:
        sys.argv = saved
    text = captured.getvalue()
    body = text[text.index("\n| measure") :].strip()
    return (
        "## JUnit ingestion (parse, normalise, load)\n\n"
        + text.split("round 1")[0].strip().splitlines()[-1]
        + "\n\n"
        + body
        + "\n\n"
        + _READING_NOTE
    )


_READING_NOTE = """\
How to read it: `parse_many` parses a big batch of report files in this process and in one
forkserver worker per further core (`core/process_pool.py`), which is what raw.test_results does
with a day's files and artifacts; the rows are identical to a one-process parse (the bench asserts
it). CPU time is shown only for one-process rows, since `process_time()` does not see the worker.
The one-process rows show what the parser itself costs: ~1.6x the bare pass, where the Python
callbacks (about 1 us per test case) are the floor of any lxml-based parser that reads the fields.
The DuckDB load does not keep insertion order (as `Warehouse.replace_partitions`), ~40% faster."""
