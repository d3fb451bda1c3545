"""`vigil ledger verify` on a DuckDB ledger: passes when intact, fails naming the row after any
single edit, deletion or swap made with plain SQL, as someone with write access would."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import duckdb
import pytest

from observability_assets.cli.ops import main
from observability_assets.core.ledger import LedgerRecord
from resources.ledger import Ledger
from resources.warehouse import Warehouse

ROWS = 6


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ledger of six rows written in two appends, built once and copied for each test."""
    folder = tmp_path_factory.mktemp("ledger")
    book = Ledger(Warehouse(folder / "warehouse.duckdb"))
    book.append_many([LedgerRecord("remediator", f"step.{i}", "checkout", {"i": i}) for i in range(1, 4)])
    book.append_many(
        [LedgerRecord("issue-tracker", f"step.{i}", "flaky", {"i": i}) for i in range(4, ROWS + 1)]
    )
    return folder


@pytest.fixture
def ledger(written: Path, tmp_path: Path) -> Ledger:
    for name in ("warehouse.duckdb", "warehouse.duckdb.ledger-anchor.json"):
        shutil.copyfile(written / name, tmp_path / name)
    return Ledger(Warehouse(tmp_path / "warehouse.duckdb"))


def verify(ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["ledger", "verify", "--warehouse", str(ledger.warehouse.path)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def tamper(ledger: Ledger, sql: str, params: list[object] | None = None) -> None:
    # Plain DuckDB, as anyone with write access to the file could.
    with duckdb.connect(str(ledger.warehouse.path)) as con:
        con.execute(sql, params or [])


def test_intact_ledger_passes(ledger, capsys):
    assert verify(ledger, capsys) == (0, f"ledger intact: {ROWS} rows, every hash and link checks out\n")


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("UPDATE ops.ledger SET detail = '{\"i\":99}' WHERE seq = 3", 3),
        ("UPDATE ops.ledger SET actor = 'someone' WHERE seq = 1", 1),
        ('UPDATE ops.ledger SET "at" = "at" + INTERVAL 1 SECOND WHERE seq = 6', 6),
        ("UPDATE ops.ledger SET subject = 'payments' WHERE seq = 4", 4),
        ("UPDATE ops.ledger SET hash = repeat('a', 64) WHERE seq = 2", 2),
    ],
)
def test_any_edit_fails_naming_the_row(ledger, capsys, sql, named):
    tamper(ledger, sql)
    code, output = verify(ledger, capsys)
    assert code == 1
    assert f"ledger broken at row {named}:" in output


@pytest.mark.parametrize("deleted", [1, 3, ROWS])
def test_any_deletion_fails_naming_the_row(ledger, capsys, deleted):
    tamper(ledger, "DELETE FROM ops.ledger WHERE seq = ?", [deleted])
    code, output = verify(ledger, capsys)
    assert code == 1
    assert f"ledger broken at row {deleted}: row {deleted} is missing" in output


@pytest.mark.parametrize(("a", "b"), [(2, 3), (1, 6)])
def test_any_swap_fails_naming_the_row(ledger, capsys, a, b):
    tamper(
        ledger,
        "UPDATE ops.ledger SET seq = CASE seq WHEN ? THEN ? ELSE ? END WHERE seq IN (?, ?)",
        [a, b, a, a, b],
    )
    code, output = verify(ledger, capsys)
    assert code == 1
    assert f"ledger broken at row {a}:" in output


def test_missing_warehouse_fails(tmp_path, capsys):
    assert main(["ledger", "verify", "--warehouse", str(tmp_path / "none.duckdb")]) == 1
    assert "no warehouse" in capsys.readouterr().err


def test_concurrent_appenders_keep_one_chain(tmp_path, capsys):
    # Separate Warehouse objects (separate lock handles), as separate processes would have.
    path = tmp_path / "warehouse.duckdb"

    def append(worker: int) -> None:
        book = Ledger(Warehouse(path))
        for i in range(3):
            book.append("sensor", f"worker{worker}.step{i}", "x")

    threads = [threading.Thread(target=append, args=(w,)) for w in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    book = Ledger(Warehouse(path))
    assert [e.seq for e in book.entries()] == list(range(1, 10))
    assert verify(book, capsys)[0] == 0
