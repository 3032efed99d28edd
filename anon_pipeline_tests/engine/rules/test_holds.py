"""The holds, one by one: what triggers each, what does not, that a rule set can switch
each off, and that a reason never quotes the file."""

import pytest
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.uid import ComprehensiveSRStorage, CTImageStorage, SecondaryCaptureImageStorage

from anon_pipeline.engine.rules.holds import (
    HOLDS,
    OVERLAY_FACT_TAGS,
    hold_reason,
    overlay_in_pixel_data,
)

ALL = frozenset(HOLDS)
MULTI_FRAME_TRUE_COLOR_SC = "1.2.840.10008.5.1.4.1.1.7.4"
VL_PHOTOGRAPHIC = "1.2.840.10008.5.1.4.1.1.77.1.4"


def reason_text(dataset: Dataset, kind: str, holds: frozenset[str]) -> str | None:
    """The hold's words as the manifest shows them after 'held: ' (None: not held)."""
    held = hold_reason(dataset, kind, holds)
    return None if held is None else str(held)


def ct_slice(**attributes) -> Dataset:
    dataset = Dataset()
    dataset.SOPClassUID = CTImageStorage
    dataset.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    dataset.PatientName = "Kowalski^Jan"
    for keyword, value in attributes.items():
        setattr(dataset, keyword, value)
    return dataset


def with_overlay(dataset: Dataset, group: int, bits_allocated: int, bit_position: int) -> Dataset:
    dataset.add_new(group << 16 | 0x0100, "US", bits_allocated)
    dataset.add_new(group << 16 | 0x0102, "US", bit_position)
    return dataset


def test_a_plain_ct_slice_is_not_held():
    assert reason_text(ct_slice(BurnedInAnnotation="NO"), "image", ALL) is None


@pytest.mark.filterwarnings("ignore:Invalid value for VR CS")  # 'yes': pydicom warns, keeps it
@pytest.mark.parametrize("value", ["YES", "yes", " YES "])
def test_burned_in_annotation_yes_is_held_however_written(value):
    assert reason_text(ct_slice(BurnedInAnnotation=value), "image", ALL) == "burned-in annotation"


@pytest.mark.parametrize("group", [0x6000, 0x6002, 0x601E])
@pytest.mark.parametrize(("bits_allocated", "bit_position"), [(16, 12), (16, 0), (1, 15)])
def test_an_overlay_drawn_into_the_pixels_is_held_in_any_overlay_group(
    group, bits_allocated, bit_position
):
    dataset = with_overlay(ct_slice(), group, bits_allocated, bit_position)
    assert overlay_in_pixel_data(dataset)
    assert reason_text(dataset, "image", ALL) == "overlay in pixel data"


def test_an_overlay_in_its_own_overlay_data_is_not_held():
    """1 bit at position 0: the plane lives in OverlayData, which every rule set removes."""
    dataset = with_overlay(ct_slice(), 0x6000, 1, 0)
    assert not overlay_in_pixel_data(dataset)
    assert reason_text(dataset, "image", ALL) is None


def test_the_overlay_facts_are_the_dictionarys_overlay_attributes():
    """The streaming path hands exactly these to the hold: both attributes of all 16
    repeating groups, named as pydicom's dictionary names them."""
    assert len(OVERLAY_FACT_TAGS) == 32
    assert {keyword_for_tag(tag) for tag in OVERLAY_FACT_TAGS} == {
        "OverlayBitsAllocated",
        "OverlayBitPosition",
    }


@pytest.mark.parametrize(
    "attributes",
    [
        {"SOPClassUID": SecondaryCaptureImageStorage},
        {"SOPClassUID": MULTI_FRAME_TRUE_COLOR_SC},
        {"ImageType": ["DERIVED", "SECONDARY", "SCREEN SAVE"]},
        {"ImageType": ["DERIVED", "SECONDARY"]},
        {"SOPClassUID": VL_PHOTOGRAPHIC},
    ],
    ids=[
        "secondary capture",
        "multi-frame SC",
        "screen save",
        "secondary image type",
        "VL photograph (same UID prefix: held too, a face may be in it)",
    ],
)
def test_secondary_captures_and_screen_saves_are_held(attributes):
    reason = reason_text(ct_slice(**attributes), "image", ALL)
    assert reason == "secondary capture or screen save (burned-in text risk)"


def test_a_non_image_object_is_held_with_its_sop_class_name():
    report = ct_slice(SOPClassUID=ComprehensiveSRStorage)
    assert reason_text(report, "dicom_other", ALL) == (
        "non-image object (Comprehensive SR Storage)"
    )
    unknown = ct_slice(SOPClassUID="1.2.3.4")
    assert reason_text(unknown, "dicom_other", ALL) == "non-image object (unknown SOP class)"


def test_the_first_reason_wins_in_a_fixed_order():
    everything = with_overlay(
        ct_slice(BurnedInAnnotation="YES", SOPClassUID=SecondaryCaptureImageStorage),
        0x6000,
        16,
        12,
    )
    assert reason_text(everything, "dicom_other", ALL) == "burned-in annotation"
    without_burned_in = ALL - {"burned_in_annotation"}
    assert reason_text(everything, "dicom_other", without_burned_in) == "overlay in pixel data"


@pytest.mark.parametrize("hold", [hold for hold in HOLDS if hold != "text_in_pixels"])
def test_each_hold_can_be_switched_off_alone(hold):
    """A rule set without a hold releases what only that hold would stop."""
    triggers = {
        "burned_in_annotation": (ct_slice(BurnedInAnnotation="YES"), "image"),
        "overlay_in_pixel_data": (with_overlay(ct_slice(), 0x6000, 16, 12), "image"),
        "secondary_capture": (ct_slice(SOPClassUID=SecondaryCaptureImageStorage), "image"),
        "non_image_objects": (ct_slice(SOPClassUID=ComprehensiveSRStorage), "dicom_other"),
    }
    dataset, kind = triggers[hold]
    assert reason_text(dataset, kind, ALL) is not None
    assert reason_text(dataset, kind, ALL - {hold}) is None


def test_a_reason_never_quotes_the_file():
    dataset = ct_slice(BurnedInAnnotation="YES", SOPClassUID="1.2.826.0.1.3680043.9.7.1234567")
    for holds in (ALL, ALL - {"burned_in_annotation"}):
        reason = reason_text(dataset, "dicom_other", holds)
        assert reason is not None
        assert "Kowalski" not in reason and "3680043" not in reason
