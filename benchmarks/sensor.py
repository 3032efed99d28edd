"""Benchmark: the arrival sensor's tick with 1,000 and 20,000 processed batches.

    python benchmarks/sensor.py [--batches 1000,20000] [--files 1300]

The sensor reads only names and `stat`s, so each batch is a CD-shaped tree of empty
files (hard links to a few empty files: 26 M directory entries need no 26 M inodes).
Every processed batch has its partition and a run record with the run key the sensor
gives it (its listing signature), in a SQLite instance as the default deployment has.
The batches are left a few minutes old, as processed batches are; then ticks follow
each other as the daemon runs them, and a new batch is dropped among the processed
ones: how many ticks until its run is requested. For comparison, the cost of walking
every batch once (what each tick cost before) is measured at the smaller size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

from anon_pipeline.defs.partitions import batches
from anon_pipeline.defs.resources import PipelineSettings
from anon_pipeline.defs.sensors import ARRIVAL_SENSOR, RUN_KEY_TAG, SENSOR_NAME_TAG
from anon_pipeline.defs.sensors import incoming_batches as sensor

sys.path.insert(0, str(Path(__file__).parent))
from run import machine_description, publish

from anon_pipeline.engine.batch.arrivals import (
    DEFAULT_MARKER,
    TOUCH_SLACK_SECONDS,
    listing_signature,
    look_at_batch,
    run_key,
)

LINKS_PER_INODE = 60_000  # ext4 allows 65,000 links to one inode
SERIES_PER_BATCH = 4
TICKS = 5


class EmptyFiles:
    """Hard links to a few empty files, a new one every LINKS_PER_INODE links."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.links, self.current = folder, 0, folder / "empty-0"
        folder.mkdir(parents=True, exist_ok=True)

    def link(self, target: Path) -> None:
        if self.links % LINKS_PER_INODE == 0:
            self.current = self.folder / f"empty-{self.links}"
            self.current.touch()
        os.link(self.current, target)
        self.links += 1


def write_batch(folder: Path, files: int, empty: EmptyFiles) -> None:
    """A CD's tree: DICOMDIR, one patient, one study, SERIES_PER_BATCH series, a marker."""
    per_series = -(-files // SERIES_PER_BATCH)
    for series in range(SERIES_PER_BATCH):
        series_dir = folder / "DICOM" / "PT000000" / "ST000000" / f"SE{series:06d}"
        series_dir.mkdir(parents=True)
        for number in range(min(per_series, files - series * per_series)):
            empty.link(series_dir / f"IM{number:06d}")
    empty.link(folder / "DICOMDIR")
    (folder / DEFAULT_MARKER).touch()


def build(
    incoming: Path,
    count: int,
    files: int,
    empty: EmptyFiles,
    instance: dg.DagsterInstance,
    start: int,
) -> None:
    """`count` more processed batches: folders, partitions, and the sensor's run records."""
    names = [f"cd{number:06d}" for number in range(start, start + count)]
    for number, name in enumerate(names, 1):
        write_batch(incoming / name, files, empty)
        if number % 1000 == 0:
            print(f"  {start + number} batches written", flush=True)
    instance.add_dynamic_partitions(batches.name, names)
    for number, name in enumerate(names, 1):
        state = look_at_batch(incoming / name)
        instance.add_run(
            dg.DagsterRun(
                job_name="anonymize_batch",
                tags={
                    "dagster/partition": name,
                    SENSOR_NAME_TAG: ARRIVAL_SENSOR,
                    RUN_KEY_TAG: run_key(state),
                },
            )
        )
        if number % 1000 == 0:
            print(f"  {start + number} run records", flush=True)


def tick(instance: dg.DagsterInstance, settings: PipelineSettings, cursor: str | None):
    with dg.build_sensor_context(
        instance=instance,
        resources={"settings": settings},
        cursor=cursor,
        sensor_name=ARRIVAL_SENSOR,
    ) as context:
        started = time.perf_counter()
        result = sensor(context)
        return result, time.perf_counter() - started


def measure(root: Path, instance: dg.DagsterInstance, processed: int, files: int) -> dict:
    """Ticks over `processed` old batches, then a new batch among them."""
    settings = PipelineSettings(root=str(root), quiet_seconds=300)
    wait = TOUCH_SLACK_SECONDS + 20 - (time.time() - newest_change(root / "incoming"))
    if wait > 0:  # processed batches are old: none was touched since the last look
        print(f"  waiting {wait:.0f} s so that the batches are older than a tick", flush=True)
        time.sleep(wait)
    cursor = (
        f'{{"version": 2, "looked_at": {time.time() - 15}, "arriving": {{}}, '
        f'"requested": {{}}, "rotation": ""}}'
    )
    seconds, requests = [], 0
    for _ in range(TICKS):
        result, elapsed = tick(instance, settings, cursor)
        seconds.append(elapsed)
        requests += len(result.run_requests)
        cursor = result.cursor
    empty = EmptyFiles(root / "empty-new")
    write_batch(root / "incoming" / "cd_new", files, empty)
    picked_up = None
    for number in (1, 2, 3):
        result, elapsed = tick(instance, settings, cursor)
        cursor = result.cursor
        seconds.append(elapsed)
        if any(request.partition_key == "cd_new" for request in result.run_requests):
            picked_up = number
            break
    shutil.rmtree(root / "incoming" / "cd_new")
    shutil.rmtree(root / "empty-new")
    return {
        "median": statistics.median(seconds),
        "max": max(seconds),
        "spurious_requests": requests,
        "picked_up": picked_up,
        "cursor_bytes": len(cursor),
    }


def newest_change(incoming: Path) -> float:
    with os.scandir(incoming) as entries:
        return max(entry.stat().st_ctime for entry in entries)


def walk_all(incoming: Path) -> float:
    """Seconds to walk every batch once: what each tick cost before."""
    started = time.perf_counter()
    for entry in sorted(os.scandir(incoming), key=lambda entry: entry.name):
        listing_signature(Path(entry.path))
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--batches", default="1000,20000", help="processed batches, ascending")
    parser.add_argument("--files", type=int, default=1300, help="files per batch")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: temp)")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()
    sizes = [int(size) for size in args.batches.split(",")]
    work = args.work or Path(tempfile.mkdtemp(prefix="anon-bench-sensor-"))
    root = work / "root"
    (root / "incoming").mkdir(parents=True, exist_ok=True)
    empty = EmptyFiles(work / "empty")
    lines = [
        "| processed batches | files | tick, median (s) | slowest tick (s) | new batch "
        "requested at tick | runs requested for processed batches | cursor (bytes) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    walk_note = ""
    try:
        with tempfile.TemporaryDirectory(dir=work) as home:
            instance = dg.DagsterInstance.local_temp(home)
            built = 0
            for size in sizes:
                print(f"building {size - built} more batches of {args.files} files ...")
                build(root / "incoming", size - built, args.files, empty, instance, built)
                built = size
                result = measure(root, instance, size, args.files)
                cells = [
                    f"{size}",
                    f"{size * args.files:,}",
                    f"{result['median']:.2f}",
                    f"{result['max']:.2f}",
                    f"{result['picked_up']}",
                    f"{result['spurious_requests']}",
                    f"{result['cursor_bytes']}",
                ]
                lines.append(f"| {' | '.join(cells)} |")
                print(lines[-1], flush=True)
                if size == sizes[0]:
                    walk_note = (
                        f"Walking all {size} batches once (every tick before): "
                        f"{walk_all(root / 'incoming'):.1f} s."
                    )
            instance.dispose()
        machine = machine_description()
        header = f"{dt.date.today()}, {machine}, the arrival sensor's tick"
        report = "\n".join(lines) + f"\n\n{walk_note}"
        publish(header, report, args.markdown)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
