"""When is a batch in incoming/ ready? When the copy station says so, or when it
has stopped changing: a half-copied CD must never start a run."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MARKER = ".copy_complete"


@dataclass(frozen=True)
class BatchState:
    """A batch folder as seen at one look: its listing's signature, the marker, and how
    many of its folders could not be listed."""

    name: str
    signature: str
    has_marker: bool
    unlistable_folders: int = 0


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

    for root, folders, files in os.walk(batch_dir, onerror=note_unlistable, followlinks=False):
        folders.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            try:
                status = os.lstat(path)
            except FileNotFoundError:  # removed while we looked: the next look sees it
                continue
            relative = os.path.relpath(path, batch_dir)
            digest.update(f"{relative}\0{status.st_size}\0{status.st_mtime_ns}\n".encode())
    return digest.hexdigest(), unlistable


def look_at_incoming(incoming: Path, marker: str = DEFAULT_MARKER) -> list[BatchState]:
    """One look at every batch folder under incoming/ (sorted; hidden folders ignored)."""
    if not incoming.is_dir():
        return []
    states = []
    for entry in sorted(incoming.iterdir()):
        if entry.is_dir() and not entry.is_symlink() and not entry.name.startswith("."):
            signature, unlistable = listing_signature(entry)
            has_marker = (entry / marker).is_file()
            states.append(BatchState(entry.name, signature, has_marker, unlistable))
    return states


def ready_batches(
    states: list[BatchState],
    previous: dict[str, dict[str, float | str]],
    now: float,
    quiet_seconds: float,
) -> tuple[list[BatchState], dict[str, dict[str, float | str]]]:
    """Which batches are ready now, and the memory to keep for the next look.

    `previous` maps batch name -> {"signature", "since"}: when the listing last changed.
    A batch is ready when it has the marker, or its listing has not changed for
    `quiet_seconds`. An empty folder is never ready, nor by quietness a batch with a folder
    that cannot be listed: nobody can see whether that folder is still filling.
    """
    memory: dict[str, dict[str, float | str]] = {}
    ready = []
    for state in states:
        seen = previous.get(state.name)
        since = (
            now if seen is None or seen["signature"] != state.signature else float(seen["since"])
        )
        memory[state.name] = {"signature": state.signature, "since": since}
        is_empty = state.signature == hashlib.blake2b(digest_size=16).hexdigest()
        is_quiet = now - since >= quiet_seconds and not state.unlistable_folders
        if not is_empty and (state.has_marker or is_quiet):
            ready.append(state)
    return ready, memory
