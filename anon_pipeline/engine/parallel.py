"""Spread per-file work over processes in chunks, with progress.

Chunks keep the per-task overhead small while letting a pool rebalance around a
slow file; results stream back as chunks finish, so memory stays flat.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
Progress = Callable[[int, int], None]

MIN_CHUNK, MAX_CHUNK = 16, 256
# Imported once by the fork server, so each worker starts without importing pydicom.
PRELOADED_MODULES = ["anon_pipeline.engine.stage", "anon_pipeline.engine.scan"]


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def chunked(items: Sequence[Item], workers: int) -> list[list[Item]]:
    """About four chunks per worker, between MIN_CHUNK and MAX_CHUNK items each: enough
    to rebalance around a slow file, few enough that per-chunk costs stay small."""
    size = max(MIN_CHUNK, min(MAX_CHUNK, len(items) // max(1, workers * 4)))
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
    workers=1 runs in this process (no pickling, easy to debug and profile).
    """
    chunks = chunked(items, workers)
    total, done = len(items), 0
    if progress:
        progress(0, total)
    if workers <= 1 or len(chunks) <= 1:
        for index, chunk in enumerate(chunks):
            yield from function(shared, index, chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
        return
    # forkserver: safe to start from a threaded host (Dagster) and cheaper than spawn.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOADED_MODULES)
    with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=context) as pool:
        pending = {
            pool.submit(function, shared, index, chunk): len(chunk)
            for index, chunk in enumerate(chunks)
        }
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                size = pending.pop(future)
                yield from future.result()
                done += size
                if progress:
                    progress(done, total)
