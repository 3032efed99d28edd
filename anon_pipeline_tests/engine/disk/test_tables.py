"""Side tables written in the parent as chunks come back: complete or absent, never half."""

import pyarrow.parquet as pq

from anon_pipeline.engine.disk import tables
from anon_pipeline.engine.disk.tables import (
    PART_SCHEMAS,
    UID_PAIRS,
    VALUES,
    SideTables,
    write_inventory,
    write_uid_map,
)


def pairs(start: int, count: int) -> dict[str, dict[str, list[str]]]:
    originals = [f"1.2.3.{number}" for number in range(start, start + count)]
    return {UID_PAIRS: {"original_uid": originals, "hashed_uid": [f"2.25.{o}" for o in originals]}}


def test_chunks_become_one_file_per_table_in_row_groups_of_bounded_size(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "ROW_GROUP_ROWS", 10)
    side_tables = SideTables(tmp_path)
    for start in range(0, 35, 7):  # five chunks of seven rows
        side_tables.add(pairs(start, 7))
        assert len(side_tables.pending[UID_PAIRS]["original_uid"]) < 10  # flushed once past 10
    assert not (tmp_path / UID_PAIRS / "rows.parquet").exists()  # complete files only
    side_tables.close()
    written = pq.ParquetFile(tmp_path / UID_PAIRS / "rows.parquet")
    assert written.metadata.num_rows == 35 and written.metadata.num_row_groups == 3
    assert [path.name for path in (tmp_path / UID_PAIRS).iterdir()] == ["rows.parquet"]
    assert write_uid_map(tmp_path, tmp_path / "uid_map.parquet") == 35


def test_a_table_no_chunk_added_to_is_written_empty_so_the_queries_still_run(tmp_path):
    side_tables = SideTables(tmp_path)
    side_tables.add(pairs(0, 2))
    side_tables.close()
    for table, schema in PART_SCHEMAS.items():
        written = pq.read_table(tmp_path / table / "rows.parquet")
        assert written.schema.equals(schema)
    assert pq.read_table(tmp_path / VALUES / "rows.parquet").num_rows == 0
    assert write_inventory(tmp_path, tmp_path / "inventory.parquet") == 0


def test_a_failed_stage_leaves_no_side_table_file(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "ROW_GROUP_ROWS", 1)
    side_tables = SideTables(tmp_path)
    side_tables.add(pairs(0, 3))  # a row group is already on disk, under a temporary name
    assert any((tmp_path / UID_PAIRS).iterdir())
    side_tables.discard()
    assert list((tmp_path / UID_PAIRS).iterdir()) == []
