"""Loading the code location is cheap and side-effect free: no network, no database, no files."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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
    # Heavy libraries load on first use, not with the definitions (every step process loads them).
    loaded = [
        name for name in ("numpy", "pandas", "pyarrow", "sqlglot", "scipy", "requests", "matplotlib")
        if name in sys.modules and type(sys.modules[name]).__name__ != "_LazyModule"
    ]
    print("HEAVY", loaded)
    repo = defs.get_repository_def()
    keys = sorted("/".join(k.path) for k in repo.asset_graph.get_all_asset_keys())
    print("ASSETS", keys)
    print("JOBS", sorted(j.name for j in repo.get_all_jobs()))
    """
)


def _load(tmp_path: Path, **settings: str) -> tuple[subprocess.CompletedProcess, Path]:
    workdir = tmp_path / "cwd"
    workdir.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "VIGIL_"))}
    env |= {"PYTHONPATH": str(REPO_ROOT), "DAGSTER_HOME": str(tmp_path / "home"), **settings}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
    )
    return result, workdir


@pytest.mark.parametrize(
    "settings",
    [{"VIGIL_MODE": "demo"}, {"GITHUB_API_URL": "https://ghe.example.com/api/v3", "GITHUB_TOKEN": "t0ken"}],
    ids=["demo", "production"],
)
def test_definitions_load_without_io_and_without_heavy_libraries(tmp_path: Path, settings) -> None:
    result, workdir = _load(tmp_path, **settings)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "raw/ci_runs" in result.stdout and "raw/ci_jobs" in result.stdout
    assert "daily_ingest" in result.stdout
    assert "HEAVY []" in result.stdout, result.stdout
    # Nothing was written where the code location was loaded from.
    assert list(workdir.iterdir()) == []


def test_outside_demo_mode_a_missing_github_setting_stops_the_load_naming_it(tmp_path: Path) -> None:
    result, _ = _load(tmp_path)
    assert result.returncode != 0
    assert "SettingError: GITHUB_API_URL is not set" in result.stderr
    result, _ = _load(tmp_path / "b", GITHUB_API_URL="https://api.github.com")
    assert "SettingError: GITHUB_TOKEN is not set" in result.stderr
    result, _ = _load(tmp_path / "c", GITHUB_API_URL="demo", GITHUB_TOKEN="t")
    assert "GITHUB_API_URL=demo: the simulated organisation serves only in demo mode" in result.stderr


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
