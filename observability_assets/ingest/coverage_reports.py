"""raw.coverage_files: coverage reports from the day's run artifacts and from a landing folder.

The conventions are those of raw.test_results (`junit_collect`):

1. **Run artifacts** of the partition's runs whose name matches `VIGIL_COVERAGE_ARTIFACTS`
   (comma-separated globs, default `*coverage*`), downloaded through the GitHub client (size
   capped, cached by artifact id beside its ETag cache) and opened with the guarded unzip of `core.archives`. Members
   whose name looks like a coverage report (`core.coverage.is_report_name`) are parsed; the
   attempt is the one whose time span holds the artifact's creation.
2. **Landing folder** (`VIGIL_COVERAGE_LANDING`): drops with the same `vigil.json` sidecar as JUnit
   drops (`repo`, `run_id`, `commit` required; `branch`, `run_attempt`, `created_at`), holding
   reports or zips of them.

All reports of one run attempt are merged into one row per source file (`core.coverage.
merge_preferred`: nyc's LCOV and Cobertura of one test run never count twice). Hostile or broken
reports and archives are recorded in `ops.rejected_inputs`; the rest of the partition loads, all of
it replaced in one transaction.
"""

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster import AssetExecutionContext
from pydantic import Field

from observability_assets.assetkit.metadata import column_schema
from observability_assets.assetkit.partitions import DAILY
from observability_assets.core.archives import ArchiveMember, iter_zip_reports
from observability_assets.core.contract import COVERAGE_FILES
from observability_assets.core.errors import Rejection
from observability_assets.ingest.github_source import open_github, permanent_github_errors_fail_fast
from observability_assets.ingest.junit_collect import (
    SIDECAR,
    LandingDrop,
    RunContext,
    parse_github_time,
    read_run_contexts,
    scan_landing,
)
from resources.github import GitHubResource
from resources.paths import data_path
from resources.warehouse import WarehouseResource

if TYPE_CHECKING:
    from observability_assets.core.coverage import CoverageReport

ARTIFACT_SOURCE, LANDING_SOURCE = "coverage_artifact", "coverage_landing"
DEFAULT_COVERAGE_ARTIFACTS = "*coverage*"


class CoverageSourceConfig(dg.ConfigurableResource):
    """Where coverage reports come from (env `VIGIL_COVERAGE_ARTIFACTS`, `VIGIL_COVERAGE_LANDING`)."""

    artifact_patterns: str = Field(
        default=DEFAULT_COVERAGE_ARTIFACTS,
        description="Comma-separated globs of artifact names that hold coverage reports (empty: none).",
    )
    landing_dir: str = Field(
        default_factory=lambda: data_path("landing", "coverage"),
        description="Landing folder of coverage drops (sidecar convention of the JUnit landing folder).",
    )
    max_artifact_bytes: int = Field(default=512 * 1024 * 1024, description="Largest artifact zip downloaded.")


@dataclass(frozen=True)
class RunKey:
    repo: str
    run_id: int
    run_attempt: int
    head_sha: str | None
    branch: str | None


@dataclass
class Collected:
    # Parsed reports per run attempt, each with its path inside the artifact or drop.
    reports: "dict[RunKey, list[tuple[str, CoverageReport]]]" = field(default_factory=dict)
    rejections: list[Rejection] = field(default_factory=list)
    artifacts: int = 0

    def add(self, key: RunKey, parsed: "list[tuple[str, CoverageReport]]") -> None:
        self.reports.setdefault(key, []).extend(parsed)

    @property
    def report_count(self) -> int:
        return sum(len(reports) for reports in self.reports.values())


def collect_artifacts(client: Any, contexts: list[RunContext], config: CoverageSourceConfig) -> Collected:
    """Coverage reports in the matching artifacts of the partition's runs."""
    # Parsing pulls in core.junit's numpy and pyarrow: imported when an asset runs, not at load.
    from observability_assets.core.coverage import parse_reports

    patterns = [p.strip() for p in config.artifact_patterns.split(",") if p.strip()]
    out = Collected()
    if not patterns:
        return out
    for ctx in contexts:
        for artifact in client.list_artifacts(ctx.repo, ctx.run_id):
            name = artifact.get("name", "")
            if artifact.get("expired") or not any(fnmatch.fnmatch(name, p) for p in patterns):
                continue
            out.artifacts += 1
            label = f"{ctx.repo}/runs/{ctx.run_id}/artifacts/{artifact['id']}({name})"
            try:
                target = client.cached_artifact(ctx.repo, artifact["id"], max_bytes=config.max_artifact_bytes)
            except Exception as error:  # a failed download rejects this artifact, not the day
                out.rejections.append(Rejection(label, f"download failed: {error}"))
                continue
            attempt = ctx.attempt_at(parse_github_time(artifact.get("created_at")))
            key = RunKey(ctx.repo, ctx.run_id, attempt, ctx.head_sha, ctx.branch)
            parsed, rejections = parse_reports(_archive_reports(target, label, out.rejections))
            out.add(key, [(f"{name}/{path}", report) for path, report in parsed])
            out.rejections += [Rejection(f"{label}/{r.path}", r.reason) for r in rejections]
    return out


def _archive_reports(zip_path: Path, label: str, rejections: list[Rejection]) -> Iterator[tuple[str, Any]]:
    """Coverage-report members of one zip; unsafe or oversized members are rejected.

    Every member passes the archive's guards (zip-slip names, bombs, nested archives are reported
    whatever their name); only members named like a coverage report are parsed.
    """
    from observability_assets.core.coverage import is_report_name

    for item in iter_zip_reports(zip_path, pattern="**", archive_name=label):
        if isinstance(item, ArchiveMember):
            if is_report_name(item.name):
                yield item.name, item
        elif item.path == label or is_report_name(item.path) or item.reason.startswith("unsafe path"):
            rejections.append(
                Rejection(item.path if item.path == label else f"{label}/{item.path}", item.reason)
            )


def collect_landing(drops: list[LandingDrop]) -> Collected:
    """Coverage reports (and zips of them) in the day's landing drops."""
    from observability_assets.core.coverage import is_report_name, parse_reports

    out = Collected()
    for drop in drops:
        data = drop.sidecar
        key = RunKey(
            str(data["repo"]),
            int(data["run_id"]),
            int(data.get("run_attempt") or 1),
            str(data["commit"]),
            data.get("branch"),
        )
        sources: list[tuple[str, Any]] = []
        for path in sorted(drop.folder.rglob("*")):
            relative = path.relative_to(drop.folder).as_posix()
            if path.is_symlink():
                out.rejections.append(Rejection(str(path), "symlink in landing folder"))
            elif path.suffix == ".zip":
                sources += [
                    (f"{relative}/{name}", member)
                    for name, member in _archive_reports(path, str(path), out.rejections)
                ]
            elif path.is_file() and path.name != SIDECAR and is_report_name(relative):
                sources.append((relative, path))
        parsed, rejections = parse_reports(sources)
        out.add(key, [(f"{drop.folder.name}/{path}", report) for path, report in parsed])
        out.rejections += [Rejection(f"{drop.folder}/{r.path}", r.reason) for r in rejections]
    return out


def to_frame(*collections: Collected) -> Any:
    """One row per (run attempt, normalised file path) over every collection."""
    import pandas as pd

    from observability_assets.core.coverage import merge_preferred

    rows = []
    for collected in collections:
        for key, reports in collected.reports.items():
            for report_path, report, file in merge_preferred(reports, repo=key.repo):
                rows.append(
                    {
                        "repo": key.repo,
                        "run_id": key.run_id,
                        "run_attempt": key.run_attempt,
                        "head_sha": key.head_sha,
                        "branch": key.branch,
                        "path": file.path,
                        "lines_valid": file.lines_valid,
                        "lines_covered": file.lines_covered,
                        "branches_valid": file.branches_valid,
                        "branches_covered": file.branches_covered,
                        "format": report.format,
                        "report_path": report_path,
                    }
                )
    columns = [c for c in COVERAGE_FILES.column_names if c not in ("partition_day", "ingested_at")]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("branches_valid", "branches_covered"):
        frame[column] = frame[column].astype("Int64")
    return frame


@dg.asset(
    key=COVERAGE_FILES.qualified_name.split("."),
    description=COVERAGE_FILES.comment,
    group_name="ingest",
    kinds={"coverage", "duckdb"},
    owners=["team:quality"],
    partitions_def=DAILY,
    deps=[dg.AssetKey(["raw", "ci_runs"]), dg.AssetKey(["raw", "ci_jobs"])],
    metadata={"dagster/column_schema": column_schema(COVERAGE_FILES), "partition_column": "partition_day"},
    retry_policy=dg.RetryPolicy(
        max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
    ),
)
def coverage_files(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    github: GitHubResource,
    coverage_sources: CoverageSourceConfig,
) -> dg.MaterializeResult:
    """Per-file coverage of the partition's runs (artifacts) and of the landing drops dated that day."""
    key = context.partition_key
    wh = warehouse.get()
    contexts = read_run_contexts(wh, key, "coverage")
    from_artifacts = Collected()
    if contexts and coverage_sources.artifact_patterns.strip():
        with permanent_github_errors_fail_fast():
            client = open_github(github).make_client()
            from_artifacts = collect_artifacts(client, contexts, coverage_sources)
    drops, sidecar_rejections = scan_landing(Path(coverage_sources.landing_dir))
    todays = [d for d in drops if d.day == key]
    landed = collect_landing(todays)
    counts = wh.replace_partitions(
        key,
        {COVERAGE_FILES: to_frame(from_artifacts, landed)},
        rejections={
            ARTIFACT_SOURCE: [(r.path, r.reason) for r in from_artifacts.rejections],
            # Unreadable sidecars have no day; they are listed under every partition loaded.
            LANDING_SOURCE: [(r.path, r.reason) for r in landed.rejections + sidecar_rejections],
        },
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": counts[COVERAGE_FILES.qualified_name],
            "artifacts": from_artifacts.artifacts,
            "reports": from_artifacts.report_count + landed.report_count,
            "landing_drops": len(todays),
            "rejected_inputs": len(from_artifacts.rejections)
            + len(landed.rejections)
            + len(sidecar_rejections),
        }
    )
