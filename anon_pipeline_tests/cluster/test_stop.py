"""`make cluster` stops everything on SIGTERM, as on Ctrl-C: a service manager's stop or
a CI timeout must not leave Postgres, Redis, workers, the daemon or the webserver
running, nor Postgres' temporary folder behind."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from anon_pipeline.cluster.local import free_port

pytestmark = [pytest.mark.slow, pytest.mark.cluster]
NEEDED = ["redis-server", "pg_dump"] + (["runuser"] if os.geteuid() == 0 else [])
START_SECONDS, STOP_SECONDS = 240, 120


def children_of(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines())
        except (OSError, ValueError):
            continue
        if int(fields.get("PPid", "0").strip()) == pid:
            found.append(int(status.parent.name))
    return found


def is_running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/status").read_text().split("State:\t", 1)[1][:1]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def using(folder: Path) -> list[int]:
    """Processes whose command line names `folder` (Postgres under runuser, say)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(folder).encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def postgres_folder(pids: list[int]) -> Path | None:
    for pid in pids:
        try:
            arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"-D" in arguments:
            return Path(arguments[arguments.index(b"-D") + 1].decode()).parent
    return None


def test_sigterm_stops_every_process_and_removes_the_postgres_folder(tmp_path):
    missing = [tool for tool in NEEDED if shutil.which(tool) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{', '.join(missing)} missing in CI: .ci/run must install them")
        pytest.skip(f"{', '.join(missing)} not installed (Debian: postgresql, redis-server)")
    command = [sys.executable, "-m", "anon_pipeline.cluster.local", "--workers", "1"]
    command += ["--port", str(free_port()), "--base", str(tmp_path / "cluster")]
    environment = {**os.environ, "ANON_PIPELINE_ROOT": str(tmp_path / "root")}
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + START_SECONDS
    while not any(line.startswith("cluster up") for line in lines):
        assert process.poll() is None, f"the cluster stopped while starting: {lines}"
        assert time.monotonic() < deadline, "the cluster did not start in time"
        time.sleep(0.5)
    children = children_of(process.pid)
    folder = postgres_folder(children)
    assert len(children) >= 5 and folder is not None and folder.exists()  # pg, redis, ...
    assert using(folder)

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=STOP_SECONDS) == 0
    reader.join(timeout=10)
    assert any("stopping" in line for line in lines)
    assert [pid for pid in children if is_running(pid)] == []
    assert [pid for pid in using(folder) if is_running(pid)] == []  # Postgres itself too
    assert not folder.exists()
