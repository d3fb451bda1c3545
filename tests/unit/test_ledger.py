"""The ledger's hash chain: canonical JSON, hashes, and verification naming the first bad row."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from observability_assets.core.ledger import (
    GENESIS_HASH,
    Anchor,
    LedgerEntry,
    LedgerRecord,
    canonical_json,
    chain,
    entry_hash,
    jsonable,
    verify,
)

AT = datetime(2026, 11, 23, 12, 0, 0, 123456)


def _chain(n: int = 6) -> list[LedgerEntry]:
    records = [
        LedgerRecord("remediator", f"action.{i}", f"service-{i % 2}", {"attempt": i, "ok": i % 2 == 0})
        for i in range(1, n + 1)
    ]
    return chain(records, 0, GENESIS_HASH, AT)


def _anchor(entries: list[LedgerEntry]) -> Anchor:
    return Anchor(entries[-1].seq, entries[-1].hash)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1, "a": [1, 2]}, '{"a":[1,2],"b":1}'),
        ({"z": {"y": True, "x": None}}, '{"z":{"x":null,"y":true}}'),
        ({"text": "café ☕"}, '{"text":"café ☕"}'),
        ([1.5, "a"], '[1.5,"a"]'),
    ],
)
def test_canonical_json_is_one_spelling(value, expected):
    assert canonical_json(value) == expected


def test_canonical_json_refuses_nan():
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_jsonable_turns_times_and_collections_into_json_types():
    aware = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert jsonable({"at": AT, "aware": aware, "set": {3, 1}, "tuple": (1, 2)}) == {
        "at": "2026-11-23T12:00:00.123456",
        "aware": "2026-01-02T01:04:05+00:00",
        "set": [1, 3],
        "tuple": [1, 2],
    }


def test_entry_hash_is_sha256_of_previous_hash_and_canonical_row():
    # Written out independently of the implementation, so the hashed format cannot drift.
    row = (
        '{"action":"restart","actor":"remediator","at":"2026-11-23T12:00:00.123456",'
        '"detail":"{\\"ok\\":true}","seq":1,"subject":"checkout"}'
    )
    expected = hashlib.sha256((GENESIS_HASH + row).encode()).hexdigest()
    got = entry_hash(
        GENESIS_HASH, 1, "2026-11-23T12:00:00.123456", "remediator", "restart", "checkout", '{"ok":true}'
    )
    assert got == expected


def test_chain_links_rows_and_continues_after_an_existing_row():
    entries = _chain(3)
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS_HASH
    assert entries[1].prev_hash == entries[0].hash and entries[2].prev_hash == entries[1].hash
    more = chain([LedgerRecord("a", "b", "c")], entries[-1].seq, entries[-1].hash, AT + timedelta(seconds=1))
    assert more[0].seq == 4 and more[0].prev_hash == entries[-1].hash
    assert verify(entries + more).ok


def test_chain_stores_aware_times_as_utc():
    entries = chain([LedgerRecord("a", "b", "c")], 0, GENESIS_HASH, datetime(2026, 1, 1, 13, tzinfo=UTC))
    assert entries[0].at == "2026-01-01T13:00:00.000000"


def test_good_chain_verifies_with_and_without_anchor():
    entries = _chain()
    assert verify(entries).ok
    result = verify(entries, _anchor(entries))
    assert result.ok and result.rows == 6
    assert "intact" in result.describe()


def test_empty_ledger_verifies_without_anchor():
    assert verify([]).ok


@pytest.mark.parametrize("field", ["at", "actor", "action", "subject", "detail", "prev_hash", "hash"])
@pytest.mark.parametrize("position", [0, 2, 5])
def test_any_single_edit_names_the_edited_row(field, position):
    entries = _chain()
    old = getattr(entries[position], field)
    entries[position] = dataclasses.replace(
        entries[position], **{field: old[:-1] + ("X" if old[-1] != "X" else "Y")}
    )
    result = verify(entries, _anchor(_chain()))
    assert not result.ok
    assert result.bad_seq == position + 1
    assert f"row {position + 1}" in result.describe()


@pytest.mark.parametrize(("deleted", "named"), [(0, 1), (2, 3), (5, 6)])
def test_any_single_deletion_names_the_missing_row(deleted, named):
    entries = _chain()
    anchor = _anchor(entries)
    del entries[deleted]
    result = verify(entries, anchor)
    assert not result.ok
    assert result.bad_seq == named
    assert "missing" in result.problem


def test_deleting_the_last_row_is_invisible_without_the_anchor():
    # Why the anchor exists: a shorter chain is still a valid chain.
    entries = _chain()[:-1]
    assert verify(entries).ok
    assert verify(entries, _anchor(_chain())).bad_seq == 6


@pytest.mark.parametrize(("first", "second"), [(1, 2), (0, 5), (3, 4)])
def test_any_swap_of_two_rows_names_the_earlier_position(first, second):
    # Swapping two rows' places in the sequence: they exchange seq and are read in seq order.
    entries = _chain()
    a, b = entries[first], entries[second]
    entries[first] = dataclasses.replace(b, seq=a.seq)
    entries[second] = dataclasses.replace(a, seq=b.seq)
    result = verify(entries, _anchor(_chain()))
    assert not result.ok
    assert result.bad_seq == first + 1


def test_duplicated_row_is_named():
    entries = _chain()
    entries.insert(3, entries[2])
    result = verify(entries)
    assert not result.ok and result.bad_seq == 3 and "more than once" in result.problem


def test_a_replaced_last_row_does_not_match_the_anchor():
    entries = _chain()
    anchor = _anchor(entries)
    forged = chain([LedgerRecord("x", "y", "z")], 5, entries[4].hash, AT)
    result = verify(entries[:5] + forged, anchor)
    assert not result.ok and result.bad_seq == 6


def test_rows_after_the_anchor_are_accepted():
    # The anchor is written just after the commit; a crash in between leaves it one write behind.
    entries = _chain()
    assert verify(entries, Anchor(entries[3].seq, entries[3].hash)).ok
