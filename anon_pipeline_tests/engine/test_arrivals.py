import errno
import os
from collections.abc import Callable
from pathlib import Path

from anon_pipeline.engine.arrivals import look_at_incoming, ready_batches


def test_a_batch_with_the_marker_is_ready_at_once(tmp_path):
    (tmp_path / "cd1").mkdir()
    (tmp_path / "cd1" / "IM1").write_bytes(b"x")
    (tmp_path / "cd1" / ".copy_complete").touch()
    ready, _ = ready_batches(look_at_incoming(tmp_path), {}, now=100.0, quiet_seconds=3600)
    assert [state.name for state in ready] == ["cd1"]


def test_a_batch_without_marker_waits_for_the_quiet_period(tmp_path):
    (tmp_path / "cd1").mkdir()
    (tmp_path / "cd1" / "IM1").write_bytes(b"x")
    ready, memory = ready_batches(look_at_incoming(tmp_path), {}, now=100.0, quiet_seconds=60)
    assert ready == []
    ready, memory = ready_batches(look_at_incoming(tmp_path), memory, now=130.0, quiet_seconds=60)
    assert ready == []
    (tmp_path / "cd1" / "IM2").write_bytes(b"still copying")
    ready, memory = ready_batches(look_at_incoming(tmp_path), memory, now=170.0, quiet_seconds=60)
    assert ready == []  # it changed: the clock starts again
    ready, memory = ready_batches(look_at_incoming(tmp_path), memory, now=231.0, quiet_seconds=60)
    assert [state.name for state in ready] == ["cd1"]


def test_empty_and_hidden_folders_never_start(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / ".partial").mkdir()
    (tmp_path / ".partial" / "IM1").write_bytes(b"x")
    states = look_at_incoming(tmp_path)
    assert [state.name for state in states] == ["empty"]
    ready, _ = ready_batches(states, {}, now=0.0, quiet_seconds=0)
    assert ready == []


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
    states = look_at_incoming(tmp_path)
    assert states[0].unlistable_folders == 1
    ready, memory = ready_batches(states, {}, now=0.0, quiet_seconds=60)
    ready, memory = ready_batches(look_at_incoming(tmp_path), memory, now=600.0, quiet_seconds=60)
    assert ready == []  # quiet for ten minutes, but nobody can see inside S1
    open_folder()
    ready, memory = ready_batches(look_at_incoming(tmp_path), memory, now=601.0, quiet_seconds=60)
    assert ready == [] and memory["cd1"]["since"] == 601.0  # S1's files are news
    ready, memory = ready_batches(look_at_incoming(tmp_path), memory, now=662.0, quiet_seconds=60)
    assert [state.name for state in ready] == ["cd1"]


def test_the_marker_runs_a_batch_with_a_folder_that_cannot_be_listed(tmp_path, monkeypatch):
    series = tmp_path / "cd1" / "S1"
    series.mkdir(parents=True)
    (tmp_path / "cd1" / "IM0").write_bytes(b"x")
    (tmp_path / "cd1" / ".copy_complete").touch()
    close_folder(monkeypatch, series)
    ready, _ = ready_batches(look_at_incoming(tmp_path), {}, now=0.0, quiet_seconds=60)
    assert [(state.name, state.unlistable_folders) for state in ready] == [("cd1", 1)]
