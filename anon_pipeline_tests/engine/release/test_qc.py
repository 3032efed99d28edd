"""QC of unique values: flags for a human eye; a summary safe to show in Dagster."""

import pydicom

from anon_pipeline.engine.disk.layout import DataRoot
from anon_pipeline.engine.disk.tables import read_rows
from anon_pipeline.engine.release.qc import flags_for, qc_summary_markdown, qc_values
from anon_pipeline_tests.conftest import query


def test_values_that_need_a_human_eye_are_flagged():
    assert "name?" in flags_for("LO", "Kowalski^Jan", 3, False)
    assert "free text" in flags_for("LO", "Kowalski^Jan", 3, False)
    assert "phone?" in flags_for("SH", "+48 22 555 12 34", 3, False)
    assert "date?" in flags_for("LO", "born 1954-03-02", 3, False)
    assert "id?" in flags_for("CS", "PESEL8802", 3, False)
    assert flags_for("DA", "20240315", 3, False) == []  # a shifted date where dates belong
    assert flags_for("DS", "1.25", 1, True) == ["in one file", "new"]


def test_harmless_values_are_not_flagged_so_that_flags_keep_their_weight():
    assert flags_for("CS", "MONOCHROME2", 3, False) == []  # a defined term, not an ID
    assert "id?" in flags_for("CS", "PESEL8802", 3, False)  # an ID in a coded string is
    assert flags_for("CS", "ORIGINAL", 3, False) == []
    assert flags_for("LO", "1.0", 3, False) == []  # SoftwareVersions: no letter, no text
    assert flags_for("LO", "syngo CT VA48A", 3, False) == ["free text"]
    assert "id?" in flags_for("SH", "PID0740017", 3, False)


def test_qc_lists_every_released_value_and_flags_free_text_and_ids(processed_cd):
    data_root = DataRoot(processed_cd.release_dir.parent.parent)
    values = qc_values(data_root, [processed_cd.release_dir.name])
    assert {(v.keyword_path, v.value) for v in values} >= {("KVP", "120"), ("Modality", "CT")}
    manufacturer = next(v for v in values if v.keyword_path == "Manufacturer")
    assert "free text" in manufacturer.flags
    engine_written = [v for v in values if v.keyword_path.startswith("Deidentification")]
    assert engine_written and not any(v.flags for v in engine_written)
    pseudonyms = [v for v in values if v.keyword_path == "PatientID"]
    assert pseudonyms and all("id?" in v.flags for v in pseudonyms)


def test_the_qc_summary_never_shows_a_removed_or_free_text_value(processed_cd, whitelist):
    summary = qc_summary_markdown(processed_cd.paths.inventory, whitelist)
    assert "| KVP | DS | 1 | 120 |" in summary  # kept and not free text: shown
    assert "| Manufacturer | LO | 1 | (not shown) |" in summary
    for identifier in (i for patient in processed_cd.patients for i in patient.identifiers()):
        assert identifier not in summary
    free_text = query(
        f"SELECT DISTINCT value FROM '{processed_cd.paths.inventory}' "
        "WHERE vr IN ('LO','LT','ST','UT','PN','SH') AND value IS NOT NULL AND value <> ''"
    )
    assert free_text and all(
        value not in summary.split("| (not shown)")[0] or len(value) < 3 for (value,) in free_text
    )
    pseudonymized = {str(pydicom.dcmread(p).PatientID) for p in processed_cd.release_files()}
    assert not any(p in summary for p in pseudonymized)
    removed = {row["keyword"] for row in read_rows(processed_cd.paths.review_queue)}
    assert not any(f"| {keyword} |" in summary for keyword in removed)
