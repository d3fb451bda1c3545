"""marts.slo_compliance: every catalogue SLO as of a tick, with multiwindow burn-rate alerts.

Event counts come from DuckDB SQL. A trailing window (as_of - W, as_of] splits into whole hours,
read from `staging.health_probes_hourly`, and at most two partial hours at its ends, read from
`raw.health_probes` with constant time bounds (so DuckDB skips every other row group). The SLO
window of 30 days therefore reads 720 rollup rows and under two hours of probes per SLO, however
long the history. core.slo then turns the counts into SLIs, budgets, burn rates and the SRE
workbook's page/ticket decision.

Exports (paths in the materialization metadata):

- `slo-summary.json`: targets, metrics and compliance per SLO and overall (core.slo.slo_summary);
- `slo-timeseries.json`: the same evaluated at every hour of the last `timeseries_days` days (from
  the rollup alone: its 5- and 30-minute columns give the short windows at each hour's end),
  plus the current point.
"""

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import lazy_loader
from pydantic import Field

from observability_assets.assetkit.metadata import column_schema
from observability_assets.core.contract import SLO_COMPLIANCE
from observability_assets.core.service_catalogue import ServiceCatalogue
from observability_assets.core.slo import (
    EventCounts,
    SloStatus,
    evaluate_slo,
    required_windows,
    slo_summary,
    slo_timeseries,
    to_json_text,
    window_label,
)
from observability_assets.ingest.health_probes import (
    GOOD_SQL,
    HOUR,
    HOURLY_KEY,
    PROBES_KEY,
    ceil_hour,
    load_catalogue_or_fail,
    parse_tick,
    refresh_hourly,
    slo_definitions,
)
from resources.http_probe import ServiceCatalogueResource
from resources.paths import data_path
from resources.warehouse import Warehouse, WarehouseResource

# numpy loads on first use, not with the definitions (docs/architecture.md).
np = lazy_loader.load("numpy")

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

SLO_COMPLIANCE_KEY = dg.AssetKey(SLO_COMPLIANCE.qualified_name.split("."))
# The alert windows are the same for every SLO window (only the burn-rate thresholds scale).
ALERT_WINDOWS: tuple[timedelta, ...] = tuple(required_windows(30))
SHORT_COLUMNS = {timedelta(minutes=5): "5m", timedelta(minutes=30): "30m"}
SUMMARY_FILE = "slo-summary.json"
TIMESERIES_FILE = "slo-timeseries.json"


def floor_hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


# GOOD_SQL is a constant of the probe module; every value below is a parameter.
RAW_PIECE_SQL = (
    f"SELECT ? AS piece, d.service, d.slo, count(*) AS valid, count(*) FILTER (WHERE {GOOD_SQL}) AS good "  # noqa: S608
    "FROM raw.health_probes p JOIN slo_defs d ON d.service = p.service "
    "WHERE p.probed_at > ? AND p.probed_at <= ? GROUP BY d.service, d.slo"
)


@dataclass(frozen=True)
class Piece:
    """Part of a window: rollup buckets ending in [lo, hi], or raw probes in (lo, hi]."""

    source: str  # "hourly" or "raw"
    lo: datetime
    hi: datetime


def window_pieces(as_of: datetime, window: timedelta) -> list[Piece]:
    """(as_of - window, as_of] as whole rollup hours plus the raw partial hours at its ends."""
    start = as_of - window
    first_full, last_full = ceil_hour(start) + HOUR, floor_hour(as_of)
    if first_full > last_full:
        return [Piece("raw", start, as_of)]
    pieces = [Piece("hourly", first_full, last_full)]
    if ceil_hour(start) > start:
        pieces.append(Piece("raw", start, ceil_hour(start)))
    if as_of > last_full:
        pieces.append(Piece("raw", last_full, as_of))
    return pieces


def evaluation_windows(defs: "pd.DataFrame") -> list[timedelta]:
    slo_windows = {timedelta(days=int(d)) for d in defs["window_days"].unique()}
    return sorted(set(ALERT_WINDOWS) | slo_windows)


def window_counts(
    con: "duckdb.DuckDBPyConnection", defs: "pd.DataFrame", as_of: datetime, windows: Sequence[timedelta]
) -> dict[tuple[str, str, timedelta], EventCounts]:
    """Good and valid probes per (service, slo, window) ending at ``as_of``, in one SQL statement."""
    pieces: dict[Piece, int] = {}
    by_window = {w: [pieces.setdefault(p, len(pieces)) for p in window_pieces(as_of, w)] for w in windows}
    selects, params = [], []
    for piece, index in pieces.items():
        if piece.source == "hourly":
            selects.append(
                "SELECT ? AS piece, h.service, h.slo, sum(h.valid) AS valid, sum(h.good) AS good "
                "FROM staging.health_probes_hourly h JOIN slo_defs d ON d.service = h.service AND d.slo = h.slo "
                "WHERE h.bucket_end >= ? AND h.bucket_end <= ? GROUP BY h.service, h.slo"
            )
        else:
            selects.append(RAW_PIECE_SQL)
        params += [index, piece.lo, piece.hi]
    con.register("slo_defs", defs)
    try:
        rows = con.execute(" UNION ALL ".join(selects), params).fetchall()
    finally:
        con.unregister("slo_defs")
    per_piece: dict[tuple[str, str, int], tuple[int, int]] = {
        (service, slo, piece): (int(good), int(valid)) for piece, service, slo, valid, good in rows
    }
    counts = {}
    for service, slo in zip(defs["service"], defs["slo"], strict=True):
        for window, indexes in by_window.items():
            good = sum(per_piece.get((service, slo, i), (0, 0))[0] for i in indexes)
            valid = sum(per_piece.get((service, slo, i), (0, 0))[1] for i in indexes)
            counts[(service, slo, window)] = EventCounts(good, valid)
    return counts


def _ratio(counts: EventCounts) -> float:
    return 0.0 if counts.valid == 0 else counts.bad / counts.valid


def statuses_from_counts(
    defs: "pd.DataFrame", counts: dict[tuple[str, str, timedelta], EventCounts], as_of: datetime
) -> list[SloStatus]:
    statuses = []
    for d in defs.itertuples(index=False):
        window = timedelta(days=int(d.window_days))
        statuses.append(
            evaluate_slo(
                service=d.service,
                slo=d.slo,
                objective=float(d.objective),
                window_days=int(d.window_days),
                window_counts=counts[(d.service, d.slo, window)],
                error_ratios_by_window={w: _ratio(counts[(d.service, d.slo, w)]) for w in ALERT_WINDOWS},
                as_of=as_of,
                kind=d.kind,
                threshold_ms=_threshold(d.threshold_ms),
            )
        )
    return statuses


def evaluate_at(con: "duckdb.DuckDBPyConnection", defs: "pd.DataFrame", as_of: datetime) -> list[SloStatus]:
    """Every SLO of ``defs`` as of ``as_of``."""
    if not len(defs):
        return []
    return statuses_from_counts(defs, window_counts(con, defs, as_of, evaluation_windows(defs)), as_of)


def latest_probe_time(con: "duckdb.DuckDBPyConnection") -> datetime | None:
    """The newest probe, found through the rollup so only its last hour of raw rows is read."""
    ((bucket,),) = con.execute("SELECT max(bucket_end) FROM staging.health_probes_hourly").fetchall()
    if bucket is None:
        ((latest,),) = con.execute("SELECT max(probed_at) FROM raw.health_probes").fetchall()
        return latest
    ((latest,),) = con.execute(
        "SELECT max(probed_at) FROM raw.health_probes WHERE probed_at > ? AND probed_at <= ?",
        [bucket - HOUR, bucket],
    ).fetchall()
    return latest or bucket


# --------------------------------------------------------------------------------------------------
# Keeping the rollup in step with the catalogue
# --------------------------------------------------------------------------------------------------


def stale_definitions(
    con: "duckdb.DuckDBPyConnection", defs: "pd.DataFrame", lo: datetime, hi: datetime
) -> "pd.DataFrame":
    """SLOs whose rollup rows in (lo, hi] were counted under another definition, or are missing
    although the service has probes there (an SLO added or changed in the catalogue)."""
    con.register("slo_defs", defs)
    try:
        seen = con.execute(
            """
            SELECT d.service, d.slo,
                   bool_and(h.kind = d.kind AND h.threshold_ms IS NOT DISTINCT FROM d.threshold_ms) AS same
            FROM slo_defs d LEFT JOIN staging.health_probes_hourly h
              ON h.service = d.service AND h.slo = d.slo AND h.bucket_end > ? AND h.bucket_end <= ?
            GROUP BY d.service, d.slo
            """,
            [lo, hi],
        ).fetchall()
        stale = {(service, slo) for service, slo, same in seen if same is False}
        missing = {(service, slo) for service, slo, same in seen if same is None}
        if missing:
            # Only worth a rebuild when the service has probes there (not for a service never probed).
            probed = {
                service
                for (service,) in con.execute(
                    "SELECT DISTINCT service FROM raw.health_probes WHERE probed_at > ? AND probed_at <= ? "
                    "AND service IN (SELECT service FROM slo_defs)",
                    [lo, hi],
                ).fetchall()
            }
            stale |= {(service, slo) for service, slo in missing if service in probed}
    finally:
        con.unregister("slo_defs")
    keep = [(s, o) in stale for s, o in zip(defs["service"], defs["slo"], strict=True)]
    return defs[keep]


def ensure_rollup(warehouse: Warehouse, defs: "pd.DataFrame", lo: datetime, hi: datetime) -> list[str]:
    """Rebuild the rollup over (lo, hi] for SLOs whose definition it does not match; their names."""
    with warehouse.read("check SLO rollup definitions") as con:
        stale = stale_definitions(con, defs, lo, hi)
    if not len(stale):
        return []
    with warehouse.write("rebuild SLO rollup") as con:
        con.execute("BEGIN TRANSACTION")
        try:
            refresh_hourly(con, stale, lo, hi)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return [f"{s}/{o}" for s, o in zip(stale["service"], stale["slo"], strict=True)]


# --------------------------------------------------------------------------------------------------
# Hourly time series
# --------------------------------------------------------------------------------------------------


def _threshold(value: object) -> float | None:
    import pandas as pd

    return None if pd.isna(value) else float(value)  # availability SLOs have none (NULL / NA)


def _trailing_sums(
    group: "pd.DataFrame",
    grid_start: datetime,
    hours: int,
    point_index: "np.ndarray",
    windows: Sequence[timedelta],
) -> "dict[timedelta, tuple[np.ndarray, np.ndarray]]":
    """(good, valid) over each trailing window, ending at each point of the hourly grid.

    Grid index i is the bucket ending grid_start + (i + 1) h; buckets without probes count zero.
    Windows of whole hours are differences of cumulative sums; 5 and 30 minutes come from the
    rollup's columns for the end of each hour.
    """
    index = ((group["bucket_end"] - grid_start) / HOUR).astype(int).to_numpy() - 1
    dense = {}
    for column in ("valid", "good", "valid_30m", "good_30m", "valid_5m", "good_5m"):
        values = np.zeros(hours, dtype=np.int64)
        values[index] = group[column].to_numpy()
        dense[column] = values
    cumulative = {c: np.concatenate([[0], np.cumsum(dense[c])]) for c in ("valid", "good")}
    sums = {}
    for window in windows:
        if window in SHORT_COLUMNS:
            suffix = SHORT_COLUMNS[window]
            sums[window] = (dense[f"good_{suffix}"][point_index], dense[f"valid_{suffix}"][point_index])
        else:
            span = int(window / HOUR)
            good, valid = (
                cumulative[c][point_index + 1] - cumulative[c][point_index + 1 - span]
                for c in ("good", "valid")
            )
            sums[window] = (good, valid)
    return sums


def hourly_points(
    con: "duckdb.DuckDBPyConnection", defs: "pd.DataFrame", end: datetime, days: int
) -> list[SloStatus]:
    """Every SLO evaluated at each hour in (end - days, end], from the rollup alone."""
    if not len(defs) or days <= 0:
        return []
    longest = max(evaluation_windows(defs))
    first_point = end - timedelta(days=days) + HOUR
    grid_start = first_point - longest  # first bucket any point's window needs, minus one
    con.register("slo_defs", defs)
    try:
        rollup = con.execute(
            "SELECT h.service, h.slo, h.bucket_end, h.valid, h.good, h.valid_30m, h.good_30m, h.valid_5m, h.good_5m "
            "FROM staging.health_probes_hourly h JOIN slo_defs d ON d.service = h.service AND d.slo = h.slo "
            "WHERE h.bucket_end > ? AND h.bucket_end <= ?",
            [grid_start, end],
        ).df()
    finally:
        con.unregister("slo_defs")
    hours = int((end - grid_start) / HOUR)  # grid index i is the bucket ending grid_start + (i + 1) h
    point_index = np.arange(hours - days * 24, hours)
    points = []
    groups = dict(tuple(rollup.groupby(["service", "slo"], sort=False)))
    for d in defs.itertuples(index=False):
        group = groups.get((d.service, d.slo))
        if group is None:
            continue
        slo_window = timedelta(days=int(d.window_days))
        sums = _trailing_sums(group, grid_start, hours, point_index, [slo_window, *ALERT_WINDOWS])
        good, valid = sums[slo_window]
        ratios = {
            w: np.divide(v - g, v, out=np.zeros(len(v)), where=v > 0)
            for w, (g, v) in ((w, sums[w]) for w in ALERT_WINDOWS)
        }
        threshold = _threshold(d.threshold_ms)
        for k, i in enumerate(point_index):
            if valid[k] == 0:
                continue
            points.append(
                evaluate_slo(
                    service=d.service,
                    slo=d.slo,
                    objective=float(d.objective),
                    window_days=int(d.window_days),
                    window_counts=EventCounts(int(good[k]), int(valid[k])),
                    error_ratios_by_window={w: float(ratios[w][k]) for w in ALERT_WINDOWS},
                    as_of=grid_start + (int(i) + 1) * HOUR,
                    kind=d.kind,
                    threshold_ms=threshold,
                )
            )
    return points


# --------------------------------------------------------------------------------------------------
# Writing and exporting
# --------------------------------------------------------------------------------------------------


def compliance_frame(statuses: Sequence[SloStatus], computed_at: datetime) -> "pd.DataFrame":
    import pandas as pd

    rows = []
    for s in statuses:
        row = {
            "service": s.service,
            "slo": s.slo,
            "kind": s.kind,
            "objective": s.objective,
            "window_days": s.window_days,
            "threshold_ms": s.threshold_ms,
            "valid_events": s.valid_events,
            "good_events": s.good_events,
            "sli": s.sli,
            "error_budget_remaining": s.error_budget_remaining,
            "alert": s.alert,
            "alert_rule": s.alert_rule,
            "compliant": s.compliant,
            "as_of": s.as_of,
            "computed_at": computed_at,
        }
        row |= {f"burn_rate_{window_label(w)}": s.burn_rates[window_label(w)] for w in ALERT_WINDOWS}
        rows.append(row)
    return pd.DataFrame(rows, columns=SLO_COMPLIANCE.column_names)


def replace_compliance(warehouse: Warehouse, frame: "pd.DataFrame") -> None:
    """The mart holds the latest evaluation only: replaced whole, in one transaction."""
    columns = ", ".join(SLO_COMPLIANCE.column_names)
    casts = ", ".join(f"CAST({c.name} AS {c.sql_type})" for c in SLO_COMPLIANCE.columns)
    with warehouse.write("replace marts.slo_compliance") as con:
        con.execute("BEGIN TRANSACTION")
        try:
            con.register("incoming_compliance", frame)
            con.execute("DELETE FROM marts.slo_compliance")
            # Identifiers come from the contract, never from data.
            con.execute(
                f"INSERT INTO marts.slo_compliance ({columns}) SELECT {casts} FROM incoming_compliance"  # noqa: S608
            )
            con.unregister("incoming_compliance")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def export_reports(
    statuses: Sequence[SloStatus], points: Sequence[SloStatus], reports_dir: Path
) -> tuple[Path, Path]:
    summary, timeseries = reports_dir / SUMMARY_FILE, reports_dir / TIMESERIES_FILE
    _write_atomically(summary, to_json_text(slo_summary(statuses)))
    current = {s.as_of for s in statuses}
    series = [p for p in points if p.as_of not in current] + list(statuses)
    _write_atomically(timeseries, to_json_text(slo_timeseries(series)))
    return summary, timeseries


@dataclass(frozen=True)
class SloRun:
    as_of: datetime | None
    statuses: list[SloStatus]
    points: list[SloStatus]
    rebuilt: list[str]
    summary_path: Path | None
    timeseries_path: Path | None


def compute_slo_compliance(
    warehouse: Warehouse,
    catalogue: ServiceCatalogue,
    *,
    as_of: datetime | None = None,
    timeseries_days: int = 7,
    reports_dir: Path | None = None,
) -> SloRun:
    """Evaluate every SLO as of ``as_of`` (default: the newest probe), store the mart, export JSON."""
    defs = slo_definitions(catalogue)
    if as_of is None:
        with warehouse.read("latest probe") as con:
            as_of = latest_probe_time(con)
    if as_of is None or not len(defs):
        replace_compliance(warehouse, compliance_frame([], datetime.now(UTC).replace(tzinfo=None)))
        return SloRun(as_of, [], [], [], None, None)
    span_start = floor_hour(as_of) - timedelta(days=timeseries_days) - max(evaluation_windows(defs))
    rebuilt = ensure_rollup(warehouse, defs, span_start, ceil_hour(as_of))
    with warehouse.read("evaluate SLOs") as con:
        statuses = evaluate_at(con, defs, as_of)
        points = hourly_points(con, defs, floor_hour(as_of), timeseries_days) if reports_dir else []
    replace_compliance(warehouse, compliance_frame(statuses, datetime.now(UTC).replace(tzinfo=None)))
    paths = export_reports(statuses, points, reports_dir) if reports_dir else (None, None)
    return SloRun(as_of, statuses, points, rebuilt, *paths)


class SloComplianceConfig(dg.Config):
    as_of: str = Field(default="", description="Evaluate as of this ISO UTC time; empty: the newest probe.")
    timeseries_days: int = Field(
        default=7, ge=0, le=400, description="Days of hourly points in slo-timeseries.json."
    )
    reports_dir: str = Field(
        default_factory=lambda: data_path("reports"),
        description="Folder of slo-summary.json and slo-timeseries.json.",
    )


@dg.asset(
    key=SLO_COMPLIANCE_KEY,
    deps=[PROBES_KEY, HOURLY_KEY],
    description=SLO_COMPLIANCE.comment,
    group_name="marts",
    kinds={"duckdb", "python"},
    owners=["team:platform"],
    metadata={"dagster/column_schema": column_schema(SLO_COMPLIANCE)},
)
def slo_compliance(
    context: dg.AssetExecutionContext,
    config: SloComplianceConfig,
    warehouse: WarehouseResource,
    service_catalogue: ServiceCatalogueResource,
) -> dg.MaterializeResult:
    """Evaluate every SLO: counts in SQL over the hourly rollup and raw edges, alerts by core.slo."""
    run = compute_slo_compliance(
        warehouse.get(),
        load_catalogue_or_fail(service_catalogue),
        as_of=parse_tick(config.as_of) if config.as_of else None,
        timeseries_days=config.timeseries_days,
        reports_dir=Path(config.reports_dir),
    )
    if run.rebuilt:
        context.log.info(f"rollup rebuilt for changed SLO definitions: {', '.join(run.rebuilt)}")
    alerts = {level: sum(s.alert == level for s in run.statuses) for level in ("page", "ticket", "none")}
    for s in run.statuses:
        if s.alert != "none":
            context.log.warning(
                f"{s.alert} for {s.key}: rule {s.alert_rule}, budget left {s.error_budget_remaining:.1%}"
            )
    metadata: dict[str, object] = {
        "dagster/row_count": len(run.statuses),
        "as_of": run.as_of.isoformat() + "Z" if run.as_of else "no probes yet",
        "alerts": dg.MetadataValue.json(alerts),
        "non_compliant": dg.MetadataValue.json(sorted(s.key for s in run.statuses if not s.compliant)),
        "timeseries_points": len(run.points),
    }
    if run.statuses:
        worst = min(run.statuses, key=lambda s: s.error_budget_remaining)
        metadata["lowest_budget_remaining"] = f"{worst.key}: {worst.error_budget_remaining:.1%}"
    if run.summary_path and run.timeseries_path:
        metadata["slo_summary"] = dg.MetadataValue.path(str(run.summary_path.resolve()))
        metadata["slo_timeseries"] = dg.MetadataValue.path(str(run.timeseries_path.resolve()))
    return dg.MaterializeResult(metadata=metadata)


@dg.asset_check(asset=SLO_COMPLIANCE_KEY, description="Counts, SLIs and alerts are well-formed.")
def slo_compliance_consistent(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.get().read("slo compliance check") as con:
        ((bad, rows),) = con.execute(
            """
            SELECT count(*) FILTER (WHERE good_events > valid_events OR good_events < 0
                                    OR (valid_events > 0 AND abs(sli - good_events / valid_events) > 1e-9)
                                    OR alert NOT IN ('none', 'ticket', 'page')
                                    OR (alert = 'none') <> (alert_rule IS NULL)),
                   count(*)
            FROM marts.slo_compliance
            """
        ).fetchall()
    return dg.AssetCheckResult(passed=bad == 0, metadata={"inconsistent_rows": bad, "rows": rows})
