"""The incident drill `vigil demo` runs after its sensor tick, end to end in a fresh folder.

The drill drives the real pieces in one process: health_probe runs probing the embedded demo
services over loopback HTTP, slo_burn_sensor ticks through `tick_sensors`, vigil_remediation runs
restarting services through their admin API, and issues filed on a loopback GitHub server. The
test reads the outcome back from where it lands: ops.ledger, the demo services' own action logs,
the GitHub server and the Dagster instance.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sensor_defs

from observability_assets.cli.ops import main as ops_main
from observability_assets.demo.drill import (
    DrillFailed,
    drill_ticks,
    run_incident_drill,
    tick_cooldown_s,
    unfit_catalogue,
)
from observability_assets.demo.embedded_services import embedded_services
from observability_assets.demo.github_server import GitHubServer
from observability_assets.demo.services import Faults
from resources.github import GitHubClient
from resources.http_probe import ServiceCatalogueResource
from resources.remediator import remediation_mode_from_env

GITHUB_TOKEN = "ghs_" + "Dr1ll" * 8
DEMO_SEED = 7
# Set for the whole test: the drill must neither use them nor change the configured default.
UNUSED_WEBHOOK = "http://127.0.0.1:9/hooks/must-not-be-called"


@dataclass
class IssuesOnlyOrg:
    repos: list[str]
    run_attempts: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)

    def artifact_zip(self, artifact_id: int) -> bytes:
        raise KeyError(artifact_id)


@pytest.fixture
def github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    server = GitHubServer(
        IssuesOnlyOrg(["acme/infra"]), token=GITHUB_TOKEN, issues_state_path=tmp_path / "github_issues.json"
    )
    monkeypatch.setenv("GITHUB_API_URL", server.start())
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
    monkeypatch.setenv("VIGIL_ISSUES", "github")  # as the Makefile's demo target sets it
    monkeypatch.setenv("VIGIL_INCIDENT_REPO", "acme/infra")
    monkeypatch.setenv("VIGIL_NOTIFY_WEBHOOK_URL", UNUSED_WEBHOOK)
    monkeypatch.setenv("VIGIL_PAGE_WEBHOOK_URL", UNUSED_WEBHOOK)
    for name in ("VIGIL_REMEDIATION", "VIGIL_SERVICES", "VIGIL_DEMO_SEED", "VIGIL_LEDGER_ANCHOR"):
        monkeypatch.delenv(name, raising=False)
    yield server
    server.stop()


@pytest.mark.slow
def test_the_drill_heals_the_outage_and_files_one_issue_for_the_sticky_service(github, tmp_path):
    defs = sensor_defs.build_defs()
    services = embedded_services(DEMO_SEED)
    checkout, search = services.service("checkout"), services.service("search")
    actions_before = len(checkout.actions), len(search.actions)
    out = io.StringIO()

    # An in-memory instance: the demo's on-disk one commits every run event to SQLite, which
    # doubles this test's time on a busy machine and changes nothing the drill decides.
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path)) as instance:
        report = run_incident_drill(defs, instance, out)
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="vigil_remediation"))
    trail = out.getvalue()

    assert report.ok, trail
    # checkout: a blip, then burn -> restart -> verification -> recovered, then no second episode.
    assert report.actions("checkout") == [
        "slo_burn.skipped",
        "slo_burn.alert",
        "remediation.started",
        "remediation.diagnosis",
        "remediation.action",
        "remediation.verify",
        "remediation.recovered",
        "slo_burn.skipped",
        "slo_burn.skipped",
    ], trail
    details = [r.detail for r in report.rows if r.subject == "checkout"]
    first_skip, alert, _, diagnosis, action, verify, recovered, cooling, healthy = details
    assert first_skip["health"] == "ok" and "healthy" in first_skip["reason"]
    assert alert["alert"] == "page" and alert["health"] == "degraded" and alert["mode"] == "live"
    assert diagnosis["condition"] == "down"
    assert (action["action"], action["status"], verify["recovered"]) == ("restart", 202, True)
    assert recovered["attempts"] == 1
    assert "cooldown" in cooling["reason"] and healthy["health"] == "ok"
    assert [a["action"] for a in checkout.actions[actions_before[0] :]] == ["restart"]

    # search: two escalated episodes of three restarts each, one issue, one comment on it.
    assert [a["action"] for a in search.actions[actions_before[1] :]] == ["restart"] * 6
    assert report.escalations == 2 and report.issues_filed == 1 and report.issue_updates == 1
    with GitHubClient(github.url, GITHUB_TOKEN) as client:
        (issue,) = client.list_issues("acme/infra", state="all")
        comments = client.get(f"/repos/acme/infra/issues/{issue['number']}/comments").json()
    assert report.issue_urls == (issue["html_url"],)
    assert {label["name"] for label in issue["labels"]} == {"vigil", "incident"}
    assert "not recovered after 3 attempts" in issue["body"]
    assert len(comments) == 1 and "Seen again (2 times in all)" in comments[0]["body"]

    # Live for the drill only: its runs act, the configured default stays a dry run, nobody is paged.
    assert remediation_mode_from_env() == "dry-run"
    assert len(runs) == 3 and {run.tags["vigil/remediation"] for run in runs} == {"live"}
    started = report.rows[0]
    assert (started.actor, started.action) == ("incident-drill", "drill.started")
    assert started.detail["mode"] == "live" and started.detail["configured_mode"] == "dry-run"
    assert report.rows[-1].action == "drill.finished" and report.rows[-1].detail["faults_cleared"]
    assert report.counts["escalation.notify_skipped"] == 2 and "escalation.notify" not in report.counts
    assert "LIVE for this drill only, on the local demo services only" in trail
    assert checkout.faults == Faults() and search.faults == Faults()

    # The trail printed every row, and the chain of the whole ledger verifies.
    assert all(f"#{row.seq:<5} {row.actor:<16} {row.action:<26}" in trail for row in report.rows)
    assert sum(report.counts.values()) == len(report.rows)
    assert report.ledger_ok and "drill OK" in trail
    assert ops_main(["ledger", "verify", "--warehouse", str(tmp_path / "data" / "warehouse.duckdb")]) == 0


def test_the_drill_does_not_run_when_the_catalogue_names_a_real_service(github, tmp_path, monkeypatch):
    catalogue = tmp_path / "services.yaml"
    catalogue.write_text(
        Path(ServiceCatalogueResource().path).read_text()
        + "\n  - name: billing\n    base_url: https://billing.example.com\n"
    )
    monkeypatch.setenv("VIGIL_SERVICES", str(catalogue))
    out = io.StringIO()
    with dg.DagsterInstance.get() as instance:
        report = run_incident_drill(sensor_defs.build_defs(), instance, out)
        assert instance.get_runs() == []
    assert report.skipped and "billing" in report.skipped and not report.ok
    assert report.rows == [] and "skipped" in out.getvalue()
    assert embedded_services(DEMO_SEED).service("checkout").faults == Faults()


def test_the_catalogue_must_let_the_drill_restart_both_services(tmp_path):
    base = Path(ServiceCatalogueResource().path).read_text()
    assert unfit_catalogue(ServiceCatalogueResource().load()) is None
    locked = tmp_path / "locked.yaml"
    locked.write_text(base.replace("allow_remediation: true", "allow_remediation: false"))
    assert "not allow-listed" in unfit_catalogue(ServiceCatalogueResource(path=str(locked)).load())


@pytest.mark.parametrize(
    ("now", "latest_probe", "expected"),
    [
        # No live probe yet: six ticks a minute apart, the last one the current minute.
        ("12:05:42", None, ["12:00:00", "12:01:00", "12:02:00", "12:03:00", "12:04:00", "12:05:00"]),
        ("12:05:42", "11:59:59", ["12:00:00", "12:01:00", "12:02:00", "12:03:00", "12:04:00", "12:05:00"]),
        # A drill ran a minute ago: squeeze the ticks after its newest probe, every one of them new.
        ("12:05:42", "12:04:00", ["12:04:17", "12:04:34", "12:04:51", "12:05:08", "12:05:25", "12:05:42"]),
    ],
)
def test_ticks_end_now_and_always_come_after_the_newest_probe(now, latest_probe, expected):
    def at(text: str) -> datetime:
        return datetime.fromisoformat(f"2026-11-23T{text}")

    ticks = drill_ticks(at(now), at(latest_probe) if latest_probe else None)
    assert [f"{t:%H:%M:%S}" for t in ticks] == expected


def test_ticks_refuse_when_probes_are_stored_up_to_now():
    now = datetime(2026, 11, 23, 12, 5, 42)
    with pytest.raises(DrillFailed, match="already stored"):
        drill_ticks(now, datetime(2026, 11, 23, 12, 5, 40))


@pytest.mark.parametrize(
    ("last_episode_s_before", "drill_age_s", "expected"),
    [
        (None, 5, 900.0),  # nothing earlier: the remediator's default
        (2000, 5, 900.0),
        (300, 5, 299.0),  # a demo run five minutes ago: just under the time since its episode
        (300, 400, 400.0),  # never shorter than the drill itself, which may outlive that
        (3, 20, 20.0),  # a drill a moment ago: only this drill's own episodes are held back
    ],
)
def test_the_cooldown_holds_back_this_drills_episodes_and_no_earlier_one(
    last_episode_s_before, drill_age_s, expected
):
    started = datetime(2026, 11, 23, 12, 0, 0)
    last = None if last_episode_s_before is None else started - timedelta(seconds=last_episode_s_before)
    assert tick_cooldown_s(started, last, started + timedelta(seconds=drill_age_s)) == expected
