"""What happened to one input file, as a typed value: its outcome, the reason (one of a
fixed set), a PHI-free detail and, for an instance another batch holds, that batch.

`str()` of a disposition is the manifest's text, word for word as it always was, and
`summary` is the text without its parenthesised detail: what a report counts files by.
Nothing parses the text back; the manifest keeps the parts in columns of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from anon_pipeline.engine.rules.holds import Held


class Outcome(StrEnum):
    ANONYMIZED = "anonymized"
    HELD = "held"
    SKIPPED = "skipped"


class Reason(StrEnum):
    """Why a file was held or skipped (or that it was anonymized), as the manifest says."""

    ANONYMIZED = "anonymized"
    DICOMDIR = "dicomdir"
    NON_DICOM = "non_dicom"
    SYMLINK = "symlink"
    MARKER = "copy-complete marker"
    DUPLICATE = "duplicate"
    CORRUPT = "corrupt"
    UNREADABLE = "unreadable"
    UID_CONFLICT = "SOPInstanceUID shared with a different file"
    CHANGED = "changed since it was scanned"
    MISSING_UIDS = "missing"
    ALREADY_PROCESSED = "already processed by anon_pipeline"
    OUTPUT_TAKEN = "output name already taken by another file"
    ERROR = "error"
    ALREADY_RELEASED = "already released in"
    OTHER_CONTENT = "same instance, other content than"
    # The holds of the rule set (`rules.holds`), by the same words.
    BURNED_IN_ANNOTATION = "burned-in annotation"
    OVERLAY_IN_PIXEL_DATA = "overlay in pixel data"
    SECONDARY_CAPTURE = "secondary capture or screen save"
    NON_IMAGE_OBJECT = "non-image object"


# Reasons whose words run straight into their detail (no parentheses around it).
RUN_ON = frozenset({Reason.MISSING_UIDS, Reason.ALREADY_RELEASED, Reason.OTHER_CONTENT})
NOT_YET_SIGNED_OFF = "not yet signed off"  # an ALREADY_RELEASED batch still in release/


@dataclass(frozen=True, slots=True)
class Disposition:
    """One file's disposition. PHI-free: details are fixed words, error types, batch
    names and SOP class keywords, never a value or a path."""

    outcome: Outcome
    reason: Reason
    detail: str | None = None
    other_batch: str | None = None

    @property
    def summary(self) -> str:
        """The words a report counts files by: the text without its parenthesised detail."""
        if self.reason is Reason.ANONYMIZED:
            return Reason.ANONYMIZED.value
        if self.reason is Reason.MISSING_UIDS:
            return f"{self.outcome}: {self.reason} {self.detail}"
        if self.reason in RUN_ON:
            return f"{self.outcome}: {self.reason} {self.other_batch}"
        return f"{self.outcome}: {self.reason}"

    def __str__(self) -> str:
        if self.reason is Reason.MISSING_UIDS or self.detail is None:
            return self.summary
        return f"{self.summary} ({self.detail})"

    @classmethod
    def of(cls, outcome: Outcome, reason: Reason, detail: str | None = None) -> Disposition:
        return cls(outcome, reason, detail)

    @classmethod
    def held(cls, hold: Held) -> Disposition:
        """A hold of the rule set (burned-in annotation...), by its own words."""
        return cls(Outcome.HELD, Reason(hold.kind.value), hold.detail)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Disposition:
        """From a manifest's or an outcome table's columns."""
        return cls(
            Outcome(row["outcome"]), Reason(row["reason"]), row["reason_detail"], row["other_batch"]
        )


ANONYMIZED = Disposition(Outcome.ANONYMIZED, Reason.ANONYMIZED)
