"""raw.shadow_samples: a captured request sample replayed to a baseline, a second baseline and a candidate.

The sample is a JSON array of ``{method, path, headers, body}`` objects, the shape CI traffic
captures take (one ships in config/shadow-sample.json for the demo services). Every request goes to
the three targets through a pool of `max_concurrency` in-flight requests with the probe resource's
timeouts. As Diffy does, the second baseline exposes noise: body fields that differ between the two
baseline answers (request ids, timestamps) do not count against the candidate
(`core.shadow_diff.compare_responses`).

A replay is an event, not a day's slice of a source, so the asset is not partitioned: each
materialization stores one replay under its run id, replacing a previous attempt of the same run.
Captured headers are sent but never stored or logged; they may carry credentials.
"""

import json
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import dagster as dg
from pydantic import Field

from observability_assets.assetkit.metadata import column_schema
from observability_assets.core.contract import SHADOW_SAMPLES
from observability_assets.core.shadow_diff import (
    DifferenceCounter,
    compare_responses,
    parse_body,
    shadow_report,
    significant_fields,
)
from resources.http_probe import HttpOutcome, HttpProbe, HttpProbeResource
from resources.redaction import load_redactor
from resources.service_runtime import ServiceRuntimeResource
from resources.warehouse import Warehouse, WarehouseResource, replace_redactions

if TYPE_CHECKING:
    import pandas as pd

SHADOW_SAMPLES_KEY = dg.AssetKey(SHADOW_SAMPLES.qualified_name.split("."))
DEFAULT_SAMPLE_PATH = str(Path(__file__).resolve().parents[2] / "config" / "shadow-sample.json")
TOP_DIFFERENCES = 20
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class SampleError(ValueError):
    """The captured sample is unusable; the message names the request and field."""


@dataclass(frozen=True)
class CapturedRequest:
    method: str
    path: str  # path and query, starting with "/"
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # a JSON value (sent as JSON), text, or None for no body

    def encoded_body(self) -> tuple[bytes | None, dict[str, str]]:
        if self.body is None:
            return None, {}
        if isinstance(self.body, str):
            return self.body.encode(), {}
        return json.dumps(self.body).encode(), {"Content-Type": "application/json"}

    @property
    def endpoint(self) -> str:
        """Method and path without query or numeric ids: the grouping of Diffy's noise counts."""
        parts = ["{id}" if p.isdigit() else p for p in urlsplit(self.path).path.split("/")]
        return f"{self.method} {'/'.join(parts)}"


def parse_sample(document: Any, source: str = "<sample>") -> list[CapturedRequest]:
    if not isinstance(document, list) or not document:
        raise SampleError(f"{source}: the sample must be a non-empty JSON array of requests")
    requests = []
    for index, raw in enumerate(document):
        where = f"{source}: request [{index}]"
        if not isinstance(raw, dict):
            raise SampleError(f"{where} must be an object, got {type(raw).__name__}")
        unknown = set(raw) - {"method", "path", "headers", "body"}
        if unknown:
            raise SampleError(f"{where} has unknown field(s) {sorted(unknown)}")
        method = raw.get("method")
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise SampleError(f"{where}.method must be one of {', '.join(METHODS)}, got {method!r}")
        path = raw.get("path")
        if not isinstance(path, str) or not path.startswith("/") or any(c.isspace() for c in path):
            raise SampleError(f"{where}.path must start with '/' and contain no spaces, got {path!r}")
        headers = raw.get("headers") or {}
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise SampleError(f"{where}.headers must map names to text values")
        requests.append(CapturedRequest(method.upper(), path, dict(headers), raw.get("body")))
    return requests


def load_sample(path: str | Path) -> list[CapturedRequest]:
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SampleError(f"{path}: cannot read the sample ({error.strerror})") from None
    except ValueError as error:
        raise SampleError(f"{path}: not valid JSON ({error})") from None
    return parse_sample(document, str(path))


@dataclass(frozen=True)
class Replayed:
    index: int
    request: CapturedRequest
    baseline: HttpOutcome
    replay: HttpOutcome
    candidate: HttpOutcome
    sampled_at: datetime


def replay_sample(
    client: HttpProbe,
    sample: Sequence[CapturedRequest],
    *,
    baseline: str,
    candidate: str,
    replay: str,
    max_concurrency: int = 8,
) -> list[Replayed]:
    """Send every request to the three base URLs, at most ``max_concurrency`` requests at a time.

    The three copies of a request are queued next to each other, so the targets see the same
    traffic mix at the same moments and none of them is systematically served last.
    """

    def send(job: tuple[int, str, CapturedRequest]) -> tuple[HttpOutcome, datetime]:
        _, base, request = job
        body, extra = request.encoded_body()
        sent_at = datetime.now(UTC).replace(tzinfo=None)
        outcome = client.request(
            request.method, base.rstrip("/") + request.path, {**extra, **request.headers}, body
        )
        return outcome, sent_at

    jobs = []
    for index, request in enumerate(sample):
        # Rotate who goes first, so queueing inside the pool favours no target.
        order = [baseline, replay, candidate]
        shift = index % 3
        jobs += [(index, base, request) for base in order[shift:] + order[:shift]]
    with ThreadPoolExecutor(max(1, max_concurrency), "shadow") as pool:
        results = list(pool.map(send, jobs))
    by_request: dict[int, dict[str, tuple[HttpOutcome, datetime]]] = {}
    for (index, base, _), result in zip(jobs, results, strict=True):
        by_request.setdefault(index, {})[base] = result
    replayed = []
    for index, request in enumerate(sample):
        outcomes = by_request[index]
        replayed.append(
            Replayed(
                index,
                request,
                baseline=outcomes[baseline][0],
                replay=outcomes[replay][0],
                candidate=outcomes[candidate][0],
                sampled_at=min(sent for _, sent in outcomes.values()),
            )
        )
    return replayed


@dataclass(frozen=True)
class ShadowRows:
    frame: "pd.DataFrame"
    differences: DifferenceCounter


def shadow_rows(
    replay_id: str,
    replayed: Sequence[Replayed],
    *,
    baseline_url: str,
    candidate_url: str,
    ignore: Sequence[str] = (),
) -> ShadowRows:
    """raw.shadow_samples rows: statuses, latencies and the noise-filtered body comparison.

    Noise is filtered twice, as Diffy does: per request (fields that differ between the two
    baseline answers) and over the whole replay (a field that differs against the candidate not
    clearly more often than between the baselines, e.g. a millisecond timestamp that the two
    baselines happened to share, is noise everywhere; `core.shadow_diff.significant_fields`).
    Bodies are compared field by field only between answers of the same status; a status
    difference is reported as such and never counts as body agreement.
    """
    import pandas as pd

    comparisons = [
        compare_responses(
            item.baseline.status,
            parse_body(item.baseline.body),
            item.candidate.status,
            parse_body(item.candidate.body),
            baseline_replay_body=parse_body(item.replay.body),
            ignore=ignore,
        )
        for item in replayed
    ]
    counter = DifferenceCounter()
    for item, comparison in zip(replayed, comparisons, strict=True):
        if comparison.status_match:
            counter.add(item.request.endpoint, comparison)
    significant = {(s.endpoint, s.path) for s in significant_fields(counter)}
    rows = []
    for item, comparison in zip(replayed, comparisons, strict=True):
        if comparison.status_match:
            kept = tuple(d for d in comparison.differences if (item.request.endpoint, d.path) in significant)
            dropped = {d.path for d in comparison.differences} - {d.path for d in kept}
            comparison = replace(comparison, differences=kept, noise_paths=comparison.noise_paths | dropped)
        rows.append(
            {
                "replay_id": replay_id,
                "request_id": f"{item.index:05d}",
                "method": item.request.method,
                "path": item.request.path,
                "baseline_url": baseline_url,
                "candidate_url": candidate_url,
                "baseline_status": item.baseline.status,
                "candidate_status": item.candidate.status,
                "replay_status": item.replay.status,
                "baseline_latency_ms": item.baseline.latency_ms,
                "candidate_latency_ms": item.candidate.latency_ms,
                "replay_latency_ms": item.replay.latency_ms,
                "status_match": comparison.status_match,
                "body_match": comparison.match,
                "diff": comparison.diff_json(),
                "baseline_error": item.baseline.error if item.baseline.status is None else None,
                "candidate_error": item.candidate.error if item.candidate.status is None else None,
                "sampled_at": item.sampled_at,
            }
        )
    frame = pd.DataFrame(rows, columns=[c for c in SHADOW_SAMPLES.column_names if c != "ingested_at"])
    frame = frame.astype(
        {
            "baseline_status": "Int32",
            "candidate_status": "Int32",
            "replay_status": "Int32",
            "baseline_latency_ms": "Float64",
            "candidate_latency_ms": "Float64",
            "replay_latency_ms": "Float64",
        }
    )
    return ShadowRows(frame, counter)


# ops.redactions source of the replay's error texts and diffs.
REDACTION_SOURCE = "shadow_replay"
REDACTED_COLUMNS = ("path", "diff", "baseline_error", "candidate_error")


def redact_replay(frame: "pd.DataFrame") -> tuple["pd.DataFrame", dict[str, int]]:
    """The replay's free text (paths with queries, diffs, errors) redacted; findings per kind."""
    import pandas as pd

    redactor = load_redactor()
    found: dict[str, int] = {}
    changed = {}
    for name in REDACTED_COLUMNS:
        values = [None if pd.isna(value) else str(value) for value in frame[name]]
        redacted, counts = redactor.redact_values(values)
        if counts:
            changed[name] = pd.Series(redacted, dtype="object", index=frame.index)
            for kind, count in counts.items():
                found[kind] = found.get(kind, 0) + count
    return (frame.assign(**changed) if changed else frame), found


def store_replay(warehouse: Warehouse, replay_id: str, frame: "pd.DataFrame") -> int:
    """Replace the rows of ``replay_id`` (a retried run) in one transaction, redacted first."""
    frame, found = redact_replay(frame)
    columns = [c for c in SHADOW_SAMPLES.columns if c.name != "ingested_at"]
    names = ", ".join(c.name for c in columns)
    casts = ", ".join(f"CAST({c.name} AS {c.sql_type})" for c in columns)
    with warehouse.write(f"store shadow replay {replay_id}") as con:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DELETE FROM raw.shadow_samples WHERE replay_id = ?", [replay_id])
            con.register("incoming_samples", frame)
            # Identifiers come from the contract, never from data.
            con.execute(
                f"INSERT INTO raw.shadow_samples ({names}, ingested_at) "  # noqa: S608
                f"SELECT {casts}, CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP) FROM incoming_samples"
            )
            con.unregister("incoming_samples")
            replace_redactions(con, REDACTION_SOURCE, replay_id, found)
            ((count,),) = con.execute(
                "SELECT count(*) FROM raw.shadow_samples WHERE replay_id = ?", [replay_id]
            ).fetchall()
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return count


def summary_metadata(rows: ShadowRows) -> dict[str, Any]:
    """What people expect of a shadow run: status codes, latency, error rate, match rates."""
    frame = rows.frame

    def values(column: str) -> list[Any]:
        series = frame[column]
        return series.astype(object).where(series.notna(), None).tolist()

    report = shadow_report(
        zip(
            values("baseline_status"),
            values("candidate_status"),
            values("baseline_latency_ms"),
            values("candidate_latency_ms"),
            frame["body_match"].tolist(),
            strict=True,
        )
    )

    def side(summary: Any) -> dict[str, Any]:
        return {
            "requests": summary.requests,
            "status_counts": dict(summary.status_counts),
            "error_rate": summary.error_rate,
            "mean_latency_ms": None if summary.mean_latency_ms is None else round(summary.mean_latency_ms, 3),
            "p95_latency_ms": None if summary.p95_latency_ms is None else round(summary.p95_latency_ms, 3),
        }

    significant = significant_fields(rows.differences)
    return {
        "baseline": dg.MetadataValue.json(side(report.baseline)),
        "candidate": dg.MetadataValue.json(side(report.candidate)),
        "status_match_rate": report.status_match_rate,
        "body_match_rate": report.body_match_rate,
        "candidate_error_rate": report.candidate.error_rate,
        "baseline_error_rate": report.baseline.error_rate,
        "significant_differences": len(significant),
        # The fields that differ most often; a status change makes every field of a body differ.
        "top_differences": dg.MetadataValue.json(
            [
                {"endpoint": s.endpoint, "path": s.path, "candidate": s.raw, "noise": s.noise}
                for s in sorted(significant, key=lambda s: (-s.raw, s.endpoint, s.path))[:TOP_DIFFERENCES]
            ]
        ),
    }


class ShadowReplayConfig(dg.Config):
    baseline_url: str = Field(default="demo://checkout", description="Base URL of the baseline (control).")
    candidate_url: str = Field(
        default="demo://checkout-candidate", description="Base URL of the candidate (experiment)."
    )
    replay_url: str = Field(
        default="demo://checkout-replay",
        description="Second baseline whose differences from the first are noise; empty: the baseline again.",
    )
    sample_path: str = Field(default=DEFAULT_SAMPLE_PATH, description="Captured request sample (JSON array).")
    ignore: list[str] = Field(
        default_factory=list, description="JSON Pointer globs that are always noise, e.g. */request_id."
    )


@dg.asset(
    key=SHADOW_SAMPLES_KEY,
    description=SHADOW_SAMPLES.comment,
    group_name="ingest",
    kinds={"http", "duckdb"},
    owners=["team:platform"],
    metadata={"dagster/column_schema": column_schema(SHADOW_SAMPLES)},
    retry_policy=dg.RetryPolicy(max_retries=1, delay=5),
)
def shadow_samples(
    context: dg.AssetExecutionContext,
    config: ShadowReplayConfig,
    warehouse: WarehouseResource,
    http_probe: HttpProbeResource,
    service_runtime: ServiceRuntimeResource,
) -> Iterator[dg.MaterializeResult]:
    """Replay the captured sample against baseline, second baseline and candidate; store one replay."""
    sample = load_sample(config.sample_path)
    replay_url = config.replay_url or config.baseline_url
    resolve = service_runtime.resolver([config.baseline_url, config.candidate_url, replay_url])
    replayed = replay_sample(
        http_probe.client(),
        sample,
        baseline=resolve(config.baseline_url),
        candidate=resolve(config.candidate_url),
        replay=resolve(replay_url),
        max_concurrency=http_probe.max_concurrency,
    )
    rows = shadow_rows(
        context.run.run_id,
        replayed,
        baseline_url=config.baseline_url,
        candidate_url=config.candidate_url,
        ignore=config.ignore,
    )
    count = store_replay(warehouse.get(), context.run.run_id, rows.frame)
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": count,
            "replay_id": context.run.run_id,
            "sample": config.sample_path,
            **summary_metadata(rows),
        }
    )


@dg.asset_check(
    asset=SHADOW_SAMPLES_KEY,
    description="Latencies are non-negative and body_match agrees with the stored diff.",
)
def shadow_samples_consistent(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.get().read("shadow samples check") as con:
        ((bad, rows),) = con.execute(
            """
            SELECT count(*) FILTER (WHERE baseline_latency_ms < 0 OR candidate_latency_ms < 0
                                    OR replay_latency_ms < 0
                                    OR body_match <> (status_match AND diff NOT LIKE '%"fields":%')
                                    OR status_match <> (baseline_status IS NOT DISTINCT FROM candidate_status)),
                   count(*)
            FROM raw.shadow_samples
            WHERE replay_id = (SELECT arg_max(replay_id, ingested_at) FROM raw.shadow_samples)
            """
        ).fetchall()
    return dg.AssetCheckResult(passed=bad == 0, metadata={"inconsistent_rows": bad, "rows": rows})
