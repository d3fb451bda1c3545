-- description: Names of every test case seen each day: the repository, classname, name and file
--   behind a test_id, for the tables that count by test_id alone (staging.test_commit_outcomes).
-- owner: team:quality
-- materialized: incremental
-- partition_column: partition_day
-- column test_id: Stable identity of the test case.
-- column partition_day: Partition (UTC day) of the results.
-- column repo: Repository as owner/name.
-- column classname: classname attribute (NULL when the dialect has none).
-- column test_name: name attribute of the testcase.
-- column file: file attribute, when present.
-- tests: unique(test_id, partition_day); not_null(test_id, partition_day, repo, test_name)
SELECT
    test_id,
    partition_day,
    MIN(repo) AS repo,
    MIN(classname) AS classname,
    MIN(test_name) AS test_name,
    MIN(file) AS file
FROM staging.stg_test_results
WHERE partition_day >= $partition_start AND partition_day < $partition_end
GROUP BY test_id, partition_day
-- Stored day by day even after a many-day backfill, so window reads skip the other days.
ORDER BY partition_day
