"""The whitelist against the standard's own profile (PS3.15 Table E.1-1): every rule on
a row of the table allowed by the basic profile, a declared option, or a written
exception; every exception needed and listed in docs/rules.md."""

import re
from pathlib import Path

from pydicom.datadict import keyword_for_tag

from anon_pipeline.engine.rules.profile import (
    Verdict,
    gaps,
    judge,
    load_table,
    row_of_tag,
    unneeded_exceptions,
)
from anon_pipeline.engine.rules.rule_set import load_rule_set

DOCS = Path(__file__).resolve().parents[3] / "docs" / "rules.md"


def test_the_table_is_the_standards_with_its_revision_and_source():
    table = load_table()
    assert table.revision == "2024b"
    assert "innolitics/dicom-standard" in table.source and "8670abd" in table.source
    assert len(table.rows) == 621
    for row in table.rows:
        assert row.basic and set(row.basic_codes) <= set("XZDUK"), row
        if row.keyword:  # the keyword is pydicom's for the row's tag
            assert keyword_for_tag(int(row.tag[1:5] + row.tag[6:10], 16)) == row.keyword
    assert row_of_tag(0x00100040).basic == "Z"  # PatientSex
    assert row_of_tag(0x60003000).name == "Overlay Data"
    assert row_of_tag(0x50020010).name == "Curve Data"
    assert row_of_tag(0x00880200).keyword == "IconImageSequence"
    assert row_of_tag(0x00280010) is None  # Rows: not in the table, the profile keeps it


def test_the_shipped_whitelist_has_no_gap_and_no_needless_exception(whitelist):
    assert [(j.rule.name, j.why) for j in gaps(whitelist)] == []
    assert unneeded_exceptions(whitelist) == []
    verdicts = {j.rule.name: j.verdict for j in judge(whitelist)}
    assert verdicts["PatientAge"] is Verdict.OPTION  # Retain Patient Characteristics
    assert verdicts["StudyTime"] is Verdict.OPTION  # a time under a whole-week shift
    assert verdicts["StudyDate"] is Verdict.OPTION  # shifted: Modified Dates' C
    assert verdicts["SOPInstanceUID"] is Verdict.BASIC  # U
    assert verdicts["ReferencedStudySequence"] is Verdict.EXCEPTION
    assert "TimezoneOffsetFromUTC" in verdicts and verdicts["TimezoneOffsetFromUTC"] is (
        Verdict.BASIC  # removed
    )


def write_rules(folder: Path, extra_rules: str, options: str, exceptions: str = "") -> Path:
    path = folder / "whitelist.yaml"
    path.write_text(
        "rule_set: w\n"
        f"options: [BasicApplicationConfidentialityProfile{options}]\n"
        "defaults: {private: remove, unlisted: review, sequence: remove}\n"
        + (f"profile_exceptions:\n{exceptions}" if exceptions else "")
        + f"rules:\n  PatientName: pseudonymize\n{extra_rules}"
    )
    return path


def test_a_kept_identifier_is_a_gap_until_an_option_or_an_exception_allows_it(tmp_path):
    kept = "  TimezoneOffsetFromUTC: keep\n  PatientSex: keep\n  RequestingPhysician: keep\n"
    rule_set = load_rule_set(write_rules(tmp_path, kept, ""))
    assert {j.rule.name for j in gaps(rule_set)} == {
        "TimezoneOffsetFromUTC",  # X
        "PatientSex",  # Z, K only under Retain Patient Characteristics
        "RequestingPhysician",  # X: a rule applies at every depth, nested too
    }
    with_option = load_rule_set(write_rules(tmp_path, kept, ", RetainPatientCharacteristicsOption"))
    assert {j.rule.name for j in gaps(with_option)} == {
        "TimezoneOffsetFromUTC",
        "RequestingPhysician",
    }
    full_dates = ", RetainLongitudinalTemporalInformationFullDatesOption"
    assert "TimezoneOffsetFromUTC" not in {
        j.rule.name for j in gaps(load_rule_set(write_rules(tmp_path, kept, full_dates)))
    }
    excepted = load_rule_set(
        write_rules(tmp_path, kept, "", "  RequestingPhysician: a test of the exception's path\n")
    )
    assert "RequestingPhysician" not in {j.rule.name for j in gaps(excepted)}
    needless = load_rule_set(
        write_rules(tmp_path, kept + "  Rows: keep\n", "", "  Rows: why not\n")
    )
    assert unneeded_exceptions(needless) == ["Rows"]


def test_modified_dates_allow_a_shift_and_a_time_but_not_a_kept_date(tmp_path):
    option = ", RetainLongitudinalTemporalInformationModifiedDatesOption"
    rules = "  StudyDate: keep\n  SeriesDate: shift_date\n  StudyTime: keep\n"
    rule_set = load_rule_set(write_rules(tmp_path, rules, option))
    assert {j.rule.name for j in gaps(rule_set)} == {"StudyDate"}


def docs_section(title: str) -> str:
    text = DOCS.read_text()
    start = text.index(f"### {title}")
    end = text.find("\n#", start + 4)
    return " ".join(text[start:end].split())


def test_docs_list_every_declared_option_and_every_exception_with_its_reason(whitelist):
    options = docs_section("Declared options")
    listed = set(re.findall(r"`(\w+)`", options))
    assert listed == set(whitelist.options)
    exceptions = docs_section("Exceptions")
    assert set(re.findall(r"- `(\w+)`", exceptions)) == set(whitelist.profile_exceptions)
    for name, reason in whitelist.profile_exceptions.items():
        assert f"`{name}`: {' '.join(reason.split())}" in exceptions, name
