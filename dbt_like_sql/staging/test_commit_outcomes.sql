-- description: Outcomes of each test on each commit, per day of results and split by whether the
--   run built the default branch: the counting behind flaky-test scores. Skipped executions and
--   every execution of a job that failed for infrastructure reasons (staging.test_job_health,
--   which also decides the default branch per job) are left out. A commit on which a test both
--   passed and failed (a re-run attempt, a rerun inside one report, a pull-request and a
--   default-branch run of the same SHA) is the strongest sign of a flaky test; the default-branch
--   rows let the scoring follow pass/fail transitions commit by commit. Run ids grow with run
--   creation time, so they order the commits. Names of the tests are in staging.test_cases.
--   Kept to integer counts on purpose: it is the one pass over every test result that scoring
--   needs, and bench/bench_flaky.py holds it against a bare GROUP BY test_id, head_sha.
-- owner: team:quality
-- materialized: incremental
-- partition_column: partition_day
-- column test_id: Stable identity of the test case (unique across repositories).
-- column head_sha: Commit under test.
-- column on_default_branch: The executions ran on the repository's default branch.
-- column partition_day: Partition (UTC day) of the results.
-- column executions: Executions counted (not skipped, not in an infrastructure failure), reruns included.
-- column passes: Executions that passed; the others failed or errored.
-- column last_run_id: Highest run id the test ran in on this commit (and branch kind) that day.
-- column last_failed_run_id: Highest run id it failed in (NULL without failures).
-- tests: unique(test_id, head_sha, on_default_branch, partition_day)
-- tests: not_null(test_id, head_sha, on_default_branch, executions, partition_day)
-- tests: accepted_range(executions: 1, ); accepted_range(passes: 0, )
WITH jobs AS (
    SELECT run_id, run_attempt, job_key, on_default_branch
    FROM staging.test_job_health
    WHERE partition_day >= $partition_start AND partition_day < $partition_end AND NOT infra_failure
),

results AS (
    SELECT
        t.test_id,
        t.head_sha,
        j.on_default_branch,
        t.partition_day,
        t.run_id,
        t.outcome = 'passed' AS passed
    FROM staging.stg_test_results AS t
    -- Run and job ids are GitHub's, unique across repositories: integer keys keep the join cheap,
    -- and it drops the executions of infrastructure failures on the way.
    INNER JOIN jobs AS j
        ON j.run_id = t.run_id AND j.run_attempt = t.run_attempt AND j.job_key = t.job_key
    WHERE t.partition_day >= $partition_start AND t.partition_day < $partition_end
        AND t.outcome <> 'skipped'
)

SELECT
    test_id,
    head_sha,
    on_default_branch,
    partition_day,
    COUNT(*) AS executions,
    COUNT(*) FILTER (WHERE passed) AS passes,
    MAX(run_id) AS last_run_id,
    MAX(run_id) FILTER (WHERE NOT passed) AS last_failed_run_id
FROM results
GROUP BY test_id, head_sha, on_default_branch, partition_day
-- Stored day by day even when a backfill builds many days at once, so the scoring's window reads
-- skip every other day's row groups and a new day costs the same whatever the history.
ORDER BY partition_day
