"""Loading the code location is cheap and side-effect free: no network, no database, no files."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

PROBE = textwrap.dedent(
    """
    import socket, sys
    import duckdb

    def refuse(*args, **kwargs):
        raise AssertionError(f"I/O at load time: {args!r}")

    socket.socket.connect = refuse
    socket.create_connection = refuse
    duckdb.connect = refuse

    import dagster as dg
    from observability_assets.definitions import defs

    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    keys = sorted("/".join(k.path) for k in repo.asset_graph.get_all_asset_keys())
    print("ASSETS", keys)
    print("JOBS", sorted(j.name for j in repo.get_all_jobs()))
    """
)


def test_definitions_load_without_io(tmp_path: Path) -> None:
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "VIGIL_"))}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["DAGSTER_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "raw/ci_runs" in result.stdout and "raw/ci_jobs" in result.stdout
    assert "daily_ingest" in result.stdout
    # Nothing was written where the code location was loaded from.
    assert list(workdir.iterdir()) == []


def test_dagster_cli_validates_the_workspace(tmp_path: Path) -> None:
    dagster = Path(sys.executable).with_name("dagster")
    (tmp_path / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
