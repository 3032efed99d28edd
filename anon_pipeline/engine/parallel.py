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
from typing import Any, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
Progress = Callable[[int, int], None]

MIN_CHUNK, MAX_CHUNK = 16, 256
CHUNKS_PER_WORKER = 8
# Below this, starting a pool (1-2 s of a core for the fork server's imports) costs more
# than the pool could save: this process does the work alone.
MIN_POOL_ITEMS = 256
IN_FLIGHT_PER_WORKER = 2  # one running, one waiting: a worker never idles between chunks
# Imported once by the fork server, so each worker starts without importing pydicom.
# pandas: pyarrow imports it on the first table it builds (0.5 s per worker otherwise).
PRELOADED_MODULES = ["anon_pipeline.engine.stage", "anon_pipeline.engine.scan", "pandas"]


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def chunked(items: Sequence[Item], workers: int) -> list[list[Item]]:
    """About eight chunks per worker, between MIN_CHUNK and MAX_CHUNK items each: enough
    to rebalance around a slow file and to end together, few enough that per-chunk costs
    (a Parquet part per side table) stay small."""
    size = max(MIN_CHUNK, min(MAX_CHUNK, len(items) // max(1, workers * CHUNKS_PER_WORKER)))
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


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
    `workers - 1` processes starts (about a second: pydicom's imports) and runs.
    """
    chunks = chunked(items, workers)
    total, done = len(items), 0
    if progress:
        progress(0, total)
    if workers <= 1 or len(chunks) <= 1 or len(items) < MIN_POOL_ITEMS:
        for index, chunk in enumerate(chunks):
            yield from function(shared, index, chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
        return
    # forkserver: safe to start from a threaded host (Dagster) and cheaper than spawn.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOADED_MODULES)
    queue = list(enumerate(chunks))
    queue.reverse()  # pop() takes the next chunk in order
    pool_size = min(workers - 1, len(chunks))
    pool = ProcessPoolExecutor(max_workers=pool_size, mp_context=context)
    # Starting the pool blocks for about a second (the fork server imports pydicom), so a
    # helper thread starts it while this process works; nothing goes to the pool before
    # it answers, so no chunk waits in a pool that is still starting.
    starter = ThreadPoolExecutor(max_workers=1)
    starting = starter.submit(pool.submit, os.getpid)
    try:
        pending: dict[Future[list[Result]], int] = {}
        while pending or queue:
            if pool_answered(starting):
                while queue and len(pending) < pool_size * IN_FLIGHT_PER_WORKER:
                    index, chunk = queue.pop()
                    pending[pool.submit(function, shared, index, chunk)] = len(chunk)
            finished = [future for future in pending if future.done()]
            if not finished and queue:  # nothing back yet: this process takes a chunk
                index, chunk = queue.pop()
                yield from function(shared, index, chunk)
                finished_sizes = [len(chunk)]
            else:
                if not finished:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                finished_sizes = []
                for future in finished:
                    finished_sizes.append(pending.pop(future))
                    yield from future.result()
            done += sum(finished_sizes)
            if progress:
                progress(done, total)
    finally:
        # In the helper thread, after the start: never wait here for a pool still starting.
        starter.submit(pool.shutdown, wait=False, cancel_futures=True)
        starter.shutdown(wait=False)


def pool_answered(starting: Future[Future[int]]) -> bool:
    """True once the pool has run its first task; a pool that could not start never
    answers, and this process then does every chunk itself."""
    if not starting.done() or starting.exception() is not None:
        return False
    ping = starting.result()
    return ping.done() and ping.exception() is None
