"""Each instance released once, however many CDs carry it: the index of what was
released and of what batches waiting for sign-off produced.

One DuckDB database in the secure zone (`secure/released_index.duckdb`), two tables:

  released(instance PRIMARY KEY, study, series, batch, content_hash, released_at)
  pending(instance, batch, content_hash, PRIMARY KEY (instance, batch))

`instance` is the hashed SOPInstanceUID (a released file's name), `content_hash` the
XXH3-128 of the released bytes. The primary key answers "which batch released
instance X" from its index (about 25 ms at 25 M rows, opening included; a scan of
per-batch Parquet files would open 20,000 footers per question) and is the unique
constraint that closes the race between two releases: a release inserts its
instances in one transaction, and a second batch with one of them fails it whole.
DuckDB lets one process write a database file at a time (a file lock); every
operation here opens, works and closes within milliseconds to a second, and waits
for the lock when another process holds it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from anon_pipeline.engine.files.stage import Claim

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS released (instance VARCHAR PRIMARY KEY, study VARCHAR NOT NULL,"
    " series VARCHAR NOT NULL, batch VARCHAR NOT NULL, content_hash VARCHAR NOT NULL,"
    " released_at TIMESTAMP NOT NULL)",
    "CREATE TABLE IF NOT EXISTS pending (instance VARCHAR NOT NULL, batch VARCHAR NOT NULL,"
    " content_hash VARCHAR NOT NULL, PRIMARY KEY (instance, batch))",
)
LOCK_WAIT_SECONDS = 600.0
MAX_NAMED = 3


class AlreadyReleased(Exception):
    """A release would put an instance into released/ a second time; names batches only."""

    def __init__(self, batch: str, conflicts: dict[str, int]) -> None:
        self.conflicts = conflicts
        others = ", ".join(f"{count} in {other}" for other, count in sorted(conflicts.items()))
        super().__init__(
            f"{batch}: {sum(conflicts.values())} instance(s) already released ({others}); "
            f"rerun {batch} (its duplicates are then skipped), approve and release it again"
        )


def instance_of(output_name: str) -> tuple[str, str, str]:
    """(instance, study, series) of a released file's name `<study>/<series>/<instance>.dcm`."""
    study, series, name = output_name.split("/")
    return name.removesuffix(".dcm"), study, series


@contextmanager
def connected(path: Path, read_only: bool = False) -> Iterator[Any]:
    """A connection to the index, created if missing, waiting while another process
    writes it."""
    import duckdb  # the server's: a hospital's stage 1 never opens the index

    path = Path(path)
    if not path.exists():
        read_only = False  # the first use creates it
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    delay = 0.01
    while True:
        try:
            connection = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
    try:
        if not read_only:
            for statement in SCHEMA:
                connection.execute(statement)
        yield connection
    finally:
        connection.close()


def claims(path: Path | None, output_names: Iterable[str], batch: str) -> dict[str, Claim]:
    """The instances among `output_names` that another batch released or produced,
    by output name (released claims first)."""
    by_instance = {instance_of(name)[0]: name for name in output_names}
    if path is None or not by_instance or not Path(path).exists():
        return {}
    found: dict[str, Claim] = {}
    with connected(path, read_only=True) as connection:
        rows = connection.execute(
            "SELECT instance, batch, content_hash, true FROM released "
            "WHERE batch <> $batch AND instance IN (SELECT unnest($instances)) "
            "UNION ALL SELECT instance, batch, content_hash, false FROM pending "
            "WHERE batch <> $batch AND instance IN (SELECT unnest($instances)) "
            "ORDER BY 4 DESC, 2",
            {"batch": batch, "instances": list(by_instance)},
        ).fetchall()
    for instance, other, content_hash, released in rows:
        found.setdefault(by_instance[instance], Claim(other, content_hash, released))
    return found


def record_pending(path: Path | None, batch: str, outputs: list[tuple[str, str]]) -> None:
    """Replace what `batch` produced (output name, content hash): later batches' early
    check then skips or holds those instances."""
    if path is None:
        return
    instances = [instance_of(name)[0] for name, _ in outputs]
    with connected(path) as connection:
        connection.execute("BEGIN")
        connection.execute("DELETE FROM pending WHERE batch = ?", [batch])
        connection.execute(
            "INSERT INTO pending SELECT unnest($instances), $batch, unnest($hashes)",
            {"instances": instances, "batch": batch, "hashes": [h for _, h in outputs]},
        )
        connection.execute("COMMIT")


def record_release(path: Path, batch: str, outputs: list[tuple[str, str]]) -> None:
    """Record `batch`'s released instances in one transaction, replacing its earlier
    release; raise AlreadyReleased, recording nothing, if another batch holds one."""
    import duckdb

    names = [instance_of(name) for name, _ in outputs]
    columns = {
        "instances": [name[0] for name in names],
        "studies": [name[1] for name in names],
        "series": [name[2] for name in names],
        "hashes": [digest for _, digest in outputs],
        "batch": batch,
        "now": dt.datetime.now(dt.UTC).replace(tzinfo=None),
    }
    with connected(path) as connection:
        connection.execute("BEGIN")
        connection.execute("DELETE FROM released WHERE batch = ?", [batch])
        conflicts = dict(
            connection.execute(
                "SELECT batch, count(*) FROM released "
                "WHERE instance IN (SELECT unnest(?)) GROUP BY batch",
                [columns["instances"]],
            ).fetchall()
        )
        if conflicts:
            connection.execute("ROLLBACK")
            raise AlreadyReleased(batch, conflicts)
        try:  # the primary key is the last word, should anything have raced past
            connection.execute(
                "INSERT INTO released SELECT unnest($instances), unnest($studies), "
                "unnest($series), $batch, unnest($hashes), $now",
                columns,
            )
            connection.execute("DELETE FROM pending WHERE batch = ?", [batch])
            connection.execute("COMMIT")
        except duckdb.ConstraintException:
            connection.execute("ROLLBACK")
            raise AlreadyReleased(batch, {"another batch": len(names)}) from None


def released_by(path: Path, instance: str) -> str | None:
    """Which batch released `instance` (a hashed SOPInstanceUID), if any."""
    if not Path(path).exists():
        return None
    with connected(path, read_only=True) as connection:
        row = connection.execute(
            "SELECT batch FROM released WHERE instance = ?", [instance]
        ).fetchone()
    return row[0] if row else None
