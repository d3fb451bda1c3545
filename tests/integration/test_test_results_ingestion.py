"""raw.test_results from run artifacts (real HTTP) and the landing folder, hostile input included."""

import io
import json
import zipfile
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from observability_assets.assetkit.partitions import DAILY
from observability_assets.core import junit
from observability_assets.core.process_pool import map_tables
from observability_assets.demo.github_server import GitHubServer
from observability_assets.demo.simulator import OrgSpec, simulate
from observability_assets.demo.verify import attributed
from observability_assets.ingest import junit_collect
from observability_assets.ingest.github_actions import github_actions_runs
from observability_assets.ingest.junit_config import JUnitSourceConfig
from observability_assets.ingest.junit_reports import junit_test_results
from observability_assets.sql_layer.build import build_sql_assets
from resources.github import GitHubResource
from resources.warehouse import Warehouse, WarehouseResource
from sensors.junit_landing import junit_landing_sensor

SPEC = OrgSpec(seed=21, repos=("api", "mobile"), days=2, runs_per_repo_day=6)
DAY = "2026-10-01"
TOKEN = "test-token-for-junit"
stable_id = junit.test_id  # renamed: pytest would collect `test_id`
KEY = ["repo", "run_id", "run_attempt", "job_id", "classname", "test_name", "attempt"]

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<testsuite name="x"><testcase classname="a" name="&xxe;"/></testsuite>"""


def _zip(members: dict[str, bytes], symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


@dataclass
class HostileOrg:
    """The simulated organisation plus hostile artifacts attached to one of its runs."""

    org: Any
    extra: dict[int, bytes] = field(default_factory=dict)
    extra_artifacts: list[dict[str, Any]] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.org, name)

    @property
    def artifacts(self) -> list[dict[str, Any]]:
        return self.org.artifacts + self.extra_artifacts

    def artifact_zip(self, artifact_id: int) -> bytes:
        return self.extra[artifact_id] if artifact_id in self.extra else self.org.artifact_zip(artifact_id)

    def add(self, template: dict[str, Any], artifact_id: int, name: str, data: bytes) -> None:
        self.extra[artifact_id] = data
        self.extra_artifacts.append({**template, "id": artifact_id, "name": name, "size_in_bytes": len(data)})


def _resources(
    server: GitHubServer, tmp_path: Path, landing: Path | None = None, repos: str = "acme/api,acme/mobile"
) -> dict[str, Any]:
    return {
        "warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
        "github": GitHubResource(
            api_url=server.url, token=TOKEN, repos=repos, cache_dir=str(tmp_path / "cache")
        ),
        "junit_sources": JUnitSourceConfig(landing_dir=str(landing or tmp_path / "landing")),
    }


def _truth_for_day(org, day: str):
    """The simulated executions of `day`'s runs, with the job id their artifact's name tells."""
    runs = org.runs_frame()
    first = runs.groupby(["repo", "run_id"])["created_at"].min().dt.date.astype(str)
    keep = set(first[first == day].index)
    truth = org.test_results_truth()
    truth = truth[[(r, i) in keep for r, i in zip(truth["repo"], truth["run_id"], strict=True)]]
    return attributed(truth, org.artifact_attribution())


@pytest.mark.parametrize("worker_processes", [False, True], ids=["one-process", "worker-processes"])
def test_artifacts_load_exactly_the_simulated_results_and_hostile_ones_are_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, worker_processes: bool
) -> None:
    if worker_processes:  # a big day's archives are parsed over worker processes: same result
        monkeypatch.setattr(junit_collect, "PARALLEL_MIN_BYTES", 0)
        # Start the workers first: a cold start would leave the small day all to this process.
        warm = partial(junit_collect._parse_artifacts, report_glob="**/*.xml", redactor=None)
        assert len(map_tables(warm, [[], []], workers=2)) == 2
    org = simulate(SPEC)
    hostile = HostileOrg(org)
    truth = _truth_for_day(org, DAY)
    template = next(a for a in org.artifacts if a["workflow_run"]["id"] == int(truth["run_id"].iloc[0]))
    bomb = _zip({"reports/bomb.xml": b"<testsuite>" + b" " * (20 * 1024 * 1024) + b"</testsuite>"})
    hostile.add(template, 990001, "junit-xxe", _zip({"reports/xxe.xml": XXE}))
    hostile.add(
        template,
        990002,
        "junit-slip",
        _zip({"../../etc/evil.xml": b"<testsuite/>"}, symlink="reports/link.xml"),
    )
    hostile.add(template, 990003, "junit-bomb", bomb)
    hostile.add(template, 990004, "junit-notzip", b"this is not a zip file")

    with GitHubServer(hostile, token=TOKEN) as server:
        result = dg.materialize(
            [github_actions_runs, junit_test_results],
            partition_key=DAY,
            resources=_resources(server, tmp_path),
        )
    assert result.success

    wh = Warehouse(tmp_path / "w.duckdb")
    loaded = wh.query("SELECT * FROM raw.test_results")
    assert len(loaded) == len(truth) > 500
    assert loaded.groupby("outcome").size().to_dict() == truth.groupby("outcome").size().to_dict()
    columns = [*KEY, "outcome", "job_match"]
    loaded_keys = loaded[columns].astype({"job_id": "Int64"})
    merged = (
        truth[columns].astype({"job_id": "Int64"}).merge(loaded_keys, on=KEY, how="outer", indicator=True)
    )
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].head()
    assert (merged["outcome_x"] == merged["outcome_y"]).all()
    assert (merged["job_match_x"] == merged["job_match_y"]).all()
    # api's CI names artifacts after the job, mobile's after the os; api's nightly names no job.
    assert {"exact", "tokens"} <= set(loaded["job_match"])
    # Reruns inside one Surefire report count up `attempt` (the mobile repository's dialect).
    assert loaded["attempt"].max() >= 1
    assert loaded["test_id"].str.len().eq(32).all()

    rejected = wh.query("SELECT path_or_url, reason FROM ops.rejected_inputs ORDER BY path_or_url")
    reasons = " | ".join(rejected["path_or_url"] + " -> " + rejected["reason"])
    assert "DOCTYPE" in reasons and "xxe.xml" in reasons
    assert "../../etc/evil.xml" in reasons and "link.xml" in reasons
    assert "bomb.xml" in reasons
    assert "junit-notzip" in reasons
    assert "root:" not in loaded.to_string()  # /etc/passwd was never read


def test_landing_folder_drops_load_and_the_sensor_requests_their_day(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    drop = landing / "jenkins-build-77"
    drop.mkdir(parents=True)
    (drop / "vigil.json").write_text(
        json.dumps(
            {
                "repo": "acme/legacy",
                "run_id": 77,
                "commit": "a" * 40,
                "branch": "main",
                "created_at": "2026-10-01T08:00:00Z",
            }
        )
    )
    (drop / "TEST-com.acme.CalcTest.xml").write_text(
        '<testsuite name="com.acme.CalcTest"><testcase classname="com.acme.CalcTest" name="adds" time="0.1"/>'
        '<testcase classname="com.acme.CalcTest" name="divides"><failure message="boom">trace</failure>'
        "</testcase></testsuite>"
    )
    (drop / "broken.xml").write_text("<testsuite><testcase name='x'>")
    # Bare test cases (as in EnricoMi's no-attributes.xml) beside a named one, and a name with "&".
    (drop / "bare.xml").write_text(
        "<testsuites><testsuite><testcase/><testcase><skipped/></testcase><testcase><failure/></testcase>"
        '<testcase><error/></testcase><testcase classname="com.acme.Q&amp;A" name="asks &amp; answers"/>'
        "</testsuite></testsuites>"
    )
    bad = landing / "no-sidecar-fields"
    bad.mkdir()
    (bad / "vigil.json").write_text('{"repo": "acme/legacy"}')

    instance = dg.DagsterInstance.ephemeral()
    with GitHubServer(simulate(SPEC), token=TOKEN) as server:
        resources = _resources(server, tmp_path, landing)
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            requests = junit_landing_sensor(context)
            assert [r.partition_key for r in requests] == ["2026-10-01"]
            cursor = context.cursor
        with dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor) as context:
            assert isinstance(junit_landing_sensor(context), dg.SkipReason)

        assert dg.materialize([junit_test_results], partition_key=DAY, resources=resources).success

    wh = Warehouse(tmp_path / "w.duckdb")
    rows = wh.query("SELECT * FROM raw.test_results WHERE repo = 'acme/legacy' ORDER BY test_name")
    assert rows["test_name"].tolist() == ["adds", "asks & answers", "divides"]
    assert rows["classname"].tolist() == ["com.acme.CalcTest", "com.acme.Q&A", "com.acme.CalcTest"]
    assert rows["test_id"][1] == stable_id("acme/legacy", "com.acme.Q&A", None, "asks & answers")
    assert rows["outcome"].tolist() == ["passed", "passed", "failed"]
    assert set(rows["head_sha"]) == {"a" * 40}
    assert rows["job_id"].isna().all() and rows["job_match"].isna().all()  # landed: no job matched
    rejected = wh.query("SELECT path_or_url, reason FROM ops.rejected_inputs WHERE source = 'junit_landing'")
    assert any("broken.xml" in p and "truncated" in r.lower() for p, r in rejected.itertuples(index=False))
    assert any("lacks run_id, commit" in r for r in rejected["reason"])
    assert [r for p, r in rejected.itertuples(index=False) if p.endswith("bare.xml")] == [
        "4 test cases without a name skipped (no identity to load them under)"
    ]


@pytest.mark.parametrize("day", ["2026-10-02"])
def test_a_day_is_idempotent(tmp_path: Path, day: str) -> None:
    with GitHubServer(simulate(SPEC), token=TOKEN) as server:
        resources = _resources(server, tmp_path)
        assert dg.materialize(
            [github_actions_runs, junit_test_results], partition_key=day, resources=resources
        ).success
        wh = Warehouse(tmp_path / "w.duckdb")
        query = "SELECT count(*) AS n, sum(hash(test_id, outcome, attempt, duration_s, message)) AS h FROM raw.test_results"
        first = wh.query(query).iloc[0].tolist()
        assert dg.materialize([junit_test_results], partition_key=day, resources=resources).success
        assert wh.query(query).iloc[0].tolist() == first


def test_parse_workers_default_to_the_usable_cores_and_can_be_capped() -> None:
    from pydantic import ValidationError

    from observability_assets.core.process_pool import usable_cores

    assert JUnitSourceConfig().workers() == usable_cores()
    assert JUnitSourceConfig(parse_workers=1).workers() == 1  # the asset's own process only
    with pytest.raises(ValidationError):
        JUnitSourceConfig(parse_workers=-1)


def test_unattributed_artifact_rows_are_unknown_job_and_only_landing_drops_are_landing(
    tmp_path: Path,
) -> None:
    """web names its CI artifacts `junit-${{ strategy.job-index }}` and api its nightly's with
    upload-artifact's default `artifact`: no job can be told from those. Its rows keep both matrix jobs' executions, apart, and are labelled "unknown job" in
    the drift series (subjects, and so regression and issue titles); "landing" is left to the
    landing-folder drop loaded beside them."""
    spec = OrgSpec(seed=21, repos=("api", "web"), days=1, runs_per_repo_day=8)
    org = simulate(spec)
    assert org.artifact_conventions["acme/web"]["CI"].template == "junit-{index}"
    assert org.artifact_conventions["acme/api"]["Nightly"].template == "artifact"
    landing = tmp_path / "landing"
    drop = landing / "jenkins-build-5"
    drop.mkdir(parents=True)
    sidecar = {
        "repo": "acme/web",
        "run_id": 5,
        "commit": "b" * 40,
        "branch": "main",
        "created_at": f"{DAY}T09:00:00Z",
    }
    (drop / "vigil.json").write_text(json.dumps(sidecar))
    (drop / "report.xml").write_text(
        '<testsuite name="legacy"><testcase classname="legacy.Suite" name="works" time="0.2"/></testsuite>'
    )
    assets, _ = build_sql_assets(partitions_def=DAILY)
    wanted = {"seeds", "stg_test_results", "drift_series"}
    models = [a for a in assets if any(k.path[0] in wanted or k.path[-1] in wanted for k in a.keys)]
    with GitHubServer(org, token=TOKEN) as server:
        resources = _resources(server, tmp_path, landing, repos="acme/api,acme/web")
        assert dg.materialize(
            [github_actions_runs, junit_test_results], partition_key=DAY, resources=resources
        ).success
    assert dg.materialize(models, partition_key=DAY, resources={"warehouse": resources["warehouse"]}).success

    wh = Warehouse(tmp_path / "w.duckdb")
    raw = wh.query("SELECT job_id, job_match, report_path FROM raw.test_results")
    unattributed = raw[raw["job_match"] == "none"]
    assert len(unattributed) > 100 and unattributed["job_id"].isna().all()
    assert unattributed["report_path"].str.match(r"(junit-\d|artifact)/").all()
    # Two matrix jobs ran every test of a push: both executions stay, none folded into the other.
    assert wh.query("SELECT count(*) AS n FROM staging.stg_test_results")["n"][0] == len(raw)
    series = wh.query(
        "SELECT series_key, subject FROM marts.drift_series WHERE series_kind = 'test_duration'"
    )
    landing_rows = series[series["subject"].str.endswith("[landing]")]
    assert landing_rows["subject"].tolist() == ["legacy.Suite::works [landing]"]
    artifact_series = series[~series["subject"].str.endswith("[landing]")]
    unknown = artifact_series["subject"].str.endswith(" [unknown job]")
    assert unknown.sum() > 20  # passed executions on the default branch
    assert (artifact_series["series_key"].str.contains("|unknown job|", regex=False) == unknown).all()
    # The rest are attributed artifacts, labelled with their job's name.
    job_names = set(wh.query("SELECT DISTINCT job_name FROM raw.ci_jobs")["job_name"])
    assert set(artifact_series[~unknown]["subject"].str.rsplit(" [", n=1).str[1].str[:-1]) <= job_names
    assert not artifact_series["series_key"].str.contains("landing").any()
