"""Configuration from the environment, the one way every resource of the code location reads it."""

import os
from typing import Any

import dagster as dg


def env_or(name: str, default: Any, kind: type = str) -> Any:
    """`EnvVar(name)` when it is set (so the UI shows where a value comes from), else the default."""
    if not os.environ.get(name):
        return default
    return dg.EnvVar.int(name) if kind is int else dg.EnvVar(name)


MODE_ENV = "VIGIL_MODE"


class SettingError(RuntimeError):
    """A setting the code location cannot start without; the message names the variable."""


def demo_mode() -> bool:
    """`VIGIL_MODE=demo`: the simulated organisation and services serve (`make demo`, `make dev`)."""
    return os.environ.get(MODE_ENV, "").strip().lower() == "demo"


def required_env(name: str, hint: str) -> dg.EnvVar:
    """`EnvVar(name)`, or a `SettingError` naming the variable when it is unset."""
    if not os.environ.get(name, "").strip():
        raise SettingError(f"{name} is not set: {hint}")
    return dg.EnvVar(name)
