"""Benchmark coverage ingestion on a 100 MB Cobertura report against a bare lxml pass.

    .venv/bin/python bench/bench_coverage.py            # ~100 MB report, 3 rounds
    .venv/bin/python bench/bench_coverage.py --mb 20    # smaller

The report is written like coverage.py's (`coverage xml --branch`): one <class> per file with its
<lines>, about one line in six a two-way branch, plus the <methods> copies that gcovr and Istanbul
add (Vigil must skip them). Each measurement runs in a fresh child process after its imports
(so peak memory, VmHWM from /proc/self/status, is the parse's own growth plus the interpreter):

1. the floor: ``lxml.etree.iterparse(path, tag="line")`` counting and clearing elements;
2. Vigil: `core.coverage.parse_report`, the per-file rows (`ingest.coverage_reports.to_frame`) and
   the load into raw.coverage_files of a fresh DuckDB warehouse (`Warehouse.replace_partitions`).

Acceptance (issue 19): Vigil at most 2x the floor, peak memory under 300 MB.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))


def write_report(path: Path, target_mb: float, seed: int = 19) -> tuple[int, int]:
    """A coverage.py-shaped Cobertura report of about `target_mb` MB; (files, class lines)."""
    rng = random.Random(seed)
    files = lines_total = 0
    with open(path, "w", encoding="utf-8") as out:
        out.write(
            '<?xml version="1.0" ?>\n<coverage version="7.18.0" timestamp="0" lines-valid="0" '
            'lines-covered="0" line-rate="0" branches-valid="0" branches-covered="0" branch-rate="0" complexity="0">\n'
            "\t<sources>\n\t\t<source>/home/runner/work/big/big</source>\n\t</sources>\n\t<packages>\n"
        )
        while out.tell() < target_mb * 1_000_000:
            out.write(
                f'\t\t<package name="pkg{files}" line-rate="0" branch-rate="0" complexity="0">\n\t\t\t<classes>\n'
            )
            for _ in range(20):
                n = rng.randint(50, 600)
                name = f"src/pkg{files}/module_{files}.py"
                out.write(
                    f'\t\t\t\t<class name="module_{files}.py" filename="{name}" complexity="0" line-rate="0" branch-rate="0">\n'
                )
                body = []
                for line in range(1, n + 1):
                    hits = 0 if rng.random() < 0.2 else rng.randint(1, 40)
                    if line % 6 == 0:
                        taken = rng.randint(0, 2)
                        body.append(
                            f'\t\t\t\t\t\t<line number="{line}" hits="{hits}" branch="true" '
                            f'condition-coverage="{taken * 50}% ({taken}/2)" missing-branches="{line + 1}"/>\n'
                        )
                    else:
                        body.append(f'\t\t\t\t\t\t<line number="{line}" hits="{hits}"/>\n')
                method_lines = "".join(body[: max(1, n // 10)])
                out.write(
                    f'\t\t\t\t\t<methods>\n\t\t\t\t\t\t<method name="f" signature="" line-rate="0" branch-rate="0">\n'
                    f"\t\t\t\t\t\t<lines>\n{method_lines}\t\t\t\t\t\t</lines>\n\t\t\t\t\t\t</method>\n\t\t\t\t\t</methods>\n"
                )
                out.write("\t\t\t\t\t<lines>\n" + "".join(body) + "\t\t\t\t\t</lines>\n\t\t\t\t</class>\n")
                files += 1
                lines_total += n
            out.write("\t\t\t</classes>\n\t\t</package>\n")
        out.write("\t</packages>\n</coverage>\n")
    return files, lines_total


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(kind: str, report: Path, workdir: Path) -> dict:
    """One measurement in this (fresh) process."""
    from lxml import etree

    if kind == "bare":
        start = time.perf_counter()
        count = 0
        for _, element in etree.iterparse(str(report), tag="line"):
            count += 1
            element.clear()
        return {"seconds": time.perf_counter() - start, "lines": count, "peak_mb": _peak_mb()}
    import pandas  # noqa: F401  - warm imports stay out of the timing

    from observability_assets.core.contract import COVERAGE_FILES
    from observability_assets.core.coverage import parse_report
    from observability_assets.ingest.coverage_reports import Collected, RunKey, to_frame
    from resources.warehouse import Warehouse

    warehouse = Warehouse(workdir / f"bench-{time.monotonic_ns()}.duckdb")
    warehouse.ensure_schema()
    imported_mb = _peak_mb()  # interpreter, Dagster (the asset module), DuckDB, pandas
    start = time.perf_counter()
    parsed = parse_report(report)
    parse_s = time.perf_counter() - start
    collected = Collected()
    collected.add(RunKey("acme/big", 1, 1, "f" * 40, "main"), [("coverage.xml", parsed)])
    frame = to_frame(collected)
    counts = warehouse.replace_partitions("2026-10-01", {COVERAGE_FILES: frame})
    total = time.perf_counter() - start
    return {
        "seconds": total,
        "parse_seconds": parse_s,
        "files": counts[COVERAGE_FILES.qualified_name],
        "lines_valid": int(frame["lines_valid"].sum()),
        "peak_mb": _peak_mb(),
        "imported_mb": imported_mb,
    }


def _child(kind: str, report: Path, workdir: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--report", str(report), "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=100.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=["bare", "vigil"])
    parser.add_argument("--report")
    parser.add_argument("--workdir")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, Path(args.report), Path(args.workdir))))
        return
    with tempfile.TemporaryDirectory(prefix="vigil-bench-coverage-") as tmp:
        workdir = Path(tmp)
        report = workdir / "coverage.xml"
        files, lines = write_report(report, args.mb)
        size_mb = report.stat().st_size / 1e6
        print(f"report: {size_mb:.1f} MB, {files} files, {lines} class lines (+ method copies)")
        _child("bare", report, workdir)  # page cache warm-up
        bare = [_child("bare", report, workdir) for _ in range(args.rounds)]
        vigil = [_child("vigil", report, workdir) for _ in range(args.rounds)]
        best_bare = min(r["seconds"] for r in bare)
        best_vigil = min(r["seconds"] for r in vigil)
        assert vigil[0]["files"] == files and vigil[0]["lines_valid"] == lines, vigil[0]
        result = {
            "report_mb": round(size_mb, 1),
            "files": files,
            "class_lines": lines,
            "bare_iterparse_s": round(best_bare, 2),
            "vigil_parse_s": round(min(r["parse_seconds"] for r in vigil), 2),
            "vigil_parse_and_load_s": round(best_vigil, 2),
            "ratio": round(best_vigil / best_bare, 2),
            "bare_peak_mb": round(max(r["peak_mb"] for r in bare)),
            "vigil_peak_mb": round(max(r["peak_mb"] for r in vigil)),
            "vigil_peak_after_imports_mb": round(max(r["imported_mb"] for r in vigil)),
        }
        print(json.dumps(result, indent=2))
        ok = result["ratio"] <= 2.0 and result["vigil_peak_mb"] < 300
        print("acceptance (<= 2x bare iterparse, < 300 MB peak):", "HOLDS" if ok else "DOES NOT HOLD")


if __name__ == "__main__":
    main()
