-- description: One row per execution of a test case, with the same execution reported twice
--   (for example a merged report next to per-module reports in one job's artifact, or a landing
--   drop loaded twice) counted once: the most recently ingested copy wins. The unit an execution
--   belongs to (job_key) is its job; an artifact no job could be matched to is a unit of its own,
--   so two matrix jobs' unattributed artifacts do not fold into one (they ran the tests twice).
-- owner: team:quality
-- materialized: incremental
-- partition_column: partition_day
-- column repo: Repository as owner/name.
-- column run_id: Workflow run id.
-- column run_attempt: Run attempt the report came from.
-- column job_id: Job that produced the report, when known.
-- column job_match: How job_id was found for a run artifact: exact, tokens or none; NULL for landing-folder reports.
-- column job_key: The job id; for an artifact without a job a negative key from its name (per run attempt), for landing-folder reports -1.
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
-- tests: unique(repo, run_id, run_attempt, job_key, test_id, attempt)
-- tests: not_null(repo, run_id, job_key, test_id, outcome, attempt, partition_day)
-- tests: accepted_values(outcome: passed, failed, error, skipped); accepted_range(duration_s: 0, )
WITH keyed AS (
    SELECT
        t.*,
        CASE
            WHEN t.job_id IS NOT NULL THEN t.job_id
            -- The artifact's name is the first segment of its report paths (names hold no "/").
            WHEN t.job_match IS NOT NULL
                THEN -2 - CAST('0x' || substr(md5(split_part(t.report_path, '/', 1)), 1, 15) AS BIGINT)
            ELSE -1
        END AS job_key
    FROM raw.test_results AS t
    WHERE t.partition_day >= $partition_start AND t.partition_day < $partition_end
),

ranked AS (
    SELECT
        *,
        ROW_NUMBER() OVER (
            PARTITION BY repo, run_id, run_attempt, job_key, test_id, attempt
            ORDER BY ingested_at DESC, report_path
        ) AS copy_rank
    FROM keyed
)
SELECT
    repo,
    run_id,
    run_attempt,
    job_id,
    job_match,
    job_key,
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
