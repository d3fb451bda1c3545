-- description: Every point of every series Vigil watches for regression drift, in one shape:
--   passed test durations and successful job durations on the default branch (one point per
--   execution, a rerun attempt is a point of its own), daily median latencies of health probes
--   (daily: hourly points would flag every day's traffic cycle as a change), per-replay median latencies of the shadow candidate, and benchmark results. Durations and
--   latencies are smaller-is-better; benchmarks say which way they go. marts.regression_drift
--   runs change-point detection over it. Test and job durations keep to the default branch so a
--   series is one line of history: a pull request would interleave older code. The default branch
--   comes from seeds.repo_default_branches, else main or master.
-- owner: team:quality
-- materialized: view
-- column series_kind: test_duration, job_duration, probe_latency, shadow_latency or benchmark.
-- column series_key: Identity of the series within its kind: repo|job|test_id (job: 'unknown job' for an unattributed artifact, 'landing' for a landing-folder report), repo|workflow|job, service|url, candidate_url, repo|suite|name.
-- column repo: Repository (NULL for service latencies).
-- column subject: What is measured, readable: test, job, service or benchmark name.
-- column point_at: Time of the point (UTC): run creation, probe day, replay start or benchmark time.
-- column commit_sha: Commit the point measured (NULL for service latencies).
-- column run_id: Workflow run of the point (NULL for service latencies).
-- column run_attempt: Attempt of that run; orders re-runs of one run.
-- column value: The measurement.
-- column unit: Unit of value: s, ms or the benchmark's own.
-- column bigger_is_better: True when a higher value is an improvement (throughput benchmarks).
-- tests: not_null(series_kind, series_key, point_at, value, bigger_is_better)
-- tests: accepted_values(series_kind: test_duration, job_duration, probe_latency, shadow_latency, benchmark)
WITH default_branches AS (
    SELECT repo, default_branch FROM seeds.repo_default_branches
),

runs AS (
    SELECT
        r.repo,
        r.run_id,
        r.run_attempt,
        r.created_at,
        CASE
            WHEN b.default_branch IS NOT NULL THEN r.head_branch = b.default_branch
            ELSE r.head_branch IN ('main', 'master')
        END AS on_default
    FROM raw.ci_runs AS r
    LEFT JOIN default_branches AS b ON b.repo = r.repo
),

-- The job a test ran in: 'landing' only for landing-folder reports (job_match NULL); a run
-- artifact no job could be matched to (job_match 'none') is 'unknown job'.
labelled_tests AS (
    SELECT
        t.*,
        COALESCE(j.job_name, CASE WHEN t.job_match IS NULL THEN 'landing' ELSE 'unknown job' END) AS job_label
    FROM staging.stg_test_results AS t
    LEFT JOIN raw.ci_jobs AS j
        ON j.repo = t.repo AND j.run_id = t.run_id AND j.run_attempt = t.run_attempt AND j.job_id = t.job_id
    WHERE t.outcome = 'passed' AND t.duration_s IS NOT NULL
),

tests AS (
    SELECT
        'test_duration' AS series_kind,
        t.repo || '|' || t.job_label || '|' || t.test_id AS series_key,
        t.repo,
        COALESCE(t.classname, t.file, t.suite) || '::' || t.test_name || ' [' || t.job_label || ']' AS subject,
        COALESCE(r.created_at, CAST(t.partition_day AS TIMESTAMP)) AS point_at,
        t.head_sha AS commit_sha,
        t.run_id,
        t.run_attempt,
        t.duration_s AS value,
        's' AS unit,
        FALSE AS bigger_is_better
    FROM labelled_tests AS t
    LEFT JOIN runs AS r ON r.repo = t.repo AND r.run_id = t.run_id AND r.run_attempt = t.run_attempt
    LEFT JOIN default_branches AS b ON b.repo = t.repo
    WHERE CASE
        WHEN b.default_branch IS NOT NULL THEN t.branch = b.default_branch
        ELSE t.branch IN ('main', 'master')
    END
),

jobs AS (
    SELECT
        'job_duration' AS series_kind,
        j.repo || '|' || j.workflow_name || '|' || j.job_name AS series_key,
        j.repo,
        j.workflow_name || ' / ' || j.job_name AS subject,
        r.created_at AS point_at,
        j.head_sha AS commit_sha,
        j.run_id,
        j.run_attempt,
        CAST(DATE_DIFF('second', j.started_at, j.completed_at) AS DOUBLE) AS value,
        's' AS unit,
        FALSE AS bigger_is_better
    FROM raw.ci_jobs AS j
    INNER JOIN runs AS r ON r.repo = j.repo AND r.run_id = j.run_id AND r.run_attempt = j.run_attempt
    WHERE r.on_default AND j.conclusion = 'success' AND j.completed_at > j.started_at
),

probes AS (
    SELECT
        'probe_latency' AS series_kind,
        p.service || '|' || p.url AS series_key,
        CAST(NULL AS VARCHAR) AS repo,
        p.service || ' ' || p.url AS subject,
        DATE_TRUNC('day', p.probed_at) AS point_at,
        CAST(NULL AS VARCHAR) AS commit_sha,
        CAST(NULL AS BIGINT) AS run_id,
        CAST(NULL AS INTEGER) AS run_attempt,
        PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY p.latency_ms) AS value,
        'ms' AS unit,
        FALSE AS bigger_is_better
    FROM raw.health_probes AS p
    WHERE p.ok AND p.latency_ms IS NOT NULL
    GROUP BY p.service, p.url, DATE_TRUNC('day', p.probed_at)
),

shadow AS (
    SELECT
        'shadow_latency' AS series_kind,
        s.candidate_url AS series_key,
        CAST(NULL AS VARCHAR) AS repo,
        'candidate ' || s.candidate_url AS subject,
        MIN(s.sampled_at) AS point_at,
        CAST(NULL AS VARCHAR) AS commit_sha,
        CAST(NULL AS BIGINT) AS run_id,
        CAST(NULL AS INTEGER) AS run_attempt,
        PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY s.candidate_latency_ms) AS value,
        'ms' AS unit,
        FALSE AS bigger_is_better
    FROM raw.shadow_samples AS s
    WHERE s.candidate_latency_ms IS NOT NULL
    GROUP BY s.candidate_url, s.replay_id
),

benchmarks AS (
    SELECT
        'benchmark' AS series_kind,
        m.repo || '|' || m.suite || '|' || m.name AS series_key,
        m.repo,
        m.suite || ' / ' || m.name AS subject,
        COALESCE(r.created_at, m.measured_at) AS point_at,
        m.head_sha AS commit_sha,
        m.run_id,
        m.run_attempt,
        m.value,
        m.unit,
        m.bigger_is_better
    FROM raw.benchmarks AS m
    LEFT JOIN runs AS r ON r.repo = m.repo AND r.run_id = m.run_id AND r.run_attempt = m.run_attempt
    LEFT JOIN default_branches AS b ON b.repo = m.repo
    WHERE m.value IS NOT NULL
        AND CASE
            WHEN m.branch IS NULL THEN TRUE
            WHEN b.default_branch IS NOT NULL THEN m.branch = b.default_branch
            ELSE m.branch IN ('main', 'master')
        END
)

SELECT series_kind, series_key, repo, subject, point_at, commit_sha, run_id, run_attempt, value, unit, bigger_is_better FROM tests
UNION ALL
SELECT series_kind, series_key, repo, subject, point_at, commit_sha, run_id, run_attempt, value, unit, bigger_is_better FROM jobs
UNION ALL
SELECT series_kind, series_key, repo, subject, point_at, commit_sha, run_id, run_attempt, value, unit, bigger_is_better FROM probes
UNION ALL
SELECT series_kind, series_key, repo, subject, point_at, commit_sha, run_id, run_attempt, value, unit, bigger_is_better FROM shadow
UNION ALL
SELECT series_kind, series_key, repo, subject, point_at, commit_sha, run_id, run_attempt, value, unit, bigger_is_better FROM benchmarks
