"""Spread per-file work over processes in chunks, with progress.

Chunks keep the per-task overhead small while letting the workers rebalance around a
slow file; results stream back as chunks finish, so memory stays flat.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from typing import Any, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
Progress = Callable[[int, int], None]

MIN_CHUNK, MAX_CHUNK = 16, 256
CHUNKS_PER_WORKER = 8
# Below this, starting a pool (about 1 s of a core for the fork server's imports) costs more
# than the pool could save: this process does the work alone.
MIN_POOL_ITEMS = 256
IN_FLIGHT_PER_WORKER = 2  # one running, one waiting: a worker never idles between chunks
# Imported once by the fork server, so each worker starts without importing pydicom.
# Not pandas: workers never build Arrow arrays (the parent writes the side tables).
PRELOADED_MODULES = [
    "anon_pipeline.engine.files.stage",
    "anon_pipeline.engine.files.scan",
    "anon_pipeline.engine.release.output_checks",
]


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def chunked(items: Sequence[Item], workers: int) -> list[list[Item]]:
    """About eight chunks per worker, between MIN_CHUNK and MAX_CHUNK items each: enough
    to rebalance around a slow file and to end together, few enough that per-chunk costs
    (a Parquet part per side table) stay small. One worker has nothing to rebalance:
    its chunks are as large as they may be."""
    chunks_wanted = workers * CHUNKS_PER_WORKER if workers > 1 else 1
    size = max(MIN_CHUNK, min(MAX_CHUNK, len(items) // chunks_wanted))
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


class WorkerPool:
    """`size` worker processes, started by a helper thread so the caller never waits for
    the fork server's imports (about 1 s of pydicom); `answered()` turns true once
    a worker has run a first task. A pool that cannot start never answers."""

    def __init__(self, size: int) -> None:
        # forkserver: safe to start from a threaded host (Dagster) and cheaper than spawn;
        # spawn where the platform has no fork server (Windows, a hospital's PC).
        context: BaseContext = multiprocessing.get_context("spawn")
        if "forkserver" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("forkserver")
            multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOADED_MODULES)
        self.size = size
        self.executor = ProcessPoolExecutor(max_workers=size, mp_context=context)
        self.starter = ThreadPoolExecutor(max_workers=1)
        self.starting = self.starter.submit(self.executor.submit, os.getpid)

    def answered(self) -> bool:
        if not self.starting.done() or self.starting.exception() is not None:
            return False
        ping = self.starting.result()
        return ping.done() and ping.exception() is None

    def submit(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        return self.executor.submit(function, *args)

    def close(self) -> None:
        # In the helper thread, after the start: never wait here for a pool still starting.
        self.starter.submit(self.executor.shutdown, wait=False, cancel_futures=True)
        self.starter.shutdown(wait=False)


class SharedPools:
    """Pools kept for the phases of one run (`shared_pool`), so scan, stage 1 and stage 2
    pay for one start instead of three."""

    def __init__(self) -> None:
        self.pool: WorkerPool | None = None

    def get(self, size: int) -> WorkerPool:
        if self.pool is None or self.pool.size < size:
            self.drop()
            self.pool = WorkerPool(size)
        return self.pool

    def drop(self) -> None:
        """Close the pool (after an error it may be broken); the next map starts another."""
        if self.pool is not None:
            self.pool.close()
            self.pool = None


_shared: ContextVar[SharedPools | None] = ContextVar("shared_pools", default=None)


@contextmanager
def shared_pool() -> Iterator[None]:
    """Within this block, every `map_chunks` of this thread reuses one pool, started by the
    first that needs one and closed when the block ends."""
    pools = SharedPools()
    try:
        with using_pools(pools):
            yield
    finally:
        pools.drop()


@contextmanager
def using_pools(pools: SharedPools) -> Iterator[None]:
    """Within this block, every `map_chunks` of this thread uses `pools`, which outlives
    it: a Dagster run keeps one for all its steps (PipelineSettings)."""
    token = _shared.set(pools)
    try:
        yield
    finally:
        _shared.reset(token)


def map_chunks(
    function: Callable[[Any, int, list[Item]], list[Result]],
    shared: Any,
    items: Sequence[Item],
    workers: int,
    progress: Progress | None = None,
) -> Iterator[Result]:
    """Yield `function(shared, chunk_index, chunk)` results for every chunk of `items`.

    Results come in completion order; `progress(done, total)` counts items.
    workers=1 runs in this process (no pickling, easy to debug and profile). With more,
    this process is one of the workers: it works through chunks itself while a pool of
    `workers - 1` processes starts (or is reused, inside `shared_pool`) and runs.
    """
    chunks = chunked(items, workers)
    tally = Tally(progress, len(items))
    tally.add(0)
    if workers <= 1 or len(chunks) <= 1 or len(items) < MIN_POOL_ITEMS:
        for index, chunk in enumerate(chunks):
            yield from function(shared, index, chunk)
            tally.add(len(chunk))
        return
    pools = _shared.get()
    size = workers - 1
    pool = pools.get(size) if pools is not None else WorkerPool(min(size, len(chunks)))
    try:
        yield from map_with_pool(pool, function, shared, chunks, tally)
    except BaseException:
        if pools is not None:
            pools.drop()  # an error stopped this map, and may have broken the pool
        raise
    finally:
        if pools is None:
            pool.close()


@dataclass
class Tally:
    """Items done so far, told to `progress` (when there is one) after each chunk."""

    progress: Progress | None
    total: int
    done: int = 0

    def add(self, items: int) -> None:
        self.done += items
        if self.progress:
            self.progress(self.done, self.total)


def map_with_pool(
    pool: WorkerPool,
    function: Callable[[Any, int, list[Item]], list[Result]],
    shared: Any,
    chunks: list[list[Item]],
    tally: Tally,
) -> Iterator[Result]:
    """The pool and this process work through the chunks in order: the pool gets a few
    chunks per worker in flight, this process takes the next one whenever none is back."""
    queue = list(enumerate(chunks))
    queue.reverse()  # pop() takes the next chunk in order
    pending: dict[Future[list[Result]], int] = {}
    while pending or queue:
        # Nothing goes to a pool that has not answered: no chunk waits in a pool still starting.
        if pool.answered():
            while queue and len(pending) < pool.size * IN_FLIGHT_PER_WORKER:
                index, chunk = queue.pop()
                pending[pool.submit(function, shared, index, chunk)] = len(chunk)
        finished = [future for future in pending if future.done()]
        if not finished and queue:  # nothing back yet: this process takes a chunk
            index, chunk = queue.pop()
            yield from function(shared, index, chunk)
            tally.add(len(chunk))
            continue
        if not finished:
            finished = list(wait(pending, return_when=FIRST_COMPLETED).done)
        finished_items = 0
        for future in finished:
            finished_items += pending.pop(future)
            yield from future.result()
        tally.add(finished_items)
