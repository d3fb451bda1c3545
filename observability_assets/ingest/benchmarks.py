"""raw.benchmarks: benchmark results in github-action-benchmark's custom JSON format.

github-action-benchmark (https://github.com/benchmark-action/github-action-benchmark) accepts any
benchmark tool through two custom formats, `customSmallerIsBetter` and `customBiggerIsBetter`: a
JSON array of `{"name", "unit", "value", "range"?, "extra"?}`. Vigil reads that array, and also
the entries the action itself stores (`{"tool": ..., "benches": [...]}`), so a team can point
Vigil at what it already produces. Two sources fill one daily partition:

1. **Landing folder** (`VIGIL_BENCHMARK_LANDING`), with the JUnit landing convention: each drop
   is a folder holding a sidecar `vigil.json` and the result files (`*.json`):

       {"repo": "acme/api", "run_id": 981, "commit": "<40-hex sha>", "branch": "main",
        "run_attempt": 1, "created_at": "2026-10-03T10:00:00Z",
        "tool": "customBiggerIsBetter", "suite": "throughput"}

   `repo`, `run_id` and `commit` are required; `tool` defaults to the configured default
   (`customSmallerIsBetter`, as in the action) and `suite` to each file's name without `.json`.
2. **Run artifacts** of the partition's runs whose name matches `VIGIL_BENCHMARK_ARTIFACTS`
   (default `*benchmark*`), opened with the guarded unzip; every `*.json` member is read.

A file that is not valid custom JSON is rejected as a whole with its reason in
`ops.rejected_inputs` (like the action, which refuses it); the rest of the partition loads.
"""

import fnmatch
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
from pydantic import Field

from observability_assets.assetkit.metadata import column_schema
from observability_assets.assetkit.partitions import DAILY
from observability_assets.core.archives import ArchiveMember, iter_zip_reports
from observability_assets.core.contract import BENCHMARKS
from observability_assets.core.errors import RejectedInput, Rejection
from observability_assets.ingest.github_source import open_github, permanent_github_errors_fail_fast
from observability_assets.ingest.junit_collect import (
    SIDECAR,
    LandingDrop,
    RunContext,
    read_run_contexts,
    scan_landing,
)
from resources.github import GitHubResource
from resources.paths import data_path
from resources.warehouse import WarehouseResource

SMALLER, BIGGER = "customSmallerIsBetter", "customBiggerIsBetter"
TOOLS = {SMALLER: False, BIGGER: True}
LANDING_SOURCE, ARTIFACT_SOURCE = "benchmark_landing", "benchmark_artifact"
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_TEXT_CHARS = 1000


class BenchmarkSourceConfig(dg.ConfigurableResource):
    """Where benchmark results come from (env `VIGIL_BENCHMARK_LANDING`, `VIGIL_BENCHMARK_ARTIFACTS`)."""

    landing_dir: str = Field(
        default_factory=lambda: data_path("landing", "benchmarks"),
        description="Landing folder of result drops.",
    )
    artifact_patterns: str = Field(
        default="*benchmark*", description="Comma-separated globs of artifact names holding results."
    )
    file_glob: str = Field(default="**/*.json", description="Glob of result files inside an artifact.")
    default_tool: str = Field(
        default=SMALLER, description="customSmallerIsBetter or customBiggerIsBetter for bare arrays."
    )
    max_artifact_bytes: int = Field(default=64 * 1024 * 1024, description="Largest artifact zip downloaded.")


@dataclass(frozen=True)
class Origin:
    """The run a result file belongs to."""

    repo: str
    run_id: int
    run_attempt: int
    head_sha: str | None
    branch: str | None
    measured_at: datetime | None
    source: str


@dataclass
class Collected:
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    files: int = 0


def parse_results(data: bytes, default_tool: str) -> tuple[bool, list[dict[str, Any]]]:
    """(bigger_is_better, results) of one custom-JSON file; raises RejectedInput with the reason."""
    if len(data) > MAX_FILE_BYTES:
        raise RejectedInput(f"benchmark file over {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise RejectedInput(f"not JSON: {error}") from None
    tool = default_tool
    if isinstance(document, dict):
        tool = document.get("tool", default_tool)
        document = document.get("benches")
    if tool not in TOOLS:
        raise RejectedInput(f"tool {str(tool)[:60]!r} is neither {SMALLER} nor {BIGGER}")
    if not isinstance(document, list):
        raise RejectedInput("expected an array of {name, unit, value} or an object with `benches`")
    results, seen = [], set()
    for index, entry in enumerate(document):
        results.append(_result(index, entry))
        if results[-1]["name"] in seen:
            raise RejectedInput(f"entry {index}: duplicate name {results[-1]['name'][:80]!r}")
        seen.add(results[-1]["name"])
    return TOOLS[tool], results


def _result(index: int, entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise RejectedInput(f"entry {index} is not an object")
    name, unit, value = entry.get("name"), entry.get("unit"), entry.get("value")
    if not isinstance(name, str) or not name.strip():
        raise RejectedInput(f"entry {index}: `name` must be a non-empty string")
    if not isinstance(unit, str):
        raise RejectedInput(f"entry {index} ({name[:80]!r}): `unit` must be a string")
    # bool is an int in Python, but `true` is no measurement.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RejectedInput(f"entry {index} ({name[:80]!r}): `value` must be a finite number")
    return {
        "name": name[:MAX_TEXT_CHARS],
        "unit": unit[:MAX_TEXT_CHARS],
        "value": float(value),
        "range": _text(entry.get("range")),
        "extra": _text(entry.get("extra")),
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[:MAX_TEXT_CHARS]


def _rows(origin: Origin, suite: str, path: str, data: bytes, default_tool: str) -> list[dict[str, Any]]:
    bigger, results = parse_results(data, default_tool)
    return [
        {
            **r,
            "repo": origin.repo,
            "run_id": origin.run_id,
            "run_attempt": origin.run_attempt,
            "head_sha": origin.head_sha,
            "branch": origin.branch,
            "suite": suite,
            "bigger_is_better": bigger,
            "source": origin.source,
            "source_path": path,
            "measured_at": origin.measured_at,
        }
        for r in results
    ]


def collect_landing(drops: list[LandingDrop], default_tool: str) -> Collected:
    """Every `*.json` result file of the drops (the sidecar aside)."""
    out = Collected()
    for drop in drops:
        sidecar = drop.sidecar
        tool = str(sidecar.get("tool") or default_tool)
        origin = Origin(
            repo=str(sidecar["repo"]),
            run_id=int(sidecar["run_id"]),
            run_attempt=int(sidecar.get("run_attempt") or 1),
            head_sha=str(sidecar["commit"]),
            branch=sidecar.get("branch"),
            measured_at=_parse_time(sidecar.get("created_at")),
            source=LANDING_SOURCE,
        )
        for path in sorted(drop.folder.rglob("*.json")):
            if path.name == SIDECAR:
                continue
            label = str(path)
            if path.is_symlink():
                out.rejections.append(Rejection(label, "symlink in landing folder"))
                continue
            out.files += 1
            suite = str(sidecar.get("suite") or path.stem)
            try:
                out.rows += _rows(origin, suite, label, _read_capped(path), tool)
            except (RejectedInput, OSError) as error:
                out.rejections.append(Rejection(label, getattr(error, "reason", str(error))))
    return out


def _read_capped(path: Path) -> bytes:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise RejectedInput(f"benchmark file over {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    return path.read_bytes()


def collect_artifacts(client: Any, contexts: list[RunContext], config: BenchmarkSourceConfig) -> Collected:
    """Result files inside the matching artifacts of the partition's runs."""
    patterns = [p.strip() for p in config.artifact_patterns.split(",") if p.strip()]
    out = Collected()
    if not patterns:
        return out
    for ctx in contexts:
        for artifact in client.list_artifacts(ctx.repo, ctx.run_id):
            name = artifact.get("name", "")
            if artifact.get("expired") or not any(fnmatch.fnmatch(name, p) for p in patterns):
                continue
            label = f"{ctx.repo}/runs/{ctx.run_id}/artifacts/{artifact['id']}({name})"
            try:
                target = client.cached_artifact(ctx.repo, artifact["id"], max_bytes=config.max_artifact_bytes)
            except Exception as error:  # a failed download rejects this artifact, not the day
                out.rejections.append(Rejection(label, f"download failed: {error}"))
                continue
            created = _parse_time(artifact.get("created_at"))
            origin = Origin(
                ctx.repo,
                ctx.run_id,
                ctx.attempt_at(created),
                ctx.head_sha,
                ctx.branch,
                created,
                ARTIFACT_SOURCE,
            )
            _read_archive(target, label, origin, config, out)
    return out


def _read_archive(
    target: Path, label: str, origin: Origin, config: BenchmarkSourceConfig, out: Collected
) -> None:
    for item in iter_zip_reports(target, pattern=config.file_glob, archive_name=label):
        if not isinstance(item, ArchiveMember):
            out.rejections.append(Rejection(f"{label}/{item.path}", item.reason))
            continue
        out.files += 1
        path = f"{label}/{item.name}"
        try:
            out.rows += _rows(origin, Path(item.name).stem, path, item.read_bytes(), config.default_tool)
        except RejectedInput as error:
            out.rejections.append(Rejection(path, error.reason))


def _parse_time(text: Any) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)
    except ValueError:
        return None


def to_frame(rows: list[dict[str, Any]]) -> Any:
    import pandas as pd

    columns = [c for c in BENCHMARKS.column_names if c not in ("partition_day", "ingested_at")]
    return pd.DataFrame(rows, columns=columns)


@dg.asset(
    key=BENCHMARKS.qualified_name.split("."),
    description=BENCHMARKS.comment,
    group_name="ingest",
    kinds={"json", "duckdb"},
    owners=["team:quality"],
    partitions_def=DAILY,
    deps=[dg.AssetKey(["raw", "ci_runs"]), dg.AssetKey(["raw", "ci_jobs"])],
    metadata={"dagster/column_schema": column_schema(BENCHMARKS), "partition_column": "partition_day"},
    retry_policy=dg.RetryPolicy(
        max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
    ),
)
def benchmark_results(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    github: GitHubResource,
    benchmark_sources: BenchmarkSourceConfig,
) -> dg.MaterializeResult:
    """Benchmark results of the partition's runs (artifacts) and of the landing drops dated that day."""
    key = context.partition_key
    wh = warehouse.get()
    contexts = read_run_contexts(wh, key, "benchmarks")
    from_artifacts = Collected()
    if contexts and benchmark_sources.artifact_patterns.strip():
        with permanent_github_errors_fail_fast():
            client = open_github(github).make_client()
            from_artifacts = collect_artifacts(client, contexts, benchmark_sources)
    drops, sidecar_rejections = scan_landing(Path(benchmark_sources.landing_dir))
    todays = [d for d in drops if d.day == key]
    landed = collect_landing(todays, benchmark_sources.default_tool)
    counts = wh.replace_partitions(
        key,
        {BENCHMARKS: to_frame(from_artifacts.rows + landed.rows)},
        rejections={
            ARTIFACT_SOURCE: [(r.path, r.reason) for r in from_artifacts.rejections],
            # Unreadable sidecars have no day; they are listed under every partition loaded.
            LANDING_SOURCE: [(r.path, r.reason) for r in landed.rejections + sidecar_rejections],
        },
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": counts[BENCHMARKS.qualified_name],
            "files": from_artifacts.files + landed.files,
            "landing_drops": len(todays),
            "rejected_inputs": len(from_artifacts.rejections)
            + len(landed.rejections)
            + len(sidecar_rejections),
        }
    )
