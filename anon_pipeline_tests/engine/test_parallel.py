"""Chunked work over processes: every item once, this process working too, errors surfacing."""

import os

import pytest

from anon_pipeline.engine import parallel
from anon_pipeline.engine.parallel import chunked, map_chunks
from anon_pipeline_tests.engine.parallel_helpers import fail_on, square_slowly

PRODUCTION_MIN_POOL_ITEMS = parallel.MIN_POOL_ITEMS  # read at collection, before conftest patches


def test_chunks_cover_every_item_once_in_order():
    items = list(range(1000))
    chunks = chunked(items, workers=2)
    assert [item for chunk in chunks for item in chunk] == items
    assert len(chunks) >= 8  # several per worker, so a slow file cannot stall the others


def test_every_item_comes_back_once_and_both_processes_work():
    """The calling process takes chunks while the pool starts, then the pool joins in."""
    progress = []
    results = list(
        map_chunks(square_slowly, 0.8, list(range(320)), 2, lambda d, t: progress.append((d, t)))
    )
    assert sorted(item for item, _, _ in results) == list(range(320))
    assert all(square == item * item for item, square, _ in results)
    pids = {pid for _, _, pid in results}
    assert os.getpid() in pids and len(pids) == 2
    assert progress[0] == (0, 320) and progress[-1] == (320, 320)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)


@pytest.mark.parametrize("bad", [0, 319])  # the first chunk (always run here) or the last
def test_an_error_in_any_chunk_stops_the_map(bad):
    with pytest.raises(ValueError, match=f"item {bad} failed"):
        list(map_chunks(fail_on, bad, list(range(320)), 2))


class PoolThatCannotStart:
    """Stands in for ProcessPoolExecutor where worker processes cannot be created."""

    def __init__(self, *_args, **_kwargs):
        pass

    def submit(self, *_args, **_kwargs):
        raise OSError("cannot fork")

    def shutdown(self, *_args, **_kwargs):
        pass


def test_when_the_pool_cannot_start_this_process_does_every_chunk(monkeypatch):
    monkeypatch.setattr(parallel, "ProcessPoolExecutor", PoolThatCannotStart)
    results = list(map_chunks(square_slowly, 0.0, list(range(320)), 2))
    assert sorted(item for item, _, _ in results) == list(range(320))
    assert {pid for _, _, pid in results} == {os.getpid()}


def test_small_batches_never_start_a_pool(monkeypatch):
    monkeypatch.setattr(parallel, "MIN_POOL_ITEMS", PRODUCTION_MIN_POOL_ITEMS)
    monkeypatch.setattr(parallel, "ProcessPoolExecutor", PoolThatCannotStart)
    started = []
    monkeypatch.setattr(PoolThatCannotStart, "__init__", lambda *_a, **_k: started.append(1))
    assert PRODUCTION_MIN_POOL_ITEMS > 16  # read before the session fixture set it to 0
    small = list(range(PRODUCTION_MIN_POOL_ITEMS - 1))
    results = list(map_chunks(square_slowly, 0.0, small, 2))
    assert len(results) == len(small) and started == []
