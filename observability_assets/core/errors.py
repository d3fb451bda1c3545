"""Errors and rejection records shared by the pure ingestion code.

Hostile or broken inputs are not bugs: they are rejected with a reason precise enough to act on,
recorded in `ops.rejected_inputs`, and the rest of the partition still loads.
"""

from __future__ import annotations

from dataclasses import dataclass


class RejectedInput(ValueError):
    """An input that cannot be used, with the reason (no secrets, no large payload excerpts)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Rejection:
    """One rejected input: `path` is a file path, archive member or URL; `reason` says why."""

    path: str
    reason: str
