-- description: One row per job (per run attempt) that reported test results: how many distinct
--   tests it ran, how many of them failed on their first execution, and whether that points at
--   the infrastructure rather than the code. A job whose share of failing tests is above 80 % (or
--   whose run attempt's share is), with at least 10 tests run, is an infrastructure failure: a
--   database that never came up fails every test at once, a real change rarely more than a few.
--   Flaky-test scoring leaves those jobs out. Jobs that died before their tests ran reported no
--   results, so they never reach this table and count for nothing. Landed reports without a job
--   are one unit per run attempt (job_key -1); a run artifact no job could be matched to is a
--   unit of its own (staging.stg_test_results.job_key). Whether the job built the default branch is
--   decided here, once per job: seeds.repo_default_branches, else main or master.
-- owner: team:quality
-- materialized: incremental
-- partition_column: partition_day
-- column repo: Repository as owner/name.
-- column run_id: Workflow run id.
-- column run_attempt: Run attempt.
-- column job_key: Job id; for an artifact without a job a negative key of its own; -1 for landing-folder reports.
-- column head_sha: Commit under test.
-- column branch: Branch under test.
-- column on_default_branch: The branch is the repository's default branch.
-- column tests_run: Distinct tests executed (not skipped) on their first execution.
-- column tests_failed: Of those, tests whose first execution failed or errored.
-- column failure_fraction: tests_failed / tests_run.
-- column run_failure_fraction: The same share over every job of the run attempt.
-- column infra_failure: More than 80 % of the job's (or the run attempt's) tests failed, with at least 10 run.
-- column partition_day: Partition (UTC day) the results were ingested under.
-- tests: unique(repo, run_id, run_attempt, job_key); not_null(repo, run_id, job_key, tests_run, infra_failure)
-- tests: accepted_range(failure_fraction: 0, 1); accepted_range(run_failure_fraction: 0, 1)
WITH jobs AS (
    SELECT
        repo,
        run_id,
        run_attempt,
        job_key,
        MIN(head_sha) AS head_sha,
        MIN(branch) AS branch,
        COUNT(*) AS tests_run,
        COUNT(CASE WHEN outcome IN ('failed', 'error') THEN 1 END) AS tests_failed,
        partition_day
    FROM staging.stg_test_results
    WHERE partition_day >= $partition_start AND partition_day < $partition_end
        AND attempt = 0 AND outcome <> 'skipped'
    GROUP BY repo, run_id, run_attempt, job_key, partition_day
),

shares AS (
    SELECT
        *,
        CAST(tests_failed AS DOUBLE) / tests_run AS failure_fraction,
        CAST(SUM(tests_failed) OVER (PARTITION BY repo, run_id, run_attempt) AS DOUBLE)
            / SUM(tests_run) OVER (PARTITION BY repo, run_id, run_attempt) AS run_failure_fraction,
        SUM(tests_run) OVER (PARTITION BY repo, run_id, run_attempt) AS run_tests
    FROM jobs
),

default_branches AS (
    SELECT repo, default_branch FROM seeds.repo_default_branches
)

SELECT
    s.repo,
    s.run_id,
    s.run_attempt,
    s.job_key,
    s.head_sha,
    s.branch,
    CASE
        WHEN b.default_branch IS NULL THEN s.branch IN ('main', 'master')
        ELSE s.branch = b.default_branch
    END AS on_default_branch,
    s.tests_run,
    s.tests_failed,
    s.failure_fraction,
    s.run_failure_fraction,
    (s.tests_run >= 10 AND s.failure_fraction > 0.8) OR (s.run_tests >= 10 AND s.run_failure_fraction > 0.8)
        AS infra_failure,
    s.partition_day
FROM shares AS s
LEFT JOIN default_branches AS b ON b.repo = s.repo
