-- description: One row per job of every run attempt, with the minutes GitHub bills for it and
--   the runner type that prices them. GitHub rounds each job up to the whole minute; a job that
--   never started or never finished bills nothing. A view: it follows edits of the runner seeds
--   at once, and daily ingestion never waits for the (unpartitioned) seeds.
-- owner: team:platform
-- materialized: view
-- column repo: Repository as owner/name.
-- column run_id: Workflow run id the job belongs to.
-- column run_attempt: Run attempt the job belongs to (every attempt's jobs are billed).
-- column job_id: GitHub job id.
-- column job_name: Job name, including matrix values.
-- column workflow_name: Workflow name.
-- column head_branch: Branch of the run.
-- column status: queued, in_progress or completed.
-- column conclusion: success, failure, cancelled, skipped, ... (NULL while running).
-- column created_at: When the job was queued (UTC).
-- column started_at: When a runner picked the job up (UTC).
-- column completed_at: When the job finished (UTC).
-- column queue_s: Seconds from queued to picked up by a runner.
-- column duration_s: Seconds from start to finish.
-- column billable_minutes: Whole minutes GitHub bills: the duration rounded up; 0 without a start and finish.
-- column runner_os: Linux, Windows or macOS, from the labels.
-- column runner_type: Runner type in seeds.runner_prices; NULL when neither labels nor OS identify one.
-- column runner_type_source: How runner_type was found: label (seeds.runner_labels) or os_default.
-- column partition_day: Day (UTC) the run was created; the partition it belongs to.
-- tests: unique(repo, run_id, run_attempt, job_id); not_null(repo, run_id, job_id, billable_minutes, partition_day)
-- tests: accepted_range(billable_minutes: 0, ); accepted_values(runner_type_source: label, os_default)
-- tests: relationships(runner_type -> seeds.runner_prices.runner_type)
WITH label_matches AS (
    SELECT
        j.repo,
        j.run_id,
        j.run_attempt,
        j.job_id,
        -- A self-hosted runner is never billed, whatever other labels the job carries.
        CASE
            WHEN COUNT(CASE WHEN m.runner_type = 'self_hosted' THEN 1 END) > 0 THEN 'self_hosted'
            ELSE MIN(m.runner_type)
        END AS runner_type
    FROM raw.ci_jobs AS j
    INNER JOIN seeds.runner_labels AS m ON ARRAY_CONTAINS(j.runner_labels, m.label)
    GROUP BY j.repo, j.run_id, j.run_attempt, j.job_id
),

os_defaults AS (
    SELECT os, runner_type FROM seeds.runner_prices WHERE standard
)

SELECT
    j.repo,
    j.run_id,
    j.run_attempt,
    j.job_id,
    j.job_name,
    j.workflow_name,
    j.head_branch,
    j.status,
    j.conclusion,
    j.created_at,
    j.started_at,
    j.completed_at,
    DATE_DIFF('second', j.created_at, j.started_at) AS queue_s,
    DATE_DIFF('second', j.started_at, j.completed_at) AS duration_s,
    CASE
        WHEN j.started_at IS NULL OR j.completed_at IS NULL OR j.completed_at <= j.started_at THEN 0
        ELSE CAST(CEIL(DATE_DIFF('second', j.started_at, j.completed_at) / 60.0) AS INTEGER)
    END AS billable_minutes,
    j.runner_os,
    COALESCE(l.runner_type, d.runner_type) AS runner_type,
    CASE
        WHEN l.runner_type IS NOT NULL THEN 'label'
        WHEN d.runner_type IS NOT NULL THEN 'os_default'
    END AS runner_type_source,
    j.partition_day
FROM raw.ci_jobs AS j
LEFT JOIN label_matches AS l
    ON l.repo = j.repo AND l.run_id = j.run_id AND l.run_attempt = j.run_attempt AND l.job_id = j.job_id
LEFT JOIN os_defaults AS d ON d.os = j.runner_os
