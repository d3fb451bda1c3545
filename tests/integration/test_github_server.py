"""The local GitHub server speaks the REST API the way github.com does (raw HTTP, no client)."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from github_fake_org import FakeOrg, load_example, make_org

from observability_assets.demo.github_server import GitHubServer, TimeWindow, parse_created_filter

TOKEN = "server-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture(scope="module")
def org() -> FakeOrg:
    return make_org({"acme/api": 1200, "acme/web": 45})


@pytest.fixture
def server(org: FakeOrg) -> Iterator[GitHubServer]:
    with GitHubServer(org, token=TOKEN) as running:
        yield running


def get(server: GitHubServer, path: str, **params: Any) -> requests.Response:
    return requests.get(server.url + path, headers=AUTH, params=params, timeout=10)


def run_ids(response: requests.Response) -> list[int]:
    return [run["id"] for run in response.json()["workflow_runs"]]


# -- the created filter (GitHub search date syntax) --------------------------------------------


@pytest.mark.parametrize(
    ("expression", "start", "end"),
    [
        ("2026-10-01", _utc(2026, 10, 1), _utc(2026, 10, 2)),
        ("2026-10-01..2026-10-03", _utc(2026, 10, 1), _utc(2026, 10, 4)),
        ("2026-10-01T06:00:00Z..2026-10-01T07:00:00Z", _utc(2026, 10, 1, 6), _utc(2026, 10, 1, 7, 0, 0, 1)),
        ("2026-10-01T08:00:00+02:00..*", _utc(2026, 10, 1, 6), None),
        ("*..2026-10-01", None, _utc(2026, 10, 2)),
        (">=2026-10-01", _utc(2026, 10, 1), None),
        (">2026-10-01", _utc(2026, 10, 2), None),
        ("<2026-10-01", None, _utc(2026, 10, 1)),
        ("<=2026-10-01", None, _utc(2026, 10, 2)),
        (">2026-10-01T06:00:00Z", _utc(2026, 10, 1, 6, 0, 0, 1), None),
        ("<2026-10-01T06:00:00Z", None, _utc(2026, 10, 1, 6)),
        # An unencoded '+' arrives as a space.
        (
            "2026-10-01T08:00:00 02:00..2026-10-01T09:00:00 02:00",
            _utc(2026, 10, 1, 6),
            _utc(2026, 10, 1, 7, 0, 0, 1),
        ),
    ],
)
def test_created_filter_follows_github_date_syntax(
    expression: str, start: datetime | None, end: datetime | None
):
    assert parse_created_filter(expression) == TimeWindow(start, end)


@pytest.mark.parametrize("expression", ["yesterday", "2026-13-01", ">=", "2026-10-01...2026-10-02x"])
def test_created_filter_rejects_nonsense(expression: str):
    with pytest.raises(ValueError):
        parse_created_filter(expression)


# -- authentication, rate-limit headers, ETags ------------------------------------------------


def test_requests_without_or_with_a_wrong_token_get_401(server: GitHubServer):
    missing = requests.get(server.url + "/repos/acme/api/actions/runs", timeout=10)
    wrong = requests.get(
        server.url + "/repos/acme/api/actions/runs", headers={"Authorization": "Bearer nope"}, timeout=10
    )
    legacy_scheme = requests.get(
        server.url + "/repos/acme/api/actions/runs", headers={"Authorization": f"token {TOKEN}"}, timeout=10
    )
    assert (missing.status_code, missing.json()["message"]) == (401, "Requires authentication")
    assert (wrong.status_code, wrong.json()["message"]) == (401, "Bad credentials")
    assert legacy_scheme.status_code == 200
    assert "x-ratelimit-remaining" in missing.headers


def test_every_request_spends_rate_limit_except_rate_limit_and_304(server: GitHubServer):
    first = get(server, "/repos/acme/web/actions/runs")
    headers = first.headers
    assert {k: headers[k] for k in ("x-ratelimit-limit", "x-ratelimit-used", "x-ratelimit-resource")} == {
        "x-ratelimit-limit": "5000",
        "x-ratelimit-used": "1",
        "x-ratelimit-resource": "core",
    }
    assert int(headers["x-ratelimit-reset"]) > time.time()
    assert get(server, "/repos/acme/web/actions/runs", page=2).headers["x-ratelimit-remaining"] == "4998"

    conditional = requests.get(
        server.url + "/repos/acme/web/actions/runs",
        headers={**AUTH, "If-None-Match": first.headers["ETag"]},
        timeout=10,
    )
    assert conditional.status_code == 304
    assert conditional.content == b""
    assert conditional.headers["x-ratelimit-remaining"] == "4998"

    rate = get(server, "/rate_limit")
    assert rate.json()["resources"]["core"]["remaining"] == 4998
    assert rate.headers["x-ratelimit-remaining"] == "4998"
    assert set(rate.json()) == set(load_example("rate_limit_get.json"))


def test_etag_changes_with_the_body(server: GitHubServer):
    page1, page2 = (
        get(server, "/repos/acme/api/actions/runs"),
        get(server, "/repos/acme/api/actions/runs", page=2),
    )
    assert page1.headers["ETag"] != page2.headers["ETag"]
    assert get(server, "/repos/acme/api/actions/runs").headers["ETag"] == page1.headers["ETag"]


def test_primary_limit_runs_out_and_refills(org: FakeOrg):
    with GitHubServer(org, token=TOKEN, rate_limit=2, rate_window_s=1.0) as server:
        statuses = [get(server, "/repos/acme/web").status_code for _ in range(3)]
        spent = get(server, "/repos/acme/web")
        assert statuses == [200, 200, 403]
        assert spent.headers["x-ratelimit-remaining"] == "0"
        assert "API rate limit exceeded" in spent.json()["message"]
        time.sleep(max(0.0, int(spent.headers["x-ratelimit-reset"]) - time.time()) + 0.05)
        assert get(server, "/repos/acme/web").status_code == 200


# -- workflow runs ----------------------------------------------------------------------------


def test_runs_list_newest_first_latest_attempt_only(server: GitHubServer, org: FakeOrg):
    response = get(server, "/repos/acme/web/actions/runs", per_page=100)
    runs = response.json()["workflow_runs"]
    latest = org.latest_runs("acme/web")
    assert response.json()["total_count"] == len(latest) == 45
    assert [r["id"] for r in runs] == [
        r["id"] for r in sorted(latest, key=lambda r: r["created_at"], reverse=True)
    ]
    assert {(r["id"], r["run_attempt"]) for r in runs} == {(r["id"], r["run_attempt"]) for r in latest}
    assert any(r["run_attempt"] == 2 for r in runs)
    # A single page carries no Link header.
    assert "Link" not in response.headers
    assert set(runs[0]) >= set(load_example("actions_list_repo_workflow_runs.json")["workflow_runs"][0])


def test_runs_pagination_link_header_like_github(server: GitHubServer):
    first = get(server, "/repos/acme/web/actions/runs", per_page=20)
    assert len(first.json()["workflow_runs"]) == 20
    assert set(first.links) == {"next", "last"}
    assert first.links["next"]["url"] == f"{server.url}/repos/acme/web/actions/runs?per_page=20&page=2"
    assert first.links["last"]["url"].endswith("per_page=20&page=3")

    middle = requests.get(first.links["next"]["url"], headers=AUTH, timeout=10)
    assert set(middle.links) == {"prev", "next", "last", "first"}
    last = requests.get(middle.links["next"]["url"], headers=AUTH, timeout=10)
    assert set(last.links) == {"prev", "first"}
    assert len(last.json()["workflow_runs"]) == 5

    ids = run_ids(first) + run_ids(middle) + run_ids(last)
    assert len(set(ids)) == 45
    # Default page size 30, maximum 100.
    assert len(get(server, "/repos/acme/web/actions/runs").json()["workflow_runs"]) == 30
    assert len(get(server, "/repos/acme/api/actions/runs", per_page=500).json()["workflow_runs"]) == 100


def test_links_and_redirects_keep_the_host_the_client_used(server: GitHubServer, org: FakeOrg):
    localhost = server.url.replace("127.0.0.1", "localhost")
    listing = requests.get(localhost + "/repos/acme/web/actions/runs", headers=AUTH, timeout=10)
    assert listing.links["next"]["url"].startswith(localhost + "/")
    artifact_id = org.artifacts[0]["id"]
    redirect = requests.get(
        f"{localhost}/repos/acme/api/actions/artifacts/{artifact_id}/zip",
        headers=AUTH,
        allow_redirects=False,
        timeout=10,
    )
    assert redirect.headers["Location"].startswith(server.blob_url.replace("127.0.0.1", "localhost"))


def test_filtered_run_listings_stop_at_1000_results(server: GitHubServer):
    tenth = get(server, "/repos/acme/api/actions/runs", created="2026-10-01", per_page=100, page=10)
    eleventh = get(server, "/repos/acme/api/actions/runs", created="2026-10-01", per_page=100, page=11)
    assert tenth.json()["total_count"] == eleventh.json()["total_count"] == 1200
    assert len(tenth.json()["workflow_runs"]) == 100
    assert eleventh.json()["workflow_runs"] == []
    assert tenth.links["prev"]["url"].endswith("page=9")
    assert "next" not in tenth.links
    # Without a filter every run is reachable.
    unfiltered = get(server, "/repos/acme/api/actions/runs", per_page=100, page=12)
    assert len(unfiltered.json()["workflow_runs"]) == 100


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"created": "2026-10-01"}, 1200),
        ({"created": "2026-10-02"}, 0),
        ({"created": "2026-10-01T00:00:00Z..2026-10-01T05:59:59Z"}, 300),
        ({"created": "<2026-10-01T06:00:00Z"}, 300),
        ({"created": ">=2026-10-01T18:00:00Z"}, 300),
        ({"branch": "main"}, 600),
        ({"event": "pull_request"}, 400),
        ({"status": "completed"}, 1200),
        ({"status": "success"}, 1200),
        ({"status": "failure"}, 0),
        ({"created": "2026-10-01", "branch": "feature", "event": "push"}, 400),
    ],
)
def test_run_filters(server: GitHubServer, params: dict[str, str], expected: int):
    assert get(server, "/repos/acme/api/actions/runs", per_page=1, **params).json()["total_count"] == expected


def test_invalid_created_filter_is_422(server: GitHubServer):
    assert get(server, "/repos/acme/api/actions/runs", created="last week").status_code == 422


def test_run_attempts_and_jobs(server: GitHubServer, org: FakeOrg):
    rerun = next(
        r for r in org.run_attempts if r["run_attempt"] == 2 and r["repository"]["full_name"] == "acme/web"
    )
    base = f"/repos/acme/web/actions/runs/{rerun['id']}"
    assert get(server, base).json()["run_attempt"] == 2
    first_attempt = get(server, base + "/attempts/1").json()
    assert (first_attempt["run_attempt"], first_attempt["conclusion"]) == (1, "failure")
    assert get(server, base + "/attempts/3").status_code == 404
    # The run belongs to acme/web, not acme/api.
    assert get(server, f"/repos/acme/api/actions/runs/{rerun['id']}").status_code == 404

    latest = get(server, base + "/jobs").json()
    every = get(server, base + "/jobs", filter="all").json()
    attempt1 = get(server, base + "/attempts/1/jobs").json()
    assert (latest["total_count"], every["total_count"], attempt1["total_count"]) == (2, 4, 2)
    assert {j["run_attempt"] for j in latest["jobs"]} == {2}
    assert {j["run_attempt"] for j in attempt1["jobs"]} == {1}
    assert set(every) == set(load_example("actions_list_jobs_for_workflow_run.json"))
    assert get(server, base + "/jobs", filter="some").status_code == 422
    paged = get(server, base + "/jobs", filter="all", per_page=3)
    assert (
        len(paged.json()["jobs"]),
        paged.links["next"]["url"].endswith("filter=all&per_page=3&page=2"),
    ) == (
        3,
        True,
    )


def test_org_repos_and_unknown_things_are_404(server: GitHubServer):
    repos = get(server, "/orgs/acme/repos")
    assert [r["full_name"] for r in repos.json()] == ["acme/api", "acme/web"]
    assert get(server, "/orgs/other/repos").status_code == 404
    assert get(server, "/repos/acme/nope/actions/runs").status_code == 404
    assert get(server, "/nothing/here").json()["message"] == "Not Found"


# -- artifacts --------------------------------------------------------------------------------


def test_artifact_download_redirects_to_a_signed_blob_on_another_origin(org: FakeOrg):
    artifact = next(
        a for a in org.artifacts if a["workflow_run"]["id"] == org.latest_runs("acme/web")[0]["id"]
    )
    with GitHubServer(org, token=TOKEN) as server:
        listed = get(
            server, f"/repos/acme/web/actions/runs/{artifact['workflow_run']['id']}/artifacts"
        ).json()
        assert [a["id"] for a in listed["artifacts"]] == [artifact["id"]]
        assert set(listed["artifacts"][0]) == set(
            load_example("actions_list_workflow_run_artifacts.json")["artifacts"][0]
        )

        redirect = requests.get(
            f"{server.url}/repos/acme/web/actions/artifacts/{artifact['id']}/zip",
            headers=AUTH,
            allow_redirects=False,
            timeout=10,
        )
        assert redirect.status_code == 302
        location = redirect.headers["Location"]
        assert location.startswith(server.blob_url) and server.blob_url != server.url
        assert "sig=" in location and "expires=" in location

        blob = requests.get(location, timeout=10)  # no Authorization needed
        assert blob.status_code == 200
        assert zipfile.ZipFile(io.BytesIO(blob.content)).namelist() == ["junit.xml"]
        assert blob.content == org.artifact_zip(artifact["id"])

        tampered = requests.get(location.replace("sig=", "sig=0"), timeout=10)
        assert tampered.status_code == 403
        assert requests.get(redirect.url.replace("/zip", "/tar"), headers=AUTH, timeout=10).status_code == 404
        assert server.blob_requests_with_authorization == 0

    with GitHubServer(org, token=TOKEN, blob_ttl_s=0) as expiring:
        location = requests.get(
            f"{expiring.url}/repos/acme/web/actions/artifacts/{artifact['id']}/zip",
            headers=AUTH,
            allow_redirects=False,
            timeout=10,
        ).headers["Location"]
        assert requests.get(location, timeout=10).status_code == 410


# -- faults -----------------------------------------------------------------------------------


def test_injected_faults_are_served_then_cleared(server: GitHubServer):
    server.faults.inject(r"/actions/runs\?", 403, times=2, secondary=True)
    server.faults.inject(r"/orgs/", 429, retry_after=7)
    server.faults.inject(r"/repos/acme/web$", 502)
    assert server.faults.pending == 4

    secondary = [get(server, "/repos/acme/api/actions/runs", per_page=1) for _ in range(3)]
    assert [r.status_code for r in secondary] == [403, 403, 200]
    assert "You have exceeded a secondary rate limit" in secondary[0].json()["message"]
    assert "retry-after" not in secondary[0].headers

    too_many = get(server, "/orgs/acme/repos")
    assert (too_many.status_code, too_many.headers["retry-after"]) == (429, "7")
    gateway = get(server, "/repos/acme/web")
    assert gateway.status_code == 502 and gateway.headers["Content-Type"].startswith("text/html")
    assert "x-ratelimit-remaining" in gateway.headers
    assert get(server, "/repos/acme/web").status_code == 200
    assert server.faults.pending == 0
    assert [status for _, _, status in server.request_log[-3:]] == [429, 502, 200]


# -- issues -----------------------------------------------------------------------------------


def post(server: GitHubServer, path: str, body: dict[str, Any], method: str = "POST") -> requests.Response:
    return requests.request(method, server.url + path, headers=AUTH, json=body, timeout=10)


def test_issue_lifecycle_has_github_shapes(server: GitHubServer):
    created = post(
        server,
        "/repos/acme/api/issues",
        {"title": "Flaky: test_login", "body": "fp:abc", "labels": ["flaky"]},
    )
    assert created.status_code == 201
    issue = created.json()
    expected_keys = set(load_example("issues_create.json")) - {"pull_request", "pinned_comment"}
    assert set(issue) >= expected_keys
    assert (issue["number"], issue["state"], [label["name"] for label in issue["labels"]]) == (
        1,
        "open",
        ["flaky"],
    )
    assert issue["url"] == f"{server.url}/repos/acme/api/issues/1"
    second = post(server, "/repos/acme/api/issues", {"title": "Broken: test_logout"}).json()
    assert second["number"] == 2

    comment = post(server, "/repos/acme/api/issues/1/comments", {"body": "Seen again in run 42"})
    assert comment.status_code == 201
    assert set(comment.json()) >= set(load_example("issues_create_comment.json")) - {"pin", "minimized"}
    assert [c["body"] for c in get(server, "/repos/acme/api/issues/1/comments").json()] == [
        "Seen again in run 42"
    ]
    assert get(server, "/repos/acme/api/issues/1").json()["comments"] == 1

    closed = post(
        server, "/repos/acme/api/issues/1", {"state": "closed", "state_reason": "completed"}, "PATCH"
    ).json()
    assert (closed["state"], closed["state_reason"], closed["closed_at"] is not None) == (
        "closed",
        "completed",
        True,
    )
    assert [i["number"] for i in get(server, "/repos/acme/api/issues").json()] == [2]
    assert [i["number"] for i in get(server, "/repos/acme/api/issues", state="all").json()] == [2, 1]
    assert [
        i["number"] for i in get(server, "/repos/acme/api/issues", state="all", labels="flaky").json()
    ] == [1]
    reopened = post(server, "/repos/acme/api/issues/1", {"state": "open"}, "PATCH").json()
    assert (reopened["state"], reopened["state_reason"], reopened["closed_at"]) == ("open", "reopened", None)

    relabelled = post(
        server, "/repos/acme/api/issues/2", {"labels": ["broken", "ci"], "title": "Broken!"}, "PATCH"
    )
    assert [label["name"] for label in relabelled.json()["labels"]] == ["broken", "ci"]
    assert relabelled.json()["title"] == "Broken!"

    assert post(server, "/repos/acme/api/issues", {"body": "no title"}).status_code == 422
    assert post(server, "/repos/acme/api/issues/9", {"state": "closed"}, "PATCH").status_code == 404
    assert post(server, "/repos/acme/api/issues/1", {"state": "gone"}, "PATCH").status_code == 422
    page = requests.get(f"{server.url}/acme/api/issues/1", timeout=10)  # html_url, no token
    assert page.status_code == 200 and "Flaky: test_login" in page.text


def test_issue_list_paginates(server: GitHubServer):
    for n in range(5):
        post(server, "/repos/acme/web/issues", {"title": f"issue {n}"})
    first = get(server, "/repos/acme/web/issues", per_page=2)
    assert [i["title"] for i in first.json()] == ["issue 4", "issue 3"]
    assert first.links["last"]["url"].endswith("per_page=2&page=3")


def test_search_sees_new_issues_only_after_the_lag(org: FakeOrg):
    with GitHubServer(org, token=TOKEN, search_lag_s=0.4) as server:
        post(
            server,
            "/repos/acme/api/issues",
            {"title": "Flaky test", "body": "vigil-fingerprint: f00d", "labels": ["flaky"]},
        )
        post(server, "/repos/acme/web/issues", {"title": "Other", "body": "vigil-fingerprint: beef"})
        query = 'repo:acme/api is:issue is:open label:flaky "vigil-fingerprint: f00d" in:body'
        immediately = get(server, "/search/issues", q=query)
        assert immediately.headers["x-ratelimit-resource"] == "search"
        assert immediately.json()["total_count"] == 0
        time.sleep(0.5)
        found = get(server, "/search/issues", q=query).json()
        assert (found["total_count"], found["incomplete_results"]) == (1, False)
        assert found["items"][0]["number"] == 1 and "score" in found["items"][0]

        expectations = {
            "f00d": 1,
            "beef": 1,
            "fingerprint": 2,
            "repo:acme/web fingerprint": 1,
            '"Flaky test" in:title': 1,
            "f00d in:title": 0,
            "is:closed": 0,
            "is:pr": 0,
            "label:broken": 0,
        }
        for q, count in expectations.items():
            assert get(server, "/search/issues", q=q).json()["total_count"] == count, q
        assert get(server, "/search/issues").status_code == 422


def test_issue_state_survives_restart_and_is_shared(org: FakeOrg, tmp_path: Path):
    state = tmp_path / "issues.json"
    with GitHubServer(org, token=TOKEN, issues_state_path=state) as first:
        post(first, "/repos/acme/api/issues", {"title": "one"})
        with GitHubServer(org, token=TOKEN, issues_state_path=state) as second:
            # Two servers (as in two processes) over one state file see each other's writes.
            assert post(second, "/repos/acme/api/issues", {"title": "two"}).json()["number"] == 2
            post(first, "/repos/acme/api/issues/2/comments", {"body": "from the first"})
            assert get(second, "/repos/acme/api/issues/2").json()["comments"] == 1
    with GitHubServer(org, token=TOKEN, issues_state_path=state) as restarted:
        titles = [i["title"] for i in get(restarted, "/repos/acme/api/issues").json()]
        assert titles == ["two", "one"]
        assert post(restarted, "/repos/acme/api/issues", {"title": "three"}).json()["number"] == 3
        assert restarted.url in get(restarted, "/repos/acme/api/issues/1").json()["url"]


# -- the simulated organisation ---------------------------------------------------------------


@pytest.fixture(scope="module")
def simulated_org() -> Any:
    simulator = pytest.importorskip("observability_assets.demo.simulator")
    return simulator.simulate(simulator.OrgSpec(days=3, repos=("api", "web")))


def crawl(url: str, key: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while url:
        response = requests.get(url, headers=AUTH, timeout=30)
        assert response.status_code == 200
        items += response.json()[key]
        url = response.links.get("next", {}).get("url", "")
    return items


def test_simulated_organisation_is_served_consistently(simulated_org: Any):
    attempts: dict[int, dict[int, dict[str, Any]]] = {}
    for run in simulated_org.run_attempts:
        attempts.setdefault(run["id"], {})[run["run_attempt"]] = run
    with GitHubServer(simulated_org, token=TOKEN) as server:
        for repo in simulated_org.repos:
            listed = crawl(f"{server.url}/repos/{repo}/actions/runs?per_page=100", "workflow_runs")
            expected = {
                (run_id, max(by_attempt))
                for run_id, by_attempt in attempts.items()
                if by_attempt[1]["repository"]["full_name"] == repo
            }
            assert {(r["id"], r["run_attempt"]) for r in listed} == expected
            assert len(listed) == len(expected)

        reruns = [run_id for run_id, by_attempt in attempts.items() if len(by_attempt) > 1][:5]
        assert reruns, "the simulator should re-run some workflows"
        for run_id in reruns:
            repo = attempts[run_id][1]["repository"]["full_name"]
            base = f"{server.url}/repos/{repo}/actions/runs/{run_id}"
            for number, attempt in attempts[run_id].items():
                assert requests.get(f"{base}/attempts/{number}", headers=AUTH, timeout=10).json() == attempt
            jobs = crawl(f"{base}/jobs?filter=all&per_page=100", "jobs")
            assert sorted(j["id"] for j in jobs) == sorted(
                j["id"] for j in simulated_org.jobs if j["run_id"] == run_id
            )

        artifact = simulated_org.artifacts[0]
        repo = attempts[artifact["workflow_run"]["id"]][1]["repository"]["full_name"]
        blob = requests.get(
            f"{server.url}/repos/{repo}/actions/artifacts/{artifact['id']}/zip", headers=AUTH, timeout=30
        )
        assert blob.status_code == 200 and blob.history[0].status_code == 302
        assert blob.content == simulated_org.artifact_zip(artifact["id"])
        assert zipfile.ZipFile(io.BytesIO(blob.content)).testzip() is None
