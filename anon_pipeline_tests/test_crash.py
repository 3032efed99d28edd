"""A run killed at any point (kill -9) and rerun: outputs are the old complete set or
the new complete set, never a mix, and the rerun equals an uninterrupted run."""

import os
import signal
import subprocess
import sys
import time

import pytest

from anon_pipeline.engine.disk.keys import create_key_file
from anon_pipeline.synthetic.cds import fake_patient, write_cd_batch
from anon_pipeline_tests.conftest import tree_digest

pytestmark = pytest.mark.slow


def anonymize(batch, out, key_file, *, kill_after: float | None = None) -> float:
    """Run the CLI; returns how long it took (or kills it after `kill_after` seconds)."""
    started = time.perf_counter()
    command = [
        sys.executable,
        "-m",
        "anon_pipeline.cli",
        "anonymize",
        str(batch),
        "--out",
        str(out),
        "--key-file",
        str(key_file),
        "--workers",
        "2",
        "--quiet",
    ]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL)
    if kill_after is None:
        assert process.wait(timeout=300) == 0
        return time.perf_counter() - started
    time.sleep(kill_after)
    os.killpg(process.pid, signal.SIGKILL)  # the run and its worker processes, at once
    process.wait()
    return kill_after


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    write_cd_batch(root / "cd", [fake_patient(i) for i in range(4)], series=3, slices=8)
    keys = [create_key_file(root / f"key{i}") for i in (1, 2)]
    reference, seconds = {}, []
    for index, key in enumerate(keys):
        seconds.append(anonymize(root / "cd", root / f"reference{index}", key))
        reference[index] = tree_digest(root / f"reference{index}" / "release")
    assert reference[0] != reference[1]
    return root, keys, reference, min(seconds)


# Kill points as fractions of an uninterrupted run, so they keep covering the whole run
# as it gets faster or slower (start-up, scan, both stages, the tables, the swaps).
@pytest.mark.parametrize("fraction", [0.3, 0.45, 0.6, 0.75, 0.85, 0.95])
def test_a_killed_rerun_leaves_old_or_new_never_a_mix(batch, tmp_path, fraction):
    root, keys, reference, seconds = batch
    out = tmp_path / "out"
    anonymize(root / "cd", out, keys[0])  # the old, complete outputs
    anonymize(root / "cd", out, keys[1], kill_after=fraction * seconds)  # killed part way
    release = out / "release"
    if release.exists():
        assert tree_digest(release) in (reference[0], reference[1])
    anonymize(root / "cd", out, keys[1])  # the rerun
    assert tree_digest(out / "release") == reference[1]
    stray = [p.name for p in out.rglob(".*") if ".staging-" in p.name or ".retired-" in p.name]
    assert stray == []
