"""The hash chain behind `ops.ledger`: canonical JSON, row hashes, and verification.

Every row's hash is SHA-256 over the previous row's hash and the row's canonical JSON (sorted
keys, no insignificant whitespace, UTF-8), so changing, deleting or reordering any row breaks the
chain at that row. Deleting rows from the end leaves a shorter chain that is still valid in
itself; an anchor (the last sequence number and hash, kept outside the table) catches that.

Pure: no database, no Dagster. The ledger resource stores and reads rows; this module decides
what their hashes must be and which row is the first one that is wrong.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64
# `at` as stored (a naive UTC TIMESTAMP with microseconds) and as hashed: one text, both ways.
AT_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces; the one spelling of a value that hashes are taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def jsonable(value: Any) -> Any:
    """`value` with datetimes as ISO text, tuples and sets as lists, keys as text (JSON types only)."""
    if isinstance(value, datetime):
        return format_at(value) if value.tzinfo is None else value.astimezone(UTC).isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(jsonable(v) for v in value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def format_at(at: datetime) -> str:
    """The text of a ledger time: UTC, naive, microseconds."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.strftime(AT_FORMAT)


@dataclass(frozen=True)
class LedgerRecord:
    """One decision or action to append: who, what, about what, and the evidence."""

    actor: str
    action: str
    subject: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LedgerEntry:
    """A stored ledger row."""

    seq: int
    at: str
    actor: str
    action: str
    subject: str
    detail: str
    prev_hash: str
    hash: str

    @property
    def detail_object(self) -> Any:
        return json.loads(self.detail)


def entry_hash(prev_hash: str, seq: int, at: str, actor: str, action: str, subject: str, detail: str) -> str:
    """SHA-256 over the previous hash and this row's canonical JSON."""
    payload = canonical_json(
        {"seq": seq, "at": at, "actor": actor, "action": action, "subject": subject, "detail": detail}
    )
    return hashlib.sha256((prev_hash + payload).encode("utf-8")).hexdigest()


def chain(
    records: Iterable[LedgerRecord], after_seq: int, after_hash: str, at: datetime
) -> list[LedgerEntry]:
    """Entries for `records`, continuing the chain after row `after_seq` (hash `after_hash`)."""
    entries: list[LedgerEntry] = []
    prev_hash, seq, stamp = after_hash, after_seq, format_at(at)
    for record in records:
        seq += 1
        detail = canonical_json(jsonable(record.detail))
        digest = entry_hash(prev_hash, seq, stamp, record.actor, record.action, record.subject, detail)
        entries.append(
            LedgerEntry(seq, stamp, record.actor, record.action, record.subject, detail, prev_hash, digest)
        )
        prev_hash = digest
    return entries


@dataclass(frozen=True)
class Anchor:
    """The last row the ledger wrote, kept outside the table so cutting off the end shows."""

    seq: int
    hash: str


@dataclass(frozen=True)
class Verification:
    ok: bool
    rows: int
    bad_seq: int | None = None
    problem: str = ""

    def describe(self) -> str:
        if self.ok:
            return f"ledger intact: {self.rows} rows, every hash and link checks out"
        return f"ledger broken at row {self.bad_seq}: {self.problem}"


def verify(entries: Iterable[LedgerEntry], anchor: Anchor | None = None) -> Verification:
    """Check the chain in `seq` order; names the first row that is missing, changed or moved.

    `entries` must come ordered by `seq` (a swap of two rows' positions then shows as a row whose
    link or hash no longer fits). `anchor`, when given, must match a row of the chain.
    """
    prev_hash, expected, last, count = GENESIS_HASH, 1, None, 0
    anchored_hash = None
    for entry in entries:
        count += 1
        if entry.seq < expected:
            return Verification(False, count, entry.seq, f"seq {entry.seq} appears more than once")
        if entry.seq > expected:
            return Verification(
                False,
                count,
                expected,
                f"row {expected} is missing (the chain goes from row {expected - 1} to row {entry.seq})",
            )
        if entry.prev_hash != prev_hash:
            return Verification(
                False,
                count,
                entry.seq,
                "prev_hash does not match the hash of the row before it (a row was removed, moved or rewritten)",
            )
        recomputed = entry_hash(
            entry.prev_hash, entry.seq, entry.at, entry.actor, entry.action, entry.subject, entry.detail
        )
        if recomputed != entry.hash:
            return Verification(
                False, count, entry.seq, "content does not match its hash (the row was edited)"
            )
        prev_hash, expected, last = entry.hash, expected + 1, entry
        if anchor is not None and entry.seq == anchor.seq:
            anchored_hash = entry.hash
    if anchor is not None:
        if last is None or last.seq < anchor.seq:
            end = 0 if last is None else last.seq
            return Verification(
                False,
                count,
                end + 1,
                f"row {end + 1} is missing: the chain ends at row {end} but row {anchor.seq} was written",
            )
        if anchored_hash != anchor.hash:
            return Verification(
                False,
                count,
                anchor.seq,
                f"row {anchor.seq} is not the row that was written there (anchor hash differs)",
            )
    return Verification(True, count)
