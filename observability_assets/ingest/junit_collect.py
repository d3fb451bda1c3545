"""Collecting JUnit reports for raw.test_results: artifacts, landing drops, Arrow assembly.

Two sources fill one daily partition (the day the run was created, as for raw.ci_runs):

1. **Run artifacts.** For every run of the partition the artifacts whose name matches
   `VIGIL_JUNIT_ARTIFACTS` (comma-separated globs, ignoring case) are downloaded through the GitHub resource
   (size-capped, cached on disk by artifact id since artifacts never change), opened with the
   guarded unzip in `core.archives`, and the members matching `VIGIL_JUNIT_GLOB` are parsed.
   The attempt an artifact belongs to is the one whose time span holds the artifact's creation;
   the job is the attempt's job whose name the artifact name matches by normalised tokens
   (`core.job_match`: exact, else best unique token match, else none); `job_match` records which.
2. **Landing folder** (`VIGIL_JUNIT_LANDING`) for CI systems other than GitHub Actions. Each drop
   is a folder holding a sidecar `vigil.json` and any number of reports (`*.xml` or `*.zip`):

       {"repo": "acme/api", "run_id": 981, "run_attempt": 1, "commit": "<40-hex sha>",
        "branch": "main", "job": "unit tests", "created_at": "2026-10-03T10:00:00Z"}

   `repo`, `run_id` and `commit` are required; `created_at` (UTC) picks the partition and
   defaults to the sidecar's modification time. The `junit_landing_sensor` notices new drops.
   Landed rows have no job id and a NULL `job_match` (nothing was matched): they are labelled
   `landing` downstream, where unmatched artifact rows are `unknown job`.

Every hostile or broken file is recorded in `ops.rejected_inputs` with its reason and the rest of
the partition loads; all of it (rows and rejections) is replaced in one transaction.

No Dagster import here: worker processes that parse a big day's archives import this module, and
they start faster without it (the settings live in `junit_config`).
"""

from __future__ import annotations

import fnmatch
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from observability_assets.core.archives import ArchiveMember, iter_zip_reports
from observability_assets.core.errors import Rejection
from observability_assets.core.job_match import JobMatch, match_job
from observability_assets.core.process_pool import (
    PARALLEL_MIN_BYTES,
    SHARES_PER_WORKER,
    contiguous_shares,
    file_size,
    map_tables,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from observability_assets.core.redaction import Redactor
    from observability_assets.ingest.junit_config import JUnitSourceConfig
    from resources.github import GitHubClient
    from resources.warehouse import Warehouse

ARTIFACT_SOURCE = "junit_artifact"
LANDING_SOURCE = "junit_landing"
SIDECAR = "vigil.json"
DOWNLOAD_WORKERS = 4


@dataclass
class RunContext:
    """What the partition's runs tell about the artifacts they uploaded."""

    repo: str
    run_id: int
    head_sha: str | None
    branch: str | None
    # (attempt, started, finished) in attempt order.
    attempts: list[tuple[int, datetime | None, datetime | None]] = field(default_factory=list)
    # attempt -> [(job name, job id)]
    jobs: dict[int, list[tuple[str, int]]] = field(default_factory=dict)

    def attempt_at(self, created: datetime | None) -> int:
        if created is not None:
            for attempt, started, finished in reversed(self.attempts):
                if started is not None and started <= created and (finished is None or created <= finished):
                    return attempt
            for attempt, started, _ in reversed(self.attempts):
                if started is not None and started <= created:
                    return attempt
        return self.attempts[-1][0] if self.attempts else 1

    def job_for(self, attempt: int, artifact_name: str) -> tuple[int | None, JobMatch]:
        """The job of `attempt` that uploaded the artifact, and how it was matched."""
        return match_job(artifact_name, self.jobs.get(attempt, []))


def load_run_contexts(runs: Any, jobs: Any) -> list[RunContext]:
    """Run contexts from the partition's raw.ci_runs and raw.ci_jobs rows (DataFrames)."""
    contexts: dict[tuple[str, int], RunContext] = {}
    for row in runs.sort_values(["repo", "run_id", "run_attempt"]).itertuples(index=False):
        ctx = contexts.setdefault(
            (row.repo, int(row.run_id)), RunContext(row.repo, int(row.run_id), row.head_sha, row.head_branch)
        )
        ctx.attempts.append((int(row.run_attempt), _utc(row.run_started_at), _utc(row.updated_at)))
        ctx.head_sha, ctx.branch = row.head_sha, row.head_branch
    for row in jobs.itertuples(index=False):
        ctx = contexts.get((row.repo, int(row.run_id)))
        if ctx is not None and row.job_name:
            ctx.jobs.setdefault(int(row.run_attempt), []).append((str(row.job_name), int(row.job_id)))
    return list(contexts.values())


def read_run_contexts(warehouse: Warehouse, partition_key: str, purpose: str) -> list[RunContext]:
    """Contexts of the runs of one partition, in one short read of raw.ci_runs and raw.ci_jobs."""
    with warehouse.read(f"runs of {partition_key} for {purpose}") as con:
        runs = con.execute(
            "SELECT repo, run_id, run_attempt, head_sha, head_branch, run_started_at, updated_at "
            "FROM raw.ci_runs WHERE partition_day = CAST(? AS DATE)",
            [partition_key],
        ).df()
        jobs = con.execute(
            "SELECT repo, run_id, run_attempt, job_id, job_name FROM raw.ci_jobs WHERE partition_day = CAST(? AS DATE)",
            [partition_key],
        ).df()
    return load_run_contexts(runs, jobs)


def _utc(value: Any) -> datetime | None:
    if value is None or value != value:  # None or NaT
        return None
    stamp = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


@dataclass
class Collected:
    tables: list[pa.Table] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    reports: int = 0
    artifacts: int = 0
    # Findings replaced in messages and stack traces, per kind (never their text).
    redactions: dict[str, int] = field(default_factory=dict)
    # repo -> [artifacts listed that match, artifacts parsed into rows], for reconciliation.
    artifacts_by_repo: dict[str, list[int]] = field(default_factory=dict)

    def extend(self, other: Collected) -> None:
        self.tables += other.tables
        self.rejections += other.rejections
        self.reports += other.reports
        self.artifacts += other.artifacts
        self.count_redactions(other.redactions)
        for repo, (listed, parsed) in other.artifacts_by_repo.items():
            self.count_artifacts(repo, listed, parsed)

    def count_artifacts(self, repo: str, listed: int = 0, parsed: int = 0) -> None:
        counts = self.artifacts_by_repo.setdefault(repo, [0, 0])
        counts[0] += listed
        counts[1] += parsed

    def count_redactions(self, found: dict[str, int]) -> None:
        for kind, count in found.items():
            self.redactions[kind] = self.redactions.get(kind, 0) + count


def _with_context(table: pa.Table, context: RowContext, prefix: str) -> pa.Table:
    """Add the run's constant columns cheaply (dictionary-encoded) and prefix report paths."""
    import numpy as np
    import pyarrow as pa

    n = table.num_rows
    zeros = pa.array(np.zeros(n, dtype=np.int32))

    def text(value: str | None) -> pa.Array:
        return pa.DictionaryArray.from_arrays(zeros, pa.array([value], pa.string()))

    def integer(value: int | None) -> pa.Array:
        return pa.nulls(n, pa.int64()) if value is None else pa.array(np.full(n, value, dtype=np.int64))

    paths = table.column("report_path").combine_chunks()
    prefixed = pa.array([f"{prefix}/{p}" for p in paths.dictionary.to_pylist()], pa.string())
    columns = {
        **{name: table.column(name) for name in table.column_names if name != "report_path"},
        "report_path": pa.DictionaryArray.from_arrays(paths.indices, prefixed),
        "repo": text(context.repo),
        "run_id": integer(context.run_id),
        "run_attempt": integer(context.run_attempt),
        "job_id": integer(context.job_id),
        "job_match": text(context.job_match),
        "head_sha": text(context.head_sha),
        "branch": text(context.branch),
    }
    return pa.table(columns, schema=loaded_schema())


def loaded_schema() -> pa.Schema:
    """The Arrow schema handed to the warehouse: parser columns plus the run's context."""
    import pyarrow as pa

    from observability_assets.core.junit import ARROW_SCHEMA

    text = pa.dictionary(pa.int32(), pa.string())
    return pa.schema(
        [
            *ARROW_SCHEMA,
            pa.field("report_path", text),
            pa.field("repo", text),
            pa.field("run_id", pa.int64()),
            pa.field("run_attempt", pa.int64()),
            pa.field("job_id", pa.int64()),
            pa.field("job_match", text),
            pa.field("head_sha", text),
            pa.field("branch", text),
        ]
    )


@dataclass(frozen=True)
class RowContext:
    repo: str
    run_id: int
    run_attempt: int
    job_id: int | None
    head_sha: str | None
    branch: str | None
    job_match: JobMatch | None = None  # None: a landing drop, not matched


def _parse_archive_or_files(
    entries: Iterator[tuple[str, Any]],
    rejections: list[Rejection],
    prefix: str,
    workers: int,
    redactor: Redactor | None,
    redactions: dict[str, int],
) -> tuple[pa.Table | None, int]:
    seen = 0

    def sources() -> Iterator[tuple[str, Any]]:
        nonlocal seen
        for name, source in entries:
            if isinstance(source, Rejection):
                rejections.append(Rejection(f"{prefix}/{source.path}", source.reason))
            else:
                seen += 1
                yield name, source

    from observability_assets.core.junit import parse_many  # pyarrow, numpy, lxml: on first parse

    batch = parse_many(sources(), workers=workers, redactor=redactor)
    rejections.extend(Rejection(f"{prefix}/{r.path}", r.reason) for r in batch.rejections)
    for kind, count in batch.redactions.items():
        redactions[kind] = redactions.get(kind, 0) + count
    return (batch.table if batch.table.num_rows else None), seen


def _zip_entries(path: Path, pattern: str, archive_name: str) -> Iterator[tuple[str, Any]]:
    for item in iter_zip_reports(path, pattern=pattern, archive_name=archive_name):
        yield (item.name, item) if isinstance(item, ArchiveMember) else (item.path, item)


@dataclass(frozen=True)
class _Artifact:
    """A downloaded artifact waiting to be parsed; picklable, so a worker process can take it."""

    label: str
    zip_path: str
    name: str
    row: RowContext


def collect_artifacts(
    make_client: Any, contexts: list[RunContext], config: JUnitSourceConfig, redactor: Redactor | None = None
) -> Collected:
    """Download and parse the matching artifacts of every run; rejections never stop the rest.

    Downloads run in threads (network-bound); parsing holds the GIL, so once everything is on disk
    the archives are parsed over worker processes when there is enough XML to repay them."""
    patterns = [p.strip().lower() for p in config.artifact_patterns.split(",") if p.strip()]
    local = threading.local()

    def client() -> GitHubClient:
        if not hasattr(local, "client"):
            local.client = make_client()
        return local.client

    def download(ctx: RunContext) -> tuple[list[_Artifact], list[Rejection], int]:
        artifacts: list[_Artifact] = []
        rejections: list[Rejection] = []
        matched = 0
        gh = client()
        for artifact in gh.list_artifacts(ctx.repo, ctx.run_id):
            name = artifact.get("name", "")
            # "JUnit (ubuntu-latest)" is as much a report artifact as "junit-ubuntu-latest".
            if artifact.get("expired") or not any(fnmatch.fnmatchcase(name.lower(), p) for p in patterns):
                continue
            matched += 1
            label = f"{ctx.repo}/runs/{ctx.run_id}/artifacts/{artifact['id']}({name})"
            try:
                target = gh.cached_artifact(ctx.repo, artifact["id"], max_bytes=config.max_artifact_bytes)
            except Exception as error:  # a failed download rejects this artifact, not the day
                rejections.append(Rejection(label, f"download failed: {error}"))
                continue
            attempt = ctx.attempt_at(parse_github_time(artifact.get("created_at")))
            job_id, how = ctx.job_for(attempt, name)
            row = RowContext(ctx.repo, ctx.run_id, attempt, job_id, ctx.head_sha, ctx.branch, how)
            artifacts.append(_Artifact(label, str(target), name, row))
        return artifacts, rejections, matched

    total = Collected()
    downloaded: list[_Artifact] = []
    with ThreadPoolExecutor(DOWNLOAD_WORKERS, thread_name_prefix="artifacts") as pool:
        for ctx, (artifacts, rejections, matched) in zip(contexts, pool.map(download, contexts), strict=True):
            downloaded += artifacts
            total.rejections += rejections
            total.artifacts += matched
            total.count_artifacts(ctx.repo, listed=matched)
    workers = config.workers()
    groups = _artifact_groups(downloaded, workers)
    for table, (rejections, reports, redactions, parsed_repos) in map_tables(
        partial(_parse_artifacts, report_glob=config.report_glob, redactor=redactor),
        groups,
        workers=workers,
        preload=[__name__, "pandas"],
    ):
        if table.num_rows:
            total.tables.append(table)
        total.rejections += rejections
        total.reports += reports
        total.count_redactions(redactions)
        for repo in parsed_repos:
            total.count_artifacts(repo, parsed=1)
    return total


def _artifact_groups(artifacts: list[_Artifact], workers: int) -> list[list[_Artifact]]:
    """One group (parsed here) unless the archives hold enough XML to repay worker processes;
    then contiguous groups of about equal compressed size, several per worker."""
    sizes = [file_size(artifact.zip_path) for artifact in artifacts]
    # Reports compress about tenfold in a zip: compare what they will be once inflated.
    if workers <= 1 or len(artifacts) < 2 or sum(sizes) * 10 < PARALLEL_MIN_BYTES:
        return [artifacts] if artifacts else []
    return contiguous_shares(artifacts, sizes, workers * SHARES_PER_WORKER)


def _parse_artifacts(
    artifacts: list[_Artifact], report_glob: str, redactor: Redactor | None
) -> tuple[pa.Table, tuple[list[Rejection], int, dict[str, int], list[str]]]:
    """Parse archives into one table with their run context (runs in a worker or here)."""
    tables: list[pa.Table] = []
    rejections: list[Rejection] = []
    redactions: dict[str, int] = {}
    parsed_repos: list[str] = []  # one entry per artifact that gave rows
    reports = 0
    for artifact in artifacts:
        # One process: this may already be a worker, and archive members cannot be handed on anyway.
        table, seen = _parse_archive_or_files(
            _zip_entries(Path(artifact.zip_path), report_glob, artifact.label),
            rejections,
            artifact.label,
            1,
            redactor,
            redactions,
        )
        reports += seen
        if table is not None:
            tables.append(_with_context(table, artifact.row, artifact.name))
            parsed_repos.append(artifact.row.repo)
    return concat_tables(tables), (rejections, reports, redactions, parsed_repos)


def parse_github_time(text: str | None) -> datetime | None:
    """An ISO time as GitHub writes it (`...Z`), in UTC; None for none."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True)
class LandingDrop:
    folder: Path
    sidecar: dict[str, Any]
    day: str
    mtime_ns: int


REQUIRED_SIDECAR_KEYS = ("repo", "run_id", "commit")


def scan_landing(landing: Path) -> tuple[list[LandingDrop], list[Rejection]]:
    """Every drop in the landing folder with its partition day; broken sidecars are rejected."""
    drops: list[LandingDrop] = []
    rejections: list[Rejection] = []
    if not landing.is_dir():
        return drops, rejections
    for sidecar in sorted(landing.rglob(SIDECAR)):
        try:
            data = json.loads(sidecar.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("the sidecar is not a JSON object")
            missing = [k for k in REQUIRED_SIDECAR_KEYS if data.get(k) in (None, "")]
            if missing:
                raise ValueError(f"sidecar lacks {', '.join(missing)}")
            int(data["run_id"])
            stat = sidecar.stat()
            created = parse_github_time(data.get("created_at")) or datetime.fromtimestamp(stat.st_mtime, UTC)
        except (OSError, ValueError, TypeError) as error:
            rejections.append(Rejection(str(sidecar), f"unusable sidecar: {error}"))
            continue
        drops.append(LandingDrop(sidecar.parent, data, created.date().isoformat(), stat.st_mtime_ns))
    return drops, rejections


def collect_landing(
    drops: list[LandingDrop], config: JUnitSourceConfig, redactor: Redactor | None = None
) -> Collected:
    out = Collected()
    for drop in drops:
        entries: list[tuple[str, Any]] = []
        for path in sorted(drop.folder.rglob("*")):
            relative = path.relative_to(drop.folder).as_posix()
            if path.is_symlink():
                out.rejections.append(Rejection(str(path), "symlink in landing folder"))
            elif path.suffix == ".zip":
                entries.extend(_zip_entries(path, config.report_glob, str(path)))
            elif path.is_file() and path.name != SIDECAR and _glob_match(relative, config.report_glob):
                entries.append((relative, path))
        table, seen = _parse_archive_or_files(
            iter(entries), out.rejections, str(drop.folder), config.workers(), redactor, out.redactions
        )
        out.reports += seen
        if table is not None:
            data = drop.sidecar
            row = RowContext(
                repo=str(data["repo"]),
                run_id=int(data["run_id"]),
                run_attempt=int(data.get("run_attempt") or 1),
                job_id=None,
                head_sha=str(data["commit"]),
                branch=data.get("branch"),
            )
            out.tables.append(_with_context(table, row, drop.folder.name))
    return out


def _glob_match(relative: str, pattern: str) -> bool:
    # "**/" also matches files at the top of the drop.
    return fnmatch.fnmatch(relative, pattern) or (
        pattern.startswith("**/") and fnmatch.fnmatch(relative, pattern[3:])
    )


def concat_tables(tables: list[pa.Table]) -> pa.Table:
    import pyarrow as pa

    return pa.concat_tables(tables) if tables else loaded_schema().empty_table()


def outcome_counts(table: pa.Table) -> dict[str, int]:
    import pyarrow.compute as pc

    return {
        entry["values"]: entry["counts"] for entry in pc.value_counts(table.column("outcome")).to_pylist()
    }
