-- description: GitHub Actions spend per repository, workflow, runner type and day (UTC, by job
--   start): billed minutes of every job of every attempt times the runner's list price.
-- owner: team:platform
-- column repo: Repository as owner/name.
-- column workflow_name: Workflow name.
-- column runner_type: Runner type in seeds.runner_prices (NULL for jobs on runners it cannot identify).
-- column day: Day (UTC) the jobs started (queued, for jobs that never started).
-- column jobs: Jobs, counting every run attempt.
-- column billable_minutes: Billed minutes: each job's duration rounded up to the whole minute.
-- column usd_per_minute: List price of the runner type.
-- column cost_usd: billable_minutes × usd_per_minute; NULL when the runner type is unknown.
-- tests: unique(repo, workflow_name, runner_type, day); not_null(repo, day, jobs, billable_minutes, runner_type)
-- tests: accepted_range(cost_usd: 0, )
SELECT
    j.repo,
    j.workflow_name,
    j.runner_type,
    CAST(COALESCE(j.started_at, j.created_at, j.partition_day) AS DATE) AS day,
    COUNT(*) AS jobs,
    CAST(SUM(j.billable_minutes) AS BIGINT) AS billable_minutes,
    p.usd_per_minute,
    SUM(j.billable_minutes) * p.usd_per_minute AS cost_usd
FROM staging.stg_ci_jobs AS j
LEFT JOIN seeds.runner_prices AS p ON p.runner_type = j.runner_type
GROUP BY j.repo, j.workflow_name, j.runner_type, CAST(COALESCE(j.started_at, j.created_at, j.partition_day) AS DATE),
    p.usd_per_minute
