"""The issue tracker against the local GitHub-compatible server over loopback HTTP and a DuckDB file.

Search on the server lags by an hour in every test: deduplication must hold without it.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from observability_assets.demo.github_server import GitHubServer
from resources.github import GitHubClient, register_secret
from resources.issue_tracker import MARKER, Finding, IssueTracker, TrackerSettings, render_body
from resources.ledger import Ledger
from resources.warehouse import Warehouse

TOKEN = "ghs_" + "T" * 36
REPO = "acme/api"
INCIDENTS = "acme/infra"
NOW = datetime(2026, 11, 23, 12, 0)


@dataclass
class IssuesOnlyOrg:
    """An organisation with repositories and no CI history: all the Issues API needs."""

    repos: list[str]
    run_attempts: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)

    def artifact_zip(self, artifact_id: int) -> bytes:
        raise KeyError(artifact_id)


@pytest.fixture
def server(tmp_path: Path):
    with GitHubServer(
        IssuesOnlyOrg([REPO, INCIDENTS]),
        token=TOKEN,
        issues_state_path=tmp_path / "issues.json",
        search_lag_s=3600,
    ) as running:
        yield running


@pytest.fixture
def client(server: GitHubServer):
    with GitHubClient(server.url, TOKEN, max_retries=0) as github:
        yield github


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(Warehouse(tmp_path / "warehouse.duckdb"))


def flaky(n: int, occurrence: str = "2026-W47", summary: str = "") -> Finding:
    return Finding(
        kind="flaky-test",
        key=f"test-{n:03d}",
        title=f"Flaky test tests/test_checkout.py::test_case_{n:03d}",
        summary=summary or f"test_case_{n:03d} failed and passed on the same commit.",
        observed_at=NOW - timedelta(hours=1),
        occurrence=occurrence,
        repo=REPO,
        figures={"runs": 120, "failures": 9, "flip rate": 0.075, "score": 0.42},
        runs=(("run 4711", "https://github.example/acme/api/actions/runs/4711"),),
        commits=("0123456789abcdef0123456789abcdef01234567",),
        links=(("test history", "https://vigil.example/tests/test-001"),),
    )


def tracker(ledger: Ledger, client: GitHubClient | None, **settings: Any) -> IssueTracker:
    defaults = {"mode": "github", "incident_repo": INCIDENTS, "max_new_per_tick": 5, "storm_threshold": 25}
    return IssueTracker(ledger, TrackerSettings(**(defaults | settings)), client)


def issues(client: GitHubClient, repo: str = REPO) -> list[dict[str, Any]]:
    return client.list_issues(repo, state="all")


def comments(client: GitHubClient, repo: str, number: int) -> list[dict[str, Any]]:
    return client.get(f"/repos/{repo}/issues/{number}/comments").json()


def rows(ledger: Ledger) -> dict[str, dict[str, Any]]:
    with ledger.warehouse.read("test") as con:
        cursor = con.execute("SELECT * FROM ops.issues ORDER BY fingerprint")
        names = [d[0] for d in cursor.description]
        return {r[0]: dict(zip(names, r, strict=True)) for r in cursor.fetchall()}


def actions(ledger: Ledger) -> list[str]:
    return [e.action for e in ledger.entries()]


def test_record_mode_only_records_what_would_be_opened(ledger, server):
    report = tracker(ledger, None, mode="record").report([flaky(1), flaky(2)], now=NOW)
    assert len(report.would_open) == 2 and not report.opened
    stored = rows(ledger)
    assert {r["state"] for r in stored.values()} == {"would_open"}
    assert all(r["number"] is None and r["repo"] == REPO for r in stored.values())
    assert not [r for r in server.request_log if "/issues" in r[1]]
    again = tracker(ledger, None, mode="record").report([flaky(1, occurrence="2026-W48")], now=NOW)
    assert again.commented == [flaky(1).fingerprint]
    assert rows(ledger)[flaky(1).fingerprint]["occurrences"] == 2
    assert actions(ledger).count("issue.would_open") == 2
    assert "issue.recurrence_recorded" in actions(ledger)
    assert ledger.verify().ok


def test_creates_once_with_labels_marker_and_evidence_then_comments_on_recurrence(ledger, client):
    first = tracker(ledger, client).report([flaky(1)], now=NOW)
    assert first.opened == [flaky(1).fingerprint]
    (issue,) = issues(client)
    assert {label["name"] for label in issue["labels"]} == {"vigil", "flaky-test"}
    assert MARKER.search(issue["body"]).group(1) == flaky(1).fingerprint
    for evidence in (
        "run 4711",
        "actions/runs/4711",
        "`0123456789ab`",
        "| flip rate | 0.075 |",
        "test history",
    ):
        assert evidence in issue["body"]
    # Search lags: GitHub search alone would not know this issue exists.
    assert client.search_issues(f"repo:{REPO} {flaky(1).fingerprint}") == []

    same = tracker(ledger, client).report([flaky(1)], now=NOW)
    assert not same.opened and not same.commented
    recurring = tracker(ledger, client).report([flaky(1, occurrence="2026-W48")], now=NOW)
    assert recurring.commented == [flaky(1).fingerprint]
    assert len(issues(client)) == 1
    (comment,) = comments(client, REPO, issue["number"])
    assert "Seen again (2 times in all)" in comment["body"]
    stored = rows(ledger)[flaky(1).fingerprint]
    assert (stored["state"], stored["number"], stored["occurrences"]) == ("open", issue["number"], 2)
    assert stored["url"] == issue["html_url"]


def test_per_tick_limit_queues_the_rest_without_duplicates(ledger, client):
    findings = [flaky(n) for n in range(12)]
    opened_per_tick = [len(tracker(ledger, client).report(findings, now=NOW).opened) for _ in range(4)]
    assert opened_per_tick == [5, 5, 2, 0]
    created = issues(client)
    assert len(created) == 12
    assert len({MARKER.search(i["body"]).group(1) for i in created}) == 12
    assert actions(ledger).count("issue.queued") == 7
    assert {r["state"] for r in rows(ledger).values()} == {"open"}


def test_queued_findings_are_opened_even_when_not_seen_again(ledger, client):
    tracker(ledger, client, max_new_per_tick=2).report([flaky(n) for n in range(4)], now=NOW)
    second = tracker(ledger, client, max_new_per_tick=2).report([], now=NOW)
    assert len(second.opened) == 2
    assert len(issues(client)) == 4


def test_storm_announces_one_summary_and_every_finding_still_gets_its_own_issue(ledger, client):
    findings = [flaky(n) for n in range(30)]
    storm = tracker(ledger, client, storm_threshold=20)
    report = storm.report(findings, now=NOW)
    # The summary and four findings (five per tick); the other 26 wait in the queue.
    assert len(report.opened) == 5 and len(report.grouped) == 30 and len(report.queued) == 26
    summary = next(i for i in issues(client) if i["title"].startswith("Vigil: "))
    assert summary["title"] == "Vigil: 30 new flaky-test findings in acme/api on 2026-11-23"
    assert summary["body"].count("- [ ] ") == 30
    assert "Each one still gets its own issue, at most 5 per sensor tick" in summary["body"]
    summary_fp = MARKER.search(summary["body"]).group(1)
    waiting = [r for r in rows(ledger).values() if r["state"] == "queued"]
    assert len(waiting) == 26 and {r["grouped_into"] for r in waiting} == {summary_fp}
    # Findings seen again while they wait: no comment anywhere, nothing opened twice.
    storm.report([flaky(n, occurrence="2026-W48") for n in range(30)], now=NOW)
    assert comments(client, REPO, summary["number"]) == []
    assert len(issues(client)) == 10
    assert not storm.close_drained_storms(NOW).closed  # 21 still wait

    ticks = 0
    while any(r["state"] == "queued" for r in rows(ledger).values()):
        later = tracker(ledger, client, storm_threshold=20)
        assert len(later.report([], now=NOW).opened) <= 5
        later.close_drained_storms(NOW)
        ticks += 1
    assert ticks == 5
    own = [i for i in issues(client) if i["number"] != summary["number"]]
    assert sorted(MARKER.search(i["body"]).group(1) for i in own) == sorted(f.fingerprint for f in findings)
    assert {i["state"] for i in own} == {"open"}
    closed = client.get_issue(REPO, summary["number"])
    assert closed["state"] == "closed"
    assert (
        "Every finding it announced has its own issue now"
        in comments(client, REPO, summary["number"])[-1]["body"]
    )
    assert not any(r["grouped_into"] for r in rows(ledger).values())
    # A finding seen again now comments on its own issue, not on the summary.
    tracker(ledger, client).report([flaky(3, occurrence="2026-W49")], now=NOW)
    number = rows(ledger)[flaky(3).fingerprint]["number"]
    assert "Seen again" in comments(client, REPO, number)[-1]["body"]
    assert actions(ledger).count("issue.opened") == 30
    assert actions(ledger).count("issue.opened_storm_summary") == 1


def over(*found: Finding, why: str = "over in the test") -> Any:
    """A judge calling the given findings over."""
    wanted = {f.fingerprint for f in found}
    return lambda candidates: {f.fingerprint: why for f in candidates if f.fingerprint in wanted}


def test_finding_over_when_first_seen_is_resolved_and_never_opened(ledger, client):
    old, live = flaky(1), flaky(2)
    report = tracker(ledger, client).report([old, live], now=NOW, judge=over(old, why="cleared weeks ago"))
    assert report.resolved_unopened == [old.fingerprint] and report.opened == [live.fingerprint]
    assert [MARKER.search(i["body"]).group(1) for i in issues(client)] == [live.fingerprint]
    stored = rows(ledger)[old.fingerprint]
    assert (stored["state"], stored["number"]) == ("resolved-unopened", None)
    entry = next(e for e in ledger.entries() if e.action == "issue.resolved_unopened")
    assert entry.subject == old.fingerprint and entry.detail_object["reason"] == "cleared weeks ago"
    # Seen again and still over: nothing new. Seen again and live: it gets its issue.
    tracker(ledger, client).report([flaky(1, occurrence="2026-W48")], now=NOW, judge=over(old))
    assert actions(ledger).count("issue.resolved_unopened") == 1
    back = tracker(ledger, client).report([flaky(1, occurrence="2026-W49")], now=NOW, judge=over())
    assert back.opened == [old.fingerprint] and len(issues(client)) == 2
    assert ledger.verify().ok


def test_queued_finding_over_before_its_turn_is_resolved_not_opened(ledger, client):
    findings = [flaky(n) for n in range(4)]
    tracker(ledger, client, max_new_per_tick=2).report(findings, now=NOW)
    later = tracker(ledger, client, max_new_per_tick=2).report([], now=NOW, judge=over(findings[3]))
    assert later.resolved_unopened == [findings[3].fingerprint] and len(later.opened) == 1
    assert {MARKER.search(i["body"]).group(1) for i in issues(client)} == {
        f.fingerprint for f in findings[:3]
    }
    assert not any(r["state"] == "queued" for r in rows(ledger).values())


def test_resolved_issues_close_with_the_reason_but_never_in_the_tick_that_opened_them(ledger, client):
    one, two = flaky(1), flaky(2)
    first = tracker(ledger, client)
    first.report([one], now=NOW)
    # Over by the time the closer runs, in the same tick: it waits for the next tick.
    assert not first.close_resolved(["flaky-test"], over(one), now=NOW).closed
    second = tracker(ledger, client)
    second.report([two], now=NOW)
    closed = second.close_resolved(
        ["flaky-test"], over(one, two, why="no longer flagged flaky (status stable)"), now=NOW
    )
    assert closed.closed == [one.fingerprint]
    by_fp = {MARKER.search(i["body"]).group(1): i for i in issues(client)}
    assert (by_fp[one.fingerprint]["state"], by_fp[two.fingerprint]["state"]) == ("closed", "open")
    last = comments(client, REPO, by_fp[one.fingerprint]["number"])[-1]["body"]
    assert last.startswith("No longer flagged flaky (status stable). Closing;")
    entry = [e for e in ledger.entries() if e.action == "issue.closed"][-1]
    assert entry.detail_object["reason"] == "no longer flagged flaky (status stable)"
    # Not over: nothing closes, however long it has not been seen.
    assert (
        not tracker(ledger, client)
        .close_resolved(["flaky-test"], over(), now=NOW + timedelta(days=60))
        .closed
    )


def regression(n: int, before: float = 1.0, after: float = 2.0) -> Finding:
    return Finding(
        kind="perf-regression",
        key=f"test_duration:{REPO}|unit|t-{n}",
        title=f"Performance regression: test_duration of t-{n} (+100.0%)",
        summary="It got slower.",
        observed_at=NOW - timedelta(days=30),
        occurrence=f"2026-10-2{n}",
        repo=REPO,
        figures={"before": before, "after": after, "change %": 100.0},
    )


def test_label_accepting_the_new_level_closes_a_regression_and_records_the_level(ledger, client):
    kept, accepted = regression(1), regression(2)
    tracker(ledger, client).report([kept, accepted], now=NOW)
    by_fp = {MARKER.search(i["body"]).group(1): i for i in issues(client)}
    assert "`vigil:accepted`" in by_fp[kept.fingerprint]["body"]
    assert "back within tolerance of its old level" in by_fp[kept.fingerprint]["body"]
    # Weeks without a new detection close nothing: a step change persists.
    assert not tracker(ledger, client).close_resolved(["perf-regression"], over(), now=NOW).closed
    client.update_issue(REPO, by_fp[accepted.fingerprint]["number"], labels=["vigil", "vigil:accepted"])
    closed = tracker(ledger, client).close_resolved(["perf-regression"], over(), now=NOW)
    assert closed.closed == [accepted.fingerprint]
    assert client.get_issue(REPO, by_fp[kept.fingerprint]["number"])["state"] == "open"
    record = next(e for e in ledger.entries() if e.action == "regression.accepted")
    assert record.subject == accepted.key and record.detail_object["level"] == 2.0
    assert record.detail_object["by"] == "label vigil:accepted"


def test_issue_whose_row_was_lost_is_adopted_not_duplicated(ledger, client):
    tracker(ledger, client).report([flaky(1)], now=NOW)
    with ledger.warehouse.write("lose ops.issues") as con:
        con.execute("DELETE FROM ops.issues")
    report = tracker(ledger, client).report([flaky(1)], now=NOW)
    assert report.adopted == [flaky(1).fingerprint] and not report.opened
    assert len(issues(client)) == 1
    assert rows(ledger)[flaky(1).fingerprint]["number"] == issues(client)[0]["number"]


def test_stale_claim_after_a_crash_is_reconciled_through_the_marker(ledger, client):
    # The process died after GitHub created the issue and before ops.issues said so.
    finding = flaky(7)
    created = client.create_issue(
        REPO, finding.title, render_body(finding, finding.fingerprint, 7), ["vigil"]
    )
    with ledger.warehouse.write("crashed claim") as con:
        con.execute(
            "INSERT INTO ops.issues (fingerprint, kind, repo, state, title, occurrences, updated_at, evidence) "
            "VALUES (?, 'flaky-test', ?, 'creating', ?, 1, ?, ?)",
            [finding.fingerprint, REPO, finding.title, NOW - timedelta(hours=1), finding.to_json()],
        )
    fresh = tracker(ledger, client).report([], now=NOW - timedelta(hours=1) + timedelta(seconds=10))
    assert not fresh.opened and not fresh.adopted  # a young claim belongs to whoever made it
    report = tracker(ledger, client).report([], now=NOW)
    assert report.adopted == [finding.fingerprint]
    assert [i["number"] for i in issues(client)] == [created["number"]]


def test_two_processes_reporting_at_once_create_and_comment_once(tmp_path, server):
    barrier = threading.Barrier(2, timeout=30)
    errors: list[BaseException] = []

    class Racing(IssueTracker):
        """Both trackers plan from the same rows before either writes: the worst interleaving."""

        def _read(self, fingerprints):
            rows = super()._read(fingerprints)
            barrier.wait()
            return rows

    def tick(findings: list[Finding]) -> None:
        # Separate Warehouse objects: separate lock handles, as two processes would have.
        own = Ledger(Warehouse(tmp_path / "warehouse.duckdb"))
        with GitHubClient(server.url, TOKEN, max_retries=0) as github:
            try:
                Racing(own, TrackerSettings(mode="github", incident_repo=INCIDENTS), github).report(
                    findings, now=NOW
                )
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

    for occurrence in ("2026-W47", "2026-W48"):
        findings = [flaky(n, occurrence=occurrence) for n in range(5)]
        threads = [threading.Thread(target=tick, args=(findings,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors
    with GitHubClient(server.url, TOKEN) as github:
        created = issues(github)
        assert len(created) == 5
        assert [len(comments(github, REPO, i["number"])) for i in created] == [1] * 5


def test_closed_after_clean_days_reopened_on_recurrence_and_not_planned_stays_closed(ledger, client):
    one, two = flaky(1), flaky(2)
    tracker(ledger, client, close_after_clean_days=7).report([one, two], now=NOW)
    assert not tracker(ledger, client, close_after_clean_days=7).close_clean(["flaky-test"], NOW).closed
    closed = tracker(ledger, client, close_after_clean_days=7).close_clean(
        ["flaky-test"], NOW + timedelta(days=8)
    )
    assert sorted(closed.closed) == sorted([one.fingerprint, two.fingerprint])
    by_fp = {MARKER.search(i["body"]).group(1): i for i in issues(client)}
    assert {i["state"] for i in by_fp.values()} == {"closed"}
    assert "7 clean days" in comments(client, REPO, by_fp[one.fingerprint]["number"])[-1]["body"]

    later = NOW + timedelta(days=9)
    back = tracker(ledger, client).report(
        [dataclass_replace(one, occurrence="2026-W49", observed_at=later)], now=later
    )
    assert back.reopened == [one.fingerprint]
    assert client.get_issue(REPO, by_fp[one.fingerprint]["number"])["state"] == "open"

    # A person closed #2 as not planned: Vigil comments but respects that.
    number = by_fp[two.fingerprint]["number"]
    client.update_issue(REPO, number, state="open")
    client.update_issue(REPO, number, state="closed", state_reason="not_planned")
    with ledger.warehouse.write("person closed it") as con:
        con.execute("UPDATE ops.issues SET state = 'open' WHERE fingerprint = ?", [two.fingerprint])
    tracker(ledger, client).report(
        [dataclass_replace(two, occurrence="2026-W49", observed_at=later)], now=later
    )
    assert client.get_issue(REPO, number)["state"] == "closed"
    assert "closed as not planned by a person" in ledger.entries()[-1].detail
    assert len(issues(client)) == 2


def test_incidents_go_to_the_incident_repository(ledger, client):
    incident = Finding("incident", "checkout", "checkout is down", "It is down.", NOW, "episode-1")
    tracker(ledger, client).report([incident], now=NOW)
    (issue,) = issues(client, INCIDENTS)
    assert {label["name"] for label in issue["labels"]} == {"vigil", "incident"}
    assert issues(client, REPO) == []


def test_planted_secrets_never_reach_issues_or_the_ledger(ledger, client, caplog):
    secret = "webhook-secret-" + "s" * 20
    register_secret(secret)
    github_token = "ghp_" + "A1b2C3d4" * 5
    planted = f"AssertionError: login with {github_token} and key {secret} failed"
    finding = flaky(3, summary=planted)
    tracker(ledger, client).report([finding], now=NOW)
    tracker(ledger, client).report([dataclass_replace(finding, occurrence="2026-W48")], now=NOW)
    (issue,) = issues(client)
    texts = [issue["body"], issue["title"]] + [c["body"] for c in comments(client, REPO, issue["number"])]
    texts += [str(r) for r in rows(ledger).values()] + [e.detail for e in ledger.entries()]
    texts.append(caplog.text)
    for text in texts:
        assert github_token not in text and secret not in text
    assert "***" in issue["body"]


def dataclass_replace(finding: Finding, **changes: Any) -> Finding:
    import dataclasses

    return dataclasses.replace(finding, **changes)


def test_accepting_a_regression_records_its_new_level_by_series_or_by_issue_fingerprint(ledger, client):
    from observability_assets.cli.baselines import accept_regressions

    finding = regression(1)
    series_kind, series_key = finding.key.split(":", 1)
    with ledger.warehouse.write("a detected regression") as con:
        con.execute(
            "INSERT INTO marts.regression_drift (series_kind, series_key, repo, change_at, before_value, "
            "after_value, change_pct, direction) VALUES (?, ?, ?, ?, 1.0, 2.0, 100.0, 'regression')",
            [series_kind, series_key, REPO, NOW - timedelta(days=30)],
        )
    with pytest.raises(
        ValueError, match=re.escape("no regression detected for series 'test_duration:acme/api|unit|t-9'")
    ):
        accept_regressions(ledger.warehouse, ["test_duration:acme/api|unit|t-9"], "new normal", "ana")
    with pytest.raises(ValueError, match="no performance-regression issue with fingerprint"):
        accept_regressions(ledger.warehouse, [finding.fingerprint], "new normal", "ana")
    assert "regression.accepted" not in actions(ledger)

    assert accept_regressions(ledger.warehouse, [finding.key], "new normal", "ana") == [
        f"{finding.key}: accepted the level 2 (was 1)"
    ]
    tracker(ledger, client).report([finding], now=NOW)
    accept_regressions(ledger.warehouse, [finding.fingerprint], "still the new normal", "bo")
    first, second = [e for e in ledger.entries() if e.action == "regression.accepted"]
    assert (first.subject, first.actor, first.detail_object["level"], first.detail_object["by"]) == (
        finding.key,
        "vigil baselines update",
        2.0,
        "ana",
    )
    assert second.subject == finding.key and second.detail_object["fingerprint"] == finding.fingerprint
    assert second.detail_object["reason"] == "still the new normal"
    assert ledger.verify().ok
