"""A planted secret never reaches disk unredacted (issue 20).

`vigil demo` over a small window of a seed the redaction rules were not tuned on; then every file
the run left behind is searched, as bytes, for every planted value: the warehouse and its analyst
snapshot, the ETag cache and every other cache, the demo GitHub's issue store (issue bodies and
comments), the ledger's anchor, reports, Dagster's event storage, run and compute logs in
DAGSTER_HOME, and the command's own output. Only the downloaded artifact zips are left out: they
are the input, as GitHub serves it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from observability_assets.demo.simulator import OrgSpec, simulate
from resources.warehouse import Warehouse

DAYS = 3
SEED = 19

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


def test_no_planted_secret_is_written_anywhere(tmp_path: Path) -> None:
    corpus = simulate(OrgSpec(seed=SEED, days=DAYS)).planted_corpus()
    values = corpus.values()
    assert len(values) >= 30 and len(corpus.kinds()) >= 10 and len(corpus.dialects()) == 4

    vigil = Path(sys.executable).with_name("vigil")
    env = {
        **os.environ,
        "VIGIL_DEMO_DAYS": str(DAYS),
        "VIGIL_DEMO_SEED": str(SEED),
        "VIGIL_DEMO_DRILL": "0",
        "VIGIL_ISSUES": "github",
        "VIGIL_MODE": "demo",
        "DAGSTER_HOME": str(tmp_path / ".dagster_home"),
    }
    env.pop("VIGIL_DATA_DIR", None)
    env.pop("VIGIL_WAREHOUSE", None)
    result = subprocess.run(
        [str(vigil), "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "the warehouse equals the simulated organisation" in result.stdout

    files = [
        path
        for path in tmp_path.rglob("*")
        if path.is_file() and not (path.suffix == ".zip" and "artifacts" in path.parts)
    ]
    names = {path.name for path in files}
    assert {"warehouse.duckdb", "warehouse.snapshot.duckdb"} <= names
    assert any(path.suffix == ".db" for path in files)  # Dagster's event storage
    outputs = [result.stdout.encode(), result.stderr.encode()]
    needles = [value.encode() for value in values]
    leaks = []
    for path in files:
        data = path.read_bytes()
        leaks += [(str(path.relative_to(tmp_path)), value[:12]) for value in needles if value in data]
    for stream in outputs:
        leaks += [("output", value[:12]) for value in needles if value in stream]
    assert leaks == []

    # The redaction happened (not merely an absence of failures): placeholders and counts.
    warehouse = Warehouse(tmp_path / "data" / "warehouse.duckdb")
    with warehouse.read("planted") as con:
        ((placeholders,),) = con.execute(
            "SELECT count(*) FROM raw.test_results WHERE concat(message, stack_trace) LIKE '%[REDACTED:%'"
        ).fetchall()
        counts = dict(
            con.execute(
                "SELECT kind, sum(count) FROM ops.redactions WHERE source = 'junit' GROUP BY kind"
            ).fetchall()
        )
    assert placeholders >= len(values)
    assert set(corpus.kinds()) <= set(counts), (corpus.kinds(), counts)
