-- description: Test outcomes per repository, test case and day (UTC partition of the results):
--   executions, failures, skips and mean duration. Reruns inside a report count as executions.
-- owner: team:quality
-- materialized: incremental
-- partition_column: day
-- column repo: Repository as owner/name.
-- column test_id: Stable identity of the test case.
-- column day: Partition (UTC day) of the results.
-- column classname: classname of the test case (the latest seen that day).
-- column test_name: Name of the test case.
-- column executions: Executions, including reruns inside a report.
-- column passes: Executions that passed.
-- column failures: Executions that failed or errored.
-- column skips: Executions that were skipped.
-- column avg_duration_s: Mean duration in seconds of the executions that were not skipped.
-- tests: unique(repo, test_id, day); not_null(repo, test_id, day, executions)
-- tests: accepted_range(failures: 0, ); accepted_range(avg_duration_s: 0, )
SELECT
    repo,
    test_id,
    partition_day AS day,
    MAX(classname) AS classname,
    MAX(test_name) AS test_name,
    COUNT(*) AS executions,
    COUNT(CASE WHEN outcome = 'passed' THEN 1 END) AS passes,
    COUNT(CASE WHEN outcome IN ('failed', 'error') THEN 1 END) AS failures,
    COUNT(CASE WHEN outcome = 'skipped' THEN 1 END) AS skips,
    AVG(CASE WHEN outcome <> 'skipped' THEN duration_s END) AS avg_duration_s
FROM staging.stg_test_results
WHERE partition_day >= $partition_start AND partition_day < $partition_end
GROUP BY repo, test_id, partition_day
