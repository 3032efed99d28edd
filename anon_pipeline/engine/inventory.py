"""Attribute values of an output dataset, flattened for the attribute-value inventory."""

from __future__ import annotations

from collections.abc import Iterator

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from anon_pipeline.engine.dicomfile import PIXEL_KEYWORDS
from anon_pipeline.engine.rules import cached_keyword
from anon_pipeline.engine.transform import TEXT_VRS, format_tag

NUMBER_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "AT"})
MAX_VALUE_LENGTH = 1024


def attribute_values(
    dataset: Dataset, tag_prefix: str = "", keyword_prefix: str = ""
) -> Iterator[tuple[str, str, str, str | None]]:
    """(tag path, keyword path, VR, value as text) for every element at every depth.

    Binary values (pixel data, OB/OW/UN) appear with value None: they are counted,
    not listed, since the QC of unique values is about readable content.
    """
    for element in dataset:
        tag = format_tag(element.tag)
        keyword = cached_keyword(element.tag) or tag
        tag_path, keyword_path = tag_prefix + tag, keyword_prefix + keyword
        if element.VR == "SQ":
            yield tag_path, keyword_path, "SQ", None
            for item in element.value:
                yield from attribute_values(item, tag_path + ">", keyword_path + ">")
        else:
            yield tag_path, keyword_path, element.VR, value_text(element)


def value_text(element: DataElement) -> str | None:
    """An element's value as inventory text; None for pixel data and binary VRs."""
    if cached_keyword(element.tag) in PIXEL_KEYWORDS or (
        element.VR not in TEXT_VRS and element.VR not in NUMBER_VRS
    ):
        return None
    value = element.value
    text = "" if value is None else str(value)
    if not isinstance(value, str | bytes) and hasattr(value, "__iter__"):
        text = "\\".join(str(item) for item in value)
    return text[:MAX_VALUE_LENGTH]
