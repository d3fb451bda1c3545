-- description: One row per flaky episode of a test: the day it was flagged, the day the flag
--   cleared (NULL while it lasts), how long it lasted, its peak score and the evidence that
--   flagged it (the commits it flipped on, the last failing and the latest run of each). Episodes
--   come from marts.flaky_daily, where the hysteresis decides each day; an episode also ends
--   when the test stops running (it leaves the window: state `gone`).
-- owner: team:quality
-- column repo: Repository as owner/name.
-- column test_id: Stable identity of the test case.
-- column classname: classname of the test case.
-- column test_name: Name of the test case.
-- column flagged_on: Day the flag was raised.
-- column cleared_on: Day the flag cleared (NULL while open or when the test stopped running).
-- column last_flagged_on: Last day the test was flagged in this episode.
-- column days_flagged: Days the episode lasted (as evaluated).
-- column peak_score: Highest score during the episode.
-- column quarantined: Whether the test was quarantined during the episode.
-- column state: open (still flagged on the latest day scored), cleared, or gone (stopped running).
-- column flag_evidence_shas: Commits it flipped on when it was flagged (latest first, up to 10).
-- column flag_evidence_failed_run_ids: A failing run on each of those commits.
-- column flag_evidence_latest_run_ids: The latest run on each of those commits.
-- tests: unique(repo, test_id, flagged_on); not_null(repo, test_id, flagged_on, days_flagged, state)
-- tests: accepted_values(state: open, cleared, gone); accepted_range(peak_score: 0, 1)
WITH flagged AS (
    SELECT *
    FROM marts.flaky_daily
    WHERE flagged
),

episodes AS (
    SELECT
        repo,
        test_id,
        flagged_since AS flagged_on,
        MIN(classname) AS classname,
        MIN(test_name) AS test_name,
        MAX(as_of) AS last_flagged_on,
        COUNT(*) AS days_flagged,
        MAX(score) AS peak_score,
        BOOL_OR(quarantined) AS quarantined
    FROM flagged
    GROUP BY repo, test_id, flagged_since
),

clears AS (
    SELECT repo, test_id, as_of AS cleared_on
    FROM marts.flaky_daily
    WHERE event = 'cleared'
),

first_clear AS (
    SELECT e.repo, e.test_id, e.flagged_on, MIN(c.cleared_on) AS cleared_on
    FROM episodes AS e
    INNER JOIN clears AS c ON c.repo = e.repo AND c.test_id = e.test_id AND c.cleared_on > e.last_flagged_on
    GROUP BY e.repo, e.test_id, e.flagged_on
),

latest AS (
    SELECT MAX(as_of) AS as_of FROM marts.flaky_daily
)

SELECT
    e.repo,
    e.test_id,
    e.classname,
    e.test_name,
    e.flagged_on,
    c.cleared_on,
    e.last_flagged_on,
    e.days_flagged,
    e.peak_score,
    e.quarantined,
    CASE
        WHEN c.cleared_on IS NOT NULL THEN 'cleared'
        WHEN e.last_flagged_on = l.as_of THEN 'open'
        ELSE 'gone'
    END AS state,
    f.evidence_shas AS flag_evidence_shas,
    f.evidence_failed_run_ids AS flag_evidence_failed_run_ids,
    f.evidence_latest_run_ids AS flag_evidence_latest_run_ids
FROM episodes AS e
CROSS JOIN latest AS l
LEFT JOIN first_clear AS c ON c.repo = e.repo AND c.test_id = e.test_id AND c.flagged_on = e.flagged_on
LEFT JOIN marts.flaky_daily AS f ON f.repo = e.repo AND f.test_id = e.test_id AND f.as_of = e.flagged_on
