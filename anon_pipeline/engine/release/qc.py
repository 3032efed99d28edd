"""QC of unique values: what the second person reads before signing a batch off.

Every distinct released value of every attribute, with the number of files it
occurs in, and flags for what needs a human eye: free text, values that look like
names, dates, phone numbers or IDs, values in a single file, values never seen in
an earlier released batch. Inventories hold only whitelisted values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from anon_pipeline.engine.disk.folders import INVENTORY, BatchSecureFolder
from anon_pipeline.engine.disk.layout import BatchPaths, DataRoot
from anon_pipeline.engine.files.outcomes import HELD_DUPLICATE, SKIPPED_DUPLICATE
from anon_pipeline.engine.rules.rule_set import Action, RuleSet

FREE_TEXT_VRS = frozenset({"LO", "LT", "ST", "UT", "PN", "SH", "UC"})
LOOKS_LIKE = {
    "name": re.compile(r"\^|\b[A-ZŁŚŻŹĆŃÓ][a-ząćęłńóśźż]{2,}\s+[A-ZŁŚŻŹĆŃÓ][a-ząćęłńóśźż]{2,}\b"),
    "date": re.compile(r"\b(19|20)\d{2}[-./]?(0[1-9]|1[0-2])[-./]?(0[1-9]|[12]\d|3[01])\b"),
    "phone": re.compile(r"(\+\d{2}[\s-]?)?\b\d{2,3}[\s-]\d{3}[\s-]\d{2,3}[\s-]?\d{0,3}\b"),
    # letters and at least three digits: PID0740017, PESEL8802; not MONOCHROME2
    "id": re.compile(r"\b(?=(?:[A-Z-]*\d){3})(?=[A-Z0-9-]*[A-Z])[A-Z0-9-]{6,}\b"),
}


# Written by the engine itself (deidentification.py): nothing for a reviewer to find.
ENGINE_WRITTEN = frozenset(
    {
        "DeidentificationMethod",
        "DeidentificationMethodCodeSequence",
        "PatientIdentityRemoved",
        "LongitudinalTemporalInformationModified",
    }
)


@dataclass
class QcValue:
    keyword_path: str
    vr: str
    value: str | None
    files: int
    flags: list[str] = field(default_factory=list)


# Text that holds no letter (a version "1.0", a number): nothing a reader must weigh.
NO_LETTERS = re.compile(r"^[^A-Za-zÀ-ž]*$")


def flags_for(vr: str, value: str | None, files: int, is_new: bool) -> list[str]:
    """What a reviewer should look at in a value. Harmless values are not flagged, so a
    flag keeps its weight: a defined term (MONOCHROME2, ORIGINAL) is
    not an ID (an ID has at least three digits); text with no letter ("1.0") is no free
    text."""
    flags: list[str] = []
    if value is None:
        return flags
    if vr in FREE_TEXT_VRS and not NO_LETTERS.match(value):
        flags.append("free text")
    for kind, pattern in LOOKS_LIKE.items():
        if kind == "date" and vr in ("DA", "DT"):
            continue  # dates in date attributes are shifted: expected
        if kind == "id" and vr == "UI":
            continue
        if pattern.search(value):
            flags.append(f"{kind}?")
    if files == 1 and vr != "UI":
        flags.append("in one file")
    if is_new:
        flags.append("new")
    return flags


def qc_values(root: DataRoot, batches: list[str]) -> list[QcValue]:
    """Every distinct value of the given batches, flagged, flagged ones first."""
    inventories = [BatchPaths.in_root(root, batch).inventory for batch in batches]
    missing = [str(path) for path in inventories if not path.exists()]
    if missing:
        raise FileNotFoundError(f"no inventory yet: {', '.join(missing)}")
    earlier = [
        p for p in sorted(root.released.glob(f"*/{INVENTORY}")) if p.parent.name not in batches
    ]
    with duckdb.connect() as connection:
        connection.execute(
            f"CREATE VIEW current AS SELECT * FROM read_parquet({sorted(map(str, inventories))})"
        )
        seen = "FALSE"
        if earlier:
            connection.execute(
                f"CREATE VIEW earlier AS SELECT * FROM read_parquet({list(map(str, earlier))})"
            )
            seen = (
                "EXISTS (SELECT 1 FROM earlier e"
                " WHERE e.tag_path = c.tag_path AND e.value = c.value)"
            )
        rows = connection.execute(
            f"""
            SELECT keyword_path, vr, value, sum(files) AS files, bool_or({seen}) AS seen_before
            FROM current c GROUP BY keyword_path, vr, value ORDER BY keyword_path, value
            """
        ).fetchall()
    values = []
    for path, vr, value, files, seen_before in rows:
        is_new = bool(earlier) and not seen_before
        engine_written = path.split(">")[0] in ENGINE_WRITTEN
        flags = [] if engine_written else flags_for(vr, value, int(files), is_new)
        values.append(QcValue(path, vr, value, int(files), flags))
    return sorted(values, key=lambda item: (not item.flags, item.keyword_path, item.value or ""))


def qc_summary_markdown(inventory: Path, rule_set: RuleSet) -> str:
    """Attributes and their number of distinct values; the values themselves only where
    the rule is `keep` and the VR is not free text. Safe to show in Dagster."""
    with duckdb.connect() as connection:
        rows = connection.execute(
            f"""
            SELECT keyword_path, vr, count(*) AS distinct_values, sum(files) AS occurrences,
                   list_sort(list(value))[1:5] AS first_values
            FROM '{inventory}' GROUP BY keyword_path, vr ORDER BY keyword_path
            """
        ).fetchall()
    lines = ["| attribute | VR | distinct values | values |", "| --- | --- | ---: | --- |"]
    for keyword_path, vr, distinct, _occurrences, first_values in rows:
        keyword = keyword_path.rsplit(">", 1)[-1]
        rule = rule_set.by_keyword.get(keyword)
        shown = rule is not None and rule.action is Action.KEEP and vr not in FREE_TEXT_VRS
        values = ", ".join(v for v in first_values if v is not None) if shown else "(not shown)"
        if shown and distinct > 5:
            values += ", …"
        lines.append(f"| {keyword_path} | {vr} | {distinct} | {values or '-'} |")
    return "\n".join(lines)


def duplicates(root: DataRoot, batches: list[str]) -> dict[str, dict[str, int]]:
    """Per batch, its files that other batches already hold, by disposition (skipped:
    the same bytes; held: other bytes), which name the other batch."""
    manifests = {batch: BatchPaths.in_root(root, batch).manifest for batch in batches}
    manifests = {batch: path for batch, path in manifests.items() if path.exists()}
    found: dict[str, dict[str, int]] = {batch: {} for batch in manifests}
    if not manifests:
        return found
    with duckdb.connect() as connection:  # one query over every manifest
        rows = connection.execute(
            "SELECT regexp_extract(filename, '([^/]+)/' || ? || '$', 1), "
            "disposition, count(*) FROM read_parquet(?, filename = true) "
            "WHERE starts_with(disposition, ?) OR starts_with(disposition, ?) "
            "GROUP BY ALL ORDER BY ALL",
            [
                BatchSecureFolder(Path()).stage2.manifest.as_posix(),  # whitelisted/manifest...
                [str(path) for path in manifests.values()],
                SKIPPED_DUPLICATE,
                HELD_DUPLICATE,
            ],
        ).fetchall()
    for batch, disposition, count in rows:
        found[batch][disposition] = count
    return found
