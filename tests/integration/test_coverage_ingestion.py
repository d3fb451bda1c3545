"""raw.coverage_files from run artifacts (real HTTP) and the landing folder, hostile reports included,
and marts.coverage_daily over what was loaded."""

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from test_test_results_ingestion import HostileOrg

from observability_assets.assetkit.partitions import DAILY
from observability_assets.demo.github_server import GitHubServer
from observability_assets.demo.simulator import OrgSpec, simulate
from observability_assets.ingest.coverage_reports import CoverageSourceConfig, coverage_files
from observability_assets.ingest.github_actions import github_actions_runs
from observability_assets.sql_layer.build import build_sql_assets
from resources.github import GitHubResource
from resources.warehouse import Warehouse, WarehouseResource

SPEC = OrgSpec(seed=23, repos=("api", "web", "infra"), days=2, runs_per_repo_day=5)
DAYS = ["2026-10-01", "2026-10-02"]
TOKEN = "test-token-for-coverage"
DATA = Path(__file__).resolve().parents[1] / "data" / "coverage"
KEY = ["repo", "run_id", "run_attempt", "path"]
FIGURES = [
    "lines_valid",
    "lines_covered",
    "branches_valid",
    "branches_covered",
    "format",
    "head_sha",
    "branch",
]

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE coverage [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<coverage><sources><source>&b;</source></sources></coverage>"""


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _resources(server: GitHubServer, tmp_path: Path) -> dict[str, Any]:
    return {
        "warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
        "github": GitHubResource(
            api_url=server.url, token=TOKEN, repos="acme/api,acme/web,acme/infra", cache_dir=str(tmp_path)
        ),
        "coverage_sources": CoverageSourceConfig(landing_dir=str(tmp_path / "landing")),
    }


def _truth(org, days: list[str]) -> pd.DataFrame:
    runs = org.runs_frame()
    first = runs.groupby(["repo", "run_id"])["created_at"].min().dt.date.astype(str)
    keep = set(first[first.isin(days)].index)
    truth = org.coverage.truth_frame()
    return truth[[(r, i) in keep for r, i in zip(truth["repo"], truth["run_id"], strict=True)]]


def test_artifacts_and_drops_load_the_simulated_coverage_and_hostile_reports_are_rejected(
    tmp_path: Path,
) -> None:
    org = simulate(SPEC)
    truth = _truth(org, DAYS[:1])
    assert set(truth["format"]) == {"jacoco", "lcov", "go-cover"}
    hostile = HostileOrg(org)
    template = next(a for a in org.artifacts if a["workflow_run"]["id"] == int(truth["run_id"].iloc[0]))
    zip_bomb = _zip({"coverage.xml": b"<coverage>" + b" " * (20 * 1024 * 1024) + b"</coverage>"})
    hostile.add(template, 990101, "coverage-bomb", _zip({"coverage.xml": BOMB}))
    hostile.add(template, 990102, "coverage-zipbomb", zip_bomb)
    hostile.add(template, 990103, "coverage-truncated", _zip({"lcov.info": b"TN:\nSF:src/x.js\nDA:1,1\n"}))
    hostile.add(template, 990104, "coverage-notzip", b"PK but not really a zip")
    # A landing drop from another CI system: coverage.py's own report of the sample project.
    drop = tmp_path / "landing" / "jenkins-42"
    drop.mkdir(parents=True)
    (drop / "vigil.json").write_text(
        json.dumps(
            {
                "repo": "acme/shapes-py",
                "run_id": 42,
                "commit": "a" * 40,
                "branch": "main",
                "created_at": DAYS[0] + "T09:00:00Z",
            }
        )
    )
    (drop / "coverage.xml").write_bytes((DATA / "python-coveragepy" / "coverage.xml").read_bytes())
    (drop / "coverage.json").write_bytes((DATA / "python-coveragepy" / "coverage.json").read_bytes())
    (drop / "truncated-coverage.xml").write_bytes(b"<coverage><packages><package>")

    with GitHubServer(hostile, token=TOKEN) as server:
        for day in DAYS:
            result = dg.materialize(
                [github_actions_runs, coverage_files],
                partition_key=day,
                resources=_resources(server, tmp_path),
            )
            assert result.success

    wh = Warehouse(tmp_path / "w.duckdb")
    loaded = wh.query(
        "SELECT * FROM raw.coverage_files WHERE repo LIKE 'acme/%' AND repo <> 'acme/shapes-py'"
    )
    truth = _truth(org, DAYS)
    assert len(loaded) == len(truth) > 100
    merged = truth.merge(loaded, on=KEY, how="outer", indicator=True, suffixes=("_truth", "_loaded"))
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].head()
    for column in FIGURES:
        want, have = merged[f"{column}_truth"], merged[f"{column}_loaded"]
        same = (want == have) | (want.isna() & have.isna())
        assert same.all(), (column, merged.loc[~same, [*KEY, f"{column}_truth", f"{column}_loaded"]].head())

    # The landed drop: coverage.py's XML and JSON of one run, merged per file (no double count),
    # equal to what `coverage report` printed for the sample project.
    landed = wh.query("SELECT * FROM raw.coverage_files WHERE repo = 'acme/shapes-py' ORDER BY path")
    assert landed["path"].tolist() == ["shapes/__init__.py", "shapes/geometry.py", "shapes/units.py"]
    assert (landed["lines_valid"].sum(), landed["lines_covered"].sum()) == (32, 21)
    assert (landed["branches_valid"].sum(), landed["branches_covered"].sum()) == (18, 11)
    assert set(landed["format"]) == {"coveragepy-json"}

    rejected = wh.query("SELECT source, path_or_url, reason FROM ops.rejected_inputs")
    reasons = " | ".join(rejected["source"] + ":" + rejected["path_or_url"] + " -> " + rejected["reason"])
    assert "coverage-bomb" in reasons and "DOCTYPE with an internal subset" in reasons
    assert "coverage-zipbomb" in reasons and "zip bomb" in reasons
    assert "coverage-truncated" in reasons and "truncated LCOV" in reasons
    assert "coverage-notzip" in reasons and "not a zip" in reasons
    assert "coverage_landing:" in reasons and "truncated-coverage.xml -> truncated XML" in reasons


def test_coverage_daily_follows_the_default_branch_and_names_the_files_that_dropped(tmp_path: Path) -> None:
    """The mart over hand-made rows: per day the last commit on main, its change and its drops."""
    wh = Warehouse(tmp_path / "w.duckdb")
    rows = []
    commits = [  # (day, run_id, sha, branch, {path: covered of 100})
        ("2026-10-01", 10, "a1", "main", {"x.py": 90, "y.py": 80}),
        ("2026-10-01", 11, "f1", "feature", {"x.py": 10, "y.py": 10}),
        ("2026-10-02", 12, "a2", "main", {"x.py": 70, "y.py": 81}),
        ("2026-10-02", 13, "a3", "main", {"x.py": 60, "y.py": 79}),
    ]
    for day, run_id, sha, branch, files in commits:
        for path, covered in files.items():
            rows.append((day, "acme/api", run_id, sha, branch, path, covered))
    for day in sorted({r[0] for r in rows}):
        frame = pd.DataFrame(
            [
                {
                    "repo": repo,
                    "run_id": run_id,
                    "run_attempt": 1,
                    "head_sha": sha,
                    "branch": branch,
                    "path": path,
                    "lines_valid": 100,
                    "lines_covered": covered,
                    "branches_valid": 10,
                    "branches_covered": covered // 10,
                    "format": "cobertura",
                    "report_path": "coverage.xml",
                }
                for d, repo, run_id, sha, branch, path, covered in rows
                if d == day
            ]
        )
        wh.replace_partitions(day, {"raw.coverage_files": frame})
    sql_assets, _ = build_sql_assets(partitions_def=DAILY)
    wanted = {("seeds", "repo_default_branches"), ("marts", "coverage_daily")}
    selected = [a for a in sql_assets if any(tuple(k.path) in wanted for k in a.keys)]
    result = dg.materialize(
        selected, resources={"warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb"))}
    )
    assert result.success
    daily = wh.query("SELECT * FROM marts.coverage_daily ORDER BY day")
    assert daily["head_sha"].tolist() == ["a1", "a3"]
    assert daily["line_coverage_pct"].tolist() == [85.0, 69.5]
    assert daily["previous_sha"].tolist()[1] == "a2"
    assert round(daily["line_change_points"].iloc[1], 6) == -6.0  # 75.5 -> 69.5
    assert daily["biggest_drops"].iloc[1] == "x.py -10.0, y.py -2.0"
    assert pd.isna(daily["previous_sha"].iloc[0]) and pd.isna(daily["biggest_drops"].iloc[0])
