"""A live incident drill for `vigil demo`: the remediation loop, end to end, on the demo services.

The demo's simulated health history is weeks old, so the SLO-burn sensor rightly leaves it alone
and the demo would never show remediation. The drill makes a fresh incident instead, in the same
process as the embedded demo services (`demo://NAME`), and lets the real machinery handle it:

1. faults: `checkout` goes down (a restart fixes it); `search` goes down with a sticky fault (no
   remediation action helps, the unrecoverable case);
2. the `health_probe` job runs for six ticks stamped one minute apart up to the current minute
   (the every-minute schedule, compressed: the probes are live HTTP calls made now);
3. after each tick `slo_burn_sensor` is evaluated as `vigil sensors tick` does (`tick_sensors`),
   and the `vigil_remediation` runs it requests diagnose, restart, verify and escalate;
4. the first failed probe is a blip (no action); the second makes the endpoints degraded, so both
   services get an episode: checkout is restarted, verified and probed healthy again; search is
   restarted three times, escalated and gets an incident issue. The last tick waives the cooldown
   so search's outage recurs at once, and the same issue gets a comment instead of a second issue.

Remediation acts live for the drill only, through the drill's own `remediator` resource: the
configured default (dry run unless `VIGIL_REMEDIATION=live`) is not touched. The drill refuses to
run when the catalogue holds any service that is not an embedded demo service, turns the
notification and paging webhooks off, and only files issues on GitHub when GitHub is the embedded
demo server or another loopback server. Every step is a row of `ops.ledger`, between a
`drill.started` and a `drill.finished` row, and the faults are cleared when the drill ends.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from observability_assets.catalog.health import tick_run_config
from observability_assets.demo.embedded_services import embedded_services
from resources.issue_tracker import IssueTrackerResource, fingerprint_of
from resources.remediator import MODE_LIVE, RemediatorResource
from sensors.tick import tick_sensors

if TYPE_CHECKING:
    import dagster as dg

    from observability_assets.core.service_catalogue import ServiceCatalogue
    from resources.ledger import Ledger
    from resources.warehouse import Warehouse

ACTOR = "incident-drill"
OUTAGE_SERVICE = "checkout"
STICKY_SERVICE = "search"
PROBE_JOB = "health_probe"
REMEDIATION_JOB = "vigil_remediation"
SENSOR = "slo_burn_sensor"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
# Probe ticks, in order, with the step of the incident each one stands for. Default hysteresis
# (core.probe_state): one failed probe is a blip, two make the endpoint degraded, and after the
# restart four good probes push the bad ones out of the five-probe window.
TICKS: tuple[str, ...] = (
    "first failed probe: a blip, nothing to do yet",
    "second failed probe: degraded, so remediation starts",
    "after the restart: checkout answers, search does not",
    "checkout recovering (hysteresis)",
    "checkout recovering (hysteresis)",
    "recurrence: search is still down (cooldown waived)",
)
RECURRENCE_TICK = len(TICKS) - 1
# One episode per service during the drill (see `tick_cooldown_s`); the recurrence tick waives it.
EPISODE_COOLDOWN_S = 900.0
# Short waits so the unrecoverable service's three attempts take seconds, not minutes.
DRILL_REMEDIATOR = {
    "mode": MODE_LIVE,
    "backoff_base_s": 0.1,
    "backoff_max_s": 0.2,
    "verify_timeout_s": 1.0,  # a restart takes 0.2 s; slack for a busy machine
    "verify_interval_s": 0.1,
    "verify_successes": 2,
    "diagnose_probes": 2,
    "connect_timeout_s": 1.0,
    "read_timeout_s": 2.0,
    # A drill pages nobody; demo services need no endpoints or token from the configuration.
    "notify_webhook_url": None,
    "page_webhook_url": None,
    "webhook_secret": None,
    "endpoints": "",
    "admin_token": None,
}
QUIET_LOGGING = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
ISSUE_FILED = ("issue.opened", "issue.adopted", "issue.would_open")
ISSUE_UPDATED = ("issue.commented", "issue.reopened", "issue.recurrence_recorded", "issue.would_reopen")


class DrillFailed(RuntimeError):
    """A run or sensor tick of the drill failed (its Dagster logs were written to stderr)."""


@dataclass(frozen=True)
class DrillRow:
    """One ledger row the drill caused, with the subject as a person reads it."""

    seq: int
    actor: str
    action: str
    subject: str  # as stored: a service, or an issue fingerprint for issue rows
    label: str  # the service for an incident issue's fingerprint, else the subject
    note: str
    detail: Mapping[str, Any]


@dataclass
class DrillReport:
    rows: list[DrillRow] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # ledger rows of the drill per action
    recovered: bool = False  # the outage was restarted, verified, and probed healthy again
    escalations: int = 0  # episodes of the sticky service that ended in escalation
    issue_urls: tuple[str, ...] = ()  # distinct issue links those escalations reported
    issues_filed: int = 0  # issue.opened / adopted / would_open for the sticky service
    issue_updates: int = 0  # comments (or recorded recurrences) on that issue
    ledger_ok: bool = False
    seconds: float = 0.0
    skipped: str | None = None

    def actions(self, label: str) -> list[str]:
        """Actions of the drill's rows about `label` (a service), in ledger order."""
        return [row.action for row in self.rows if row.label == label]

    @property
    def ok(self) -> bool:
        """The loop closed: one recovery, and every escalation filed or updated one issue."""
        return (
            self.skipped is None
            and self.recovered
            and self.escalations == 2
            and len(self.issue_urls) <= 1
            and self.issues_filed <= 1
            and self.issues_filed + self.issue_updates == self.escalations
            and self.ledger_ok
        )


def drill_ticks(now: datetime, latest_probe: datetime | None, count: int = len(TICKS)) -> list[datetime]:
    """`count` ticks a minute apart ending at the current minute (UTC, naive).

    Probes at or before a stored probe would not move the endpoints' health (a late tick), so
    after a recent drill the ticks squeeze, evenly, into the seconds since the newest probe.
    """
    end = now.replace(second=0, microsecond=0)
    ticks = [end - timedelta(minutes=count - 1 - k) for k in range(count)]
    if latest_probe is None or latest_probe < ticks[0]:
        return ticks
    step_s = int((now - latest_probe).total_seconds()) // count
    if step_s < 1:
        raise DrillFailed(f"live probes are already stored up to {latest_probe:%H:%M:%S}; try again shortly")
    start = latest_probe.replace(microsecond=0)
    return [start + timedelta(seconds=step_s * (k + 1)) for k in range(count)]


def tick_cooldown_s(started: datetime, last_episode: datetime | None, now: datetime) -> float:
    """The cooldown for a sensor tick at `now` of a drill that `started` after `last_episode`.

    The cooldown runs on real time while the ticks are compressed minutes. It must cover every
    episode since the drill started (so each service gets one) and none before (an earlier drill
    or demo run must not hold this one back): the remediator's default when the last episode is
    older than that, else just under the time since it, and never less than the drill's age.
    """
    room = EPISODE_COOLDOWN_S if last_episode is None else (started - last_episode).total_seconds() - 1.0
    return max(0.0, min(EPISODE_COOLDOWN_S, room), (now - started).total_seconds())


def unfit_catalogue(catalogue: ServiceCatalogue) -> str | None:
    """Why the drill cannot run on this catalogue, or None when it can."""
    real = [s.name for s in catalogue if not s.is_demo]
    if real:
        return f"the catalogue has services that are not embedded demo services ({', '.join(real)})"
    names = set(catalogue.names)
    for name in (OUTAGE_SERVICE, STICKY_SERVICE):
        if name not in names:
            return f"the catalogue has no {name!r} service"
        service = catalogue.get(name)
        if not service.allow_remediation:
            return f"{name!r} is not allow-listed for remediation"
        if "restart" not in service.actions_for("down"):
            return f"{name!r} has no restart in its runbook for 'down'"
    return None


@dataclass(frozen=True)
class _Setting:
    """What the drill takes from the configured resources."""

    catalogue: ServiceCatalogue
    seed: int
    ledger: Ledger
    configured_mode: str
    opens_issues: bool
    github_is_local: bool
    incident_repo: str

    @property
    def warehouse(self) -> Warehouse:
        return self.ledger.warehouse

    @property
    def tracker_override(self) -> IssueTrackerResource | None:
        """Issues configured for a GitHub that is not local: the drill only records them."""
        if self.opens_issues and not self.github_is_local:
            return IssueTrackerResource(mode="record", incident_repo=self.incident_repo)
        return None

    def describe_issues(self) -> str:
        if not self.opens_issues:
            return "recorded in ops.issues only"
        if self.github_is_local:
            return f"filed on the local GitHub ({self.incident_repo})"
        return "recorded in ops.issues only (a drill files nothing on a GitHub beyond this machine)"


def _setting(defs: dg.Definitions) -> _Setting:
    import dagster as dg

    keys = ("ledger", "service_catalogue", "service_runtime", "github", "issue_tracker", "remediator")
    # build_resources resolves EnvVar fields, nested resources included, as a run would.
    with dg.build_resources({key: defs.resources[key] for key in keys}) as resolved:
        return _Setting(
            catalogue=resolved.service_catalogue.load(),
            seed=resolved.service_runtime.seed,
            ledger=resolved.ledger.get(),
            configured_mode=resolved.remediator.effective_mode,
            opens_issues=resolved.issue_tracker.opens_issues,
            github_is_local=resolved.github.simulated or _is_local(resolved.github.api_url),
            incident_repo=resolved.issue_tracker.incident_repo,
        )


def run_incident_drill(
    defs: dg.Definitions, instance: dg.DagsterInstance, out: TextIO = sys.stdout
) -> DrillReport:
    """Run the drill (see the module docstring) with `defs`' resources, jobs and SLO-burn sensor.

    Raises `DrillFailed` when a probe run, a sensor tick or a remediation run fails; the faults
    are cleared and a `drill.aborted` row is written first.
    """
    began = time.monotonic()
    setting = _setting(defs)
    print("\nIncident drill (remediation loop on the local demo services):", file=out)
    reason = unfit_catalogue(setting.catalogue)
    if reason:
        print(f"  skipped: {reason}", file=out)
        return DrillReport(skipped=reason, seconds=time.monotonic() - began)

    registry = embedded_services(setting.seed)
    outage = registry.service(urlsplit(setting.catalogue.get(OUTAGE_SERVICE).base_url).netloc)
    sticky = registry.service(urlsplit(setting.catalogue.get(STICKY_SERVICE).base_url).netloc)
    trail = _Trail(setting.warehouse, setting.catalogue.names, out)
    first_seq = trail.last_seq() + 1
    last_episode = _last_episode(setting.warehouse)
    started = _utc_now()
    ticks = drill_ticks(started, _latest_probe(setting.warehouse))
    probe_defs = _drill_defs(defs, 0.0, setting.tracker_override)
    print(
        f"  Remediation acts LIVE for this drill only, on the local demo services only; the configured "
        f"default stays {setting.configured_mode}. Webhooks are off; issues are {setting.describe_issues()}.\n"
        f"  Faults: {OUTAGE_SERVICE} down (a restart fixes it), {STICKY_SERVICE} down and sticky "
        f"(nothing fixes it). Probe ticks a minute apart up to now, each followed by a {SENSOR} tick.",
        file=out,
    )
    setting.ledger.append(
        ACTOR,
        "drill.started",
        ACTOR,
        {
            "mode": MODE_LIVE,
            "scope": "the embedded demo services of this process",
            "configured_mode": setting.configured_mode,
            "faults": {OUTAGE_SERVICE: "down", STICKY_SERVICE: "down, sticky"},
            "ticks": [f"{t:%Y-%m-%dT%H:%M:%S}" for t in ticks],
            "webhooks": "off",
        },
    )
    seen = trail.print_since(first_seq)
    try:
        outage.inject(down=True)
        sticky.inject(down=True, sticky=True)
        for index, (tick, caption) in enumerate(zip(ticks, TICKS, strict=True)):
            _probe(probe_defs, instance, tick)
            print(f"  {tick:%H:%M:%S}  {_probe_line(setting.warehouse, tick)}  {caption}", file=out)
            recurrence = index == RECURRENCE_TICK
            cooldown_s = 0.0 if recurrence else tick_cooldown_s(started, last_episode, _utc_now())
            _tick(_drill_defs(defs, cooldown_s, setting.tracker_override), instance)
            seen = trail.print_since(seen + 1)
    except Exception as error:
        outage.clear_faults()
        sticky.clear_faults()
        setting.ledger.append(
            ACTOR,
            "drill.aborted",
            ACTOR,
            {"error": f"{type(error).__name__}: {error}"[:500], "faults_cleared": True},
        )
        raise
    outage.clear_faults()
    sticky.clear_faults()
    last_probes = _probe_states(setting.warehouse, ticks[-1])
    outcome = _report(trail.rows_since(first_seq), last_probes)
    setting.ledger.append(
        ACTOR,
        "drill.finished",
        ACTOR,
        {
            "recovered": [OUTAGE_SERVICE] if outcome.recovered else [],
            "escalations": {STICKY_SERVICE: outcome.escalations},
            "issue_urls": list(outcome.issue_urls),
            "faults_cleared": True,
        },
    )
    trail.print_since(seen + 1)
    report = _report(trail.rows_since(first_seq), last_probes)
    report.ledger_ok = setting.ledger.verify().ok
    report.seconds = time.monotonic() - began
    print(_summary(report), file=out)
    return report


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _is_local(api_url: str) -> bool:
    """A GitHub server on this machine: a drill never files real issues."""
    return urlsplit(api_url).hostname in LOOPBACK_HOSTS


def _drill_defs(
    defs: dg.Definitions, cooldown_s: float, tracker: IssueTrackerResource | None
) -> dg.Definitions:
    """`defs`' probe job, remediation job and SLO-burn sensor with the drill's own remediator."""
    import dagster as dg

    remediator = RemediatorResource(**DRILL_REMEDIATOR, cooldown_s=cooldown_s)
    overrides: dict[str, Any] = {"remediator": remediator}
    if tracker is not None:
        overrides["issue_tracker"] = tracker
    return dg.Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        jobs=[job for job in defs.jobs or [] if job.name in (PROBE_JOB, REMEDIATION_JOB)],
        sensors=[sensor for sensor in defs.sensors or [] if sensor.name == SENSOR],
        resources={**defs.resources, **overrides},
    )


@contextlib.contextmanager
def _quiet(what: str) -> Iterator[Callable[[bool], None]]:
    """Hold back Dagster's console logs of a step; write them to stderr only when it failed."""
    buffer = io.StringIO()
    failed = False

    def fail(flag: bool) -> None:
        nonlocal failed
        failed = failed or flag

    try:
        with contextlib.redirect_stderr(buffer):
            yield fail
    except BaseException:
        failed = True
        raise
    finally:
        if failed:
            sys.stderr.write(f"--- logs of the failed drill step: {what} ---\n{buffer.getvalue()}")


def _probe(step_defs: dg.Definitions, instance: dg.DagsterInstance, tick: datetime) -> None:
    config = tick_run_config(tick) | QUIET_LOGGING
    with _quiet(f"{PROBE_JOB} {tick:%H:%M:%S}") as fail:
        result = step_defs.resolve_job_def(PROBE_JOB).execute_in_process(
            run_config=config, partition_key=tick.date().isoformat(), instance=instance, raise_on_error=False
        )
        fail(not result.success)
    if not result.success:
        raise DrillFailed(f"the {PROBE_JOB} run for {tick:%H:%M:%S} failed (run {result.run_id})")


def _tick(step_defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
    with _quiet(SENSOR) as fail:
        results = tick_sensors(step_defs, instance, [SENSOR])
        broken = [r for r in results if r.error or any(not ok for _, ok in r.runs)]
        fail(bool(broken))
    if broken:
        raise DrillFailed("; ".join(r.describe() for r in broken))


def _latest_probe(warehouse: Warehouse) -> datetime | None:
    with warehouse.read("drill: newest probe") as con:
        ((latest,),) = con.execute("SELECT max(probed_at) FROM raw.health_probes").fetchall()
    return latest


def _last_episode(warehouse: Warehouse) -> datetime | None:
    """When the newest remediation episode of the drill's services started, if one ever did."""
    with warehouse.read("drill: newest episode") as con:
        ((last,),) = con.execute(
            'SELECT max("at") FROM ops.ledger WHERE actor = ? AND action = ? AND subject IN (?, ?)',
            ["remediator", "remediation.started", OUTAGE_SERVICE, STICKY_SERVICE],
        ).fetchall()
    return last


def _probe_states(warehouse: Warehouse, tick: datetime) -> dict[str, tuple[int | None, str]]:
    """Service -> (HTTP status or None, health after the probe) of the drill's services at `tick`."""
    with warehouse.read("drill: probes of a tick") as con:
        rows = con.execute(
            "SELECT service, status_code, state FROM raw.health_probes "
            "WHERE probed_at = ? AND service IN (?, ?) ORDER BY service, url",
            [tick, OUTAGE_SERVICE, STICKY_SERVICE],
        ).fetchall()
    return {service: (status, state) for service, status, state in rows}


def _probe_line(warehouse: Warehouse, tick: datetime) -> str:
    states = _probe_states(warehouse, tick)
    parts = []
    for name in (OUTAGE_SERVICE, STICKY_SERVICE):
        status, health = states.get(name, (None, "?"))
        parts.append(f"{name} {status or 'no answer'} -> {health:<8}")
    return "  ".join(parts)


class _Trail:
    """The ledger rows the drill causes, read back and printed as they come."""

    def __init__(self, warehouse: Warehouse, services: Sequence[str], out: TextIO) -> None:
        self.warehouse = warehouse
        self.out = out
        # Issue rows name a fingerprint; an incident's is derived from its service.
        self.labels = {fingerprint_of("incident", "", name): f"{name} (issue)" for name in services}

    def last_seq(self) -> int:
        with self.warehouse.read("drill: last ledger row") as con:
            ((seq,),) = con.execute("SELECT coalesce(max(seq), 0) FROM ops.ledger").fetchall()
        return int(seq)

    def rows_since(self, first_seq: int) -> list[DrillRow]:
        with self.warehouse.read("drill: ledger rows") as con:
            rows = con.execute(
                "SELECT seq, actor, action, subject, detail FROM ops.ledger WHERE seq >= ? ORDER BY seq",
                [first_seq],
            ).fetchall()
        result = []
        for seq, actor, action, subject, text in rows:
            detail = json.loads(text) if text else {}
            label = self.labels.get(subject, subject)
            result.append(DrillRow(int(seq), actor, action, subject, label, _note(action, detail), detail))
        return result

    def print_since(self, first_seq: int) -> int:
        """Print the rows from `first_seq` on; returns the last sequence number printed (or before)."""
        last = first_seq - 1
        for row in self.rows_since(first_seq):
            print(
                f"      #{row.seq:<5} {row.actor:<16} {row.action:<26} {row.label:<16} {row.note}",
                file=self.out,
            )
            last = row.seq
        return last


def _note(action: str, detail: Mapping[str, Any]) -> str:
    """A few words on what a ledger row says."""
    if action == "drill.started":
        return f"faults injected; {len(detail.get('ticks', []))} probe ticks"
    if action == "drill.finished":
        return "faults cleared"
    if action == "slo_burn.alert":
        return f"{detail.get('alert')} alert on {detail.get('slo')}, endpoint {detail.get('health')}"
    if action == "remediation.diagnosis":
        return f"live probes say: {detail.get('condition') or 'healthy'}"
    if action == "remediation.action":
        return f"attempt {detail.get('attempt')}: {detail.get('action')} -> HTTP {detail.get('status')}"
    if action == "remediation.verify":
        verdict = "recovered" if detail.get("recovered") else "still failing"
        return f"attempt {detail.get('attempt')}: {verdict}"
    if action == "remediation.recovered":
        return f"after {detail.get('attempts')} attempt(s)"
    if action in ISSUE_FILED or action in ISSUE_UPDATED:
        seen = f", seen {detail['occurrences']} times" if detail.get("occurrences") else ""
        return f"{detail.get('url') or detail.get('mode')}{seen}"
    text = str(detail.get("reason") or detail.get("error") or "")
    return text if len(text) <= 100 else text[:97] + "..."


def _report(rows: list[DrillRow], last_probes: Mapping[str, tuple[int | None, str]]) -> DrillReport:
    outage = [r for r in rows if r.subject == OUTAGE_SERVICE]
    escalated = [r for r in rows if r.subject == STICKY_SERVICE and r.action == "remediation.escalated"]
    issue_rows = [r for r in rows if r.subject == fingerprint_of("incident", "", STICKY_SERVICE)]
    healthy_again = last_probes.get(OUTAGE_SERVICE, (None, ""))[1] == "ok"
    return DrillReport(
        rows=rows,
        counts=dict(Counter(r.action for r in rows)),
        recovered=healthy_again and any(r.action == "remediation.recovered" for r in outage),
        escalations=len(escalated),
        issue_urls=tuple(sorted({r.detail["issue_url"] for r in escalated if r.detail.get("issue_url")})),
        issues_filed=sum(r.action in ISSUE_FILED for r in issue_rows),
        issue_updates=sum(r.action in ISSUE_UPDATED for r in issue_rows),
    )


def _summary(report: DrillReport) -> str:
    issue = report.issue_urls[0] if report.issue_urls else "recorded in ops.issues"
    recovered = "restarted, verified and probed healthy again" if report.recovered else "NOT recovered"
    verdict = "drill OK" if report.ok else "DRILL FAILED"
    return (
        f"  {OUTAGE_SERVICE}: {recovered}\n"
        f"  {STICKY_SERVICE}: {report.escalations} episodes escalated -> {report.issues_filed} new issue, "
        f"{report.issue_updates} recurrence update(s) ({issue})\n"
        f"  {len(report.rows)} ledger rows in {report.seconds:.1f} s; ledger "
        f"{'intact' if report.ledger_ok else 'BROKEN'}; {verdict}"
    )
