"""The remediator against real demo services, a real webhook receiver and the local GitHub server."""

from __future__ import annotations

import hmac
import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from observability_assets.core.service_catalogue import ServiceCatalogue, parse_catalogue
from observability_assets.demo.github_server import GitHubServer
from observability_assets.demo.services import DemoServices
from resources.github import GitHubClient
from resources.http_probe import HttpProbe
from resources.issue_tracker import IssueTracker, TrackerSettings
from resources.ledger import Ledger
from resources.remediator import (
    MODE_DRY_RUN,
    MODE_LIVE,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Incident,
    RemediationSettings,
    Remediator,
    RemediatorResource,
    ServiceTarget,
    sign_payload,
)
from resources.warehouse import Warehouse

CATALOGUE = """
defaults:
  runbook:
    down: [restart]
    high_latency: [scale]
    high_error_rate: [reload-config, rollback]
    high_memory: [clear-cache]
    high_cpu: [restart]
services:
  - name: checkout
    base_url: demo://checkout
    critical: true
    allow_remediation: true
    thresholds: {response_time_ms: 100}
  - name: payments
    base_url: demo://payments
    allow_remediation: false
"""
GITHUB_TOKEN = "ghs_" + "G" * 36
WEBHOOK_SECRET = "whsec-" + "k" * 26
INCIDENTS = "acme/infra"
FAST = {
    "backoff_base_s": 0.02,
    "backoff_max_s": 0.05,
    "verify_timeout_s": 1.5,
    "verify_interval_s": 0.05,
    "verify_successes": 2,
    "diagnose_probes": 2,
    "cooldown_s": 0.0,
}


class Receiver:
    """A webhook endpoint on loopback that keeps what it was sent."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str], bytes]] = []
        received = self.calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append((self.path, dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def services():
    with DemoServices(["checkout", "payments"], restart_delay_s=0.05) as running:
        yield running


@pytest.fixture
def catalogue(services: DemoServices) -> ServiceCatalogue:
    return parse_catalogue(CATALOGUE).with_base_urls(services.urls)


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.stop()


@pytest.fixture
def github(tmp_path: Path):
    org = type("Org", (), {"repos": [INCIDENTS], "run_attempts": [], "jobs": [], "artifacts": []})()
    with (
        GitHubServer(
            org, token=GITHUB_TOKEN, search_lag_s=3600, issues_state_path=tmp_path / "i.json"
        ) as server,
        GitHubClient(server.url, GITHUB_TOKEN, max_retries=0) as client,
    ):
        yield client


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(Warehouse(tmp_path / "warehouse.duckdb"))


def target(services: DemoServices, name: str) -> ServiceTarget:
    return ServiceTarget((services.urls[name] + "/health",), services.admin_urls[name], services.admin_token)


def incident(catalogue: ServiceCatalogue, name: str = "checkout", age_s: float = 30) -> Incident:
    now = datetime.now(UTC).replace(tzinfo=None)
    return Incident(
        service=catalogue.get(name),
        alert="page",
        slo="availability",
        as_of=now - timedelta(seconds=age_s),
        detected_at=now - timedelta(seconds=age_s),
        burn_rates={"1h": 16.7, "5m": 200.0},
        health="down",
    )


def remediator(ledger: Ledger, tracker: IssueTracker | None = None, **settings: Any) -> Remediator:
    config = RemediationSettings(**({"mode": MODE_LIVE} | FAST | settings))
    return Remediator(config, ledger, tracker, HttpProbe(1.0, 2.0))


def actions(ledger: Ledger) -> list[str]:
    return [e.action for e in ledger.entries()]


def test_dry_run_is_the_default():
    assert RemediatorResource().effective_mode == MODE_DRY_RUN
    assert RemediatorResource(mode="LIVE ").effective_mode == MODE_LIVE
    assert RemediatorResource(mode="yes").effective_mode == MODE_DRY_RUN


def test_outage_is_restarted_verified_and_recorded(ledger, services, catalogue):
    services["checkout"].inject(down=True)
    outcome = remediator(ledger).handle(incident(catalogue), target(services, "checkout"))
    assert (outcome.status, outcome.condition, outcome.attempts) == ("recovered", "down", 1)
    assert [a["action"] for a in services["checkout"].actions] == ["restart"]
    assert actions(ledger) == [
        "remediation.started",
        "remediation.diagnosis",
        "remediation.action",
        "remediation.verify",
        "remediation.recovered",
    ]
    recovered = ledger.entries()[-1].detail_object
    assert recovered["action"] == "restart" and recovered["mode"] == "live"
    assert 25 < recovered["time_to_recover_s"] < 60
    assert ledger.verify().ok


def test_dry_run_records_what_it_would_do_and_escalates_without_acting(ledger, services, catalogue):
    services["checkout"].inject(down=True)
    tracker = IssueTracker(ledger, TrackerSettings(mode="record"), None)
    outcome = remediator(ledger, tracker, mode=MODE_DRY_RUN).handle(
        incident(catalogue), target(services, "checkout")
    )
    assert outcome.status == "escalated" and "dry run" in outcome.reason
    assert services["checkout"].actions == []
    dry = next(e for e in ledger.entries() if e.action == "remediation.dry_run").detail_object
    assert dry["would"] == ["restart"] and dry["mode"] == "dry-run"
    assert "issue.would_open" in actions(ledger)


@pytest.mark.parametrize(
    ("faults", "condition", "expected_actions"),
    [
        ({"error_rate": 0.5}, "high_error_rate", ["reload-config"]),
        ({"high_memory": True}, "high_memory", ["clear-cache"]),
        ({"high_cpu": True}, "high_cpu", ["restart"]),
        ({"latency_ms": 150.0}, "high_latency", ["scale"]),
    ],
)
def test_runbook_action_follows_the_diagnosis(
    ledger, services, catalogue, faults, condition, expected_actions
):
    services["checkout"].inject(**faults)
    outcome = remediator(ledger, diagnose_probes=6).handle(incident(catalogue), target(services, "checkout"))
    assert (outcome.status, outcome.condition) == ("recovered", condition)
    assert [a["action"] for a in services["checkout"].actions] == expected_actions


def test_sticky_outage_escalates_to_one_issue_a_signed_notification_and_a_page(
    ledger, services, catalogue, receiver, github, caplog
):
    caplog.set_level(logging.DEBUG)
    services["checkout"].inject(down=True, sticky=True)
    tracker = IssueTracker(ledger, TrackerSettings(mode="github", incident_repo=INCIDENTS), github)
    healer = remediator(
        ledger,
        tracker,
        notify_webhook_url=f"{receiver.url}/notify/{WEBHOOK_SECRET}",
        page_webhook_url=f"{receiver.url}/page",
        webhook_secret=WEBHOOK_SECRET,
        verify_timeout_s=0.4,
    )
    first = healer.handle(incident(catalogue), target(services, "checkout"))
    assert (first.status, first.attempts) == ("escalated", 3)
    assert [a["action"] for a in services["checkout"].actions] == ["restart"] * 3
    delays = [
        e.detail_object["next_attempt_in_s"] for e in ledger.entries() if e.action == "remediation.verify"
    ]
    assert delays[2] is None and 0.01 <= delays[0] <= 0.02 and 0.02 <= delays[1] <= 0.04

    second = healer.handle(incident(catalogue), target(services, "checkout"))
    assert second.status == "escalated" and second.issue_url == first.issue_url
    (issue,) = github.list_issues(INCIDENTS, state="all")
    assert issue["html_url"] == first.issue_url
    assert {label["name"] for label in issue["labels"]} == {"vigil", "incident"}
    assert "down" in issue["title"] and "episode" in issue["body"]
    comments = github.get(f"/repos/{INCIDENTS}/issues/{issue['number']}/comments").json()
    assert len(comments) == 1

    kinds = [path.split("/")[1] for path, _, _ in receiver.calls]
    assert kinds == ["notify", "page", "notify", "page"]
    for _, headers, body in receiver.calls:
        expected = sign_payload(WEBHOOK_SECRET, headers[TIMESTAMP_HEADER], body)
        assert hmac.compare_digest(headers[SIGNATURE_HEADER], expected)
        assert json.loads(body)["issue_url"] == first.issue_url

    ledger_text = "\n".join(e.detail for e in ledger.entries())
    for text in (ledger_text, caplog.text, issue["body"], *(c["body"] for c in comments)):
        assert WEBHOOK_SECRET not in text and services.admin_token not in text and GITHUB_TOKEN not in text
    assert '"host":"127.0.0.1:' in ledger_text
    assert ledger.verify().ok


def test_cooldown_skips_a_second_episode_with_the_reason(ledger, services, catalogue):
    services["checkout"].inject(down=True, sticky=True)
    healer = remediator(ledger, cooldown_s=600, mode=MODE_DRY_RUN)
    assert healer.handle(incident(catalogue), target(services, "checkout")).status == "escalated"
    second = healer.handle(incident(catalogue), target(services, "checkout"))
    assert second.status == "skipped" and second.reason.startswith("cooldown")
    assert actions(ledger).count("remediation.started") == 1
    assert ledger.entries()[-1].detail_object["reason"].startswith("cooldown")


def test_stale_data_is_never_acted_on(ledger, services, catalogue):
    services["checkout"].inject(down=True)
    before = services["checkout"].requests
    outcome = remediator(ledger, max_data_age_s=600).handle(
        incident(catalogue, age_s=3600), target(services, "checkout")
    )
    assert outcome.status == "skipped" and "stale data" in outcome.reason
    assert services["checkout"].requests == before and services["checkout"].actions == []
    assert actions(ledger) == ["remediation.skipped"]


def test_service_not_allow_listed_is_never_touched(ledger, services, catalogue):
    services["payments"].inject(down=True)
    outcome = remediator(ledger).handle(incident(catalogue, "payments"), target(services, "payments"))
    assert outcome.status == "escalated" and "not allow-listed" in outcome.reason
    assert services["payments"].actions == []
    assert "remediation.not_allowed" in actions(ledger)


def test_healthy_service_is_a_false_positive_and_left_alone(ledger, services, catalogue):
    outcome = remediator(ledger).handle(incident(catalogue), target(services, "checkout"))
    assert outcome.status == "healthy"
    assert services["checkout"].actions == []
    assert actions(ledger)[-1] == "remediation.no_action"
