"""The Parquet tables a batch leaves behind, and their schemas.

A stage's side tables (UID pairs, queued attributes, output values) go to a work
folder as the chunks finish (`SideTables`); DuckDB then aggregates them out of core,
so neither a worker nor the parent holds a whole batch's values in memory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from anon_pipeline.engine.disk.atomic import staging_path_for, temporary_sibling
from anon_pipeline.engine.disk.folders import PART_FILE

UID_PAIRS = "uid_pairs"
IDENTIFIERS = "identifiers"
UNLISTED = "unlisted"
VALUES = "values"
DUCKDB_MEMORY_LIMIT = "128MB"

PART_SCHEMAS: Mapping[str, pa.Schema] = {
    UID_PAIRS: pa.schema([("original_uid", pa.string()), ("hashed_uid", pa.string())]),
    IDENTIFIERS: pa.schema([("keyword", pa.string()), ("value", pa.string())]),
    UNLISTED: pa.schema(
        [
            ("row", pa.int64()),
            ("tag", pa.string()),
            ("keyword", pa.string()),
            ("vr", pa.string()),
            ("path", pa.string()),
            ("sample", pa.string()),
            ("reason", pa.string()),  # "no rule", or why a kept value was refused
        ]
    ),
    # Counted per chunk: each distinct output value and the number of files of the chunk
    # that hold it (a chunk's files are its own, so the counts add up across chunks).
    VALUES: pa.schema(
        [
            ("tag_path", pa.string()),
            ("keyword_path", pa.string()),
            ("vr", pa.string()),
            ("value", pa.string()),
            ("files", pa.int64()),
        ]
    ),
}

SCAN_FIELDS = [
    ("row", pa.int64()),
    ("relative_path", pa.string()),
    ("size", pa.int64()),
    ("kind", pa.string()),
    ("content_hash", pa.string()),
    ("detail", pa.string()),
    ("sop_instance_uid", pa.string()),
    ("pixel_hash", pa.string()),
    ("pixel_meaning", pa.string()),
    ("uid_conflict", pa.bool_()),
]
SCAN_SCHEMA = pa.schema(SCAN_FIELDS)
OUTCOME_FIELDS = [
    ("row", pa.int64()),
    ("outcome", pa.string()),
    ("disposition", pa.string()),  # the manifest's words; the next three are its parts
    ("reason", pa.string()),
    ("reason_detail", pa.string()),
    ("other_batch", pa.string()),
    ("output_name", pa.string()),
    ("output_size", pa.int64()),
    ("output_hash", pa.string()),
    ("output_pixel_hash", pa.string()),
    ("error", pa.string()),
    ("engine", pa.string()),
    ("declined", pa.string()),
]
OUTCOME_SCHEMA = pa.schema(OUTCOME_FIELDS)
MANIFEST_SCHEMA = pa.schema(SCAN_FIELDS + OUTCOME_FIELDS[1:])


ROW_GROUP_ROWS = 20_000  # rows a side table holds in memory before they go to disk


class SideTables:
    """The stage's side tables, one Parquet file each, written in the parent as the
    workers' chunks come back: a chunk's rows arrive as plain columns, so workers never
    build Arrow arrays (pyarrow imports pandas for its first one: 0.4 s per process),
    and a batch makes four files, not four per chunk. At most ROW_GROUP_ROWS rows per
    table wait in memory. Each file appears under its name only when complete."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = Path(work_dir)
        self.pending: dict[str, dict[str, list[Any]]] = {
            table: {name: [] for name in schema.names} for table, schema in PART_SCHEMAS.items()
        }
        self.writers: dict[str, tuple[pq.ParquetWriter, Path, Path]] = {}

    def add(self, chunk: Mapping[str, Mapping[str, list[Any]]]) -> None:
        """One chunk's rows: table -> column -> values."""
        for table, columns in chunk.items():
            pending = self.pending[table]
            for name, values in columns.items():
                pending[name].extend(values)
            if len(next(iter(pending.values()))) >= ROW_GROUP_ROWS:
                self.flush(table)

    def flush(self, table: str) -> None:
        if table not in self.writers:
            path = self.work_dir / table / PART_FILE
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = staging_path_for(path)
            self.writers[table] = (
                pq.ParquetWriter(temporary, PART_SCHEMAS[table]),
                temporary,
                path,
            )
        columns = self.pending[table]
        if len(next(iter(columns.values()))):
            arrow = pa.Table.from_pydict(columns, schema=PART_SCHEMAS[table])
            self.writers[table][0].write_table(arrow)
        self.pending[table] = {name: [] for name in columns}

    def close(self) -> None:
        """Write what waits and put every table in place (an empty table too, so globs match)."""
        for table in PART_SCHEMAS:
            self.flush(table)
        for writer, temporary, path in self.writers.values():
            writer.close()
            os.replace(temporary, path)
        self.writers.clear()

    def discard(self) -> None:
        """After a failure: close and delete the unfinished files."""
        for writer, temporary, _ in self.writers.values():
            writer.close()
            temporary.unlink(missing_ok=True)
        self.writers.clear()


def read_rows(path: Path) -> list[dict[str, Any]]:
    """All rows of a (small, per-file) Parquet table."""
    return pq.read_table(path).to_pylist()


def write_columns(path: Path, columns: Mapping[str, list[Any]], schema: pa.Schema) -> None:
    """Write columns as one Parquet file, atomically."""
    with temporary_sibling(Path(path)) as temporary:
        pq.write_table(pa.Table.from_pydict(dict(columns), schema=schema), temporary)


def columns_of(records: Sequence[Any], schema: pa.Schema) -> dict[str, list[Any]]:
    """A table's columns straight from its records' attributes: no dict per row, which
    would cost a batch's worth of memory again. Enums are strings already; any other
    value of a text column (a typed disposition) is written as its words."""
    columns = {}
    for name in schema.names:
        values = [getattr(record, name) for record in records]
        if schema.field(name).type == pa.string():
            values = [v if v is None or isinstance(v, str) else str(v) for v in values]
        columns[name] = values
    return columns


def write_manifest(path: Path, scanned: Sequence[Any], outcomes: Sequence[Any]) -> None:
    """Scan facts (`ScannedFile`s) joined with each row's final outcome (`FileOutcome`s):
    one row per input file."""
    by_row = {outcome.row: outcome for outcome in outcomes}
    final = [by_row[row.row] for row in scanned]
    columns = columns_of(scanned, SCAN_SCHEMA)
    columns.update(columns_of(final, OUTCOME_SCHEMA.remove(OUTCOME_SCHEMA.get_field_index("row"))))
    write_columns(path, columns, MANIFEST_SCHEMA)


def write_distinct(work_dir: Path, table: str, output: Path) -> int:
    """A side table's distinct rows, sorted, with pyarrow alone: what stage 1 needs at a
    hospital, where DuckDB is not installed (the tables there are small)."""
    parts = pq.read_table(Path(work_dir) / table, schema=PART_SCHEMAS[table])
    names = PART_SCHEMAS[table].names
    distinct = parts.group_by(names, use_threads=False).aggregate([])
    distinct = distinct.select(names).sort_by([(name, "ascending") for name in names])
    with temporary_sibling(Path(output)) as temporary:
        pq.write_table(distinct, temporary)
    return distinct.num_rows


def aggregate_query(work_dir: Path, query: str, output: Path) -> int:
    """Run `query` (with {parts:<table>} placeholders) into a Parquet file, atomically."""
    parts = {name: f"read_parquet('{Path(work_dir) / name}/*.parquet')" for name in PART_SCHEMAS}
    sql = query.format(**parts)
    import duckdb  # the server's: stage 1 at a hospital writes no aggregate (`package`)

    with duckdb.connect() as connection, temporary_sibling(Path(output)) as temporary:
        connection.execute("SET threads TO 1")  # deterministic order and row groups
        # Bounded memory whatever the batch size: larger aggregations spill to disk, in
        # the (secure) work folder, since the spilled rows may hold original values.
        connection.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
        connection.execute(f"SET temp_directory = '{Path(work_dir) / '.duckdb-spill'}'")
        connection.execute(f"COPY ({sql}) TO '{temporary}' (FORMAT parquet)")
        counted = connection.execute(f"SELECT count(*) FROM read_parquet('{temporary}')")
        return int(counted.fetchone()[0])  # type: ignore[index]  # count(*) has one row


def write_identifiers(work_dir: Path, output: Path) -> int:
    """Distinct original values that rules removed or replaced (secure zone: PHI)."""
    return aggregate_query(
        work_dir,
        "SELECT DISTINCT keyword, value FROM {identifiers} ORDER BY keyword, value",
        output,
    )


def write_uid_map(work_dir: Path, output: Path) -> int:
    """original UID -> hashed UID, one row per distinct pair (secure zone)."""
    return aggregate_query(
        work_dir,
        "SELECT DISTINCT original_uid, hashed_uid FROM {uid_pairs} ORDER BY original_uid",
        output,
    )


def write_review_queue(work_dir: Path, output: Path) -> int:
    """Attributes no rule covered, and kept values refused for their form (`reason`):
    where they occur, in how many files, a few sample values (secure zone only: samples
    are values from before whitelisting)."""
    return aggregate_query(
        work_dir,
        """
        SELECT tag, keyword, vr, reason,
               count(DISTINCT row) AS files,
               list_sort(list(DISTINCT path))[1:5] AS paths,
               list_sort(list(DISTINCT sample) FILTER (WHERE sample IS NOT NULL))[1:3]
                   AS sample_values
        FROM {unlisted} GROUP BY tag, keyword, vr, reason ORDER BY tag, vr, reason
        """,
        output,
    )


def write_inventory(work_dir: Path, output: Path) -> int:
    """Per attribute (tag path, keyword path, VR) and distinct output value: number of files."""
    parts = sorted((Path(work_dir) / VALUES).glob("*.parquet"))
    # Parts written before the per-chunk counts hold one row per file and value instead.
    per_file_rows = bool(parts) and "row" in pq.read_schema(parts[0]).names
    files = "count(DISTINCT row)" if per_file_rows else "sum(files)::BIGINT"
    return aggregate_query(
        work_dir,
        f"""
        SELECT tag_path, keyword_path, vr, value, {files} AS files
        FROM {{values}} GROUP BY ALL ORDER BY tag_path, vr, value NULLS FIRST
        """,
        output,
    )
