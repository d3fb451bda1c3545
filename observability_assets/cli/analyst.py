"""Analyst access: SQL on the read-only snapshot (`vigil sql`) and the generated `docs/warehouse.md`.

`run_sql` opens the published snapshot read-only, so a query never waits for, or blocks, a run
writing the warehouse. `generate_warehouse_doc` writes the warehouse reference from the contract,
the model headers and the seeds; the column types come from building every model over empty
inputs in an in-memory DuckDB, so the document needs no warehouse and cannot drift from the SQL.
Regenerate it with `python -m observability_assets.cli.analyst docs/warehouse.md`.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

FORMATS = ("table", "csv", "json")
DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "warehouse.md"
# Any day works: the dry run only needs the incremental models' parameters bound.
_DRY_RUN_DAY = date(2000, 1, 1)


def run_sql(warehouse_snapshot_path: str | Path, sql: str, fmt: str = "table") -> str:
    """Run `sql` on the read-only analyst snapshot and render the result as a table, CSV or JSON."""
    import duckdb

    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    path = Path(warehouse_snapshot_path)
    if not path.exists():
        raise FileNotFoundError(
            f"no analyst snapshot at {path}; materialize some assets first (for example `make demo`)"
        )
    with duckdb.connect(str(path), read_only=True) as con:
        result = con.execute(sql)
        if result.description is None:
            return ""
        names = [d[0] for d in result.description]
        rows = result.fetchall()
    if fmt == "csv":
        return _csv(names, rows)
    if fmt == "json":
        return _json(names, rows)
    return _text_table(names, rows)


def _plain(value: Any) -> Any:
    """A JSON-friendly value: ISO dates and times, floats for decimals, None for NaN."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


def _json(names: list[str], rows: list[tuple[Any, ...]]) -> str:
    records = [{n: _plain(v) for n, v in zip(names, row, strict=True)} for row in rows]
    return json.dumps(records, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _csv(names: list[str], rows: list[tuple[Any, ...]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow(["" if v is None else _plain(v) for v in row])
    return out.getvalue()


def _text_table(names: list[str], rows: list[tuple[Any, ...]]) -> str:
    def cell(value: Any) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, float):
            return f"{value:.6g}"
        plain = _plain(value)
        return plain if isinstance(plain, str) else json.dumps(plain)

    cells = [[cell(v) for v in row] for row in rows]
    numeric = [
        all(isinstance(row[i], int | float | Decimal) or row[i] is None for row in rows)
        for i in range(len(names))
    ]
    widths = [max([len(n), *(len(r[i]) for r in cells)]) for i, n in enumerate(names)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return " | ".join(parts).rstrip()

    out = [line(names), "-+-".join("-" * w for w in widths)]
    out += [line(r) for r in cells]
    out.append(f"({len(rows)} row{'' if len(rows) == 1 else 's'})")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# docs/warehouse.md
# ---------------------------------------------------------------------------------------------


def generate_warehouse_doc(
    models_dir: Path | None = None,
    seeds_dir: Path | None = None,
    source_keys: Mapping[str, Any] | None = None,
) -> str:
    """Markdown reference of every contract table, seed and model: columns, types, lineage, tests."""
    from observability_assets.core.contract import TABLES
    from observability_assets.sql_layer.build import MODELS_DIR, SEEDS_DIR, load_sql_project

    project = load_sql_project(models_dir or MODELS_DIR, seeds_dir or SEEDS_DIR, source_keys)
    types = _dry_run_types(project)
    repo_root = DOC_PATH.parents[1]
    out: list[str] = [
        "# The Vigil warehouse",
        "",
        "<!-- Generated by `python -m observability_assets.cli.analyst docs/warehouse.md` from",
        "     observability_assets/core/contract.py and dbt_like_sql/. Do not edit by hand. -->",
        "",
        "One DuckDB file, one schema per layer: `raw` (ingestion), `seeds` (CSV reference data),",
        "`staging` (cleaned raw data), `marts` (figures people and sensors read) and `ops` (Vigil's own",
        "records). Every table and column below carries the same description as a DuckDB comment",
        "(`SELECT * FROM duckdb_columns()`) and as Dagster column metadata.",
        "",
        *_querying_section(),
        "## Lineage",
        "",
        *_mermaid(project),
        "## Tables",
        "",
        "| table | kind | description |",
        "|---|---|---|",
    ]
    contract_tables = list(TABLES)
    for spec in contract_tables:
        out.append(
            f"| [{spec.qualified_name}](#{_anchor(spec.qualified_name)}) | contract | {_first_sentence(spec.comment)} |"
        )
    for node in (*project.seeds, *project.models):
        kind = "seed" if node.schema == "seeds" else node.header.materialized
        out.append(
            f"| [{node.qualified_name}](#{_anchor(node.qualified_name)}) | {kind} | "
            f"{_first_sentence(node.header.description)} |"
        )
    out.append("")
    for schema in ("raw", "seeds", "staging", "marts", "ops"):
        out += [f"## Schema `{schema}`", ""]
        for spec in (t for t in contract_tables if t.schema == schema):
            out += _contract_section(spec, project)
        for node in (*project.seeds, *project.models):
            if node.schema == schema:
                out += _node_section(node, project, types, repo_root)
    out += _portability_section(project)
    return "\n".join(out).rstrip() + "\n"


def _querying_section() -> list[str]:
    return [
        "## Querying it",
        "",
        "Query the read-only analyst snapshot (`data/warehouse.snapshot.duckdb` next to",
        "`VIGIL_WAREHOUSE`): it is republished after every write, so queries never wait for a run and",
        "never block one. The DuckDB command-line tool from PyPI (`pip install duckdb-cli`, 1.5.x) opens it:",
        "",
        "```console",
        "$ duckdb -readonly data/warehouse.snapshot.duckdb",
        "D SELECT repo, day, runs, success_rate FROM marts.ci_daily_kpis ORDER BY day DESC LIMIT 5;",
        "```",
        "",
        "From Python or a notebook:",
        "",
        "```python",
        "import duckdb",
        "",
        'with duckdb.connect("data/warehouse.snapshot.duckdb", read_only=True) as con:',
        '    kpis = con.sql("SELECT * FROM marts.ci_daily_kpis").df()',
        "```",
        "",
        "Or through Vigil, as an aligned table, CSV or JSON:",
        "",
        "```console",
        '$ vigil sql "SELECT runner_type, sum(cost_usd) AS usd FROM marts.ci_cost_daily GROUP BY 1"',
        "```",
        "",
    ]


def _mermaid(project: Any) -> list[str]:
    lines = ["```mermaid", "flowchart LR"]
    names = sorted({*project.sources, *(n.qualified_name for n in (*project.seeds, *project.models))})
    used = {t for m in project.models for t in m.upstream} | {m.qualified_name for m in project.models}
    for name in names:
        if name in used:
            lines.append(f'  {name.replace(".", "_")}["{name}"]')
    for model in project.models:
        for table in model.upstream:
            lines.append(f"  {table.replace('.', '_')} --> {model.qualified_name.replace('.', '_')}")
    return [*lines, "```", ""]


def _contract_section(spec: Any, project: Any) -> list[str]:
    out = [f"### {spec.qualified_name}", "", spec.comment, ""]
    facts = ["Defined in `observability_assets/core/contract.py`."]
    if spec.partition_column:
        facts.append(f"Partitioned by day on `{spec.partition_column}`.")
    if spec.key:
        facts.append(f"One row per ({', '.join(spec.key)}).")
    readers = project.downstream(spec.qualified_name)
    if readers:
        facts.append("Read by " + ", ".join(f"`{r}`" for r in readers) + ".")
    out += [" ".join(facts), "", "| column | type | description |", "|---|---|---|"]
    out += [f"| {c.name} | {c.sql_type} | {_cell(c.comment)} |" for c in spec.columns]
    return [*out, ""]


def _node_section(
    node: Any, project: Any, types: Mapping[str, Mapping[str, str]], repo_root: Path
) -> list[str]:
    header = node.header
    out = [f"### {node.qualified_name}", "", header.description, ""]
    facts = [f"File: `{_relative(node.path, repo_root)}`."]
    if node.schema != "seeds":
        kind = header.materialized
        if kind == "incremental":
            kind += f", daily partitions on `{header.partition_column}`"
        facts.append(f"Materialized as {kind}.")
        facts.append("Reads " + ", ".join(f"`{t}`" for t in node.upstream) + ".")
    readers = project.downstream(node.qualified_name)
    if readers:
        facts.append("Read by " + ", ".join(f"`{r}`" for r in readers) + ".")
    if header.owners:
        facts.append("Owner: " + ", ".join(header.owners) + ".")
    out += [" ".join(facts), ""]
    if header.source:
        out += [f"Source: {header.source}", ""]
    column_types = types.get(node.qualified_name, {})
    out += ["| column | type | description |", "|---|---|---|"]
    out += [f"| {c.name} | {column_types.get(c.name, '')} | {_cell(c.description)} |" for c in header.columns]
    out.append("")
    if header.tests:
        out += ["Tests (Dagster asset checks, validated with Great Expectations):", ""]
        out += [f"- `{t.check_name}`: {t.description}" for t in header.tests]
        out.append("")
    return out


def _portability_section(project: Any) -> list[str]:
    out = [
        "## Portability",
        "",
        "Every model is plain SQL that sqlglot transpiles to Spark SQL and Postgres (a test checks it).",
        "sqlglot writes `PERCENTILE_CONT` as `PERCENTILE_APPROX` for Spark, an approximation; the",
        "partition parameters `$partition_start` / `$partition_end` become `:name` (Spark) and",
        "`%(name)s` (Postgres) placeholders.",
        "",
    ]
    marks = [(m, mark) for m in project.models for mark in m.duckdb_only]
    if not marks:
        return [*out, "DuckDB-only constructs: none.", ""]
    out += ["DuckDB-only constructs, each marked `-- duckdb-only:` beside it:", ""]
    out += [f"- `{m.qualified_name}` line {mark.line}: `{mark.code}` — {mark.reason}" for m, mark in marks]
    return [*out, ""]


def _dry_run_types(project: Any) -> dict[str, dict[str, str]]:
    """Column types of every seed and model, from building them over empty raw tables in memory."""
    import duckdb

    from observability_assets.sql_layer.materialize import Window, build_model, load_seed
    from resources.warehouse import create_schema

    window = Window(_DRY_RUN_DAY, _DRY_RUN_DAY + timedelta(days=1))
    types: dict[str, dict[str, str]] = {}
    with duckdb.connect(":memory:") as con:
        create_schema(con)
        for seed in project.seeds:
            types[seed.qualified_name] = dict(load_seed(con, seed).columns)
        for model in project.models:
            incremental = model.header.materialized == "incremental"
            built = build_model(con, model, window if incremental else None)
            types[model.qualified_name] = dict(built.columns)
    return types


def _first_sentence(text: str) -> str:
    head, sep, _ = text.partition(". ")
    return _cell(head + ("." if sep else ""))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _anchor(name: str) -> str:
    return name.replace(".", "")


def _relative(path: Path, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return str(path)


def write_warehouse_doc(path: Path = DOC_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(generate_warehouse_doc(), encoding="utf-8")
    return path


def _cmd_sql(args: argparse.Namespace) -> int:
    from resources.warehouse import Warehouse, WarehouseLockTimeout, warehouse_from_env

    configured = warehouse_from_env()
    snapshot = configured.snapshot_path
    if configured.snapshot_is_stale():
        # Writes publish at most every VIGIL_SNAPSHOT_INTERVAL_S: catch up first, unless a write
        # holds the lock; a query never waits long for a run.
        try:
            Warehouse(configured.path, snapshot, lock_timeout_s=2.0).publish_snapshot()
        except WarehouseLockTimeout:
            print("note: a write is in progress; querying the last published snapshot", file=sys.stderr)
    if not snapshot.exists():
        print(f"no analyst snapshot at {snapshot}: run `make demo` or `vigil run` first", file=sys.stderr)
        return 1
    print(run_sql(snapshot, args.query, args.format), end="")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    sql = commands.add_parser("sql", help="query the read-only analyst snapshot")
    sql.add_argument("query", help='a SQL query, e.g. "SELECT * FROM marts.ci_daily_kpis LIMIT 5"')
    sql.add_argument("--format", choices=FORMATS, default="table")
    sql.set_defaults(handler=_cmd_sql)


def write_parse_cache() -> Path:
    """Regenerate what sqlglot finds in every model and baseline query (`dbt_like_sql/parse_cache.json`),
    so the definitions load without importing sqlglot."""
    from functools import partial

    from observability_assets.assetkit.load_cache import write_cache
    from observability_assets.derived.baselines import baseline_tables, baselines_dir, load_manifest
    from observability_assets.sql_layer.build import MODELS_DIR
    from observability_assets.sql_layer.project import analyse_model

    items = [
        ("model", path.read_text(encoding="utf-8"), partial(analyse_model, path))
        for path in sorted(MODELS_DIR.glob("*/*.sql"))
    ]
    items += [("baseline", spec.sql, baseline_tables) for spec in load_manifest(baselines_dir()) if spec.sql]
    return write_cache(items)


if __name__ == "__main__":
    target = write_warehouse_doc(Path(sys.argv[1]) if len(sys.argv) > 1 else DOC_PATH)
    print(f"wrote {target}")
    print(f"wrote {write_parse_cache()}")
