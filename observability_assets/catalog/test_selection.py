"""Predictive test selection for the composition root: the changed-files ingestion and the model.

- `raw/commit_files`: daily-partitioned like the run crawl (after it: it reads the day's SHAs);
- `marts/test_selection_models`: unpartitioned, retrained with the other derived tables.
"""

import dagster as dg

from observability_assets.derived.test_selection import test_selection_models
from observability_assets.ingest.commit_files import commit_files

TEST_SELECTION_RAW_ASSETS: list[dg.AssetsDefinition] = [commit_files]
TEST_SELECTION_ASSETS: list[dg.AssetsDefinition] = [test_selection_models]
