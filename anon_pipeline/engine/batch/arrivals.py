"""When is a batch in incoming/ ready? When the copy station says so, or when it
has stopped changing: a half-copied CD must never start a run.

At 20,000 batches a look must not walk every batch ever copied. A batch is walked
(every file `lstat`ed) only while it is arriving. A batch that has been launched is
walked again only when a cheap signal says it may have changed (its folder's or its
marker's `stat` is newer than the previous look) or when its turn comes in a rotation
bounded by time per look; a change deep inside it is noticed then.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import time
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from pathlib import Path

from anon_pipeline.engine.disk.atomic import write_bytes_atomically
from anon_pipeline.engine.disk.layout import DEFAULT_MARKER

EMPTY_SIGNATURE = hashlib.blake2b(digest_size=16).hexdigest()
# A batch folder (or marker) whose stat time is this close to the previous look counts as
# touched: clocks of a copy station writing over NFS may lag the server's a little.
TOUCH_SLACK_SECONDS = 60.0
# How long a requested batch is remembered by its signature: until Dagster's run record
# (which carries the run key) surely exists.
REQUESTED_MEMORY_SECONDS = 600.0
ROTATION_SECONDS = 0.3  # walking launched batches in turn, per look
MEMORY_VERSION = 2


@dataclass(frozen=True)
class BatchState:
    """A batch folder as seen at one look: its listing's signature, the marker, and how
    many of its folders could not be listed."""

    name: str
    signature: str
    has_marker: bool
    unlistable_folders: int = 0


@dataclass
class ArrivalMemory:
    """What the arrival sensor keeps between looks (its cursor). Bounded by the batches
    still arriving or requested in the last minutes, never by all batches ever seen:
    what was launched lives in Dagster (partitions, run keys)."""

    looked_at: float | None = None  # when the previous look began
    arriving: dict[str, tuple[str, float]] = field(default_factory=dict)  # signature, since
    requested: dict[str, tuple[str, float]] = field(default_factory=dict)  # signature, when
    rotation: str = ""  # the last launched batch the rotation walked

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": MEMORY_VERSION,
                "looked_at": self.looked_at,
                "arriving": self.arriving,
                "requested": self.requested,
                "rotation": self.rotation,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> ArrivalMemory:
        """The memory of the previous look; an older sensor's cursor (one entry per batch
        ever seen) keeps only the batches it had not launched."""
        if not text:
            return cls()
        saved = json.loads(text)
        if saved.get("version") != MEMORY_VERSION:
            arriving = {
                name: (str(seen["signature"]), float(seen["since"]))
                for name, seen in saved.items()
                if isinstance(seen, dict) and seen.get("launched") != seen.get("signature")
            }
            return cls(arriving=arriving)
        return cls(
            looked_at=saved["looked_at"],
            arriving={name: (sig, float(t)) for name, (sig, t) in saved["arriving"].items()},
            requested={name: (sig, float(t)) for name, (sig, t) in saved["requested"].items()},
            rotation=saved["rotation"],
        )


@dataclass(frozen=True)
class Look:
    """One look at incoming/: what is ready, what is still arriving, what was walked."""

    ready: list[BatchState]
    arriving: list[BatchState]
    memory: ArrivalMemory
    walked: list[str]


def listing_signature(batch_dir: Path) -> tuple[str, int]:
    """Hash of every entry's relative path, size and mtime (not contents: cheap to poll),
    and how many folders could not be listed. Such a folder counts in the hash with its
    error, since os.walk alone would skip it without a word."""
    digest = hashlib.blake2b(digest_size=16)
    unlistable = 0

    def note_unlistable(error: OSError) -> None:
        nonlocal unlistable
        relative = os.path.relpath(error.filename or batch_dir, batch_dir)
        digest.update(f"{relative}\0unlistable\0{error.errno}\n".encode())
        unlistable += 1

    for root, folders, names in os.walk(batch_dir, onerror=note_unlistable, followlinks=False):
        folders.sort()
        for name in sorted(names):
            path = os.path.join(root, name)
            try:
                status = os.lstat(path)
            except FileNotFoundError:  # removed while we looked: the next look sees it
                continue
            relative = os.path.relpath(path, batch_dir)
            digest.update(f"{relative}\0{status.st_size}\0{status.st_mtime_ns}\n".encode())
    return digest.hexdigest(), unlistable


def look_at_batch(batch_dir: Path, marker: str = DEFAULT_MARKER) -> BatchState:
    """Walk one batch folder: its signature, marker and unlistable folders."""
    signature, unlistable = listing_signature(batch_dir)
    return BatchState(batch_dir.name, signature, (batch_dir / marker).is_file(), unlistable)


def last_change(folder: os.DirEntry[str], marker: str) -> float:
    """The newest stat time (mtime or ctime) of a batch folder and of its marker: what a
    copy into the folder, a new top-level entry or a touched marker moves."""
    try:
        status = folder.stat(follow_symlinks=False)
    except OSError:  # removed or closed since the listing: a walk says what it is now
        return float("inf")
    newest = max(status.st_mtime, status.st_ctime)
    try:
        marker_status = os.lstat(os.path.join(folder.path, marker))
    except OSError:
        return newest
    return max(newest, marker_status.st_mtime, marker_status.st_ctime)


def batch_folders(incoming: Path) -> list[os.DirEntry[str]]:
    """The batch folders under incoming/, by name (hidden folders and symlinks ignored)."""
    if not incoming.is_dir():
        return []
    with os.scandir(incoming) as entries:
        folders = [
            entry
            for entry in entries
            if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False)
        ]
    return sorted(folders, key=lambda entry: entry.name)


def is_ready(state: BatchState, since: float, now: float, quiet_seconds: float) -> bool:
    """Ready: the marker, or a listing unchanged for `quiet_seconds`. An empty folder is
    never ready, nor by quietness a batch with a folder that cannot be listed: nobody
    can see whether that folder is still filling."""
    if state.signature == EMPTY_SIGNATURE:
        return False
    is_quiet = now - since >= quiet_seconds and not state.unlistable_folders
    return state.has_marker or is_quiet


@dataclass(frozen=True)
class Launched:
    """What the orchestrator knows of the batches it launched: their names (Dagster's
    partitions) and the listing signature of each one's last requested run (from its run
    keys; None without a record of a sensor run)."""

    names: Container[str]
    last_signature: Callable[[str], str | None]


def record_arrival(record: Path, signature: str) -> None:
    """Note in the data root which listing a batch was processed with."""
    write_bytes_atomically(record, json.dumps({"signature": signature}).encode())


def recorded_signature(record: Path) -> str | None:
    """The listing a batch was processed with, from the data root; None without one."""
    try:
        signature = json.loads(record.read_text()).get("signature")
    except (OSError, ValueError, AttributeError):
        return None
    return signature if isinstance(signature, str) else None


@dataclass(frozen=True)
class Watch:
    """How arrivals are judged: a batch is ready at its copy station's `marker` or after
    `quiet_seconds` without a change; launched batches nobody touched are walked again
    in a rotation of `rotation_seconds` per look (at least one batch)."""

    quiet_seconds: float
    marker: str = DEFAULT_MARKER
    rotation_seconds: float = ROTATION_SECONDS


def look_at_incoming(
    incoming: Path,
    memory: ArrivalMemory,
    launched: Launched,
    watch: Watch,
    now: float | None = None,
) -> Look:
    """One look: walk the batches still arriving, and the launched ones that may have
    changed; say which are ready. The caller requests a run for each ready batch.

    A launched batch is walked when its folder or marker was touched since the previous
    look, or when its turn in the rotation comes; it becomes arriving again when its
    listing differs from the one last requested. With no record of a sensor run, a
    touched batch arrives again; the rotation leaves it alone.
    """
    now = time.time() if now is None else now
    marker = watch.marker
    folders = batch_folders(incoming)
    touched_since = (memory.looked_at or now) - TOUCH_SLACK_SECONDS
    new = ArrivalMemory(looked_at=now, rotation=memory.rotation)
    new.requested = {
        name: seen
        for name, seen in memory.requested.items()
        if now - seen[1] < REQUESTED_MEMORY_SECONDS
    }
    arriving_states, walked = [], []
    idle: list[os.DirEntry[str]] = []

    def arrive(state: BatchState, since: float) -> None:
        new.arriving[state.name] = (state.signature, since)
        arriving_states.append(state)

    for folder in folders:
        name = folder.name
        if name in memory.arriving or (name not in launched.names and name not in new.requested):
            state = look_at_batch(Path(folder.path), marker)
            walked.append(name)
            previous = memory.arriving.get(name)
            since = previous[1] if previous is not None and previous[0] == state.signature else now
            arrive(state, since)
        elif last_change(folder, marker) >= touched_since:
            state = look_at_batch(Path(folder.path), marker)
            walked.append(name)
            if state.signature != launched_signature(name, new, launched):
                arrive(state, now)
        else:
            idle.append(folder)

    walked += rotate(idle, new, launched, watch, arrive, now)
    ready = [
        state
        for state in arriving_states
        if is_ready(state, new.arriving[state.name][1], now, watch.quiet_seconds)
    ]
    for state in ready:
        del new.arriving[state.name]
        new.requested[state.name] = (state.signature, now)
    return Look(ready, arriving_states, new, walked)


def launched_signature(name: str, memory: ArrivalMemory, launched: Launched) -> str | None:
    """The listing signature last requested for a batch: remembered for a few minutes,
    after that in Dagster's run key."""
    requested = memory.requested.get(name)
    return requested[0] if requested else launched.last_signature(name)


def rotate(
    idle: list[os.DirEntry[str]],
    memory: ArrivalMemory,
    launched: Launched,
    watch: Watch,
    arrive: Callable[[BatchState, float], None],
    now: float,
) -> list[str]:
    """Walk launched, untouched batches in name order from where the last look stopped
    (`memory.rotation`), for the watch's rotation seconds (at least one): a change deep
    inside a batch moves no stat of its folder, and is noticed when its turn comes."""
    if not idle:
        memory.rotation = ""
        return []
    names = [folder.name for folder in idle]
    start = bisect.bisect_right(names, memory.rotation) % len(idle)
    deadline = time.perf_counter() + watch.rotation_seconds
    walked = []
    for offset in range(len(idle)):
        folder = idle[(start + offset) % len(idle)]
        state = look_at_batch(Path(folder.path), watch.marker)
        walked.append(folder.name)
        memory.rotation = folder.name
        signature = launched_signature(folder.name, memory, launched)
        if signature is not None and signature != state.signature:
            arrive(state, now)
        if time.perf_counter() >= deadline:
            break
    return walked


def run_key(state: BatchState) -> str:
    """The run key of a batch's run: its name and listing signature, so a batch runs
    once per listing (Dagster skips a run key it has seen)."""
    return f"{state.name}:{state.signature}"


def signature_of_run_key(key: str) -> str:
    return key.rpartition(":")[2]
