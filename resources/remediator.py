"""Remediation of a burning SLO: diagnose, act from the runbook, verify, escalate, record it all.

One episode, as `Remediator.handle` runs it:

1. **Fresh data only.** Evidence older than `max_data_age_s` is skipped with the reason recorded.
2. **Cooldown.** One episode per service per `cooldown_s`, claimed atomically in the ledger
   (the check and the `remediation.started` row are one write under the warehouse lock, so two
   processes never both act).
3. **Diagnosis from live probes**, not from the alert alone: all probes fail → `down`; some fail →
   `high_error_rate`; the health body reports high CPU or memory → `high_cpu` / `high_memory`;
   slower than the service's response-time threshold → `high_latency`; otherwise healthy (the
   alert was a false positive or the service recovered by itself) and nothing is done.
4. **Act** (only when `mode="live"`, env `VIGIL_REMEDIATION=live`, and the service is
   allow-listed with `allow_remediation: true`): the runbook's actions for the condition, one per
   attempt, at most 3 attempts, each followed by a verification probe, exponential backoff with
   jitter between attempts. Dry run (the default) records what would have been done.
5. **Escalate** whatever is not verified healthy: an issue (incident, deduplicated by service),
   a signed webhook notification, and a page when the service is critical.

Every step is a ledger row. The admin token and the webhook secret are registered for redaction
and are never logged or recorded; webhook URLs are recorded by host only (their paths often hold
credentials, as Slack's do).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
from pydantic import Field

from observability_assets.core.ledger import canonical_json, format_at
from observability_assets.core.service_catalogue import Service
from resources.github import register_secret
from resources.http_probe import HttpOutcome, HttpProbe
from resources.issue_tracker import Finding, IssueTracker
from resources.ledger import Ledger

ACTOR = "remediator"
MODE_LIVE = "live"
MODE_DRY_RUN = "dry-run"
ADMIN_TOKEN_HEADER = "X-Vigil-Admin-Token"
SIGNATURE_HEADER = "X-Vigil-Signature"
TIMESTAMP_HEADER = "X-Vigil-Timestamp"
MAX_ATTEMPTS = 3


def remediation_mode(value: str | None) -> str:
    """`live` only when asked for in so many words; anything else is a dry run."""
    return MODE_LIVE if (value or "").strip().lower() == MODE_LIVE else MODE_DRY_RUN


def remediation_mode_from_env() -> str:
    return remediation_mode(os.environ.get("VIGIL_REMEDIATION"))


def sign_payload(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` HMAC over `timestamp.body`; receivers recompute it to authenticate a call."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@dataclass(frozen=True)
class ServiceTarget:
    """Where a service answers: resolved health URLs and the admin API that acts on it."""

    health_urls: tuple[str, ...]
    admin_url: str | None = None
    admin_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Incident:
    """A burning SLO as the sensor saw it."""

    service: Service
    alert: str
    slo: str
    as_of: datetime
    detected_at: datetime
    burn_rates: Mapping[str, float | None] = field(default_factory=dict)
    health: str | None = None


@dataclass(frozen=True)
class Observation:
    url: str
    status: int | None
    latency_ms: float | None
    error: str | None
    flags: tuple[str, ...] = ()

    def as_detail(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "status": self.status,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
            "error": self.error,
            "flags": list(self.flags),
        }


@dataclass
class Outcome:
    episode: str
    status: str  # skipped, healthy, recovered, escalated
    reason: str
    condition: str | None = None
    attempts: int = 0
    issue_url: str | None = None


def diagnose(service: Service, observations: Sequence[Observation]) -> str | None:
    """The runbook condition the probes show, or None when they show a healthy service."""
    if not observations:
        return None
    failed = [o for o in observations if o.status is None or not 200 <= o.status < 300]
    if len(failed) == len(observations):
        return "down"
    if failed:
        return "high_error_rate"
    flags = {flag for o in observations for flag in o.flags}
    for condition in ("high_cpu", "high_memory"):
        if condition in flags:
            return condition
    slow = [o for o in observations if (o.latency_ms or 0.0) > service.thresholds.response_time_ms]
    if len(slow) * 2 > len(observations):
        return "high_latency"
    return None


def _flags(body: bytes | None) -> tuple[str, ...]:
    """Resource flags a health body reports (`high_cpu`, `high_memory`), if it is JSON that has them."""
    try:
        data = json.loads(body or b"")
    except ValueError:
        return ()
    if not isinstance(data, dict):
        return ()
    return tuple(name for name in ("high_cpu", "high_memory") if data.get(name) is True)


@dataclass(frozen=True)
class RemediationSettings:
    mode: str = MODE_DRY_RUN
    cooldown_s: float = 900.0
    max_attempts: int = MAX_ATTEMPTS
    backoff_base_s: float = 5.0
    backoff_max_s: float = 60.0
    verify_timeout_s: float = 20.0
    verify_interval_s: float = 1.0
    verify_successes: int = 3
    diagnose_probes: int = 3
    max_data_age_s: float = 600.0
    notify_webhook_url: str | None = field(default=None, repr=False)
    page_webhook_url: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)


class Remediator:
    """Runs remediation episodes; see the module docstring."""

    def __init__(
        self,
        settings: RemediationSettings,
        ledger: Ledger,
        tracker: IssueTracker | None,
        probe: HttpProbe,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 1 <= settings.max_attempts <= MAX_ATTEMPTS:
            raise ValueError(f"max_attempts must be between 1 and {MAX_ATTEMPTS}")
        self.settings = settings
        self.ledger = ledger
        self.tracker = tracker
        self.probe = probe
        self._sleep = sleep
        register_secret(settings.webhook_secret)

    @property
    def live(self) -> bool:
        return self.settings.mode == MODE_LIVE

    def _record(self, action: str, incident: Incident, detail: Mapping[str, Any]) -> None:
        self.ledger.append(ACTOR, action, incident.service.name, detail)

    def handle(self, incident: Incident, target: ServiceTarget, now: datetime | None = None) -> Outcome:
        """One remediation episode for `incident` (see the module docstring for the steps)."""
        register_secret(target.admin_token)
        now = _naive_utc(now or datetime.now(UTC))
        episode = secrets.token_hex(6)
        base = {
            "episode": episode,
            "mode": self.settings.mode,
            "alert": incident.alert,
            "slo": incident.slo,
            "as_of": incident.as_of,
            "health": incident.health,
            "burn_rates": dict(incident.burn_rates),
        }
        age_s = (now - _naive_utc(incident.as_of)).total_seconds()
        if age_s > self.settings.max_data_age_s:
            reason = (
                f"stale data: evidence is {age_s:.0f} s old, more than {self.settings.max_data_age_s:.0f} s"
            )
            self._record("remediation.skipped", incident, base | {"reason": reason})
            return Outcome(episode, "skipped", reason)
        cooling = self._claim(incident, base, now)
        if cooling:
            return Outcome(episode, "skipped", cooling)

        observations = self._observe(target, self.settings.diagnose_probes)
        condition = diagnose(incident.service, observations)
        self._record(
            "remediation.diagnosis",
            incident,
            base | {"condition": condition, "probes": [o.as_detail() for o in observations]},
        )
        if condition is None:
            reason = "healthy at diagnosis: the alert was a false positive or the service recovered by itself"
            self._record("remediation.no_action", incident, base | {"reason": reason})
            return Outcome(episode, "healthy", reason)

        base["condition"] = condition
        actions = incident.service.actions_for(condition)
        if not actions:
            return self._escalate(incident, base, f"the runbook has no action for {condition}", 0)
        if not incident.service.allow_remediation:
            self._record("remediation.not_allowed", incident, base | {"would": list(actions)})
            return self._escalate(incident, base, "service is not allow-listed (allow_remediation: false)", 0)
        if not self.live:
            self._record("remediation.dry_run", incident, base | {"would": list(actions)})
            return self._escalate(
                incident, base, "dry run: no action taken (set VIGIL_REMEDIATION=live to act)", 0
            )
        if not target.admin_url:
            return self._escalate(incident, base, "no admin endpoint is configured for the service", 0)
        return self._act(incident, target, base, actions)

    def _claim(self, incident: Incident, base: dict[str, Any], now: datetime) -> str | None:
        """Start the episode unless one started within the cooldown; returns the skip reason."""
        with self.ledger.transaction(f"remediation claim {incident.service.name}") as (con, recorder):
            ((last,),) = con.execute(
                'SELECT max("at") FROM ops.ledger WHERE actor = ? AND action = ? AND subject = ?',
                [ACTOR, "remediation.started", incident.service.name],
            ).fetchall()
            until = last + timedelta(seconds=self.settings.cooldown_s) if last else None
            if until is not None and now < until:
                reason = f"cooldown: the last episode started {format_at(last)}, next one allowed from {format_at(until)}"
                recorder.record(
                    ACTOR, "remediation.skipped", incident.service.name, base | {"reason": reason}
                )
                return reason
            recorder.record(
                ACTOR,
                "remediation.started",
                incident.service.name,
                base | {"detected_at": incident.detected_at},
            )
            return None

    def _act(
        self, incident: Incident, target: ServiceTarget, base: dict[str, Any], actions: Sequence[str]
    ) -> Outcome:
        assert target.admin_url is not None
        for attempt in range(1, self.settings.max_attempts + 1):
            # One runbook action per attempt; the last one is repeated when attempts remain.
            action = actions[min(attempt - 1, len(actions) - 1)]
            answer = self.probe.request(
                "POST",
                f"{target.admin_url.rstrip('/')}/admin/{action}",
                headers={ADMIN_TOKEN_HEADER: target.admin_token or ""},
            )
            self._record(
                "remediation.action",
                incident,
                base | {"attempt": attempt, "action": action, "status": answer.status, "error": answer.error},
            )
            recovered, observations = self._verify(incident.service, target)
            delay = self._backoff(attempt) if not recovered and attempt < self.settings.max_attempts else None
            self._record(
                "remediation.verify",
                incident,
                base
                | {
                    "attempt": attempt,
                    "action": action,
                    "recovered": recovered,
                    "probes": [o.as_detail() for o in observations[-5:]],
                    "next_attempt_in_s": None if delay is None else round(delay, 3),
                },
            )
            if recovered:
                now = datetime.now(UTC).replace(tzinfo=None)
                self._record(
                    "remediation.recovered",
                    incident,
                    base
                    | {
                        "attempts": attempt,
                        "action": action,
                        "time_to_recover_s": round(
                            (now - _naive_utc(incident.detected_at)).total_seconds(), 3
                        ),
                    },
                )
                return Outcome(base["episode"], "recovered", f"{action} worked", base["condition"], attempt)
            if delay is not None:
                self._sleep(delay)
        reason = f"not recovered after {self.settings.max_attempts} attempts ({', '.join(actions)})"
        return self._escalate(incident, base, reason, self.settings.max_attempts)

    def _backoff(self, attempt: int) -> float:
        # Exponential with equal jitter: half fixed, half random, so retries of many services spread.
        ceiling = min(self.settings.backoff_max_s, self.settings.backoff_base_s * 2 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # jitter, not cryptography

    def _probe(self, url: str) -> Observation:
        outcome: HttpOutcome = self.probe.get(url)
        return Observation(url, outcome.status, outcome.latency_ms, outcome.error, _flags(outcome.body))

    def _observe(self, target: ServiceTarget, rounds: int) -> list[Observation]:
        return [self._probe(url) for _ in range(rounds) for url in target.health_urls]

    def _verify(self, service: Service, target: ServiceTarget) -> tuple[bool, list[Observation]]:
        """Probe until `verify_successes` healthy rounds in a row, or until the verify timeout."""
        deadline = time.monotonic() + self.settings.verify_timeout_s
        observations: list[Observation] = []
        streak = 0
        while True:
            round_ = self._observe(target, 1)
            observations += round_
            streak = streak + 1 if diagnose(service, round_) is None else 0
            if streak >= self.settings.verify_successes:
                return True, observations
            if time.monotonic() + self.settings.verify_interval_s > deadline:
                return False, observations
            self._sleep(self.settings.verify_interval_s)

    def _escalate(self, incident: Incident, base: dict[str, Any], reason: str, attempts: int) -> Outcome:
        """Climb the ladder past auto-heal: an issue, a notification, a page when critical."""
        service = incident.service
        issue_url = None
        if self.tracker is not None:
            finding = incident_finding(incident, base, reason)
            report = self.tracker.report([finding], drains=[finding.kind])
            issue_url = report.urls.get(finding.fingerprint)
        payload = {
            "service": service.name,
            "condition": base.get("condition"),
            "alert": incident.alert,
            "slo": incident.slo,
            "reason": reason,
            "issue_url": issue_url,
            "episode": base["episode"],
            "mode": self.settings.mode,
            "critical": service.critical,
        }
        notified = self._webhook("notify", self.settings.notify_webhook_url, payload, incident, base)
        paged = None
        if service.critical:
            paged = self._webhook("page", self.settings.page_webhook_url, payload, incident, base)
        self._record(
            "remediation.escalated",
            incident,
            base | {"reason": reason, "issue_url": issue_url, "notified": notified, "paged": paged},
        )
        return Outcome(base["episode"], "escalated", reason, base.get("condition"), attempts, issue_url)

    def _webhook(
        self, kind: str, url: str | None, payload: Mapping[str, Any], incident: Incident, base: dict[str, Any]
    ) -> bool:
        if not url:
            reason = f"no {kind} webhook configured"
            self._record(f"escalation.{kind}_skipped", incident, base | {"reason": reason})
            return False
        body = canonical_json({"event": kind, **payload}).encode()
        headers = {"Content-Type": "application/json", "X-Vigil-Event": kind}
        if self.settings.webhook_secret:
            stamp = str(int(time.time()))
            headers |= {
                TIMESTAMP_HEADER: stamp,
                SIGNATURE_HEADER: sign_payload(self.settings.webhook_secret, stamp, body),
            }
        answer = self.probe.request("POST", url, headers=headers, body=body)
        delivered = answer.status is not None and 200 <= answer.status < 300
        self._record(
            f"escalation.{kind}",
            incident,
            base
            | {
                "host": urlsplit(url).netloc,
                "status": answer.status,
                "error": answer.error,
                "delivered": delivered,
                "signed": bool(self.settings.webhook_secret),
            },
        )
        return delivered


def incident_finding(incident: Incident, base: Mapping[str, Any], reason: str) -> Finding:
    """The issue an unhealed incident gets: one per service, commented on when it comes back."""
    service = incident.service
    condition = base.get("condition") or "unknown"
    figures: dict[str, Any] = {"alert": incident.alert, "slo": incident.slo, "condition": condition}
    figures |= {
        f"burn rate {window}": rate for window, rate in incident.burn_rates.items() if rate is not None
    }
    figures |= {"health": incident.health or "unknown", "mode": base["mode"], "episode": base["episode"]}
    return Finding(
        kind="incident",
        key=service.name,
        title=f"{service.name}: {condition.replace('_', ' ')} burning the {incident.slo} SLO ({incident.alert})",
        summary=(
            f"Service `{service.name}` (owner {service.owner or 'unknown'}) is burning its `{incident.slo}` "
            f"error budget fast enough for a **{incident.alert}** alert. Diagnosis: `{condition}`. "
            f"Vigil did not heal it: {reason}. Evidence as of {format_at(_naive_utc(incident.as_of))} UTC; "
            f"the ledger rows of episode `{base['episode']}` hold every probe and action."
        ),
        observed_at=incident.as_of,
        occurrence=base["episode"],
        figures=figures,
        links=(("service", service.base_url),),
    )


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def parse_endpoints(text: str) -> dict[str, str]:
    """`{"service": "https://admin.example/svc"}` JSON (env VIGIL_REMEDIATION_ENDPOINTS)."""
    if not text.strip():
        return {}
    data = json.loads(text)
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError("remediation endpoints must be a JSON object of service name to admin URL")
    return data


class RemediatorResource(dg.ConfigurableResource):
    """How Vigil remediates burning SLOs. Dry run unless `mode` is `live` (env VIGIL_REMEDIATION=live)."""

    mode: str = Field(
        default=MODE_DRY_RUN, description="live acts; anything else records what would be done."
    )
    cooldown_s: float = Field(
        default=900.0, ge=0, description="At most one episode per service in this time."
    )
    max_attempts: int = Field(default=MAX_ATTEMPTS, ge=1, le=MAX_ATTEMPTS, description="Actions per episode.")
    backoff_base_s: float = Field(
        default=5.0, ge=0, description="Wait after the first failed attempt (doubles)."
    )
    backoff_max_s: float = Field(default=60.0, ge=0, description="Longest wait between attempts.")
    verify_timeout_s: float = Field(default=20.0, gt=0, description="How long a verification may probe.")
    verify_interval_s: float = Field(default=1.0, gt=0, description="Pause between verification probes.")
    verify_successes: int = Field(
        default=3, ge=1, description="Healthy probes in a row that verify recovery."
    )
    diagnose_probes: int = Field(default=3, ge=1, description="Probes per health URL before acting.")
    max_data_age_s: float = Field(default=600.0, gt=0, description="Older evidence is never acted on.")
    connect_timeout_s: float = Field(default=3.0, gt=0, description="Connect timeout of probes and calls.")
    read_timeout_s: float = Field(default=10.0, gt=0, description="Read timeout of probes and calls.")
    endpoints: str = Field(
        default="", description="JSON: service -> admin base URL (env VIGIL_REMEDIATION_ENDPOINTS)."
    )
    admin_token: str | None = Field(default=None, description="Admin API token (env VIGIL_ADMIN_TOKEN).")
    notify_webhook_url: str | None = Field(
        default=None, description="Notification webhook (VIGIL_NOTIFY_WEBHOOK_URL)."
    )
    page_webhook_url: str | None = Field(default=None, description="Paging webhook (VIGIL_PAGE_WEBHOOK_URL).")
    webhook_secret: str | None = Field(
        default=None, description="HMAC key of webhook calls (VIGIL_WEBHOOK_SECRET)."
    )

    @property
    def effective_mode(self) -> str:
        return remediation_mode(self.mode)

    def settings(self) -> RemediationSettings:
        return RemediationSettings(
            mode=self.effective_mode,
            cooldown_s=self.cooldown_s,
            max_attempts=self.max_attempts,
            backoff_base_s=self.backoff_base_s,
            backoff_max_s=self.backoff_max_s,
            verify_timeout_s=self.verify_timeout_s,
            verify_interval_s=self.verify_interval_s,
            verify_successes=self.verify_successes,
            diagnose_probes=self.diagnose_probes,
            max_data_age_s=self.max_data_age_s,
            notify_webhook_url=self.notify_webhook_url,
            page_webhook_url=self.page_webhook_url,
            webhook_secret=self.webhook_secret,
        )

    def target_for(self, service: Service) -> ServiceTarget:
        """A non-demo service's target: its health URLs and its admin URL from `endpoints`."""
        register_secret(self.admin_token)
        return ServiceTarget(
            service.health_urls, parse_endpoints(self.endpoints).get(service.name), self.admin_token
        )

    def remediator(self, ledger: Ledger, tracker: IssueTracker | None) -> Remediator:
        probe = HttpProbe(self.connect_timeout_s, self.read_timeout_s, user_agent="Vigil-Remediator/0.1")
        return Remediator(self.settings(), ledger, tracker, probe)

    def __repr_args__(self) -> Any:
        hidden = {"admin_token", "webhook_secret", "notify_webhook_url", "page_webhook_url"}
        for name, value in super().__repr_args__():
            yield name, ("***" if name in hidden and value else value)
