"""Dependabot alerts over real HTTP: pagination, ETag cache, raw.dependency_alerts and marts.dependency_risk."""

from pathlib import Path

import dagster as dg

from observability_assets.assetkit.partitions import DAILY
from observability_assets.demo.github_server import GitHubServer
from observability_assets.demo.simulator import OrgSpec, simulate
from observability_assets.ingest.dependency_alerts import dependency_alerts
from observability_assets.sql_layer.build import build_sql_assets
from resources.github import GitHubResource
from resources.warehouse import Warehouse, WarehouseResource

SPEC = OrgSpec(seed=29, repos=("api", "web", "infra"), days=14, runs_per_repo_day=1)
TOKEN = "test-token-for-advisories"


def test_alerts_page_through_the_etag_cache_and_load_with_their_risk(tmp_path: Path) -> None:
    org = simulate(SPEC)
    with GitHubServer(org, token=TOKEN) as server:
        github = GitHubResource(
            api_url=server.url, token=TOKEN, repos="acme/api,acme/web,acme/infra", cache_dir=str(tmp_path)
        )
        client = github.client()
        everything = client.list_dependabot_alerts("acme/web")
        assert everything == org.dependabot_alerts("acme/web")
        # Two per page: the same alerts, newest first, over Link rel="next".
        paged = list(client.paginate("/repos/acme/web/dependabot/alerts", {"per_page": 2}))
        assert [a["number"] for a in paged] == [a["number"] for a in everything]
        assert len(paged) > 2
        before = client.stats.not_modified
        assert client.list_dependabot_alerts("acme/web") == everything
        assert client.stats.not_modified == before + 1  # the unchanged page came from the cache
        open_critical = client.list_dependabot_alerts("acme/web", state="open")
        assert open_critical and all(a["state"] == "open" for a in open_critical)

        resources = {
            "warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
            "github": github,
        }
        sql_assets, _ = build_sql_assets(partitions_def=DAILY)
        wanted = {("seeds", "advisory_slas"), ("marts", "dependency_risk")}
        models = [a for a in sql_assets if any(tuple(k.path) in wanted for k in a.keys)]
        assert dg.materialize([dependency_alerts, *models], resources=resources).success

    wh = Warehouse(tmp_path / "w.duckdb")
    loaded = wh.query("SELECT * FROM raw.dependency_alerts ORDER BY repo, number")
    expected = sorted(
        (repo, a["number"], a["security_advisory"]["ghsa_id"], a["state"], a["dependency"]["package"]["name"])
        for repo in org.repos
        for a in org.dependabot_alerts(repo)
    )
    assert (
        list(loaded[["repo", "number", "ghsa_id", "state", "package"]].itertuples(index=False, name=None))
        == expected
    )
    assert loaded["fix_available"].tolist() == loaded["first_patched_version"].notna().tolist()

    risk = wh.query("SELECT * FROM marts.dependency_risk WHERE severity = 'critical' ORDER BY repo")
    by_repo = risk.set_index("repo")
    labels = org.advisories.labels()
    assert by_repo.loc[labels["critical_sla_breached"], "sla_breaches"] >= 1
    assert by_repo.loc[labels["critical_sla_breached"], "sla_days"] == 7
    assert by_repo.loc[labels["critical_sla_holds"], "sla_breaches"] == 0
    assert by_repo.loc[labels["critical_sla_holds"], "fixed_alerts"] >= 1
    assert 0 < by_repo.loc[labels["critical_sla_holds"], "mean_days_to_fix"] < 7
