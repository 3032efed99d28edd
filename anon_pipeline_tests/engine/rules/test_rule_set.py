import textwrap

import pytest

from anon_pipeline.engine.rules.rule_set import (
    Action,
    RuleError,
    load_rule_set,
    load_shipped_rule_set,
)

HEADER = """\
rule_set: test
defaults:
  private: remove
  unlisted: review
  sequence: remove
rules:
"""


def rule_file(tmp_path, rules: str, header: str = HEADER):
    path = tmp_path / "whitelist.yaml"
    path.write_text(header + textwrap.indent(textwrap.dedent(rules), "  "))
    return path


def test_shipped_rule_sets_load_with_versions():
    blacklist, whitelist = load_shipped_rule_set("blacklist"), load_shipped_rule_set("whitelist")
    assert blacklist.version != whitelist.version
    assert len(whitelist.version) == 16
    assert whitelist.removes_private and whitelist.reviews_unlisted
    assert blacklist.removes_private and not blacklist.reviews_unlisted
    assert blacklist.by_keyword["PatientName"].action is Action.PSEUDONYMIZE
    assert whitelist.by_keyword["StudyInstanceUID"].action is Action.HASH_UID
    assert "BasicApplicationConfidentialityProfile" in whitelist.options


def test_action_that_does_not_fit_the_vr_names_file_line_and_keyword(tmp_path):
    path = rule_file(tmp_path, "PatientName: pseudonymize\nPatientAge: hash_uid\n")
    with pytest.raises(RuleError) as error:
        load_rule_set(path)
    message = str(error.value)
    assert f"{path}:8:" in message
    assert "'PatientAge': action 'hash_uid' needs VR UI, PatientAge is AS" in message


def test_unknown_keyword_is_an_error(tmp_path):
    with pytest.raises(RuleError, match=r":7: 'PatientNmae' is not a DICOM keyword"):
        load_rule_set(rule_file(tmp_path, "PatientNmae: keep\n"))


def test_duplicate_rule_is_an_error_even_where_yaml_would_merge_it(tmp_path):
    with pytest.raises(RuleError, match=r":8: 'Modality' appears twice .*first on line 7"):
        load_rule_set(rule_file(tmp_path, "Modality: keep\nModality: remove\n"))


def test_keyword_and_its_tag_count_as_the_same_rule(tmp_path):
    with pytest.raises(RuleError, match=r"second rule \(first on line 7 as 'Modality'\)"):
        load_rule_set(rule_file(tmp_path, "Modality: keep\n'(0008,0060)': remove\n"))


def test_unknown_action_lists_the_choices(tmp_path):
    with pytest.raises(RuleError, match=r"unknown action 'scramble' \(expected keep, remove"):
        load_rule_set(rule_file(tmp_path, "Modality: scramble\n"))


def test_replacement_must_fit_the_vr(tmp_path):
    ok = load_rule_set(rule_file(tmp_path, "PatientIdentityRemoved: {replace: 'YES'}\n"))
    assert ok.by_keyword["PatientIdentityRemoved"].replacement == "YES"
    with pytest.raises(RuleError, match="does not fit VR CS"):
        load_rule_set(rule_file(tmp_path, "PatientIdentityRemoved: {replace: 'not valid cs'}\n"))
    with pytest.raises(RuleError, match="does not fit VR US"):
        load_rule_set(rule_file(tmp_path, "Rows: {replace: 70000}\n"))


def test_private_tags_cannot_be_ruled(tmp_path):
    with pytest.raises(RuleError, match="private"):
        load_rule_set(rule_file(tmp_path, "'(0029,1010)': keep\n"))


def test_a_whitelist_must_remove_private_attributes(tmp_path):
    header = HEADER.replace("private: remove", "private: keep")
    with pytest.raises(RuleError, match="must have private: remove"):
        load_rule_set(rule_file(tmp_path, "Modality: keep\n", header))


def test_tags_without_keywords_and_repeating_groups_are_accepted(tmp_path):
    rules = load_rule_set(rule_file(tmp_path, "SourceImageIDs: remove\n'(0018,9FFE)': keep\n"))
    assert rules.rule_for(0x00203105).action is Action.REMOVE  # any of 0020,31xx
    assert rules.rule_for(0x00189FFE).action is Action.KEEP  # not in the dictionary


@pytest.mark.parametrize(
    "entry",
    [
        "OverlayData: keep",
        "OverlayData: remove",
        "'(6002,0010)': keep",
        "CurveData: keep",
        "IconImageSequence: keep",
    ],
)
def test_no_rule_may_name_overlays_curves_or_icons(tmp_path, entry):
    with pytest.raises(RuleError, match=r"whitelist.yaml:\d+: .*always removed"):
        load_rule_set(rule_file(tmp_path, entry + "\n"))


def test_overlays_curves_and_icons_are_removed_by_every_rule_set(blacklist, whitelist):
    for rules in (blacklist, whitelist):
        for tag in (0x60003000, 0x601E0022, 0x50020010, 0x00880200):
            assert rules.rule_for(tag).action is Action.REMOVE, hex(tag)
        assert getattr(rules.rule_for(0x00280010), "action", None) is not Action.REMOVE  # Rows


def test_version_follows_rules_not_comments(tmp_path):
    base = load_rule_set(rule_file(tmp_path, "Modality: keep\n")).version
    commented = load_rule_set(rule_file(tmp_path, "# why we keep it\nModality: keep\n")).version
    changed = load_rule_set(rule_file(tmp_path, "Modality: remove\n")).version
    assert base == commented != changed


def test_invalid_yaml_names_the_line(tmp_path):
    with pytest.raises(RuleError, match=r"whitelist.yaml:\d+: not valid YAML"):
        load_rule_set(rule_file(tmp_path, "Modality: [keep\n"))


def test_the_timezone_offset_is_removed_as_the_profile_asks(whitelist):
    """PS3.15 Table E.1-1 gives TimezoneOffsetFromUTC the action X, and none of the
    options the whitelist declares retains it (issue 26)."""
    from anon_pipeline.engine.rules.rule_set import Action

    assert whitelist.by_keyword["TimezoneOffsetFromUTC"].action is Action.REMOVE
