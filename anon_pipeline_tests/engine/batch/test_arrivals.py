import errno
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from anon_pipeline.engine.batch.arrivals import (
    ArrivalMemory,
    Launched,
    Look,
    Watch,
    look_at_incoming,
    run_key,
    signature_of_run_key,
)


class Dagster:
    """What the sensor learns from Dagster: the partitions it added and the run keys of
    the runs it requested (as the daemon records them)."""

    def __init__(self) -> None:
        self.run_keys: dict[str, str] = {}

    def launch(self, look: Look) -> None:
        for state in look.ready:
            self.run_keys[state.name] = run_key(state)

    def last_signature(self, batch: str) -> str | None:
        key = self.run_keys.get(batch)
        return signature_of_run_key(key) if key else None


def look(
    incoming: Path,
    memory: ArrivalMemory,
    now: float,
    dagster: Dagster | None = None,
    quiet: float = 3600,
    rotation_seconds: float = 0.0,
) -> Look:
    dagster = dagster or Dagster()
    result = look_at_incoming(
        incoming,
        memory,
        Launched(dagster.run_keys, dagster.last_signature),
        Watch(quiet, rotation_seconds=rotation_seconds),
        now,
    )
    dagster.launch(result)
    return result


def names(states) -> list[str]:
    return [state.name for state in states]


def write_batch(folder: Path, files: int = 3, marker: bool = True) -> None:
    (folder / "S1").mkdir(parents=True, exist_ok=True)
    for number in range(files):
        (folder / "S1" / f"IM{number}").write_bytes(b"x")
    if marker:
        (folder / ".copy_complete").touch()


def test_a_batch_with_the_marker_is_ready_at_once(tmp_path):
    write_batch(tmp_path / "cd1")
    assert names(look(tmp_path, ArrivalMemory(), now=100.0).ready) == ["cd1"]


def test_a_batch_without_marker_waits_for_the_quiet_period(tmp_path):
    write_batch(tmp_path / "cd1", marker=False)
    first = look(tmp_path, ArrivalMemory(), now=100.0, quiet=60)
    assert first.ready == []
    second = look(tmp_path, first.memory, now=130.0, quiet=60)
    assert second.ready == []
    (tmp_path / "cd1" / "IM2").write_bytes(b"still copying")
    third = look(tmp_path, second.memory, now=170.0, quiet=60)
    assert third.ready == []  # it changed: the clock starts again
    fourth = look(tmp_path, third.memory, now=231.0, quiet=60)
    assert names(fourth.ready) == ["cd1"]


def test_empty_and_hidden_folders_never_start(tmp_path):
    (tmp_path / "empty").mkdir()
    write_batch(tmp_path / ".partial")
    result = look(tmp_path, ArrivalMemory(), now=0.0, quiet=0)
    assert names(result.arriving) == ["empty"]
    assert result.ready == []


def close_folder(monkeypatch, folder: Path) -> Callable[[], None]:
    """Make `folder` unlistable (tests run as root: permissions would not stop them);
    returns the function that opens it again."""
    real_scandir = os.scandir
    state = {"closed": True}

    def scandir(path="."):
        if state["closed"] and not isinstance(path, int) and Path(path) == folder:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    return lambda: state.update(closed=False)


def test_a_folder_that_cannot_be_listed_keeps_its_batch_waiting(tmp_path, monkeypatch):
    """A copy station may fill a folder the pipeline cannot list yet. os.walk skips such a
    folder silently, so the batch looked quiet and ran with that folder held. It now waits
    until the folder opens (its files then restart the quiet period) or the marker says
    to go ahead."""
    series = tmp_path / "cd1" / "S1"
    series.mkdir(parents=True)
    (tmp_path / "cd1" / "IM0").write_bytes(b"x")
    open_folder = close_folder(monkeypatch, series)
    (series / "IM1").write_bytes(b"copied while closed")
    first = look(tmp_path, ArrivalMemory(), now=0.0, quiet=60)
    assert first.arriving[0].unlistable_folders == 1
    later = look(tmp_path, first.memory, now=600.0, quiet=60)
    assert later.ready == []  # quiet for ten minutes, but nobody can see inside S1
    open_folder()
    opened = look(tmp_path, later.memory, now=601.0, quiet=60)
    assert opened.ready == [] and opened.memory.arriving["cd1"][1] == 601.0  # S1's files: news
    quiet = look(tmp_path, opened.memory, now=662.0, quiet=60)
    assert names(quiet.ready) == ["cd1"]


def test_the_marker_runs_a_batch_with_a_folder_that_cannot_be_listed(tmp_path, monkeypatch):
    series = tmp_path / "cd1" / "S1"
    series.mkdir(parents=True)
    (tmp_path / "cd1" / "IM0").write_bytes(b"x")
    (tmp_path / "cd1" / ".copy_complete").touch()
    close_folder(monkeypatch, series)
    result = look(tmp_path, ArrivalMemory(), now=0.0, quiet=60)
    assert [(state.name, state.unlistable_folders) for state in result.ready] == [("cd1", 1)]


class Counted:
    """Counts the folder listings and lstat calls of a look."""

    def __init__(self, monkeypatch) -> None:
        self.listings, self.lstats = [], 0
        real_scandir, real_lstat = os.scandir, os.lstat

        def scandir(path="."):
            self.listings.append(Path(path))
            return real_scandir(path)

        def lstat(path, *args, **kwargs):
            self.lstats += 1
            return real_lstat(path, *args, **kwargs)

        monkeypatch.setattr(os, "scandir", scandir)
        monkeypatch.setattr(os, "lstat", lstat)

    def reset(self) -> None:
        self.listings, self.lstats = [], 0


def launched_batches(incoming: Path, count: int, files: int) -> tuple[Dagster, Look]:
    """`count` batches, seen ready and launched, and a look two hours later (on the real
    clock: a folder's ctime cannot be set back)."""
    for number in range(count):
        write_batch(incoming / f"cd{number:03d}", files=files)
    dagster, now = Dagster(), time.time()
    launched = look(incoming, ArrivalMemory(), now=now, dagster=dagster)
    assert len(launched.ready) == count
    later = look(incoming, launched.memory, now=now + 7200, dagster=dagster, rotation_seconds=-1)
    assert later.ready == []
    return dagster, later


def test_launched_batches_are_not_walked_again(tmp_path, monkeypatch):
    """At 20,000 CDs a look must cost what the batches still arriving cost: launched
    batches are only stat'ed (folder and marker), and one of them walked in rotation."""
    dagster, settled = launched_batches(tmp_path, count=40, files=25)
    write_batch(tmp_path / "cd_new", files=25)
    counted = Counted(monkeypatch)
    result = look(tmp_path, settled.memory, now=settled.memory.looked_at + 15, dagster=dagster)
    assert names(result.ready) == ["cd_new"]
    assert len(result.walked) == 2  # the new batch, and one launched batch in rotation
    folders_per_batch = 2  # the batch folder and S1
    assert len(counted.listings) == 1 + folders_per_batch * 2
    files_walked = 2 * 26  # two walks of 25 images and a marker
    assert counted.lstats <= files_walked + 2 * 41  # else: at most two per batch (marker)
    assert counted.lstats < 40 * 26 / 10


def test_the_rotation_reaches_every_launched_batch_and_finds_a_change_deep_inside(tmp_path):
    dagster, settled = launched_batches(tmp_path, count=5, files=2)
    deep = tmp_path / "cd003" / "S1" / "IM0"
    deep.write_bytes(b"replaced deep inside: no stat of the batch folder moves")
    seen, memory, now = [], settled.memory, settled.memory.looked_at + 15
    for _ in range(5):
        result = look(tmp_path, memory, now=now, dagster=dagster)
        seen += result.walked
        memory, now = result.memory, now + 15
        if result.ready:
            break
    assert names(result.ready) == ["cd003"]  # the marker is still there: it runs again
    assert seen == ["cd000", "cd001", "cd002", "cd003"]
    assert dagster.run_keys["cd003"] == run_key(result.ready[0])


def test_a_touched_launched_batch_is_walked_and_runs_again_if_its_listing_changed(tmp_path):
    dagster, settled = launched_batches(tmp_path, count=3, files=2)
    now = settled.memory.looked_at
    (tmp_path / "cd001" / "late.txt").write_text("added next to the marker")
    os.utime(tmp_path / "cd001", (now + 5, now + 5))  # on the looks' clock: after the last
    result = look(tmp_path, settled.memory, now=now + 15, dagster=dagster)
    assert result.walked[0] == "cd001"
    assert names(result.ready) == ["cd001"]
    # A touched folder makes the sensor look, but an unchanged listing never starts a
    # second run.
    os.utime(tmp_path / "cd002", (now + 20, now + 20))
    again = look(tmp_path, result.memory, now=now + 30, dagster=dagster)
    assert "cd002" in again.walked and again.ready == []
    # The marker is in the listing: touching it (as a copy station that copied the CD
    # again would) starts a new run.
    os.utime(tmp_path / "cd002" / ".copy_complete", (now + 35, now + 35))
    marked = look(tmp_path, again.memory, now=now + 45, dagster=dagster)
    assert names(marked.ready) == ["cd002"]


def test_what_the_sensor_remembers_does_not_grow_with_launched_batches(tmp_path):
    _, result = launched_batches(tmp_path, count=30, files=1)
    saved = json.loads(result.memory.to_json())
    assert saved["arriving"] == {} and saved["requested"] == {}
    assert len(result.memory.to_json()) < 200


def test_an_older_cursor_keeps_only_the_batches_it_had_not_launched(tmp_path):
    older = json.dumps(
        {
            "cd1": {"signature": "a", "since": 5.0, "launched": "a"},
            "cd2": {"signature": "b", "since": 7.0},
        }
    )
    memory = ArrivalMemory.from_json(older)
    assert memory.arriving == {"cd2": ("b", 7.0)}
    assert ArrivalMemory.from_json(memory.to_json()) == memory
