"""The Dagster instance every `vigil` command runs on, and quieter output for people."""

from __future__ import annotations

import os
from pathlib import Path

from resources.paths import data_path

QUIET_LOGGING = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
INSTANCE_YAML = "telemetry:\n  enabled: false\n"


def quiet_warnings() -> None:
    """Dagster's beta/preview notices and backfill-policy hints are for developers, not for users."""
    import warnings

    warnings.filterwarnings("ignore", message=r".*(is currently in beta|is currently in preview).*")
    warnings.filterwarnings("ignore", message=r".*varying BackfillPolicies.*")


# The repository's instance settings (telemetry off), found from any working directory.
SHIPPED_INSTANCE_YAML = Path(__file__).resolve().parents[2] / "dagster.yaml"


def ensure_dagster_home() -> Path:
    """Use `DAGSTER_HOME`, or `dagster_home/` in the data directory, with telemetry off."""
    home = Path(os.environ.get("DAGSTER_HOME") or data_path("dagster_home")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    config = home / "dagster.yaml"
    if not config.exists():
        shipped = SHIPPED_INSTANCE_YAML
        config.write_text(shipped.read_text() if shipped.exists() else INSTANCE_YAML)
    return home
