"""The arrival sensor on an instance: new, repeated, half-copied and completed batches."""

import errno
import os
from pathlib import Path

import dagster as dg

from anon_pipeline.defs.resources import PipelineSettings
from anon_pipeline.defs.sensors import RUN_KEY_TAG, SENSOR_NAME_TAG, incoming_batches
from anon_pipeline.synthetic.cds import fake_patient, write_cd_batch
from anon_pipeline_tests.defs.conftest import incoming


def tick(instance, settings, cursor=None):
    with dg.build_sensor_context(
        instance=instance, resources={"settings": settings}, cursor=cursor
    ) as context:
        return incoming_batches(context)


def added_partitions(result):
    return [key for request in result.dynamic_partitions_requests for key in request.partition_keys]


def test_new_batch_adds_its_partition_and_one_run(instance, settings):
    batch = incoming(settings) / "cd_new"
    write_cd_batch(batch, [fake_patient(1)], series=1, slices=1)
    (batch / settings.marker).touch()
    result = tick(instance, settings)
    assert added_partitions(result) == ["cd_new"]
    assert [request.partition_key for request in result.run_requests] == ["cd_new"]
    assert result.run_requests[0].run_key.startswith("cd_new:")

    instance.add_dynamic_partitions("batch", ["cd_new"])
    again = tick(instance, settings, result.cursor)
    assert again.run_requests == [] and added_partitions(again) == []


def test_half_copied_batch_waits_until_the_marker_appears(instance, settings):
    batch = incoming(settings) / "cd_copying"
    write_cd_batch(batch, [fake_patient(2)], series=1, slices=1)
    first = tick(instance, settings)
    assert first.run_requests == [] and added_partitions(first) == []
    message = first.skip_reason.skip_message  # says which batch waits, and for what
    assert "cd_copying waits for .copy_complete, or 3600 s more without a change" in message
    (batch / settings.marker).touch()
    second = tick(instance, settings, first.cursor)
    assert [request.partition_key for request in second.run_requests] == ["cd_copying"]


def test_quiet_period_makes_a_batch_ready_without_marker(instance, settings):
    quick = PipelineSettings(root=settings.root, workers=1, quiet_seconds=0)
    write_cd_batch(incoming(settings) / "cd_quiet", [fake_patient(3)], series=1, slices=1)
    result = tick(instance, quick)
    assert [request.partition_key for request in result.run_requests] == ["cd_quiet"]


def test_a_batch_that_changes_after_its_run_gets_a_new_run_key(instance, settings):
    batch = incoming(settings) / "cd_grows"
    write_cd_batch(batch, [fake_patient(4)], series=1, slices=1)
    (batch / settings.marker).touch()
    first = tick(instance, settings)
    instance.add_dynamic_partitions("batch", ["cd_grows"])
    (batch / "late_file.txt").write_text("added after the first run")
    second = tick(instance, settings, first.cursor)
    assert len(second.run_requests) == 1
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    assert added_partitions(second) == []


def test_a_batch_with_a_folder_that_cannot_be_listed_says_why_it_waits(
    instance, settings, monkeypatch
):
    quick = PipelineSettings(root=settings.root, workers=1, quiet_seconds=0)
    batch = incoming(settings) / "cd_closed"
    write_cd_batch(batch, [fake_patient(5)], series=2, slices=1)
    closed = sorted(path.parent for path in batch.rglob("IM*"))[0]
    real_scandir = os.scandir

    def scandir(path="."):
        if not isinstance(path, int) and Path(path) == closed:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    result = tick(instance, quick)
    assert result.run_requests == []
    assert "cd_closed waits: 1 folder(s) in it cannot be listed" in result.skip_reason.skip_message
    assert (
        closed.name not in result.skip_reason.skip_message
    )  # paths inside a batch stay in the secure zone


def test_a_launched_batch_is_remembered_by_dagster_not_by_the_cursor(instance, settings):
    """What was launched lives in Dagster's run keys: with the cursor lost (or after its
    few minutes of memory), the rotation compares a batch with its last run's key and
    starts nothing for an unchanged batch, and a new run for one changed deep inside."""
    batch = incoming(settings) / "cd_kept"
    write_cd_batch(batch, [fake_patient(6)], series=1, slices=2)
    (batch / settings.marker).touch()
    first = tick(instance, settings)
    request = first.run_requests[0]
    instance.add_dynamic_partitions("batch", ["cd_kept"])
    instance.add_run(
        dg.DagsterRun(
            job_name="anonymize_batch",
            tags={
                "dagster/partition": "cd_kept",
                SENSOR_NAME_TAG: incoming_batches.name,
                RUN_KEY_TAG: request.run_key,
            },
        )
    )
    lost_cursor = tick(instance, settings)  # no memory: only the rotation looks at it
    assert lost_cursor.run_requests == []
    image = sorted(batch.rglob("IM*"))[0]
    os.utime(image, ns=(1, 1))  # deep inside: no stat of the batch folder moves
    changed = tick(instance, settings, lost_cursor.cursor)
    assert [r.run_key for r in changed.run_requests] != [request.run_key]
    assert [r.partition_key for r in changed.run_requests] == ["cd_kept"]


def test_a_new_instance_over_a_processed_root_requests_no_run(instance, settings):
    """Moving to the cluster, or losing the instance's database: the data root says which
    batches were processed with which listing, so none is run again; they come back as
    partitions. A batch changed since, or never processed, still gets its run."""
    from anon_pipeline.defs.jobs import anonymize_batch_job
    from anon_pipeline_tests.defs.conftest import definitions_for

    for name in ("cd_done", "cd_changed"):
        batch = incoming(settings) / name
        write_cd_batch(batch, [fake_patient(11)], series=1, slices=1)
        (batch / settings.marker).touch()
    first = tick(instance, settings)
    instance.add_dynamic_partitions("batch", added_partitions(first))
    job = definitions_for(settings).resolve_job_def(anonymize_batch_job.name)
    for request in first.run_requests:  # as the daemon runs what the sensor requested
        tags = {**request.tags, RUN_KEY_TAG: request.run_key}
        assert job.execute_in_process(
            partition_key=request.partition_key, instance=instance, tags=tags
        ).success
    (incoming(settings) / "cd_changed" / "late_file.txt").write_text("copied after the run")
    write_cd_batch(incoming(settings) / "cd_new", [fake_patient(12)], series=1, slices=1)
    (incoming(settings) / "cd_new" / settings.marker).touch()

    with dg.instance_for_test() as fresh:
        result = tick(fresh, settings)
    assert sorted(r.partition_key for r in result.run_requests) == ["cd_changed", "cd_new"]
    assert sorted(added_partitions(result)) == ["cd_changed", "cd_done", "cd_new"]


def stale_tick(instance, settings, cursor=None):
    from anon_pipeline.defs.sensors import stale_batches

    with dg.build_sensor_context(
        instance=instance, resources={"settings": settings}, cursor=cursor
    ) as context:
        return stale_batches(context)


def test_a_reviewers_decision_reruns_every_stale_batch_once(instance, settings, monkeypatch):
    """Three processed batches turn stale with a review decision: the stale sensor asks for
    one whole-batch run each, paging through the batches; the reruns make them current."""
    from anon_pipeline.defs import sensors
    from anon_pipeline.engine.release.review import record_decision
    from anon_pipeline_tests.defs.conftest import run_batch

    names = ["cd_1", "cd_2", "cd_3"]
    for index, name in enumerate(names):
        write_cd_batch(incoming(settings) / name, [fake_patient(20 + index)], series=1, slices=1)
        assert run_batch(settings, instance, name).success
    write_cd_batch(incoming(settings) / "cd_new", [fake_patient(30)], series=1, slices=1)
    instance.add_dynamic_partitions("batch", ["cd_new"])  # added, never whitelisted: not stale
    current = stale_tick(instance, settings)
    assert isinstance(current, dg.SkipReason) or current.run_requests == []

    record_decision(
        settings.data_root.reviewed_rules,
        settings.engine_settings.rules_folder / "whitelist.yaml",
        "ContrastBolusAgent",
        "keep",
        "Anna K",
        "product names",
    )
    monkeypatch.setattr(sensors, "STALE_PAGE", 2)  # two ticks to walk four partitions
    first = stale_tick(instance, settings)
    second = stale_tick(instance, settings, first.cursor)
    requests = first.run_requests + second.run_requests
    assert [request.partition_key for request in requests] == names
    assert len({request.run_key for request in requests}) == 3
    done = stale_tick(instance, settings, second.cursor)
    assert isinstance(done, dg.SkipReason) and "3 rerun" in done.skip_message

    from anon_pipeline.defs.jobs import anonymize_batch_job
    from anon_pipeline_tests.defs.conftest import definitions_for

    job = definitions_for(settings).resolve_job_def(anonymize_batch_job.name)
    for request in requests:  # as the daemon runs them: the whole batch, in one process
        result = job.execute_in_process(
            partition_key=request.partition_key, instance=instance, tags=request.tags
        )
        assert result.success
        assert len({event.pid for event in result.all_events if event.pid}) == 1
    monkeypatch.setattr(sensors, "STALE_PAGE", 500)
    fresh = stale_tick(instance, settings)  # a new pass under the same version: none left
    assert fresh.run_requests == []
    assert "no stale batch among 4 of 4" in fresh.skip_reason.skip_message


def failed_run(instance, batch: str, **tags: str) -> str:
    """A run of the batch's job that failed, with the tags Dagster's retries set."""
    from anon_pipeline.defs.jobs import anonymize_batch_job

    run = instance.add_run(
        dg.DagsterRun(
            job_name=anonymize_batch_job.name,
            run_id=f"run-{batch}-{len(tags)}",
            status=dg.DagsterRunStatus.FAILURE,
            tags={"dagster/partition": batch, **tags},
        )
    )
    return run.run_id


def test_a_retry_dagster_could_not_launch_is_launched_once_the_database_answers(
    instance, monkeypatch
):
    """Dagster decided to retry a run (an infrastructure failure) but its attempt failed,
    the database being down: the sensor launches it. A failed check (no retry decided),
    a retry Dagster launched, a batch rerun since, or too many relaunches: nothing."""
    from anon_pipeline.defs import sensors

    monkeypatch.setattr(sensors, "RELAUNCH_GRACE_SECONDS", 0)
    lost = failed_run(instance, "cd_lost", **{"dagster/will_retry": "true"})
    failed_run(instance, "cd_check", **{"dagster/will_retry": "false"})
    failed_run(
        instance, "cd_retried", **{"dagster/will_retry": "true", "dagster/auto_retry_run_id": "x"}
    )
    failed_run(
        instance, "cd_often", **{"dagster/will_retry": "true", "anon_pipeline/relaunch": "2"}
    )
    failed_run(instance, "cd_rerun", **{"dagster/will_retry": "true"})
    failed_run(instance, "cd_rerun", a="newer", b="run")  # a later run of the same batch
    gave_up = failed_run(instance, "cd_gave_up", **{"dagster/will_retry": "false"})
    # Dagster tried at once, the database still down, and gave up (will_retry false).
    instance.report_engine_event("Failed to retry run", instance.get_run_by_id(gave_up))
    step = failed_run(
        instance,
        "cd_step",
        **{"dagster/will_retry": "false", "dagster/failure_reason": "STEP_FAILURE"},
    )  # a failed step or check needs a person, whatever Dagster logged after it
    instance.report_engine_event("Failed to retry run", instance.get_run_by_id(step))

    with dg.build_sensor_context(instance=instance) as context:
        result = sensors.unretried_failures(context)
    assert sorted(request.partition_key for request in result.run_requests) == [
        "cd_gave_up",
        "cd_lost",
    ]
    request = next(r for r in result.run_requests if r.partition_key == "cd_lost")
    assert request.run_key == f"relaunch:{lost}"
    assert request.tags["anon_pipeline/relaunch"] == "1"

    with dg.build_sensor_context(instance=instance, cursor=result.cursor) as context:
        again = sensors.unretried_failures(context)  # judged once: not requested again
    assert again.run_requests == [] and again.skip_reason is not None

    monkeypatch.setattr(sensors, "RELAUNCH_GRACE_SECONDS", 3600)  # Dagster's own turn first
    with dg.build_sensor_context(instance=instance) as context:
        assert sensors.unretried_failures(context).run_requests == []
