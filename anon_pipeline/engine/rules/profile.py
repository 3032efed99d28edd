"""The standard as the reference: PS3.15 Table E.1-1 as data, and a rule set judged
against it.

The whitelist is written by hand; this module says, row by row of the standard's Basic
Application Level Confidentiality Profile, whether what a rule set does to an attribute
is allowed by the profile's basic action or by an option the rule set declares (its
`options:`, written into every output's DeidentificationMethodCodeSequence). Whatever is
allowed by neither must be written down in the rule file as an exception, with its
reason (`profile_exceptions:`). A newer revision of the standard is a new data file,
which the same judgement then reads (`python -m anon_pipeline.engine.rules.profile`
rebuilds it from a machine-readable copy).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from enum import Enum
from functools import cache
from pathlib import Path

from pydicom.datadict import keyword_for_tag

from anon_pipeline.engine.rules.rule_set import (
    SHIPPED_RULES_DIR,
    Action,
    Rule,
    RuleSet,
    always_removed,
)

TABLE_PATH = SHIPPED_RULES_DIR / "ps3.15-table-e.1-1.json"

# The option columns of Table E.1-1, by the CID 7050 keyword a rule file declares.
OPTION_COLUMNS = {
    "rtnSafePrivOpt": "RetainSafePrivateOption",
    "rtnUIDsOpt": "RetainUidsOption",
    "rtnDevIdOpt": "RetainDeviceIdentityOption",
    "rtnInstIdOpt": "RetainInstitutionIdentityOption",
    "rtnPatCharsOpt": "RetainPatientCharacteristicsOption",
    "rtnLongFullDatesOpt": "RetainLongitudinalTemporalInformationFullDatesOption",
    "rtnLongModifDatesOpt": "RetainLongitudinalTemporalInformationModifiedDatesOption",
    "cleanDescOpt": "CleanDescriptorsOption",
    "cleanStructContOpt": "CleanStructuredContentOption",
    "cleanGraphOpt": "CleanGraphicsOption",
}
MODIFIED_DATES = "RetainLongitudinalTemporalInformationModifiedDatesOption"

# A rule's action as the profile's action code (PS3.15 E.1.1): X remove, Z zero length
# (or a dummy), D a dummy value, U a consistent replacement UID, C a clean value of
# similar meaning, K keep.
ACTION_CODES = {
    Action.REMOVE: "X",
    Action.EMPTY: "Z",
    Action.REPLACE: "D",
    Action.PSEUDONYMIZE: "D",
    Action.HASH_UID: "U",
    Action.SHIFT_DATE: "C",
    Action.KEEP: "K",
}
# The basic actions under which each of ours is allowed. Removal always is (it keeps
# less than any action); an empty value where a dummy or a replacement UID is asked
# for keeps less too.
ALLOWED_UNDER = {
    "X": frozenset("XZDU"),
    "Z": frozenset("ZDU"),
    "D": frozenset("ZD"),
    "U": frozenset("U"),
}


class Verdict(Enum):
    """How a rule stands against its row of the table."""

    BASIC = "allowed by the basic profile"
    OPTION = "allowed by a declared option"
    EXCEPTION = "an exception written in the rule file"
    GAP = "allowed by nothing declared"


@dataclass(frozen=True)
class ProfileRow:
    """One row of Table E.1-1: the attribute, its basic action and its options' actions."""

    tag: str  # (gggg,eeee), or the table's own words for repeating and private groups
    name: str
    keyword: str  # '' for the rows of repeating groups and private attributes
    basic: str  # e.g. "X/Z/D", "X/Z/U*"
    options: dict[str, str]  # CID 7050 option keyword -> action code

    @property
    def basic_codes(self) -> frozenset[str]:
        return frozenset(self.basic.replace("*", "").split("/"))


@dataclass(frozen=True)
class ProfileTable:
    revision: str
    source: str
    rows: tuple[ProfileRow, ...]

    def by_keyword(self) -> dict[str, ProfileRow]:
        return {row.keyword: row for row in self.rows if row.keyword}


@dataclass(frozen=True)
class Judgement:
    """A rule of the rule set beside its row: the verdict and why."""

    rule: Rule
    row: ProfileRow
    verdict: Verdict
    why: str


@cache
def load_table(path: Path = TABLE_PATH) -> ProfileTable:
    """The table as the repository keeps it (`TABLE_PATH`)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    rows = tuple(
        ProfileRow(tag, name, keyword, basic, dict(options))
        for tag, name, keyword, basic, options in data["rows"]
    )
    return ProfileTable(data["revision"], data["source"], rows)


def judge(rule_set: RuleSet, table: ProfileTable | None = None) -> list[Judgement]:
    """Every rule of `rule_set` that names an attribute of the table, judged; rules on
    attributes the table does not list are the profile's K and not returned."""
    table = table or load_table()
    rows = table.by_keyword()
    judgements = []
    for name, rule in sorted(rule_set.by_keyword.items()):  # reviewers' decisions included
        row = rows.get(name)
        if row is None:
            continue
        verdict, why = verdict_of(rule, row, rule_set)
        judgements.append(Judgement(rule, row, verdict, why))
    return judgements


def verdict_of(rule: Rule, row: ProfileRow, rule_set: RuleSet) -> tuple[Verdict, str]:
    """The verdict on one rule: basic profile, a declared option, a written exception,
    or a gap."""
    code = ACTION_CODES[rule.action]
    declared = {option: row.options[option] for option in rule_set.options if option in row.options}
    if code in ALLOWED_UNDER and row.basic_codes & ALLOWED_UNDER[code]:
        return Verdict.BASIC, f"{code} under basic {row.basic}"
    if code == "K" and rule.vr == "SQ" and "U*" in row.basic:
        # X/Z/U*: the sequence may stay with every UID in it replaced; its items are
        # walked with the same rules, each attribute in them judged on its own row.
        return Verdict.BASIC, "kept sequence, its UIDs hashed inside (U*)"
    for option, option_code in declared.items():
        if code == option_code or (option_code == "K" and code == "C"):
            return Verdict.OPTION, f"{code} under {option} ({option_code})"
        if option == MODIFIED_DATES and option_code == "C" and code == "K" and rule.vr == "TM":
            # The dates move by whole weeks, so a time of day is what the shifted
            # date-time holds: keeping it is this option's cleaning.
            return Verdict.OPTION, f"time of day under {option}'s whole-week shift (C)"
    reason = rule_set.profile_exceptions.get(rule.name)
    if reason:
        return Verdict.EXCEPTION, reason
    return Verdict.GAP, f"{rule.action.value} ({code}) where basic is {row.basic}" + (
        f" and declared options say {declared}" if declared else " and no declared option"
    )


def gaps(rule_set: RuleSet, table: ProfileTable | None = None) -> list[Judgement]:
    """The rules the profile and the declared options do not allow, and that no written
    exception covers."""
    return [j for j in judge(rule_set, table) if j.verdict is Verdict.GAP]


def unneeded_exceptions(rule_set: RuleSet, table: ProfileTable | None = None) -> list[str]:
    """Exceptions written for rules that need none (or for no rule of the set)."""
    needed = {j.rule.name for j in judge(rule_set, table) if j.verdict is Verdict.EXCEPTION}
    return sorted(set(rule_set.profile_exceptions) - needed)


def row_of_tag(tag: int, table: ProfileTable | None = None) -> ProfileRow | None:
    """The table's row for a tag, repeating groups (overlays, curves) included."""
    table = table or load_table()
    if always_removed(tag) and (tag >> 16) & 0xFF01 in (0x5000, 0x6000):
        group = "50XX" if tag >> 24 == 0x50 else "60XX"
        element = f"{tag & 0xFFFF:04X}"
        return next(
            (
                row
                for row in table.rows
                if row.tag.startswith(f"({group},") and row.tag[6:10] in (element, "XXXX")
            ),
            None,
        )
    keyword = keyword_for_tag(tag)
    return table.by_keyword().get(keyword) if keyword else None


def table_from_innolitics(entries: list[dict[str, str]]) -> list[list[object]]:
    """Rows from innolitics/dicom-standard's `confidentiality_profile_attributes.json`
    (parsed from the standard's own HTML): tag, name, keyword from pydicom's
    dictionary, basic action, option actions by CID 7050 keyword."""
    rows: list[list[object]] = []
    for entry in entries:
        tag = entry["tag"]
        digits = tag[1:5] + tag[6:10]
        keyword = ""
        if len(tag) == 11 and all(c in "0123456789ABCDEF" for c in digits.upper()):
            keyword = keyword_for_tag(int(digits, 16))
        options = {
            OPTION_COLUMNS[column]: code
            for column, code in sorted(entry.items())
            if column in OPTION_COLUMNS
        }
        rows.append([tag, entry["name"], keyword, entry["basicProfile"], options])
    return rows


def main() -> None:
    """Rebuild the table's data file from a machine-readable copy of the standard."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument(
        "source", type=Path, help="innolitics/dicom-standard's confidentiality profile JSON"
    )
    parser.add_argument("--revision", required=True, help="the standard's revision, e.g. 2024b")
    parser.add_argument("--origin", required=True, help="where the copy came from")
    parser.add_argument("--output", type=Path, default=TABLE_PATH)
    args = parser.parse_args()
    rows = table_from_innolitics(json.loads(args.source.read_text(encoding="utf-8")))
    lines = ",\n".join("    " + json.dumps(row, ensure_ascii=False) for row in rows)
    header = json.dumps({"revision": args.revision, "source": args.origin}, indent=2)[:-2]
    args.output.write_text(f'{header},\n  "rows": [\n{lines}\n  ]\n}}\n', encoding="utf-8")


if __name__ == "__main__":
    main()
