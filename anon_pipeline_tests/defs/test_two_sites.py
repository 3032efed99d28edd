"""Two sites through the Dagster job: a CD copied raw and a CD blacklisted at the
hospital by the CLI give the same patient one identity; a bad package is refused."""

import io

import dagster as dg
import pydicom

from anon_pipeline.cli import main
from anon_pipeline.engine.batch.package import COMPLETE_MARKER
from anon_pipeline.engine.disk.tables import read_rows
from anon_pipeline.synthetic.cds import fake_patient, make_ct_slice, write_cd_batch
from anon_pipeline_tests.defs.conftest import incoming, run_batch


def materialization(result, asset: str) -> dict:
    """The metadata of `asset`'s materialization in a run's result."""
    events = [
        event
        for event in result.get_asset_materialization_events()
        if event.asset_key == dg.AssetKey(asset)
    ]
    assert len(events) == 1, asset
    metadata = events[0].step_materialization_data.materialization.metadata
    return {key: value.value for key, value in metadata.items()}


def released(settings, batch: str) -> dict[str, bytes]:
    files = settings.paths(batch).release_files
    return {str(path.relative_to(files)): path.read_bytes() for path in files.rglob("*.dcm")}


def test_raw_and_hospital_cds_give_one_identity(settings, instance, tmp_path):
    """The hospital's CD carries the raw CD's study again (skipped there: its bytes equal
    what the raw CD released), a later study of the same patient and another patient."""
    patient = fake_patient(41)
    write_cd_batch(incoming(settings) / "cd_raw", [patient], series=1, slices=2)
    hospital_cd = tmp_path / "hospital" / "cd"
    write_cd_batch(hospital_cd, [patient, fake_patient(42)], series=1, slices=2)
    later = make_ct_slice(patient, "study-2", 1, 1)
    (hospital_cd / "LATER").mkdir()
    later.save_as(hospital_cd / "LATER" / "IM1", enforce_file_format=True)
    key = str(settings.data_root.key_file)
    package = incoming(settings) / "cd_hospital"
    command = ["blacklist", str(hospital_cd), str(package), "--key-file", key, "--quiet"]
    assert main([*command, "--workers", "1", "--records", str(tmp_path / "records")]) == 0

    results = {}
    for batch in ("cd_raw", "cd_hospital"):
        result = results[batch] = run_batch(settings, instance, batch)
        assert result.success, batch
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        assert all(passed for name, passed in checks.items() if name != "review_queue_is_empty")

    raw, adopted = released(settings, "cd_raw"), released(settings, "cd_hospital")
    assert len(raw) == 2 and len(adopted) == 3 and not set(raw) & set(adopted)
    dispositions = [row["disposition"] for row in read_rows(settings.paths("cd_hospital").manifest)]
    assert dispositions.count("skipped: already released in cd_raw (not yet signed off)") == 2
    first_raw = pydicom.dcmread(io.BytesIO(next(iter(raw.values()))))
    same_patient = [
        dataset
        for dataset in (pydicom.dcmread(io.BytesIO(data)) for data in adopted.values())
        if dataset.PatientID == first_raw.PatientID
    ]
    assert len(same_patient) == 1  # the later study: same pseudonym, same date shift
    assert same_patient[0].StudyDate == first_raw.StudyDate
    assert same_patient[0].StudyInstanceUID != first_raw.StudyInstanceUID

    assert materialization(results["cd_raw"], "raw_batch")["stage1_site"].startswith("server")
    stage1 = materialization(results["cd_hospital"], "blacklisted_files")
    assert stage1["stage1_site"].startswith("hospital (stage-1 package, adopted")
    assert stage1["hospital_files_in"] == 8 and stage1["hospital_files_anonymized"] == 5
    assert stage1["files_streamed"] == 0  # nothing was blacklisted here
    assert "key_fingerprint" in stage1 and stage1["blacklist_rule_set_version"]
    stage2 = materialization(results["cd_hospital"], "whitelisted_files")
    assert stage2["duplicates_skipped"] == 2 and stage2["files_to_release"] == 3
    # The metadata says what the manifest says, its detail not cut off.
    assert stage2["disposition: skipped: already released in cd_raw (not yet signed off)"] == 2


def test_a_refused_package_fails_its_run_with_the_reason(settings, instance, tmp_path):
    write_cd_batch(tmp_path / "cd", [fake_patient(43)], series=1, slices=2)
    package = incoming(settings) / "cd_partial"
    key = ["--key-file", str(settings.data_root.key_file), "--quiet", "--workers", "1"]
    assert main(["blacklist", str(tmp_path / "cd"), str(package), *key]) == 0
    (package / COMPLETE_MARKER).unlink()  # the copy to the server stopped short
    result = run_batch(settings, instance, "cd_partial")
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert "batch cd_partial: stage-1 package refused: incomplete" in str(
        failure.event_specific_data
    )
    assert not settings.paths("cd_partial").release_dir.exists()
    assert instance.get_latest_materialization_event(dg.AssetKey("raw_batch")) is None
