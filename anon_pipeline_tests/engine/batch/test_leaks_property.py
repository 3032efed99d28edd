"""Property-based: wherever an identifier is planted, it does not reach an output."""

import os
import random
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from anon_pipeline.engine.dicom.dicomfile import encode_dicom, quiet_pydicom
from anon_pipeline.engine.files.outcomes import Reason
from anon_pipeline.engine.files.scan import Kind, ScannedFile, classify_file
from anon_pipeline.engine.files.stage import ChunkRecorder, Outcome, Stage, StageJob, process_file
from anon_pipeline.engine.rules.deidentification import mark_deidentified
from anon_pipeline.engine.rules.transform import apply_rules
from anon_pipeline.synthetic.cds import fake_patient, make_ct_slice
from anon_pipeline_tests.conftest import TEST_KEY, write_dataset

# Attributes a marker may be planted in: blacklisted ones, ones no rule names, and
# ones whose whitelist rule changes the value. (A whitelisted `keep` attribute keeps
# its value by design: that is what the human QC of unique values is for.)
PLANTABLE = [
    ("PatientName", "PN"),
    ("PatientID", "LO"),
    ("OtherPatientNames", "PN"),
    ("PatientAddress", "LO"),
    ("InstitutionName", "LO"),
    ("ReferringPhysicianName", "PN"),
    ("OperatorsName", "PN"),
    ("AccessionNumber", "SH"),
    ("StudyID", "SH"),
    ("SeriesDescription", "LO"),
    ("ContrastBolusAgent", "LO"),
    ("ClinicalTrialSponsorName", "LO"),
    ("ImageComments", "LT"),
    ("PatientComments", "LT"),
    ("RequestingPhysician", "PN"),
]
markers = st.from_regex(r"ZQ[A-Z]{6,10}", fullmatch=True)


def plant(dataset: Dataset, marker: str, where: str, keyword: str, vr: str) -> None:
    if where == "top":
        dataset.add_new(keyword, vr, marker)
    elif where == "private":
        block = dataset.private_block(0x0041, "HOSTILE CREATOR", create=True)
        block.add_new(0x20, "LO", marker)
    elif where == "nested":
        item = Dataset()
        item.add_new(keyword, vr, marker)
        outer = Dataset()
        outer.ReferencedStudySequence = Sequence([item])
        dataset.ReferencedImageSequence = Sequence([outer])
    else:  # private block inside a whitelisted sequence item
        item = Dataset()
        item.ReferencedSOPInstanceUID = "1.2.3.4"
        item.private_block(0x0043, "NESTED", create=True).add_new(0x01, "UN", marker.encode())
        dataset.ReferencedImageSequence = Sequence([item])


@settings(max_examples=150, deadline=None)
@given(
    marker=markers,
    plantings=st.lists(
        st.tuples(
            st.sampled_from(["top", "private", "nested", "nested_private"]),
            st.sampled_from(PLANTABLE),
        ),
        min_size=1,
        max_size=4,
    ),
    with_stage1=st.booleans(),
)
def test_planted_identifier_never_reaches_the_output(
    marker, plantings, with_stage1, blacklist, whitelist
):
    dataset = make_ct_slice(fake_patient(7), "prop", 1, 1, rows=4, columns=4)
    for where, (keyword, vr) in plantings:
        plant(dataset, marker, where, keyword, vr)
    with quiet_pydicom():
        if with_stage1:
            apply_rules(dataset, blacklist, TEST_KEY)
        apply_rules(dataset, whitelist, TEST_KEY)
        mark_deidentified(dataset, whitelist)
        encoded = encode_dicom(dataset, dataset.file_meta.TransferSyntaxUID)
    assert marker.encode() not in encoded


@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "120")), deadline=None)
@given(seed=st.integers(0, 2**32 - 1), flips=st.integers(1, 40), cut=st.booleans())
def test_mutated_files_always_get_an_outcome_and_never_leak(seed, flips, cut, whitelist):
    with tempfile.TemporaryDirectory() as folder:  # every example on its own: no leftovers
        check_mutated_file(Path(folder), seed, flips, cut, whitelist)


def check_mutated_file(tmp_path: Path, seed: int, flips: int, cut: bool, whitelist) -> None:
    patient = fake_patient(3)
    batch = tmp_path / "batch"
    path = write_dataset(batch / "IM1", make_ct_slice(patient, "fuzz", 1, 1, rows=4, columns=4))
    data = bytearray(path.read_bytes())
    rng = random.Random(seed)
    for _ in range(flips):
        data[rng.randrange(len(data))] = rng.randrange(256)
    if cut:
        data = data[: rng.randrange(1, len(data))]
    path.write_bytes(bytes(data))

    with quiet_pydicom():
        scanned = classify_file(batch, 0, "IM1")
    assert isinstance(scanned, ScannedFile) and scanned.kind in set(Kind)
    if not scanned.is_processable:
        return
    output_dir = tmp_path / "out"
    job = StageJob(Stage.WHITELIST, whitelist, TEST_KEY, batch, output_dir, tmp_path / "work")
    with quiet_pydicom():
        outcome = process_file(job, scanned, path.read_bytes(), ChunkRecorder())
    # a mutated SOP Class UID is outside the release scope: skipped, nothing written
    out_of_scope = outcome.reason is Reason.OUT_OF_SCOPE and not any(output_dir.rglob("*.dcm"))
    assert outcome.outcome in (Outcome.ANONYMIZED, Outcome.HELD) or out_of_scope
    for written in output_dir.rglob("*.dcm"):
        content = written.read_bytes()
        assert patient.name.encode() not in content
        assert patient.patient_id.encode() not in content
