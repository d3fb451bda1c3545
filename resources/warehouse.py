"""The DuckDB warehouse: one file, one writer at a time, many readers of a published snapshot.

DuckDB lets only one process open a database file read-write. Dagster runs steps in separate
processes and analysts query while runs write, so every access here goes through a cross-process
file lock that is held only around a short read or write (never while computing or calling the
network). After a write the file is checkpointed and, at most every `VIGIL_SNAPSHOT_INTERVAL_S`
(and by `analyst_snapshot_sensor` when writes stop), copied atomically to a read-only analyst
snapshot, which the DuckDB CLI and notebooks open without ever blocking a run.

Nothing here touches the disk at import time or when the resource is constructed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import shutil
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from observability_assets.core.contract import (
    CONTRACT_VERSION,
    SCHEMAS,
    TABLES,
    WAREHOUSE_ORIGIN,
    Table,
    table,
)
from resources.paths import data_path

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

    Frame = pd.DataFrame | pa.Table

# Files written with this storage version open in the DuckDB CLI that analysts can install from
# PyPI (duckdb-cli 1.5.x); the default of duckdb 2.x would not (FACTS.md: "version number 69").
STORAGE_COMPATIBILITY_VERSION = "v1.5.0"

# `VIGIL_WAREHOUSE` when unset.
# `VIGIL_SNAPSHOT_INTERVAL_S` when unset. Publishing copies the whole file (35 ms for 37 MB, about
# half a second for a year of probes: docs/performance.md), so a burst of writes publishes once.
DEFAULT_SNAPSHOT_INTERVAL_S = 30.0


class WarehouseLockTimeout(TimeoutError):
    """Raised when the warehouse lock could not be taken in time; names the holder."""


@dataclass
class WarehouseLock:
    """Cross-process lock with bounded, jittered waiting and a record of who holds it."""

    path: Path
    timeout_s: float = 120.0
    poll_min_s: float = 0.01
    poll_max_s: float = 0.25
    _depth: int = field(default=0, init=False)
    _lock: Any = field(default=None, init=False)
    # The file lock is one per process (re-entrant for every thread), so threads sharing this
    # object, such as the sensors of one code server, also queue on this in-process lock.
    _threads: threading.RLock = field(default_factory=threading.RLock, init=False)

    @property
    def holder_path(self) -> Path:
        return self.path.with_name(self.path.name + ".holder")

    @contextmanager
    def hold(self, purpose: str) -> Iterator[None]:
        deadline = time.monotonic() + self.timeout_s
        if not self._threads.acquire(timeout=self.timeout_s):
            raise WarehouseLockTimeout(
                f"warehouse lock {self.path} not acquired within {self.timeout_s:.0f} s for {purpose!r}; "
                f"held by another thread of this process ({self._describe_holder()})"
            )
        try:
            with self._hold_file(purpose, deadline):
                yield
        finally:
            self._threads.release()

    @contextmanager
    def _hold_file(self, purpose: str, deadline: float) -> Iterator[None]:
        # Re-entrant within one thread so a write may call helpers that also take the lock.
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        from filelock import FileLock, Timeout

        if self._lock is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = FileLock(str(self.path), thread_local=False)
        delay = self.poll_min_s
        while True:
            try:
                self._lock.acquire(timeout=0)
                break
            except Timeout:
                if time.monotonic() >= deadline:
                    raise WarehouseLockTimeout(
                        f"warehouse lock {self.path} not acquired within {self.timeout_s:.0f} s "
                        f"for {purpose!r}; held by {self._describe_holder()}"
                    ) from None
                # Jitter spreads out waiters so four runs finishing together do not stampede.
                time.sleep(random.uniform(self.poll_min_s, delay))
                delay = min(delay * 2, self.poll_max_s)
        self._depth = 1
        try:
            self.holder_path.write_text(
                json.dumps(
                    {
                        "pid": os.getpid(),
                        "host": socket.gethostname(),
                        "purpose": purpose,
                        "since": datetime.now(UTC).isoformat(timespec="seconds"),
                    }
                )
            )
            yield
        finally:
            self._depth = 0
            self._lock.release()

    def _describe_holder(self) -> str:
        try:
            info = json.loads(self.holder_path.read_text())
        except (OSError, ValueError):
            return "an unknown process"
        return f"pid {info.get('pid')} on {info.get('host')} ({info.get('purpose')!r}, since {info.get('since')})"


class Warehouse:
    """Short, locked access to the warehouse file plus the analyst snapshot it publishes."""

    def __init__(
        self,
        path: str | Path,
        snapshot_path: str | Path | None = None,
        lock_timeout_s: float = 120.0,
        snapshot_interval_s: float = DEFAULT_SNAPSHOT_INTERVAL_S,
        origin: str = "",
    ):
        """A write publishes the snapshot only when the last publication is `snapshot_interval_s`
        old (0: after every write): the copy costs as much as the whole file, so after every write
        of a run, or every minute's probes, it would cost more than the writes. What a skipped
        publication leaves behind goes out with the next due write or `publish_snapshot()`, which
        `analyst_snapshot_sensor` calls every 30 s when the snapshot is behind, and `vigil run` at
        its end. `origin="demo"` marks the warehouse as holding simulated data (`ops.warehouse_origin`)
        with its first write."""
        self.path = Path(path)
        self.snapshot_path = Path(snapshot_path) if snapshot_path else default_snapshot_path(self.path)
        self.lock = WarehouseLock(self.path.with_name(self.path.name + ".lock"), timeout_s=lock_timeout_s)
        self.snapshot_interval_s = snapshot_interval_s
        self.origin = origin
        self._schema_ready = False

    def _connect(self) -> duckdb.DuckDBPyConnection:
        import duckdb

        self.path.parent.mkdir(parents=True, exist_ok=True)
        return duckdb.connect(
            str(self.path), config={"storage_compatibility_version": STORAGE_COMPATIBILITY_VERSION}
        )

    @contextmanager
    def read(self, purpose: str = "read") -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for a short read. Keep the block small: the lock is held throughout."""
        with self.lock.hold(purpose):
            con = self._connect()
            try:
                self._ensure_schema(con)
                yield con
            finally:
                con.close()

    @contextmanager
    def write(self, purpose: str = "write", publish: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for a short write; on success the analyst snapshot is republished."""
        with self.lock.hold(purpose):
            con = self._connect()
            try:
                self._ensure_schema(con)
                yield con
                con.execute("CHECKPOINT")
            finally:
                con.close()
            if publish and self._snapshot_due():
                self._publish_snapshot()

    def _ensure_schema(self, con: duckdb.DuckDBPyConnection) -> None:
        # Once per process: readers of a fresh warehouse see empty contract tables, not errors.
        if not self._schema_ready:
            create_schema(con)
            if self.origin:
                con.execute(
                    f"INSERT INTO {WAREHOUSE_ORIGIN.qualified_name} SELECT ?, now()::TIMESTAMP "  # noqa: S608
                    f"WHERE NOT EXISTS (SELECT 1 FROM {WAREHOUSE_ORIGIN.qualified_name} WHERE origin = ?)",
                    [self.origin, self.origin],
                )
            self._schema_ready = True

    def holds_simulated_data(self) -> bool:
        """Demo mode wrote to this warehouse (`ops.warehouse_origin`)."""
        with self.read("warehouse origin") as con:
            rows = con.execute(
                f"SELECT count(*) FROM {WAREHOUSE_ORIGIN.qualified_name} WHERE origin = 'demo'"  # noqa: S608
            ).fetchall()
        return rows[0][0] > 0

    def _snapshot_due(self) -> bool:
        if self.snapshot_interval_s <= 0:
            return True
        try:
            age = time.time() - self.snapshot_path.stat().st_mtime
        except FileNotFoundError:
            return True
        return age >= self.snapshot_interval_s

    def snapshot_is_stale(self) -> bool:
        """The warehouse holds writes the analyst snapshot does not show yet."""
        try:
            return self.path.stat().st_mtime > self.snapshot_path.stat().st_mtime
        except FileNotFoundError:
            return self.path.exists()

    def publish_snapshot(self) -> bool:
        """Publish now if the snapshot is behind; returns whether a copy was made."""
        with self.lock.hold("publish analyst snapshot"):
            if not self.snapshot_is_stale():
                return False
            self._publish_snapshot()
            return True

    def _publish_snapshot(self) -> None:
        # Copy then rename: readers see either the old or the new snapshot, never half of one.
        # An analyst holding the old file open keeps reading the old inode undisturbed.
        self.snapshot_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.snapshot_path.with_name(f".{self.snapshot_path.name}.{os.getpid()}.tmp")
        shutil.copyfile(self.path, tmp)
        os.replace(tmp, self.snapshot_path)

    def ensure_schema(self) -> None:
        with self.write("ensure schema"):
            pass

    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        with self.read("query") as con:
            return con.execute(sql, params or []).df()

    def replace_partition(
        self,
        target: Table | str,
        partition_key: str,
        frame: Frame,
        computed: Mapping[str, str] | None = None,
    ) -> int:
        """Replace exactly one daily partition of `target` with `frame`, in one transaction.

        `frame` (pandas or Arrow) holds contract columns; `partition_day` and `ingested_at` are
        filled in here. `computed` maps a column to a SQL expression over the frame's columns, so
        per-row work such as hashing runs inside DuckDB instead of Python.
        """
        spec = target if isinstance(target, Table) else table(target)
        counts = self.replace_partitions(partition_key, {spec: frame}, {spec.qualified_name: computed or {}})
        return counts[spec.qualified_name]

    def replace_partitions(
        self,
        partition_key: str,
        frames: Mapping[Table | str, Frame],
        computed: Mapping[str, Mapping[str, str]] | None = None,
        rejections: Mapping[str, list[tuple[str, str]]] | None = None,
        redactions: Mapping[str, Mapping[str, int]] | None = None,
        source_totals: Mapping[str, list[tuple[str, str, int]]] | None = None,
    ) -> dict[str, int]:
        """Replace one partition of several tables (and, optionally, the partition's rejections,
        as `{source: [(path_or_url, reason)]}`, and its redaction counts, as `{source: {kind:
        count}}`, and what the source said it had, as `{source: [(repo, measure, total)]}`) in a
        single transaction: readers see all of the new day or none of it."""
        specs = [(f if isinstance(f, Table) else table(f), frame) for f, frame in frames.items()]
        plans = []
        for spec, frame in specs:
            if spec.partition_column is None:
                raise ValueError(f"{spec.qualified_name} is not partitioned")
            plans.append(
                (spec, frame, _select_list(spec, frame, (computed or {}).get(spec.qualified_name, {})))
            )
        names = ", ".join(spec.qualified_name for spec, _ in specs)
        counts: dict[str, int] = {}
        # Identifiers below come from contract.py, never from data; every value is a parameter.
        with self.write(f"replace {names} partition {partition_key}") as con:
            # Row order inside a partition means nothing (readers sort); not keeping it lets
            # DuckDB insert from all threads at once: a million-row load takes ~40% less time.
            con.execute("SET preserve_insertion_order = false")
            con.execute("BEGIN TRANSACTION")
            try:
                for spec, frame, select in plans:
                    con.register("incoming_frame", frame)
                    con.execute(
                        f"DELETE FROM {spec.qualified_name} WHERE {spec.partition_column} = CAST(? AS DATE)",  # noqa: S608
                        [partition_key],
                    )
                    columns = ", ".join(quote_identifier(c) for c in spec.column_names)
                    insert = (
                        f"INSERT INTO {spec.qualified_name} ({columns}) SELECT {select} FROM incoming_frame"  # noqa: S608
                    )
                    con.execute(insert, [partition_key])
                    con.unregister("incoming_frame")
                    if spec.earliest_partition_of:
                        _drop_from_later_partitions(con, spec, partition_key)
                    # fetchall, not fetchone: DuckDB 2 refuses new work while a result is unfinished.
                    ((counts[spec.qualified_name],),) = con.execute(
                        f"SELECT count(*) FROM {spec.qualified_name} WHERE {spec.partition_column} = CAST(? AS DATE)",  # noqa: S608
                        [partition_key],
                    ).fetchall()
                for source, rejected in (rejections or {}).items():
                    _replace_rejections(con, source, partition_key, rejected)
                for source, found in (redactions or {}).items():
                    replace_redactions(con, source, partition_key, found)
                for source, totals in (source_totals or {}).items():
                    replace_source_totals(con, source, partition_key, totals)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return counts

    def record_rejections(self, source: str, partition_key: str, rejections: list[tuple[str, str]]) -> None:
        """Replace the rejections of one (source, partition) with `(path_or_url, reason)` pairs."""
        with self.write(f"record rejections {source} {partition_key}") as con:
            con.execute("BEGIN TRANSACTION")
            _replace_rejections(con, source, partition_key, rejections)
            con.execute("COMMIT")


def _drop_from_later_partitions(con: duckdb.DuckDBPyConnection, spec: Table, partition_key: str) -> None:
    """Entities of `spec.earliest_partition_of` this partition now holds leave every later partition."""
    key = ", ".join(quote_identifier(c) for c in spec.earliest_partition_of)
    part = spec.partition_column
    con.execute(
        f"DELETE FROM {spec.qualified_name} WHERE {part} > CAST(? AS DATE) AND ({key}) IN "  # noqa: S608
        f"(SELECT {key} FROM {spec.qualified_name} WHERE {part} = CAST(? AS DATE))",
        [partition_key, partition_key],
    )


def _replace_rejections(
    con: duckdb.DuckDBPyConnection, source: str, partition_key: str, rejections: list[tuple[str, str]]
) -> None:
    import pandas as pd

    frame = pd.DataFrame(rejections, columns=["path_or_url", "reason"], dtype="string")
    con.register("incoming_rejections", frame)
    con.execute(
        "DELETE FROM ops.rejected_inputs WHERE source = ? AND partition_key = ?", [source, partition_key]
    )
    con.execute(
        "INSERT INTO ops.rejected_inputs (source, path_or_url, reason, seen_at, partition_key) "
        "SELECT ?, path_or_url, reason, CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP), ? FROM incoming_rejections",
        [source, partition_key],
    )
    con.unregister("incoming_rejections")


def replace_redactions(
    con: duckdb.DuckDBPyConnection, source: str, partition_key: str, found: Mapping[str, int]
) -> None:
    """Replace the redaction counts of one (source, partition): kinds and counts only."""
    con.execute("DELETE FROM ops.redactions WHERE source = ? AND partition_key = ?", [source, partition_key])
    add_redactions(con, source, partition_key, found)


def replace_source_totals(
    con: duckdb.DuckDBPyConnection, source: str, partition_key: str, totals: list[tuple[str, str, int]]
) -> None:
    """Replace what `source` reported for one partition: (repo, measure, total) rows."""
    con.execute(
        "DELETE FROM ops.source_totals WHERE source = ? AND partition_key = ?", [source, partition_key]
    )
    if totals:
        con.executemany(
            "INSERT INTO ops.source_totals (source, partition_key, repo, measure, total, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP))",
            [[source, partition_key, repo, measure, int(total)] for repo, measure, total in totals],
        )


def add_redactions(
    con: duckdb.DuckDBPyConnection, source: str, partition_key: str, found: Mapping[str, int]
) -> None:
    """Add to the redaction counts of one (source, partition), for sources that append (live
    probes): the caller counts only rows it actually inserted, so a retried tick adds nothing."""
    for kind, count in sorted(found.items()):
        if not count:
            continue
        updated = con.execute(
            "UPDATE ops.redactions SET count = count + ?, recorded_at = CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP) "
            "WHERE source = ? AND partition_key = ? AND kind = ? RETURNING count",
            [int(count), source, partition_key, kind],
        ).fetchall()
        if not updated:
            con.execute(
                "INSERT INTO ops.redactions (source, partition_key, kind, count, recorded_at) "
                "VALUES (?, ?, ?, ?, CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP))",
                [source, partition_key, kind, int(count)],
            )


def _select_list(spec: Table, frame: Frame, computed: Mapping[str, str]) -> str:
    present = set(frame.column_names if hasattr(frame, "column_names") else frame.columns)
    unknown = present - set(spec.column_names)
    if unknown:
        raise ValueError(f"columns {sorted(unknown)} are not in {spec.qualified_name}'s contract")
    parts = []
    for column in spec.columns:
        if column.name in computed:
            expr = computed[column.name]
        elif column.name == spec.partition_column:
            expr = "CAST(? AS DATE)"
        elif column.name == "ingested_at":
            expr = "CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP)"
        elif column.name in present:
            expr = f"CAST({quote_identifier(column.name)} AS {column.sql_type})"
        else:
            expr = f"CAST(NULL AS {column.sql_type})"
        parts.append(f'{expr} AS "{column.name}"')
    return ", ".join(parts)


def default_snapshot_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.snapshot{path.suffix}")


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every schema and contract table if missing, add new columns, and (re)write comments.

    About 900 statements (0.1-0.25 s), so they run only when `ops.contract_version` does not hold
    this contract's fingerprint: Dagster starts a fresh process for every step, and each would pay
    it again. One transaction: a crash leaves the old contract and its old fingerprint."""
    import duckdb

    statements, fingerprint = _contract_ddl()
    try:
        applied = con.execute(f"SELECT fingerprint FROM {CONTRACT_VERSION.qualified_name}").fetchall()  # noqa: S608
        if applied == [(fingerprint,)]:
            return
    except duckdb.CatalogException:
        pass  # a new warehouse, or one older than the table
    con.execute("BEGIN TRANSACTION")
    try:
        for statement in statements:
            con.execute(statement)
        con.execute(f"DELETE FROM {CONTRACT_VERSION.qualified_name}")  # noqa: S608
        con.execute(
            f"INSERT INTO {CONTRACT_VERSION.qualified_name} VALUES (?, now()::TIMESTAMP)",  # noqa: S608
            [fingerprint],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


@functools.cache
def _contract_ddl() -> tuple[tuple[str, ...], str]:
    """Every DDL and comment statement of the contract, and their SHA-256."""
    statements = [f"CREATE SCHEMA IF NOT EXISTS {schema}" for schema in SCHEMAS]
    for spec in TABLES:
        columns = ", ".join(f"{quote_identifier(c.name)} {c.sql_type}" for c in spec.columns)
        statements.append(f"CREATE TABLE IF NOT EXISTS {spec.qualified_name} ({columns})")
        statements += [
            f"ALTER TABLE {spec.qualified_name} ADD COLUMN IF NOT EXISTS {quote_identifier(c.name)} {c.sql_type}"
            for c in spec.columns
        ]
        statements.append(f"COMMENT ON TABLE {spec.qualified_name} IS {_sql_literal(spec.comment)}")
        statements += [
            f"COMMENT ON COLUMN {spec.qualified_name}.{quote_identifier(c.name)} IS {_sql_literal(c.comment)}"
            for c in spec.columns
        ]
    return tuple(statements), hashlib.sha256("\n".join(statements).encode()).hexdigest()


def quote_identifier(name: str) -> str:
    """Quote a column name from the contract (some, such as `at`, are SQL keywords)."""
    return '"' + name.replace('"', '""') + '"'


def _sql_literal(text: str) -> str:
    # COMMENT ON takes no parameters; the text is our own constant from contract.py, never data.
    return "'" + text.replace("'", "''") + "'"


class WarehouseResource(dg.ConfigurableResource):
    """Dagster resource for the DuckDB warehouse (env `VIGIL_WAREHOUSE`)."""

    path: str = Field(
        default_factory=lambda: default_warehouse_path(), description="DuckDB file of the warehouse."
    )
    snapshot_path: str = Field(
        default="", description="Read-only analyst snapshot; defaults to <name>.snapshot.duckdb beside it."
    )
    lock_timeout_s: float = Field(default=120.0, description="Longest wait for the warehouse lock.")
    snapshot_interval_s: float = Field(
        default=DEFAULT_SNAPSHOT_INTERVAL_S,
        description="Writes publish the analyst snapshot at most this often (0: after every write); "
        "analyst_snapshot_sensor publishes what is left within 30 s.",
    )
    origin: str = Field(default="", description="`demo` marks a warehouse of simulated data (demo mode).")

    def get(self) -> Warehouse:
        return _warehouse_for(
            self.path, self.snapshot_path, self.lock_timeout_s, self.snapshot_interval_s, self.origin
        )


_WAREHOUSES: dict[tuple[str, str, float, float, str], Warehouse] = {}


def _warehouse_for(
    path: str, snapshot_path: str, lock_timeout_s: float, snapshot_interval_s: float, origin: str = ""
) -> Warehouse:
    # One Warehouse per process and path, so schema creation happens once per process.
    key = (str(Path(path).resolve()), snapshot_path, lock_timeout_s, snapshot_interval_s, origin)
    if key not in _WAREHOUSES:
        _WAREHOUSES[key] = Warehouse(path, snapshot_path or None, lock_timeout_s, snapshot_interval_s, origin)
    return _WAREHOUSES[key]


def default_warehouse_path() -> str:
    """`VIGIL_WAREHOUSE`, else `warehouse.duckdb` in the data directory."""
    return os.environ.get("VIGIL_WAREHOUSE") or data_path("warehouse.duckdb")


def warehouse_from_env() -> Warehouse:
    """The warehouse the code location is configured with, for command-line use outside a run
    (the Dagster resource holds `EnvVar`s that only a run resolves)."""
    return _warehouse_for(
        default_warehouse_path(),
        "",
        120.0,
        float(os.environ.get("VIGIL_SNAPSHOT_INTERVAL_S") or DEFAULT_SNAPSHOT_INTERVAL_S),
    )
