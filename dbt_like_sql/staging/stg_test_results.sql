-- description: One row per execution of a test case, with the same execution reported twice
--   (for example a merged report next to per-module reports, or an artifact and the landing
--   folder) counted once: the most recently ingested copy wins.
-- owner: team:quality
-- materialized: incremental
-- partition_column: partition_day
-- column repo: Repository as owner/name.
-- column run_id: Workflow run id.
-- column run_attempt: Run attempt the report came from.
-- column job_id: Job that produced the report, when known.
-- column job_match: How job_id was found for a run artifact: exact, tokens or none; NULL for landing-folder reports.
-- column head_sha: Commit under test.
-- column branch: Branch under test.
-- column test_id: Stable identity of the test case (repo, classname or file, test name).
-- column suite: Name of the enclosing testsuite.
-- column classname: classname attribute (NULL when the dialect has none).
-- column test_name: name attribute of the testcase.
-- column file: file attribute, when present.
-- column outcome: passed, failed, error or skipped.
-- column duration_s: Duration in seconds (NULL when missing).
-- column attempt: 0 for the first execution in a report; reruns inside one report count up.
-- column message: Failure, error or skip message (truncated).
-- column report_path: Report the kept copy came from.
-- column partition_day: Partition (UTC day) the result was ingested under.
-- tests: unique(repo, run_id, run_attempt, job_id, test_id, attempt)
-- tests: not_null(repo, run_id, test_id, outcome, attempt, partition_day)
-- tests: accepted_values(outcome: passed, failed, error, skipped); accepted_range(duration_s: 0, )
WITH ranked AS (
    SELECT
        t.*,
        ROW_NUMBER() OVER (
            PARTITION BY t.repo, t.run_id, t.run_attempt, t.job_id, t.test_id, t.attempt
            ORDER BY t.ingested_at DESC, t.report_path
        ) AS copy_rank
    FROM raw.test_results AS t
    WHERE t.partition_day >= $partition_start AND t.partition_day < $partition_end
)
SELECT
    repo,
    run_id,
    run_attempt,
    job_id,
    job_match,
    head_sha,
    branch,
    test_id,
    suite,
    classname,
    test_name,
    file,
    outcome,
    duration_s,
    attempt,
    message,
    report_path,
    partition_day
FROM ranked
WHERE copy_rank = 1
