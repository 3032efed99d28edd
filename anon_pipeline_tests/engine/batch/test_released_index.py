"""Each instance is released once across batches: skipped when another batch holds the
same bytes, held when it holds other bytes, refused at release if two runs raced."""

import copy
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from pydicom.fileset import FileSet

from anon_pipeline.cli import main
from anon_pipeline.engine.batch.pipeline import BatchPaths, Policy, StepOptions, anonymize_batch
from anon_pipeline.engine.batch.released_index import released_by
from anon_pipeline.engine.disk.layout import DataRoot, init_root
from anon_pipeline.engine.disk.tables import read_rows
from anon_pipeline.engine.release.review import record_decision
from anon_pipeline.engine.release.signoff import SignOffRefused, approve, release_batch
from anon_pipeline.engine.rules.rule_set import (
    SHIPPED_RULES_DIR,
    load_rule_set,
    load_shipped_rule_set,
)
from anon_pipeline.synthetic.cds import fake_patient, study_slices, write_cd_batch
from anon_pipeline_tests.conftest import TEST_KEY

WHITELIST = SHIPPED_RULES_DIR / "whitelist.yaml"


def data_root(path: Path) -> DataRoot:
    """A data root whose reviewers have decided what the synthetic CDs queue."""
    root = init_root(path, create_key=False)
    record_decision(root.reviewed_rules, WHITELIST, "ContrastBolusAgent", "keep", "Anna")
    record_decision(root.reviewed_rules, WHITELIST, "RequestAttributesSequence", "remove", "Anna")
    return root


def process(root: DataRoot, batch: str, index: bool = True) -> BatchPaths:
    paths = BatchPaths.in_root(root, batch)
    anonymize_batch(
        paths,
        Policy(
            load_shipped_rule_set("blacklist"),
            load_rule_set(WHITELIST, reviewed=root.reviewed_rules),
            TEST_KEY,
        ),
        StepOptions(workers=1),
        operator="Olaf",
        index=root.released_index if index else None,
    )
    return paths


def sign_off(root: DataRoot, batch: str) -> dict:
    approve(root, batch, "Basia")
    return release_batch(root, batch)


def dispositions(paths: BatchPaths) -> list[str]:
    return sorted(row["disposition"] for row in read_rows(paths.manifest))


def released_instances(root: DataRoot) -> list[str]:
    """Every instance in released/, with repeats."""
    return sorted(path.name for path in root.released.rglob("*.dcm"))


def write_cd(batch_dir: Path, datasets) -> None:
    file_set = FileSet()
    for dataset in datasets:
        file_set.add(dataset)
    file_set.write(batch_dir)


def test_the_same_cd_under_two_names_is_released_once(tmp_path):
    root = data_root(tmp_path / "root")
    for name in ("CDA", "CDB"):
        write_cd_batch(root.incoming / name, [fake_patient(61)], series=1, slices=3)
    process(root, "CDA")
    sign_off(root, "CDA")
    second = process(root, "CDB")
    assert dispositions(second).count("skipped: already released in CDA") == 3
    assert not list(second.release_files.rglob("*.dcm"))  # nothing new to release
    audit = sign_off(root, "CDB")
    assert audit["files_released"] == 0
    assert len(released_instances(root)) == 3 == len(set(released_instances(root)))
    first = sorted((root.released / "CDA").rglob("*.dcm"))[0]
    assert released_by(root.released_index, first.stem) == "CDA"


def test_an_overlapping_cd_releases_only_what_is_new(tmp_path, capsys):
    root = data_root(tmp_path / "root")
    old, new = fake_patient(62), fake_patient(63)
    write_cd_batch(root.incoming / "CDA", [old], series=1, slices=2)
    write_cd_batch(root.incoming / "CDB", [old, new], series=1, slices=2)
    process(root, "CDA")  # produced, not yet signed off: it still claims its instances
    second = process(root, "CDB")
    skipped = "skipped: already released in CDA (not yet signed off)"
    assert dispositions(second).count(skipped) == 2
    assert dispositions(second).count("anonymized") == 2
    assert main(["qc", "CDB", "--root", str(root.root)]) == 0  # the reviewer sees them
    shown = capsys.readouterr().out
    assert f"CDB: 2 file(s) other batches already hold\n        2  {skipped}\n" in shown
    sign_off(root, "CDA")
    sign_off(root, "CDB")
    assert len(released_instances(root)) == 4 == len(set(released_instances(root)))


def test_the_same_instance_with_other_bytes_is_held_naming_the_batch(tmp_path):
    root = data_root(tmp_path / "root")
    slices = study_slices(fake_patient(64), "study-1", series=1, slices=2)
    write_cd(root.incoming / "CDA", slices)
    reexported = [copy.deepcopy(dataset) for dataset in slices]
    reexported[0].WindowCenter = "60"  # the same instance, other headers
    write_cd(root.incoming / "CDB", reexported)
    process(root, "CDA")
    sign_off(root, "CDA")
    second = process(root, "CDB")
    assert "held: same instance, other content than CDA" in dispositions(second)
    assert "skipped: already released in CDA" in dispositions(second)
    sign_off(root, "CDB")
    assert len(released_instances(root)) == 2 == len(set(released_instances(root)))


def test_release_refuses_an_instance_two_runs_raced_past_the_early_check(tmp_path):
    root = data_root(tmp_path / "root")
    for name in ("CDA", "CDB"):
        write_cd_batch(root.incoming / name, [fake_patient(65)], series=1, slices=2)
    process(root, "CDA", index=False)  # as if both runs asked the index at once
    process(root, "CDB", index=False)
    sign_off(root, "CDA")
    approve(root, "CDB", "Basia")
    with pytest.raises(SignOffRefused, match=r"CDB: 2 instance\(s\) already released \(2 in CDA\)"):
        release_batch(root, "CDB")
    assert not (root.released / "CDB").exists()
    assert len(released_instances(root)) == 2


def process_and_release(root_path: str, batch: str) -> str:
    """One batch's whole way in its own process: what two Dagster runs do at once."""
    root = DataRoot(Path(root_path))
    process(root, batch)
    try:
        sign_off(root, batch)
    except SignOffRefused as refused:
        return str(refused)
    return "released"


def test_overlapping_batches_run_at_once_release_each_instance_once(tmp_path):
    root = data_root(tmp_path / "root")
    shared, own_a, own_b = fake_patient(66), fake_patient(67), fake_patient(68)
    write_cd_batch(root.incoming / "CDA", [shared, own_a], series=1, slices=2)
    write_cd_batch(root.incoming / "CDB", [shared, own_b], series=1, slices=2)
    # An executor waits for its workers to finish; a Pool's `with` terminates them,
    # which can hang on a worker stopped while it holds the task queue's lock.
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=spawn) as executor:
        outcomes = list(executor.map(process_and_release, [str(root.root)] * 2, ["CDA", "CDB"]))
    for batch, outcome in zip(("CDA", "CDB"), outcomes, strict=True):
        if outcome != "released":  # both raced past the early check: rerun, then it goes
            assert "already released" in outcome and "rerun" in outcome, outcome
            assert process_and_release(str(root.root), batch) == "released"
    instances = released_instances(root)
    assert len(instances) == 6 == len(set(instances))
    assert os.path.getsize(root.released_index) > 0
