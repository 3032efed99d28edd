import datetime as dt

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from anon_pipeline.engine.rules.transform import apply_rules
from anon_pipeline.engine.rules.uids import hash_uid
from anon_pipeline.synthetic.cds import make_ct_slice


def slice_with_nested_private(patients):
    dataset = make_ct_slice(patients[0], "s", 1, 2)
    item = dataset.RequestAttributesSequence[0]
    block = item.private_block(0x0031, "NESTED CREATOR", create=True)
    block.add_new(0x01, "LO", patients[0].name)
    return dataset


def all_tags(dataset):
    for element in dataset:
        yield element.tag
        if element.VR == "SQ":
            for item in element.value:
                yield from all_tags(item)


def test_private_creator_block_is_removed_inside_sequences(patients, whitelist, blacklist, key):
    for rule_set in (blacklist, whitelist):
        dataset = slice_with_nested_private(patients)
        apply_rules(dataset, rule_set, key)
        assert not any(tag.is_private for tag in all_tags(dataset)), rule_set.name


def test_blacklist_reaches_identifiers_inside_sequences(patients, blacklist, key):
    dataset = make_ct_slice(patients[0], "s", 1, 2)
    apply_rules(dataset, blacklist, key)
    item = dataset.RequestAttributesSequence[0]
    assert "RequestingPhysician" not in item and "RequestedProcedureID" not in item
    assert "InstitutionName" not in dataset
    assert dataset.PatientName != patients[0].name and dataset.PatientID != patients[0].patient_id
    assert dataset.PatientBirthDate == ""  # Type 2: emptied, not removed
    assert dataset.ContrastBolusAgent == "Omnipaque 350"  # not blacklisted: kept


def test_whitelist_queues_what_no_rule_names(patients, whitelist, key):
    dataset = make_ct_slice(patients[0], "s", 1, 2)
    log = apply_rules(dataset, whitelist, key)
    queued = {item.keyword: item for item in log.unlisted}
    assert {"ContrastBolusAgent", "StudyDescription", "RequestAttributesSequence"} <= set(queued)
    assert queued["ContrastBolusAgent"].tag == "(0018,0010)"
    assert queued["ContrastBolusAgent"].sample == "Omnipaque 350"
    assert "ContrastBolusAgent" not in dataset and "RequestAttributesSequence" not in dataset
    assert dataset.KVP == "120"  # whitelisted


def test_uids_inside_sequences_map_like_the_top_level(patients, whitelist, key):
    previous = make_ct_slice(patients[0], "s", 1, 1)
    current = make_ct_slice(patients[0], "s", 1, 2)
    original_reference = current.ReferencedImageSequence[0].ReferencedSOPInstanceUID
    assert original_reference == previous.SOPInstanceUID
    log_previous = apply_rules(previous, whitelist, key)
    apply_rules(current, whitelist, key)
    assert current.ReferencedImageSequence[0].ReferencedSOPInstanceUID == previous.SOPInstanceUID
    assert previous.SOPInstanceUID == hash_uid(original_reference, key)
    assert log_previous.uid_pairs[original_reference] == previous.SOPInstanceUID
    assert current.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"  # registered: unchanged


def test_dates_shift_together_and_bad_dates_are_emptied(patients, whitelist, key):
    dataset = make_ct_slice(patients[0], "s", 1, 2)
    dataset.SeriesDate = "20240322"  # one week after the study
    dataset.ContentDate = "2024-13-45"
    log = apply_rules(dataset, whitelist, key)
    assert dataset.StudyDate != "20240315"
    study, series = (
        dt.datetime.strptime(d, "%Y%m%d") for d in (dataset.StudyDate, dataset.SeriesDate)
    )
    assert (series - study).days == 7
    assert dataset.ContentDate == ""  # kept present: a Type 2 date stays valid, empty
    assert any("emptied (not a shiftable date)" in action for action in log.actions)


def test_multi_valued_identifiers_are_each_pseudonymized(blacklist, key):
    dataset = Dataset()
    dataset.PatientID = "A"
    dataset.StudyID = "ONE"
    dataset.AccessionNumber = ""
    apply_rules(dataset, blacklist, key)
    assert dataset.StudyID != "ONE" and len(dataset.StudyID) == 16
    assert dataset.AccessionNumber == ""


def test_element_with_a_vr_the_action_cannot_handle_is_removed(whitelist, key):
    dataset = Dataset()
    dataset.add_new(0x0020000D, "LO", "1.2.3.not.a.ui")  # StudyInstanceUID encoded as LO
    dataset.Modality = "CT"
    apply_rules(dataset, whitelist, key)
    assert "StudyInstanceUID" not in dataset
    assert dataset.Modality == "CT"


def test_deep_sequences_are_walked(patients, blacklist, key):
    dataset = Dataset()
    inner = Dataset()
    inner.PatientName = patients[0].name
    for _ in range(10):
        wrapper = Dataset()
        wrapper.ReferencedStudySequence = Sequence([inner])
        inner = wrapper
    dataset.ReferencedStudySequence = Sequence([inner])
    apply_rules(dataset, blacklist, key)
    node = dataset
    while "ReferencedStudySequence" in node:
        node = node.ReferencedStudySequence[0]
    assert str(node.PatientName) != patients[0].name
