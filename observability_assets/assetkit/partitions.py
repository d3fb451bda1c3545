"""Daily partitions shared by every ingestion asset (UTC days from `VIGIL_START_DATE`)."""

from __future__ import annotations

import os

import dagster as dg

DEFAULT_START_DATE = "2026-10-01"


def start_date() -> str:
    return os.environ.get("VIGIL_START_DATE", DEFAULT_START_DATE)


DAILY = dg.DailyPartitionsDefinition(start_date=start_date(), timezone="UTC")
