"""Code-health signals for the composition root: coverage reports and their mart.

- `raw/coverage_files` (daily partitions, with the other ingestion assets): Cobertura, JaCoCo,
  LCOV, coverage.py JSON and Go profiles from run artifacts and the landing folder.
- `raw/dependency_alerts`: the Dependabot alerts of every crawled repository (a snapshot).
- `marts/coverage_daily` and `marts/dependency_risk` are SQL models (dbt_like_sql/marts).
- Policy gates (config/policies.yaml) as blocking asset checks on those marts and on
  `marts/flaky_scores`; `vigil gate` applies the same rules to one commit.

Their resource (`coverage_sources`) is chosen by the composition root. Loading reads nothing.
"""

import dagster as dg

from observability_assets.derived.policy_gates import POLICY_CHECKS
from observability_assets.ingest.coverage_reports import coverage_files
from observability_assets.ingest.dependency_alerts import dependency_alerts

CODE_HEALTH_RAW_ASSETS: list[dg.AssetsDefinition] = [coverage_files]
CODE_HEALTH_ASSETS: list[dg.AssetsDefinition] = [dependency_alerts]
# Blocking checks of config/policies.yaml on the marts (ERROR blocks; VIGIL_POLICY_CHECK_SEVERITY=WARN).
CODE_HEALTH_CHECKS: list[dg.AssetChecksDefinition] = POLICY_CHECKS
