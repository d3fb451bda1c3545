"""Where Vigil keeps its runtime state: one data directory (`VIGIL_DATA_DIR`, default `data/`).

The warehouse, its analyst snapshot, caches, landing folders, quarantine lists, reports and the
demo's state all default to places inside it, so a deployment moves or wipes Vigil's state as one
folder, and running `vigil` from another working directory scatters nothing. Each path can still
be set on its own by its variable (`VIGIL_WAREHOUSE`, `VIGIL_JUNIT_LANDING`, ...).
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "VIGIL_DATA_DIR"
DEFAULT_DATA_DIR = "data"


def data_dir() -> Path:
    """The data directory: `VIGIL_DATA_DIR`, or `data/` under the working directory."""
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def data_path(*parts: str) -> str:
    """A default runtime path inside the data directory, e.g. `data_path("cache", "etags")`."""
    return str(data_dir().joinpath(*parts))
