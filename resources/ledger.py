"""`ops.ledger`: append-only, hash-chained record of every automated decision (the audit trail).

Appends happen in one short warehouse write: read the chain's last row, hash the new rows onto
it, insert them. The warehouse lock is cross-process, so two processes appending at once still
produce one unbroken chain. Rows are never updated or deleted by Vigil.

After each append the last row's sequence number and hash are written to an anchor file beside
the warehouse (`<warehouse>.ledger-anchor.json`), so cutting rows off the end of the table is
detected too; `verify()` checks both. Every text that goes into a row passes through `scrub`
first: tokens and webhook secrets never reach the ledger.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from observability_assets.core.ledger import (
    AT_FORMAT,
    GENESIS_HASH,
    Anchor,
    LedgerEntry,
    LedgerRecord,
    Verification,
    chain,
    verify,
)
from resources.redaction import scrub
from resources.warehouse import Warehouse, WarehouseResource

if TYPE_CHECKING:
    import duckdb

_COLUMNS = 'seq, "at", actor, action, subject, detail, prev_hash, hash'
_FETCH_BATCH = 10_000


def redact_value(value: Any) -> Any:
    """`value` with every string in it (keys included) passed through `scrub`."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {scrub(str(k)): redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v) for v in value]
    return value


class Recorder:
    """Collects ledger records during a write; they are appended when the write commits."""

    def __init__(self) -> None:
        self.records: list[LedgerRecord] = []
        # Filled in when the transaction commits.
        self.entries: list[LedgerEntry] = []

    def record(self, actor: str, action: str, subject: str, detail: Mapping[str, Any] | None = None) -> None:
        self.records.append(
            LedgerRecord(scrub(actor), scrub(action), scrub(subject), redact_value(dict(detail or {})))
        )


class Ledger:
    """The ledger of one warehouse."""

    def __init__(self, warehouse: Warehouse, anchor_path: str | Path | None = None) -> None:
        self.warehouse = warehouse
        self.anchor_path = (
            Path(anchor_path)
            if anchor_path
            else warehouse.path.with_name(warehouse.path.name + ".ledger-anchor.json")
        )

    def __repr__(self) -> str:
        return f"Ledger({self.warehouse.path})"

    @contextmanager
    def transaction(self, purpose: str) -> Iterator[tuple[duckdb.DuckDBPyConnection, Recorder]]:
        """One short write in a transaction: change other tables and record what was decided,
        all or nothing. Records are appended to the chain just before the commit."""
        # publish=False: a sensor tick must not copy the whole warehouse to the analyst snapshot;
        # the next asset write publishes the ledger with everything else.
        with self.warehouse.write(purpose, publish=False) as con:
            recorder = Recorder()
            con.execute("BEGIN TRANSACTION")
            try:
                yield con, recorder
                entries = _append(con, recorder.records)
                con.execute("COMMIT")
                recorder.entries = entries
            except BaseException:
                con.execute("ROLLBACK")
                raise
            # Still under the warehouse lock, so anchors are written in chain order.
            if entries:
                self._write_anchor(Anchor(entries[-1].seq, entries[-1].hash))

    def append(
        self, actor: str, action: str, subject: str, detail: Mapping[str, Any] | None = None
    ) -> LedgerEntry:
        with self.transaction(f"ledger {action}") as (_, recorder):
            recorder.record(actor, action, subject, detail)
        return recorder.entries[0]

    def append_many(self, records: Sequence[LedgerRecord]) -> list[LedgerEntry]:
        """Append several records in one write."""
        if not records:
            return []
        with self.transaction(f"ledger {len(records)} records") as (_, recorder):
            for r in records:
                recorder.record(r.actor, r.action, r.subject, r.detail)
        return recorder.entries

    def entries(self) -> list[LedgerEntry]:
        """Every row, in chain order."""
        with self.warehouse.read("ledger entries") as con:
            rows = con.execute(f"SELECT {_COLUMNS} FROM ops.ledger ORDER BY seq").fetchall()  # noqa: S608
        return [_entry(row) for row in rows]

    def verify(self) -> Verification:
        """Check every row's link and hash, and that the chain still reaches the anchor."""
        anchor = self.read_anchor()
        with self.warehouse.read("ledger verify") as con:
            # Ties on seq (a duplicated row) keep their physical order, so the duplicate is named.
            result = con.execute(f"SELECT {_COLUMNS} FROM ops.ledger ORDER BY seq, rowid")  # noqa: S608
            return verify(_batched(result), anchor)

    def read_anchor(self) -> Anchor | None:
        try:
            data = json.loads(self.anchor_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return Anchor(int(data["seq"]), str(data["hash"]))

    def _write_anchor(self, anchor: Anchor) -> None:
        self.anchor_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.anchor_path.with_name(f".{self.anchor_path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"seq": anchor.seq, "hash": anchor.hash}), encoding="utf-8")
        os.replace(tmp, self.anchor_path)


def _batched(result: duckdb.DuckDBPyConnection) -> Iterator[LedgerEntry]:
    while rows := result.fetchmany(_FETCH_BATCH):
        yield from (_entry(row) for row in rows)


def _entry(row: tuple[Any, ...]) -> LedgerEntry:
    seq, at, actor, action, subject, detail, prev_hash, digest = row
    stamp = at.strftime(AT_FORMAT) if isinstance(at, datetime) else str(at)
    return LedgerEntry(int(seq), stamp, actor, action, subject, detail, prev_hash, digest)


def _append(con: duckdb.DuckDBPyConnection, records: Sequence[LedgerRecord]) -> list[LedgerEntry]:
    if not records:
        return []
    last = con.execute("SELECT seq, hash FROM ops.ledger ORDER BY seq DESC LIMIT 1").fetchall()
    after_seq, after_hash = (int(last[0][0]), last[0][1]) if last else (0, GENESIS_HASH)
    entries = chain(records, after_seq, after_hash, datetime.now(UTC))
    # A handful of rows per decision: parameters, not a bulk load.
    con.executemany(
        f"INSERT INTO ops.ledger ({_COLUMNS}) VALUES (?, CAST(? AS TIMESTAMP), ?, ?, ?, ?, ?, ?)",  # noqa: S608
        [[e.seq, e.at, e.actor, e.action, e.subject, e.detail, e.prev_hash, e.hash] for e in entries],
    )
    return entries


class LedgerResource(dg.ConfigurableResource):
    """The audit trail of automated decisions (`ops.ledger`) in the Vigil warehouse."""

    warehouse: WarehouseResource
    anchor_path: str = Field(
        default="",
        description="Anchor file of the chain's last row; defaults to <warehouse>.ledger-anchor.json.",
    )

    def get(self) -> Ledger:
        return Ledger(self.warehouse.get(), self.anchor_path or None)
