"""The cluster deployment for real: Postgres, Redis, two Celery workers and the daemon on
loopback ports; the sensor's runs go to the workers; a killed worker's run is failed
and a rerun on the other worker gives the same bytes. Everything started is stopped,
also when a test fails. Run alone with `make test-cluster`."""

import os
import shutil
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest

from anon_pipeline.cluster.local import LocalCluster
from anon_pipeline.engine.batch.pipeline import BatchPaths, Policy, StepOptions, anonymize_batch
from anon_pipeline.engine.disk.keys import load_key
from anon_pipeline.engine.disk.layout import init_root
from anon_pipeline.engine.rules.rule_set import load_shipped_rule_set
from anon_pipeline.synthetic.cds import fake_patient, write_cd_batch
from anon_pipeline_tests.conftest import tree_digest

pytestmark = [pytest.mark.slow, pytest.mark.cluster]
BATCHES = {
    "cd_101": [fake_patient(101)],
    "cd_102": [fake_patient(102)],
    "cd_103": [fake_patient(103)],
}
KILLED = "cd_104"
RUN_SECONDS = 240
POLL_SECONDS = 2
NEEDED = ["redis-server", "pg_dump"] + (["runuser"] if os.geteuid() == 0 else [])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    missing = [tool for tool in NEEDED if shutil.which(tool) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{', '.join(missing)} missing in CI: .ci/run must install them")
        pytest.skip(f"{', '.join(missing)} not installed (Debian: postgresql, redis-server)")
    base = tmp_path_factory.mktemp("cluster")
    root = init_root(base / "root").root
    with (
        LocalCluster(base, root, workers=2, poll_seconds=POLL_SECONDS, engine_workers=1) as up,
        pytest.MonkeyPatch.context() as patch,  # this process reads the same instance
    ):
        for name in (
            "DAGSTER_HOME",
            "ANON_PIPELINE_POSTGRES_URL",
            "ANON_PIPELINE_BROKER",
            "ANON_PIPELINE_RESULT_BACKEND",
            "ANON_PIPELINE_MAX_RUNS",
            "ANON_PIPELINE_COMPUTE_LOGS",
            "ANON_PIPELINE_ROOT",
        ):
            patch.setenv(name, up.env[name])
        with dg.DagsterInstance.get() as instance:
            yield up, instance


def runs_of(instance: dg.DagsterInstance, batch: str) -> list[dg.DagsterRun]:
    return instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": batch}))


def wait_for_runs(instance, batches, statuses=(dg.DagsterRunStatus.SUCCESS,)) -> dict:
    """The newest run of each batch once all of them have one of `statuses`."""
    deadline = time.monotonic() + RUN_SECONDS
    done = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
    while time.monotonic() < deadline:
        newest = {batch: (runs_of(instance, batch) or [None])[0] for batch in batches}
        if all(run is not None and run.status in done for run in newest.values()):
            assert {run.status for run in newest.values()} <= set(statuses), newest
            return newest
        time.sleep(1)
    raise AssertionError(f"runs not finished within {RUN_SECONDS}s: {newest}")


def pids_of(instance, run_id: str) -> set[int]:
    """The processes that executed the run's steps."""
    return {
        record.dagster_event.pid
        for record in instance.all_logs(run_id)
        if record.dagster_event is not None and record.dagster_event.is_step_event
    }


def reference_release(cluster, batch_dir: Path, tmp: Path) -> dict[str, str]:
    """The batch through the engine in this process, with the cluster's key."""
    copy = tmp / batch_dir.name
    shutil.copytree(batch_dir, copy, symlinks=True)
    paths = BatchPaths(copy, tmp / "secure" / copy.name, tmp / "release" / copy.name)
    anonymize_batch(
        paths,
        Policy(
            load_shipped_rule_set("blacklist"),
            load_shipped_rule_set("whitelist"),
            load_key(cluster.root / "secure" / "anon_pipeline.key"),
        ),
        StepOptions(workers=1),
    )
    return tree_digest(paths.release_files)


def drop_batch(cluster, batch: str, patients, slices: int = 2) -> Path:
    staging = cluster.base / "copying" / batch
    write_cd_batch(staging, patients, series=2, slices=slices)
    (staging / ".copy_complete").touch()
    target = cluster.root / "incoming" / batch
    shutil.move(staging, target)  # arrives whole, as a copy station renames a finished copy
    return target


def test_the_sensors_runs_go_to_both_workers_and_match_an_in_process_run(cluster, tmp_path):
    up, instance = cluster
    for batch, patients in BATCHES.items():
        drop_batch(up, batch, patients)
    runs = wait_for_runs(instance, BATCHES)
    workers = up.worker_pids()
    daemon = up.processes["daemon"].pid
    used = set()
    for batch, run in runs.items():
        pids = pids_of(instance, run.run_id)
        assert pids and pids <= set(workers.values()), (batch, pids, workers)
        assert daemon not in pids
        assert "dagster-celery/task_id" in run.tags
        used |= pids
    assert used == set(workers.values())  # both workers got work
    for batch in BATCHES:
        released = up.root / "release" / batch / "dicom"
        expected = reference_release(up, up.root / "incoming" / batch, tmp_path)
        assert tree_digest(released) == expected, batch


def test_nothing_the_postgres_instance_stores_holds_phi(cluster):
    up, instance = cluster
    wait_for_runs(instance, BATCHES)
    dump = subprocess.run(
        ["pg_dump", "-h", "127.0.0.1", "-p", str(up.pg_port), "-U", "anon", "dagster"],
        check=True,
        capture_output=True,
    ).stdout
    assert b"event_logs" in dump and len(dump) > 10_000
    for patients in BATCHES.values():
        for identifier in patients[0].identifiers():
            assert identifier.encode() not in dump, identifier


def test_a_killed_workers_run_fails_and_a_rerun_elsewhere_gives_the_same_bytes(cluster, tmp_path):
    """A worker machine lost under a run: the run fails cleanly, and Dagster's run retries
    (dagster.yaml) start it again on the surviving worker with no command typed; the
    retry releases the bytes an undisturbed run gives."""
    up, instance = cluster
    wait_for_runs(instance, BATCHES)  # the first three are done: both workers are free
    batch_dir = drop_batch(up, KILLED, [fake_patient(104), fake_patient(105)], slices=30)
    deadline, victim = time.monotonic() + RUN_SECONDS, None
    while victim is None and time.monotonic() < deadline:
        run = (runs_of(instance, KILLED) or [None])[0]
        if run is not None and (pids := pids_of(instance, run.run_id)):
            victim = next(name for name, pid in up.worker_pids().items() if pid in pids)
        time.sleep(0.2)
    assert victim is not None, "the run never started on a worker"
    killed_at = time.monotonic()
    up.kill(victim)
    survivor = set(up.worker_pids().values())
    while (failed := instance.get_run_by_id(run.run_id)).status != dg.DagsterRunStatus.FAILURE:
        assert not failed.is_finished, failed.status
        assert time.monotonic() - killed_at < 60, "the killed run was not failed in time"
        time.sleep(0.5)
    messages = " ".join(
        record.message for record in instance.all_logs(run.run_id) if record.message
    )
    assert "stopped beating" in messages

    deadline = time.monotonic() + RUN_SECONDS
    while (rerun := runs_of(instance, KILLED)[0]).run_id == run.run_id or not rerun.is_finished:
        assert time.monotonic() < deadline, "Dagster did not retry the run"
        time.sleep(1)
    assert rerun.status == dg.DagsterRunStatus.SUCCESS
    assert rerun.parent_run_id == run.run_id  # the retry, started by Dagster
    assert pids_of(instance, rerun.run_id) <= survivor
    released = up.root / "release" / KILLED / "dicom"
    assert tree_digest(released) == reference_release(up, batch_dir, tmp_path)


RESTARTED = "cd_105"


def test_a_database_restart_under_a_running_batch_ends_in_success_unasked(cluster, tmp_path):
    """Postgres killed under a running batch and started again 45 s later: the batch ends
    SUCCESS with no command typed, and its release is the bytes an undisturbed run gives.
    (The run fails; Dagster's run retry tries at once, while the database is still down,
    and gives up; the `unretried_failures` sensor launches the batch again once the
    database answers. A 15 s outage the run rides out by itself.)"""
    up, instance = cluster
    wait_for_runs(instance, [*BATCHES, KILLED])  # the workers are free
    batch_dir = drop_batch(up, RESTARTED, [fake_patient(106), fake_patient(107)], slices=30)
    deadline, run = time.monotonic() + RUN_SECONDS, None
    while run is None and time.monotonic() < deadline:
        newest = (runs_of(instance, RESTARTED) or [None])[0]
        if newest is not None and pids_of(instance, newest.run_id):
            run = newest  # its steps have started on a worker
        time.sleep(0.2)
    assert run is not None, "the run never started on a worker"
    up.restart_postgres(down_seconds=45)

    deadline = time.monotonic() + 2 * RUN_SECONDS
    while True:
        try:
            newest = runs_of(instance, RESTARTED)[0]
            if newest.status == dg.DagsterRunStatus.SUCCESS:
                break
            failed_for_good = newest.status == dg.DagsterRunStatus.FAILURE and (
                newest.tags.get("dagster/retry_number") == "2"
            )
            assert not failed_for_good, "every retry failed"
        except Exception as error:  # this process's own connection, while Postgres is down
            if "connection" not in str(error).lower() and "database" not in str(error).lower():
                raise
        assert time.monotonic() < deadline, "the batch did not end in success: " + "; ".join(
            f"{r.run_id[:8]} {r.status.value} {dict(r.tags)} "
            + " | ".join((e.message or "")[:300] for e in instance.all_logs(r.run_id)[-8:])
            for r in runs_of(instance, RESTARTED)
        )
        time.sleep(2)
    released = up.root / "release" / RESTARTED / "dicom"
    assert tree_digest(released) == reference_release(up, batch_dir, tmp_path)
    if newest.run_id != run.run_id:  # not ridden out: launched again, by Dagster or ours
        assert newest.tags.get("dagster/retry_number") or newest.tags.get(
            "anon_pipeline/relaunch_of"
        ), newest.tags
