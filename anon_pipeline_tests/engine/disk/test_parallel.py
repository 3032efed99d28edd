"""Chunked work over processes: every item once, this process working too, errors surfacing."""

import os

import pytest

from anon_pipeline.engine.disk import parallel
from anon_pipeline.engine.disk.parallel import chunked, map_chunks
from anon_pipeline.engine.disk.tables import VALUES
from anon_pipeline.engine.files.scan import scan_batch
from anon_pipeline.engine.files.stage import Outcome, Stage, StageJob, process_chunk
from anon_pipeline.synthetic.cds import fake_patient, write_cd_batch
from anon_pipeline_tests.engine.disk.parallel_helpers import fail_on, imported, square_slowly

PRODUCTION_MIN_POOL_ITEMS = parallel.MIN_POOL_ITEMS  # read at collection, before conftest patches


def test_chunks_cover_every_item_once_in_order():
    items = list(range(1000))
    chunks = chunked(items, workers=2)
    assert [item for chunk in chunks for item in chunk] == items
    assert len(chunks) >= 8  # several per worker, so a slow file cannot stall the others
    alone = chunked(items, workers=1)  # nothing to rebalance: per-chunk costs count most
    assert [len(chunk) for chunk in alone] == [256, 256, 256, 232]
    assert [item for chunk in alone for item in chunk] == items


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


def test_a_shared_pool_starts_once_for_several_maps_and_closes_after(monkeypatch):
    started = []
    original_init = parallel.WorkerPool.__init__

    def counting_init(self, size):
        started.append(size)
        original_init(self, size)

    monkeypatch.setattr(parallel.WorkerPool, "__init__", counting_init)
    with parallel.shared_pool():
        first = list(map_chunks(square_slowly, 0.8, list(range(320)), 2))
        second = list(map_chunks(square_slowly, 0.2, list(range(320)), 2))  # pool is warm
        pools = parallel._shared.get()
        pool = pools.pool
    assert started == [1]  # one start for both maps
    first_workers = {pid for _, _, pid in first} - {os.getpid()}
    second_workers = {pid for _, _, pid in second} - {os.getpid()}
    assert len(first_workers) == 1 and second_workers == first_workers  # the same worker
    assert sorted(item for item, _, _ in second) == list(range(320))
    assert pools.pool is None and parallel._shared.get() is None
    pool.starter.shutdown(wait=True)  # the close runs in the helper thread
    with pytest.raises(RuntimeError):
        pool.executor.submit(os.getpid)  # shut down


def test_after_an_error_a_shared_pool_is_replaced():
    with parallel.shared_pool():
        with pytest.raises(ValueError, match="item 319 failed"):
            list(map_chunks(fail_on, 319, list(range(320)), 2))
        assert parallel._shared.get().pool is None  # dropped: it may be broken
        results = list(map_chunks(square_slowly, 0.8, list(range(320)), 2))
    assert sorted(item for item, _, _ in results) == list(range(320))
    assert len({pid for _, _, pid in results}) == 2


def test_a_stage_worker_never_imports_pandas(tmp_path, whitelist, key):
    """pyarrow imports pandas (about 0.4 s) for the first array it builds. Workers send
    their side-table rows back as plain columns instead, so the fork server need not
    preload pandas and every pool starts that much sooner."""
    batch = tmp_path / "cd"
    write_cd_batch(batch, [fake_patient(1)], series=1, slices=3)
    scanned = scan_batch(batch, workers=1)
    job = StageJob(Stage.WHITELIST, whitelist, key, batch, tmp_path / "out", tmp_path / "work")
    pool = parallel.WorkerPool(1)
    try:
        [result] = pool.submit(process_chunk, job, 0, scanned).result(timeout=120)
        outcomes = [outcome.outcome for outcome in result.outcomes]
        assert outcomes.count(Outcome.ANONYMIZED) == 3, [o.disposition for o in result.outcomes]
        assert len(result.tables[VALUES]["value"]) > 50  # it did build the inventory rows
        assert pool.submit(imported, "pydicom").result(timeout=60)  # the check can say yes
        assert not pool.submit(imported, "pandas").result(timeout=60)
    finally:
        pool.close()


def test_where_there_is_no_fork_server_the_pool_spawns(monkeypatch):
    """A hospital's Windows PC has no fork server: the pool starts its workers with spawn
    and every item still comes back once, from both processes."""
    import multiprocessing

    started = []
    original = multiprocessing.get_context
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    monkeypatch.setattr(
        multiprocessing,
        "get_context",
        lambda method=None: started.append(method) or original(method),
    )
    results = list(map_chunks(square_slowly, 1.5, list(range(160)), 2))
    assert sorted(item for item, _, _ in results) == list(range(160))
    assert "spawn" in started and "forkserver" not in started
    assert len({pid for _, _, pid in results}) == 2
