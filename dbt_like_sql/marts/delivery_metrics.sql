-- description: DORA-style delivery figures from CI on each repository's default branch, per week
--   (Monday, UTC, by run creation). A successful default-branch run stands in for a deployment;
--   the change failure rate is the share of finished runs that failed; a failure streak starts
--   at a failing run of a workflow whose previous run passed and is restored when a later run of
--   that workflow succeeds. Time to restore runs from the first failing run's completion to the
--   next success's completion (0 when the success finished first). Runs count with their latest
--   attempt. The default branch comes from seeds.repo_default_branches, else main or master.
-- owner: team:platform
-- column repo: Repository as owner/name.
-- column week_start: Monday (UTC) of the week.
-- column runs: Finished runs on the default branch (succeeded, failed, timed out, failed to start).
-- column deployments: Successful runs on the default branch.
-- column commits: Distinct commits built on the default branch.
-- column failed_runs: Finished runs that did not succeed.
-- column change_failure_rate: failed_runs / runs.
-- column failure_streaks: Failure streaks that started this week.
-- column restored_streaks: Those streaks that a later success ended (so far).
-- column median_time_to_restore_s: Median seconds from the first failure to the next success, over restored streaks.
-- tests: unique(repo, week_start); not_null(repo, week_start, runs)
-- tests: accepted_range(change_failure_rate: 0, 1); accepted_range(median_time_to_restore_s: 0, )
WITH default_branch_runs AS (
    SELECT
        r.repo,
        r.workflow_name,
        r.run_id,
        r.head_sha,
        r.created_at,
        r.completed_at,
        CAST(DATE_TRUNC('week', r.created_at) AS DATE) AS week_start,
        CASE WHEN r.conclusion = 'success' THEN 1 ELSE 0 END AS succeeded,
        CASE WHEN r.conclusion = 'success' THEN 0 ELSE 1 END AS failed
    FROM staging.stg_ci_runs AS r
    LEFT JOIN seeds.repo_default_branches AS b ON b.repo = r.repo
    WHERE r.conclusion IN ('success', 'failure', 'timed_out', 'startup_failure')
        AND (
            r.head_branch = b.default_branch
            OR (b.default_branch IS NULL AND r.head_branch IN ('main', 'master'))
        )
),

ordered AS (
    SELECT
        *,
        LAG(failed) OVER (PARTITION BY repo, workflow_name ORDER BY created_at, run_id) AS previous_failed,
        MIN(CASE WHEN succeeded = 1 THEN completed_at END) OVER (
            PARTITION BY repo, workflow_name ORDER BY created_at, run_id
            ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
        ) AS next_success_at
    FROM default_branch_runs
),

streaks AS (
    SELECT
        repo,
        week_start,
        next_success_at,
        CASE
            WHEN next_success_at IS NULL THEN NULL
            WHEN next_success_at < completed_at THEN 0
            ELSE DATE_DIFF('second', completed_at, next_success_at)
        END AS restore_s
    FROM ordered
    WHERE failed = 1 AND COALESCE(previous_failed, 0) = 0
),

weekly_runs AS (
    SELECT
        repo,
        week_start,
        COUNT(*) AS runs,
        COUNT(CASE WHEN succeeded = 1 THEN 1 END) AS deployments,
        COUNT(DISTINCT head_sha) AS commits,
        COUNT(CASE WHEN failed = 1 THEN 1 END) AS failed_runs
    FROM default_branch_runs
    GROUP BY repo, week_start
),

weekly_streaks AS (
    SELECT
        repo,
        week_start,
        COUNT(*) AS failure_streaks,
        COUNT(next_success_at) AS restored_streaks,
        PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY restore_s) AS median_time_to_restore_s
    FROM streaks
    GROUP BY repo, week_start
)

SELECT
    w.repo,
    w.week_start,
    w.runs,
    w.deployments,
    w.commits,
    w.failed_runs,
    CAST(w.failed_runs AS DOUBLE) / w.runs AS change_failure_rate,
    COALESCE(s.failure_streaks, 0) AS failure_streaks,
    COALESCE(s.restored_streaks, 0) AS restored_streaks,
    s.median_time_to_restore_s
FROM weekly_runs AS w
LEFT JOIN weekly_streaks AS s ON s.repo = w.repo AND s.week_start = w.week_start
