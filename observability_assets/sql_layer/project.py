"""Read `dbt_like_sql/`: models, seeds, the tables each model reads, and the order to build them.

`dbt_like_sql/<schema>/<table>.sql` holds one SELECT; `dbt_like_sql/seeds/<table>.csv` one seed.
Upstream tables come from parsing the SQL with sqlglot (FROM and JOIN at every level, subqueries,
with CTE names resolved as CTEs), so the lineage is whatever the SQL actually reads. Everything
here is pure file reading and parsing: no database is opened.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from observability_assets.assetkit.load_cache import cached_parse
from observability_assets.sql_layer.headers import (
    IDENTIFIER,
    PARTITION_PARAMETERS,
    Header,
    SqlLayerError,
    parse_header,
)

SEEDS_SCHEMA = "seeds"
# Schemas other parts of Vigil own; a model folder may not write into them.
RESERVED_SCHEMAS = ("raw", "ops", SEEDS_SCHEMA)
# An inline comment that marks a DuckDB-only construct; its text is the reason (see the docs).
DUCKDB_ONLY_MARK = "-- duckdb-only:"


@dataclass(frozen=True)
class DuckdbOnly:
    line: int
    code: str
    reason: str


@dataclass(frozen=True)
class Model:
    path: Path
    schema: str
    name: str
    sql: str  # the file as written; it runs verbatim
    header: Header
    upstream: tuple[str, ...]  # qualified names of the tables it reads, sorted
    columns: tuple[str, ...]  # output columns in SELECT order
    duckdb_only: tuple[DuckdbOnly, ...] = ()

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def code_version(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]

    @property
    def query(self) -> str:
        """The SELECT without a trailing semicolon, ready to wrap in CREATE or INSERT."""
        return self.sql.strip().rstrip(";").rstrip()


@dataclass(frozen=True)
class Seed:
    path: Path
    name: str
    header: Header
    text: str

    schema = SEEDS_SCHEMA

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def code_version(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.header.columns)

    def csv_header(self) -> list[str]:
        return self._records()[0] if self._records() else []

    def rows(self) -> list[list[str]]:
        """Data rows below the CSV header line (the comment block is skipped)."""
        return self._records()[1:]

    def _records(self) -> list[list[str]]:
        body = self.text.splitlines()[self.header.line_count :]
        return [record for record in csv.reader(body) if record]


@dataclass(frozen=True)
class SqlProject:
    models: tuple[Model, ...]  # in build order: every model after the models it reads
    seeds: tuple[Seed, ...]
    sources: frozenset[str]  # tables produced outside the model layer (ingestion, Python marts)

    def node(self, qualified_name: str) -> Model | Seed | None:
        for node in (*self.models, *self.seeds):
            if node.qualified_name == qualified_name:
                return node
        return None

    def downstream(self, qualified_name: str) -> list[str]:
        return [m.qualified_name for m in self.models if qualified_name in m.upstream]


def load_project(models_dir: Path, seeds_dir: Path, source_tables: Iterable[str]) -> SqlProject:
    """Read every model and seed; unknown tables, bad headers and cycles raise `SqlLayerError`."""
    sources = frozenset(source_tables)
    seeds = tuple(read_seed(path) for path in sorted(Path(seeds_dir).glob("*.csv")))
    parsed = [read_model(path, models_dir) for path in sorted(Path(models_dir).glob("*/*.sql"))]
    known: dict[str, Path | None] = dict.fromkeys(sources)
    for node in (*seeds, *parsed):
        if node.qualified_name in known:
            where = known[node.qualified_name] or "a source asset"
            raise SqlLayerError(f"{node.path}: {node.qualified_name} is already produced by {where}")
        known[node.qualified_name] = node.path
    for model in parsed:
        _check_references(model, known)
    return SqlProject(models=_build_order(parsed), seeds=seeds, sources=sources)


def read_seed(path: Path) -> Seed:
    if not IDENTIFIER.match(path.stem):
        raise SqlLayerError(f"{path}: seed file names must be lower-case identifiers")
    text = path.read_text(encoding="utf-8")
    header = parse_header(text, path, "#", typed_columns=True)
    if header.materialized != "table" or header.partition_column:
        raise SqlLayerError(f"{path}: seeds are always tables")
    seed = Seed(path=path, name=path.stem, header=header, text=text)
    documented = [c.name for c in header.columns]
    if seed.csv_header() != documented:
        raise SqlLayerError(
            f"{path}: the CSV columns {seed.csv_header()} must match the documented columns {documented} in order"
        )
    _check_test_columns(path, header, set(documented))
    return seed


def read_model(path: Path, models_dir: Path) -> Model:
    schema, name = path.parent.name, path.stem
    if path.parent.parent.resolve() != Path(models_dir).resolve():
        raise SqlLayerError(f"{path}: models live one folder deep: <schema>/<table>.sql")
    if not IDENTIFIER.match(schema) or not IDENTIFIER.match(name):
        raise SqlLayerError(f"{path}: folder and file names must be lower-case identifiers")
    if schema in RESERVED_SCHEMAS:
        raise SqlLayerError(
            f"{path}: schema {schema!r} belongs to another part of Vigil; use staging or marts"
        )
    sql = path.read_text(encoding="utf-8")
    header = parse_header(sql, path, "--")
    # sqlglot's findings, cached by the file's hash: definitions load without importing sqlglot.
    found = cached_parse("model", sql, lambda text: analyse_model(path, text))
    columns = tuple(found["columns"])
    _check_documented_columns(path, header, columns)
    _check_parameters(path, header, set(found["parameters"]))
    return Model(
        path=path,
        schema=schema,
        name=name,
        sql=sql,
        header=header,
        upstream=tuple(found["upstream"]),
        columns=columns,
        duckdb_only=_duckdb_only_marks(sql),
    )


def analyse_model(path: Path, sql: str) -> dict[str, list[str]]:
    """What sqlglot finds in a model: output columns, `$parameters`, tables read."""
    import sqlglot
    from sqlglot import exp

    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except sqlglot.errors.ParseError as error:
        raise SqlLayerError(f"{path}: SQL does not parse: {error}") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise SqlLayerError(f"{path}: a model holds exactly one SELECT statement")
    query = statements[0]
    columns = list(query.named_selects)
    if "*" in columns or len(columns) != len(query.selects):
        raise SqlLayerError(f"{path}: name every output column (no SELECT * and no unnamed expressions)")
    return {
        "columns": columns,
        "parameters": sorted({p.name for p in query.find_all(exp.Placeholder)}),
        "upstream": sorted(_tables_read(path, query)),
    }


def _tables_read(path: Path, query) -> set[str]:
    from sqlglot import exp
    from sqlglot.optimizer.scope import traverse_scope

    tables: set[str] = set()
    # traverse_scope resolves CTE names to their CTE, so only real tables come out as exp.Table.
    for scope in traverse_scope(query):
        for source in scope.sources.values():
            if not isinstance(source, exp.Table):
                continue
            if not isinstance(source.this, exp.Identifier):
                raise SqlLayerError(
                    f"{path}: reads {source.sql('duckdb')}; models read only warehouse tables"
                )
            if not source.db or source.catalog:
                raise SqlLayerError(f"{path}: write table {source.name!r} as schema.table")
            tables.add(f"{source.db}.{source.name}")
    return tables


def _check_documented_columns(path: Path, header: Header, columns: tuple[str, ...]) -> None:
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise SqlLayerError(f"{path}: output columns named twice: {', '.join(duplicated)}")
    documented = [c.name for c in header.columns]
    missing = [c for c in columns if c not in documented]
    extra = [c for c in documented if c not in columns]
    if missing:
        raise SqlLayerError(f"{path}: describe every output column; missing `column <name>:` for {missing}")
    if extra:
        raise SqlLayerError(f"{path}: the header describes columns the SELECT does not produce: {extra}")
    if header.partition_column and header.partition_column not in columns:
        raise SqlLayerError(f"{path}: partition column {header.partition_column!r} is not an output column")
    _check_test_columns(path, header, set(columns))


def _check_test_columns(path: Path, header: Header, columns: set[str]) -> None:
    for test in header.tests:
        unknown = [c for c in test.columns if c not in columns]
        if unknown:
            raise SqlLayerError(f"{path}: test {test.check_name} names unknown columns {unknown}")


def _check_parameters(path: Path, header: Header, used: set[str]) -> None:
    if header.materialized == "incremental":
        missing = [p for p in PARTITION_PARAMETERS if p not in used]
        if missing:
            raise SqlLayerError(
                f"{path}: an incremental model filters its input on "
                f"${PARTITION_PARAMETERS[0]} and ${PARTITION_PARAMETERS[1]}; missing {missing}"
            )
        allowed = set(PARTITION_PARAMETERS)
    else:
        allowed = set()
    unknown = sorted(used - allowed)
    if unknown:
        raise SqlLayerError(
            f"{path}: parameters {unknown} are not allowed here (only incremental models take "
            f"${PARTITION_PARAMETERS[0]} and ${PARTITION_PARAMETERS[1]})"
        )


def _check_references(model: Model, known: Mapping[str, Path | None]) -> None:
    for table in model.upstream:
        if table not in known:
            raise SqlLayerError(
                f"{model.path}: reads {table}, which no model, seed or source asset produces "
                f"(known: {', '.join(sorted(known))})"
            )
    for test in model.header.tests:
        if test.to_table and test.to_table not in known:
            raise SqlLayerError(
                f"{model.path}: test {test.check_name} refers to unknown table {test.to_table}"
            )


def _build_order(models: list[Model]) -> tuple[Model, ...]:
    """Depth-first topological order; a cycle raises an error that names its files."""
    by_name = {m.qualified_name: m for m in models}
    done: set[str] = set()
    order: list[Model] = []

    def visit(model: Model, path: list[Model]) -> None:
        if model.qualified_name in done:
            return
        if model in path:
            cycle = path[path.index(model) :] + [model]
            names = " -> ".join(m.qualified_name for m in cycle)
            files = ", ".join(str(m.path) for m in cycle[:-1])
            raise SqlLayerError(f"{model.path}: models form a cycle: {names} (files: {files})")
        for table in model.upstream:
            if table in by_name:
                visit(by_name[table], [*path, model])
        done.add(model.qualified_name)
        order.append(model)

    for model in models:
        visit(model, [])
    return tuple(order)


def _duckdb_only_marks(sql: str) -> tuple[DuckdbOnly, ...]:
    marks = []
    for lineno, line in enumerate(sql.splitlines(), 1):
        code, sep, reason = line.partition(DUCKDB_ONLY_MARK)
        if sep:
            marks.append(DuckdbOnly(lineno, code.strip(), reason.strip()))
    return tuple(marks)
