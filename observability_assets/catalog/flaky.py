"""Flaky tests for the composition root: the assets and checks to add to the Definitions.

The counting models (`staging.test_job_health`, `staging.test_commit_outcomes`,
`marts.flaky_history`) are SQL files in dbt_like_sql/ and come with `build_sql_assets`; this
module adds the Python-decided parts (see `derived.flaky_scores`):

- `marts/flaky_daily`: daily-partitioned like the ingestion, so it joins the daily job;
- `marts/flaky_scores` and `exports/quarantine_lists`: unpartitioned, refreshed after it.
"""

import dagster as dg

from observability_assets.derived.flaky_scores import (
    flaky_daily,
    flaky_scores,
    flaky_scores_consistent,
    quarantine_lists,
    quarantine_lists_match,
)

FLAKY_ASSETS: list[dg.AssetsDefinition] = [flaky_daily, flaky_scores, quarantine_lists]
FLAKY_CHECKS: list[dg.AssetChecksDefinition] = [flaky_scores_consistent, quarantine_lists_match]
