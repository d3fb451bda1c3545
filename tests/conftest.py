"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# The suite runs Vigil on its simulated organisation: demo mode, set before any test module imports
# the composition root. Tests of production mode unset it themselves.
os.environ["VIGIL_MODE"] = "demo"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The shared reference fixtures (`VIGIL_FIXTURES`, default ../shared/fixtures).

    In CI a missing folder fails the run: silently skipped conformance tests would hide breakage.
    """
    path = Path(os.environ.get("VIGIL_FIXTURES") or REPO_ROOT.parent / "shared" / "fixtures")
    if not path.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"fixtures folder {path} is missing (set VIGIL_FIXTURES)")
        pytest.skip(f"fixtures folder {path} is missing")
    return path


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never read the developer's configuration or write into the repository's data/."""
    for name in ("GITHUB_API_URL", "GITHUB_TOKEN", "VIGIL_GITHUB_REPOS", "VIGIL_WAREHOUSE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VIGIL_MODE", "demo")
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / ".dagster_home"))
    (tmp_path / ".dagster_home").mkdir()
    (tmp_path / ".dagster_home" / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    monkeypatch.chdir(tmp_path)
