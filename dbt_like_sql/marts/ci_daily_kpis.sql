-- description: CI health per repository, workflow and day (UTC, by run creation): how many runs,
--   how many succeeded, how long they ran and queued, and how often they needed a re-run. A run
--   counts with its latest attempt; finished runs are those that succeeded or failed (cancelled
--   and skipped runs are left out of rates and durations).
-- owner: team:platform
-- column repo: Repository as owner/name.
-- column workflow_name: Workflow name.
-- column day: Day (UTC) the runs were created.
-- column runs: Workflow runs created that day (any status).
-- column finished_runs: Runs whose latest attempt succeeded, failed, timed out or failed to start.
-- column successful_runs: Runs whose latest attempt succeeded.
-- column success_rate: successful_runs / finished_runs; NULL without finished runs.
-- column p50_duration_s: Median duration in seconds of the finished runs' latest attempts.
-- column p95_duration_s: 95th percentile (continuous) of those durations.
-- column avg_queue_s: Mean seconds attempt 1 waited before it started.
-- column p95_queue_s: 95th percentile (continuous) of that wait.
-- column rerun_runs: Runs that needed more than one attempt.
-- column rerun_rate: rerun_runs / runs.
-- tests: unique(repo, workflow_name, day); not_null(repo, workflow_name, day, runs)
-- tests: accepted_range(success_rate: 0, 1); accepted_range(rerun_rate: 0, 1)
WITH runs AS (
    SELECT
        repo,
        workflow_name,
        CAST(created_at AS DATE) AS day,
        queue_s,
        CASE WHEN conclusion IN ('success', 'failure', 'timed_out', 'startup_failure') THEN 1 END AS finished,
        CASE WHEN conclusion = 'success' THEN 1 END AS succeeded,
        CASE WHEN attempts > 1 THEN 1 END AS rerun,
        CASE
            WHEN conclusion IN ('success', 'failure', 'timed_out', 'startup_failure') THEN duration_s
        END AS finished_duration_s
    FROM staging.stg_ci_runs
)
SELECT
    repo,
    workflow_name,
    day,
    COUNT(*) AS runs,
    COUNT(finished) AS finished_runs,
    COUNT(succeeded) AS successful_runs,
    CAST(COUNT(succeeded) AS DOUBLE) / NULLIF(COUNT(finished), 0) AS success_rate,
    PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY finished_duration_s) AS p50_duration_s,
    PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY finished_duration_s) AS p95_duration_s,
    AVG(queue_s) AS avg_queue_s,
    PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY queue_s) AS p95_queue_s,
    COUNT(rerun) AS rerun_runs,
    CAST(COUNT(rerun) AS DOUBLE) / COUNT(*) AS rerun_rate
FROM runs
GROUP BY repo, workflow_name, day
