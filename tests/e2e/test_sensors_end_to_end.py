"""End to end: the acting sensors evaluated by Dagster, over real probes, HTTP services and DuckDB.

- an outage of a demo service -> live probes (the health_probe job) -> SLO burn -> restart ->
  verification -> recovered, every step in the ledger;
- an unrecoverable (sticky) service -> exactly one issue, commented on when it happens again;
  planted tokens and the webhook secret reach no log, issue or ledger row;
- 30 new flaky tests -> at most 5 issues per tick and no duplicate after 10 ticks, one of them in
  a new process against a restarted GitHub server (same issue state file, search lagging);
- failed Vigil runs: transient ones re-executed from the failure, others filed with a diagnosis;
- dry run is the default, and says so in the sensor, the run tags and the ledger.

Every tick goes through `vigil sensors tick`'s code (Dagster's sensor evaluation, cursors in the
instance). Probe ticks sit on the last minutes before now, one job run per simulated minute.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sensor_defs

from observability_assets.catalog.health import tick_run_config
from observability_assets.cli.ops import main as ops_main
from observability_assets.demo.embedded_services import embedded_services
from observability_assets.demo.github_server import GitHubServer
from resources.github import GitHubClient
from resources.issue_tracker import MARKER
from resources.ledger import Ledger, LedgerResource
from resources.remediator import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_payload
from resources.warehouse import WarehouseResource
from sensors.tick import tick_sensors

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
GITHUB_TOKEN = "ghs_" + "E2e" * 12
WEBHOOK_SECRET = "whsec_" + "Sekr3t" * 5
PLANTED_TOKEN = "ghp_" + "Pl4nted0" * 5
DEMO_SEED = 7
CATALOGUE = f"""
services:
  - name: checkout
    base_url: demo://checkout
    critical: true
    allow_remediation: true
    runbook: {{down: [restart]}}
    slos:
      - {{name: availability, objective: 0.999, window_days: 30}}
  - name: search
    base_url: demo://search
    critical: true
    owner: "team-search (deploy key {PLANTED_TOKEN})"
    allow_remediation: true
    runbook: {{down: [restart]}}
    slos:
      - {{name: availability, objective: 0.999, window_days: 30}}
"""


@dataclass
class IssuesOnlyOrg:
    repos: list[str]
    run_attempts: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)

    def artifact_zip(self, artifact_id: int) -> bytes:
        raise KeyError(artifact_id)


class Receiver:
    """A webhook endpoint on loopback that keeps what it was sent."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str], bytes]] = []
        calls = self.calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                calls.append(
                    (self.path, dict(self.headers), self.rfile.read(int(self.headers["Content-Length"])))
                )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "services.yaml").write_text(CATALOGUE)
    (tmp_path / "fail").mkdir()
    monkeypatch.setenv("VIGIL_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("E2E_FAIL_DIR", str(tmp_path / "fail"))
    monkeypatch.setenv("VIGIL_SERVICES", str(tmp_path / "config" / "services.yaml"))
    for name in ("VIGIL_REMEDIATION", "VIGIL_ISSUES", "VIGIL_DEMO_SEED", "VIGIL_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    services = embedded_services(DEMO_SEED)
    yield tmp_path
    for name in services.names:
        services.service(name).clear_faults()


@pytest.fixture
def github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    server = GitHubServer(
        IssuesOnlyOrg(["acme/api", "acme/infra"]),
        token=GITHUB_TOKEN,
        issues_state_path=tmp_path / "github_issues.json",
        search_lag_s=3600,
    )
    monkeypatch.setenv("GITHUB_API_URL", server.start())
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
    monkeypatch.setenv("VIGIL_ISSUES", "github")
    monkeypatch.setenv("VIGIL_INCIDENT_REPO", "acme/infra")
    yield server
    server.stop()


@pytest.fixture
def instance(env: Path):
    # One instance per test: opening one runs Dagster's storage migrations check (about a second).
    with dg.DagsterInstance.get() as opened:
        yield opened


def tick(instance: dg.DagsterInstance, defs: dg.Definitions, *names: str) -> dict[str, Any]:
    return {r.sensor: r for r in tick_sensors(defs, instance, list(names) or None)}


def probe(instance: dg.DagsterInstance, defs: dg.Definitions, at: datetime) -> None:
    """One run of the every-minute health_probe job for the tick `at` (live probes over HTTP)."""
    result = defs.resolve_job_def("health_probe").execute_in_process(
        run_config=tick_run_config(at), partition_key=at.date().isoformat(), instance=instance
    )
    assert result.success


def minutes_before_now(n: int) -> list[datetime]:
    now = datetime.now(UTC).replace(tzinfo=None, second=0, microsecond=0)
    return [now - timedelta(minutes=n - k) for k in range(n)]


def ledger() -> Ledger:
    return LedgerResource(warehouse=WarehouseResource(path=os.environ["VIGIL_WAREHOUSE"])).get()


def actions(subject: str | None = None) -> list[str]:
    return [e.action for e in ledger().entries() if subject is None or e.subject == subject]


def in_order(expected: list[str], actual: list[str]) -> bool:
    remaining = iter(actual)
    return all(step in remaining for step in expected)


def test_outage_is_probed_burns_restarts_verifies_and_recovers(env, instance, monkeypatch):
    monkeypatch.setenv("VIGIL_REMEDIATION", "live")
    monkeypatch.setenv("E2E_COOLDOWN_S", "600")
    defs = sensor_defs.build_defs()
    checkout = embedded_services(DEMO_SEED).service("checkout")
    actions_before = len(checkout.actions)
    ticks = minutes_before_now(4)

    probe(instance, defs, ticks[0])
    first = tick(instance, defs)  # every sensor of the Definitions, once
    assert set(first) == {"slo_burn_sensor", "findings_sensor", "run_failure_sensor"}
    assert not any(r.error or r.runs for r in first.values())
    checkout.inject(down=True)
    probe(instance, defs, ticks[1])  # one failed probe: the SLO pages, the endpoint is still "ok" (a blip)
    assert tick(instance, defs, "slo_burn_sensor")["slo_burn_sensor"].runs == []
    probe(instance, defs, ticks[2])  # two failed probes: degraded -> remediation
    launched = tick(instance, defs, "slo_burn_sensor")["slo_burn_sensor"]
    assert len(launched.runs) == 1 and launched.runs[0][1]
    assert [a["action"] for a in checkout.actions[actions_before:]] == ["restart"]
    probe(instance, defs, ticks[3])
    # Still burning, but within the cooldown.
    assert tick(instance, defs, "slo_burn_sensor")["slo_burn_sensor"].runs == []

    latest = ledger().warehouse.query(
        "SELECT ok FROM raw.health_probes WHERE service = 'checkout' ORDER BY probed_at DESC LIMIT 1"
    )
    assert bool(latest.loc[0, "ok"])
    steps = actions("checkout")
    assert in_order(
        [
            "slo_burn.skipped",
            "slo_burn.alert",
            "remediation.started",
            "remediation.diagnosis",
            "remediation.action",
            "remediation.verify",
            "remediation.recovered",
            "slo_burn.skipped",
        ],
        steps,
    ), steps
    entries = {e.action: e.detail_object for e in ledger().entries() if e.subject == "checkout"}
    assert entries["remediation.diagnosis"]["condition"] == "down"
    assert (
        entries["remediation.action"]["action"] == "restart"
        and entries["remediation.action"]["status"] == 202
    )
    assert entries["remediation.verify"]["recovered"] is True
    assert entries["slo_burn.alert"]["alert"] == "page" and entries["slo_burn.alert"]["mode"] == "live"
    assert "cooldown" in entries["slo_burn.skipped"]["reason"]

    (run,) = instance.get_runs(filters=dg.RunsFilter(job_name="vigil_remediation"))
    assert run.tags["vigil/remediation"] == "live" and run.tags["dagster/sensor_name"] == "slo_burn_sensor"

    assert ops_main(["ledger", "verify", "--warehouse", os.environ["VIGIL_WAREHOUSE"]]) == 0
    kpis = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        asset_selection=[dg.AssetKey(["marts", "automation_kpis"])]
    )
    assert kpis.success
    (day,) = ledger().warehouse.query("SELECT * FROM marts.automation_kpis").to_dict("records")
    assert (day["alerts"], day["heal_attempts"], day["healed"], day["self_healing_rate"]) == (1, 1, 1, 1.0)
    assert 0 < day["mttr_minutes"] < 15 and day["meets_targets"]


def test_unrecoverable_service_gets_one_issue_updated_on_recurrence_and_leaks_no_secret(
    env, instance, github, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG)
    receiver = Receiver()
    monkeypatch.setenv("VIGIL_REMEDIATION", "live")
    monkeypatch.setenv("E2E_COOLDOWN_S", "0")
    monkeypatch.setenv("VIGIL_NOTIFY_WEBHOOK_URL", f"{receiver.url}/notify/{WEBHOOK_SECRET}")
    monkeypatch.setenv("VIGIL_PAGE_WEBHOOK_URL", f"{receiver.url}/page")
    monkeypatch.setenv("VIGIL_WEBHOOK_SECRET", WEBHOOK_SECRET)
    defs = sensor_defs.build_defs()
    search = embedded_services(DEMO_SEED).service("search")
    search.inject(down=True, sticky=True)
    actions_before = len(search.actions)
    ticks = minutes_before_now(3)

    runs = []
    for at in ticks:
        probe(instance, defs, at)
        runs += tick(instance, defs, "slo_burn_sensor")["slo_burn_sensor"].runs
    assert len(runs) == 2  # the blip is skipped; two episodes, one per new evaluation
    assert [a["action"] for a in search.actions[actions_before:]] == ["restart"] * 6

    with GitHubClient(github.url, GITHUB_TOKEN) as client:
        (issue,) = client.list_issues("acme/infra", state="all")
        comments = client.get(f"/repos/acme/infra/issues/{issue['number']}/comments").json()
    assert len(comments) == 1 and "Seen again (2 times in all)" in comments[0]["body"]
    assert {label["name"] for label in issue["labels"]} == {"vigil", "incident"}
    assert "not recovered after 3 attempts" in issue["body"]

    assert [path.split("/")[1] for path, _, _ in receiver.calls] == ["notify", "page"] * 2
    for _, headers, body in receiver.calls:
        assert hmac.compare_digest(
            headers[SIGNATURE_HEADER], sign_payload(WEBHOOK_SECRET, headers[TIMESTAMP_HEADER], body)
        )
        assert json.loads(body)["issue_url"] == issue["html_url"]
    receiver.server.shutdown()

    secrets = [PLANTED_TOKEN, WEBHOOK_SECRET, GITHUB_TOKEN, embedded_services(DEMO_SEED).admin_token]
    texts = [issue["body"], issue["title"], *(c["body"] for c in comments), caplog.text]
    texts += [f"{e.subject} {e.action} {e.detail}" for e in ledger().entries()]
    texts.append(ledger().warehouse.query("SELECT * FROM ops.issues").to_json())
    for run in instance.get_runs():
        texts += [str(entry.message) + str(entry.dagster_event) for entry in instance.all_logs(run.run_id)]
        texts.append(json.dumps(run.tags))
    for text in texts:
        for secret in secrets:
            assert secret not in text
    assert "***" in issue["body"]  # the planted token was there, and redacted


def test_thirty_new_flaky_tests_open_at_most_five_issues_per_tick_and_never_twice(
    env, instance, github, monkeypatch
):
    defs = sensor_defs.build_defs()
    seen = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)
    with ledger().warehouse.write("flaky scores for the test") as con:
        con.executemany(
            "INSERT INTO marts.flaky_scores (repo, test_id, classname, test_name, runs, failures, flaky_commits, "
            "flip_rate, score, status, evidence_shas, evidence_run_urls, last_seen_at) "
            "VALUES ('acme/api', ?, 'tests.test_checkout', ?, 40, 6, 3, 0.2, 0.15, 'flaky', ?, ?, ?)",
            [
                [
                    f"t-{n:03d}",
                    f"test_case_{n:03d}" + (f" [{PLANTED_TOKEN}]" if n == 7 else ""),
                    [f"{n:040x}"],
                    [f"https://github.example/acme/api/actions/runs/{9000 + n}"],
                    seen,
                ]
                for n in range(30)
            ],
        )

    def count() -> int:
        with GitHubClient(os.environ["GITHUB_API_URL"], GITHUB_TOKEN) as client:
            return len(client.list_issues("acme/api", state="all"))

    counts = []
    for _ in range(4):
        tick(instance, defs, "findings_sensor")
        counts.append(count())

    # Restart: a new GitHub server on the same issue state file, and a new process for tick 5.
    github.stop()
    restarted = GitHubServer(
        IssuesOnlyOrg(["acme/api", "acme/infra"]),
        token=GITHUB_TOKEN,
        issues_state_path=env / "github_issues.json",
        search_lag_s=3600,
    )
    monkeypatch.setenv("GITHUB_API_URL", restarted.start())
    try:
        pythonpath = os.pathsep.join([str(REPO_ROOT), str(Path(__file__).parent)])
        process = subprocess.run(
            [sys.executable, "-m", "observability_assets.cli.ops", "sensors", "tick"]
            + ["--definitions", "sensor_defs:defs", "--sensor", "findings_sensor"],
            env={**os.environ, "PYTHONPATH": pythonpath},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert process.returncode == 0, process.stderr[-3000:]
        assert GITHUB_TOKEN not in process.stdout + process.stderr
        counts.append(count())
        for _ in range(5):
            tick(instance, defs, "findings_sensor")
            counts.append(count())

        with GitHubClient(restarted.url, GITHUB_TOKEN) as client:
            issues = client.list_issues("acme/api", state="all")
            assert client.search_issues("repo:acme/api label:vigil") == []  # search lags: no help
    finally:
        restarted.stop()
    assert counts == [5, 10, 15, 20, 25, 30, 30, 30, 30, 30]
    markers = [MARKER.search(i["body"]).group(1) for i in issues]
    assert len(markers) == len(set(markers)) == 30
    stored = ledger().warehouse.query("SELECT fingerprint, number, state FROM ops.issues")
    assert set(stored["fingerprint"]) == set(markers) and set(stored["state"]) == {"open"}
    assert sorted(stored["number"]) == sorted(i["number"] for i in issues)
    assert all(PLANTED_TOKEN not in i["title"] + i["body"] for i in issues)
    assert actions().count("issue.opened") == 30 and actions().count("issue.queued") == 25
    assert ops_main(["ledger", "verify", "--warehouse", os.environ["VIGIL_WAREHOUSE"]]) == 0


def test_failed_runs_are_reexecuted_when_transient_and_filed_when_not(env, instance, monkeypatch):
    monkeypatch.setenv("E2E_PLANTED", PLANTED_TOKEN)
    defs = sensor_defs.build_defs()
    fail = env / "fail"

    def run(job: str) -> dg.DagsterRun:
        result = defs.resolve_job_def(job).execute_in_process(instance=instance, raise_on_error=False)
        return instance.get_run_by_id(result.run_id)

    tick(instance, defs, "run_failure_sensor")  # the first tick starts the cursor at the newest event
    key = "vigil/sensor-cursor/run_failure_sensor"
    started = instance.run_storage.get_cursor_values({key})[key]

    # A network failure that clears after two tries: re-executed from the failure, twice.
    (fail / "network").write_text("2")
    original = run("e2e_fragile")
    for _ in range(3):
        tick(instance, defs, "run_failure_sensor")
    # A tick that acted but never saved its cursor (a timeout) sees the same failures again.
    resumed = instance.run_storage.get_cursor_values({key})[key]
    instance.run_storage.set_cursor_values({key: started})
    tick(instance, defs, "run_failure_sensor")
    assert actions().count("run.skipped") == 2 and actions().count("run.reexecute") == 2
    instance.run_storage.set_cursor_values({key: resumed})
    reexecuted = [e.detail_object for e in ledger().entries() if e.action == "run.reexecuted"]
    assert [(r["attempt"], r["success"]) for r in reexecuted] == [(1, False), (2, True)]
    assert {r["category"] for r in reexecuted} == {"network"}
    last = instance.get_run_by_id(reexecuted[-1]["new_run"])
    steps = {e.step_key for e in instance.all_logs(last.run_id) if e.step_key}
    assert last.root_run_id == original.run_id and last.tags["vigil/reexecution-attempt"] == "2"
    assert steps == {"e2e__fetched", "e2e__summarised"}

    # A code error: no re-execution, an issue with the diagnosis.
    (fail / "code").write_text("1")
    run("e2e_buggy")
    tick(instance, defs, "run_failure_sensor")
    # A network failure that never clears: three re-executions, then an issue.
    (fail / "network").write_text("99")
    run("e2e_fragile")
    for _ in range(4):
        tick(instance, defs, "run_failure_sensor")

    escalated = [e.detail_object for e in ledger().entries() if e.action == "run.escalated"]
    assert [(e["job"], e["category"], e["reexecutions_so_far"]) for e in escalated] == [
        ("e2e_buggy", "code", 0),
        ("e2e_fragile", "network", 3),
    ]
    assert actions().count("run.reexecute") == 5
    filed = ledger().warehouse.query("SELECT kind, state, title, evidence FROM ops.issues ORDER BY title")
    assert list(filed["state"]) == ["would_open", "would_open"] and set(filed["kind"]) == {"run-failure"}
    assert "code: TypeError" in filed.loc[0, "title"] and "network: ConnectionError" in filed.loc[1, "title"]
    assert "Still failing after 3 re-executions" in filed.loc[1, "evidence"]
    ledger_text = " ".join(e.detail for e in ledger().entries())
    assert PLANTED_TOKEN not in ledger_text and PLANTED_TOKEN not in filed.to_json()


def test_dry_run_is_the_default_and_shows_in_sensor_run_and_ledger(env, instance):
    defs = sensor_defs.build_defs()
    sensor = next(s for s in defs.sensors if s.name == "slo_burn_sensor")
    assert "DRY-RUN" in sensor.description and sensor.tags["vigil/remediation"] == "dry-run"
    checkout = embedded_services(DEMO_SEED).service("checkout")
    checkout.inject(down=True)
    actions_before = len(checkout.actions)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    # Rows as the health assets write them: a paging burn and a degraded endpoint.
    with ledger().warehouse.write("burning slo") as con:
        con.execute(
            "INSERT INTO marts.slo_compliance (service, slo, kind, objective, window_days, alert, alert_rule, "
            "burn_rate_5m, burn_rate_1h, as_of) VALUES ('checkout', 'availability', 'availability', 0.999, 30, "
            "'page', '1h/5m', 400.0, 33.3, ?)",
            [now],
        )
        con.execute(
            "INSERT INTO ops.probe_states (service, url, health, since, last_probed_at) "
            "VALUES ('checkout', 'demo://checkout/health', 'degraded', ?, ?)",
            [now, now],
        )
    (launched,) = tick(instance, defs, "slo_burn_sensor")["slo_burn_sensor"].runs
    assert launched[1]
    assert len(checkout.actions) == actions_before
    assert instance.get_run_by_id(launched[0]).tags["vigil/remediation"] == "dry-run"
    dry = next(e.detail_object for e in ledger().entries() if e.action == "remediation.dry_run")
    assert dry["would"] == ["restart"] and dry["mode"] == "dry-run" and dry["condition"] == "down"
    assert "issue.would_open" in actions()
