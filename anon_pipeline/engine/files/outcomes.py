"""What happened to one input file, as a typed value: its outcome, the reason (one of a
fixed set), a PHI-free detail and, for an instance another batch holds, that batch.

`str()` of a disposition is the manifest's text, word for word as it always was, and
`summary` is the text without its parenthesised detail: what a report counts files by.
Nothing parses the text back; the manifest keeps the parts in columns of their own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
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
    OUT_OF_SCOPE = "outside the release scope"  # detail: the SOP class keyword
    # The holds of the rule set (`rules.holds`), by the same words.
    BURNED_IN_ANNOTATION = "burned-in annotation"
    OVERLAY_IN_PIXEL_DATA = "overlay in pixel data"
    SECONDARY_CAPTURE = "secondary capture or screen save"
    NON_IMAGE_OBJECT = "non-image object"
    TEXT_IN_PIXELS = "text in pixels"
    TEXT_UNREAD = "text in pixels, unread"
    UNDECODABLE_PIXELS = "pixels not decodable"


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


class Stage(StrEnum):
    BLACKLIST = "blacklist"
    WHITELIST = "whitelist"


# The words a report counts duplicates by (`Disposition.summary`), spelled once.
SKIPPED_DUPLICATE = f"{Outcome.SKIPPED}: {Reason.ALREADY_RELEASED} "
HELD_DUPLICATE = f"{Outcome.HELD}: {Reason.OTHER_CONTENT} "


def duplicate_counts(reasons: Mapping[str, int]) -> dict[str, int]:
    """Files skipped or held because another batch holds their instance, from a
    report's reasons (which name batches, never values)."""
    return {
        "duplicates_skipped": sum(n for r, n in reasons.items() if r.startswith(SKIPPED_DUPLICATE)),
        "duplicates_held": sum(n for r, n in reasons.items() if r.startswith(HELD_DUPLICATE)),
    }


def nothing_new(outcomes: Mapping[str, int], reasons: Mapping[str, int]) -> str | None:
    """The line to show when a batch holds only instances other batches hold."""
    duplicates = duplicate_counts(reasons)
    if outcomes.get(Outcome.ANONYMIZED, 0) or not any(duplicates.values()):
        return None
    return (
        f"nothing new to release: {duplicates['duplicates_skipped']} file(s) other batches "
        f"already hold, {duplicates['duplicates_held']} held with other content"
    )


@dataclass(frozen=True)
class StageReport:
    """Counts about one stage run; PHI-free, fit for Dagster metadata and logs. Frozen:
    a step that learns more (the final dispositions, where stage 1 ran) makes a new one
    (`with_final`, `with_origin`)."""

    stage: Stage
    rule_set_version: str
    files_in: int
    outcomes: Mapping[str, int] = field(default_factory=dict)  # by Outcome
    reasons: Mapping[str, int] = field(default_factory=dict)  # by Disposition.summary
    # by the manifest's full words: "(not yet signed off)" and every detail kept
    dispositions: Mapping[str, int] = field(default_factory=dict)
    bytes_out: int = 0
    files_streamed: int = 0  # processed by the streaming path (the rest by pydicom)
    studies: int = 0
    series: int = 0
    seconds: float = 0.0
    origin: Mapping[str, Any] = field(default_factory=dict)  # where stage 1 ran (`package`)
    declined: Mapping[str, int] = field(default_factory=dict)  # why streaming left files

    @property
    def files_per_second(self) -> float:
        return self.files_in / self.seconds if self.seconds else 0.0

    @property
    def duplicates(self) -> dict[str, int]:
        return duplicate_counts(self.reasons)

    @property
    def nothing_new(self) -> str | None:
        return nothing_new(self.outcomes, self.reasons)

    def with_final(self, files_in: int, dispositions: Iterable[Disposition]) -> StageReport:
        """The report counted over every input row's final disposition (stage 2's for the
        rows that reached it, stage 1's for the others)."""
        final = list(dispositions)
        return replace(
            self,
            files_in=files_in,
            outcomes=Counter(d.outcome.value for d in final),
            reasons=Counter(d.summary for d in final),
            dispositions=Counter(str(d) for d in final),
        )

    def with_origin(self, origin: Mapping[str, Any]) -> StageReport:
        return replace(self, origin=dict(origin))

    def metadata(self) -> dict[str, Any]:
        return {
            f"{self.stage}_rule_set_version": self.rule_set_version,
            "files_in": self.files_in,
            **{f"files_{outcome}": self.outcomes.get(outcome, 0) for outcome in Outcome},
            "bytes_out": self.bytes_out,
            "files_streamed": self.files_streamed,
            "studies": self.studies,
            "series": self.series,
            "seconds": round(self.seconds, 3),
            "files_per_second": round(self.files_per_second, 1),
            **{f"streaming declined: {why}": n for why, n in sorted(self.declined.items())},
            **self.origin,
        }
