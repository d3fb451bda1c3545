"""The demo services over real loopback HTTP: endpoints, faults, remediation actions, shadow replay."""

from __future__ import annotations

import time

import pytest
import requests

from observability_assets.core.shadow_diff import DifferenceCounter, compare_responses, significant_fields
from observability_assets.demo.services import ADMIN_TOKEN_HEADER, DemoServices, DemoServiceSpec

TOKEN = "test-admin-token-0123456789"
RESTART_DELAY_S = 0.15
TIMEOUT = 5


@pytest.fixture
def services():
    with DemoServices(
        ["checkout", "search"], seed=11, admin_token=TOKEN, restart_delay_s=RESTART_DELAY_S
    ) as demo:
        yield demo


def admin(
    url: str, action: str, json_body: dict | None = None, token: str | None = TOKEN
) -> requests.Response:
    headers = {ADMIN_TOKEN_HEADER: token} if token else {}
    return requests.post(f"{url}/admin/{action}", json=json_body, headers=headers, timeout=TIMEOUT)


def health(url: str) -> requests.Response:
    return requests.get(f"{url}/health", timeout=TIMEOUT)


def wait_for(predicate, timeout_s: float = 3.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def test_services_look_like_json_apis(services):
    urls = services.urls
    assert set(urls) == {"checkout", "search"} and len(set(urls.values())) == 2
    assert all(u.startswith("http://127.0.0.1:") for u in urls.values())
    body = health(urls["checkout"]).json()
    assert body["service"] == "checkout" and body["status"] == "ok" and body["version"] == "baseline"
    items = requests.get(f"{urls['checkout']}/api/items", timeout=TIMEOUT).json()
    assert items["count"] == 24 and items["request_id"].startswith("checkout-")
    first = items["items"][0]
    assert (
        requests.get(f"{urls['checkout']}/api/items/{first['id']}", timeout=TIMEOUT).json()["name"]
        == first["name"]
    )
    assert requests.get(f"{urls['checkout']}/api/items/999", timeout=TIMEOUT).status_code == 404
    word = first["name"].split()[1]
    found = requests.get(f"{urls['checkout']}/api/search", params={"q": word}, timeout=TIMEOUT).json()
    assert found["count"] >= 1 and all(word in r["name"] for r in found["results"])
    assert requests.get(f"{urls['checkout']}/api/search", timeout=TIMEOUT).status_code == 400
    order = requests.post(
        f"{urls['checkout']}/api/orders", json={"item_id": first["id"], "quantity": 3}, timeout=TIMEOUT
    )
    assert order.status_code == 201
    assert order.json()["order"]["total"] == round(first["price"] * 3, 2)
    assert requests.post(f"{urls['checkout']}/api/orders", data=b"nope", timeout=TIMEOUT).status_code == 400


def test_catalogues_are_seeded(services):
    with DemoServices(["checkout"], seed=11, admin_token=TOKEN) as again:
        a = requests.get(f"{services.urls['checkout']}/api/items", timeout=TIMEOUT).json()["items"]
        b = requests.get(f"{again.urls['checkout']}/api/items", timeout=TIMEOUT).json()["items"]
    assert a == b


def test_admin_needs_the_token(services):
    url = services["checkout"].admin_url
    assert admin(url, "restart", token=None).status_code == 401
    refused = admin(url, "restart", token="wrong")
    assert refused.status_code == 401 and "wrong" not in refused.text
    assert requests.get(f"{url}/admin/state", timeout=TIMEOUT).status_code == 401
    assert services["checkout"].actions == []
    assert admin(services.urls["checkout"], "clear-cache").status_code == 202  # also on the service port
    assert (
        TOKEN
        not in requests.get(f"{url}/admin/state", headers={ADMIN_TOKEN_HEADER: TOKEN}, timeout=TIMEOUT).text
    )


def test_down_503_and_restart(services):
    checkout = services["checkout"]
    admin(checkout.admin_url, "faults", {"down": True})
    assert health(checkout.url).status_code == 503
    assert admin(checkout.admin_url, "restart").status_code == 202
    assert health(checkout.url).json()["status"] == "restarting"
    wait_for(lambda: health(checkout.url).status_code == 200)
    assert health(checkout.url).json()["restarts"] == 1


def test_down_refusing_connections_and_restart_on_the_same_url(services):
    checkout = services["checkout"]
    url = checkout.url
    checkout.inject(down=True, down_mode="refuse")
    with pytest.raises(requests.ConnectionError):
        health(url)
    assert health(services.urls["search"]).status_code == 200  # the others are unaffected
    assert admin(checkout.admin_url, "restart").status_code == 202
    wait_for(lambda: checkout.faults.down is False)
    assert checkout.url == url and health(url).status_code == 200


def test_slow_and_scale(services):
    checkout = services["checkout"]
    checkout.inject(latency_ms=400)
    started = time.monotonic()
    health(checkout.url)
    slow = time.monotonic() - started
    admin(checkout.admin_url, "scale")
    started = time.monotonic()
    body = health(checkout.url).json()
    scaled = time.monotonic() - started
    assert slow >= 0.4 and 0.2 <= scaled < slow - 0.1 and body["replicas"] == 2


def test_error_burst_and_reload_config(services):
    checkout = services["checkout"]
    checkout.inject(error_rate=0.5)
    statuses = [health(checkout.url).status_code for _ in range(60)]
    assert 18 <= statuses.count(500) <= 42 and set(statuses) == {200, 500}
    admin(checkout.admin_url, "reload-config")
    assert {health(checkout.url).status_code for _ in range(20)} == {200}


def test_memory_and_cpu_flags(services):
    checkout = services["checkout"]
    checkout.inject(high_memory=True, high_cpu=True)
    body = health(checkout.url).json()
    assert (
        body["status"] == "degraded" and body["high_memory"] and body["memory_mb"] > 3000 and body["high_cpu"]
    )
    admin(checkout.admin_url, "clear-cache")
    body = health(checkout.url).json()
    assert not body["high_memory"] and body["high_cpu"] and body["status"] == "degraded"
    admin(checkout.admin_url, "restart")
    wait_for(
        lambda: health(checkout.url).status_code == 200 and health(checkout.url).json()["status"] == "ok"
    )


def test_sticky_fault_survives_every_action(services):
    checkout = services["checkout"]
    checkout.inject(down=True, high_memory=True, error_rate=1.0, sticky=True)
    for action in ("restart", "reload-config", "clear-cache", "scale", "rollback"):
        assert admin(checkout.admin_url, action).status_code == 202
    time.sleep(RESTART_DELAY_S * 3)
    assert health(checkout.url).status_code == 503
    faults = checkout.faults
    assert faults.down and faults.high_memory and faults.error_rate == 1.0 and faults.replicas == 1
    state = requests.get(
        f"{checkout.admin_url}/admin/state", headers={ADMIN_TOKEN_HEADER: TOKEN}, timeout=TIMEOUT
    )
    assert [a["effective"] for a in state.json()["actions"]] == [False] * 5


def test_fault_api_validates_input(services):
    url = services["checkout"].admin_url
    assert admin(url, "faults", {"latency": 5}).status_code == 400
    assert admin(url, "faults", {"error_rate": 2}).status_code == 400
    assert admin(url, "faults", {"version": "canary"}).status_code == 400
    assert admin(url, "faults", {"latency_ms": 5}).json()["faults"]["latency_ms"] == 5
    assert admin(url, "clear-faults").json()["faults"]["latency_ms"] == 0.0


def test_version_switch_and_rollback(services):
    search = services["search"]
    search.inject(version="candidate", candidate_error_rate=1.0, candidate_latency_ms=50)
    response = health(search.url)
    assert response.status_code == 500
    admin(search.admin_url, "rollback")
    assert health(search.url).json()["version"] == "baseline"


def _replay(method: str, url: str, path: str, body: dict | None):
    response = requests.request(method, f"{url}{path}", json=body, timeout=TIMEOUT)
    return response.status_code, response.json()


@pytest.mark.parametrize("body_change", [False, True])
def test_shadow_replay_against_a_candidate(body_change):
    specs = [
        "shop",
        DemoServiceSpec("shop-replay", twin_of="shop"),
        DemoServiceSpec("shop-candidate", version="candidate", twin_of="shop"),
    ]
    with DemoServices(specs, seed=3, admin_token=TOKEN) as demo:
        demo["shop-candidate"].inject(candidate_body_change=body_change)
        counter = DifferenceCounter()
        traffic = [("GET", "/api/items", None, "items"), ("POST", "/api/orders", {"item_id": 1}, "orders")]
        for method, path, body, endpoint in traffic * 5:
            b_status, b_body = _replay(method, demo.urls["shop"], path, body)
            c_status, c_body = _replay(method, demo.urls["shop-candidate"], path, body)
            _, r_body = _replay(method, demo.urls["shop-replay"], path, body)
            comparison = compare_responses(b_status, b_body, c_status, c_body, baseline_replay_body=r_body)
            assert comparison.status_match and {"/request_id", "/served_at"} <= comparison.noise_paths
            counter.add(endpoint, comparison)
    significant = {s.path for s in significant_fields(counter)}
    if body_change:
        assert "/order/total" in significant and "/items/0/price" in significant
        assert all(p == "/order/total" or p.endswith("/price") for p in significant)
    else:
        assert significant == set()
