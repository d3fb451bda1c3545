"""raw.health_probes: every catalogue endpoint probed once per scheduled tick, plus its hourly rollup.

Two ways to fill a daily partition:

- **live**: with a `tick` in the run config (the every-minute schedule sets the tick it was due
  for), every endpoint of the catalogue is probed over HTTP with connect and read timeouts and the
  results are appended under that tick. A probe's identity is service, URL and tick, so a retried
  or repeated tick adds nothing (anti-join on `probe_id` inside one short write). Without a tick,
  today's partition is probed now.
- **simulated**: days of the demo window before today, for services whose catalogue URL is
  ``demo://NAME``, are filled with the deterministic history of `observability_assets.demo.health_history`
  (source `simulated`), replacing that day's simulated rows; live rows are never touched.

Each write also folds the probes into the endpoint's hysteresis state (`core.probe_state`, kept
in `ops.probe_states`) and recomputes the touched hours of `staging.health_probes_hourly`, all in
the same transaction, so the rollup always equals an aggregate of the raw rows and a new day costs
one day of work whatever the history holds.
"""

import hashlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from observability_assets.assetkit.metadata import column_schema
from observability_assets.assetkit.partitions import start_date
from observability_assets.core.contract import HEALTH_PROBES, HEALTH_PROBES_HOURLY
from observability_assets.core.probe_state import Health, HysteresisPolicy, ProbeResult, ProbeState, step
from observability_assets.core.redaction import Redactor
from observability_assets.core.service_catalogue import CatalogueError, ServiceCatalogue
from resources.http_probe import (
    HttpOutcome,
    HttpProbe,
    HttpProbeResource,
    ServiceCatalogueResource,
)
from resources.redaction import load_redactor
from resources.service_runtime import ServiceRuntimeResource
from resources.warehouse import Warehouse, WarehouseResource, add_redactions, replace_redactions

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

SOURCE_LIVE = "live"
SOURCE_SIMULATED = "simulated"
# ops.redactions source of the probes' error texts.
REDACTION_SOURCE = "health_probes"
# Simulated days fold this much of the previous day first, so a day's hysteresis states do not
# depend on whether the day before was loaded.
STATE_WARMUP = timedelta(hours=2)
HOUR = timedelta(hours=1)

# Daily partitions like the other sources, but including today: live probes land in the day they
# are taken, while other sources wait for a day to complete.
PROBE_DAYS = dg.DailyPartitionsDefinition(start_date=start_date(), timezone="UTC", end_offset=1)

PROBES_KEY = dg.AssetKey(HEALTH_PROBES.qualified_name.split("."))
HOURLY_KEY = dg.AssetKey(HEALTH_PROBES_HOURLY.qualified_name.split("."))

# probe_id in SQL, for bulk loads generated inside DuckDB; `probe_id` below is the same in Python.
PROBE_ID_SQL = (
    "substr(sha256(service || chr(31) || url || chr(31) || "
    "strftime(probed_at, '%Y-%m-%dT%H:%M:%S.%f')), 1, 16)"
)
# A good probe for an SLO: successful, and for latency SLOs answered within the threshold.
GOOD_SQL = "p.ok AND (d.kind = 'availability' OR p.latency_ms <= d.threshold_ms)"
# End of the hour bucket (bucket_end - 1 h, bucket_end] that holds a probe.
BUCKET_END_SQL = "date_trunc('hour', p.probed_at - INTERVAL 1 MICROSECOND) + INTERVAL 1 HOUR"


def probe_id(service: str, url: str, tick: datetime) -> str:
    text = f"{service}\x1f{url}\x1f{tick:%Y-%m-%dT%H:%M:%S.%f}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def utc_naive(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at


def parse_tick(text: str) -> datetime:
    """An ISO timestamp as naive UTC (a timestamp without zone is taken as UTC)."""
    try:
        return utc_naive(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except ValueError:
        raise ValueError(
            f"tick must be an ISO timestamp such as 2026-10-05T12:34:00Z, got {text!r}"
        ) from None


def ceil_hour(at: datetime) -> datetime:
    floor = at.replace(minute=0, second=0, microsecond=0)
    return floor if floor == at else floor + HOUR


# --------------------------------------------------------------------------------------------------
# What to probe
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    service: str
    url: str  # as the catalogue names it; part of the probe's identity
    target: str  # where the request goes (demo:// resolved to the running demo service)


def endpoints(catalogue: ServiceCatalogue, resolve: Callable[[str], str] = lambda url: url) -> list[Endpoint]:
    return [Endpoint(service.name, url, resolve(url)) for service in catalogue for url in service.health_urls]


def slo_definitions(catalogue: ServiceCatalogue) -> "pd.DataFrame":
    """One row per SLO: service, slo, kind, threshold_ms, objective, window_days."""
    import pandas as pd

    rows = [
        (s.name, slo.name, slo.kind, slo.threshold_ms, slo.objective, slo.window_days)
        for s in catalogue
        for slo in s.slos
    ]
    frame = pd.DataFrame(rows, columns=["service", "slo", "kind", "threshold_ms", "objective", "window_days"])
    return frame.astype(
        {
            "service": "string",
            "slo": "string",
            "kind": "string",
            "threshold_ms": "Float64",
            "objective": "float64",
        }
    ).astype({"window_days": "int32"})


def probe_all(
    client: HttpProbe, targets: Sequence[Endpoint], tick: datetime, max_concurrency: int = 8
) -> "pd.DataFrame":
    """Probe every endpoint once (concurrently), recorded under ``tick``."""
    import pandas as pd

    with ThreadPoolExecutor(max(1, min(max_concurrency, len(targets) or 1)), "probe") as pool:
        outcomes: list[HttpOutcome] = list(pool.map(lambda e: client.get(e.target), targets))
    return pd.DataFrame(
        {
            "service": pd.Series([e.service for e in targets], dtype="string"),
            "url": pd.Series([e.url for e in targets], dtype="string"),
            "probed_at": pd.Series([tick] * len(targets), dtype="datetime64[us]"),
            "status_code": pd.Series([o.status for o in outcomes], dtype="Int32"),
            "latency_ms": pd.Series(
                [None if o.latency_ms is None else round(o.latency_ms, 3) for o in outcomes], dtype="Float64"
            ),
            "ok": pd.Series([o.ok for o in outcomes], dtype="boolean"),
            "error": pd.Series([o.error for o in outcomes], dtype="string"),
        }
    )


# --------------------------------------------------------------------------------------------------
# Hysteresis states
# --------------------------------------------------------------------------------------------------


def _state_from_record(record: Mapping[str, Any]) -> ProbeState:
    return ProbeState(
        health=Health(record["health"]),
        consecutive_failures=int(record["consecutive_failures"]),
        consecutive_successes=int(record["consecutive_successes"]),
        recent_bad=tuple(c == "1" for c in record["recent_bad"] or ""),
        since=record["since"],
        reason=record["reason"],
        probes=int(record["probes"]),
    )


def _fold_states(
    frame: "pd.DataFrame",
    stored: Mapping[tuple[str, str], tuple[ProbeState, datetime]],
    policies: Mapping[str, HysteresisPolicy],
    warmup: "pd.DataFrame | None" = None,
) -> tuple[list[str], dict[tuple[str, str], tuple[ProbeState, datetime]]]:
    """The health after each probe of ``frame`` (in frame order) and the states to keep.

    Probes newer than an endpoint's stored state continue it; older ones (a late tick) are judged
    from it but do not move it back. ``warmup`` rows are folded first and not returned.
    """
    import pandas as pd

    health = [""] * len(frame)
    advanced: dict[tuple[str, str], tuple[ProbeState, datetime]] = {}
    combined = frame.assign(_row=range(len(frame)))
    if warmup is not None and len(warmup):
        combined = pd.concat([warmup.assign(_row=-1), combined], ignore_index=True)
    for (service, url), group in combined.sort_values("probed_at", kind="stable").groupby(
        ["service", "url"], sort=False
    ):
        policy = policies.get(service, HysteresisPolicy())
        state, last = stored.get((service, url), (ProbeState(), None))
        moved = False
        for row, ok, latency, at in zip(
            group["_row"], group["ok"], group["latency_ms"], group["probed_at"], strict=True
        ):
            at = at.to_pydatetime()
            latency = None if pd.isna(latency) else float(latency)
            after = step(state, ProbeResult(bool(ok), latency, at), policy)
            if row >= 0:
                health[row] = after.health.value
            if last is None or at > last:
                state, last, moved = after, at, True
        if moved:
            advanced[(service, url)] = (state, last)
    return health, advanced


def _states_frame(states: Mapping[tuple[str, str], tuple[ProbeState, datetime]]) -> "pd.DataFrame":
    import pandas as pd

    rows = [
        {
            "service": service,
            "url": url,
            "health": state.health.value,
            "since": state.since,
            "reason": state.reason,
            "consecutive_failures": state.consecutive_failures,
            "consecutive_successes": state.consecutive_successes,
            "recent_bad": "".join("1" if bad else "0" for bad in state.recent_bad),
            "probes": state.probes,
            "last_probed_at": last,
        }
        for (service, url), (state, last) in states.items()
    ]
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreResult:
    inserted: int
    skipped: int  # probes already stored under the same identity (a retried tick)
    replaced: int  # simulated rows of the day removed first
    hourly_rows: int  # rollup rows recomputed
    states: dict[str, int]  # endpoints per health after the write


def store_probes(
    warehouse: Warehouse,
    frame: "pd.DataFrame",
    *,
    source: str,
    slo_defs: "pd.DataFrame",
    policies: Mapping[str, HysteresisPolicy],
    replace_day: date | None = None,
    warmup: "pd.DataFrame | None" = None,
    redactor: Redactor | None = None,
) -> StoreResult:
    """Append probes idempotently, fold their states and refresh their hours, in one transaction.

    ``replace_day``: first delete that day's rows of ``source`` (a simulated partition reload).
    ``redactor``: error texts are redacted before they are written; counts go to ops.redactions.
    The hysteresis fold runs inside the write because it continues the stored states; it is a few
    microseconds per probe and makes no network call.
    """
    import pandas as pd

    incoming = frame.assign(
        probe_id=pd.Series(
            [
                probe_id(s, u, t)
                for s, u, t in zip(frame["service"], frame["url"], frame["probed_at"], strict=True)
            ],
            dtype="string",
            index=frame.index,
        )
    )
    replaced = 0
    with warehouse.write(f"store {source} health probes") as con:
        con.execute("BEGIN TRANSACTION")
        try:
            if replace_day is not None:
                ((replaced,),) = con.execute(
                    "DELETE FROM raw.health_probes WHERE partition_day = ? AND source = ?",
                    [replace_day, source],
                ).fetchall()
            if len(incoming):
                incoming = _without_stored(con, incoming)
            if redactor is not None:
                incoming, found = _redact_errors(incoming, redactor)
                _record_redactions(con, incoming, found, replace_day)
            stored = _stored_states(con)
            health, advanced = _fold_states(
                incoming, {} if replace_day is not None else stored, policies, warmup
            )
            if replace_day is not None:
                # A reloaded day only moves an endpoint's state forward, never back in time.
                advanced = {k: v for k, v in advanced.items() if k not in stored or v[1] > stored[k][1]}
            incoming = incoming.assign(state=pd.Series(health, dtype="string", index=incoming.index))
            _insert_probes(con, incoming, source)
            _upsert_states(con, advanced)
            hourly = 0
            if replace_day is not None:
                start = datetime.combine(replace_day, datetime.min.time())
                hourly = refresh_hourly(con, slo_defs, start, start + timedelta(days=1))
            elif len(incoming):
                first, last = incoming["probed_at"].min(), incoming["probed_at"].max()
                hourly = refresh_hourly(con, slo_defs, first.to_pydatetime(), last.to_pydatetime())
            states = dict(
                con.execute("SELECT health, count(*) FROM ops.probe_states GROUP BY health").fetchall()
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return StoreResult(len(incoming), len(frame) - len(incoming), replaced, hourly, states)


def _redact_errors(incoming: "pd.DataFrame", redactor: Redactor) -> tuple["pd.DataFrame", dict[str, int]]:
    import pandas as pd

    if not len(incoming):
        return incoming, {}
    values = [None if pd.isna(value) else value for value in incoming["error"]]
    redacted, found = redactor.redact_values(values)
    if not found:
        return incoming, {}
    return incoming.assign(error=pd.Series(redacted, dtype="string", index=incoming.index)), dict(found)


def _record_redactions(
    con: "duckdb.DuckDBPyConnection",
    incoming: "pd.DataFrame",
    found: dict[str, int],
    replace_day: date | None,
) -> None:
    """Counts per partition day: a reloaded day replaces its counts, live ticks add theirs."""
    if replace_day is not None:
        replace_redactions(con, REDACTION_SOURCE, replace_day.isoformat(), found)
    elif found:
        days = {stamp.date().isoformat() for stamp in incoming["probed_at"]}
        add_redactions(con, REDACTION_SOURCE, min(days), found)


def _without_stored(con: "duckdb.DuckDBPyConnection", incoming: "pd.DataFrame") -> "pd.DataFrame":
    """Drop probes already stored; the time range lets DuckDB skip every older row group."""
    con.register("incoming_ids", incoming[["probe_id", "probed_at"]])
    try:
        existing = {
            row[0]
            for row in con.execute(
                "SELECT probe_id FROM raw.health_probes WHERE probed_at >= ? AND probed_at <= ? "
                "AND probe_id IN (SELECT probe_id FROM incoming_ids)",
                [incoming["probed_at"].min().to_pydatetime(), incoming["probed_at"].max().to_pydatetime()],
            ).fetchall()
        }
    finally:
        con.unregister("incoming_ids")
    return incoming[~incoming["probe_id"].isin(existing)].reset_index(drop=True)


def _stored_states(con: "duckdb.DuckDBPyConnection") -> dict[tuple[str, str], tuple[ProbeState, datetime]]:
    frame = con.execute("SELECT * FROM ops.probe_states").df()
    return {
        (r["service"], r["url"]): (_state_from_record(r), r["last_probed_at"].to_pydatetime())
        for r in frame.to_dict("records")
    }


def _insert_probes(con: "duckdb.DuckDBPyConnection", incoming: "pd.DataFrame", source: str) -> None:
    if not len(incoming):
        return
    con.register("incoming_probes", incoming)
    try:
        con.execute(
            "INSERT INTO raw.health_probes (probe_id, service, url, probed_at, status_code, latency_ms, ok, "
            "error, state, source, partition_day, ingested_at) "
            "SELECT probe_id, service, url, CAST(probed_at AS TIMESTAMP), CAST(status_code AS INTEGER), "
            "CAST(latency_ms AS DOUBLE), CAST(ok AS BOOLEAN), error, state, ?, CAST(probed_at AS DATE), "
            "CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP) FROM incoming_probes ORDER BY probed_at",
            [source],
        )
    finally:
        con.unregister("incoming_probes")


def _upsert_states(
    con: "duckdb.DuckDBPyConnection", states: Mapping[tuple[str, str], tuple[ProbeState, datetime]]
) -> None:
    if not states:
        return
    con.register("incoming_states", _states_frame(states))
    try:
        con.execute(
            "DELETE FROM ops.probe_states WHERE EXISTS (SELECT 1 FROM incoming_states i "
            "WHERE i.service = probe_states.service AND i.url = probe_states.url)"
        )
        con.execute(
            "INSERT INTO ops.probe_states (service, url, health, since, reason, consecutive_failures, "
            "consecutive_successes, recent_bad, probes, last_probed_at, updated_at) "
            "SELECT service, url, health, CAST(since AS TIMESTAMP), reason, consecutive_failures, "
            "consecutive_successes, recent_bad, probes, CAST(last_probed_at AS TIMESTAMP), "
            "CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP) FROM incoming_states"
        )
    finally:
        con.unregister("incoming_states")


def refresh_hourly(
    con: "duckdb.DuckDBPyConnection", slo_defs: "pd.DataFrame", first: datetime, last: datetime
) -> int:
    """Recompute the hour buckets holding probes taken in [first, last] for the given SLOs.

    Reads only the raw rows of those hours, so its cost follows the span, not the history.
    """
    first_end, last_end = ceil_hour(first), ceil_hour(last)
    con.register("slo_defs", slo_defs[["service", "slo", "kind", "threshold_ms"]])
    try:
        con.execute(
            "DELETE FROM staging.health_probes_hourly WHERE bucket_end >= ? AND bucket_end <= ? "
            "AND EXISTS (SELECT 1 FROM slo_defs d WHERE d.service = health_probes_hourly.service "
            "AND d.slo = health_probes_hourly.slo)",
            [first_end, last_end],
        )
        con.execute(
            f"""
            INSERT INTO staging.health_probes_hourly (service, slo, kind, threshold_ms, bucket_end, valid, good,
                valid_30m, good_30m, valid_5m, good_5m, updated_at)
            WITH graded AS (
                SELECT d.service, d.slo, d.kind, d.threshold_ms, {BUCKET_END_SQL} AS bucket_end,
                       coalesce({GOOD_SQL}, false) AS good, p.probed_at
                FROM raw.health_probes p JOIN slo_defs d ON d.service = p.service
                WHERE p.probed_at > ? AND p.probed_at <= ?
            )
            SELECT service, slo, any_value(kind), any_value(threshold_ms), bucket_end,
                   count(*), count(*) FILTER (WHERE good),
                   count(*) FILTER (WHERE bucket_end - probed_at < INTERVAL 30 MINUTE),
                   count(*) FILTER (WHERE good AND bucket_end - probed_at < INTERVAL 30 MINUTE),
                   count(*) FILTER (WHERE bucket_end - probed_at < INTERVAL 5 MINUTE),
                   count(*) FILTER (WHERE good AND bucket_end - probed_at < INTERVAL 5 MINUTE),
                   CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP)
            FROM graded GROUP BY service, slo, bucket_end
            """,  # noqa: S608 - the pasted expressions are constants of this module
            [first_end - HOUR, last_end],
        )
        ((count,),) = con.execute(
            "SELECT count(*) FROM staging.health_probes_hourly WHERE bucket_end >= ? AND bucket_end <= ?",
            [first_end, last_end],
        ).fetchall()
    finally:
        con.unregister("slo_defs")
    return count


# --------------------------------------------------------------------------------------------------
# The asset
# --------------------------------------------------------------------------------------------------


class HealthProbeConfig(dg.Config):
    tick: str = Field(
        default="",
        description="Tick to probe, ISO UTC (the schedule sets it). Empty: today's partition is probed "
        "now; days of the demo window load the simulated history.",
    )


def load_catalogue_or_fail(resource: ServiceCatalogueResource) -> ServiceCatalogue:
    """The catalogue, or a run failure listing every problem (retrying cannot fix a file)."""
    try:
        return resource.load()
    except (CatalogueError, OSError) as error:
        raise dg.Failure(str(error), allow_retries=False) from None


def _policies(catalogue: ServiceCatalogue) -> dict[str, HysteresisPolicy]:
    return {s.name: HysteresisPolicy(latency_threshold_ms=s.thresholds.response_time_ms) for s in catalogue}


def _days(context: dg.AssetExecutionContext) -> list[date]:
    window = context.partition_time_window
    first, end = window.start.date(), window.end.date()
    return [first + timedelta(days=i) for i in range((end - first).days)]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            PROBES_KEY,
            description=HEALTH_PROBES.comment,
            kinds={"http", "duckdb"},
            owners=["team:platform"],
            group_name="ingest",
            metadata={
                "dagster/column_schema": column_schema(HEALTH_PROBES),
                "partition_column": "partition_day",
            },
        ),
        dg.AssetSpec(
            HOURLY_KEY,
            deps=[PROBES_KEY],
            description=HEALTH_PROBES_HOURLY.comment
            + " Written in the same transaction as the probes it counts.",
            kinds={"duckdb"},
            owners=["team:platform"],
            group_name="staging",
            metadata={"dagster/column_schema": column_schema(HEALTH_PROBES_HOURLY)},
        ),
    ],
    name="health_probes",
    partitions_def=PROBE_DAYS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    retry_policy=dg.RetryPolicy(
        max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
    ),
)
def health_probes(
    context: dg.AssetExecutionContext,
    config: HealthProbeConfig,
    warehouse: WarehouseResource,
    http_probe: HttpProbeResource,
    service_catalogue: ServiceCatalogueResource,
    service_runtime: ServiceRuntimeResource,
) -> Iterator[dg.MaterializeResult]:
    """Probe the catalogue's endpoints for a tick, or load the demo's simulated history for a day."""
    catalogue = load_catalogue_or_fail(service_catalogue)
    defs = slo_definitions(catalogue)
    policies = _policies(catalogue)
    wh = warehouse.get()
    redactor = load_redactor()
    days = _days(context)
    today = datetime.now(UTC).date()
    results: list[tuple[str, StoreResult]] = []
    probe_seconds = 0.0

    try:
        tick = parse_tick(config.tick) if config.tick else None
    except ValueError as error:
        raise dg.Failure(str(error), allow_retries=False) from None
    if tick is not None and days != [tick.date()]:
        raise dg.Failure(
            f"tick {config.tick} does not belong to partition(s) {days[0]}..{days[-1]}", allow_retries=False
        )
    for day in service_runtime.recorded_days(catalogue, days) if tick is None else []:
        frame, warmup = service_runtime.recorded_day(catalogue, day)
        result = store_probes(
            wh,
            frame,
            source=SOURCE_SIMULATED,
            slo_defs=defs,
            policies=policies,
            replace_day=day,
            warmup=warmup,
            redactor=redactor,
        )
        results.append((f"recorded {day}", result))
    if tick is None and today in days:
        tick = datetime.now(UTC).replace(tzinfo=None, second=0, microsecond=0)
    if tick is not None:
        started = time.monotonic()
        targets = endpoints(
            catalogue, service_runtime.resolver(url for s in catalogue for url in s.health_urls)
        )
        frame = probe_all(http_probe.client(), targets, tick, http_probe.max_concurrency)
        probe_seconds = time.monotonic() - started
        results.append(
            (
                f"live {tick:%Y-%m-%dT%H:%M}Z",
                store_probes(
                    wh, frame, source=SOURCE_LIVE, slo_defs=defs, policies=policies, redactor=redactor
                ),
            )
        )
        failed = frame[~frame["ok"].astype(bool)]
        for row in failed.itertuples():
            context.log.warning(f"probe failed: {row.service} {row.url}: {redactor.redact_text(row.error)}")

    inserted = sum(r.inserted for _, r in results)
    summary = {
        "loads": dg.MetadataValue.json(
            {
                label: {"inserted": r.inserted, "skipped": r.skipped, "replaced": r.replaced}
                for label, r in results
            }
        ),
        "probes_inserted": inserted,
        "probes_skipped": sum(r.skipped for _, r in results),
        "endpoint_health": dg.MetadataValue.json(results[-1][1].states if results else {}),
        "probe_seconds": round(probe_seconds, 3),
    }
    if not results:
        context.log.info(f"nothing to load for {days[0]}..{days[-1]}: live probes are only taken for today")
    yield dg.MaterializeResult(asset_key=PROBES_KEY, metadata={"dagster/row_count": inserted, **summary})
    yield dg.MaterializeResult(
        asset_key=HOURLY_KEY, metadata={"hourly_rows_recomputed": sum(r.hourly_rows for _, r in results)}
    )


# --------------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------------

CHECK_DAYS = 2


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec("latency_non_negative", asset=PROBES_KEY, description="No negative latency."),
        dg.AssetCheckSpec(
            "ok_consistent_with_status",
            asset=PROBES_KEY,
            description="ok exactly when a 2xx status arrived; an error text exactly when not ok.",
        ),
        dg.AssetCheckSpec(
            "probe_id_unique", asset=PROBES_KEY, description="No probe stored twice (retries are idempotent)."
        ),
        dg.AssetCheckSpec(
            "hourly_matches_raw",
            asset=HOURLY_KEY,
            description="The rollup's valid counts equal the raw probes of the same hours.",
        ),
    ],
    name="health_probes_checks",
)
def health_probes_checks(warehouse: WarehouseResource) -> Iterator[dg.AssetCheckResult]:
    """Checks over the last two days of probes (the part live runs keep changing)."""
    with warehouse.get().read("health probe checks") as con:
        ((latest,),) = con.execute("SELECT max(probed_at) FROM raw.health_probes").fetchall()
        since = (latest or datetime(1970, 1, 1)) - timedelta(days=CHECK_DAYS)
        ((negative, inconsistent, duplicates, rows),) = con.execute(
            """
            SELECT count(*) FILTER (WHERE latency_ms < 0),
                   count(*) FILTER (WHERE ok IS NULL
                                    OR ok <> coalesce(status_code BETWEEN 200 AND 299, false)
                                    OR ok = (error IS NOT NULL)),
                   count(*) - count(DISTINCT probe_id),
                   count(*)
            FROM raw.health_probes WHERE probed_at > ?
            """,
            [since],
        ).fetchall()
        mismatched = con.execute(
            f"""
            WITH raw_counts AS (
                SELECT p.service, {BUCKET_END_SQL} AS bucket_end, count(*) AS n
                FROM raw.health_probes p WHERE p.probed_at > ? GROUP BY ALL
            ), rollup AS (
                SELECT service, bucket_end, max(valid) AS n, min(valid) AS n_min
                FROM staging.health_probes_hourly WHERE bucket_end > ? + INTERVAL 1 HOUR GROUP BY ALL
            )
            SELECT count(*) FROM rollup r JOIN raw_counts c USING (service, bucket_end)
            WHERE r.n <> c.n OR r.n_min <> c.n
            """,  # noqa: S608 - BUCKET_END_SQL is a constant of this module
            [since, since],
        ).fetchall()[0][0]
    window = {"rows_checked": rows, "since": since.isoformat()}
    yield dg.AssetCheckResult(
        check_name="latency_non_negative", asset_key=PROBES_KEY, passed=negative == 0,
        metadata={"negative": negative, **window},
    )  # fmt: skip
    yield dg.AssetCheckResult(
        check_name="ok_consistent_with_status", asset_key=PROBES_KEY, passed=inconsistent == 0,
        metadata={"inconsistent": inconsistent, **window},
    )  # fmt: skip
    yield dg.AssetCheckResult(
        check_name="probe_id_unique", asset_key=PROBES_KEY, passed=duplicates == 0,
        metadata={"duplicates": duplicates, **window},
    )  # fmt: skip
    yield dg.AssetCheckResult(
        check_name="hourly_matches_raw", asset_key=HOURLY_KEY, passed=mismatched == 0,
        metadata={"mismatched_buckets": mismatched, **window},
    )  # fmt: skip
