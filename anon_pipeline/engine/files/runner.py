"""One place for per-file work: the scan, the stages and the checks each read a file's
bytes once, turn a read that fails into that file's own outcome (never a crash of the
batch), and work with pydicom's value-quoting warnings silenced."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from anon_pipeline.engine.dicom.dicomfile import quiet_pydicom

Item = TypeVar("Item")
Result = TypeVar("Result")


def each_file(
    folder: Path,
    items: Iterable[Item],
    path_of: Callable[[Item], str],
    work: Callable[[Item, bytes], Result],
    unreadable: Callable[[Item, OSError], Result],
) -> list[Result]:
    """`work(item, bytes)` for every item's file under `folder`, or `unreadable(item,
    error)` when it cannot be read; in order, one result per item."""
    results = []
    with quiet_pydicom():
        for item in items:
            try:
                data = (folder / path_of(item)).read_bytes()
            except OSError as error:
                results.append(unreadable(item, error))
                continue
            results.append(work(item, data))
    return results
