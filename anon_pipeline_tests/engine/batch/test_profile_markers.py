"""The marker test, rebuilt from the standard's table: a unique marker in every row of
PS3.15 Table E.1-1 that a file can carry, at the top level and two levels down in
sequences, in CT files on two CDs, through `anonymize`. No row may come through that
no declared option or written exception allows."""

from pathlib import Path

import pydicom
import pytest
from pydicom.datadict import dictionary_VM, dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from anon_pipeline.engine.batch import Policy, StepOptions, anonymize_batch
from anon_pipeline.engine.disk.layout import BatchPaths
from anon_pipeline.engine.disk.tables import read_rows
from anon_pipeline.engine.rules.profile import Verdict, judge, load_table
from anon_pipeline.synthetic.cds import fake_patient, make_ct_slice
from anon_pipeline_tests.conftest import TEST_KEY

DEPTHS = "TAB"  # top level, in ReferencedImageSequence, in its SourceImageSequence
CONTAINERS = ("ReferencedImageSequence", "SourceImageSequence")
TEXT_VRS = {"AE", "CS", "SH", "LO", "PN", "ST", "LT", "UT", "UC", "UR"}
BYTES_VRS = {"OB", "OW", "OF", "OD", "OL", "OV", "UN"}
NUMBER_VRS = {"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD"}


def plantable_rows():
    """(index, keyword, VR, multiplicity) of every row with a keyword a dataset can hold."""
    rows = []
    for index, row in enumerate(load_table().rows):
        if not row.keyword or row.tag[1:5] in ("0000", "0002"):  # command set, file meta
            continue
        vr = dictionary_VR(tag_for_keyword(row.keyword)).split(" or ")[0]
        if vr == "AT":
            continue
        multiplicity = dictionary_VM(tag_for_keyword(row.keyword))
        rows.append((index, row.keyword, vr, int(multiplicity) if multiplicity.isdigit() else 1))
    return rows


# Values of each VR that no other row, depth or generator writes: (row, depth, file).
FORMATS = {
    "UI": lambda i, d, f: f"1.2.826.0.1.3680043.10.543.{i}.{d}.{f}",
    "DA": lambda i, d, f: f"19{i % 90 + 10:02d}{d + 1:02d}{f % 28 + 1:02d}",
    "DT": lambda i, d, f: f"19{i % 90 + 10:02d}{d + 1:02d}{f % 28 + 1:02d}101010",
    "TM": lambda i, d, f: f"{i % 24:02d}{d:02d}{f % 60:02d}.{i:04d}",
    "AS": lambda i, d, f: f"{i % 1000:03d}D",
    "DS": lambda i, d, f: f"{i}.{d}{f}5",
    "IS": lambda i, d, f: f"{i}{d}{f}",
}


def marker(index: int, vr: str, depth: int, file: int) -> object:
    """The marker of one row at one depth in one file, a value of the row's VR."""
    text = f"MRK{index:04d}{DEPTHS[depth]}"
    if vr in TEXT_VRS:
        return text
    if vr in BYTES_VRS:
        return text.encode()
    if vr == "SQ":  # an item whose only content is a UID: kept only hashed (U*)
        item = Dataset()
        item.ReferencedSOPInstanceUID = marker(index, "UI", depth, file)
        return Sequence([item])
    if vr in NUMBER_VRS:
        return 1000 + index if vr[0] in "USV" else 1000.5 + index
    return FORMATS[vr](index, depth, file)


def planted(dataset: Dataset, rows, file: int) -> Dataset:
    containers = [dataset]
    for name in CONTAINERS:
        item = Dataset()
        setattr(containers[-1], name, Sequence([item]))
        containers.append(item)
    for depth, target in enumerate(containers):
        for index, keyword, vr, multiplicity in rows:
            if keyword in CONTAINERS[depth:]:
                continue  # the next level lives there
            value = marker(index, vr, depth, file)
            setattr(target, keyword, value if multiplicity == 1 else [value] * multiplicity)
    return dataset


def survived(released: Path, rows, file: int) -> set[tuple[str, int]]:
    """(keyword, depth) of every planted marker whose value came through unchanged."""
    raw = released.read_bytes()
    dataset = pydicom.dcmread(released)
    levels = [dataset]
    for name in CONTAINERS:
        inner = levels[-1].get(name)
        levels.append(inner[0] if inner else Dataset())
    found = set()
    for depth, level in enumerate(levels):
        for index, keyword, vr, _ in rows:
            value = marker(index, vr, depth, file)
            if vr in TEXT_VRS or vr == "UI":
                hit = str(value).encode() in raw
            elif vr == "SQ":
                hit = marker(index, "UI", depth, file).encode() in raw
            elif keyword not in level:
                hit = False
            else:
                kept = level[keyword].value
                kept = kept[0] if isinstance(kept, list | pydicom.multival.MultiValue) else kept
                hit = (
                    str(kept).strip() == str(value).strip()
                    if vr not in BYTES_VRS
                    else (bytes(kept).rstrip(b"\0 ") == value)
                )
            if hit:
                found.add((keyword, depth))
    return found


@pytest.fixture(scope="module")
def markers_through_anonymize(tmp_path_factory, blacklist, whitelist):
    root = tmp_path_factory.mktemp("markers")
    rows = plantable_rows()
    results, queues, dispositions = set(), [], []
    file = 0
    for cd, count in (("cd_a", 4), ("cd_b", 5)):
        batch = root / "in" / cd
        batch.mkdir(parents=True)
        names = {}
        for instance in range(1, count + 1):
            file += 1
            dataset = planted(make_ct_slice(fake_patient(file), cd, 1, instance), rows, file)
            name = f"IM{instance:04d}"
            dataset.save_as(batch / name, enforce_file_format=True)
            names[name] = file
        paths = BatchPaths(batch, root / "secure" / cd, root / "release" / cd)
        anonymize_batch(paths, Policy(blacklist, whitelist, TEST_KEY), StepOptions(workers=2))
        for row in read_rows(paths.manifest):
            dispositions.append(row["disposition"])
            if row["output_name"]:
                released = paths.release_files / row["output_name"]
                results |= survived(released, rows, names[row["relative_path"]])
        queues += read_rows(paths.review_queue)
    return rows, results, queues, dispositions


def test_every_row_was_planted_and_every_file_released(markers_through_anonymize):
    rows, _, _, dispositions = markers_through_anonymize
    assert len(rows) >= 600  # the table's 621, less repeating groups, file meta and AT
    assert dispositions == ["anonymized"] * 9


def test_no_row_survives_that_no_declared_option_excuses(markers_through_anonymize, whitelist):
    _, found, _, _ = markers_through_anonymize
    excused = {
        j.rule.name for j in judge(whitelist) if j.verdict in (Verdict.OPTION, Verdict.EXCEPTION)
    }
    assert {keyword for keyword, _ in found} - excused == set()
    # The test sees what comes through: the rows the options keep, at every depth.
    for keyword in ("PatientAge", "PatientSize", "PatientWeight", "StudyTime"):
        assert {(keyword, depth) for depth in range(3)} <= found, keyword


def test_a_planted_patient_sex_is_queued_not_released(markers_through_anonymize):
    _, found, queues, _ = markers_through_anonymize
    assert not any(keyword == "PatientSex" for keyword, _ in found)
    reasons = {(row["keyword"], row["reason"]) for row in queues}
    assert ("PatientSex", "not a value of PatientSex") in reasons
