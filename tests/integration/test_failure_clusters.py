"""Failure clusters end to end on a simulated organisation: real JUnit XML parsed by the ingestion's
parser, the asset and its checks through `dagster.materialize`, the clusters held against the
simulator's planted causes (a seed the clustering was not tuned on), and the findings sensor's
cluster issue built from the mart's rows."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import dagster as dg
import pytest

from observability_assets.catalog.failures import FAILURE_ASSETS, FAILURE_CHECKS
from observability_assets.core.ledger import format_at
from observability_assets.demo.failure_evaluation import (
    GOAL_COMPLETENESS,
    GOAL_HOMOGENEITY,
    GOAL_MODULE,
    failing_executions,
    load,
    score,
)
from observability_assets.demo.simulator import OrgSpec, simulate
from resources.warehouse import WarehouseResource
from sensors.findings import _advance, _read_clusters, cluster_finding, cluster_thresholds, flaky_finding

SEED = 3


@pytest.fixture(scope="module")
def clustered(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    org = simulate(OrgSpec(seed=SEED, plant_secrets=False))
    resource = WarehouseResource(path=str(tmp_path_factory.mktemp("clusters") / "warehouse.duckdb"))
    load(resource.get(), org, failing_executions(org))
    result = dg.materialize([*FAILURE_ASSETS, *FAILURE_CHECKS], resources={"warehouse": resource})
    return SimpleNamespace(org=org, resource=resource, result=result)


def test_asset_and_checks_pass(clustered: SimpleNamespace) -> None:
    assert clustered.result.success
    checks = clustered.result.get_asset_check_evaluations()
    assert len(checks) == 2 and all(c.passed for c in checks), [c.metadata for c in checks]
    windows = clustered.resource.get().query(
        "SELECT DISTINCT window_days FROM marts.failure_clusters ORDER BY 1"
    )
    assert windows["window_days"].tolist() == [7, 28]


def test_quality_against_the_planted_causes(clustered: SimpleNamespace) -> None:
    figures = score(clustered.resource.get(), clustered.org)
    assert figures["unmatched"] == 0 and figures["failures"] > 1000
    assert figures["homogeneity"] >= GOAL_HOMOGENEITY
    assert figures["completeness"] >= GOAL_COMPLETENESS
    assert figures["module_right"] >= GOAL_MODULE


def test_the_dependency_break_is_one_cluster_across_tests_and_repositories(
    clustered: SimpleNamespace,
) -> None:
    brk = clustered.org.labels()["failure_causes"]["dependency_break"]
    planted = {(t["repo"], t["classname"], t["test_name"]) for t in brk["tests"]}
    rows = clustered.resource.get().query(
        "SELECT c.example_message, c.probable_file, c.repo_list, c.tests, c.per_test, "
        "list(DISTINCT (m.repo, m.classname, m.test_name)) AS members "
        "FROM marts.failure_clusters AS c JOIN marts.failure_cluster_members AS m USING (signature) "
        "WHERE c.window_days = 28 AND c.example_message LIKE 'TypeError: Cannot read properties%' GROUP BY ALL"
    )
    assert len(rows) == 1
    row = rows.iloc[0]
    assert row["example_message"] == "TypeError: Cannot read properties of undefined (reading 'formatISO')"
    assert row["probable_file"] == "src/lib/dates.ts"
    assert list(row["repo_list"]) == sorted(brk["repos"]) and not row["per_test"]
    assert {tuple(m.values()) if isinstance(m, dict) else tuple(m) for m in row["members"]} <= planted
    assert row["tests"] >= 0.8 * len(planted)  # a planted test may have had no job in the window


def test_the_outage_cluster_names_the_database_client(clustered: SimpleNamespace) -> None:
    rows = clustered.resource.get().query(
        "SELECT example_message, probable_file, tests FROM marts.failure_clusters "
        "WHERE window_days = 28 AND dialect = 'java' AND example_message LIKE 'java.net.ConnectException%'"
    )
    assert rows["example_message"].tolist() == ["java.net.ConnectException: Connection refused"]
    assert rows["probable_file"].tolist() == ["com/acme/api/core/Db.java"] and rows["tests"].iloc[0] > 20


def test_a_large_cluster_becomes_one_issue_listing_its_tests(clustered: SimpleNamespace) -> None:
    assert cluster_thresholds({}) == (5, 20)
    assert cluster_thresholds({"VIGIL_CLUSTER_MIN_TESTS": "12", "VIGIL_CLUSTER_MIN_FAILURES": "3"}) == (12, 3)
    found: dict = {"flaky": []}
    with clustered.resource.get().read("test") as con:
        _read_clusters(con, {}, found)
        (week_large,) = con.execute(
            "SELECT count(*) FROM marts.failure_clusters WHERE window_days = 7 AND NOT per_test "
            "AND tests >= 5 AND failures >= 20"
        ).fetchall()[0]
    assert len(found["clusters"]) == week_large >= 1
    row = max(found["clusters"], key=lambda r: r["tests"])
    finding = cluster_finding(row)
    assert finding.kind == "failure-cluster" and finding.key == row["signature"]
    assert finding.title == f"Failure cause: {row['example_message'][:90]} ({row['tests']} tests)"
    assert f"probably in `{row['probable_file']}`" in finding.summary
    assert len(row["member_tests"]) == row["tests"] and f"`{row['member_tests'][0]}`" in finding.summary
    assert finding.links == ()  # no test of the cluster has an issue of its own in this warehouse
    latest = max(r["last_seen"] for r in found["clusters"])
    assert _advance({}, {**found, "drift": [], "cost": []})["cluster_at"] == format_at(latest)


def test_a_flaky_test_names_its_cluster_and_a_large_one_replaces_its_issue(
    clustered: SimpleNamespace,
) -> None:
    warehouse = clustered.resource.get()
    [member] = warehouse.query(
        "WITH t AS (SELECT repo, test_id, any_value(classname) AS classname, any_value(test_name) AS test_name, "
        "signature, count(*) AS n, sum(count(*)) OVER (PARTITION BY repo, test_id) AS total "
        "FROM marts.failure_cluster_members GROUP BY repo, test_id, signature) "
        "SELECT t.repo, t.test_id, t.classname, t.test_name, c.signature, c.tests "
        "FROM marts.failure_clusters AS c JOIN t USING (signature) "
        "WHERE c.window_days = 7 AND NOT c.per_test AND c.tests >= 5 AND c.failures >= 20 AND t.n >= 0.8 * t.total "
        "ORDER BY c.tests DESC, t.test_id LIMIT 1"
    ).to_dict("records")
    row = {
        "repo": member["repo"],
        "test_id": member["test_id"],
        "classname": member["classname"],
        "test_name": member["test_name"],
        "last_seen_at": datetime(2026, 10, 28, 12, 0),
        "flaky_commits": 3,
        "score": 0.2,
    }
    found: dict = {"flaky": [row]}
    with warehouse.read("test") as con:
        _read_clusters(con, {}, found)
    assert row["cluster_signature"] == member["signature"] and row["in_large_cluster"]
    finding = flaky_finding(row)
    assert f"failure cluster `{member['signature']}` ({member['tests']} tests)" in finding.summary
    assert finding.figures["failure cluster"] == member["signature"]
