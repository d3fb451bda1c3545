"""marts.data_trust: can the numbers be trusted this week? (issue 20)

One row per finding, in six sections, over the last `WINDOW_DAYS` partition days:

* **freshness** — each source's newest load against its schedule (daily sources: 26 h, the
  02:15 UTC schedule plus its run; probes: every minute, 30 min allowed);
* **reconciliation** — the warehouse against the sources' own totals recorded at load time in
  ops.source_totals: GitHub's `total_count` of the day's run listing and of each run's job
  listing (all attempts), JUnit artifacts listed against artifacts parsed;
* **rejected_inputs** — ops.rejected_inputs by source and reason (the text before the first colon);
* **checks** — the latest evaluation of every asset check in the Dagster instance, failed ones named;
* **redactions** — ops.redactions by source and kind (counts only, never text);
* **late_changes** — run attempts and updates that came after their creation day and were picked
  up by re-crawls, and runs still unfinished past the re-crawl horizon (they need a backfill).

Every query reads aggregates; identifiers are constants of this module and values parameters.
"""

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster import AssetExecutionContext

from observability_assets.assetkit.metadata import column_schema
from observability_assets.core.contract import DATA_TRUST
from observability_assets.derived.tables import replace_mart
from resources.warehouse import Warehouse, WarehouseResource

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

WINDOW_DAYS = 28
DATA_TRUST_KEY = dg.AssetKey(DATA_TRUST.qualified_name.split("."))
# Hours a source may go without a load before it is stale: its schedule's period plus slack.
FRESHNESS_HOURS: dict[str, float | None] = {
    "raw.ci_runs": 26.0,
    "raw.ci_jobs": 26.0,
    "raw.test_results": 26.0,
    "raw.health_probes": 0.5,
    "raw.shadow_samples": None,  # replayed on demand: shown, not judged
}
# Runs re-crawled after their day (github_actions.RECRAWL_DAYS): older unfinished runs stay so.
RECRAWL_DAYS = 3
OK, WARN, FAIL, INFO = "ok", "warn", "fail", "info"


def _row(
    section: str, source: str, subject: str, expected: Any, observed: Any, status: str, detail: str
) -> dict:
    return {
        "section": section,
        "source": source,
        "subject": subject,
        "expected": None if expected is None else float(expected),
        "observed": None if observed is None else float(observed),
        "status": status,
        "detail": detail,
    }


def _tables(con: "duckdb.DuckDBPyConnection") -> set[str]:
    rows = con.execute(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables WHERE table_catalog = current_database()"
    ).fetchall()
    return {name for (name,) in rows}


def freshness(con: "duckdb.DuckDBPyConnection", now: datetime, tables: set[str]) -> list[dict]:
    rows = []
    for name, allowed in FRESHNESS_HOURS.items():
        if name not in tables:
            continue
        # Identifiers come from FRESHNESS_HOURS, never from data.
        ((newest,),) = con.execute(f"SELECT max(ingested_at) FROM {name}").fetchall()  # noqa: S608
        if newest is None:
            rows.append(_row("freshness", name, "last load", allowed, None, WARN, "never loaded"))
            continue
        age = (now - newest).total_seconds() / 3600
        status = INFO if allowed is None else (OK if age <= allowed else FAIL)
        detail = f"last load {newest:%Y-%m-%d %H:%M} UTC, {age:.1f} h ago" + (
            "" if allowed is None else f" (schedule allows {allowed:g} h)"
        )
        rows.append(_row("freshness", name, "hours since last load", allowed, round(age, 2), status, detail))
    return rows


_RECONCILE_SQL = {
    # measure: (source, SQL of what the warehouse holds per partition day and repo)
    "runs": (
        "github_actions",
        "SELECT CAST(partition_day AS VARCHAR) AS partition_key, repo, count(DISTINCT run_id) AS loaded "
        "FROM raw.ci_runs WHERE partition_day >= ? GROUP BY ALL",
    ),
    "jobs": (
        "github_actions",
        "SELECT CAST(partition_day AS VARCHAR) AS partition_key, repo, count(*) AS loaded "
        "FROM raw.ci_jobs WHERE partition_day >= ? GROUP BY ALL",
    ),
}


def reconciliation(con: "duckdb.DuckDBPyConnection", start: date, tables: set[str]) -> list[dict]:
    if "ops.source_totals" not in tables:
        return []
    totals = con.execute(
        "SELECT source, partition_key, repo, measure, total FROM ops.source_totals WHERE partition_key >= ?",
        [start.isoformat()],
    ).df()
    rows = []
    for measure, (source, sql) in _RECONCILE_SQL.items():
        reported = totals[(totals["source"] == source) & (totals["measure"] == measure)]
        if reported.empty:
            continue
        loaded = con.execute(sql, [start]).df()
        rows += _compare(measure, source, reported, loaded, "GitHub total_count")
    listed = totals[(totals["source"] == "junit") & (totals["measure"] == "artifacts_listed")]
    parsed = totals[(totals["source"] == "junit") & (totals["measure"] == "artifacts_parsed")]
    if not listed.empty:
        rows += _compare(
            "artifacts", "junit", listed, parsed.rename(columns={"total": "loaded"}), "artifacts listed"
        )
    return rows


def _compare(
    measure: str, source: str, reported: "pd.DataFrame", loaded: "pd.DataFrame", what: str
) -> list[dict]:
    merged = reported.merge(loaded, on=["partition_key", "repo"], how="left").fillna({"loaded": 0})
    rows = []
    for repo, group in merged.groupby("repo", sort=True):
        expected, observed = int(group["total"].sum()), int(group["loaded"].sum())
        off = group[group["total"] != group["loaded"]].sort_values("partition_key")
        days = ", ".join(
            f"{r.partition_key} ({int(r.loaded)} of {int(r.total)})" for r in off.head(5).itertuples()
        )
        detail = (
            f"{observed} of {expected} ({what}) over {len(group)} partitions"
            if off.empty
            else f"{len(off)} partitions differ: {days}" + (" …" if len(off) > 5 else "")
        )
        rows.append(
            _row(
                "reconciliation",
                f"{source}/{repo}",
                measure,
                expected,
                observed,
                OK if off.empty else FAIL,
                detail,
            )
        )
    return rows


def rejected_inputs(con: "duckdb.DuckDBPyConnection", start: date, tables: set[str]) -> list[dict]:
    if "ops.rejected_inputs" not in tables:
        return []
    found = con.execute(
        "SELECT source, trim(split_part(reason, ':', 1)) AS reason, count(*) AS inputs, "
        "min(path_or_url) AS example FROM ops.rejected_inputs "
        "WHERE partition_key >= ? OR partition_key IS NULL GROUP BY ALL ORDER BY inputs DESC, source, reason",
        [start.isoformat()],
    ).fetchall()
    return [
        _row("rejected_inputs", source, reason, None, inputs, WARN, f"{inputs} inputs, e.g. {example}")
        for source, reason, inputs, example in found
    ]


def redactions(con: "duckdb.DuckDBPyConnection", start: date, tables: set[str]) -> list[dict]:
    if "ops.redactions" not in tables:
        return []
    found = con.execute(
        "SELECT source, kind, sum(count) AS findings, count(DISTINCT partition_key) AS partitions "
        "FROM ops.redactions WHERE partition_key >= ? OR source = 'shadow_replay' "
        "GROUP BY ALL ORDER BY findings DESC, source, kind",
        [start.isoformat()],
    ).fetchall()
    return [
        _row(
            "redactions",
            source,
            kind,
            None,
            findings,
            INFO,
            f"{findings} replaced in {partitions} partitions",
        )
        for source, kind, findings, partitions in found
    ]


def late_changes(con: "duckdb.DuckDBPyConnection", start: date, today: date, tables: set[str]) -> list[dict]:
    if "raw.ci_runs" not in tables:
        return []
    ((reruns, late_updates, unfinished),) = con.execute(
        "SELECT count(*) FILTER (WHERE run_attempt > 1 AND CAST(run_started_at AS DATE) > partition_day), "
        "count(*) FILTER (WHERE CAST(updated_at AS DATE) > partition_day), "
        "count(*) FILTER (WHERE status <> 'completed' AND partition_day < ?) "
        "FROM raw.ci_runs WHERE partition_day >= ?",
        [today - timedelta(days=RECRAWL_DAYS), start],
    ).fetchall()
    return [
        _row(
            "late_changes",
            "raw.ci_runs",
            "re-run attempts after their day",
            None,
            reruns,
            INFO,
            f"{reruns} attempts started after the day their run was created, loaded by re-crawls",
        ),
        _row(
            "late_changes",
            "raw.ci_runs",
            "updates after their day",
            None,
            late_updates,
            INFO,
            f"{late_updates} attempts finished or changed after their creation day, loaded by re-crawls",
        ),
        _row(
            "late_changes",
            "raw.ci_runs",
            "unfinished past the re-crawl window",
            0,
            unfinished,
            OK if not unfinished else WARN,
            f"{unfinished} runs were still unfinished at their last crawl, {RECRAWL_DAYS}+ days ago: "
            "re-materialize their partitions"
            if unfinished
            else f"no run left unfinished past the {RECRAWL_DAYS}-day re-crawl",
        ),
    ]


def check_rows(instance: dg.DagsterInstance | None) -> list[dict]:
    """The latest evaluation of every asset check the instance has seen; failures named."""
    if instance is None:
        return []
    records = instance.get_event_records(
        dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION),
        limit=20_000,
        ascending=False,
    )
    latest: dict[tuple[str, str], Any] = {}
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        key = (evaluation.asset_key.to_user_string(), evaluation.check_name)
        latest.setdefault(key, evaluation)
    failed = sorted(key for key, evaluation in latest.items() if not evaluation.passed)
    rows = [
        _row(
            "checks",
            "all asset checks",
            "failed (latest evaluation)",
            0,
            len(failed),
            OK if not failed else FAIL,
            f"{len(failed)} of {len(latest)} checks failed at their latest evaluation",
        )
    ]
    rows += [
        _row("checks", asset, check, None, 1, FAIL, f"{check} on {asset} failed at its latest evaluation")
        for asset, check in failed
    ]
    return rows


def compute_data_trust(
    warehouse: Warehouse, instance: dg.DagsterInstance | None = None, now: datetime | None = None
) -> "pd.DataFrame":
    import pandas as pd

    now = (now or datetime.now(UTC)).replace(tzinfo=None)
    with warehouse.read("data trust") as con:
        tables = _tables(con)
        newest = None
        if "raw.ci_runs" in tables:
            ((newest,),) = con.execute("SELECT max(partition_day) FROM raw.ci_runs").fetchall()
        last_day = newest or now.date()
        start = last_day - timedelta(days=WINDOW_DAYS - 1)
        rows = (
            freshness(con, now, tables)
            + reconciliation(con, start, tables)
            + rejected_inputs(con, start, tables)
            + redactions(con, start, tables)
            + late_changes(con, start, now.date(), tables)
        )
    rows += check_rows(instance)
    frame = pd.DataFrame(
        rows, columns=[c for c in DATA_TRUST.column_names if c not in ("window_start", "as_of")]
    )
    return frame.assign(window_start=start, as_of=now)


@dg.asset(
    key=DATA_TRUST_KEY,
    description=DATA_TRUST.comment,
    group_name="marts",
    kinds={"duckdb"},
    owners=["team:platform"],
    deps=[
        dg.AssetKey(["raw", "ci_runs"]),
        dg.AssetKey(["raw", "ci_jobs"]),
        dg.AssetKey(["raw", "test_results"]),
        dg.AssetKey(["raw", "health_probes"]),
    ],
    metadata={"dagster/column_schema": column_schema(DATA_TRUST)},
)
def data_trust(context: AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Freshness, reconciliation, rejections, checks, redactions and late changes in one table."""
    frame = compute_data_trust(warehouse.get(), context.instance)
    count = replace_mart(warehouse.get(), DATA_TRUST, frame)
    by_status = frame.groupby("status").size().to_dict() if len(frame) else {}
    failing = frame[frame["status"] == FAIL]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": count,
            "by_status": dg.MetadataValue.json({k: int(v) for k, v in by_status.items()}),
            "failing": dg.MetadataValue.json(
                [f"{r.section}: {r.source} {r.subject}" for r in failing.head(20).itertuples()]
            ),
            "redactions": int(frame.loc[frame["section"] == "redactions", "observed"].sum())
            if len(frame)
            else 0,
        }
    )
