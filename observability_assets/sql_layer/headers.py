"""The header comment block that documents a SQL model or a CSV seed.

A model (`--` comments) or seed (`#` comments) describes itself in the comment lines at the top of
its file; the block ends at the first line that is not a comment, so comments further down the
SQL stay ordinary comments. Each line is `key: value`; a
line indented by two or more extra spaces continues the previous value (description, column, tests).

    description: what one row is and what the table is for          (required)
    owner: team:name or an e-mail address                             (repeatable)
    materialized: table | view | incremental                          (models; default table)
    partition_column: the DATE column that holds the partition day    (incremental; default partition_day)
    column <name>: description                                        (one per column, required)
    column <name> <TYPE>: description                                 (seeds: the column's DuckDB type)
    tests: <test>; <test>; ...                                        (repeatable)
    source: where the figures come from                               (seeds)

Tests, each a Dagster asset check on the table:

    unique(col[, col ...])                  the columns together identify one row
    not_null(col[, col ...])                one check per column
    accepted_values(col: a, b, c)           every non-NULL value is one of the list (compared as text)
    accepted_range(col: low, high)          every non-NULL value lies in [low, high]; a bound may be empty
    relationships(col -> schema.table.col)  every non-NULL value exists in the other table

Incremental models read their partition window through two bound parameters, `$partition_start`
(first day, inclusive) and `$partition_end` (day after the last, exclusive), never through text
pasted into the SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

MATERIALIZATIONS = ("table", "view", "incremental")
PARTITION_PARAMETERS = ("partition_start", "partition_end")

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_KEY_LINE = re.compile(r"^(?P<key>[a-z_]+)(?:\s+(?P<arg>[^:]+?))?\s*:\s?(?P<value>.*)$")
_TEST = re.compile(r"^(?P<kind>[a-z_]+)\s*\((?P<args>.*)\)$")
# Types a seed may declare; they are pasted into a CAST, so only plain type names pass.
_SQL_TYPE = re.compile(r"^[A-Z][A-Z0-9_]*(\(\d+(,\s*\d+)?\))?$")
_OWNER = re.compile(r"^(team:[A-Za-z0-9_.-]+|[^@\s]+@[^@\s]+\.[^@\s]+)$")


class SqlLayerError(ValueError):
    """A model or seed file is invalid; the message starts with the file (and line) at fault."""


@dataclass(frozen=True)
class ColumnDoc:
    name: str
    description: str
    sql_type: str | None = None


@dataclass(frozen=True)
class ModelTest:
    """One declared test; `check_name` is the Dagster asset check it becomes."""

    kind: str
    columns: tuple[str, ...]
    values: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    to_table: str | None = None
    to_column: str | None = None

    @property
    def check_name(self) -> str:
        return f"{self.kind}_{'_'.join(self.columns)}"

    @property
    def description(self) -> str:
        column = self.columns[0]
        if self.kind == "unique":
            return f"({', '.join(self.columns)}) identifies one row"
        if self.kind == "not_null":
            return f"{column} is never NULL"
        if self.kind == "accepted_values":
            return f"{column} is one of {', '.join(self.values)}"
        if self.kind == "accepted_range":
            low = "-inf" if self.low is None else f"{self.low:g}"
            high = "inf" if self.high is None else f"{self.high:g}"
            return f"{column} lies in [{low}, {high}]"
        return f"every {column} exists in {self.to_table}.{self.to_column}"


@dataclass(frozen=True)
class Header:
    description: str
    owners: tuple[str, ...] = ()
    materialized: str = "table"
    partition_column: str | None = None
    columns: tuple[ColumnDoc, ...] = ()
    tests: tuple[ModelTest, ...] = ()
    source: str | None = None
    # Number of lines the block spans, so seed loaders can skip it.
    line_count: int = 0

    def column(self, name: str) -> ColumnDoc | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass
class _Draft:
    values: dict[str, list[str]] = field(default_factory=dict)
    columns: dict[str, list[str]] = field(default_factory=dict)
    column_types: dict[str, str] = field(default_factory=dict)
    column_lines: dict[str, int] = field(default_factory=dict)
    tests: list[tuple[int, list[str]]] = field(default_factory=list)


_SINGLE_KEYS = ("description", "materialized", "partition_column", "source")


def parse_header(text: str, path: Path, marker: str, *, typed_columns: bool = False) -> Header:
    """Parse the header block of `text`; errors name `path` and the line."""
    draft = _Draft()
    last: list[str] | None = None
    line_count = 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped.startswith(marker):
            if stripped or line_count:
                break  # the first line that is not a comment ends the block (leading blank lines do not)
            continue
        line_count = lineno
        body = stripped[len(marker) :]
        if not body.strip():
            last = None
        elif body.startswith("   "):
            if last is None:
                raise SqlLayerError(f"{path}:{lineno}: indented line continues nothing: {body.strip()!r}")
            last.append(body.strip())
        else:
            last = _read_line(draft, body.strip(), path, lineno, typed_columns)
    return _finish(draft, path, line_count)


def _read_line(draft: _Draft, body: str, path: Path, lineno: int, typed_columns: bool) -> list[str] | None:
    """Record one `key: value` line; returns the list a continuation line extends, if any."""
    match = _KEY_LINE.match(body)
    if not match:
        raise SqlLayerError(f"{path}:{lineno}: header line is not `key: value`: {body!r}")
    key, arg, value = match["key"], match["arg"], match["value"].strip()
    if key == "column":
        return _read_column(draft, arg, value, path, lineno, typed_columns)
    if arg is not None:
        raise SqlLayerError(f"{path}:{lineno}: `{key}` takes no argument before the colon")
    if key == "owner":
        draft.values.setdefault("owner", []).append(value)
        return None
    if key == "tests":
        draft.tests.append((lineno, [value]))
        return draft.tests[-1][1]
    if key not in _SINGLE_KEYS:
        known = ", ".join(sorted({*_SINGLE_KEYS, "owner", "tests", "column"}))
        raise SqlLayerError(f"{path}:{lineno}: unknown header key {key!r} (known: {known})")
    if key in draft.values:
        raise SqlLayerError(f"{path}:{lineno}: `{key}` is given twice")
    draft.values[key] = [value]
    return draft.values[key]


def _read_column(
    draft: _Draft, arg: str | None, value: str, path: Path, lineno: int, typed_columns: bool
) -> list[str]:
    parts = (arg or "").split()
    expected = 2 if typed_columns else 1
    if len(parts) != expected:
        form = "column <name> <TYPE>: description" if typed_columns else "column <name>: description"
        raise SqlLayerError(f"{path}:{lineno}: write `{form}`")
    name = parts[0]
    if not IDENTIFIER.match(name):
        raise SqlLayerError(f"{path}:{lineno}: column name {name!r} must be a lower-case identifier")
    if name in draft.columns:
        raise SqlLayerError(f"{path}:{lineno}: column {name!r} is described twice")
    if typed_columns:
        sql_type = parts[1].upper()
        if not _SQL_TYPE.match(sql_type):
            raise SqlLayerError(f"{path}:{lineno}: {parts[1]!r} is not a plain SQL type name")
        draft.column_types[name] = sql_type
    draft.columns[name] = [value]
    draft.column_lines[name] = lineno
    return draft.columns[name]


def _finish(draft: _Draft, path: Path, line_count: int) -> Header:
    def single(key: str) -> str | None:
        parts = draft.values.get(key)
        return " ".join(p for p in parts if p) if parts else None

    description = single("description")
    if not description:
        raise SqlLayerError(f"{path}: the header needs a `description:` line")
    materialized = single("materialized") or "table"
    if materialized not in MATERIALIZATIONS:
        raise SqlLayerError(f"{path}: materialized must be one of {', '.join(MATERIALIZATIONS)}")
    partition_column = single("partition_column")
    if materialized == "incremental":
        partition_column = partition_column or "partition_day"
        if not IDENTIFIER.match(partition_column):
            raise SqlLayerError(f"{path}: partition_column {partition_column!r} is not an identifier")
    elif partition_column:
        raise SqlLayerError(f"{path}: partition_column only applies to incremental models")
    owners = tuple(draft.values.get("owner", ()))
    for owner in owners:
        if not _OWNER.match(owner):
            raise SqlLayerError(f"{path}: owner {owner!r} must be `team:name` or an e-mail address")
    columns = tuple(
        ColumnDoc(name, " ".join(p for p in parts if p), draft.column_types.get(name))
        for name, parts in draft.columns.items()
    )
    for column in columns:
        if not column.description:
            raise SqlLayerError(
                f"{path}:{draft.column_lines[column.name]}: column {column.name!r} is undescribed"
            )
    tests = tuple(
        test for lineno, parts in draft.tests for test in parse_tests(" ".join(parts), path, lineno)
    )
    names = [t.check_name for t in tests]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SqlLayerError(f"{path}: tests declared twice: {', '.join(duplicates)}")
    return Header(
        description=description,
        owners=owners,
        materialized=materialized,
        partition_column=partition_column,
        columns=columns,
        tests=tests,
        source=single("source"),
        line_count=line_count,
    )


def parse_tests(value: str, path: Path, lineno: int) -> list[ModelTest]:
    """`unique(a, b); not_null(c)` -> tests; `not_null` with several columns gives one per column."""
    tests: list[ModelTest] = []
    for item in (part.strip() for part in value.split(";")):
        if not item:
            continue
        match = _TEST.match(item)
        if not match:
            raise SqlLayerError(f"{path}:{lineno}: cannot read test {item!r}; write kind(arguments)")
        kind, args = match["kind"], match["args"].strip()
        try:
            tests.extend(_build_tests(kind, args))
        except ValueError as error:
            raise SqlLayerError(f"{path}:{lineno}: test {item!r}: {error}") from None
    return tests


def _identifiers(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(","))
    for name in names:
        if not IDENTIFIER.match(name):
            raise ValueError(f"{name!r} is not a column name")
    return names


def _build_tests(kind: str, args: str) -> list[ModelTest]:
    if kind == "unique":
        return [ModelTest("unique", _identifiers(args))]
    if kind == "not_null":
        return [ModelTest("not_null", (name,)) for name in _identifiers(args)]
    if kind in ("accepted_values", "accepted_range"):
        column, sep, rest = args.partition(":")
        if not sep:
            raise ValueError(f"write {kind}(column: ...)")
        (name,) = _identifiers(column)
        items = tuple(part.strip() for part in rest.split(","))
        if kind == "accepted_values":
            if not all(items):
                raise ValueError("list at least one value, without empty entries")
            return [ModelTest(kind, (name,), values=items)]
        if len(items) != 2:
            raise ValueError("give two bounds: low, high (either may be empty)")
        low, high = (float(item) if item else None for item in items)
        if low is None and high is None:
            raise ValueError("give at least one bound")
        return [ModelTest(kind, (name,), low=low, high=high)]
    if kind == "relationships":
        column, sep, target = args.partition("->")
        parts = target.strip().split(".")
        if not sep or len(parts) != 3:
            raise ValueError("write relationships(column -> schema.table.column)")
        (name,) = _identifiers(column)
        schema, table, to_column = _identifiers(",".join(parts))
        return [ModelTest(kind, (name,), to_table=f"{schema}.{table}", to_column=to_column)]
    raise ValueError(
        f"unknown test {kind!r} (known: unique, not_null, accepted_values, accepted_range, relationships)"
    )
