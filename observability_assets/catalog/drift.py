"""Regression drift and CI cost anomalies for the composition root: assets and checks.

- `raw/benchmarks` (daily partitions, with the other ingestion assets): github-action-benchmark
  custom JSON from run artifacts and the landing folder.
- `marts/regression_drift`: change points over `marts/drift_series` (a SQL view in
  dbt_like_sql/marts) of test and job durations, probe and shadow latencies and benchmarks.
- `marts/cost_anomalies`: expected versus actual spend per scope and day over `marts/ci_cost_daily`.
- `marts/baseline_drift`: golden baselines compared with the current outputs; its blocking check
  `baselines_hold` fails on drift beyond tolerance.

Loading reads the baselines manifest, nothing more.
"""

import dagster as dg

from observability_assets.derived.baselines import baselines_dir, baselines_hold, build_baseline_drift
from observability_assets.derived.cost_anomalies import cost_anomalies, cost_anomalies_consistent
from observability_assets.derived.regression_drift import regression_drift, regression_drift_consistent
from observability_assets.ingest.benchmarks import benchmark_results

DRIFT_ASSETS: list[dg.AssetsDefinition] = [
    benchmark_results,
    regression_drift,
    cost_anomalies,
    build_baseline_drift(baselines_dir()),
]
DRIFT_CHECKS: list[dg.AssetChecksDefinition] = [
    regression_drift_consistent,
    cost_anomalies_consistent,
    baselines_hold,
]
