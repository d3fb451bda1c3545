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
    # Columns of an entity that belongs to exactly one partition, the earliest that holds it (a
    # commit under the day of its first build): loading a partition removes the entity from later
    # ones, so days loaded in any order (a parallel backfill) end in the same state.
    earliest_partition_of: tuple[str, ...] = field(default_factory=tuple)

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
        _c(
            "job_match",
            "VARCHAR",
            # GitHub does not say which job uploaded an artifact: it is inferred from the names
            # (core.job_match), and how tells an analyst how far to trust job_id.
            "How job_id was found for a run artifact: exact (the artifact name's tokens are the job "
            "name's), tokens (best unique token overlap) or none (no job: labelled 'unknown job'); "
            "NULL for landing-folder reports, which name no job id (labelled 'landing').",
        ),
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

COMMIT_FILES = Table(
    "raw",
    "commit_files",
    "Files each built commit changed against its first parent (GitHub's commit API), one row per "
    "commit and file, under the day (UTC) of the commit's first CI run. What predictive test "
    "selection learns from, with raw.test_results.",
    (
        _c("repo", "VARCHAR", "Repository as owner/name."),
        _c("sha", "VARCHAR", "The commit (head_sha of the runs that built it)."),
        _c(
            "parent_sha",
            "VARCHAR",
            "Its first parent: the diff is against it (NULL for a root commit). Walking parent_sha "
            "from a pull request's head down to its base gives the pull request's own commits.",
        ),
        _c("path", "VARCHAR", "Path of the changed file (the new path of a renamed one)."),
        _c("status", "VARCHAR", "added, modified, removed, renamed, copied, changed or unchanged."),
        _c("additions", "INTEGER", "Lines added."),
        _c("deletions", "INTEGER", "Lines deleted."),
        _c("previous_path", "VARCHAR", "A renamed file's old path (NULL otherwise)."),
        _c(
            "parents",
            "INTEGER",
            "Number of parents: 2 or more for a merge commit, whose diff is the merged-in branch.",
        ),
        PARTITION_DAY,
        INGESTED_AT,
    ),
    partition_column="partition_day",
    key=("repo", "sha", "path"),
    earliest_partition_of=("repo", "sha"),
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

REDACTIONS = Table(
    "ops",
    "redactions",
    "Secrets and personal data replaced at ingest, counted per source, partition and kind. Never "
    "the text: the warehouse holds only typed placeholders such as [REDACTED:email:3f2a].",
    (
        _c("source", "VARCHAR", "Ingestion that redacted: junit, health_probes, shadow_replay, ..."),
        _c(
            "partition_key",
            "VARCHAR",
            "Partition loaded (a day for daily sources, the replay id for shadow replays).",
        ),
        _c(
            "kind",
            "VARCHAR",
            "github_token, aws_access_key, jwt, email, ipv4, ... (config/redaction.yaml lists them).",
        ),
        _c("count", "BIGINT", "Findings replaced; a secret repeated in ten rows counts ten."),
        _c("recorded_at", "TIMESTAMP", "When the partition was loaded (UTC)."),
    ),
    key=("source", "partition_key", "kind"),
)

SOURCE_TOTALS = Table(
    "ops",
    "source_totals",
    "What each source said it had when a partition was loaded, to reconcile the warehouse "
    "against: GitHub's own total_count for runs and jobs, artifacts listed and parsed.",
    (
        _c("source", "VARCHAR", "github_actions or junit."),
        _c("partition_key", "VARCHAR", "Partition loaded (the runs' creation day)."),
        _c("repo", "VARCHAR", "Repository as owner/name."),
        _c(
            "measure",
            "VARCHAR",
            "runs (total_count of the day's run listing), jobs (sum of the runs' job listings' "
            "total_count, all attempts), artifacts_listed (matching JUnit artifacts), "
            "artifacts_parsed (of those, parsed into rows).",
        ),
        _c("total", "BIGINT", "The count the source reported (or, for artifacts_parsed, Vigil parsed)."),
        _c("recorded_at", "TIMESTAMP", "When the partition was loaded (UTC)."),
    ),
    key=("source", "partition_key", "repo", "measure"),
)

DATA_TRUST = Table(
    "marts",
    "data_trust",
    "The data trust report: freshness against schedules, reconciliation against the sources' "
    "own totals, rejected inputs, failed checks, redactions and late changes, one row per finding.",
    (
        _c(
            "section",
            "VARCHAR",
            "freshness, reconciliation, rejected_inputs, checks, redactions or late_changes.",
        ),
        _c("source", "VARCHAR", "Table, source or check the row is about."),
        _c("subject", "VARCHAR", "What is measured: a measure, a reason, a kind, a check name."),
        _c("expected", "DOUBLE", "What it should be (a schedule's allowed age in hours, a source total)."),
        _c("observed", "DOUBLE", "What the warehouse shows."),
        _c("status", "VARCHAR", "ok, warn or fail (info: counted, no target)."),
        _c("detail", "VARCHAR", "One line a person can act on."),
        _c("window_start", "DATE", "First partition day looked at."),
        _c("as_of", "TIMESTAMP", "When the report was computed (UTC)."),
    ),
    key=("section", "source", "subject"),
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
        _c(
            "kind",
            "VARCHAR",
            "flaky-test, perf-regression, cost-anomaly, incident or run-failure (a storm summary: its findings' kind).",
        ),
        _c("repo", "VARCHAR", "Repository the issue lives in."),
        _c("number", "INTEGER", "Issue number (NULL when only recorded, not opened)."),
        _c("url", "VARCHAR", "Issue link."),
        _c(
            "state",
            "VARCHAR",
            "open, closed, would_open (recorded only), queued (waiting for its turn: over the per-tick limit, "
            "or announced by a storm summary), creating (claimed) or resolved-unopened (over before an issue "
            "was filed: never opened).",
        ),
        _c("title", "VARCHAR", "Issue title."),
        _c("occurrences", "INTEGER", "How often the finding was seen."),
        _c("updated_at", "TIMESTAMP", "Last change (UTC)."),
        _c("last_seen_at", "TIMESTAMP", "Evidence time of the latest sighting; clean days count from it."),
        _c(
            "last_occurrence",
            "VARCHAR",
            "Identity of the latest occurrence; seeing it again is no recurrence.",
        ),
        _c(
            "grouped_into",
            "VARCHAR",
            "Fingerprint of the storm summary that announced this finding while it waits for its own issue.",
        ),
        _c("opened_at", "TIMESTAMP", "When Vigil opened (or would have opened) the issue (UTC)."),
        _c("closed_at", "TIMESTAMP", "When Vigil last closed or resolved it (UTC; NULL while open)."),
        _c(
            "evidence",
            "VARCHAR",
            "The finding as last seen, as JSON: summary, figures, runs, commits, links.",
        ),
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

HEALTH_PROBES = Table(
    "raw",
    "health_probes",
    "One probe of one health endpoint per scheduled tick (live) or per simulated demo minute.",
    (
        _c(
            "probe_id",
            "VARCHAR",
            "Probe identity: SHA-256 (first 16 hex digits) of service, url and tick; a retry adds no row.",
        ),
        _c("service", "VARCHAR", "Service name from the catalogue (config/services.yaml)."),
        _c("url", "VARCHAR", "Probed URL as the catalogue names it (demo://NAME/path for demo services)."),
        _c("probed_at", "TIMESTAMP", "Scheduled tick the probe belongs to (UTC); SLO windows count by it."),
        _c("status_code", "INTEGER", "HTTP status (NULL when no response arrived)."),
        _c("latency_ms", "DOUBLE", "Request sent to response body read, in ms (NULL without a response)."),
        _c("ok", "BOOLEAN", "A 2xx response arrived within the connect and read timeouts."),
        _c("error", "VARCHAR", "Why the probe failed: HTTP status, timeout, refused (NULL if ok)."),
        _c("state", "VARCHAR", "Endpoint health after this probe, with hysteresis: ok, degraded or down."),
        _c("source", "VARCHAR", "live (probed over HTTP) or simulated (deterministic demo history)."),
        PARTITION_DAY,
        INGESTED_AT,
    ),
    partition_column="partition_day",
    key=("probe_id",),
)

HEALTH_PROBES_HOURLY = Table(
    "staging",
    "health_probes_hourly",
    "Good and valid probe counts per service, SLO and hour; kept in step with raw.health_probes.",
    (
        _c("service", "VARCHAR", "Service name."),
        _c("slo", "VARCHAR", "SLO name from the catalogue."),
        _c("kind", "VARCHAR", "availability or latency: which probes count as good."),
        _c("threshold_ms", "DOUBLE", "Latency SLOs: a good probe answered within this (NULL otherwise)."),
        _c("bucket_end", "TIMESTAMP", "End of the hour: probes in (bucket_end - 1 h, bucket_end]."),
        _c("valid", "BIGINT", "Probes in the hour."),
        _c("good", "BIGINT", "Good probes in the hour."),
        _c("valid_30m", "BIGINT", "Probes in the last 30 minutes of the hour."),
        _c("good_30m", "BIGINT", "Good probes in the last 30 minutes of the hour."),
        _c("valid_5m", "BIGINT", "Probes in the last 5 minutes of the hour."),
        _c("good_5m", "BIGINT", "Good probes in the last 5 minutes of the hour."),
        _c("updated_at", "TIMESTAMP", "When this bucket was last recomputed (UTC)."),
    ),
    key=("service", "slo", "bucket_end"),
)

PROBE_STATES = Table(
    "ops",
    "probe_states",
    "Current health of each probed endpoint (the hysteresis state the next probe continues from).",
    (
        _c("service", "VARCHAR", "Service name."),
        _c("url", "VARCHAR", "Probed URL as the catalogue names it."),
        _c("health", "VARCHAR", "ok, degraded or down."),
        _c("since", "TIMESTAMP", "Tick of the probe that brought the current health (UTC)."),
        _c("reason", "VARCHAR", "Why the endpoint is in its current health."),
        _c("consecutive_failures", "INTEGER", "Failed probes in a row up to the last one."),
        _c("consecutive_successes", "INTEGER", "Successful probes in a row up to the last one."),
        _c("recent_bad", "VARCHAR", "Last probes as 1 (failed or slow) and 0 (good), oldest first."),
        _c("probes", "BIGINT", "Probes folded into this state."),
        _c("last_probed_at", "TIMESTAMP", "Tick of the last probe folded in (UTC)."),
        _c("updated_at", "TIMESTAMP", "When Vigil wrote this row (UTC)."),
    ),
    key=("service", "url"),
)

SHADOW_SAMPLES = Table(
    "raw",
    "shadow_samples",
    "One captured request replayed to the baseline, a second baseline (noise) and the candidate.",
    (
        _c("replay_id", "VARCHAR", "Replay this row belongs to (the Dagster run id); one replay per run."),
        _c("request_id", "VARCHAR", "Position of the request in the captured sample (00000, 00001, ...)."),
        _c("method", "VARCHAR", "HTTP method."),
        _c("path", "VARCHAR", "Path and query replayed."),
        _c("baseline_url", "VARCHAR", "Base URL of the baseline as configured."),
        _c("candidate_url", "VARCHAR", "Base URL of the candidate as configured."),
        _c("baseline_status", "INTEGER", "Baseline HTTP status (NULL when no response)."),
        _c("candidate_status", "INTEGER", "Candidate HTTP status (NULL when no response)."),
        _c("replay_status", "INTEGER", "Status of the second baseline replay (NULL when no response)."),
        _c("baseline_latency_ms", "DOUBLE", "Baseline latency in ms (NULL without a response)."),
        _c("candidate_latency_ms", "DOUBLE", "Candidate latency in ms (NULL without a response)."),
        _c("replay_latency_ms", "DOUBLE", "Second baseline latency in ms (NULL without a response)."),
        _c("status_match", "BOOLEAN", "Baseline and candidate answered with the same status."),
        _c("body_match", "BOOLEAN", "Same status, and no body field differs once noise is filtered."),
        _c(
            "diff",
            "VARCHAR",
            "JSON of what differs: status, fields (JSON Pointer paths) and noise paths; {} when nothing.",
        ),
        _c("baseline_error", "VARCHAR", "Why the baseline request failed (NULL when it answered)."),
        _c("candidate_error", "VARCHAR", "Why the candidate request failed (NULL when it answered)."),
        _c("sampled_at", "TIMESTAMP", "When the request was replayed (UTC)."),
        INGESTED_AT,
    ),
    key=("replay_id", "request_id"),
)

SLO_COMPLIANCE = Table(
    "marts",
    "slo_compliance",
    "Every SLO of the catalogue as of the last evaluation: budget, burn rates and the workbook alert.",
    (
        _c("service", "VARCHAR", "Service name."),
        _c("slo", "VARCHAR", "SLO name."),
        _c("kind", "VARCHAR", "availability (good = successful probe) or latency (good = fast enough)."),
        _c("objective", "DOUBLE", "Target share of good events, e.g. 0.999."),
        _c("window_days", "INTEGER", "SLO window in days."),
        _c("threshold_ms", "DOUBLE", "Latency SLOs: the latency a good probe stays within."),
        _c("valid_events", "BIGINT", "Probes in the SLO window (as_of - window_days, as_of]."),
        _c("good_events", "BIGINT", "Good probes in the SLO window."),
        _c("sli", "DOUBLE", "good_events / valid_events (NULL without probes)."),
        _c("error_budget_remaining", "DOUBLE", "1 - (1 - sli) / (1 - objective); negative once overspent."),
        _c("burn_rate_5m", "DOUBLE", "Error ratio over the last 5 minutes divided by 1 - objective."),
        _c("burn_rate_30m", "DOUBLE", "Burn rate over the last 30 minutes."),
        _c("burn_rate_1h", "DOUBLE", "Burn rate over the last hour."),
        _c("burn_rate_2h", "DOUBLE", "Burn rate over the last 2 hours."),
        _c("burn_rate_6h", "DOUBLE", "Burn rate over the last 6 hours."),
        _c("burn_rate_1d", "DOUBLE", "Burn rate over the last day."),
        _c("burn_rate_3d", "DOUBLE", "Burn rate over the last 3 days."),
        _c("alert", "VARCHAR", "none, ticket or page (SRE workbook multiwindow burn-rate rules)."),
        _c("alert_rule", "VARCHAR", "Long/short windows of the rule that fired, e.g. 1h/5m (NULL if none)."),
        _c("compliant", "BOOLEAN", "sli meets the objective over the SLO window (true without probes)."),
        _c("as_of", "TIMESTAMP", "End of every window (UTC): the tick evaluated."),
        _c("computed_at", "TIMESTAMP", "When Vigil computed this row (UTC)."),
    ),
    key=("service", "slo"),
)

CANARY_VERDICTS = Table(
    "marts",
    "canary_verdicts",
    "Kayenta-style judgement of each shadow replay: one row per metric, with the overall verdict.",
    (
        _c("replay_id", "VARCHAR", "Replay judged (raw.shadow_samples.replay_id)."),
        _c("baseline_url", "VARCHAR", "Baseline (control) base URL."),
        _c("candidate_url", "VARCHAR", "Candidate (experiment) base URL."),
        _c("metric", "VARCHAR", "latency_ms or error_rate."),
        _c("classification", "VARCHAR", "Pass, High, Low, Nodata, NodataFailMetric or Error."),
        _c("reason", "VARCHAR", "Why the metric was classified so (NULL for a plain Pass)."),
        _c("control_count", "INTEGER", "Baseline values after NaN and outlier removal."),
        _c("experiment_count", "INTEGER", "Candidate values after NaN and outlier removal."),
        _c("control_mean", "DOUBLE", "Mean of the baseline values."),
        _c("experiment_mean", "DOUBLE", "Mean of the candidate values."),
        _c("deviation", "DOUBLE", "Ratio of means candidate / baseline (NULL when a mean is 0)."),
        _c("estimate", "DOUBLE", "Hodges-Lehmann shift candidate - baseline."),
        _c("ci_lower", "DOUBLE", "Lower end of the confidence interval of the shift."),
        _c("ci_upper", "DOUBLE", "Upper end of the confidence interval of the shift."),
        _c("p_value", "DOUBLE", "Two-sided Mann-Whitney p-value."),
        _c("score", "DOUBLE", "Overall canary score 0-100 (same on every row of the replay)."),
        _c("verdict", "VARCHAR", "pass (score >= 95), marginal (>= 75) or fail."),
        _c("judged_at", "TIMESTAMP", "When Vigil judged the replay (UTC)."),
    ),
    key=("replay_id", "metric"),
)

FLAKY_DAILY = Table(
    "marts",
    "flaky_daily",
    "Flaky-test decision per test and day: the sliding window's signals, score, status and the "
    "hysteresis state the next day continues from. Partitioned by the day evaluated.",
    (
        _c("repo", "VARCHAR", "Repository as owner/name."),
        _c("test_id", "VARCHAR", "Stable identity of the test case."),
        _c("as_of", "DATE", "Last day (UTC partition) of the window; the day this row decides."),
        _c("classname", "VARCHAR", "classname of the test case."),
        _c("test_name", "VARCHAR", "Name of the test case."),
        _c("file", "VARCHAR", "file attribute of the test case, when reports carry one."),
        _c("window_days", "INTEGER", "Days in the window: (as_of - window_days, as_of]."),
        _c("runs", "BIGINT", "Executions counted: reruns in, skips and infrastructure failures out."),
        _c("failures", "BIGINT", "Executions that failed or errored."),
        _c("failure_rate", "DOUBLE", "failures / runs."),
        _c("failing_commits", "BIGINT", "Commits on which the test failed at least once."),
        _c("flaky_commits", "BIGINT", "Commits on which it both passed and failed."),
        _c(
            "isolated_failures",
            "BIGINT",
            "Default-branch commits on which it only failed, between default-branch commits it passed on.",
        ),
        _c("nondeterministic_failures", "BIGINT", "Failures on flaky commits and isolated failures."),
        _c("flips", "BIGINT", "Pass/fail transitions between consecutive default-branch commits."),
        _c("flip_rate", "DOUBLE", "flips / (default-branch commits - 1); 0 with fewer than two."),
        _c("clean_runs", "BIGINT", "Executions on commits built after the last failure (all without one)."),
        _c("broken_commits", "BIGINT", "Latest default-branch commits in a row on which it only failed."),
        _c("broken_failures", "BIGINT", "Failures on those commits."),
        _c("broken_since_sha", "VARCHAR", "First commit of that streak (NULL without one)."),
        _c("pass_steps", "BIGINT", "Default-branch commits without a failure that have a next one."),
        _c("breaks", "BIGINT", "Of those, followed by a commit with a failure (pass to fail)."),
        _c("fail_steps", "BIGINT", "Default-branch commits with a failure that have a next one."),
        _c("recoveries", "BIGINT", "Of those, followed by a commit without one (fail to pass)."),
        _c(
            "window_start",
            "DATE",
            "First day of this test's window: as_of - window_days + 1, or the lookback's first day "
            "for a test run fewer than min_window_runs times in the window (nightly, weekly).",
        ),
        _c("score", "DOUBLE", "nondeterministic_failures / runs: failing without the code at fault."),
        _c(
            "p_deterministic",
            "DOUBLE",
            "Binomial tail of the breaks and recoveries if the code alone decided the outcome "
            "(core.flaky); small: the alternation is evidence of a flaky test.",
        ),
        _c("status", "VARCHAR", "stable, flaky, broken or quarantined."),
        _c("flagged", "BOOLEAN", "Hysteresis state: flagged flaky (flaky or quarantined, or broken on top)."),
        _c("quarantined", "BOOLEAN", "Flagged, and its score reached the quarantine threshold."),
        _c("event", "VARCHAR", "flagged or cleared on the day the flag changed, else NULL."),
        _c("flagged_since", "DATE", "Day the current flag was raised (NULL when not flagged)."),
        _c("first_flagged_on", "DATE", "First day the test was ever flagged."),
        _c("last_cleared_on", "DATE", "Last day a flag on it was cleared."),
        _c("last_run_id", "BIGINT", "Latest run it was seen in within the window."),
        _c("evidence_shas", "VARCHAR[]", "Latest commits (up to 10) it flipped on (flaky or isolated)."),
        _c("evidence_failed_run_ids", "BIGINT[]", "The last run it failed in on each evidence commit."),
        _c("evidence_latest_run_ids", "BIGINT[]", "The latest run on each evidence commit (same order)."),
        _c("computed_at", "TIMESTAMP", "When Vigil computed this row (UTC)."),
    ),
    partition_column="as_of",
    key=("repo", "test_id", "as_of"),
)

FLAKY_SCORES = Table(
    "marts",
    "flaky_scores",
    "Flaky-test scores as of the latest day scored: one row per test seen in the sliding window.",
    (
        _c("repo", "VARCHAR", "Repository as owner/name."),
        _c("test_id", "VARCHAR", "Stable identity of the test case."),
        _c("classname", "VARCHAR", "classname of the test case."),
        _c("test_name", "VARCHAR", "Name of the test case."),
        _c("file", "VARCHAR", "file attribute of the test case, when reports carry one."),
        _c("runs", "BIGINT", "Executions in the window: reruns in, skips and infrastructure failures out."),
        _c("failures", "BIGINT", "Executions that failed or errored."),
        _c("failure_rate", "DOUBLE", "failures / runs."),
        _c("failing_commits", "BIGINT", "Commits on which the test failed at least once."),
        _c("flaky_commits", "BIGINT", "Commits on which it both passed and failed."),
        _c("isolated_failures", "BIGINT", "Default-branch commits failing alone between passing ones."),
        _c("flips", "BIGINT", "Pass/fail transitions between consecutive default-branch commits."),
        _c("flip_rate", "DOUBLE", "flips / (default-branch commits - 1)."),
        _c("clean_runs", "BIGINT", "Executions on commits built after the last failure."),
        _c("score", "DOUBLE", "Share of executions that failed without the code at fault (0-1)."),
        _c("p_deterministic", "DOUBLE", "How likely its pass/fail alternation is if the code decided it."),
        _c("status", "VARCHAR", "stable, flaky, broken or quarantined."),
        _c("broken_since_sha", "VARCHAR", "broken: the first commit of the failing streak."),
        _c("flagged_since", "DATE", "Day the current flaky flag was raised."),
        _c("first_flagged_on", "DATE", "First day it was ever flagged flaky."),
        _c("last_cleared_on", "DATE", "Last day a flaky flag on it was cleared."),
        _c("evidence_shas", "VARCHAR[]", "Latest commits it flipped on (up to 10)."),
        _c("evidence_run_urls", "VARCHAR[]", "Links to runs it failed and passed in on those commits."),
        _c("last_seen_at", "TIMESTAMP", "Last update (UTC) of the latest run it ran in."),
        _c("as_of", "DATE", "Last day of the window."),
        _c("window_days", "INTEGER", "Days in the window."),
        _c("window_start", "DATE", "First day of this test's window (earlier for rarely run tests)."),
        _c("computed_at", "TIMESTAMP", "When Vigil computed this row (UTC)."),
    ),
    key=("repo", "test_id"),
)

BENCHMARKS = Table(
    "raw",
    "benchmarks",
    "Benchmark results in github-action-benchmark's custom JSON, one row per result of one run.",
    (
        _c("repo", "VARCHAR", "Repository as owner/name."),
        _c("run_id", "BIGINT", "Workflow run id (or the sidecar's run id for landed results)."),
        _c("run_attempt", "INTEGER", "Run attempt the results came from."),
        _c("head_sha", "VARCHAR", "Commit benchmarked."),
        _c("branch", "VARCHAR", "Branch benchmarked."),
        _c("suite", "VARCHAR", "Benchmark suite: the sidecar's suite, else the file name without .json."),
        _c("name", "VARCHAR", "Benchmark name (the `name` field)."),
        _c("unit", "VARCHAR", "Unit of the value (the `unit` field), e.g. ms, ops/sec."),
        _c("value", "DOUBLE", "Measured value."),
        _c("range", "VARCHAR", "Spread as reported (the optional `range` field), e.g. ± 1.2%."),
        _c("extra", "VARCHAR", "Free text reported with the value (the optional `extra` field)."),
        _c("bigger_is_better", "BOOLEAN", "customBiggerIsBetter (true) or customSmallerIsBetter (false)."),
        _c("source", "VARCHAR", "benchmark_landing (landing folder) or benchmark_artifact (run artifact)."),
        _c("source_path", "VARCHAR", "File the result came from, inside its drop or artifact."),
        _c(
            "measured_at",
            "TIMESTAMP",
            "When the results were produced (UTC): the drop's created_at or the artifact's.",
        ),
        PARTITION_DAY,
        INGESTED_AT,
    ),
    partition_column="partition_day",
    key=("repo", "run_id", "run_attempt", "source_path", "name"),
)

REGRESSION_DRIFT = Table(
    "marts",
    "regression_drift",
    "Lasting changes in durations, latencies and benchmarks, one row per change point that passed the noise filters.",
    (
        _c(
            "series_kind",
            "VARCHAR",
            "test_duration, job_duration, probe_latency, shadow_latency or benchmark.",
        ),
        _c("series_key", "VARCHAR", "Identity of the series within its kind (see marts.drift_series)."),
        _c("repo", "VARCHAR", "Repository (NULL for service latencies)."),
        _c("subject", "VARCHAR", "What was measured, readable: test, job, service or benchmark name."),
        _c("unit", "VARCHAR", "Unit of before_value and after_value."),
        _c("change_at", "TIMESTAMP", "Time of the first point at the new level (UTC)."),
        _c(
            "commit_sha",
            "VARCHAR",
            "Commit of the first point at the new level: the change is attributed to it.",
        ),
        _c(
            "previous_commit_sha",
            "VARCHAR",
            "Commit of the last point before the change; the culprit lies in (previous, commit].",
        ),
        _c("run_id", "BIGINT", "Run of the first point at the new level (NULL for service latencies)."),
        _c("before_value", "DOUBLE", "Median of the segment before the change."),
        _c("after_value", "DOUBLE", "Median of the segment after the change."),
        _c("change_pct", "DOUBLE", "(after_value / before_value - 1) * 100."),
        _c("direction", "VARCHAR", "regression or improvement, given whether bigger or smaller is better."),
        _c(
            "p_value",
            "DOUBLE",
            "Welch's t-test between the two segments (on log values for positive series).",
        ),
        _c("points_before", "INTEGER", "Points in the segment before."),
        _c("points_after", "INTEGER", "Points in the segment after."),
        _c(
            "bigger_is_better",
            "BOOLEAN",
            "True for throughput-like series, false for durations and latencies.",
        ),
        _c("detected_at", "TIMESTAMP", "When Vigil computed this row (UTC)."),
    ),
    key=("series_kind", "series_key", "change_at"),
)

COST_ANOMALIES = Table(
    "marts",
    "cost_anomalies",
    "Expected and actual CI spend per scope (repo, workflow, runner type) and day, with anomalies flagged.",
    (
        _c("scope", "VARCHAR", "repo / workflow / runner type."),
        _c("repo", "VARCHAR", "Repository as owner/name."),
        _c("workflow_name", "VARCHAR", "Workflow name."),
        _c("runner_type", "VARCHAR", "Runner type in seeds.runner_prices."),
        _c("day", "DATE", "Day (UTC) of the spend."),
        _c(
            "expected_usd",
            "DOUBLE",
            "Median spend of the same weekday within four weeks either side (day excluded).",
        ),
        _c("actual_usd", "DOUBLE", "Spend that day (0 when the scope ran nothing)."),
        _c("impact_usd", "DOUBLE", "actual_usd - expected_usd."),
        _c("impact_pct", "DOUBLE", "impact_usd / expected_usd * 100 (NULL when nothing was expected)."),
        _c(
            "score",
            "DOUBLE",
            "impact_usd in robust standard deviations (MAD of the same-weekday spend, floored).",
        ),
        _c("is_anomaly", "BOOLEAN", "Score, impact in USD and impact in % all over their thresholds."),
        _c("jobs", "BIGINT", "Jobs that day (every attempt)."),
        _c("expected_jobs", "DOUBLE", "Median jobs of the same weekday, like expected_usd."),
        _c(
            "root_cause",
            "VARCHAR",
            "Anomalies: what drove the spend (volume, minutes per job, a new runner type) and the top branch and actor.",
        ),
        _c("top_branch", "VARCHAR", "Anomalies: the branch with the most spend in the scope that day."),
        _c("top_branch_usd", "DOUBLE", "Anomalies: that branch's spend."),
        _c("detected_at", "TIMESTAMP", "When Vigil computed this row (UTC)."),
    ),
    key=("scope", "day"),
)

BASELINE_DRIFT = Table(
    "marts",
    "baseline_drift",
    "Golden baselines compared with current outputs: one row per compared field or image.",
    (
        _c("baseline", "VARCHAR", "Baseline name from baselines/manifest.json."),
        _c("kind", "VARCHAR", "json or image."),
        _c("field", "VARCHAR", "JSON Pointer of the field (json) or the image file (image)."),
        _c("expected", "VARCHAR", "Golden value (JSON text) or perceptual hash."),
        _c("actual", "VARCHAR", "Current value (JSON text) or perceptual hash (NULL when missing)."),
        _c("abs_diff", "DOUBLE", "|actual - expected| for numbers; hash distance in bits for images."),
        _c("rel_diff", "DOUBLE", "abs_diff / |expected| for numbers (NULL otherwise)."),
        _c("tolerance", "VARCHAR", "Tolerance applied, e.g. abs=0.01 rel=0.02 or distance<=6."),
        _c(
            "status",
            "VARCHAR",
            "ok (identical), drift (within tolerance) or fail (beyond it, missing or changed type).",
        ),
        _c("checked_at", "TIMESTAMP", "When Vigil compared (UTC)."),
    ),
    key=("baseline", "field"),
)

AUTOMATION_KPIS = Table(
    "marts",
    "automation_kpis",
    "How well Vigil's automation works, per UTC day, from ops.ledger: self-healing, MTTR, false positives, volume.",
    (
        _c("day", "DATE", "UTC day of the ledger rows."),
        _c("alerts", "BIGINT", "SLO burns the sensor sent to remediation (slo_burn.alert)."),
        _c("episodes", "BIGINT", "Remediation episodes that diagnosed the service with live probes."),
        _c("false_positives", "BIGINT", "Episodes whose diagnosis found the service healthy: nothing to do."),
        _c("false_positive_rate", "DOUBLE", "false_positives / episodes (NULL without episodes)."),
        _c("false_positive_target", "DOUBLE", "Target: under 0.05."),
        _c("heal_attempts", "BIGINT", "Episodes that took at least one live runbook action."),
        _c("healed", "BIGINT", "Episodes whose verification probe found the service recovered."),
        _c("self_healing_rate", "DOUBLE", "healed / heal_attempts (NULL without attempts)."),
        _c("self_healing_target", "DOUBLE", "Target: at least 0.8."),
        _c("mttr_minutes", "DOUBLE", "Mean minutes from detection to verified recovery of healed episodes."),
        _c("mttr_target_minutes", "DOUBLE", "Target: under 15."),
        _c("actions", "BIGINT", "Live runbook actions taken (restart, scale, ...)."),
        _c("dry_run_actions", "BIGINT", "Episodes that only recorded what they would have done (dry run)."),
        _c("escalations", "BIGINT", "Episodes escalated to people (issue, notification, page)."),
        _c("issues_opened", "BIGINT", "Issues opened on GitHub (storm summaries included)."),
        _c("issues_recorded", "BIGINT", "Issues recorded as would_open (issues not enabled)."),
        _c("notifications", "BIGINT", "Notification webhooks delivered."),
        _c("pages", "BIGINT", "Paging webhooks delivered."),
        _c("runs_reexecuted", "BIGINT", "Failed Vigil runs re-executed from the failure."),
        _c("run_failures_escalated", "BIGINT", "Failed Vigil runs that became issues."),
        _c("meets_targets", "BOOLEAN", "Every rate with data meets its target."),
        _c("computed_at", "TIMESTAMP", "When Vigil computed this row (UTC)."),
    ),
    key=("day",),
)

TEST_SELECTION_MODELS = Table(
    "marts",
    "test_selection_models",
    "The predictive test selection model of each repository, as last retrained: its version, "
    "where `vigil plan` reads it, and how it did on the last week of changes held back.",
    (
        _c("repo", "VARCHAR", "Repository as owner/name."),
        _c("version", "VARCHAR", "Content hash of the training set: same history, same version."),
        _c("model_path", "VARCHAR", "The model file (JSON) under the data directory."),
        _c("trained_through", "TIMESTAMP", "Latest run creation (UTC) it learned from."),
        _c("commits", "BIGINT", "Built commits it learned from."),
        _c("tests", "BIGINT", "Tests it knows."),
        _c("holdout_changes", "BIGINT", "Pull-request changes of the held-back last week."),
        _c("holdout_faulty_changes", "BIGINT", "Of those, changes with a new (non-flaky) failing test."),
        _c("holdout_failing_caught_share", "DOUBLE", "Share of those failing tests a 30 % plan selected."),
        _c(
            "holdout_faulty_caught_share",
            "DOUBLE",
            "Share of faulty changes with at least one failing test selected.",
        ),
        _c(
            "holdout_tests_run_share",
            "DOUBLE",
            "Share of tests the 30 % plans ran (fallbacks to all included).",
        ),
        _c("computed_at", "TIMESTAMP", "When Vigil trained it (UTC)."),
    ),
    key=("repo",),
)

COVERAGE_FILES = Table(
    "raw",
    "coverage_files",
    "Line and branch coverage of one source file in the coverage reports of one run attempt "
    "(Cobertura, JaCoCo, LCOV, coverage.py JSON or Go profiles), partitioned like raw.ci_runs.",
    (
        _c("repo", "VARCHAR", "Repository as owner/name."),
        _c("run_id", "BIGINT", "Workflow run id (or the sidecar's run id for landed reports)."),
        _c("run_attempt", "INTEGER", "Run attempt the report came from."),
        _c("head_sha", "VARCHAR", "Commit whose tests measured the coverage."),
        _c("branch", "VARCHAR", "Branch of the run."),
        _c(
            "path",
            "VARCHAR",
            "Source file relative to the repository root when it can be told (CI checkout folders "
            "and Go module paths stripped), else as the report names it.",
        ),
        _c("lines_valid", "INTEGER", "Lines (statements for coverage.py and Go) that could run."),
        _c("lines_covered", "INTEGER", "Of those, lines that ran at least once."),
        _c("branches_valid", "INTEGER", "Branches (NULL when the format has none, e.g. Go)."),
        _c("branches_covered", "INTEGER", "Branches taken at least once (NULL without branch data)."),
        _c("format", "VARCHAR", "cobertura, jacoco, lcov, coveragepy-json or go-cover."),
        _c(
            "report_path",
            "VARCHAR",
            "Report the row came from, inside its artifact or landing drop; when several reports "
            "of a run name the file, the most faithful format wins, then the one covering more lines.",
        ),
        PARTITION_DAY,
        INGESTED_AT,
    ),
    partition_column="partition_day",
    key=("repo", "run_id", "run_attempt", "path"),
)

DEPENDENCY_ALERTS = Table(
    "raw",
    "dependency_alerts",
    "Dependabot alerts of every crawled repository as GitHub reported them at the last crawl, one row per alert.",
    (
        _c("repo", "VARCHAR", "Repository as owner/name."),
        _c("number", "INTEGER", "Alert number within the repository."),
        _c("package", "VARCHAR", "Vulnerable package name."),
        _c("ecosystem", "VARCHAR", "Package ecosystem: pip, npm, maven, go, nuget, rubygems, ..."),
        _c("manifest_path", "VARCHAR", "Manifest or lock file that pulls the package in."),
        _c("scope", "VARCHAR", "runtime or development (NULL when unknown)."),
        _c("severity", "VARCHAR", "low, medium, high or critical (the advisory's)."),
        _c("ghsa_id", "VARCHAR", "GitHub Security Advisory id (GHSA-xxxx-xxxx-xxxx)."),
        _c("cve_id", "VARCHAR", "CVE id, when the advisory has one."),
        _c("summary", "VARCHAR", "One-line advisory summary."),
        _c("state", "VARCHAR", "open, fixed, dismissed or auto_dismissed."),
        _c("vulnerable_version_range", "VARCHAR", "Versions affected, e.g. < 2.0.2."),
        _c("first_patched_version", "VARCHAR", "First version with the fix (NULL when none exists)."),
        _c("fix_available", "BOOLEAN", "A patched version exists."),
        _c(
            "created_at",
            "TIMESTAMP",
            "When Dependabot opened the alert (UTC): the vulnerability's introduction as seen.",
        ),
        _c("fixed_at", "TIMESTAMP", "When it was fixed (UTC)."),
        _c("dismissed_at", "TIMESTAMP", "When someone dismissed it (UTC)."),
        _c("auto_dismissed_at", "TIMESTAMP", "When Dependabot dismissed it by rule (UTC)."),
        _c(
            "dismissed_reason",
            "VARCHAR",
            "fix_started, inaccurate, no_bandwidth, not_used or tolerable_risk.",
        ),
        _c("html_url", "VARCHAR", "Link to the alert in the GitHub UI."),
        _c("fetched_at", "TIMESTAMP", "When Vigil crawled the alert (UTC): ages and SLAs count to it."),
    ),
    key=("repo", "number"),
)

FAILURE_CLUSTERS = Table(
    "marts",
    "failure_clusters",
    "Failures grouped by root cause: one row per cluster (normalised signature) per window, across "
    "tests, runs and repositories. See core/failure_signatures.py for what the signature masks.",
    (
        _c("window_days", "INTEGER", "Days in the window (7 and 28 by default, env VIGIL_FAILURE_WINDOWS)."),
        _c("window_start", "DATE", "First day of the window."),
        _c("as_of", "DATE", "Last day of the window: the latest day with test results."),
        _c(
            "signature",
            "VARCHAR",
            "Cluster id: 16 hex characters of the signature's SHA-1 (stable across windows and days).",
        ),
        _c("signature_text", "VARCHAR", "The masked signature: root-cause headline @ origin file:function."),
        _c(
            "per_test",
            "BOOLEAN",
            "An assertion raised in the test's own code: the cluster is that test's own.",
        ),
        _c("example_message", "VARCHAR", "Root-cause headline of the latest failure, unmasked."),
        _c("example_frame", "VARCHAR", "Probable frame of that failure: file:line in function."),
        _c(
            "probable_file",
            "VARCHAR",
            "Deepest frame inside the repository (repository-relative where recognisable), most common over the cluster; the test's own file when no frame is.",
        ),
        _c("probable_module", "VARCHAR", "Directory (Java: package path) of probable_file."),
        _c("frame_source", "VARCHAR", "stack (an in-repository frame), test_file (fallback) or none."),
        _c(
            "dialect",
            "VARCHAR",
            "Stack trace dialect: python, java, javascript, go, csharp, ruby, generic (NULL: none).",
        ),
        _c("first_seen", "TIMESTAMP", "First failure in the window (run creation time, UTC)."),
        _c("last_seen", "TIMESTAMP", "Last failure in the window (UTC)."),
        _c(
            "first_seen_ever",
            "DATE",
            "First day this signature failed in the longest window: newest clusters have recent days.",
        ),
        _c("failures", "BIGINT", "Failing executions (reruns included)."),
        _c("tests", "BIGINT", "Distinct tests that failed with it."),
        _c("runs", "BIGINT", "Distinct run attempts it failed in."),
        _c("repos", "BIGINT", "Distinct repositories."),
        _c("repo_list", "VARCHAR[]", "The repositories, sorted."),
        _c(
            "infra_share",
            "DOUBLE",
            "Share of its failures in jobs staging.test_job_health attributes to infrastructure (over 80 % of tests failing).",
        ),
        _c("flaky_tests", "BIGINT", "Of its tests, those marts.flaky_scores rates flaky or quarantined."),
        _c("broken_tests", "BIGINT", "Of its tests, those marts.flaky_scores rates broken."),
        _c(
            "test_status",
            "VARCHAR",
            "flaky, broken, mixed or stable: the flaky-score status its tests share.",
        ),
        _c(
            "daily_failures",
            "BIGINT[]",
            "Failures per day of the window, oldest first (the report's sparkline).",
        ),
        _c("computed_at", "TIMESTAMP", "When Vigil computed this row (UTC)."),
    ),
    key=("window_days", "signature"),
)

FAILURE_CLUSTER_MEMBERS = Table(
    "marts",
    "failure_cluster_members",
    "Which cluster each failing execution of the longest window belongs to (one row per failed or errored execution).",
    (
        _c("signature", "VARCHAR", "marts.failure_clusters.signature."),
        _c("repo", "VARCHAR", "Repository as owner/name."),
        _c("run_id", "BIGINT", "Workflow run id."),
        _c("run_attempt", "INTEGER", "Run attempt."),
        _c("job_id", "BIGINT", "Job, when known."),
        _c("report_path", "VARCHAR", "Report the execution came from."),
        _c("test_id", "VARCHAR", "Stable identity of the test case."),
        _c("classname", "VARCHAR", "classname of the test case."),
        _c("test_name", "VARCHAR", "Name of the test case."),
        _c("attempt", "INTEGER", "0 for the first execution; reruns count up."),
        _c("outcome", "VARCHAR", "failed or error."),
        _c(
            "failed_at",
            "TIMESTAMP",
            "Creation time (UTC) of the run (the partition day when the run is unknown).",
        ),
        _c("partition_day", "DATE", "Partition the execution was ingested under."),
        _c(
            "probable_file",
            "VARCHAR",
            "Probable file of this failure (its own test file when no frame is in the repository).",
        ),
        _c(
            "frame_line",
            "INTEGER",
            "Line of the probable frame, kept out of the signature (from the failure's masked shape's example).",
        ),
        _c("infra_failure", "BOOLEAN", "Its job is attributed to infrastructure (staging.test_job_health)."),
    ),
    key=("repo", "run_id", "run_attempt", "job_id", "report_path", "test_id", "attempt"),
)

CONTRACT_VERSION = Table(
    "ops",
    "contract_version",
    "The version of this contract the warehouse file was last brought up to (one row). Writers "
    "skip re-applying the DDL while it matches; delete the row to force a re-apply.",
    (
        _c("fingerprint", "VARCHAR", "SHA-256 of the DDL and comments of every contract table."),
        _c("applied_at", "TIMESTAMP", "When that DDL was applied (UTC)."),
    ),
    key=("fingerprint",),
)

WAREHOUSE_ORIGIN = Table(
    "ops",
    "warehouse_origin",
    "Marks a warehouse that holds simulated data (one row, written by demo mode). Sensors refuse to "
    "open issues on a real GitHub from a warehouse marked here; a production warehouse has no row.",
    (
        _c("origin", "VARCHAR", "`demo`: the data comes from Vigil's simulated organisation and services."),
        _c("marked_at", "TIMESTAMP", "When demo mode first wrote to this warehouse (UTC)."),
    ),
    key=("origin",),
)

TABLES: tuple[Table, ...] = (
    CI_RUNS,
    CI_JOBS,
    TEST_RESULTS,
    COMMIT_FILES,
    REJECTED_INPUTS,
    REDACTIONS,
    SOURCE_TOTALS,
    ISSUES,
    LEDGER,
    HEALTH_PROBES,
    HEALTH_PROBES_HOURLY,
    PROBE_STATES,
    SHADOW_SAMPLES,
    SLO_COMPLIANCE,
    CANARY_VERDICTS,
    FLAKY_DAILY,
    FLAKY_SCORES,
    BENCHMARKS,
    REGRESSION_DRIFT,
    COST_ANOMALIES,
    BASELINE_DRIFT,
    AUTOMATION_KPIS,
    DATA_TRUST,
    TEST_SELECTION_MODELS,
    COVERAGE_FILES,
    DEPENDENCY_ALERTS,
    FAILURE_CLUSTERS,
    FAILURE_CLUSTER_MEMBERS,
    CONTRACT_VERSION,
    WAREHOUSE_ORIGIN,
)
SCHEMAS: tuple[str, ...] = ("raw", "seeds", "staging", "marts", "ops")


def table(qualified_name: str) -> Table:
    """Look a contract table up by `schema.name`."""
    for t in TABLES:
        if t.qualified_name == qualified_name:
            return t
    raise KeyError(f"{qualified_name} is not a table of the warehouse contract")
