"""Spread table-producing work over CPU cores; results come back as Arrow IPC streams.

Parsing XML in Python holds the GIL, so threads cannot use a second core; processes can. The
choices that keep that cheap and safe:

* **forkserver, not fork.** The caller may be a Dagster step with DuckDB and logging threads;
  forking those is how deadlocks happen. Workers fork from a clean server that imported the
  modules named in `preload` once; the pool lives as long as the process, so later calls start
  nothing.
* **Nobody waits for a worker to start.** A cold start takes about a second (the server's
  imports), so this process takes items from the back of the list at once, while a feeder thread
  per worker starts the pool and hands it items from the front; they meet in the middle. A warm
  pool shares the items evenly; a cold one just does less.
* **Results through a memory-mapped Arrow IPC stream**, not a pickle through a pipe: for a
  million rows that is ~0.04 s instead of ~0.3 s, and the caller reads the columns without
  copying them. The stream format, not the file format: it allows each chunk of a dictionary
  column its own dictionary, as tables concatenated from several reports have.

A worker that dies (killed for memory, say) does not lose its item: the pool is dropped and the
item runs in this process instead.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TypeVar

import lazy_loader

# pyarrow (and numpy with it) loads when a table is first built, not with the definitions.
pa = lazy_loader.load("pyarrow")

# Below this much XML one process parses faster than two: starting a worker costs ~0.3 s (once per
# process), and one core parses about 45 MB/s (bench/bench_junit.py).
PARALLEL_MIN_BYTES = 32 << 20
# Several shares per worker let the split follow a worker that starts late.
SHARES_PER_WORKER = 4

Item = TypeVar("Item")
Extra = TypeVar("Extra")

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_size = 0


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's total)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def file_size(path: str | os.PathLike[str]) -> int:
    """Bytes of a file, 0 when it cannot be read (the work on it will say why)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def contiguous_shares(items: Sequence[Item], sizes: Sequence[int], count: int) -> list[list[Item]]:
    """Split `items` in order into at most `count` runs of about equal total size.

    An item goes to the share its middle byte falls in, so a huge item does not drag its
    neighbours along. Empty shares are left out."""
    total = sum(sizes)
    count = max(1, min(count, len(items)))
    shares: list[list[Item]] = [[] for _ in range(count)]
    done = 0
    for item, size in zip(items, sizes, strict=True):
        shares[min(count - 1, int((done + size / 2) * count / max(total, 1)))].append(item)
        done += size
    return [share for share in shares if share]


def map_tables(
    function: Callable[[Item], tuple[pa.Table, Extra]],
    items: Sequence[Item],
    *,
    workers: int,
    preload: Sequence[str] = (),
) -> list[tuple[pa.Table, Extra]]:
    """``[function(item) for item in items]`` over this process and ``workers - 1`` others.

    `function` must be picklable (a module-level function or a `functools.partial` of one), and
    so must every item and every `Extra`. Order is kept. Give a few items per worker: the split
    adapts to a slow start only at item boundaries.
    """
    if workers <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    results: list[tuple[pa.Table, Extra] | None] = [None] * len(items)
    claims = _Claims(len(items))
    failures: list[BaseException] = []
    spill = Path(tempfile.mkdtemp(prefix="vigil-pool-"))

    def feed_worker() -> None:
        try:
            pool = _worker_pool(workers - 1, preload)  # may block ~1 s on a cold start
            while (index := claims.front()) is not None:
                path = str(spill / f"{index}.arrow")
                try:
                    spilled, extra = pool.submit(_run_and_spill, function, items[index], path).result()
                except BrokenProcessPool:
                    _discard_pool(pool)
                    results[index] = function(items[index])
                    return
                # The mapping outlives the file's name: removing the folder below is safe.
                results[index] = (pa.ipc.open_stream(pa.memory_map(spilled)).read_all(), extra)
        except BaseException as error:  # re-raised by the caller's thread
            failures.append(error)
            claims.stop()

    feeders = [threading.Thread(target=feed_worker, name=f"vigil-pool-feed-{n}") for n in range(workers - 1)]
    try:
        for feeder in feeders:
            feeder.start()
        try:
            while (index := claims.back()) is not None:
                results[index] = function(items[index])
        finally:
            claims.stop()  # on an error here, feeders finish their current item and stop
            for feeder in feeders:
                feeder.join()
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    if failures:
        raise failures[0]
    done = [result for result in results if result is not None]
    if len(done) != len(items):  # every index is claimed once; a gap would be a bug here
        raise RuntimeError(f"process pool lost {len(items) - len(done)} of {len(items)} items")
    return done


class _Claims:
    """Indices 0..n-1 handed out from both ends, each exactly once."""

    def __init__(self, count: int) -> None:
        self._lock = threading.Lock()
        self._front, self._back = 0, count - 1

    def front(self) -> int | None:
        with self._lock:
            if self._front > self._back:
                return None
            self._front += 1
            return self._front - 1

    def back(self) -> int | None:
        with self._lock:
            if self._front > self._back:
                return None
            self._back -= 1
            return self._back + 1

    def stop(self) -> None:
        with self._lock:
            self._front, self._back = 1, 0


def _run_and_spill(
    function: Callable[[Item], tuple[pa.Table, Extra]], item: Item, path: str
) -> tuple[str, Extra]:
    table, extra = function(item)
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return path, extra


def _worker_pool(size: int, preload: Sequence[str]) -> ProcessPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < size:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(list(preload))
            _pool, _pool_size = ProcessPoolExecutor(size, mp_context=context), size
        return _pool


def _discard_pool(broken: ProcessPoolExecutor) -> None:
    global _pool, _pool_size
    with _lock:
        if _pool is broken:
            _pool, _pool_size = None, 0
    broken.shutdown(wait=False, cancel_futures=True)
