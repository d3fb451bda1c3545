"""raw.test_results: JUnit XML from the day's run artifacts and from a landing folder.

How reports are found, matched to runs and jobs, and guarded is described in `junit_collect`;
this module is the Dagster asset: one short read of the day's runs, the collection, and one
transaction replacing the day's rows and its rejections.
"""

from pathlib import Path

import dagster as dg
from dagster import AssetExecutionContext

from observability_assets.assetkit.metadata import column_schema
from observability_assets.assetkit.partitions import DAILY
from observability_assets.core.contract import TEST_RESULTS
from observability_assets.ingest.github_source import open_github, permanent_github_errors_fail_fast
from observability_assets.ingest.junit_collect import (
    ARTIFACT_SOURCE,
    LANDING_SOURCE,
    Collected,
    collect_artifacts,
    collect_landing,
    concat_tables,
    outcome_counts,
    read_run_contexts,
    scan_landing,
)
from observability_assets.ingest.junit_config import JUnitSourceConfig
from resources.github import GitHubResource
from resources.redaction import load_redactor
from resources.warehouse import WarehouseResource

REDACTION_SOURCE = "junit"


@dg.asset(
    key=TEST_RESULTS.qualified_name.split("."),
    description=TEST_RESULTS.comment,
    group_name="ingest",
    kinds={"junit", "duckdb"},
    owners=["team:platform"],
    partitions_def=DAILY,
    deps=[dg.AssetKey(["raw", "ci_runs"]), dg.AssetKey(["raw", "ci_jobs"])],
    metadata={"dagster/column_schema": column_schema(TEST_RESULTS), "partition_column": "partition_day"},
    retry_policy=dg.RetryPolicy(
        max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
    ),
)
def junit_test_results(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    github: GitHubResource,
    junit_sources: JUnitSourceConfig,
) -> dg.MaterializeResult:
    """Parse the partition's JUnit reports (run artifacts and landed drops) into raw.test_results."""
    key = context.partition_key
    wh = warehouse.get()
    redactor = load_redactor()
    contexts = read_run_contexts(wh, key, "test results")
    collected = Collected()
    if contexts:
        with permanent_github_errors_fail_fast():
            source = open_github(github)
            collected.extend(collect_artifacts(source.make_client, contexts, junit_sources, redactor))
    drops, sidecar_rejections = scan_landing(Path(junit_sources.landing_dir))
    todays_drops = [d for d in drops if d.day == key]
    landed = collect_landing(todays_drops, junit_sources, redactor)
    collected.count_redactions(landed.redactions)

    from observability_assets.core.junit import TEST_ID_SQL  # with the first table, not at load

    table = concat_tables(collected.tables + landed.tables)
    counts = wh.replace_partitions(
        key,
        {TEST_RESULTS: table},
        computed={TEST_RESULTS.qualified_name: {"test_id": TEST_ID_SQL}},
        rejections={
            ARTIFACT_SOURCE: [(r.path, r.reason) for r in collected.rejections],
            # Unreadable sidecars have no day; they are listed under every partition loaded.
            LANDING_SOURCE: [(r.path, r.reason) for r in landed.rejections + sidecar_rejections],
        },
        redactions={REDACTION_SOURCE: collected.redactions},
        source_totals={
            REDACTION_SOURCE: [
                (repo, measure, count)
                for repo, (listed, parsed) in sorted(collected.artifacts_by_repo.items())
                for measure, count in (("artifacts_listed", listed), ("artifacts_parsed", parsed))
            ]
        },
    )
    outcomes = outcome_counts(table)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": counts[TEST_RESULTS.qualified_name],
            "runs": len(contexts),
            "artifacts": collected.artifacts,
            "reports": collected.reports + landed.reports,
            "landing_drops": len(todays_drops),
            "rejected_inputs": len(collected.rejections) + len(landed.rejections) + len(sidecar_rejections),
            "outcomes": dg.MetadataValue.json(outcomes),
            # Findings replaced in messages and stack traces, per kind: counts, never text.
            "redactions": dg.MetadataValue.json(collected.redactions),
            "redacted_total": sum(collected.redactions.values()),
        }
    )
