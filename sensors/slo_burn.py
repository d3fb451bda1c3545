"""SLO burn → remediation: the sensor that notices a burning error budget and the job that acts.

The sensor reads `marts.slo_compliance`, `ops.probe_states` and the last remediation start per
service in one short read. For every service with a new evaluation (`as_of` moved) it decides:

- no alert: nothing (and `slo_burn.cleared` once when a burn ends);
- evidence older than the remediator's `max_data_age_s`: skip, never act on stale data;
- every endpoint healthy again: skip (the budget was spent earlier, nothing to heal now);
- an episode started within the cooldown: skip until it ends;
- otherwise: a `vigil_remediation` run for the service (`slo_burn.alert`).

Skips are recorded when the decision changes, not on every tick. The run's op diagnoses with
live probes and climbs the escalation ladder (`resources.remediator`). Whether it acts or only
records (dry run, the default) shows in the sensor's description, the run's tags and the ledger.
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import dagster as dg

from observability_assets.core.ledger import LedgerRecord, format_at
from resources.github import GitHubResource
from resources.http_probe import ServiceCatalogueResource
from resources.issue_tracker import IssueTrackerResource
from resources.ledger import LedgerResource
from resources.remediator import Incident, RemediatorResource, remediation_mode_from_env
from resources.service_runtime import ServiceRuntimeResource
from resources.warehouse import WarehouseResource
from sensors.common import MODE_TAG, open_issue_tracker, utc_now

ACTOR = "slo-burn-sensor"
BURN_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
ALERT_RANK = {"page": 2, "ticket": 1}
# Column names are constants of this module, never data.
_SLO_ROWS = (
    "SELECT service, slo, alert, alert_rule, as_of, "  # noqa: S608
    + ", ".join(f"burn_rate_{w}" for w in BURN_WINDOWS)
    + " FROM marts.slo_compliance"
)


class RemediationRequest(dg.Config):
    """One remediation episode as the SLO-burn sensor requested it."""

    service: str
    alert: str
    slo: str
    as_of: str
    detected_at: str
    health: str = ""
    burn_rates_json: str = "{}"


@dg.op(
    description="Diagnose a service with burning SLOs from live probes, run its runbook (dry run unless "
    "VIGIL_REMEDIATION=live), verify, and escalate: issue, notification, page. Every step goes to ops.ledger.",
    tags={"kind": "remediation"},
)
def remediate_service(
    context: dg.OpExecutionContext,
    config: RemediationRequest,
    remediator: RemediatorResource,
    issue_tracker: IssueTrackerResource,
    ledger: LedgerResource,
    github: GitHubResource,
    service_catalogue: ServiceCatalogueResource,
    service_runtime: ServiceRuntimeResource,
) -> dg.Output[str]:
    service = service_catalogue.load().get(config.service)
    incident = Incident(
        service=service,
        alert=config.alert,
        slo=config.slo,
        as_of=datetime.fromisoformat(config.as_of),
        detected_at=datetime.fromisoformat(config.detected_at),
        burn_rates=json.loads(config.burn_rates_json),
        health=config.health or None,
    )
    target = service_runtime.target(service, remediator)
    the_ledger = ledger.get()
    with open_issue_tracker(issue_tracker, the_ledger, github) as tracker:
        outcome = remediator.remediator(the_ledger, tracker).handle(incident, target)
    context.log.info(f"{service.name}: {outcome.status} ({outcome.reason})")
    return dg.Output(
        outcome.status,
        metadata={
            "mode": remediator.effective_mode,
            "episode": outcome.episode,
            "status": outcome.status,
            "reason": outcome.reason,
            "condition": outcome.condition or "",
            "attempts": outcome.attempts,
            "issue": dg.MetadataValue.url(outcome.issue_url) if outcome.issue_url else "",
        },
    )


@dg.job(
    name="vigil_remediation",
    description="One remediation episode for one service (requested by slo_burn_sensor).",
    tags={MODE_TAG: remediation_mode_from_env()},
)
def remediation_job() -> None:
    remediate_service()


@dataclass(frozen=True)
class Burn:
    """The worst SLO row of one service at one evaluation."""

    service: str
    slo: str
    alert: str
    alert_rule: str | None
    as_of: datetime
    burn_rates: Mapping[str, float | None]


@dataclass
class Decisions:
    records: list[LedgerRecord] = field(default_factory=list)
    requests: list[tuple[Burn, datetime, str | None]] = field(
        default_factory=list
    )  # burn, detected_at, health
    cursor: dict[str, Any] = field(default_factory=dict)


def decide(
    rows: Sequence[Mapping[str, Any]],
    health: Mapping[str, str],
    last_started: Mapping[str, datetime],
    cursor: Mapping[str, Any],
    *,
    now: datetime,
    cooldown_s: float,
    max_data_age_s: float,
    mode: str,
) -> Decisions:
    """What to do about each service's newest SLO evaluation (pure; see the module docstring).

    `cursor` holds, per service, the `as_of` last looked at, the last decision and when the
    current burn was first seen; the returned cursor replaces it.
    """
    seen = dict(cursor.get("as_of", {}))
    decided = dict(cursor.get("decision", {}))
    since = dict(cursor.get("burning_since", {}))
    requested = dict(cursor.get("requested_at", {}))
    out = Decisions()
    by_service: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_service.setdefault(row["service"], []).append(row)
    for service, service_rows in sorted(by_service.items()):
        as_of = max(r["as_of"] for r in service_rows)
        if seen.get(service) == format_at(as_of):
            continue
        seen[service] = format_at(as_of)
        burning = [r for r in service_rows if r["alert"] in ALERT_RANK and r["as_of"] == as_of]
        if not burning:
            if decided.get(service, "clear") != "clear":
                out.records.append(LedgerRecord(ACTOR, "slo_burn.cleared", service, {"as_of": as_of}))
            decided[service] = "clear"
            since.pop(service, None)
            continue
        worst = max(burning, key=lambda r: (ALERT_RANK[r["alert"]], r.get("burn_rate_1h") or 0.0))
        burn = Burn(
            service,
            worst["slo"],
            worst["alert"],
            worst.get("alert_rule"),
            as_of,
            {w: worst.get(f"burn_rate_{w}") for w in BURN_WINDOWS},
        )
        detected = datetime.fromisoformat(since.setdefault(service, format_at(as_of)))
        evidence = {
            "slo": burn.slo,
            "alert": burn.alert,
            "alert_rule": burn.alert_rule,
            "as_of": as_of,
            "health": health.get(service),
            "burn_rates": dict(burn.burn_rates),
            "mode": mode,
        }
        started = max(
            [t for t in (last_started.get(service), _parse(requested.get(service))) if t is not None],
            default=None,
        )
        age_s = (now - as_of).total_seconds()
        if age_s > max_data_age_s:
            decision = "stale"
            reason = f"stale data: the SLO evaluation is {age_s:.0f} s old, more than {max_data_age_s:.0f} s"
        elif health.get(service) == "ok":
            decision = "healthy"
            reason = "the error budget is burning from earlier failures but every endpoint is healthy now"
        elif started is not None and now < started + timedelta(seconds=cooldown_s):
            until = started + timedelta(seconds=cooldown_s)
            decision = f"cooldown until {format_at(until)}"
            reason = f"an episode started {format_at(started)}; cooldown until {format_at(until)}"
        else:
            decided[service] = "remediate"
            requested[service] = format_at(now)
            out.records.append(LedgerRecord(ACTOR, "slo_burn.alert", service, evidence))
            out.requests.append((burn, detected, health.get(service)))
            continue
        if decided.get(service) != decision:
            out.records.append(
                LedgerRecord(ACTOR, "slo_burn.skipped", service, evidence | {"reason": reason})
            )
        decided[service] = decision
    out.cursor = {"as_of": seen, "decision": decided, "burning_since": since, "requested_at": requested}
    return out


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _worst_health(states: Sequence[str]) -> str:
    order = {"down": 2, "degraded": 1, "ok": 0}
    return max(states, key=lambda s: order.get(s, 1))


def run_request(burn: Burn, detected_at: datetime, health: str | None, mode: str) -> dg.RunRequest:
    request = RemediationRequest(
        service=burn.service,
        alert=burn.alert,
        slo=burn.slo,
        as_of=format_at(burn.as_of),
        detected_at=format_at(detected_at),
        health=health or "",
        burn_rates_json=json.dumps(dict(burn.burn_rates), sort_keys=True),
    )
    return dg.RunRequest(
        run_key=f"slo-burn:{burn.service}:{format_at(burn.as_of)}",
        run_config=dg.RunConfig(ops={"remediate_service": request}),
        tags={MODE_TAG: mode, "vigil/service": burn.service, "vigil/alert": burn.alert},
    )


@dg.sensor(
    name="slo_burn_sensor",
    job=remediation_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Burning SLOs (marts.slo_compliance page/ticket alerts) → a vigil_remediation run per service. "
        f"Remediation mode: {remediation_mode_from_env().upper()} "
        "(dry run unless VIGIL_REMEDIATION=live). Never acts on stale data; one episode per cooldown."
    ),
    tags={MODE_TAG: remediation_mode_from_env()},
)
def slo_burn_sensor(
    context: dg.SensorEvaluationContext,
    warehouse: WarehouseResource,
    ledger: LedgerResource,
    remediator: RemediatorResource,
) -> dg.SensorResult | dg.SkipReason:
    with warehouse.get().read("slo burn sensor") as con:
        cursor = con.execute(_SLO_ROWS)
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        states = con.execute("SELECT service, health FROM ops.probe_states").fetchall()
        starts = con.execute(
            'SELECT subject, max("at") FROM ops.ledger WHERE actor = ? AND action = ? GROUP BY subject',
            ["remediator", "remediation.started"],
        ).fetchall()
    health: dict[str, list[str]] = {}
    for service, state in states:
        health.setdefault(service, []).append(state)
    mode = remediator.effective_mode
    decisions = decide(
        rows,
        {service: _worst_health(s) for service, s in health.items()},
        dict(starts),
        json.loads(context.cursor) if context.cursor else {},
        now=utc_now(),
        cooldown_s=remediator.cooldown_s,
        max_data_age_s=remediator.max_data_age_s,
        mode=mode,
    )
    ledger.get().append_many(decisions.records)
    new_cursor = json.dumps(decisions.cursor, sort_keys=True)
    if not decisions.requests:
        context.update_cursor(new_cursor)
        skipped = [r.subject for r in decisions.records]
        return dg.SkipReason(
            f"no service to remediate ({len(rows)} SLO rows; decisions recorded for {skipped})"
            if skipped
            else f"no new burning SLO ({len(rows)} SLO rows)"
        )
    return dg.SensorResult(
        run_requests=[run_request(burn, detected, h, mode) for burn, detected, h in decisions.requests],
        cursor=new_cursor,
    )
