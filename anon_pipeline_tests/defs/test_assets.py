"""The batch job on an ephemeral Dagster instance: assets, checks, metadata, reruns."""

import json

import dagster as dg
import pydicom

from anon_pipeline.defs.assets import anonymization_assets
from anon_pipeline.defs.resources import PipelineSettings
from anon_pipeline.engine.disk.layout import init_root
from anon_pipeline.synthetic.cds import fake_patient, make_ct_slice, write_cd_batch
from anon_pipeline_tests.conftest import tree_digest, write_dataset
from anon_pipeline_tests.defs.conftest import definitions_for, incoming, run_batch
from anon_pipeline_tests.scanner_checks import (
    assert_enhanced_ct_released_whole,
    assert_overlays_and_icons_gone,
    released_path,
    write_scanner_batch,
)

ASSET_NAMES = {asset.key.to_user_string() for asset in anonymization_assets}


def materialized(result, partition):
    return {
        event.asset_key.to_user_string()
        for event in result.get_asset_materialization_events()
        if event.partition == partition
    }


def check_results(result):
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def everything_dagster_stored(instance, result) -> str:
    """All event-log text of the run: messages, metadata, check results, tags."""
    records = instance.all_logs(result.run_id)
    run = instance.get_run_by_id(result.run_id)
    return "\n".join([json.dumps(run.tags)] + [str(record) for record in records])


def test_every_asset_of_a_partition_materializes_and_checks_pass(settings, instance):
    patients = [fake_patient(1), fake_patient(2)]
    write_cd_batch(incoming(settings) / "cd_a", patients, series=1, slices=2)
    odd = incoming(settings) / "cd_a" / "ODD"  # one file whose PatientSex is no sex
    dataset = make_ct_slice(fake_patient(9), "odd", 1, 1)
    dataset.PatientSex = "MRK0320Q"
    dataset.save_as(odd, enforce_file_format=True)
    result = run_batch(settings, instance, "cd_a")
    assert result.success
    assert materialized(result, "cd_a") == ASSET_NAMES
    checks = check_results(result)
    for name in (
        "no_private_attributes",
        "no_original_uids",
        "no_identifying_values",
        "outputs_parse_with_pixels_unchanged",
        "pixels_mean_the_same",
        "every_input_file_accounted_for",
    ):
        assert checks[name].passed, name
    assert not checks["review_queue_is_empty"].passed
    assert checks["review_queue_is_empty"].severity == dg.AssetCheckSeverity.WARN

    whitelisted = instance.get_latest_materialization_event(dg.AssetKey("whitelisted_files"))
    metadata = whitelisted.asset_materialization.metadata
    assert metadata["files_anonymized"].value == 5
    queue = instance.get_latest_materialization_event(dg.AssetKey("review_queue"))
    queued = queue.asset_materialization.metadata
    assert queued["values_refused"].value == 1  # PatientSex, with its own count
    assert queued["files_with_values_refused"].value == 1
    assert "| not a value of PatientSex | 1 |" in queued["queue"].value
    assert "MRK0320Q" not in str(queued)
    assert metadata["whitelist_rule_set_version"].value == settings.rule_sets().whitelist.version
    assert metadata["blacklist_rule_set_version"].value == settings.rule_sets().blacklist.version
    assert metadata["files_per_second"].value > 0


def test_nothing_dagster_stores_contains_phi(settings, instance):
    patients = [fake_patient(4)]
    write_cd_batch(incoming(settings) / "cd_b", patients, series=1, slices=2)
    result = run_batch(settings, instance, "cd_b")
    stored = everything_dagster_stored(instance, result)
    assert "cd_b" in stored and "no_private_attributes" in stored  # we did read the log
    for identifier in patients[0].identifiers():
        assert identifier not in stored, identifier
    for path in (incoming(settings) / "cd_b").rglob("IM*"):
        dataset = pydicom.dcmread(path)
        for uid in (dataset.SOPInstanceUID, dataset.StudyInstanceUID, dataset.SeriesInstanceUID):
            assert uid not in stored
        assert str(path.relative_to(incoming(settings) / "cd_b")) not in stored


def test_a_failing_privacy_check_blocks_the_downstream_assets(settings, instance):
    patient = fake_patient(5)
    slice_ = make_ct_slice(patient, "leaky", 1, 1)
    slice_.Manufacturer = patient.name.split("^")[0]  # kept by the whitelist: a leak
    write_dataset(incoming(settings) / "cd_leak" / "IM1", slice_)
    result = run_batch(settings, instance, "cd_leak")
    checks = check_results(result)
    assert not checks["no_identifying_values"].passed
    assert checks["no_private_attributes"].passed
    done = materialized(result, "cd_leak")
    assert "whitelisted_files" in done
    assert not done & {"hashed_uid_map", "attribute_inventory", "review_queue"}
    assert not result.success


def test_a_rerun_replaces_the_partition_whole(settings, instance):
    write_cd_batch(incoming(settings) / "cd_c", [fake_patient(6)], series=1, slices=2)
    assert run_batch(settings, instance, "cd_c").success
    paths = settings.paths("cd_c")
    first = tree_digest(paths.release_files)
    (paths.release_files / "stray.dcm").write_bytes(b"from an older run")
    (paths.stage1_files / "stray.dcm").write_bytes(b"from an older run")
    assert run_batch(settings, instance, "cd_c").success
    assert tree_digest(paths.release_files) == first
    assert not (paths.stage1_files / "stray.dcm").exists()


def test_rule_versions_are_the_code_versions_of_the_settings_rules(settings, tmp_path):
    """The code versions come from the rules the settings name (their reviewed decisions
    included), not from rules bound when a module was imported."""
    from anon_pipeline.engine.release.review import record_decision
    from anon_pipeline.engine.rules.rule_set import SHIPPED_RULES_DIR

    def versions(settings):
        graph = definitions_for(settings).resolve_asset_graph()
        return {
            key.to_user_string(): graph.get(key).code_version for key in graph.get_all_asset_keys()
        }

    rules = settings.rule_sets()
    before = versions(settings)
    assert before["blacklisted_files"] == rules.blacklist.version
    for name in ("whitelisted_files", "hashed_uid_map", "attribute_inventory", "review_queue"):
        assert before[name] == rules.whitelist.version
    record_decision(
        settings.data_root.reviewed_rules,
        SHIPPED_RULES_DIR / "whitelist.yaml",
        "ContrastBolusAgent",
        "keep",
        "Anna",
    )
    after = versions(settings)
    assert after["whitelisted_files"] == settings.rule_sets().whitelist.version
    assert after["whitelisted_files"] != before["whitelisted_files"]
    assert after["blacklisted_files"] == before["blacklisted_files"]


def test_a_missing_key_fails_the_run_with_a_clear_message(settings, instance):
    settings.data_root.key_file.unlink()
    write_cd_batch(incoming(settings) / "cd_d", [fake_patient(7)], series=1, slices=1)
    result = run_batch(settings, instance, "cd_d")
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "anon-pipeline init" in str(failure.step_failure_data.error.message) + str(
        failure.step_failure_data.user_failure_data
    )


def test_a_scratch_folder_stages_the_batch_for_the_steps_that_read_it(tmp_path, instance):
    init_root(tmp_path / "root")
    scratch = tmp_path / "root" / "scratch"  # the default: <root>/scratch
    settings = PipelineSettings(
        root=str(tmp_path / "root"), workers=1, quiet_seconds=3600, scratch_bytes=10**9
    )
    write_cd_batch(incoming(settings) / "cd_s", [fake_patient(5)], series=1, slices=2)
    result = run_batch(settings, instance, "cd_s")
    assert result.success
    messages = [record.user_message for record in instance.all_logs(result.run_id)]
    staged = [message for message in messages if "batch staged in scratch" in message]
    assert len(staged) == 2, messages  # raw_batch (the scan) and blacklisted_files (stage 1)
    assert [p for p in scratch.iterdir() if p.is_dir()] == []
    metadata = instance.get_latest_materialization_event(
        dg.AssetKey("whitelisted_files")
    ).asset_materialization.metadata
    assert metadata["files_anonymized"].value == 2


def test_scanners_objects_through_the_job(settings, instance):
    """An Enhanced CT is released whole, overlays and icons go, an overlay drawn into the
    pixel data is held; the pixel meaning check passes and Dagster names the hold."""
    write_scanner_batch(incoming(settings) / "scanner", fake_patient(8))
    result = run_batch(settings, instance, "scanner")
    assert result.success
    checks = check_results(result)
    assert all(check.passed for name, check in checks.items() if name != "review_queue_is_empty")
    assert checks["pixels_mean_the_same"].metadata["checked"].value == 3
    paths = settings.paths("scanner")
    assert_enhanced_ct_released_whole(
        paths.batch_dir / "ENHANCED",
        released_path(paths.manifest, paths.release_files, "ENHANCED"),
        paths.uid_map,
    )
    assert_overlays_and_icons_gone(sorted(paths.release_files.rglob("*.dcm")))
    whitelisted = instance.get_latest_materialization_event(dg.AssetKey("whitelisted_files"))
    metadata = whitelisted.asset_materialization.metadata
    assert metadata["files_anonymized"].value == 3
    assert "overlay in pixel data" in everything_dagster_stored(instance, result)


def test_every_job_runs_in_one_process_the_uis_asset_jobs_too(settings):
    """ "Materialize" in the UI launches an asset job: in process, as the sensor's run, not
    one process per step."""
    definitions = definitions_for(settings)
    asset_job = definitions.resolve_implicit_global_asset_job_def()
    assert asset_job.executor_def.name == dg.in_process_executor.name
    assert definitions.resolve_job_def("anonymize_batch").executor_def.name == "in_process"
