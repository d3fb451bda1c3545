"""GitHubClient against the local GitHub server over real loopback HTTP."""

from __future__ import annotations

import logging
import re
import secrets
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from github_fake_org import FakeOrg, make_org

from observability_assets.demo.github_server import GitHubServer
from resources.github import (
    ArtifactTooLarge,
    GitHubClient,
    GitHubError,
    GitHubNotFound,
    GitHubRateLimited,
    GitHubResource,
    redact,
)

DAY_START = datetime(2026, 10, 1, tzinfo=UTC)
DAY_END = datetime(2026, 10, 2, tzinfo=UTC)
# Shaped like a real classic token, so pattern-based redaction is exercised as well.
TOKEN = "ghp_" + secrets.token_hex(18)


@pytest.fixture(scope="module")
def org() -> FakeOrg:
    return make_org({"acme/api": 1200, "acme/web": 45}, large_artifact_bytes=300_000)


@pytest.fixture
def server(org: FakeOrg) -> Iterator[GitHubServer]:
    with GitHubServer(org, token=TOKEN) as running:
        yield running


def make_client(server: GitHubServer, **options) -> GitHubClient:
    fast = {"backoff_base_s": 0.02, "secondary_min_wait_s": 0.05, "max_wait_s": 5.0}
    return GitHubClient(server.url, TOKEN, **{**fast, **options})


def remaining(server: GitHubServer) -> int:
    """Core rate limit left, read from GET /rate_limit (which is free)."""
    return make_client(server).get("/rate_limit").json()["resources"]["core"]["remaining"]


def created_windows(server: GitHubServer) -> list[str]:
    """The `created` filters of first-page run listings, in request order."""
    windows = []
    for method, target, _ in server.request_log:
        query = parse_qs(urlsplit(target).query)
        if method == "GET" and target.startswith("/repos/acme/api/actions/runs?") and "page" not in query:
            windows.append(query["created"][0])
    return windows


# -- listing runs -----------------------------------------------------------------------------


def test_more_than_1000_runs_on_one_day_are_all_fetched_by_splitting(server: GitHubServer, org: FakeOrg):
    client = make_client(server)
    runs = client.list_runs_created("acme/api", DAY_START, DAY_END)
    expected = {(r["id"], r["run_attempt"]) for r in org.latest_runs("acme/api")}
    assert len(runs) == 1200
    assert {(r["id"], r["run_attempt"]) for r in runs} == expected
    assert [r["created_at"] for r in runs] == sorted(r["created_at"] for r in runs)
    # The whole day reported 1,200 > 1,000, so it was split once into two halves that fit.
    assert created_windows(server) == [
        "2026-10-01T00:00:00Z..2026-10-01T23:59:59Z",
        "2026-10-01T00:00:00Z..2026-10-01T11:59:59Z",
        "2026-10-01T12:00:00Z..2026-10-01T23:59:59Z",
    ]
    # 1 probe + 2 halves of 600 runs at 100 per page.
    assert client.stats.requests == 1 + 6 + 6


def test_run_window_is_half_open_to_the_second(server: GitHubServer):
    client = make_client(server)
    # Runs are created every 72 s from midnight: 00:00:00, 00:01:12, 00:02:24, ...
    runs = client.list_runs_created("acme/api", DAY_START, datetime(2026, 10, 1, 0, 2, 24, tzinfo=UTC))
    assert [r["created_at"] for r in runs] == ["2026-10-01T00:00:00Z", "2026-10-01T00:01:12Z"]
    assert client.list_runs_created("acme/api", DAY_END, DAY_START) == []


def test_pagination_follows_link_headers(server: GitHubServer, org: FakeOrg):
    client = make_client(server)
    items = list(client.paginate("/repos/acme/web/actions/runs", {"per_page": 10}, "workflow_runs"))
    assert len(items) == len({r["id"] for r in items}) == 45
    pages = [t for m, t, _ in server.request_log if "/repos/acme/web/actions/runs" in t]
    assert len(pages) == 5 and pages[-1].endswith("page=5")


def test_jobs_attempts_and_artifacts(server: GitHubServer, org: FakeOrg):
    client = make_client(server)
    rerun = next(r for r in org.latest_runs("acme/web") if r["run_attempt"] == 2)
    assert client.get_run_attempt("acme/web", rerun["id"], 1)["conclusion"] == "failure"
    assert [(j["run_attempt"], j["name"]) for j in client.list_jobs("acme/web", rerun["id"])] == [
        (1, "build"),
        (1, "test"),
        (2, "build"),
        (2, "test"),
    ]
    assert len(client.list_jobs("acme/web", rerun["id"], filter="latest")) == 2
    assert {j["run_attempt"] for j in client.list_attempt_jobs("acme/web", rerun["id"], 1)} == {1}
    assert [a["workflow_run"]["id"] for a in client.list_artifacts("acme/web", rerun["id"])] == [rerun["id"]]
    with pytest.raises(GitHubNotFound):
        client.get_run_attempt("acme/web", rerun["id"], 7)


def test_expand_repos(server: GitHubServer):
    client = make_client(server)
    assert client.expand_repos("acme") == ["acme/api", "acme/web"]
    assert client.expand_repos(" acme/web , acme,, other/thing") == ["acme/web", "acme/api", "other/thing"]
    with pytest.raises(ValueError, match="not an owner"):
        client.expand_repos("acme/api/extra")
    with pytest.raises(GitHubNotFound):
        client.expand_repos("nobody")


# -- retries and rate limits ------------------------------------------------------------------


def test_secondary_limits_429_and_502_still_give_complete_results(server: GitHubServer, org: FakeOrg):
    client = make_client(server)
    server.faults.inject(r"created=2026-10-01T00%3A00%3A00Z..2026-10-01T23", 403, secondary=True)
    server.faults.inject(r"created=2026-10-01T12.*page=3", 429, retry_after=1)
    server.faults.inject(r"created=2026-10-01T00%3A00%3A00Z..2026-10-01T11.*page=2", 502, times=2)
    runs = client.list_runs_created("acme/api", DAY_START, DAY_END)
    assert len({r["id"] for r in runs}) == len(runs) == 1200
    assert server.faults.pending == 0
    assert client.stats.retries == 4
    assert client.stats.seconds_waited >= 1.0
    assert sorted(s for _, _, s in server.request_log if s != 200) == [403, 429, 502, 502]


def test_primary_rate_limit_waits_until_reset(org: FakeOrg):
    with GitHubServer(org, token=TOKEN, rate_limit=3, rate_window_s=0.5) as server:
        client = make_client(server)
        runs = list(client.paginate("/repos/acme/web/actions/runs", {"per_page": 10}, "workflow_runs"))
        assert len(runs) == 45
        assert client.stats.retries >= 1 and client.stats.seconds_waited > 0.5
        assert client.stats.rate_limit_remaining is not None

        impatient = make_client(server, max_wait_s=0.0)
        server.faults.inject(r"/repos/acme/web$", 429, retry_after=30)
        with pytest.raises(GitHubRateLimited, match=r"30s wait, more than max_wait_s=0s"):
            impatient.get("/repos/acme/web")


def test_gives_up_after_max_retries(server: GitHubServer):
    client = make_client(server, max_retries=2)
    server.faults.inject(r"/repos/acme/web$", 502, times=3)
    with pytest.raises(GitHubError, match=r"still failing after 2 retries: server error 502"):
        client.get("/repos/acme/web")
    server.faults.inject(r"/repos/acme/web$", 403, times=3, secondary=True)
    with pytest.raises(GitHubRateLimited, match="secondary rate limit"):
        client.get("/repos/acme/web")


def test_permission_403_and_404_are_not_retried(server: GitHubServer):
    client = make_client(server)
    server.faults.inject(r"/repos/acme/web$", 403)
    with pytest.raises(GitHubError, match="403: Resource not accessible by integration") as raised:
        client.get("/repos/acme/web")
    assert raised.value.status == 403
    with pytest.raises(GitHubNotFound):
        client.get("/repos/acme/missing")
    assert client.stats.retries == 0 and client.stats.requests == 2


def test_connection_errors_are_retried_then_reported():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    client = GitHubClient(f"http://127.0.0.1:{closed_port}", TOKEN, max_retries=2, backoff_base_s=0.01)
    with pytest.raises(GitHubError, match="ConnectionError") as raised:
        client.get("/repos/acme/api")
    assert client.stats.retries == 2
    assert TOKEN not in str(raised.value)


def test_posts_are_not_repeated_after_a_server_error(server: GitHubServer):
    client = make_client(server)
    server.faults.inject(r"/repos/acme/api/issues$", 502)
    with pytest.raises(GitHubError, match="502"):
        client.create_issue("acme/api", "Flaky: test_x")
    posts = [entry for entry in server.request_log if entry[0] == "POST"]
    assert posts == [("POST", "/repos/acme/api/issues", 502)]
    # Rate-limit refusals are safe to repeat: GitHub did not process the request.
    server.faults.inject(r"/repos/acme/api/issues$", 403, secondary=True)
    assert client.create_issue("acme/api", "Flaky: test_x")["number"] == 1
    assert client.list_issues("acme/api") != [] and len(client.list_issues("acme/api")) == 1


# -- conditional requests ---------------------------------------------------------------------


def test_recrawl_is_answered_by_304s_that_cost_no_rate_limit(server: GitHubServer, tmp_path: Path):
    cache = tmp_path / "etags.sqlite"
    first = make_client(server, cache_path=cache)
    runs = first.list_runs_created("acme/api", DAY_START, DAY_END)
    jobs = first.list_jobs("acme/api", runs[0]["id"])
    before = remaining(server)

    # A new client (as in a new process) over the same cache file.
    again = make_client(server, cache_path=cache)
    assert again.list_runs_created("acme/api", DAY_START, DAY_END) == runs
    assert again.list_jobs("acme/api", runs[0]["id"]) == jobs
    assert again.stats.requests == again.stats.not_modified == 14
    assert remaining(server) == before
    assert again.stats.rate_limit_remaining == before


def test_etag_cache_is_shared_by_concurrent_clients(server: GitHubServer, tmp_path: Path):
    cache = tmp_path / "etags.sqlite"
    clients = [make_client(server, cache_path=cache) for _ in range(3)]
    with ThreadPoolExecutor(len(clients)) as pool:
        crawls = list(pool.map(lambda c: c.list_runs_created("acme/api", DAY_START, DAY_END), clients))
    assert all(len(runs) == 1200 for runs in crawls)
    # Whichever client stored a page first, the next crawl revalidates every page.
    after = make_client(server, cache_path=cache)
    after.list_runs_created("acme/api", DAY_START, DAY_END)
    assert after.stats.not_modified == after.stats.requests == 13


# -- artifacts --------------------------------------------------------------------------------


def test_artifact_download_streams_without_leaking_the_token(
    server: GitHubServer, org: FakeOrg, tmp_path: Path
):
    client = make_client(server)
    small, large = org.artifacts[0], org.artifacts[-1]
    path = client.download_artifact("acme/api", small["id"], tmp_path / "small.zip", max_bytes=100_000)
    assert path.read_bytes() == org.artifact_zip(small["id"])

    with pytest.raises(ArtifactTooLarge, match="300000 bytes is over the 100000-byte limit"):
        client.download_artifact("acme/api", large["id"], tmp_path / "large.zip", max_bytes=100_000)
    assert sorted(p.name for p in tmp_path.glob("*.zip*")) == ["small.zip"]
    big = client.download_artifact("acme/api", large["id"], tmp_path / "large.zip", max_bytes=300_000)
    assert big.stat().st_size == 300_000
    assert server.blob_requests_with_authorization == 0

    with pytest.raises(GitHubNotFound):
        client.download_artifact("acme/web", small["id"], tmp_path / "wrong.zip", max_bytes=100_000)


# -- authentication and secrecy ---------------------------------------------------------------


def test_missing_or_wrong_token_is_401(server: GitHubServer):
    for token in (None, "ghp_" + "x" * 36):
        with pytest.raises(GitHubError, match="401") as raised:
            GitHubClient(server.url, token).get("/repos/acme/api/actions/runs")
        assert raised.value.status == 401
        assert "x" * 36 not in str(raised.value)


def test_token_never_appears_in_logs_errors_or_reprs(server: GitHubServer, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    client = make_client(server)
    messages: list[str] = []
    server.faults.inject(r"/repos/acme/web$", 502)
    server.faults.inject(r"/repos/acme/web$", 403, secondary=True)
    client.get("/repos/acme/web")  # two retries, logged as warnings
    for path in (f"/repos/acme/{TOKEN}", f"/repos/acme/api/issues/1?token={TOKEN}"):
        with pytest.raises(GitHubError) as raised:
            client.get(path)
        messages.append(str(raised.value))
    with pytest.raises(GitHubError) as raised:
        client.get(f"http://elsewhere.example/{TOKEN}")
    messages.append(str(raised.value))
    logging.getLogger("resources.github").warning("echo %s", TOKEN)

    resource = GitHubResource(api_url=server.url, token=TOKEN)
    texts = [caplog.text, *messages, repr(client), repr(resource), str(resource), repr(client.stats)]
    assert "retry 1/5" in caplog.text and "echo ***" in caplog.text
    assert [text for text in texts if TOKEN in text] == []
    assert messages[0] == f"GitHub GET {server.url}/repos/acme/*** -> 404: Not Found"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz", "Authorization: Bearer ***"),
        ("token github_pat_11ABCDEFGHIJKLMNOPQRSTUV_xyz", "token ***"),
        ("https://blob/x.zip?expires=1&sig=deadbeef&a=b", "https://blob/x.zip?expires=1&sig=***&a=b"),
        ("a token of appreciation", "a token of appreciation"),
    ],
)
def test_redact_patterns(text: str, expected: str):
    assert redact(text) == expected


# -- issues -----------------------------------------------------------------------------------


def test_issue_workflow_with_search_lag(org: FakeOrg, tmp_path: Path):
    with GitHubServer(
        org, token=TOKEN, search_lag_s=0.3, issues_state_path=tmp_path / "issues.json"
    ) as server:
        client = make_client(server, cache_path=tmp_path / "etags.sqlite")
        body = "Test `test_login` failed on 3 of 10 commits.\n\nvigil-fingerprint: 4f2a"
        issue = client.create_issue("acme/api", "Flaky test: test_login", body, ["flaky", "vigil"])
        query = 'repo:acme/api is:issue is:open "vigil-fingerprint: 4f2a" in:body'
        assert client.search_issues(query) == []
        time.sleep(0.35)
        assert [i["number"] for i in client.search_issues(query)] == [issue["number"]]

        client.create_comment("acme/api", issue["number"], "Still flaky in run 123")
        assert client.get_issue("acme/api", issue["number"])["comments"] == 1
        closed = client.update_issue("acme/api", issue["number"], state="closed", state_reason="completed")
        assert closed["state"] == "closed"
        # The cached copy of the issue is revalidated, not served stale.
        assert client.get_issue("acme/api", issue["number"])["state"] == "closed"
        assert client.list_issues("acme/api") == []
        assert [i["number"] for i in client.list_issues("acme/api", state="all", labels=["flaky"])] == [1]
        assert client.search_issues(query) == []

    with GitHubServer(org, token=TOKEN, issues_state_path=tmp_path / "issues.json") as restarted:
        client = make_client(restarted)
        assert client.get_issue("acme/api", 1)["title"] == "Flaky test: test_login"
        assert client.create_issue("acme/api", "Next")["number"] == 2


# -- the Dagster resource ---------------------------------------------------------------------


def test_resource_builds_clients_with_caches_keyed_by_api_host(server: GitHubServer, tmp_path: Path):
    real = GitHubResource(
        api_url=server.url, token=TOKEN, repos="acme", cache_dir=str(tmp_path), max_wait_s=3.0
    )
    assert not real.simulated
    assert real.repositories() == ["acme/api", "acme/web"]
    configured = real.client()
    assert configured.max_wait_s == 3.0
    configured.get("/repos/acme/web")
    host = urlsplit(server.url)
    # GHE and github.com never share cached answers or artifacts: one folder per API host.
    assert real.cache_namespace == f"{host.hostname}_{host.port}"
    assert (tmp_path / real.cache_namespace / "etags.sqlite").exists()
    assert configured.artifact_dir == tmp_path / real.cache_namespace / "artifacts"
    assert GitHubResource(api_url="https://api.github.com").cache_namespace == "api.github.com"
    assert GitHubResource(api_url="https://ghe.example.com/api/v3").cache_namespace == "ghe.example.com"
    assert re.search(r"token='\*\*\*'", repr(real))
    with pytest.raises(ValueError, match="VIGIL_GITHUB_REPOS"):
        GitHubResource(api_url=server.url, token=TOKEN).repositories()


def test_client_crawls_the_simulated_organisation_day_by_day(tmp_path: Path):
    simulator = pytest.importorskip("observability_assets.demo.simulator")
    simulated = simulator.simulate(simulator.OrgSpec(days=3, repos=("api", "web")))
    latest: dict[int, dict] = {}
    for run in simulated.run_attempts:
        if run["id"] not in latest or run["run_attempt"] > latest[run["id"]]["run_attempt"]:
            latest[run["id"]] = run
    days = sorted({run["created_at"][:10] for run in latest.values()})
    with GitHubServer(simulated, token=TOKEN) as server:
        client = make_client(server, cache_path=tmp_path / "etags.sqlite")
        assert client.expand_repos(simulated.repos[0].split("/")[0]) == sorted(simulated.repos)
        for repo in simulated.repos:
            for day in days:
                start = datetime.fromisoformat(day).replace(tzinfo=UTC)
                runs = client.list_runs_created(repo, start, start + (DAY_END - DAY_START))
                expected = [
                    r
                    for r in latest.values()
                    if r["repository"]["full_name"] == repo and r["created_at"][:10] == day
                ]
                assert sorted(r["id"] for r in runs) == sorted(r["id"] for r in expected)
