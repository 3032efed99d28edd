"""Release in Dagster: refused without a sign-off, started by the approvals sensor after one."""

import os
from pathlib import Path

import dagster as dg

from anon_pipeline.defs.jobs import release_batch_job
from anon_pipeline.defs.resources import PipelineSettings
from anon_pipeline.defs.sensors import approved_batches
from anon_pipeline.engine.release.signoff import approval_path, approve
from anon_pipeline.synthetic.cds import fake_patient, make_ct_slice
from anon_pipeline_tests.conftest import write_dataset
from anon_pipeline_tests.defs.conftest import definitions_for, incoming, run_batch

BATCH = "cd_release"


def write_clean_batch(settings: PipelineSettings) -> None:
    """Slices with nothing for the review queue, so a sign-off is possible."""
    for number in (1, 2):
        dataset = make_ct_slice(fake_patient(8), "release", 1, number)
        del dataset.ContrastBolusAgent, dataset.RequestAttributesSequence
        write_dataset(incoming(settings) / BATCH / f"IM{number}", dataset)


def release_run(settings, instance):
    job = definitions_for(settings).resolve_job_def(release_batch_job.name)
    return job.execute_in_process(partition_key=BATCH, instance=instance, raise_on_error=False)


def tick(instance, settings, cursor=None):
    with dg.build_sensor_context(
        instance=instance, resources={"settings": settings}, cursor=cursor
    ) as context:
        return approved_batches(context)


def test_release_waits_for_a_second_persons_sign_off(tmp_path, instance, settings, monkeypatch):
    settings = PipelineSettings(root=settings.root, workers=1, operator="Olaf")
    write_clean_batch(settings)
    assert run_batch(settings, instance, BATCH).success

    refused = release_run(settings, instance)
    assert not refused.success
    failure = next(e for e in refused.all_events if e.is_step_failure)
    assert "not approved" in failure.step_failure_data.user_failure_data.description
    assert tick(instance, settings).run_requests == []

    approve(settings.data_root, BATCH, "Anna")
    first = tick(instance, settings)
    assert [request.partition_key for request in first.run_requests] == [BATCH]
    again = tick(instance, settings, first.cursor)
    assert again.run_requests == []
    assert len(again.cursor) < 300  # what it remembers: recent requests and a time

    os.utime(approval_path(settings.data_root, BATCH), (1.0, 1.0))  # an old approval
    read, real_read_text = [], Path.read_text

    def read_text(path, *args, **kwargs):
        read.append(path)
        return real_read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    assert tick(instance, settings, again.cursor).run_requests == []
    assert read == []  # approvals older than the last look are only stat'ed
    monkeypatch.undo()

    released = release_run(settings, instance)
    assert released.success
    event = instance.get_latest_materialization_event(dg.AssetKey("released_batch"))
    assert event.asset_materialization.metadata["approved_by"].value == "Anna"
    assert event.asset_materialization.metadata["whitelisted_by"].value == "Olaf"
    assert len(list((settings.data_root.released / BATCH / "dicom").rglob("*.dcm"))) == 2
