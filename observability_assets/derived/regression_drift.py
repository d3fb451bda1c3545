"""marts.regression_drift: lasting changes in test and job durations, service latencies and benchmarks.

One short read takes every point of `marts.drift_series` inside the lookback (ending at its newest
point, so a quiet week does not shrink the window), sorted by series and time; core.changepoints
finds the change points of all series in one pass; one short write replaces the mart. Each change
is attributed to the commit of the first point at the new level, with the commit of the last point
before it, so the culprit lies in (previous_commit_sha, commit_sha].
"""

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg
import lazy_loader
from pydantic import Field

from observability_assets.assetkit.metadata import column_schema
from observability_assets.core.changepoints import REGRESSION, DriftSettings, detect_change_points
from observability_assets.core.contract import REGRESSION_DRIFT
from observability_assets.derived.tables import replace_mart
from resources.warehouse import Warehouse, WarehouseResource

# numpy loads on first use, not with the definitions (docs/architecture.md).
np = lazy_loader.load("numpy")

if TYPE_CHECKING:
    import pandas as pd

REGRESSION_DRIFT_KEY = dg.AssetKey(REGRESSION_DRIFT.qualified_name.split("."))
DRIFT_SERIES_KEY = dg.AssetKey(["marts", "drift_series"])

_POINTS_SQL = (
    "SELECT series_kind, series_key, repo, subject, unit, bigger_is_better, point_at, commit_sha, "
    "run_id, value FROM marts.drift_series WHERE point_at >= ? AND value IS NOT NULL AND NOT isnan(value) "
    "ORDER BY series_kind, series_key, point_at, run_id, run_attempt, commit_sha"
)


class DriftConfig(dg.Config):
    """Noise filters of the change-point detection (defaults measured in docs/quality.md)."""

    lookback_days: int = Field(default=90, description="Days of points per series, back from the newest.")
    min_points: int = Field(default=DriftSettings.min_points, description="Points needed on each side.")
    min_relative_change: float = Field(
        default=DriftSettings.min_relative_change, description="Smallest |after / before - 1| reported."
    )
    max_p_value: float = Field(default=DriftSettings.max_p_value, description="Welch's t-test threshold.")
    penalty: float = Field(
        default=DriftSettings.penalty, description="Segmentation penalty per ln(points), in noise units."
    )

    def settings(self) -> DriftSettings:
        return DriftSettings(
            min_points=self.min_points,
            min_relative_change=self.min_relative_change,
            max_p_value=self.max_p_value,
            penalty=self.penalty,
        )


def read_points(warehouse: Warehouse, lookback_days: int) -> "pd.DataFrame":
    """Points of the lookback window, sorted by series then time (re-runs by attempt)."""
    with warehouse.read("drift series") as con:
        ((newest,),) = con.execute("SELECT max(point_at) FROM marts.drift_series").fetchall()
        # No points at all: a NULL bound selects nothing but still gives the columns.
        since = newest - timedelta(days=lookback_days) if newest is not None else None
        return con.execute(_POINTS_SQL, [since]).df()


def find_drift(points: "pd.DataFrame", settings: DriftSettings, detected_at: datetime) -> "pd.DataFrame":
    """marts.regression_drift rows for `points` (sorted as `read_points` returns them)."""
    import pandas as pd

    if points.empty:
        return _empty_frame()
    kind = points["series_kind"].to_numpy(dtype=object)
    key = points["series_key"].to_numpy(dtype=object)
    new_series = np.ones(len(points), dtype=bool)
    new_series[1:] = (kind[1:] != kind[:-1]) | (key[1:] != key[:-1])
    offsets = np.append(np.flatnonzero(new_series), len(points))
    commits = points["commit_sha"].to_numpy(dtype=object)
    # Points without a commit (service latencies) may each start a change.
    commit_starts = new_series | points["commit_sha"].isna().to_numpy()
    commit_starts[1:] |= commits[1:] != commits[:-1]
    bigger = points["bigger_is_better"].to_numpy(dtype=bool)[offsets[:-1]]
    found = detect_change_points(
        points["value"].to_numpy(dtype=np.float64), offsets, bigger, settings, commit_starts
    )
    if not len(found):
        return _empty_frame()
    at = offsets[found.series] + np.array([c.index for c in found.changes])
    rows = points.iloc[at].reset_index(drop=True)
    previous = points["commit_sha"].iloc[at - 1].reset_index(drop=True)
    return pd.DataFrame({
        "series_kind": rows["series_kind"],
        "series_key": rows["series_key"],
        "repo": rows["repo"],
        "subject": rows["subject"],
        "unit": rows["unit"],
        "change_at": rows["point_at"],
        "commit_sha": rows["commit_sha"],
        "previous_commit_sha": previous,
        "run_id": rows["run_id"],
        "before_value": [c.before for c in found.changes],
        "after_value": [c.after for c in found.changes],
        "change_pct": [c.change_pct for c in found.changes],
        "direction": [c.direction for c in found.changes],
        "p_value": [c.p_value for c in found.changes],
        "points_before": [c.points_before for c in found.changes],
        "points_after": [c.points_after for c in found.changes],
        "bigger_is_better": rows["bigger_is_better"].astype(bool),
        "detected_at": detected_at.replace(tzinfo=None),
    })  # fmt: skip


def _empty_frame() -> "pd.DataFrame":
    import pandas as pd

    return pd.DataFrame({c: pd.Series(dtype=object) for c in REGRESSION_DRIFT.column_names})


def _summary(frame: "pd.DataFrame") -> dict[str, int]:
    if frame.empty:
        return {}
    counts = frame.groupby(["series_kind", "direction"]).size()
    return {f"{kind}/{direction}": int(n) for (kind, direction), n in counts.items()}


def _preview(frame: "pd.DataFrame", limit: int = 10) -> str:
    regressions = frame[frame["direction"] == REGRESSION].sort_values("change_pct", ascending=False)
    if regressions.empty:
        return "No regressions."
    lines = ["| kind | subject | change | commit | at |", "|---|---|---|---|---|"]
    for row in regressions.head(limit).itertuples(index=False):
        commit = row.commit_sha[:10] if isinstance(row.commit_sha, str) else ""  # NaN when unattributed
        subject = str(row.subject).replace("|", "\\|")
        lines.append(
            f"| {row.series_kind} | {subject} | {row.change_pct:+.0f}% | {commit} | {row.change_at} |"
        )
    return "\n".join(lines)


@dg.asset(
    key=REGRESSION_DRIFT_KEY,
    deps=[DRIFT_SERIES_KEY],
    description=REGRESSION_DRIFT.comment,
    group_name="marts",
    kinds={"python", "duckdb"},
    owners=["team:quality"],
    metadata={"dagster/column_schema": column_schema(REGRESSION_DRIFT)},
)
def regression_drift(config: DriftConfig, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Change points (ruptures + Hunter's merge step) of every series in marts.drift_series."""
    began = time.perf_counter()
    wh = warehouse.get()
    points = read_points(wh, config.lookback_days)
    read_s = time.perf_counter() - began
    frame = find_drift(points, config.settings(), datetime.now(UTC))
    detect_s = time.perf_counter() - began - read_s
    rows = replace_mart(wh, REGRESSION_DRIFT, frame)
    series = int(points.groupby(["series_kind", "series_key"]).ngroups) if len(points) else 0
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "series": series,
            "points": len(points),
            "regressions": int((frame["direction"] == REGRESSION).sum()) if rows else 0,
            "by_kind": dg.MetadataValue.json(_summary(frame)),
            "top_regressions": dg.MetadataValue.md(_preview(frame)),
            "vigil/seconds_read": round(read_s, 3),
            "vigil/seconds_detect": round(detect_s, 3),
        }
    )


@dg.asset_check(asset=REGRESSION_DRIFT_KEY, description="Every change passed the noise filters it claims.")
def regression_drift_consistent(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Directions agree with before/after and the series direction; both sides have points."""
    with warehouse.get().read("check regression_drift") as con:
        ((bad_direction, thin, rows),) = con.execute(
            "SELECT "
            "count(*) FILTER (WHERE direction <> CASE WHEN (after_value > before_value) = bigger_is_better "
            "THEN 'improvement' ELSE 'regression' END), "
            "count(*) FILTER (WHERE points_before < 2 OR points_after < 2 OR commit_sha IS NULL AND repo IS NOT NULL), "
            "count(*) FROM marts.regression_drift"
        ).fetchall()
    return dg.AssetCheckResult(
        passed=bad_direction == 0 and thin == 0,
        metadata={"rows": rows, "wrong_direction": bad_direction, "thin_or_unattributed": thin},
    )
