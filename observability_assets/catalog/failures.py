"""Failure triage for the composition root: failures clustered by root cause (see `derived.failure_clusters`).

Unpartitioned and refreshed with the other derived marts (`refresh_derived`), after the flaky
scores whose statuses it carries.
"""

import dagster as dg

from observability_assets.derived.failure_clusters import (
    failure_clusters,
    failure_clusters_consistent,
    failure_members_complete,
)

FAILURE_ASSETS: list[dg.AssetsDefinition] = [failure_clusters]
FAILURE_CHECKS: list[dg.AssetChecksDefinition] = [failure_clusters_consistent, failure_members_complete]
