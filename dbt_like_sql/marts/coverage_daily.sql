-- description: Code coverage of each repository's default branch per day (UTC partition of the
--   runs): the last commit measured that day, its line and branch coverage over every file its
--   coverage reports named, the change against the previous commit measured on the default
--   branch, and the files whose line coverage dropped most. A commit counts with its latest run
--   attempt that uploaded coverage; commits are ordered by their first such run. The default
--   branch comes from seeds.repo_default_branches, else main or master.
-- owner: team:quality
-- column repo: Repository as owner/name.
-- column day: Day (UTC partition) of the commit's latest measured run.
-- column head_sha: Last commit measured on the default branch that day.
-- column run_id: Run whose reports measured it (its latest attempt that uploaded coverage).
-- column files: Source files in that run's reports.
-- column lines_valid: Lines that could run, over those files.
-- column lines_covered: Lines that ran.
-- column line_coverage_pct: 100 * lines_covered / lines_valid.
-- column branches_valid: Branches over those files (NULL when no report had branch data).
-- column branches_covered: Branches taken.
-- column branch_coverage_pct: 100 * branches_covered / branches_valid.
-- column previous_sha: The commit measured before it on the default branch (NULL for the first).
-- column line_change_points: line_coverage_pct minus the previous commit's, in percentage points.
-- column branch_change_points: The same for branch coverage.
-- column biggest_drops: Up to three files whose line coverage fell most against the previous commit, e.g. "src/a.py -12.5".
-- tests: unique(repo, day); not_null(repo, day, head_sha, lines_valid)
-- tests: accepted_range(line_coverage_pct: 0, 100); accepted_range(branch_coverage_pct: 0, 100)
WITH default_branch AS (
    SELECT c.*
    FROM raw.coverage_files AS c
    LEFT JOIN seeds.repo_default_branches AS b ON b.repo = c.repo
    WHERE c.branch = b.default_branch
        OR (b.default_branch IS NULL AND c.branch IN ('main', 'master'))
),

measured_runs AS (
    SELECT
        repo,
        head_sha,
        run_id,
        run_attempt,
        MAX(partition_day) AS day,
        COUNT(*) AS files,
        SUM(lines_valid) AS lines_valid,
        SUM(lines_covered) AS lines_covered,
        SUM(branches_valid) AS branches_valid,
        SUM(branches_covered) AS branches_covered
    FROM default_branch
    GROUP BY repo, head_sha, run_id, run_attempt
),

commits AS (
    SELECT
        *,
        MIN(run_id) OVER (PARTITION BY repo, head_sha) AS first_run_id,
        ROW_NUMBER() OVER (PARTITION BY repo, head_sha ORDER BY run_id DESC, run_attempt DESC) AS newest
    FROM measured_runs
),

ordered AS (
    SELECT
        repo,
        head_sha,
        run_id,
        run_attempt,
        day,
        files,
        lines_valid,
        lines_covered,
        branches_valid,
        branches_covered,
        100.0 * lines_covered / NULLIF(lines_valid, 0) AS line_coverage_pct,
        100.0 * branches_covered / NULLIF(branches_valid, 0) AS branch_coverage_pct,
        LAG(head_sha) OVER (PARTITION BY repo ORDER BY first_run_id, head_sha) AS previous_sha,
        LAG(run_id) OVER (PARTITION BY repo ORDER BY first_run_id, head_sha) AS previous_run_id,
        LAG(run_attempt) OVER (PARTITION BY repo ORDER BY first_run_id, head_sha) AS previous_run_attempt,
        LAG(100.0 * lines_covered / NULLIF(lines_valid, 0)) OVER (
            PARTITION BY repo ORDER BY first_run_id, head_sha
        ) AS previous_line_pct,
        LAG(100.0 * branches_covered / NULLIF(branches_valid, 0)) OVER (
            PARTITION BY repo ORDER BY first_run_id, head_sha
        ) AS previous_branch_pct,
        ROW_NUMBER() OVER (PARTITION BY repo, day ORDER BY first_run_id DESC, head_sha DESC) AS last_of_day
    FROM commits
    WHERE newest = 1
),

file_drops AS (
    SELECT
        o.repo,
        o.head_sha,
        cur.path,
        100.0 * prev.lines_covered / NULLIF(prev.lines_valid, 0)
        - 100.0 * cur.lines_covered / NULLIF(cur.lines_valid, 0) AS drop_points
    FROM ordered AS o
    INNER JOIN default_branch AS cur
        ON cur.repo = o.repo AND cur.run_id = o.run_id AND cur.run_attempt = o.run_attempt
    INNER JOIN default_branch AS prev
        ON prev.repo = o.repo
        AND prev.run_id = o.previous_run_id
        AND prev.run_attempt = o.previous_run_attempt
        AND prev.path = cur.path
    WHERE o.last_of_day = 1
),

ranked_drops AS (
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY repo, head_sha ORDER BY drop_points DESC, path) AS position
    FROM file_drops
    WHERE drop_points > 0
),

drops AS (
    SELECT
        repo,
        head_sha,
        STRING_AGG(path || ' -' || CAST(ROUND(drop_points, 1) AS VARCHAR), ', ' ORDER BY position) AS biggest_drops
    FROM ranked_drops
    WHERE position <= 3
    GROUP BY repo, head_sha
)

SELECT
    o.repo,
    o.day,
    o.head_sha,
    o.run_id,
    o.files,
    o.lines_valid,
    o.lines_covered,
    o.line_coverage_pct,
    o.branches_valid,
    o.branches_covered,
    o.branch_coverage_pct,
    o.previous_sha,
    o.line_coverage_pct - o.previous_line_pct AS line_change_points,
    o.branch_coverage_pct - o.previous_branch_pct AS branch_change_points,
    d.biggest_drops
FROM ordered AS o
LEFT JOIN drops AS d ON d.repo = o.repo AND d.head_sha = o.head_sha
WHERE o.last_of_day = 1
