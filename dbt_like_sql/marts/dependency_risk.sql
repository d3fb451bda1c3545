-- description: Dependency risk per repository and advisory severity, from the Dependabot alerts of
--   the last crawl: how many alerts are open and how old they are, how many of those can be fixed
--   by an upgrade, how many breach their SLA (seeds.advisory_slas: days an alert of the severity
--   may stay open), and how long fixed alerts took. Ages count to the crawl (fetched_at).
-- owner: team:security
-- column repo: Repository as owner/name.
-- column severity: low, medium, high or critical.
-- column sla_days: Days an alert of this severity may stay open (NULL when the seed has no row).
-- column open_alerts: Alerts open at the crawl.
-- column fixable_open_alerts: Open alerts with a patched version available.
-- column oldest_open_days: Age in days of the oldest open alert.
-- column mean_open_days: Mean age in days of the open alerts.
-- column sla_breaches: Open alerts older than sla_days.
-- column fixed_alerts: Alerts fixed so far.
-- column dismissed_alerts: Alerts dismissed by people or by rule.
-- column mean_days_to_fix: Mean days from opening to fix over the fixed alerts.
-- column as_of: The crawl the figures count to.
-- tests: unique(repo, severity); not_null(repo, severity, open_alerts)
-- tests: accepted_range(open_alerts: 0, ); accepted_range(mean_days_to_fix: 0, )
WITH alerts AS (
    SELECT
        a.repo,
        a.severity,
        a.state,
        a.fix_available,
        a.fetched_at,
        s.sla_days,
        DATE_DIFF('second', a.created_at, a.fetched_at) / 86400.0 AS age_days,
        DATE_DIFF('second', a.created_at, a.fixed_at) / 86400.0 AS days_to_fix
    FROM raw.dependency_alerts AS a
    LEFT JOIN seeds.advisory_slas AS s ON s.severity = a.severity
)

SELECT
    repo,
    severity,
    MAX(sla_days) AS sla_days,
    COUNT(CASE WHEN state = 'open' THEN 1 END) AS open_alerts,
    COUNT(CASE WHEN state = 'open' AND fix_available THEN 1 END) AS fixable_open_alerts,
    MAX(CASE WHEN state = 'open' THEN age_days END) AS oldest_open_days,
    AVG(CASE WHEN state = 'open' THEN age_days END) AS mean_open_days,
    COUNT(CASE WHEN state = 'open' AND age_days > sla_days THEN 1 END) AS sla_breaches,
    COUNT(CASE WHEN state = 'fixed' THEN 1 END) AS fixed_alerts,
    COUNT(CASE WHEN state IN ('dismissed', 'auto_dismissed') THEN 1 END) AS dismissed_alerts,
    AVG(CASE WHEN state = 'fixed' THEN days_to_fix END) AS mean_days_to_fix,
    MAX(fetched_at) AS as_of
FROM alerts
GROUP BY repo, severity
