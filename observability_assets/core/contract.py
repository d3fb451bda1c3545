"""The warehouse contract: every table analysts and other tools rely on, with column comments.

Pure data (no DuckDB import): the warehouse resource turns it into DDL, the asset layer into
Dagster column schemas, and `docs/warehouse.md` is generated from it. Types are plain SQL types
that DuckDB, Postgres and Spark all understand, except `VARCHAR[]` (DuckDB/Postgres arrays; Spark
spells it ARRAY<STRING>). Timestamps are UTC without a zone so every engine reads them the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    comment: str


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    comment: str
    columns: tuple[Column, ...]
    # The column that holds the Dagster partition key (a DATE) for daily-partitioned tables.
    partition_column: str | None = None
    # Columns that identify one row; used for asset checks and documentation.
    key: tuple[str, ...] = field(default_factory=tuple)

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _c(name: str, sql_type: str, comment: str) -> Column:
    return Column(name, sql_type, comment)


PARTITION_DAY = _c("partition_day", "DATE", "Daily partition (UTC) this row was ingested under.")
INGESTED_AT = _c("ingested_at", "TIMESTAMP", "When Vigil wrote this row (UTC).")

CI_RUNS = Table(
    "raw",
    "ci_runs",
    "GitHub Actions workflow runs, one row per run attempt, partitioned by run creation day (UTC).",
    (
        _c("repo", "VARCHAR", "Repository as owner/name."),
        _c("run_id", "BIGINT", "GitHub workflow run id (same for every attempt)."),
        _c("run_attempt", "INTEGER", "Attempt number, 1 for the first execution, counting up on re-runs."),
        _c("run_number", "INTEGER", "Per-workflow run counter shown in the GitHub UI."),
        _c("workflow_id", "BIGINT", "GitHub workflow id."),
        _c("workflow_name", "VARCHAR", "Workflow name as shown in GitHub."),
        _c("event", "VARCHAR", "Trigger event: push, pull_request, schedule, workflow_dispatch, ..."),
        _c("head_branch", "VARCHAR", "Branch the run was triggered on."),
        _c("head_sha", "VARCHAR", "Commit the run built."),
        _c("actor", "VARCHAR", "Login of the user who triggered this attempt."),
        _c("status", "VARCHAR", "queued, in_progress or completed."),
        _c(
            "conclusion",
            "VARCHAR",
            "success, failure, cancelled, skipped, timed_out, ... (NULL while running).",
        ),
        _c("created_at", "TIMESTAMP", "When the run was created (UTC); decides the partition."),
        _c("run_started_at", "TIMESTAMP", "When this attempt started (UTC)."),
        _c(
            "updated_at", "TIMESTAMP", "Last update of this attempt (UTC); completion time for finished runs."
        ),
        _c("html_url", "VARCHAR", "Link to the run attempt in the GitHub UI."),
        PARTITION_DAY,
        INGESTED_AT,
    ),
    partition_column="partition_day",
    key=("repo", "run_id", "run_attempt"),
)

CI_JOBS = Table(
    "raw",
    "ci_jobs",
    "GitHub Actions jobs, one row per job of each run attempt, partitioned like raw.ci_runs.",
    (
        _c("repo", "VARCHAR", "Repository as owner/name."),
        _c("run_id", "BIGINT", "Workflow run id the job belongs to."),
        _c("run_attempt", "INTEGER", "Run attempt the job belongs to."),
        _c("job_id", "BIGINT", "GitHub job id (unique per attempt)."),
        _c("job_name", "VARCHAR", "Job name, including matrix values."),
        _c("workflow_name", "VARCHAR", "Workflow name."),
        _c("head_branch", "VARCHAR", "Branch of the run."),
        _c("head_sha", "VARCHAR", "Commit the job built."),
        _c("status", "VARCHAR", "queued, in_progress or completed."),
        _c("conclusion", "VARCHAR", "success, failure, cancelled, skipped, ... (NULL while running)."),
        _c("created_at", "TIMESTAMP", "When the job was queued (UTC)."),
        _c("started_at", "TIMESTAMP", "When a runner picked the job up (UTC)."),
        _c("completed_at", "TIMESTAMP", "When the job finished (UTC)."),
        _c("runner_labels", "VARCHAR[]", "Labels the job asked for (runs-on)."),
        _c("runner_os", "VARCHAR", "Linux, Windows or macOS, derived from the labels."),
        _c("runner_name", "VARCHAR", "Name of the runner that executed the job."),
        _c("runner_group_name", "VARCHAR", "Runner group (GitHub Actions for hosted runners)."),
        _c("html_url", "VARCHAR", "Link to the job in the GitHub UI."),
        PARTITION_DAY,
        INGESTED_AT,
    ),
    partition_column="partition_day",
    key=("repo", "run_id", "run_attempt", "job_id"),
)

TEST_RESULTS = Table(
    "raw",
    "test_results",
    "One execution of one test case from JUnit XML reports; reruns inside one report count up `attempt`.",
    (
        _c("repo", "VARCHAR", "Repository as owner/name."),
        _c("run_id", "BIGINT", "Workflow run id (or the sidecar's run id for landed reports)."),
        _c("run_attempt", "INTEGER", "Run attempt the report came from."),
        _c("job_id", "BIGINT", "Job that produced the report, when known."),
        _c("head_sha", "VARCHAR", "Commit under test."),
        _c("branch", "VARCHAR", "Branch under test."),
        _c("test_id", "VARCHAR", "Stable identity: hash of repo, classname (or file) and test name."),
        _c("suite", "VARCHAR", "Name of the enclosing testsuite."),
        _c("classname", "VARCHAR", "classname attribute (NULL when the dialect has none)."),
        _c("test_name", "VARCHAR", "name attribute of the testcase."),
        _c("file", "VARCHAR", "file attribute, when present."),
        _c("outcome", "VARCHAR", "passed, failed, error or skipped."),
        _c("duration_s", "DOUBLE", "Duration in seconds (NULL when missing or unreadable)."),
        _c("attempt", "INTEGER", "0 for the first execution; reruns inside one report count up."),
        _c("message", "VARCHAR", "Failure, error or skip message (truncated)."),
        _c("stack_trace", "VARCHAR", "Failure or error body (truncated)."),
        _c("report_path", "VARCHAR", "Path of the report inside its artifact or landing folder."),
        PARTITION_DAY,
        INGESTED_AT,
    ),
    partition_column="partition_day",
    key=("repo", "run_id", "run_attempt", "job_id", "report_path", "test_id", "attempt"),
)

REJECTED_INPUTS = Table(
    "ops",
    "rejected_inputs",
    "Inputs that could not be used, with the reason; the rest of their partition still loaded.",
    (
        _c(
            "source",
            "VARCHAR",
            "Which ingestion rejected it: github_runs, junit_artifact, junit_landing, ...",
        ),
        _c("path_or_url", "VARCHAR", "File path, archive member or URL (never with credentials)."),
        _c("reason", "VARCHAR", "Why it was rejected, precise enough to act on."),
        _c("seen_at", "TIMESTAMP", "When it was rejected (UTC)."),
        _c("partition_key", "VARCHAR", "Partition being loaded when it was rejected, if any."),
    ),
    key=("source", "path_or_url", "partition_key"),
)

ISSUES = Table(
    "ops",
    "issues",
    "Issues Vigil opened or would open, one row per finding fingerprint.",
    (
        _c(
            "fingerprint",
            "VARCHAR",
            "Stable hash of the finding; the issue body carries it as a hidden marker.",
        ),
        _c("kind", "VARCHAR", "flaky-test, perf-regression, cost-anomaly, incident, run-failure, summary."),
        _c("repo", "VARCHAR", "Repository the issue lives in."),
        _c("number", "INTEGER", "Issue number (NULL when only recorded, not opened)."),
        _c("url", "VARCHAR", "Issue link."),
        _c("state", "VARCHAR", "open, closed or would_open (dry run)."),
        _c("title", "VARCHAR", "Issue title."),
        _c("occurrences", "INTEGER", "How often the finding was seen."),
        _c("updated_at", "TIMESTAMP", "Last change (UTC)."),
    ),
    key=("fingerprint",),
)

LEDGER = Table(
    "ops",
    "ledger",
    "Append-only, hash-chained record of every automated decision and action.",
    (
        _c("seq", "BIGINT", "Position in the chain, from 1."),
        _c("at", "TIMESTAMP", "When it happened (UTC)."),
        _c("actor", "VARCHAR", "Sensor or resource that acted."),
        _c("action", "VARCHAR", "What was done or decided (including dry runs and skips)."),
        _c("subject", "VARCHAR", "Service, test, issue or run it concerns."),
        _c("detail", "VARCHAR", "Canonical JSON with the evidence and outcome."),
        _c("prev_hash", "VARCHAR", "Hash of the previous row."),
        _c("hash", "VARCHAR", "SHA-256 over prev_hash and this row's canonical JSON."),
    ),
    key=("seq",),
)

TABLES: tuple[Table, ...] = (CI_RUNS, CI_JOBS, TEST_RESULTS, REJECTED_INPUTS, ISSUES, LEDGER)
SCHEMAS: tuple[str, ...] = ("raw", "seeds", "staging", "marts", "ops")


def table(qualified_name: str) -> Table:
    """Look a contract table up by `schema.name`."""
    for t in TABLES:
        if t.qualified_name == qualified_name:
            return t
    raise KeyError(f"{qualified_name} is not a table of the warehouse contract")
