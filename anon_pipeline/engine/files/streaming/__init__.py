"""The streaming path of a stage: one file's bytes in, the output file's bytes out.

It gives what the straightforward path gives (pydicom parses the whole file, the
rule walk changes the Dataset, pydicom writes it), byte for byte: tests compare
the two on every transfer syntax the hostile fixture covers. It is faster because
it parses element headers only (`rawparse`), copies every element a rule keeps
(most of a file, pixel data included) as a slice of the input, and hands only
the elements a rule changes to pydicom and the same `RuleWalk`, one at a time.

The slices of a series repeat most of their elements byte for byte, so each worker
keeps a bounded memo (`Memo`): a top-level element whose bytes it has met before,
in the same context (rule set, key, character set, date shift, encoding, stage), is
replayed (its output, inventory rows and log entries) without being walked again;
so are the checks and holds, by the facts they read. The equal elements also come
in long stretches between the few that differ (UIDs, positions): a stretch with the
bytes of one in the previous file (a run, `rawparse.ElementLayout`) is parsed and replayed
whole, after one comparison of its bytes, when the context is the same. Anything
unusual raises `Unsupported` (or any other error), and the caller takes the
straightforward path, which then decides.

Its parts: `facts` (what the checks and holds read, their memoised verdict), `walk`
(each element's plan and the walk), `memo` (the per-worker memo and replays) and
`encoding` (the bytes it writes itself); here, `stream_file` puts them together.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

from anon_pipeline.engine.dicom.rawparse import Unsupported, parse_part10
from anon_pipeline.engine.files.streaming.encoding import (
    deidentification_entries,
    file_meta,
    with_marks,
)
from anon_pipeline.engine.files.streaming.facts import (
    CHARSET_TAG,
    DEIDENTIFICATION_METHOD_TAG,
    META_SOURCE_TAGS,
    PIXEL_ORDER,
    Classified,
    classify_bytes,
    file_verdict,
    plain_uid,
)
from anon_pipeline.engine.files.streaming.memo import (
    ENTRY_CHUNK,
    ENTRY_ROWS,
    ENTRY_TAG,
    ENTRY_VALUE,
    InventoryRow,
    Previous,
    memo_for,
)
from anon_pipeline.engine.files.streaming.walk import StreamWalk
from anon_pipeline.engine.rules.pseudonyms import date_offset_days
from anon_pipeline.engine.rules.rule_set import Action, RuleSet
from anon_pipeline.engine.rules.scope import outside_scope
from anon_pipeline.engine.rules.transform import TransformLog
from anon_pipeline.engine.rules.uids import REQUIRED_UIDS, output_name_from

# What the stages and the scan use: the rest is the submodules' own.
__all__ = ["Classified", "FileResult", "classify_bytes", "plain_uid", "stream_file"]


@dataclass(frozen=True)
class FileResult:
    """A stage's result for one file, from either path: what `stage.process_file` records."""

    kind: str
    output_name: str
    parts: Sequence[Any]  # the output file's bytes, in order (bytes or slices of the input)
    log: TransformLog
    values: list[InventoryRow]
    pixel_hash: str | None

    @property
    def encoded(self) -> bytes:
        """The output file's bytes in one piece (the stage writes the parts as they are)."""
        return b"".join(self.parts)


def stream_file(data: bytes, rule_set: RuleSet, key: bytes, whitelist: bool) -> FileResult:
    """Apply a stage to one file's bytes; raises when the straightforward path must decide
    (held files, unusual encodings, anything this path does not handle)."""
    charset_rule = rule_set.rule_for(CHARSET_TAG)
    charset_kept = (charset_rule is None and not rule_set.reviews_unlisted) or (
        charset_rule is not None and charset_rule.action is Action.KEEP
    )
    if not rule_set.removes_private or not charset_kept:
        raise Unsupported("private attributes kept or character set changed")
    memo = memo_for(rule_set, key)
    memo.trim()
    previous = memo.previous
    part = parse_part10(data, lazy=True, template=previous.layout if previous else None)
    if not whitelist and DEIDENTIFICATION_METHOD_TAG in part.by_tag:
        raise Unsupported("de-identified before: the straightforward path decides")
    kind, facts, charset = file_verdict(part, data, memo, rule_set.holds)
    if whitelist and outside_scope(facts.get("SOPClassUID", ""), rule_set.scope):
        raise Unsupported("outside the release scope: the straightforward path decides")
    if not all(facts.get(keyword) for keyword in REQUIRED_UIDS):
        raise Unsupported("missing UIDs")
    study, series, instance = (facts[keyword] for keyword in REQUIRED_UIDS[:3])
    output_name = output_name_from(study, series, instance, key)
    date_offset = date_offset_days(facts.get("PatientID", ""), key)
    walk = StreamWalk(part, data, memo, charset, date_offset, whitelist)
    entries = walk.top_level(previous)
    meta_values = {}
    for tag in META_SOURCE_TAGS:  # the meta group repeats their output values
        index = bisect_left(entries, tag, key=itemgetter(ENTRY_TAG))
        if index < len(entries) and entries[index][ENTRY_TAG] == tag:
            meta_values[tag] = entries[index][ENTRY_VALUE]
    entries = with_marks(
        entries, deidentification_entries(memo, rule_set, part.implicit, whitelist)
    )
    pixel_tag = next((tag for tag in PIXEL_ORDER if tag in walk.output_pixels), None)
    if pixel_tag is not None and pixel_tag not in walk.kept_pixels:
        raise Unsupported("pixel data changed by a rule")
    chunks = [file_meta(part, meta_values)]
    chunks += map(itemgetter(ENTRY_CHUNK), entries)
    pixel_hash = walk.kept_pixels.get(pixel_tag) if pixel_tag is not None else None
    values = list(chain.from_iterable(map(itemgetter(ENTRY_ROWS), entries))) if whitelist else []
    memo.previous = Previous(part.layout, walk.run_context, walk.entries_at, walk.logged_at)
    return FileResult(kind, output_name, chunks, walk.log, values, pixel_hash)
