"""core.process_pool: work spread over real worker processes comes back complete and in order."""

from __future__ import annotations

import os
import time

import pyarrow as pa

from observability_assets.core.process_pool import contiguous_shares, map_tables


def _square(item: tuple[int, float]) -> tuple[pa.Table, int]:
    number, pause = item
    time.sleep(pause)
    return pa.table({"n": [number], "square": [number * number]}), os.getpid()


def _die_outside(item: tuple[int, int]) -> tuple[pa.Table, int]:
    """Kills any worker process it runs in; runs fine in the calling process."""
    caller, number = item
    if os.getpid() != caller:
        os._exit(3)
    return pa.table({"n": [number]}), number


def test_items_come_back_in_order_and_workers_share_the_work() -> None:
    map_tables(_square, [(0, 0.0), (1, 0.0)], workers=2)  # a cold start may leave a worker idle
    results = map_tables(_square, [(n, 0.2) for n in range(8)], workers=2)
    assert [table.to_pylist() for table, _ in results] == [[{"n": n, "square": n * n}] for n in range(8)]
    pids = {pid for _, pid in results}
    assert os.getpid() in pids and len(pids) == 2, "this process and one worker both took items"


def _paths_of_two_reports(item: int) -> tuple[pa.Table, int]:
    """A table like a day's artifacts: chunks whose dictionary columns have dictionaries of their own."""
    time.sleep(0.05)  # long enough that the worker surely takes some of the items
    chunks = [
        pa.table({"report_path": pa.array([f"{item}/a.xml", f"{item}/a.xml"]).dictionary_encode()}),
        pa.table({"report_path": pa.array([f"{item}/b.xml"]).dictionary_encode()}),
    ]
    return pa.concat_tables(chunks), item


def test_tables_with_a_dictionary_per_chunk_come_back_from_workers() -> None:
    map_tables(_square, [(0, 0.0), (1, 0.0)], workers=2)  # warm
    results = map_tables(_paths_of_two_reports, list(range(8)), workers=2)
    for table, item in results:
        assert table.column("report_path").to_pylist() == [f"{item}/a.xml", f"{item}/a.xml", f"{item}/b.xml"]


def test_a_dead_worker_loses_nothing() -> None:
    items = [(os.getpid(), n) for n in range(6)]
    results = map_tables(_die_outside, items, workers=2)
    assert [extra for _, extra in results] == list(range(6))
    assert [table.column("n")[0].as_py() for table, _ in results] == list(range(6))


def test_one_worker_or_one_item_stays_in_this_process() -> None:
    assert {pid for _, pid in map_tables(_square, [(n, 0.0) for n in range(3)], workers=1)} == {os.getpid()}
    assert [pid for _, pid in map_tables(_square, [(5, 0.0)], workers=4)] == [os.getpid()]


def test_contiguous_shares_keep_order_and_balance_bytes() -> None:
    sizes = [10, 10, 10, 10, 100, 10, 10, 10, 10, 10]
    shares = contiguous_shares(list(range(10)), sizes, 4)
    assert [n for share in shares for n in share] == list(range(10))
    assert shares == [[0, 1, 2, 3], [4], [5, 6, 7, 8, 9]]  # the big item stands alone
    assert contiguous_shares(["a", "b"], [0, 0], 8) == [["a", "b"]]  # nothing to balance
    assert contiguous_shares(["a"], [5], 0) == [["a"]]
