"""marts.canary_verdicts: Kayenta's judgement of each shadow replay, candidate against baseline.

Two metrics per replay, each a sample of per-request values from raw.shadow_samples:

- ``latency_ms``: the latency of every answered request;
- ``error_rate``: 1 for a request without an answer or with a 5xx status, else 0.

core.canary classifies each metric as Kayenta's NetflixACAJudge does (Mann-Whitney test, Hodges-
Lehmann shift and its 98 % interval, tolerance 0.25), scores the replay (share of metrics that pass)
and gives the verdict: pass at 95 or more, marginal at 75 or more, else fail. Only increases
count against a candidate; a latency increase must also reach `LATENCY_ALLOWED_INCREASE` (mean
ratio), Kayenta's `allowedIncrease`, so a statistically detectable but negligible shift (a busy
machine, one slower connection) cannot fail a release on its own.

Incremental: replays without a verdict, or re-stored after their verdict, are judged; the rest
are kept.
"""

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg
import lazy_loader

from observability_assets.assetkit.metadata import column_schema
from observability_assets.core.canary import (
    MARGINAL_THRESHOLD,
    PASS_THRESHOLD,
    CanaryJudgement,
    Direction,
    MetricConfig,
    judge,
)
from observability_assets.core.contract import CANARY_VERDICTS
from observability_assets.ingest.shadow_replay import SHADOW_SAMPLES_KEY
from resources.warehouse import Warehouse, WarehouseResource

# numpy loads on first use, not with the definitions (docs/architecture.md).
np = lazy_loader.load("numpy")

if TYPE_CHECKING:
    import pandas as pd

CANARY_VERDICTS_KEY = dg.AssetKey(CANARY_VERDICTS.qualified_name.split("."))
LATENCY_ALLOWED_INCREASE = 1.1
METRICS = (
    MetricConfig("latency_ms", direction=Direction.INCREASE, allowed_increase=LATENCY_ALLOWED_INCREASE),
    MetricConfig("error_rate", direction=Direction.INCREASE),
)


def metric_values(samples: "pd.DataFrame") -> "dict[str, tuple[np.ndarray, np.ndarray]]":
    """(control, experiment) values of each metric from one replay's rows."""

    def latency(column: str) -> "np.ndarray":
        return samples[column].astype("Float64").to_numpy(dtype=float, na_value=np.nan)

    def errors(column: str) -> "np.ndarray":
        status = samples[column].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        return np.where(np.isnan(status) | (status >= 500), 1.0, 0.0)

    return {
        "latency_ms": (latency("baseline_latency_ms"), latency("candidate_latency_ms")),
        "error_rate": (errors("baseline_status"), errors("candidate_status")),
    }


def judge_replay(
    samples: "pd.DataFrame",
) -> "tuple[CanaryJudgement, dict[str, tuple[np.ndarray, np.ndarray]]]":
    values = metric_values(samples)
    return judge([(config, *values[config.name]) for config in METRICS]), values


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def verdict_rows(
    replay_id: str,
    baseline_url: str,
    candidate_url: str,
    judgement: CanaryJudgement,
    values: "dict[str, tuple[np.ndarray, np.ndarray]]",
    judged_at: datetime,
) -> list[dict[str, object]]:
    rows = []
    for result in judgement.results:
        control, experiment = values[result.name]
        test = result.test
        rows.append(
            {
                "replay_id": replay_id,
                "baseline_url": baseline_url,
                "candidate_url": candidate_url,
                "metric": result.name,
                "classification": result.classification.value,
                "reason": result.reason,
                "control_count": result.control_count,
                "experiment_count": result.experiment_count,
                "control_mean": _finite(float(np.nanmean(control))) if np.isfinite(control).any() else None,
                "experiment_mean": _finite(float(np.nanmean(experiment)))
                if np.isfinite(experiment).any()
                else None,
                "deviation": _finite(result.deviation),
                "estimate": _finite(test.estimate) if test else None,
                "ci_lower": _finite(test.lower) if test else None,
                "ci_upper": _finite(test.upper) if test else None,
                "p_value": _finite(test.p_value) if test else None,
                "score": judgement.score,
                "verdict": judgement.verdict.value,
                "judged_at": judged_at,
            }
        )
    return rows


def pending_replays(warehouse: Warehouse) -> "pd.DataFrame":
    """Rows of the replays without a verdict, or stored again after it."""
    with warehouse.read("pending shadow replays") as con:
        return con.execute(
            """
            WITH loaded AS (
                SELECT replay_id, max(ingested_at) AS loaded_at FROM raw.shadow_samples GROUP BY replay_id
            ), judged AS (
                SELECT replay_id, min(judged_at) AS judged_at FROM marts.canary_verdicts GROUP BY replay_id
            )
            SELECT s.* FROM raw.shadow_samples s
            JOIN loaded l USING (replay_id) LEFT JOIN judged j USING (replay_id)
            WHERE j.judged_at IS NULL OR j.judged_at < l.loaded_at
            ORDER BY s.replay_id, s.request_id
            """
        ).df()


def store_verdicts(warehouse: Warehouse, replay_ids: Sequence[str], rows: list[dict[str, object]]) -> None:
    import pandas as pd

    frame = pd.DataFrame(rows, columns=CANARY_VERDICTS.column_names)
    names = ", ".join(CANARY_VERDICTS.column_names)
    casts = ", ".join(f"CAST({c.name} AS {c.sql_type})" for c in CANARY_VERDICTS.columns)
    with warehouse.write("store canary verdicts") as con:
        con.execute("BEGIN TRANSACTION")
        try:
            con.register("judged_replays", pd.DataFrame({"replay_id": list(replay_ids)}, dtype="string"))
            con.execute(
                "DELETE FROM marts.canary_verdicts WHERE replay_id IN (SELECT replay_id FROM judged_replays)"
            )
            con.register("incoming_verdicts", frame)
            # Identifiers come from the contract, never from data.
            con.execute(f"INSERT INTO marts.canary_verdicts ({names}) SELECT {casts} FROM incoming_verdicts")  # noqa: S608
            con.unregister("incoming_verdicts")
            con.unregister("judged_replays")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise


def judge_pending(warehouse: Warehouse) -> dict[str, CanaryJudgement]:
    """Judge every pending replay and store the verdicts; the judgements by replay id."""
    samples = pending_replays(warehouse)
    judged_at = datetime.now(UTC).replace(tzinfo=None)
    judgements, rows = {}, []
    for replay_id, group in samples.groupby("replay_id", sort=True):
        judgement, values = judge_replay(group)
        judgements[replay_id] = judgement
        first = group.iloc[0]
        rows += verdict_rows(
            replay_id, first["baseline_url"], first["candidate_url"], judgement, values, judged_at
        )
    if judgements:
        store_verdicts(warehouse, list(judgements), rows)
    return judgements


@dg.asset(
    key=CANARY_VERDICTS_KEY,
    deps=[SHADOW_SAMPLES_KEY],
    description=CANARY_VERDICTS.comment,
    group_name="marts",
    kinds={"duckdb", "python"},
    owners=["team:platform"],
    metadata={"dagster/column_schema": column_schema(CANARY_VERDICTS)},
)
def canary_verdicts(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Judge the shadow replays not judged yet, metric by metric, as Kayenta would."""
    judgements = judge_pending(warehouse.get())
    metadata: dict[str, object] = {"replays_judged": len(judgements)}
    for replay_id, judgement in judgements.items():
        context.log.info(f"replay {replay_id}: {judgement.verdict.value} (score {judgement.score:g})")
    if judgements:
        replay_id, latest = list(judgements.items())[-1]
        metadata |= {
            "replay_id": replay_id,
            "verdict": latest.verdict.value,
            "score": latest.score,
            "metrics": dg.MetadataValue.json(
                {
                    r.name: {"classification": r.classification.value, "reason": r.reason}
                    for r in latest.results
                }
            ),
        }
    return dg.MaterializeResult(metadata=metadata)


@dg.asset_check(asset=CANARY_VERDICTS_KEY, description="Every verdict follows from its score (95 / 75).")
def canary_verdicts_consistent(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.get().read("canary verdicts check") as con:
        ((bad, rows),) = con.execute(
            """
            SELECT count(*) FILTER (WHERE verdict <> CASE WHEN score >= ? THEN 'pass'
                                                          WHEN score >= ? THEN 'marginal' ELSE 'fail' END),
                   count(*)
            FROM marts.canary_verdicts
            """,
            [PASS_THRESHOLD, MARGINAL_THRESHOLD],
        ).fetchall()
    return dg.AssetCheckResult(passed=bad == 0, metadata={"inconsistent_rows": bad, "rows": rows})
