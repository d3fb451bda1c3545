"""The issue lifecycle after a backfill: 45 days of a simulated organisation, then sensor ticks.

Two repositories (acme/data, acme/mobile: the seed puts a test-duration step, a job-duration step
and a CI volume spike there) for 45 days, ingested and derived as `vigil demo` does, issues on
the embedded GitHub-compatible server over real HTTP; then `findings_sensor` ticks until the
issue queue drains (lifecycle_backfill.py, in its own process). What each tick did is read back
from the hash-chained ledger, what is on GitHub from the issue server's own state:

- no issue is opened and closed within one tick, and none is opened twice;
- the open flaky-test issues are exactly the tests marts.flaky_scores flags (flaky or quarantined);
- regression issues stay open while the series stays at its new level (tick after tick), and
  close only when the new level is accepted (`vigil baselines update --accept-regression`);
- findings already over when first seen are `resolved-unopened`, with the reason in the ledger,
  and absent from GitHub.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from observability_assets.demo.github_server import GitHubServer
from resources.github import GitHubClient
from resources.issue_tracker import MARKER, fingerprint_of
from resources.ledger import Ledger
from resources.warehouse import Warehouse
from sensors.findings import repo_of

# A 45-day backfill: about 3 minutes on a quiet 2-core machine, several times that on a busy one.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
REPOS = ("acme/data", "acme/mobile")
DAYS = 45
TOKEN = "ghs_" + "L1fe" * 9
OPENING = ("issue.opened", "issue.opened_storm_summary", "issue.adopted", "issue.reopened")


@dataclass
class IssuesOnlyOrg:
    """Enough of an organisation to serve the issues the backfill's process left in its state file."""

    repos: list[str]
    run_attempts: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)

    def artifact_zip(self, artifact_id: int) -> bytes:
        raise KeyError(artifact_id)


@pytest.fixture(scope="module")
def backfill(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("lifecycle")
    (root / ".dagster_home").mkdir()
    (root / ".dagster_home" / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(HERE)]),
        "DAGSTER_HOME": str(root / ".dagster_home"),
        "VIGIL_DATA_DIR": str(root / "data"),
        "VIGIL_WAREHOUSE": str(root / "data" / "warehouse.duckdb"),
        "VIGIL_MODE": "demo",
        "VIGIL_DEMO_SEED": "7",
        "VIGIL_DEMO_DAYS": str(DAYS),
        "VIGIL_START_DATE": "2026-10-01",
        "VIGIL_GITHUB_REPOS": ",".join(REPOS),
        "VIGIL_ISSUES": "github",
        "VIGIL_INCIDENT_REPO": "acme/infra",
        "VIGIL_SNAPSHOT_INTERVAL_S": "3600",
        # The simulated organisation breaches policy gates on purpose; as in `vigil demo`, the gate
        # checks warn instead of blocking the marts this test needs.
        "VIGIL_POLICY_CHECK_SEVERITY": "WARN",
    }
    # Demo mode serves the simulated organisation itself; nothing may point elsewhere.
    for name in (
        "GITHUB_API_URL",
        "GITHUB_TOKEN",
        "VIGIL_ISSUES_PER_TICK",
        "VIGIL_ISSUE_STORM_THRESHOLD",
        "VIGIL_ISSUE_CLEAN_DAYS",
    ):
        env.pop(name, None)
    out = root / "ticks.json"
    process = subprocess.run(
        [sys.executable, str(HERE / "lifecycle_backfill.py"), str(out)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-5000:]
    warehouse = Warehouse(root / "data" / "warehouse.duckdb")
    state = root / "data" / "demo" / "github_issues.json"
    server = GitHubServer(IssuesOnlyOrg([*REPOS, "acme/infra"]), token=TOKEN, issues_state_path=state)
    with server, GitHubClient(server.url, TOKEN) as client:
        issues = [i for repo in (*REPOS, "acme/infra") for i in client.list_issues(repo, state="all")]
        comments = {
            i["url"]: client.get(f"{i['url'].split(server.url, 1)[1]}/comments").json() for i in issues
        }
    return {
        "ticks": json.loads(out.read_text()),
        "warehouse": warehouse,
        "ledger": Ledger(warehouse),
        "issues": issues,
        "comments": comments,
    }


def entries_by_tick(backfill: dict[str, Any]) -> list[list[Any]]:
    entries = backfill["ledger"].entries()
    return [
        [e for e in entries if tick["first_seq"] <= e.seq <= tick["last_seq"]]
        for tick in backfill["ticks"]["ticks"]
    ]


def marker(issue: dict[str, Any]) -> str:
    return MARKER.search(issue["body"]).group(1)


def test_no_issue_is_opened_and_closed_within_one_tick_and_none_twice(backfill):
    ticks = backfill["ticks"]["ticks"]
    per_tick = entries_by_tick(backfill)
    assert sum(len(t) for t in per_tick) > 0
    for tick, entries in zip(ticks, per_tick, strict=True):
        opened = {e.subject for e in entries if e.action in OPENING}
        closed = {e.subject for e in entries if e.action == "issue.closed"}
        assert not opened & closed, (tick, opened & closed)
    opened_ever = Counter(e.subject for e in backfill["ledger"].entries() if e.action in OPENING)
    assert opened_ever and max(opened_ever.values()) == 1
    # The queue really was used, and drained: more findings than one tick may open.
    assert ticks[0]["queued_after"] > 0 and ticks[-1]["queued_after"] == 0
    drained = [t for t in ticks if t["phase"] == "drained"]
    assert drained and all(t["first_seq"] > t["last_seq"] for t in drained)  # nothing left to do
    markers = [marker(i) for i in backfill["issues"]]
    assert len(markers) == len(set(markers))
    assert backfill["ledger"].verify().ok


def test_open_flaky_issues_are_exactly_the_flagged_tests_quarantined_included(backfill):
    flagged = backfill["warehouse"].query(
        "SELECT repo, test_id, classname, test_name, status FROM marts.flaky_scores "
        "WHERE status IN ('flaky', 'quarantined') ORDER BY test_id"
    )
    assert "quarantined" in set(flagged["status"])
    expected = {
        fingerprint_of(
            "flaky-test", r.repo, r.test_id
        ): f"Flaky test: {'.'.join(p for p in (r.classname, r.test_name) if p)}"
        for r in flagged.itertuples()
    }
    open_flaky = {
        marker(i): i["title"]
        for i in backfill["issues"]
        if i["state"] == "open"
        and "flaky-test" in {label["name"] for label in i["labels"]}
        and not i["title"].startswith("Vigil: ")
    }
    assert open_flaky == expected


def test_regression_issues_stay_open_while_the_level_persists_and_close_when_accepted(backfill):
    warehouse = backfill["warehouse"]
    regressions = warehouse.query(
        "SELECT series_kind || ':' || series_key AS series, repo, change_at, before_value, after_value, bigger_is_better "
        "FROM marts.regression_drift WHERE direction = 'regression' ORDER BY change_at"
    )
    assert len(regressions) >= 2  # the seed's test-duration and job-duration steps
    rows = warehouse.query("SELECT * FROM ops.issues WHERE kind = 'perf-regression'").to_dict("records")
    by_issue = {json.loads(r["evidence"])["key"]: r for r in rows}
    accepted = set(backfill["ticks"]["accepted"])
    assert len(accepted) == 1
    stayed_open = 0
    for r in regressions.itertuples():
        row = by_issue[r.series]
        points = warehouse.query(
            "SELECT value FROM marts.drift_series WHERE series_kind || ':' || series_key = ? AND point_at >= ? "
            "ORDER BY point_at DESC LIMIT 6",
            [r.series, r.change_at],
        )["value"].tolist()
        level = statistics.median(points)
        persists = (r.before_value - level if r.bigger_is_better else level - r.before_value) / abs(
            r.before_value
        ) >= 0.10
        if row["fingerprint"] in accepted:
            assert row["state"] == "closed"
            continue
        if persists:
            assert row["state"] == "open", (r.series, level, r.before_value)
            stayed_open += 1
        else:
            assert row["state"] in ("resolved-unopened", "closed"), (r.series, level, r.before_value)
    assert stayed_open >= 1
    # ... although no new detection came for longer than the clean-days window: absence is no cure.
    (data_end,) = warehouse.query("SELECT max(point_at) AS at FROM marts.drift_series")["at"]
    quiet = [r for r in rows if r["state"] == "open" and (data_end - r["last_seen_at"]).days > 7]
    assert quiet, "the seed's duration steps lie more than 7 days before the end of the data"
    # Open through every tick after it was opened: no close for a persisting level, ever.
    closes = [e for e in backfill["ledger"].entries() if e.action == "issue.closed"]
    for entry in closes:
        if entry.detail_object["kind"] == "perf-regression":
            assert entry.subject in accepted and "accepted" in entry.detail_object["reason"]
    (fp,) = accepted
    issue = next(i for i in backfill["issues"] if marker(i) == fp)
    assert issue["state"] == "closed"
    assert "was accepted" in backfill["comments"][issue["url"]][-1]["body"]
    acceptance = next(e for e in backfill["ledger"].entries() if e.action == "regression.accepted")
    assert acceptance.actor == "vigil baselines update"
    assert acceptance.detail_object["reason"] == "the slower build is the new normal"
    last = backfill["ticks"]["ticks"][-1]
    assert last["phase"] == "accepted"
    assert [e.subject for e in entries_by_tick(backfill)[-1] if e.action == "issue.closed"] == [fp]


def test_findings_already_over_are_resolved_unopened_and_absent_from_github(backfill):
    resolved = (
        backfill["warehouse"]
        .query("SELECT fingerprint, kind, last_seen_at FROM ops.issues WHERE state = 'resolved-unopened'")
        .to_dict("records")
    )
    assert "cost-anomaly" in {r["kind"] for r in resolved}  # the volume spike, weeks before the end
    on_github = {marker(i) for i in backfill["issues"]}
    reasons = {
        e.subject: e.detail_object["reason"]
        for e in backfill["ledger"].entries()
        if e.action == "issue.resolved_unopened"
    }
    for row in resolved:
        assert row["fingerprint"] not in on_github
        assert row["fingerprint"] in reasons
        if row["kind"] == "cost-anomaly":
            assert "clean days of data since" in reasons[row["fingerprint"]]
    # Events still within the clean-days window are open: over means over, not old.
    cost = backfill["warehouse"].query(
        "SELECT scope, max(day) AS last_day, (SELECT max(day) FROM marts.cost_anomalies) AS as_of "
        "FROM marts.cost_anomalies WHERE is_anomaly GROUP BY scope"
    )
    for r in cost.itertuples():
        fp = fingerprint_of("cost-anomaly", repo_of({"scope": r.scope}, "scope") or "", r.scope)
        (state,) = backfill["warehouse"].query("SELECT state FROM ops.issues WHERE fingerprint = ?", [fp])[
            "state"
        ]
        assert state == ("resolved-unopened" if (r.as_of - r.last_day).days > 7 else "open"), r
