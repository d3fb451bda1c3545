"""A warehouse holding every table the weekly report reads, with known incidents and findings.

The report must be checked section by section even before every feature's assets run in one
demo, so this builds the marts at their contract columns from a seeded generator: two weeks of
minute probes for three services (an outage, a latency degradation and an error burst in the
report week), SLO rows with their hourly rollup, flaky scores with status changes, drift
findings, CI KPIs and cost with two anomalies, automation KPIs, ledger and issues.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from resources.warehouse import Warehouse

AS_OF = datetime(2026, 10, 28, 0, 0)
SERVICES = ("checkout", "search", "payments")
REPOS = ("acme/api", "acme/web", "acme/data")
RUNNERS = {"linux-2": 0.006, "linux-8": 0.022, "macos": 0.062}
# Known incidents inside the report week (start, minutes, kind).
OUTAGE = ("checkout", AS_OF - timedelta(days=3, hours=5), 40)
LATENCY = ("search", AS_OF - timedelta(days=2, hours=10), 180)
ERROR_BURST = ("payments", AS_OF - timedelta(days=5, hours=2), 90)
COST_SPIKE = ("acme/web", (AS_OF - timedelta(days=4)).date())


def _probes(rng: np.random.Generator, days: int = 14) -> pd.DataFrame:
    minutes = pd.date_range(AS_OF - timedelta(days=days) + timedelta(minutes=1), AS_OF, freq="1min")
    frames = []
    for index, service in enumerate(SERVICES):
        n = len(minutes)
        latency = rng.lognormal(np.log(120 + 60 * index), 0.25, n)
        ok = rng.random(n) > 0.0005
        state = np.where(ok, "ok", "ok").astype(object)
        if service == OUTAGE[0]:
            hit = (minutes >= OUTAGE[1]) & (minutes < OUTAGE[1] + timedelta(minutes=OUTAGE[2]))
            ok[hit] = False
            state[hit] = "down"
        if service == LATENCY[0]:
            hit = (minutes >= LATENCY[1]) & (minutes < LATENCY[1] + timedelta(minutes=LATENCY[2]))
            latency[hit] = rng.uniform(1500, 2500, hit.sum())
            state[hit] = "degraded"
        if service == ERROR_BURST[0]:
            hit = (minutes >= ERROR_BURST[1]) & (minutes < ERROR_BURST[1] + timedelta(minutes=ERROR_BURST[2]))
            ok[hit] = rng.random(hit.sum()) > 0.2
            state[hit] = "degraded"
        frames.append(
            pd.DataFrame(
                {
                    "probe_id": [f"{service}-{i}" for i in range(n)],
                    "service": service,
                    "url": f"http://127.0.0.1/{service}/health",
                    "probed_at": minutes,
                    "status_code": np.where(ok, 200, 503),
                    "latency_ms": latency,
                    "ok": ok,
                    "error": np.where(ok, None, "HTTP 503"),
                    "state": state,
                    "source": "simulated",
                    "partition_day": minutes.normalize().date,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


SLO_DEFS = pd.DataFrame(
    {
        "service": [s for s in SERVICES for _ in (0, 1)],
        "slo": ["availability", "latency-p95"] * 3,
        "kind": ["availability", "latency"] * 3,
        "objective": [0.999, 0.95, 0.995, 0.95, 0.999, 0.95],
        "window_days": [30, 30, 28, 28, 30, 30],
        "threshold_ms": [None, 500.0, None, 1000.0, None, 800.0],
    }
)


def _flaky(rng: np.random.Generator) -> pd.DataFrame:
    n = 40
    status = np.array(["stable"] * 30 + ["flaky"] * 6 + ["broken"] * 2 + ["quarantined"] * 2)
    score = np.where(status == "stable", rng.uniform(0, 0.1, n), rng.uniform(0.3, 0.95, n))
    today = AS_OF.date()
    flagged = [
        today - timedelta(days=int(d)) if s in ("flaky", "quarantined") else None
        for s, d in zip(status, rng.integers(8, 20, n), strict=True)
    ]
    # Two tests flagged inside the report week, two cleared in it.
    flagged[38], flagged[39] = today - timedelta(days=2), today - timedelta(days=6)
    cleared = [today - timedelta(days=2) if i in (3, 7) else None for i in range(n)]
    return pd.DataFrame(
        {
            "repo": [REPOS[i % 3] for i in range(n)],
            "test_id": [f"t{i:03d}" for i in range(n)],
            "classname": [f"tests.test_module_{i % 5}" for i in range(n)],
            "test_name": [f"test_case_{i}[param-{i % 3}]" for i in range(n)],
            "runs": rng.integers(20, 200, n),
            "failures": rng.integers(0, 30, n),
            "flaky_commits": np.where(status == "flaky", rng.integers(2, 9, n), 0),
            "flip_rate": np.where(status == "stable", 0.0, rng.uniform(0.1, 0.5, n)),
            "score": score,
            "status": status,
            "broken_since_sha": [f"{i:07x}" if s == "broken" else None for i, s in enumerate(status)],
            "flagged_since": flagged,
            "first_flagged_on": flagged,
            "last_cleared_on": cleared,
            "last_seen_at": AS_OF - timedelta(hours=3),
        }
    )


def _drift() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "series_kind": ["test_duration", "job_duration", "probe_latency", "benchmark"],
            "series_key": [
                "acme/api|test|t001",
                "acme/web|ci|build",
                "search|/health",
                "acme/data|bench|parse",
            ],
            "subject": [
                "tests.test_io::test_upload [test]",
                "ci / build",
                "search /health",
                "bench / parse_mb_s",
            ],
            "unit": ["s", "s", "ms", "MB/s"],
            "change_at": [AS_OF - timedelta(days=d) for d in (2, 4, 6, 12)],
            "commit_sha": ["a1b2c3d4e5", "b2c3d4e5f6", None, "c3d4e5f6a7"],
            "before_value": [1.2, 310.0, 180.0, 95.0],
            "after_value": [2.9, 480.0, 120.0, 140.0],
            "change_pct": [141.7, 54.8, -33.3, 47.4],
            "direction": ["regression", "regression", "improvement", "improvement"],
        }
    )


def _drift_series(rng: np.random.Generator, drift: pd.DataFrame) -> pd.DataFrame:
    """Measured points around each finding: noise around the before level, then the after level."""
    frames = []
    for row in drift.itertuples(index=False):
        at = pd.date_range(AS_OF - timedelta(days=27), AS_OF - timedelta(hours=1), freq="6h")
        level = np.where(at < row.change_at, row.before_value, row.after_value)
        frames.append(
            pd.DataFrame(
                {
                    "series_kind": row.series_kind,
                    "series_key": row.series_key,
                    "point_at": at,
                    "value": level * rng.normal(1, 0.04, len(at)),
                    "unit": row.unit,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _ci(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    days = pd.date_range(AS_OF - timedelta(days=28), AS_OF - timedelta(days=1), freq="1D").date
    kpis, cost, anomalies = [], [], []
    for r, repo in enumerate(REPOS):
        for day in days:
            runs = int(rng.integers(20, 60))
            finished = runs - 2
            kpis.append(
                {
                    "repo": repo,
                    "workflow_name": "ci",
                    "day": day,
                    "runs": runs,
                    "finished_runs": finished,
                    "successful_runs": int(finished * rng.uniform(0.8, 0.98)),
                    "p50_duration_s": 300 + 60 * r + rng.normal(0, 20),
                    "p95_duration_s": 600 + 90 * r + rng.normal(0, 40),
                    "rerun_runs": int(rng.integers(0, 5)),
                }
            )
            for runner, price in RUNNERS.items():
                minutes = int(rng.integers(100, 400)) * (1 if runner != "macos" else 0.2)
                if (repo, day) == COST_SPIKE and runner == "macos":
                    minutes *= 6
                cost.append(
                    {
                        "repo": repo,
                        "workflow_name": "ci",
                        "runner_type": runner,
                        "day": day,
                        "jobs": int(minutes // 7) + 1,
                        "billable_minutes": int(minutes),
                        "usd_per_minute": price,
                        "cost_usd": int(minutes) * price,
                    }
                )
    cost_frame = pd.DataFrame(cost)
    for (repo, day), group in cost_frame.groupby(["repo", "day"]):
        actual = float(group["cost_usd"].sum())
        anomalous = (repo, day) == COST_SPIKE
        expected = actual / 3 if anomalous else actual * rng.uniform(0.9, 1.1)
        anomalies.append(
            {
                "scope": f"{repo}|ci|all runners",
                "repo": repo,
                "day": day,
                "expected_usd": expected,
                "actual_usd": actual,
                "impact_usd": actual - expected,
                "impact_pct": 100 * (actual - expected) / expected,
                "is_anomaly": anomalous,
            }
        )
    return pd.DataFrame(kpis), cost_frame, pd.DataFrame(anomalies)


def _automation(rng: np.random.Generator) -> pd.DataFrame:
    """Daily counts as marts.automation_kpis keeps them; the week's totals are set exactly."""
    days = pd.date_range(AS_OF - timedelta(days=14), AS_OF - timedelta(days=1), freq="1D").date
    n = len(days)
    episodes = np.full(n, 4)
    heal_attempts = np.full(n, 2)
    healed = np.array([2, 1] * (n // 2))  # 3 of 4 per two days: 75 % self-healing
    false_positives = np.array([0, 0, 1, 0] * (n // 4) + [0] * (n % 4))
    return pd.DataFrame(
        {
            "day": days,
            "alerts": episodes + rng.integers(0, 2, n),
            "episodes": episodes,
            "false_positives": false_positives,
            "false_positive_rate": false_positives / episodes,
            "heal_attempts": heal_attempts,
            "healed": healed,
            "self_healing_rate": healed / heal_attempts,
            "mttr_minutes": np.where(healed == 2, 6.0, 12.0),
            "actions": heal_attempts + 1,
            "pages": np.zeros(n, dtype=int),
        }
    )


def _ledger() -> pd.DataFrame:
    at = [OUTAGE[1] + timedelta(minutes=m) for m in (3, 4, 6)]
    return pd.DataFrame(
        {
            "seq": [1, 2, 3],
            "at": at,
            "actor": "slo_burn_sensor",
            "action": ["remediate:restart", "verify", "recovered"],
            "subject": "checkout",
            "detail": ["{}", "{}", "{}"],
            "prev_hash": ["", "h1", "h2"],
            "hash": ["h1", "h2", "h3"],
        }
    )


def _issues() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "fingerprint": ["f1", "f2"],
            "kind": ["incident", "flaky-test"],
            "repo": ["acme/ops", "acme/api"],
            "number": [12, 13],
            "url": ["http://127.0.0.1/acme/ops/issues/12", "http://127.0.0.1/acme/api/issues/13"],
            "state": ["closed", "open"],
            "title": ["checkout is down", "Flaky test test_case_31"],
            "occurrences": [1, 3],
            "updated_at": [AS_OF - timedelta(days=3), AS_OF - timedelta(days=1)],
        }
    )


def _canary() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "replay_id": ["r1", "r1"],
            "metric": ["latency_ms", "error_rate"],
            "classification": ["High", "Pass"],
            "score": [50.0, 50.0],
            "verdict": ["fail", "fail"],
            "judged_at": [AS_OF - timedelta(days=1)] * 2,
            "control_mean": [120.0, 0.0],
            "experiment_mean": [160.0, 0.01],
        }
    )


HOURLY_SQL = """
INSERT INTO staging.health_probes_hourly BY NAME
SELECT d.service, d.slo, d.kind, d.threshold_ms,
       date_trunc('hour', p.probed_at - INTERVAL 1 MICROSECOND) + INTERVAL 1 HOUR AS bucket_end,
       count(*) AS valid,
       count(*) FILTER (WHERE p.ok AND (d.kind = 'availability' OR p.latency_ms <= d.threshold_ms)) AS good
FROM raw.health_probes p JOIN slo_defs d ON d.service = p.service
GROUP BY ALL
"""

SLO_SQL = """
INSERT INTO marts.slo_compliance BY NAME
SELECT h.service, h.slo, h.kind, d.objective, d.window_days, h.threshold_ms,
       sum(h.valid) AS valid_events, sum(h.good) AS good_events, sum(h.good) / sum(h.valid) AS sli,
       1 - (1 - sum(h.good) / sum(h.valid)) / (1 - d.objective) AS error_budget_remaining,
       CASE WHEN h.service = 'checkout' AND h.kind = 'availability' THEN 'ticket' ELSE 'none' END AS alert,
       sum(h.good) / sum(h.valid) >= d.objective AS compliant,
       ? AS as_of
FROM staging.health_probes_hourly h JOIN slo_defs d ON d.service = h.service AND d.slo = h.slo
GROUP BY h.service, h.slo, h.kind, d.objective, d.window_days, h.threshold_ms
"""


def _data_trust() -> pd.DataFrame:
    """One finding per section, a stale source and a reconciliation that does not add up."""
    rows = [
        ("freshness", "raw.ci_runs", "hours since last load", 26.0, 30.5, "fail", "last load 30.5 h ago"),
        ("reconciliation", "github_actions/acme/api", "runs", 120.0, 118.0, "fail", "2 partitions differ"),
        ("reconciliation", "github_actions/acme/web", "jobs", 300.0, 300.0, "ok", "300 of 300"),
        ("checks", "all asset checks", "failed (latest evaluation)", 0.0, 0.0, "ok", "0 of 40 failed"),
        ("rejected_inputs", "junit_artifact", "malformed XML", None, 3.0, "warn", "3 inputs"),
        ("redactions", "junit", "github_token", None, 42.0, "info", "42 replaced in 5 partitions"),
        ("late_changes", "raw.ci_runs", "updates after their day", None, 17.0, "info", "17 attempts"),
    ]
    columns = ["section", "source", "subject", "expected", "observed", "status", "detail"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.assign(window_start=(AS_OF - timedelta(days=28)).date(), as_of=AS_OF)


def _coverage(rng: np.random.Generator) -> pd.DataFrame:
    """Default-branch coverage: acme/api holds 88 %, acme/web sinks under the 80 % floor."""
    rows = []
    for repo, level, slope in (("acme/api", 88.0, 0.0), ("acme/web", 82.0, -0.25)):
        for back in range(20, -1, -1):
            pct = level + slope * (20 - back) + float(rng.normal(0, 0.2))
            rows.append(
                {
                    "repo": repo,
                    "day": (AS_OF - timedelta(days=back)).date(),
                    "head_sha": f"{len(rows):040x}",
                    "line_coverage_pct": pct,
                    "branch_coverage_pct": pct - 8,
                    "line_change_points": slope,
                    "biggest_drops": "src/billing.js -4.0" if slope else None,
                }
            )
    return pd.DataFrame(rows)


def _dependency_risk() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "repo": ["acme/api", "acme/web", "acme/web"],
            "severity": ["high", "critical", "medium"],
            "sla_days": [30, 7, 90],
            "open_alerts": [1, 1, 2],
            "fixable_open_alerts": [1, 1, 1],
            "oldest_open_days": [3.0, 12.5, 40.0],
            "mean_open_days": [3.0, 12.5, 25.0],
            "sla_breaches": [0, 1, 0],
            "fixed_alerts": [4, 2, 3],
            "dismissed_alerts": [0, 0, 1],
            "mean_days_to_fix": [2.5, 1.0, 9.0],
            "as_of": [AS_OF] * 3,
        }
    )


# Known failure causes of the report week (7-day window; the 28-day window holds them too).
FAILURE_CAUSES = (
    # signature, example message, probable file, failures, tests, repos, infra share, status, first seen days ago
    ("a1", "TypeError: Cannot read properties of undefined (reading 'formatISO')", "src/lib/dates.ts", 84, 14, 2, 0.0, "broken", 3),
    ("b2", "java.net.ConnectException: Connection refused", "com/acme/api/core/Db.java", 61, 40, 1, 0.95, "stable", 20),
    ("c3", "httpx.ReadError: [Errno 104] Connection reset by peer", "src/data/clients.py", 17, 3, 1, 0.0, "flaky", 25),
    ("d4", "AssertionError: assert 41 == 40", "tests/test_order.py", 5, 1, 1, 0.0, "broken", 1),
)  # fmt: skip


def _failure_clusters() -> pd.DataFrame:
    rows = []
    for window in (7, 28):
        for signature, message, file, failures, tests, repos, infra, status, age in FAILURE_CAUSES:
            daily = [0] * window
            per_day = failures // min(window, age + 1)
            for d in range(min(window, age + 1)):
                daily[window - 1 - d] = per_day
            daily[-1] += failures - sum(daily)
            first = AS_OF - timedelta(days=age)
            rows.append(
                {
                    "window_days": window,
                    "window_start": (AS_OF - timedelta(days=window)).date(),
                    "as_of": (AS_OF - timedelta(days=1)).date(),
                    "signature": signature,
                    "signature_text": message,
                    "per_test": tests == 1,
                    "example_message": message,
                    "example_frame": f"{file}:12",
                    "probable_file": file,
                    "probable_module": file.rsplit("/", 1)[0],
                    "frame_source": "stack",
                    "dialect": "python",
                    "first_seen": max(first, AS_OF - timedelta(days=window)),
                    "last_seen": AS_OF - timedelta(hours=2),
                    "first_seen_ever": first.date(),
                    "failures": failures,
                    "tests": tests,
                    "runs": failures,
                    "repos": repos,
                    "repo_list": list(REPOS[:repos]),
                    "infra_share": infra,
                    "flaky_tests": tests if status == "flaky" else 0,
                    "broken_tests": tests if status == "broken" else 0,
                    "test_status": status,
                    "daily_failures": daily,
                    "computed_at": AS_OF,
                }
            )
    return pd.DataFrame(rows)


def build_report_warehouse(path: Path, seed: int = 3) -> Warehouse:
    rng = np.random.default_rng(seed)
    warehouse = Warehouse(path)
    kpis, cost, anomalies = _ci(rng)
    marts = {
        "marts.flaky_scores": _flaky(rng),
        "marts.regression_drift": _drift(),
        "marts.drift_series": _drift_series(rng, _drift()),
        "marts.ci_daily_kpis": kpis,
        "marts.ci_cost_daily": cost,
        "marts.cost_anomalies": anomalies,
        "marts.automation_kpis": _automation(rng),
        "marts.data_trust": _data_trust(),
        "marts.coverage_daily": _coverage(rng),
        "marts.dependency_risk": _dependency_risk(),
    }
    contract = {
        "raw.health_probes": _probes(rng),
        "ops.ledger": _ledger(),
        "ops.issues": _issues(),
        "marts.canary_verdicts": _canary(),
        "marts.failure_clusters": _failure_clusters(),
    }
    with warehouse.write("build report fixture") as con:
        for name, frame in contract.items():
            con.register("incoming", frame)
            con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM incoming")
            con.unregister("incoming")
        for name, frame in marts.items():
            con.register("incoming", frame)
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM incoming")
            con.unregister("incoming")
        con.register("slo_defs", SLO_DEFS)
        con.execute(HOURLY_SQL)
        con.execute(SLO_SQL, [AS_OF])
        con.unregister("slo_defs")
    return warehouse
