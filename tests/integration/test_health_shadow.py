"""Shadow replay and canary verdicts over real HTTP to the demo services, stored in DuckDB."""

import json
import socket
from pathlib import Path

import dagster as dg
import pytest

from observability_assets.demo.resources import DemoServicesResource
from observability_assets.demo.services import DemoServices, DemoServiceSpec
from observability_assets.derived.canary_verdicts import (
    LATENCY_ALLOWED_INCREASE,
    canary_verdicts,
    canary_verdicts_consistent,
    judge_replay,
)
from observability_assets.ingest.shadow_replay import (
    SampleError,
    load_sample,
    parse_sample,
    replay_sample,
    shadow_rows,
    shadow_samples,
    shadow_samples_consistent,
    store_replay,
)
from resources.http_probe import HttpProbe, HttpProbeResource
from resources.warehouse import Warehouse, WarehouseResource

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "config" / "shadow-sample.json"
TOKEN = "shadow-admin-token"
# Every target answers after 20 ms, as a real service would take some time; the candidate's
# +30 % is then 6 ms, well above loopback noise.
BASE_LATENCY_MS = 20.0
SHOP = [
    "shop",
    DemoServiceSpec("shop-replay", twin_of="shop"),
    DemoServiceSpec("shop-candidate", version="candidate", twin_of="shop"),
]


def _shop(seed: int = 3) -> DemoServices:
    services = DemoServices(SHOP, seed=seed, admin_token=TOKEN)
    services.start()
    for name in services.names:
        services[name].inject(latency_ms=BASE_LATENCY_MS)
    return services


def _resources(tmp_path: Path) -> dict:
    return {
        "warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
        "http_probe": HttpProbeResource(connect_timeout_s=1.0, read_timeout_s=3.0, max_concurrency=8),
        "service_runtime": DemoServicesResource(),
    }


def _replay_config(urls: dict[str, str], sample: Path = SAMPLE) -> dict:
    config = {
        "baseline_url": urls["shop"],
        "candidate_url": urls["shop-candidate"],
        "replay_url": urls["shop-replay"],
        "sample_path": str(sample),
    }
    return {"ops": {"raw__shadow_samples": {"config": config}}}


def _replay_and_judge(tmp_path: Path, urls: dict[str, str]) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [shadow_samples, canary_verdicts, shadow_samples_consistent, canary_verdicts_consistent],
        resources=_resources(tmp_path),
        run_config=_replay_config(urls),
    )


def test_a_candidate_with_errors_and_slower_answers_fails_the_canary(tmp_path):
    shop = _shop()
    try:
        shop["shop-candidate"].inject(candidate_error_rate=0.10, candidate_latency_ms=0.3 * BASE_LATENCY_MS)
        result = _replay_and_judge(tmp_path, shop.urls)
    finally:
        shop.stop()
    assert result.success and all(c.passed for c in result.get_asset_check_evaluations())
    verdicts = Warehouse(tmp_path / "w.duckdb").query("SELECT * FROM marts.canary_verdicts ORDER BY metric")
    assert verdicts["metric"].tolist() == ["error_rate", "latency_ms"]
    assert verdicts["classification"].tolist() == ["High", "High"]
    assert set(verdicts["verdict"]) == {"fail"} and set(verdicts["score"]) == {0.0}
    latency = verdicts.set_index("metric").loc["latency_ms"]
    assert latency["deviation"] > LATENCY_ALLOWED_INCREASE and latency["ci_lower"] > 0
    errors = verdicts.set_index("metric").loc["error_rate"]
    assert errors["control_mean"] == 0 and 0.04 < errors["experiment_mean"] < 0.25

    replay = result.asset_materializations_for_node("raw__shadow_samples")[0].metadata
    assert replay["dagster/row_count"].value == 120
    candidate = replay["candidate"].value
    assert candidate["status_counts"]["500"] == round(candidate["error_rate"] * 120)
    assert candidate["mean_latency_ms"] > replay["baseline"].value["mean_latency_ms"]
    assert replay["baseline"].value["error_rate"] == 0.0 and replay["status_match_rate"].value < 1.0
    judged = result.asset_materializations_for_node("marts__canary_verdicts")[0].metadata
    assert judged["verdict"].value == "fail" and judged["replays_judged"].value == 1


def test_an_identical_candidate_passes_in_20_of_20_seeded_repetitions():
    sample = load_sample(SAMPLE)[:60]
    client = HttpProbe(connect_timeout_s=1.0, read_timeout_s=3.0)
    verdicts = []
    failures = []
    for seed in range(20):
        shop = _shop(seed)
        try:
            replayed = replay_sample(
                client,
                sample,
                baseline=shop.urls["shop"],
                candidate=shop.urls["shop-candidate"],
                replay=shop.urls["shop-replay"],
                max_concurrency=8,
            )
        finally:
            shop.stop()
        judgement, _ = judge_replay(
            shadow_rows(f"seed-{seed}", replayed, baseline_url="b", candidate_url="c").frame
        )
        verdicts.append((judgement.verdict.value, judgement.score))
        if judgement.verdict.value != "pass":  # say which metric, with its figures, should one fail
            failures.append(
                (seed, [(r.name, r.classification.value, r.reason, r.deviation) for r in judgement.results])
            )
    assert verdicts == [("pass", 100.0)] * 20, failures


def test_a_changed_body_shows_in_the_diff_without_the_noise(tmp_path):
    shop = _shop()
    try:
        shop["shop-candidate"].inject(candidate_body_change=True)
        result = _replay_and_judge(tmp_path, shop.urls)
    finally:
        shop.stop()
    assert result.success
    samples = Warehouse(tmp_path / "w.duckdb").query("SELECT * FROM raw.shadow_samples ORDER BY request_id")
    assert len(samples) == 120 and samples["status_match"].all()
    changed = samples[~samples["body_match"]]
    fields = {f["path"] for diff in changed["diff"] for f in json.loads(diff)["fields"]}
    assert "/order/total" in fields and "/price" in fields and "/items/0/price" in fields
    assert all(p in ("/order/total", "/price", "/version") or p.endswith("/price") for p in fields)
    # request_id and served_at differ on every answer; they are noise, never a difference.
    assert not any(p in fields for p in ("/request_id", "/served_at"))
    noise = json.loads(changed["diff"].iloc[0])["noise"]
    assert "/request_id" in noise
    untouched = samples[samples["path"].str.startswith("/api/search?q=zzz")]
    assert untouched.empty or untouched["body_match"].all()
    metadata = result.asset_materializations_for_node("raw__shadow_samples")[0].metadata
    top = metadata["top_differences"].value
    assert metadata["significant_differences"].value > len(top) == 20
    assert all(d["path"].endswith("/price") and d["noise"] == 0 for d in top)
    # Prices changed, latency and errors did not: the canary passes; the diff is for people to read.
    verdicts = Warehouse(tmp_path / "w.duckdb").query("SELECT DISTINCT verdict FROM marts.canary_verdicts")
    assert verdicts["verdict"].tolist() == ["pass"]


def test_the_default_targets_are_the_embedded_demo_services(tmp_path):
    result = dg.materialize(
        [shadow_samples],
        resources=_resources(tmp_path),
        run_config={"ops": {"raw__shadow_samples": {"config": {"sample_path": str(SAMPLE)}}}},
    )
    assert result.success
    samples = Warehouse(tmp_path / "w.duckdb").query("SELECT * FROM raw.shadow_samples")
    assert len(samples) == 120
    assert set(samples["baseline_url"]) == {"demo://checkout"}
    assert set(samples["candidate_url"]) == {"demo://checkout-candidate"}
    assert samples["baseline_status"].notna().all() and samples["status_match"].all()


def test_storing_a_replay_again_replaces_it_and_judging_is_incremental(tmp_path):
    shop = _shop()
    try:
        result = _replay_and_judge(tmp_path, shop.urls)
    finally:
        shop.stop()
    assert result.success
    warehouse = Warehouse(tmp_path / "w.duckdb")
    rows = warehouse.query("SELECT * EXCLUDE (ingested_at) FROM raw.shadow_samples")
    replay_id = rows.loc[0, "replay_id"]
    assert store_replay(warehouse, replay_id, rows) == 120
    assert warehouse.query("SELECT count(*) AS n FROM raw.shadow_samples").loc[0, "n"] == 120
    again = dg.materialize([canary_verdicts], resources=_resources(tmp_path))
    # Stored again after its verdict: judged again, once; a third run finds nothing new.
    assert (
        again.asset_materializations_for_node("marts__canary_verdicts")[0].metadata["replays_judged"].value
        == 1
    )
    third = dg.materialize([canary_verdicts], resources=_resources(tmp_path))
    assert (
        third.asset_materializations_for_node("marts__canary_verdicts")[0].metadata["replays_judged"].value
        == 0
    )
    assert warehouse.query("SELECT count(*) AS n FROM marts.canary_verdicts").loc[0, "n"] == 2


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "non-empty JSON array"),
        ([{"method": "GET"}], "request [0].path must start with '/'"),
        ([{"method": "BREW", "path": "/"}], "request [0].method must be one of"),
        ([{"method": "GET", "path": "/", "headers": {"X": 1}}], "request [0].headers"),
        (
            [{"method": "GET", "path": "/"}, {"method": "GET", "path": "/", "cookies": {}}],
            "request [1] has unknown",
        ),
    ],
)
def test_a_bad_sample_is_rejected_naming_the_request(document, message):
    with pytest.raises(SampleError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_sample(document)


def test_the_shipped_sample_parses():
    sample = load_sample(SAMPLE)
    assert len(sample) == 120
    assert {r.method for r in sample} == {"GET", "POST"}
    assert {r.endpoint for r in sample} >= {"GET /api/items", "GET /api/items/{id}", "POST /api/orders"}


def test_http_probe_reports_refusals_timeouts_and_statuses():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    client = HttpProbe(connect_timeout_s=0.5, read_timeout_s=0.3, user_agent="vigil-test")
    refused = client.get(f"http://127.0.0.1:{port}/health")
    assert (refused.status, refused.latency_ms, refused.error) == (None, None, "connection refused")
    with DemoServices(["svc"], admin_token=TOKEN) as demo:
        demo["svc"].inject(latency_ms=800)
        slow = client.get(demo.urls["svc"] + "/health")
        assert (slow.status, slow.error) == (None, "read timeout after 0.3 s")
        demo["svc"].clear_faults()
        missing = client.get(demo.urls["svc"] + "/nowhere")
        assert (missing.status, missing.ok, missing.error) == (404, False, "HTTP 404")
        assert missing.latency_ms > 0 and json.loads(missing.body)["error"].startswith("no route")
    with pytest.raises(ValueError, match="credentials"):
        client.get("http://user:secret@127.0.0.1:1/health")
