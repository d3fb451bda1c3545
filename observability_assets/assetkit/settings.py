"""Configuration from the environment, the one way every resource of the code location reads it."""

import os
from typing import Any

import dagster as dg


def env_or(name: str, default: Any, kind: type = str) -> Any:
    """`EnvVar(name)` when it is set (so the UI shows where a value comes from), else the default."""
    if not os.environ.get(name):
        return default
    return dg.EnvVar.int(name) if kind is int else dg.EnvVar(name)
