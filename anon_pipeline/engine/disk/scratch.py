"""Optional fast-disk staging: a batch is copied to a scratch folder, read from there,
and removed after.

CD copies often sit on slow shared storage that the scan and stage 1 each read
in full; one sequential copy to a local disk makes those reads fast. The scratch
folder has a byte budget shared by every run on the machine: a ledger of
reservations, updated under a file lock, keeps the staged batches within it. A
batch that does not fit (larger than the budget, or the budget is in use), or
that cannot be copied whole, is processed in place, and a log line says why.
Staged copies hold raw PHI: the folder is private (0700) and copies of runs that
died are removed by the next run.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

LEDGER = ".reservations.json"
LOCK = ".lock"
STAGED_MARK = "staged-"
PRIVATE_MODE = 0o700
Log = Callable[[str], None]
LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scratch:
    """A scratch folder and how many bytes staged batches may use there at once."""

    folder: Path
    budget_bytes: int


class StagingError(Exception):
    """A batch could not be copied whole (the reason is PHI-free)."""


def batch_bytes(batch_dir: Path) -> int:
    """Bytes of the regular files under `batch_dir` (symlinks are not followed)."""
    total = 0
    for root, _, files in os.walk(batch_dir):
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                total += os.lstat(path).st_size
    return total


def lock_exclusively(lock: IO[str]) -> None:
    """Wait for an exclusive lock on an open file, released when it is closed: flock
    where the platform has it, msvcrt's byte lock on Windows (stage 1 at a hospital's
    PC imports this module, so fcntl, which Windows lacks, is never imported there)."""
    if sys.platform == "win32":
        import msvcrt

        lock.seek(0)
        msvcrt.locking(lock.fileno(), msvcrt.LK_LOCK, 1)
    else:
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX)


@contextmanager
def ledger(scratch: Scratch) -> Iterator[dict[str, dict[str, int]]]:
    """The reservations, read and written under an exclusive lock."""
    scratch.folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_MODE)
    with open(scratch.folder / LOCK, "a+") as lock:
        lock_exclusively(lock)
        path = scratch.folder / LEDGER
        entries = json.loads(path.read_text()) if path.exists() else {}
        yield entries
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(entries))
        os.replace(temporary, path)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reserve(scratch: Scratch, size: int) -> tuple[str | None, str]:
    """Reserve `size` bytes; returns (token, '') or (None, why not). Reservations of
    processes that died are dropped and their copies removed first."""
    with ledger(scratch) as entries:
        for token, entry in list(entries.items()):
            if not process_alive(entry["pid"]):
                shutil.rmtree(scratch.folder / f"{STAGED_MARK}{token}", ignore_errors=True)
                del entries[token]
        used = sum(entry["bytes"] for entry in entries.values())
        if size > scratch.budget_bytes:
            return None, f"the batch ({size} bytes) is larger than the scratch budget"
        if used + size > scratch.budget_bytes:
            return None, f"the scratch budget is in use by other batches ({used} bytes)"
        free = shutil.disk_usage(scratch.folder).free
        if size > free:
            return None, f"the scratch disk has {free} bytes free"
        token = secrets.token_hex(8)
        entries[token] = {"bytes": size, "pid": os.getpid()}
        return token, ""


def release(scratch: Scratch, token: str) -> None:
    shutil.rmtree(scratch.folder / f"{STAGED_MARK}{token}", ignore_errors=True)
    with ledger(scratch) as entries:
        entries.pop(token, None)


def copy_batch(source: Path, target: Path) -> None:
    """Copy files and folders (symlinks as symlinks, never followed); any failure raises
    StagingError, since a partial copy would lose files from the manifest."""
    try:
        target.mkdir(mode=PRIVATE_MODE)
        for root, folders, files in os.walk(source):
            relative = os.path.relpath(root, source)
            destination = target / relative
            for name in folders + files:
                path = os.path.join(root, name)
                if os.path.islink(path):
                    os.symlink(os.readlink(path), destination / name)
                elif name in folders:
                    (destination / name).mkdir()
                else:
                    shutil.copyfile(path, destination / name, follow_symlinks=False)
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else type(error).__name__
        raise StagingError(f"copy failed: {reason}") from None


@contextmanager
def staged_batch(
    batch_dir: Path, scratch: Scratch | None, log: Log | None = None
) -> Iterator[Path]:
    """The folder to read the batch from: a scratch copy when one fits, else the batch
    itself. The copy is removed when the block ends, whatever happens in it."""
    batch_dir = Path(batch_dir)
    log = log or LOGGER.info
    if scratch is None:
        yield batch_dir
        return
    size = batch_bytes(batch_dir)
    token, why_not = reserve(scratch, size)
    if token is None:
        log(f"batch processed in place, not staged: {why_not} ({scratch.budget_bytes} bytes)")
        yield batch_dir
        return
    target = scratch.folder / f"{STAGED_MARK}{token}"
    try:
        try:
            copy_batch(batch_dir, target)
        except StagingError as error:
            log(f"batch processed in place, not staged: {error}")
            shutil.rmtree(target, ignore_errors=True)
            yield batch_dir
            return
        log(f"batch staged in scratch: {size} bytes of a {scratch.budget_bytes}-byte budget")
        yield target
    finally:
        release(scratch, token)
