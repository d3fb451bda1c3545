"""marts.cost_anomalies: expected versus actual CI spend per scope and day, anomalies explained.

Reads `marts.ci_cost_daily` for the reported days plus four weeks of history before them (the
reference of the first reported day), scores every scope-day with core.cost_anomaly, and for each
anomaly asks the warehouse which branch, actor and jobs carried the spend that day, so the row
says what happened ("volume: 154 jobs vs 15 expected; top branch renovate/... by renovate[bot]").
"""

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg
import lazy_loader
from pydantic import Field

from observability_assets.assetkit.metadata import column_schema
from observability_assets.core.contract import COST_ANOMALIES
from observability_assets.core.cost_anomaly import WEEK, CostSettings, DayContext, root_cause, score_costs
from observability_assets.derived.tables import replace_mart
from resources.warehouse import Warehouse, WarehouseResource

# numpy loads on first use, not with the definitions (docs/architecture.md).
np = lazy_loader.load("numpy")

if TYPE_CHECKING:
    import pandas as pd

COST_ANOMALIES_KEY = dg.AssetKey(COST_ANOMALIES.qualified_name.split("."))
SCOPE = ["repo", "workflow_name", "runner_type"]
# Columns score_frame fills; explain() adds the root cause, the asset the computation time.
SCORED = [
    c
    for c in COST_ANOMALIES.column_names
    if c not in ("root_cause", "top_branch", "top_branch_usd", "detected_at")
]
_DAILY_SQL = (
    "SELECT repo, workflow_name, runner_type, day, sum(jobs) AS jobs, sum(cost_usd) AS cost_usd "
    "FROM marts.ci_cost_daily WHERE day >= ? AND runner_type IS NOT NULL AND cost_usd IS NOT NULL "
    "GROUP BY repo, workflow_name, runner_type, day"
)
# What carried the spend of each anomalous scope-day: cost per branch, actor and job name.
_CONTRIBUTORS_SQL = """
SELECT a.row_id, j.head_branch, r.actor, j.job_name, sum(j.billable_minutes * p.usd_per_minute) AS usd
FROM anomaly_days AS a
JOIN staging.stg_ci_jobs AS j
    ON j.repo = a.repo AND j.workflow_name = a.workflow_name AND j.runner_type = a.runner_type
    AND CAST(COALESCE(j.started_at, j.created_at, j.partition_day) AS DATE) = a.day
JOIN seeds.runner_prices AS p ON p.runner_type = j.runner_type
LEFT JOIN raw.ci_runs AS r ON r.repo = j.repo AND r.run_id = j.run_id AND r.run_attempt = j.run_attempt
GROUP BY a.row_id, j.head_branch, r.actor, j.job_name
"""


class CostConfig(dg.Config):
    """Detector settings (defaults measured on the simulated organisation, docs/quality.md)."""

    report_days: int = Field(default=90, description="Days reported, back from the newest day of spend.")
    z_threshold: float = Field(default=CostSettings.z_threshold, description="Robust score an anomaly needs.")
    min_impact_usd: float = Field(
        default=CostSettings.min_impact_usd, description="Smallest extra spend in USD that alerts."
    )
    min_impact_pct: float = Field(
        default=CostSettings.min_impact_pct, description="Smallest extra spend in % of expected that alerts."
    )

    def settings(self) -> CostSettings:
        return CostSettings(
            z_threshold=self.z_threshold,
            min_impact_usd=self.min_impact_usd,
            min_impact_pct=self.min_impact_pct,
        )


def read_daily(warehouse: Warehouse, report_days: int, settings: CostSettings) -> "pd.DataFrame":
    """Spend per scope and day: the reported days plus the history the first of them needs."""
    with warehouse.read("ci cost daily") as con:
        ((newest,),) = con.execute("SELECT max(day) FROM marts.ci_cost_daily").fetchall()
        since = (newest or datetime.now(UTC).date()) - timedelta(
            days=report_days - 1 + settings.lookback_weeks * WEEK
        )
        return con.execute(_DAILY_SQL, [since]).df()


def score_frame(daily: "pd.DataFrame", settings: CostSettings, report_days: int) -> "pd.DataFrame":
    """One row per scope and day of the reported window (days without spend count as 0)."""
    import pandas as pd

    if daily.empty:
        return pd.DataFrame({c: pd.Series(dtype=bool if c == "is_anomaly" else object) for c in SCORED})
    daily = daily.assign(day=pd.to_datetime(daily["day"]))
    days = pd.date_range(daily["day"].min(), daily["day"].max(), freq="D")
    usd = daily.pivot_table(index=SCOPE, columns="day", values="cost_usd", aggfunc="sum", fill_value=0.0)
    jobs = daily.pivot_table(index=SCOPE, columns="day", values="jobs", aggfunc="sum", fill_value=0)
    usd, jobs = usd.reindex(columns=days, fill_value=0.0), jobs.reindex(columns=days, fill_value=0)
    scores = score_costs(usd.to_numpy(dtype=np.float64), jobs.to_numpy(dtype=np.float64), settings)
    first = max(0, len(days) - report_days)
    scopes = usd.index.to_frame(index=False)
    n_scopes, n_days = len(scopes), len(days) - first
    frame = pd.DataFrame({
        "repo": np.repeat(scopes["repo"].to_numpy(), n_days),
        "workflow_name": np.repeat(scopes["workflow_name"].to_numpy(), n_days),
        "runner_type": np.repeat(scopes["runner_type"].to_numpy(), n_days),
        "day": np.tile(days[first:].date, n_scopes),
        "expected_usd": scores.expected[:, first:].ravel(),
        "actual_usd": usd.to_numpy()[:, first:].ravel(),
        "impact_usd": scores.impact[:, first:].ravel(),
        "impact_pct": scores.impact_pct[:, first:].ravel(),
        "score": scores.score[:, first:].ravel(),
        "is_anomaly": scores.is_anomaly[:, first:].ravel(),
        "jobs": jobs.to_numpy()[:, first:].ravel().astype(np.int64),
        "expected_jobs": scores.expected_jobs[:, first:].ravel(),
    })  # fmt: skip
    frame["scope"] = frame["repo"] + " / " + frame["workflow_name"] + " / " + frame["runner_type"]
    return frame


def explain(warehouse: Warehouse, frame: "pd.DataFrame") -> "pd.DataFrame":
    """Fill root_cause, top_branch and top_branch_usd of the anomalies from the day's jobs."""
    import pandas as pd

    frame = frame.assign(root_cause=None, top_branch=None, top_branch_usd=np.nan)
    anomalies = frame.index[frame["is_anomaly"]]
    if not len(anomalies):
        return frame
    days = frame.loc[anomalies, [*SCOPE, "day"]].assign(row_id=anomalies.to_numpy())
    with warehouse.read("cost anomaly contributors") as con:
        con.register("anomaly_days", days)
        try:
            parts = con.execute(_CONTRIBUTORS_SQL).df()
        finally:
            con.unregister("anomaly_days")
    by_row = dict(list(parts.groupby("row_id")))
    for row_id in anomalies:
        row = frame.loc[row_id]
        group = by_row.get(row_id, pd.DataFrame(columns=["head_branch", "actor", "job_name", "usd"]))
        branches = group.groupby("head_branch", dropna=False)["usd"].sum().sort_values(ascending=False)
        top_branch = branches.index[0] if len(branches) else None
        actors = group[group["head_branch"] == top_branch].groupby("actor")["usd"].sum()
        ctx = DayContext(
            actual_usd=float(row["actual_usd"]),
            expected_usd=float(row["expected_usd"]),
            jobs=int(row["jobs"]),
            expected_jobs=float(row["expected_jobs"]),
            top_branch=top_branch,
            top_branch_usd=float(branches.iloc[0]) if len(branches) else 0.0,
            top_actor=actors.idxmax() if len(actors) else None,
            job_names=tuple(sorted(group["job_name"].dropna().unique())),
        )
        frame.at[row_id, "root_cause"] = root_cause(ctx, row["runner_type"])
        frame.at[row_id, "top_branch"] = top_branch
        frame.at[row_id, "top_branch_usd"] = ctx.top_branch_usd if top_branch is not None else np.nan
    return frame


def _preview(frame: "pd.DataFrame", limit: int = 10) -> str:
    anomalies = frame[frame["is_anomaly"].astype(bool)].sort_values("impact_usd", ascending=False)
    if anomalies.empty:
        return "No anomalies."
    lines = ["| day | scope | expected | actual | impact | root cause |", "|---|---|---|---|---|---|"]
    for row in anomalies.head(limit).itertuples(index=False):
        cause = str(row.root_cause).replace("|", "\\|")
        lines.append(
            f"| {row.day} | {row.scope} | ${row.expected_usd:.2f} | ${row.actual_usd:.2f} "
            f"| +${row.impact_usd:.2f} | {cause} |"
        )
    return "\n".join(lines)


@dg.asset(
    key=COST_ANOMALIES_KEY,
    deps=[
        dg.AssetKey(["marts", "ci_cost_daily"]),
        dg.AssetKey(["staging", "stg_ci_jobs"]),
        dg.AssetKey(["seeds", "runner_prices"]),
        dg.AssetKey(["raw", "ci_runs"]),
    ],
    description=COST_ANOMALIES.comment,
    group_name="marts",
    kinds={"python", "duckdb"},
    owners=["team:platform"],
    metadata={"dagster/column_schema": column_schema(COST_ANOMALIES)},
)
def cost_anomalies(config: CostConfig, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Same-weekday median/MAD scoring of every scope-day, with minimum-impact thresholds."""
    began = time.perf_counter()
    wh = warehouse.get()
    settings = config.settings()
    frame = score_frame(read_daily(wh, config.report_days, settings), settings, config.report_days)
    frame = explain(wh, frame.assign(detected_at=datetime.now(UTC).replace(tzinfo=None)))
    rows = replace_mart(wh, COST_ANOMALIES, frame)
    anomalies = frame[frame["is_anomaly"].astype(bool)]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "anomalies": len(anomalies),
            "scopes": int(frame["scope"].nunique()),
            "impact_usd": round(float(anomalies["impact_usd"].sum()), 2),
            "anomalies_preview": dg.MetadataValue.md(_preview(frame)),
            "vigil/seconds_in_asset": round(time.perf_counter() - began, 3),
        }
    )


@dg.asset_check(asset=COST_ANOMALIES_KEY, description="Impacts add up and anomalies meet every threshold.")
def cost_anomalies_consistent(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """impact = actual - expected; anomalies are increases with a root cause; one row per scope-day."""
    with warehouse.get().read("check cost_anomalies") as con:
        ((bad_impact, bad_anomaly, duplicates, rows),) = con.execute(
            "SELECT "
            "count(*) FILTER (WHERE abs(impact_usd - (actual_usd - expected_usd)) > 1e-6), "
            "count(*) FILTER (WHERE is_anomaly AND (impact_usd <= 0 OR root_cause IS NULL)), "
            "count(*) - count(DISTINCT (scope, day)), count(*) FROM marts.cost_anomalies"
        ).fetchall()
    return dg.AssetCheckResult(
        passed=bad_impact == 0 and bad_anomaly == 0 and duplicates == 0,
        metadata={
            "rows": rows,
            "impact_mismatches": bad_impact,
            "bad_anomalies": bad_anomaly,
            "duplicates": duplicates,
        },
    )
