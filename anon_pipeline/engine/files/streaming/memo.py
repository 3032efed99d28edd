"""Each worker's bounded memo and the records it keeps: effects of changed values, texts,
facts, verdicts, replayed top-level elements and the previous file's layout; and how a
replay adds to a file's log.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import chain
from typing import Any, Final

from anon_pipeline.engine.dicom.rawparse import (
    ElementLayout,
)
from anon_pipeline.engine.rules.rule_set import Rule, RuleSet
from anon_pipeline.engine.rules.transform import (
    TransformLog,
)


class Plan(Enum):
    """How the streaming walk carries out the decision table's answer (`rules.plan`) for
    the elements of one tag and VR (`StreamWalk.plan`), memoised here per worker."""

    PRIVATE = "private"  # removed, counted
    SKIP = "skip"  # a group length: dropped
    SEQUENCE = "sequence"  # kept and walked item by item, or removed
    KEEP = "keep"  # copied as it is
    CHANGE = "change"  # handed to the rule walk and pydicom
    CHARSET = "charset"  # the character set: kept, top level only


# Module names for the members: the walk's loop compares with `is` for every element,
# and a global costs one lookup where `Plan.KEEP` costs two.
PRIVATE, SKIP, SEQUENCE, KEEP, CHANGE, CHARSET = (
    Plan.PRIVATE,
    Plan.SKIP,
    Plan.SEQUENCE,
    Plan.KEEP,
    Plan.CHANGE,
    Plan.CHARSET,
)


MEMO_LIMIT = 5_000  # entries per worker: a series repeats its values; cleared when full
REPLAY_BYTES_LIMIT = 32 * 1024 * 1024  # bytes of replayed elements a worker keeps
InventoryRow = tuple[str, str, str, str | None]
# A top-level output element, a plain tuple (as `rawparse.Span`: ~150 per file) read by
# the field names below: its tag, its bytes (or a slice of the input), its inventory
# rows, and its value bytes (for the UIDs the meta group repeats).
TopEntry = tuple[int, Any, Sequence[InventoryRow], bytes | None]
ENTRY_TAG: Final = 0
ENTRY_CHUNK: Final = 1
ENTRY_ROWS: Final = 2
ENTRY_VALUE: Final = 3


@dataclass(slots=True)
class Entry:
    """One output element: its encoded bytes (as chunks) and its inventory rows."""

    tag: int
    chunks: list[Any]  # bytes or memoryview slices of the input
    size: int
    rows: Sequence[InventoryRow]  # shared with the memo: never changed in place
    value: bytes | None = None  # the value bytes, for the top-level UIDs the meta group names


@dataclass(frozen=True)
class Effect:
    """What the rule walk did to one changed element (memoised by its raw value)."""

    encoded: bytes | None  # None: removed
    header_size: int
    vr: str
    text: str | None
    uid_pairs: tuple[tuple[str, str], ...]
    identifiers: tuple[tuple[str, str], ...]
    unlisted: tuple[Any, ...]
    actions: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True, eq=False)  # compared and hashed by identity
class Replay:
    """What processing one top-level element gave: the next file with the same bytes
    there (in the same context) gets the same output, rows and log entries."""

    removed: bool
    output: bytes | None  # None: the element's own bytes, unchanged
    rows: tuple[InventoryRow, ...]
    value: bytes | None
    logs: bool  # anything below to add to the file's log
    uid_pairs: tuple[tuple[str, str], ...]
    identifiers: tuple[tuple[str, str], ...]
    unlisted: tuple[Any, ...]
    actions: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class Previous:
    """The last file a worker streamed with a memo: its layout, to parse the next file
    by runs, and what its walk gave for each top-level element, to replay those runs
    whole when the next file has the same context."""

    layout: ElementLayout
    context: tuple[Any, ...]  # as `StreamWalk.run_context`
    entries: list[TopEntry | None]  # by span index; None: removed
    logged: list[Replay | None]  # by span index: the replay, when it adds to the log


class Memo:
    """Per-worker memo for one (rule set, holds, key): effects of changed values,
    inventory texts, converted facts, verdicts and replayed top-level elements. Every
    entry is keyed by everything its result depends on; all of it is cleared when it
    holds more than MEMO_LIMIT entries or REPLAY_BYTES_LIMIT bytes of elements."""

    def __init__(self, rule_set: RuleSet, key: bytes) -> None:
        self.rule_set, self.key = rule_set, key  # what every entry was made with
        self.rules: dict[int, Rule | None] = {}
        self.effects: dict[tuple[Any, ...], Effect] = {}
        self.texts: dict[tuple[Any, ...], tuple[str, str | None]] = {}
        self.refusals: dict[tuple[Any, ...], str] = {}  # kept values refused for their form
        self.facts: dict[tuple[Any, ...], Any] = {}
        self.deidentification: dict[tuple[bool, bool], list[TopEntry]] = {}
        self.plans: dict[tuple[int, str], Plan] = {}
        # by file context (character set, date shift, encoding, stage), then element bytes
        self.replays: dict[tuple[Any, ...], dict[Any, Replay]] = {}
        self.replay_entries = self.replay_bytes = 0
        self.verdicts: dict[tuple[Any, ...], str] = {}
        self.previous: Previous | None = None  # one file: bounded by itself
        # the log entries of a run's replays, added up once for every run like it
        self.run_logs: dict[tuple[Replay, ...], Replay] = {}

    def trim(self) -> None:
        entries = len(self.effects) + len(self.texts) + len(self.facts) + len(self.run_logs)
        entries += len(self.refusals)
        entries += self.replay_entries
        if entries > MEMO_LIMIT or self.replay_bytes > REPLAY_BYTES_LIMIT:
            self.effects.clear()
            self.texts.clear()
            self.refusals.clear()
            self.facts.clear()
            self.replays.clear()
            self.run_logs.clear()
            self.replay_entries = self.replay_bytes = 0
            self.verdicts.clear()


_MEMOS: dict[tuple[str, str, frozenset[str], bytes], Memo] = {}


def memo_for(rule_set: RuleSet, key: bytes) -> Memo:
    """The memo of this rule set (its version is a hash of everything in its file; the
    holds too, in case a caller changed them) and key."""
    memo_key = (rule_set.name, rule_set.version, rule_set.holds, key)
    if memo_key not in _MEMOS:
        _MEMOS.clear()  # one rule set at a time per worker
        _MEMOS[memo_key] = Memo(rule_set, key)
    return _MEMOS[memo_key]


def merged_log(replays: tuple[Replay, ...]) -> Replay:
    """One replay that adds to a log what `replays` add, in order."""
    actions: Counter[str] = Counter()
    for replay in replays:
        actions.update(dict(replay.actions))
    return Replay(
        removed=True,
        output=None,
        rows=(),
        value=None,
        logs=True,
        uid_pairs=tuple(chain.from_iterable(replay.uid_pairs for replay in replays)),
        identifiers=tuple(chain.from_iterable(replay.identifiers for replay in replays)),
        unlisted=tuple(chain.from_iterable(replay.unlisted for replay in replays)),
        actions=tuple(actions.items()),
    )


def add_to_log(log: TransformLog, source: Effect | Replay | TransformLog) -> None:
    """Add what one element did (an effect, a replay or a captured log) to the file's log."""
    if source.uid_pairs:
        log.uid_pairs.update(source.uid_pairs)
    if source.identifiers:
        log.identifiers.update(source.identifiers)
    if source.unlisted:
        log.unlisted.extend(source.unlisted)
    actions = source.actions.items() if isinstance(source.actions, dict) else source.actions
    for action, count in actions:
        log.actions[action] += count
