"""Regression drift, cost anomalies and golden baselines end to end.

A simulated organisation (3 repositories, 21 days) goes into raw tables in a DuckDB file, benchmark
results arrive through the landing folder, and Dagster materializes the SQL models and the drift,
cost and baseline assets with their checks. Results are compared with the simulator's labels."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from PIL import Image, ImageDraw
from sql_layer_data import DAILY, RANGE_END, RANGE_START, load_raw, stable_test_id

from observability_assets.cli.baselines import register
from observability_assets.demo.simulator import OrgSpec, simulate
from observability_assets.derived.baselines import (
    BASELINE_DRIFT_KEY,
    BaselinesResource,
    baselines_hold,
    build_baseline_drift,
)
from observability_assets.derived.cost_anomalies import cost_anomalies, cost_anomalies_consistent
from observability_assets.derived.regression_drift import regression_drift, regression_drift_consistent
from observability_assets.ingest.benchmarks import BenchmarkSourceConfig, benchmark_results
from observability_assets.sql_layer.build import build_sql_assets
from resources.github import GitHubResource
from resources.warehouse import WarehouseResource

SPEC = OrgSpec(seed=4, repos=("api", "web", "mobile"), days=21)
BENCH_DROPS, BENCH_STEP = 30, 18  # throughput drops by 40% from the 19th drop on
SQL_MODELS = {"stg_test_results", "stg_ci_jobs", "drift_series", "ci_cost_daily"}


def bench_sha(i: int) -> str:
    return f"{i + 1:040x}"


def write_benchmark_drops(landing: Path, day: datetime) -> None:
    """Results of another CI system: one drop per commit, in both custom formats."""
    rng = np.random.default_rng(8)
    for i in range(BENCH_DROPS):
        drop = landing / f"bench-{i:03d}"
        drop.mkdir(parents=True)
        sidecar = {"repo": "acme/api", "run_id": 9_000_000 + i, "commit": bench_sha(i), "branch": "main",
                   "created_at": (day + timedelta(minutes=20 * i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                   "tool": "customBiggerIsBetter", "suite": "ingest"}  # fmt: skip
        (drop / "vigil.json").write_text(json.dumps(sidecar))
        throughput = 1000.0 * (0.6 if i >= BENCH_STEP else 1.0) * np.exp(rng.normal(0, 0.03))
        (drop / "throughput.json").write_text(json.dumps([
            {"name": "rows per second", "unit": "rows/s", "value": throughput, "range": "± 3%"},
        ]))  # fmt: skip
        latency = 80.0 * (0.5 if i >= 10 else 1.0) * np.exp(rng.normal(0, 0.03))
        (drop / "latency.json").write_text(json.dumps({
            "tool": "customSmallerIsBetter",
            "benches": [{"name": "p99", "unit": "ms", "value": latency, "extra": "200 samples"}],
        }))  # fmt: skip
    (landing / "bench-007" / "broken.json").write_text('[{"name": "x", "unit": "ms", "value": "fast"}]')


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("drift_cost")
    org = simulate(SPEC)
    resource = WarehouseResource(path=str(root / "warehouse.duckdb"))
    wh = resource.get()
    tests = org.test_results_truth()
    tests = tests.assign(test_id=stable_test_id(tests)).drop(columns=["artifact_id"])
    days = load_raw(wh, org.runs_frame(), org.jobs_frame(), tests)

    bench_day = datetime.combine(days[3], datetime.min.time()) + timedelta(hours=6)
    write_benchmark_drops(root / "landing", bench_day)
    dg.materialize(
        [benchmark_results],
        partition_key=days[3].isoformat(),
        resources={
            "warehouse": resource,
            "github": GitHubResource(api_url="http://127.0.0.1:9"),  # unused: artifact scanning is off
            "benchmark_sources": BenchmarkSourceConfig(
                landing_dir=str(root / "landing"), artifact_patterns=""
            ),
        },
        raise_on_error=True,
    )
    assets, _ = build_sql_assets(partitions_def=DAILY)
    models = [a for a in assets if any(k.path[0] == "seeds" or k.path[-1] in SQL_MODELS for k in a.keys)]
    result = dg.materialize(
        [*models, regression_drift, cost_anomalies, regression_drift_consistent, cost_anomalies_consistent],
        resources={"warehouse": resource},
        tags={RANGE_START: days[0].isoformat(), RANGE_END: days[-1].isoformat()},
        raise_on_error=True,
    )
    return org, wh, resource, result, root


def test_duration_steps_are_found_at_their_commit(pipeline):
    org, wh, *_ = pipeline
    drift = wh.query("SELECT * FROM marts.regression_drift")
    steps = org.labels()["duration_steps"]
    assert {s["kind"] for s in steps} == {"test", "job"}
    for step in steps:
        if step["kind"] == "job":
            rows = drift[drift["series_key"] == f"{step['repo']}|{step['workflow']}|{step['job_name']}"]
        else:
            rows = drift[
                (drift["repo"] == step["repo"])
                & drift["subject"].str.contains(step["test_name"], regex=False)
            ]
        hit = rows[rows["commit_sha"] == step["commit_sha"]]
        assert len(hit) >= 1, f"{step['kind']} step of {step['repo']} not attributed to {step['commit_sha']}"
        assert (hit["direction"] == "regression").all()
        assert hit["change_pct"].median() == pytest.approx((step["factor"] - 1) * 100, rel=0.25)
        assert (hit["previous_commit_sha"] != hit["commit_sha"]).all()


def test_stable_series_raise_almost_nothing(pipeline):
    """Besides the labelled steps, only what they (and the move to macOS runners) explain."""
    org, wh, *_ = pipeline
    labels = org.labels()
    drift = wh.query(
        "SELECT * FROM marts.regression_drift WHERE series_kind IN ('test_duration', 'job_duration')"
    )
    step_commits = {s["commit_sha"] for s in labels["duration_steps"]}
    moved = {
        f"{c['repo']}|CI|{job}"
        for c in labels["cost_spikes"]
        if c["kind"] == "runner_change"
        for job in c["jobs"]
    }
    step_repos = {s["repo"] for s in labels["duration_steps"] if s["kind"] == "test"}
    unexplained = drift[
        ~drift["commit_sha"].isin(step_commits)
        & ~drift["series_key"].isin(moved)
        & ~(drift["repo"].isin(step_repos) & (drift["series_kind"] == "job_duration"))
    ]
    series = wh.query("SELECT count(DISTINCT series_key) AS n FROM marts.drift_series")["n"][0]
    assert series > 500
    assert len(unexplained) <= 1, unexplained[["series_key", "change_pct", "commit_sha"]]


def test_benchmark_results_are_ingested_and_their_drift_found(pipeline):
    _, wh, *_ = pipeline
    rows = wh.query("SELECT * FROM raw.benchmarks ORDER BY measured_at, name")
    assert len(rows) == 2 * BENCH_DROPS
    assert set(zip(rows["name"], rows["bigger_is_better"], rows["unit"], strict=True)) == {
        ("rows per second", True, "rows/s"),
        ("p99", False, "ms"),
    }
    assert rows["range"].dropna().unique().tolist() == ["± 3%"]
    rejected = wh.query(
        "SELECT path_or_url, reason FROM ops.rejected_inputs WHERE source = 'benchmark_landing'"
    )
    assert rejected["path_or_url"].str.endswith("broken.json").tolist() == [True]
    assert "finite number" in rejected["reason"][0]

    drift = wh.query(
        "SELECT * FROM marts.regression_drift WHERE series_kind = 'benchmark' ORDER BY change_at"
    )
    assert drift[["subject", "commit_sha", "direction"]].values.tolist() == [
        ["ingest / p99", bench_sha(10), "improvement"],
        ["ingest / rows per second", bench_sha(BENCH_STEP), "regression"],
    ]
    throughput = drift[drift["subject"] == "ingest / rows per second"].iloc[0]
    assert throughput["change_pct"] == pytest.approx(-40, abs=4)
    assert throughput["previous_commit_sha"] == bench_sha(BENCH_STEP - 1)
    assert bool(throughput["bigger_is_better"])


def test_cost_spikes_are_found_with_their_cause(pipeline):
    org, wh, *_ = pipeline
    rows = wh.query("SELECT * FROM marts.cost_anomalies")
    anomalies = rows[rows["is_anomaly"]].assign(day=lambda f: f["day"].astype(str))
    spikes = {s["kind"]: s for s in org.labels()["cost_spikes"]}

    volume = spikes["run_volume"]
    hit = anomalies[(anomalies["repo"] == volume["repo"]) & (anomalies["day"] == volume["day"])]
    assert len(hit) >= 1
    top = hit.sort_values("impact_usd").iloc[-1]
    assert top["root_cause"].startswith("volume: ") and volume["actor"] in top["root_cause"]
    assert top["top_branch"].startswith("renovate/")
    assert top["impact_usd"] == pytest.approx(top["actual_usd"] - top["expected_usd"])
    assert top["impact_pct"] > 200

    moved = spikes["runner_change"]
    macos = anomalies[(anomalies["repo"] == moved["repo"]) & (anomalies["runner_type"] == "macos")]
    assert moved["first_day"] <= macos["day"].min() and macos["day"].max() <= moved["last_day"]
    assert (
        macos["root_cause"]
        .str.startswith("new spend on macos: none on the reference days; jobs build, lint")
        .all()
    )

    explained = anomalies.index.isin(hit.index) | anomalies.index.isin(macos.index)
    assert (~explained).sum() <= 1  # the goal is at most 1 per 1,000 scope-days
    assert len(rows) == rows[["scope", "day"]].drop_duplicates().shape[0]


def test_asset_checks_pass(pipeline):
    *_, result, _ = pipeline
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations["regression_drift_consistent"] and evaluations["cost_anomalies_consistent"]


# -- golden baselines --------------------------------------------------------------------------------


def chart(bars: list[int]) -> Image.Image:
    image = Image.new("RGB", (320, 200), "white")
    draw = ImageDraw.Draw(image)
    for i, height in enumerate(bars):
        draw.rectangle([i * 53 + 4, 200 - height, (i + 1) * 53 - 4, 199], fill=(40, 90, 200))
    return image


@dg.asset(deps=[BASELINE_DRIFT_KEY])
def after_baselines() -> dg.MaterializeResult:
    return dg.MaterializeResult()


def baselines_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="vigil")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["baselines", *argv])
    return args.handler(args)


def test_golden_baselines_update_report_and_block(pipeline, tmp_path):
    _, wh, resource, _, _ = pipeline
    folder, candidates = tmp_path / "baselines", tmp_path / "outputs"
    folder.mkdir()
    candidates.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"baselines": [
        {"name": "cost_anomalies", "kind": "json", "golden": "cost_anomalies.json",
         "source": {"sql": "SELECT scope, CAST(day AS VARCHAR) AS day, round(impact_usd, 2) AS impact_usd "
                           "FROM marts.cost_anomalies WHERE is_anomaly ORDER BY scope, day"},
         "tolerances": {"/rows/*/impact_usd": {"abs": 0.5}}},
        {"name": "spend_chart", "kind": "image", "golden": "spend_chart.png",
         "source": {"file": "chart.png"}, "max_distance": 8},
    ]}))  # fmt: skip
    chart([50, 120, 80, 160, 60, 140]).save(candidates / "chart.png")
    where = ["--baselines", str(folder), "--warehouse", str(wh.path), "--candidates", str(candidates)]

    assert baselines_cli("update", "--reason", "   ", *where) == 2  # a reason is required
    assert not (folder / "history.jsonl").exists()
    assert baselines_cli("update", "--reason", "first goldens of the demo", *where) == 0
    history = [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]
    assert [(h["baseline"], h["reason"], h["old_sha256"], h["changed"]) for h in history] == [
        ("cost_anomalies", "first goldens of the demo", None, True),
        ("spend_chart", "first goldens of the demo", None, True),
    ]
    ledger = wh.query("SELECT actor, action, subject, detail FROM ops.ledger ORDER BY seq")
    assert ledger[["action", "subject"]].values.tolist()[-2:] == [
        ["baseline_update", "cost_anomalies"],
        ["baseline_update", "spend_chart"],
    ]
    assert json.loads(ledger["detail"].iloc[-1])["reason"] == "first goldens of the demo"
    assert baselines_cli("check", *where) == 0

    baseline_drift = build_baseline_drift(folder)
    resources = {
        "warehouse": resource,
        "baselines": BaselinesResource(directory=str(folder), candidates_dir=str(candidates)),
    }

    def run() -> tuple[dict[str, int], bool, bool]:
        result = dg.materialize(
            [baseline_drift, baselines_hold, after_baselines], resources=resources, raise_on_error=False
        )
        (check,) = result.get_asset_check_evaluations()
        downstream = bool(result.asset_materializations_for_node("after_baselines"))
        counts = wh.query("SELECT status, count(*) AS n FROM marts.baseline_drift GROUP BY status")
        return dict(zip(counts["status"], counts["n"], strict=True)), check.passed, downstream

    statuses, passed, downstream = run()
    assert set(statuses) == {"ok"} and passed and downstream

    golden = json.loads((folder / "cost_anomalies.json").read_text())
    golden["rows"][0]["impact_usd"] += 0.3  # small drift: reported, not blocking
    (folder / "cost_anomalies.json").write_text(json.dumps(golden))
    chart([50, 120, 80, 160, 60, 146]).save(candidates / "chart.png")  # one bar a little taller
    statuses, passed, downstream = run()
    assert statuses.get("drift") == 2 and "fail" not in statuses and passed and downstream

    golden["rows"][0]["impact_usd"] += 5.0  # large drift: the blocking check fails
    (folder / "cost_anomalies.json").write_text(json.dumps(golden))
    chart([160, 40, 150, 30, 170, 20]).save(candidates / "chart.png")
    statuses, passed, downstream = run()
    assert statuses.get("fail") == 2 and not passed and not downstream
    assert baselines_cli("check", *where) == 1

    assert baselines_cli("update", "--reason", "new chart style", "spend_chart", *where) == 0
    last = json.loads((folder / "history.jsonl").read_text().splitlines()[-1])
    assert last["baseline"] == "spend_chart" and last["old_sha256"] != last["new_sha256"]
    statuses, passed, _ = run()
    assert statuses.get("fail") == 1  # the JSON golden still disagrees; only the chart was updated


def test_an_empty_warehouse_gives_empty_marts(tmp_path):
    resource = WarehouseResource(path=str(tmp_path / "empty.duckdb"))
    assets, _ = build_sql_assets(partitions_def=DAILY)
    models = [a for a in assets if any(k.path[0] == "seeds" or k.path[-1] in SQL_MODELS for k in a.keys)]
    result = dg.materialize(
        [*models, regression_drift, cost_anomalies, regression_drift_consistent, cost_anomalies_consistent],
        resources={"warehouse": resource},
        tags={RANGE_START: "2026-10-01", RANGE_END: "2026-10-01"},
        raise_on_error=True,
    )
    wh = resource.get()
    assert wh.query("SELECT count(*) AS n FROM marts.regression_drift")["n"][0] == 0
    assert wh.query("SELECT count(*) AS n FROM marts.cost_anomalies")["n"][0] == 0
    assert all(e.passed for e in result.get_asset_check_evaluations())
