-- description: One row per workflow run: the outcome of its latest attempt, how many attempts it
--   took, how long the first attempt queued and how long the latest attempt ran.
-- owner: team:platform
-- materialized: incremental
-- partition_column: partition_day
-- column repo: Repository as owner/name.
-- column run_id: GitHub workflow run id.
-- column run_number: Per-workflow run counter shown in the GitHub UI.
-- column workflow_id: GitHub workflow id.
-- column workflow_name: Workflow name as shown in GitHub.
-- column event: Trigger event of the run (push, pull_request, schedule, ...).
-- column head_branch: Branch the run built.
-- column head_sha: Commit the run built.
-- column status: Status of the latest attempt: queued, in_progress or completed.
-- column conclusion: Conclusion of the latest attempt (success, failure, cancelled, ...; NULL while running).
-- column attempts: Number of the latest attempt; above 1 means the run was re-run.
-- column created_at: When the run was created (UTC).
-- column first_started_at: When attempt 1 started (UTC); NULL when attempt 1 is not in raw.ci_runs.
-- column latest_started_at: When the latest attempt started (UTC).
-- column completed_at: When the latest attempt finished (UTC); NULL unless it is completed.
-- column queue_s: Seconds attempt 1 waited from creation to start.
-- column duration_s: Seconds the latest attempt ran, start to finish; NULL unless it is completed.
-- column html_url: Link to the latest attempt in the GitHub UI.
-- column partition_day: Day (UTC) the run was created; the partition it belongs to.
-- tests: unique(repo, run_id); not_null(repo, run_id, workflow_name, attempts, created_at, partition_day)
-- tests: accepted_values(status: queued, in_progress, completed, waiting, requested, pending)
-- tests: accepted_range(attempts: 1, ); accepted_range(queue_s: 0, ); accepted_range(duration_s: 0, )
WITH attempts AS (
    SELECT
        r.*,
        ROW_NUMBER() OVER (PARTITION BY r.repo, r.run_id ORDER BY r.run_attempt DESC) AS recency,
        MIN(CASE WHEN r.run_attempt = 1 THEN r.run_started_at END)
            OVER (PARTITION BY r.repo, r.run_id) AS first_started_at
    FROM raw.ci_runs AS r
    WHERE r.partition_day >= $partition_start AND r.partition_day < $partition_end
)
SELECT
    repo,
    run_id,
    run_number,
    workflow_id,
    workflow_name,
    event,
    head_branch,
    head_sha,
    status,
    conclusion,
    run_attempt AS attempts,
    created_at,
    first_started_at,
    run_started_at AS latest_started_at,
    CASE WHEN status = 'completed' THEN updated_at END AS completed_at,
    DATE_DIFF('second', created_at, first_started_at) AS queue_s,
    CASE WHEN status = 'completed' THEN DATE_DIFF('second', run_started_at, updated_at) END AS duration_s,
    html_url,
    partition_day
FROM attempts
WHERE recency = 1
