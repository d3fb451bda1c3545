"""The SQL model layer at load time: headers, lineage from sqlglot, errors that name the file,
portability of every shipped model, and the shipped seeds. Nothing here opens a database."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from observability_assets.sql_layer.build import (
    MODELS_DIR,
    build_sql_assets,
    contract_source_keys,
    load_sql_project,
)
from observability_assets.sql_layer.headers import ModelTest, SqlLayerError, parse_header

DAILY = dg.DailyPartitionsDefinition(start_date="2026-10-01", timezone="UTC")
SOURCES = contract_source_keys()

# What each shipped model reads, as the Dagster graph must show it.
EXPECTED_LINEAGE = {
    "staging/stg_ci_runs": {"raw/ci_runs"},
    "staging/stg_ci_jobs": {"raw/ci_jobs", "seeds/runner_labels", "seeds/runner_prices"},
    "staging/stg_test_results": {"raw/test_results"},
    "marts/ci_daily_kpis": {"staging/stg_ci_runs"},
    "marts/ci_cost_daily": {"staging/stg_ci_jobs", "seeds/runner_prices"},
    "marts/test_daily": {"staging/stg_test_results"},
    "marts/delivery_metrics": {"staging/stg_ci_runs", "seeds/repo_default_branches"},
    "marts/drift_series": {
        "seeds/repo_default_branches",
        "raw/ci_runs",
        "raw/ci_jobs",
        "staging/stg_test_results",
        "raw/health_probes",
        "raw/shadow_samples",
        "raw/benchmarks",
    },
    "staging/test_job_health": {"staging/stg_test_results", "seeds/repo_default_branches"},
    "staging/test_commit_outcomes": {"staging/stg_test_results", "staging/test_job_health"},
    "staging/test_cases": {"staging/stg_test_results"},
    "marts/flaky_history": {"marts/flaky_daily"},
    "marts/coverage_daily": {"raw/coverage_files", "seeds/repo_default_branches"},
    "marts/dependency_risk": {"raw/dependency_alerts", "seeds/advisory_slas"},
}


def graph(assets: list[dg.AssetsDefinition]) -> dict[str, set[str]]:
    return {
        key.to_user_string(): {dep.to_user_string() for dep in deps}
        for asset in assets
        for key, deps in asset.asset_deps.items()
    }


def write(folder: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (folder / "seeds").mkdir(exist_ok=True)
    return folder


def model(select: str, columns: tuple[str, ...] = ("run_id",), extra: str = "") -> str:
    documented = "".join(f"-- column {c}: The {c}.\n" for c in columns)
    return f"-- description: A test model.\n{extra}{documented}{select}\n"


# ---------------------------------------------------------------------------------------------
# The shipped project
# ---------------------------------------------------------------------------------------------


def test_shipped_models_have_lineage_from_raw_to_marts() -> None:
    assets, _ = build_sql_assets(partitions_def=DAILY)
    lineage = graph(assets)
    assert {k: v for k, v in lineage.items() if k in EXPECTED_LINEAGE} == EXPECTED_LINEAGE
    defs = dg.Definitions(assets=assets, resources={"warehouse": dg.ResourceDefinition.none_resource()})
    asset_graph = defs.resolve_asset_graph()
    ancestors = asset_graph.get(dg.AssetKey(["marts", "ci_daily_kpis"])).parent_keys
    assert dg.AssetKey(["staging", "stg_ci_runs"]) in ancestors
    assert (
        dg.AssetKey(["raw", "ci_runs"])
        in asset_graph.get(dg.AssetKey(["staging", "stg_ci_runs"])).parent_keys
    )


def test_shipped_assets_carry_groups_kinds_owners_and_descriptions() -> None:
    assets, checks = build_sql_assets(partitions_def=DAILY)
    by_key = {a.key.to_user_string(): a for a in assets}
    for name in EXPECTED_LINEAGE:
        asset = by_key[name]
        spec = next(iter(asset.specs))
        assert spec.group_name == name.split("/")[0]
        assert spec.kinds == {"sql", "duckdb"}
        assert spec.description and spec.owners
        assert "```sql" in spec.metadata["sql"].value
    assert by_key["staging/stg_ci_runs"].partitions_def == DAILY
    assert by_key["marts/ci_daily_kpis"].partitions_def is None
    seed = next(iter(by_key["seeds/runner_prices"].specs))
    assert (seed.group_name, seed.kinds) == ("seeds", {"csv", "duckdb"})
    # One multi-asset check per table with tests, one check per declared test.
    check_keys = {(k.asset_key.to_user_string(), k.name) for c in checks for k in c.check_keys}
    assert ("marts/ci_daily_kpis", "unique_repo_workflow_name_day") in check_keys
    assert ("staging/stg_ci_jobs", "relationships_runner_type") in check_keys
    assert ("seeds/runner_prices", "accepted_range_usd_per_minute") in check_keys


def test_source_tables_map_to_the_given_asset_keys() -> None:
    keys = {**SOURCES, "raw.ci_runs": dg.AssetKey(["ingest", "github_runs"])}
    assets, _ = build_sql_assets(source_keys=keys, partitions_def=DAILY)
    assert graph(assets)["staging/stg_ci_runs"] == {"ingest/github_runs"}


@pytest.mark.parametrize(
    "path", sorted(MODELS_DIR.glob("*/*.sql")), ids=lambda p: f"{p.parent.name}.{p.stem}"
)
@pytest.mark.parametrize("dialect", ["spark", "postgres"])
def test_every_model_transpiles(path: Path, dialect: str) -> None:
    (out,) = sqlglot.transpile(
        path.read_text(), read="duckdb", write=dialect, unsupported_level=ErrorLevel.RAISE
    )
    assert "SELECT" in out


def test_loading_parses_files_only_and_is_cheap(monkeypatch: pytest.MonkeyPatch) -> None:
    import duckdb

    def refuse(*args, **kwargs):
        raise AssertionError("the model layer opened a database at load time")

    monkeypatch.setattr(duckdb, "connect", refuse)
    load_sql_project()  # warm imports (sqlglot's optimizer modules)
    began = time.process_time()  # CPU time: other processes on a busy machine do not count
    project = load_sql_project()
    seconds = time.process_time() - began
    assert len(project.models) == len(EXPECTED_LINEAGE)
    # About 60 ms here for seven models (twelve now); the budget leaves room for a slow machine.
    assert seconds < 0.3, f"loading the SQL project took {seconds:.3f} s"
    build_sql_assets(partitions_def=DAILY)


# GitHub's per-minute list prices (GitHub Docs, "Actions runner pricing"), as the brief states them.
PUBLISHED_PRICES = [
    ("linux_2core", "Linux", 2, 0.006),
    ("windows_2core", "Windows", 2, 0.010),
    ("macos", "macOS", 3, 0.062),
    ("linux_4core", "Linux", 4, 0.012),
    ("linux_8core", "Linux", 8, 0.022),
    ("linux_16core", "Linux", 16, 0.042),
    ("linux_32core", "Linux", 32, 0.082),
    ("linux_64core", "Linux", 64, 0.162),
]


def test_runner_price_seed_matches_githubs_published_prices() -> None:
    seed = next(s for s in load_sql_project().seeds if s.name == "runner_prices")
    rows = {r[0]: r for r in seed.rows()}
    for runner_type, os_name, cores, price in PUBLISHED_PRICES:
        assert rows[runner_type][1:3] == [os_name, str(cores)]
        assert float(rows[runner_type][4]) == price
    standard = sorted(r[1] for r in rows.values() if r[3] == "true")
    assert standard == ["Linux", "Windows", "macOS"]
    assert "docs.github.com" in (seed.header.source or "")


def test_runner_labels_only_name_priced_runner_types() -> None:
    project = load_sql_project()
    prices = {r[0] for r in next(s for s in project.seeds if s.name == "runner_prices").rows()}
    labels = next(s for s in project.seeds if s.name == "runner_labels")
    with labels.path.open() as handle:
        body = [line for line in handle if not line.startswith("#")]
    assert {row["runner_type"] for row in csv.DictReader(body)} <= prices


# ---------------------------------------------------------------------------------------------
# Lineage follows the SQL
# ---------------------------------------------------------------------------------------------


def test_editing_a_models_from_changes_the_graph(tmp_path: Path) -> None:
    folder = write(tmp_path, {"marts/m.sql": model("SELECT run_id FROM raw.ci_runs")})
    assert graph(build_sql_assets(folder, folder / "seeds")[0])["marts/m"] == {"raw/ci_runs"}
    write(
        tmp_path,
        {
            "marts/m.sql": model(
                "SELECT j.run_id FROM raw.ci_jobs AS j JOIN raw.test_results t USING (run_id)"
            )
        },
    )
    assert graph(build_sql_assets(folder, folder / "seeds")[0])["marts/m"] == {
        "raw/ci_jobs",
        "raw/test_results",
    }


def test_ctes_are_not_tables_but_subqueries_and_joins_are(tmp_path: Path) -> None:
    sql = """
    WITH ci_runs AS (SELECT run_id FROM raw.ci_runs),
         picked AS (SELECT r.run_id FROM ci_runs AS r JOIN staging.base AS b ON b.run_id = r.run_id)
    SELECT run_id FROM picked
    WHERE EXISTS (SELECT 1 FROM raw.ci_jobs AS j WHERE j.run_id = picked.run_id)
      AND run_id IN (SELECT run_id FROM (SELECT run_id FROM raw.test_results) AS nested)
    """
    folder = write(
        tmp_path,
        {"marts/m.sql": model(sql), "staging/base.sql": model("SELECT run_id FROM raw.ci_runs")},
    )
    project = load_sql_project(folder, folder / "seeds", SOURCES)
    m = next(x for x in project.models if x.name == "m")
    assert m.upstream == ("raw.ci_jobs", "raw.ci_runs", "raw.test_results", "staging.base")
    assert [x.name for x in project.models].index("base") < [x.name for x in project.models].index("m")


# ---------------------------------------------------------------------------------------------
# Errors at load time name the file at fault
# ---------------------------------------------------------------------------------------------

INCREMENTAL = "-- materialized: incremental\n-- partition_column: run_id\n"
ERRORS = [
    ("unknown table", {"marts/m.sql": model("SELECT run_id FROM raw.nope")}, "marts/m.sql", r"reads raw\.nope, which no model"),
    ("cycle", {"marts/a.sql": model("SELECT run_id FROM marts.b"), "marts/b.sql": model("SELECT run_id FROM marts.a")},
     "marts/a.sql", r"cycle: marts\.a -> marts\.b -> marts\.a .*marts/b\.sql"),
    ("reads itself", {"marts/a.sql": model("SELECT run_id FROM marts.a")}, "marts/a.sql", r"cycle: marts\.a -> marts\.a"),
    ("unqualified table", {"marts/m.sql": model("SELECT run_id FROM ci_runs")}, "marts/m.sql", r"as schema\.table"),
    ("table function", {"marts/m.sql": model("SELECT range AS run_id FROM range(3)")}, "marts/m.sql", r"only warehouse tables"),
    ("select star", {"marts/m.sql": model("SELECT * FROM raw.ci_runs")}, "marts/m.sql", r"no SELECT \*"),
    ("undocumented column", {"marts/m.sql": model("SELECT run_id, repo FROM raw.ci_runs")}, "marts/m.sql",
     r"missing `column <name>:` for \['repo'\]"),
    ("documented extra column", {"marts/m.sql": model("SELECT run_id FROM raw.ci_runs", ("run_id", "repo"))},
     "marts/m.sql", r"does not produce: \['repo'\]"),
    ("two statements", {"marts/m.sql": model("SELECT run_id FROM raw.ci_runs; SELECT 1 AS run_id")}, "marts/m.sql",
     r"exactly one SELECT"),
    ("syntax error", {"marts/m.sql": model("SELECT run_id FROM raw.ci_runs WHERE (")}, "marts/m.sql", r"does not parse"),
    ("incremental without window", {"staging/m.sql": model("SELECT run_id FROM raw.ci_runs", extra=INCREMENTAL)},
     "staging/m.sql", r"\$partition_start and \$partition_end; missing"),
    ("window in a table model", {"marts/m.sql": model("SELECT run_id FROM raw.ci_runs WHERE partition_day = $partition_start")},
     "marts/m.sql", r"parameters \['partition_start'\] are not allowed"),
    ("unknown header key", {"marts/m.sql": "-- description: x\n-- colour: blue\nSELECT 1 AS run_id\n"}, "marts/m.sql:2",
     r"unknown header key 'colour'"),
    ("no description", {"marts/m.sql": "-- column run_id: x\nSELECT run_id FROM raw.ci_runs\n"}, "marts/m.sql",
     r"needs a `description:`"),
    ("bad owner", {"marts/m.sql": model("SELECT run_id FROM raw.ci_runs", extra="-- owner: platform people\n")},
     "marts/m.sql", r"owner 'platform people'"),
    ("bad test", {"marts/m.sql": model("SELECT run_id FROM raw.ci_runs", extra="-- tests: unique run_id\n")},
     "marts/m.sql:2", r"cannot read test"),
    ("test on unknown column", {"marts/m.sql": model("SELECT run_id FROM raw.ci_runs", extra="-- tests: not_null(repo)\n")},
     "marts/m.sql", r"not_null_repo names unknown columns \['repo'\]"),
    ("relationship to unknown table",
     {"marts/m.sql": model("SELECT run_id FROM raw.ci_runs", extra="-- tests: relationships(run_id -> raw.nope.id)\n")},
     "marts/m.sql", r"refers to unknown table raw\.nope"),
    ("model in the raw schema", {"raw/m.sql": model("SELECT run_id FROM raw.ci_runs")}, "raw/m.sql",
     r"belongs to another part of Vigil"),
    ("seed columns differ", {"seeds/s.csv": "# description: x\n# column a VARCHAR: A.\na,b\n1,2\n"}, "seeds/s.csv",
     r"CSV columns \['a', 'b'\] must match"),
    ("seed column without type", {"seeds/s.csv": "# description: x\n# column a: A.\na\n1\n"}, "seeds/s.csv:2",
     r"column <name> <TYPE>"),
]  # fmt: skip


@pytest.mark.parametrize(("label", "files", "where", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_invalid_projects_fail_at_load_naming_the_file(
    tmp_path: Path, label: str, files: dict[str, str], where: str, message: str
) -> None:
    folder = write(tmp_path, files)
    with pytest.raises(SqlLayerError, match=message) as raised:
        build_sql_assets(folder, folder / "seeds", partitions_def=DAILY)
    assert str(raised.value).startswith(str(tmp_path / where)), label


def test_incremental_models_need_a_partitions_definition(tmp_path: Path) -> None:
    sql = "SELECT run_id, partition_day FROM raw.ci_runs WHERE partition_day >= $partition_start AND partition_day < $partition_end"
    folder = write(
        tmp_path, {"staging/m.sql": model(sql, ("run_id", "partition_day"), "-- materialized: incremental\n")}
    )
    with pytest.raises(SqlLayerError, match=r"staging/m\.sql: incremental models need"):
        build_sql_assets(folder, folder / "seeds")
    assets, _ = build_sql_assets(folder, folder / "seeds", partitions_def=DAILY)
    assert assets[0].partitions_def == DAILY


def test_a_model_may_not_shadow_a_source_asset(tmp_path: Path) -> None:
    folder = write(tmp_path, {"marts/flaky_scores.sql": model("SELECT run_id FROM raw.ci_runs")})
    sources = {**SOURCES, "marts.flaky_scores": dg.AssetKey(["marts", "flaky_scores"])}
    with pytest.raises(
        SqlLayerError, match=r"marts/flaky_scores\.sql: marts\.flaky_scores is already produced"
    ):
        build_sql_assets(folder, folder / "seeds", sources)


def test_dagster_rejections_name_the_file(tmp_path: Path) -> None:
    folder = write(
        tmp_path, {"marts/m.sql": model("SELECT run_id FROM raw.ci_runs", extra="-- owner: team:has space\n")}
    )
    with pytest.raises(SqlLayerError, match=r"marts/m\.sql"):
        build_sql_assets(folder, folder / "seeds")


# ---------------------------------------------------------------------------------------------
# Header blocks
# ---------------------------------------------------------------------------------------------


def test_header_reads_continuations_columns_and_tests() -> None:
    text = (
        "-- description: First line\n"
        "--   and its continuation.\n"
        "-- owner: team:platform\n"
        "-- owner: ana@example.com\n"
        "-- materialized: incremental\n"
        "-- column repo: Repository\n"
        "--   as owner/name.\n"
        "-- tests: unique(repo, day); not_null(repo,\n"
        "--   day)\n"
        "-- tests: accepted_values(state: open, closed); accepted_range(rate: 0, )\n"
        "-- tests: relationships(repo -> seeds.repos.name)\n"
        "\n"
        "-- an ordinary comment: the blank line above ended the header\n"
        "SELECT 1\n"
    )
    header = parse_header(text, Path("m.sql"), "--")
    assert header.description == "First line and its continuation."
    assert header.owners == ("team:platform", "ana@example.com")
    assert header.materialized == "incremental" and header.partition_column == "partition_day"
    assert header.column("repo").description == "Repository as owner/name."
    assert header.tests == (
        ModelTest("unique", ("repo", "day")),
        ModelTest("not_null", ("repo",)),
        ModelTest("not_null", ("day",)),
        ModelTest("accepted_values", ("state",), values=("open", "closed")),
        ModelTest("accepted_range", ("rate",), low=0.0),
        ModelTest("relationships", ("repo",), to_table="seeds.repos", to_column="name"),
    )
    assert [t.check_name for t in header.tests] == [
        "unique_repo_day",
        "not_null_repo",
        "not_null_day",
        "accepted_values_state",
        "accepted_range_rate",
        "relationships_repo",
    ]
    assert header.line_count == 11


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("-- tests: accepted_range(rate: , )", "at least one bound"),
        ("-- tests: accepted_values(state)", r"accepted_values\(column: \.\.\.\)"),
        ("-- tests: relationships(repo -> repos.name)", r"schema\.table\.column"),
        ("-- tests: unique(repo); unique(repo)", "declared twice"),
        ("-- tests: between(rate: 0, 1)", "unknown test 'between'"),
        ("-- materialized: ephemeral", "materialized must be one of"),
        ("-- partition_column: day", "only applies to incremental"),
        ("--   dangling continuation", "continues nothing"),
    ],
)
def test_header_mistakes_are_reported(line: str, message: str) -> None:
    text = (
        f"{line}\n-- description: x\n-- column repo: r.\n-- column rate: r.\n-- column state: s.\nSELECT 1\n"
    )
    with pytest.raises(SqlLayerError, match=message):
        parse_header(text, Path("m.sql"), "--")
