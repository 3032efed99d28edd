"""Sign-off: refused for the operator, for failed checks, for an open queue and for a
changed output; release refuses without a valid approval and succeeds with one."""

import json
import os

import pydicom
import pytest

from anon_pipeline.engine.batch.pipeline import BatchPaths, Policy, StepOptions, anonymize_batch
from anon_pipeline.engine.release.signoff import SignOffRefused, approve, release_batch
from anon_pipeline.engine.rules.rule_set import SHIPPED_RULES_DIR, load_rule_set
from anon_pipeline.synthetic.cds import fake_patient
from anon_pipeline_tests.engine.release.conftest import BATCH, process


@pytest.fixture
def root(signoff_root):
    """The batch ready for sign-off (conftest), by the name these tests give it."""
    return signoff_root


def test_the_operator_cannot_approve_their_own_batch(root):
    with pytest.raises(SignOffRefused, match="Olaf ran the whitelisting"):
        approve(root, BATCH, "olaf")


def test_an_open_review_queue_blocks_approval(root, blacklist, whitelist):
    process(root, blacklist, whitelist)  # without the decisions: attributes queued again
    with pytest.raises(
        SignOffRefused, match=r"2 attribute\(s\) wait for a decision: ContrastBolusAgent"
    ):
        approve(root, BATCH, "Anna")


def test_a_failed_check_blocks_approval(root):
    output = next(BatchPaths.in_root(root, BATCH).release_files.rglob("*.dcm"))
    dataset = pydicom.dcmread(output)
    dataset.private_block(0x0009, "PLANTED", create=True).add_new(0x01, "LO", "x")
    dataset.save_as(output, enforce_file_format=True)
    # the planted tag changed the bytes too: both checks fail
    failed = (
        r"automated checks failed: parse_and_pixels \(2\.25\.[0-9./]+\.dcm: bytes differ "
        r"from those the run wrote \(manifest output_hash\)\); "
        r"private_attributes \(2\.25\.[0-9./]+\.dcm\)$"
    )
    with pytest.raises(SignOffRefused, match=failed):
        approve(root, BATCH, "Anna")


def test_release_refuses_without_approval(root):
    with pytest.raises(SignOffRefused, match="not approved"):
        release_batch(root, BATCH)
    assert not (root.released / BATCH).exists()


def test_an_approved_batch_is_released_with_a_phi_free_audit_log(root):
    approval = approve(root, BATCH, "Anna")
    assert approval["operator"] == "Olaf" and approval["reviewer"] == "Anna"
    audit = release_batch(root, BATCH)
    released = root.released / BATCH
    paths = BatchPaths.in_root(root, BATCH)
    originals = sorted(
        p.relative_to(paths.release_files) for p in paths.release_files.rglob("*.dcm")
    )
    copies = sorted(p.relative_to(released / "dicom") for p in (released / "dicom").rglob("*.dcm"))
    assert copies == originals and len(copies) == 2
    first = released / "dicom" / copies[0]
    assert os.path.samefile(first, paths.release_files / copies[0])  # a hard link, not a copy
    text = (released / "audit.json").read_text()
    assert json.loads(text)["approved_by"] == "Anna" and audit["outcomes"]["anonymized"] == 2
    for identifier in fake_patient(9).identifiers():
        assert identifier not in text


def test_a_rerun_that_changes_the_output_voids_the_approval(root, blacklist):
    approve(root, BATCH, "Anna")
    other_whitelist = load_rule_set(
        SHIPPED_RULES_DIR / "whitelist.yaml", reviewed=root.reviewed_rules
    )
    paths = BatchPaths.in_root(root, BATCH)
    anonymize_batch(
        paths,
        Policy(blacklist, other_whitelist, b"another key 32 bytes long......!"),
        StepOptions(workers=1),
        operator="Olaf",
    )
    with pytest.raises(SignOffRefused, match="outputs changed after the approval"):
        release_batch(root, BATCH)


def test_a_wrongly_kept_attribute_fails_the_rerun_and_says_where(tmp_path, blacklist):
    """A reviewer keeps AcquisitionComments, which holds the patient's name: the rerun's
    check names the element and whose value it is (never the value), approve is refused
    with that, and nothing is released."""
    from anon_pipeline.engine.disk.layout import DataRoot
    from anon_pipeline.engine.release.review import record_decision
    from anon_pipeline.engine.release.signoff import recorded_failures
    from anon_pipeline.engine.release.verification import check_outputs
    from anon_pipeline.synthetic.cds import write_cd_batch

    root = DataRoot(tmp_path / "root")
    patient = fake_patient(12)
    family, given = patient.name.split("^")[:2]
    victim = write_cd_batch(root.incoming / BATCH, [patient], series=1, slices=2)[0]
    dataset = pydicom.dcmread(victim)
    dataset.AcquisitionComments = f"pacjent {given} {family} niespokojny"
    dataset.save_as(victim)
    whitelist_path = SHIPPED_RULES_DIR / "whitelist.yaml"
    for keyword, action in [
        ("AcquisitionComments", "keep"),  # the wrong decision
        ("ContrastBolusAgent", "keep"),
        ("RequestAttributesSequence", "remove"),
    ]:
        record_decision(root.reviewed_rules, whitelist_path, keyword, action, "Anna")
    paths = process(root, blacklist, load_rule_set(whitelist_path, reviewed=root.reviewed_rules))
    failed = check_outputs(paths, workers=1).identifying_values.failed
    assert len(failed) == 1 and failed[0].endswith(": PatientName in AcquisitionComments")
    with pytest.raises(
        SignOffRefused,
        match=r"failed: identifying_values \(.*\.dcm: PatientName in "
        r"AcquisitionComments\)",
    ):
        approve(root, BATCH, "Zofia")
    assert recorded_failures(paths) == [f"identifying_values ({failed[0]})"]
    assert family not in json.dumps(recorded_failures(paths))
    assert not (root.release.parent / "released").exists() or not any(
        (root.release.parent / "released").rglob("*.dcm")
    )
