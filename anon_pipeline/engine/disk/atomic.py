"""Atomic writes: a reader sees the old complete output or the new one, never a mix.

Files are written under a temporary name in the same folder and renamed; a whole
output folder is built beside its target and swapped in with one rename
(renameat2 RENAME_EXCHANGE on Linux), so a crash or a rerun never leaves a
half-old, half-new partition.

Elsewhere (macOS, Windows: a hospital's computer) the swap takes two renames, the old
folder aside, then the new one in place. The guarantee there is weaker in one moment:
a crash between the two leaves the old output under a hidden retired name and nothing
under the target's, which the next run removes before it writes the output again
(never a mix of old and new). Files are written with `writev` where the platform has
it, else part by part.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import secrets
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

STAGING_MARK = ".staging-"
RETIRED_MARK = ".retired-"
AT_FDCWD = -100
RENAME_EXCHANGE = 2


# O_BINARY: Windows would otherwise translate newlines in what os.write writes.
NEW_FILE_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
)
# Pieces one writev takes (1024 on Linux); without writev, parts are written one by one.
IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024
HAS_WRITEV = hasattr(os, "writev")
# Errors that say the output folder, not the input file, is at fault (EDQUOT: not
# every platform names it).
OUTPUT_FOLDER_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EROFS, errno.EIO, errno.EACCES, getattr(errno, "EDQUOT", errno.ENOSPC)}
)


class OutputFolderError(OSError):
    """An output folder cannot take more writes (full, read-only, failing): the run stops,
    and the previous outputs of the batch stay as they were."""


def write_new_file(path: Path, parts: Sequence[Any]) -> None:
    """Create `path` (never overwriting) and write the parts (bytes-like, in order) with
    `writev`: no copy joins them first, and a slice's ~150 header pieces go to the kernel
    in one call. A failed write leaves no part-written file; a full or failing folder
    raises OutputFolderError naming the folder."""
    try:
        try:
            descriptor = os.open(path, NEW_FILE_FLAGS, 0o666)
        except FileNotFoundError:  # the first file of its folder
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, NEW_FILE_FLAGS, 0o666)
        try:
            write_all(descriptor, parts)
        except BaseException:
            path.unlink(missing_ok=True)  # created above: never another file's
            raise
        finally:
            os.close(descriptor)
    except OSError as error:
        if error.errno in OUTPUT_FOLDER_ERRNOS:
            reason = os.strerror(error.errno)
            raise OutputFolderError(
                error.errno, f"cannot write to {path.parent}: {reason}"
            ) from None
        raise


def write_all(descriptor: int, parts: Sequence[Any]) -> None:
    """`os.writev` until every byte is written: a call may write less than it was given.
    Where there is no writev (Windows), `os.write` a part at a time, the same way."""
    pending = [part for part in parts if len(part)]
    first = 0
    while first < len(pending):
        if HAS_WRITEV:
            written = os.writev(descriptor, pending[first : first + IOV_MAX])
        else:
            written = os.write(descriptor, pending[first])
        if written <= 0:
            raise OSError(errno.EIO, "nothing written")
        while written:
            size = len(pending[first])
            if written < size:
                pending[first] = memoryview(pending[first])[written:]
                break
            written -= size
            first += 1


def staging_path_for(path: Path) -> Path:
    """A hidden, unique name beside `path` to build it under before it is renamed in
    place (`remove_leftovers` recognises it)."""
    return path.with_name(f".{path.name}{STAGING_MARK}{secrets.token_hex(4)}")


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary name in the same folder."""
    path = Path(path)
    temporary = staging_path_for(path)
    try:
        with open(temporary, "xb") as output:
            output.write(data)
            output.flush()
            os.fsync(output.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextmanager
def temporary_sibling(path: Path) -> Iterator[Path]:
    """A temporary path beside `path`; renamed onto `path` if the block succeeds."""
    path = Path(path)
    temporary = staging_path_for(path)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if temporary.is_dir():
            shutil.rmtree(temporary, ignore_errors=True)
        else:
            temporary.unlink(missing_ok=True)


@contextmanager
def staged_directory(target: Path, mode: int = 0o755) -> Iterator[Path]:
    """Build a folder beside `target` and swap it in when the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(target)
    staging = staging_path_for(target)
    staging.mkdir(mode=mode)
    try:
        yield staging
        replace_directory(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def replace_directory(source: Path, target: Path) -> None:
    """Put `source` in place of `target` atomically where the kernel allows it."""
    if not target.exists():
        os.rename(source, target)
        return
    if exchange(source, target):
        shutil.rmtree(source)  # now holds the previous output
        return
    retired = target.with_name(f".{target.name}{RETIRED_MARK}{secrets.token_hex(4)}")
    os.rename(target, retired)
    os.rename(source, target)
    shutil.rmtree(retired)


def exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one step (Linux renameat2); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    result = renameat2(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE)
    return result == 0


def remove_leftovers(target: Path, pattern: str | None = None) -> None:
    """Delete staging and retired files and folders a crashed run left beside `target`
    (or, with `pattern`, any in `target`'s folder that match it)."""
    for leftover in target.parent.glob(pattern or f".{target.name}*"):
        if STAGING_MARK in leftover.name or RETIRED_MARK in leftover.name:
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)


def remove_leftovers_in(folder: Path) -> None:
    """Delete what a killed run left half-written in `folder` (its hidden staging and
    retired entries): for a folder only one run writes at a time, when that run starts."""
    if Path(folder).is_dir():
        remove_leftovers(Path(folder) / "_", pattern=".*")
