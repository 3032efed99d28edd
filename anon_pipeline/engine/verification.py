"""The automated half of verification: independent re-reads of a batch's outputs.

Each check re-reads what was written rather than trusting what the stages
reported. Findings name output files (hashed names) and attribute keywords,
never values, so they are safe to show in Dagster.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import AnyStr

import duckdb
from pydicom import dcmread
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from anon_pipeline.engine.dicomfile import content_hash, pixel_data_hash, quiet_pydicom
from anon_pipeline.engine.parallel import default_workers, map_chunks
from anon_pipeline.engine.pipeline import BatchPaths
from anon_pipeline.engine.scan import list_batch
from anon_pipeline.engine.tables import UID_PAIRS, read_rows
from anon_pipeline.engine.transform import TEXT_VRS

MAX_LISTED = 20
# The character sets this data arrives in (ISO_IR 100, ISO_IR 101 for Polish, ISO_IR 192),
# searched for in the raw bytes; values in any other character set (ISO 2022 escapes,
# Cyrillic, Greek...) are found in the text pydicom decodes with the file's own.
IDENTIFIER_ENCODINGS = ("latin-1", "iso8859-2", "utf-8")
MIN_IDENTIFIER_LENGTH = 4  # shorter texts ("M", "Dr") would match by chance


@dataclass
class Findings:
    """Output files (hashed names) that failed a check, with PHI-free details."""

    checked: int = 0
    failed: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failed

    def metadata(self) -> dict[str, object]:
        return {
            "checked": self.checked,
            "failed": len(self.failed),
            "examples": "\n".join(self.failed[:MAX_LISTED]) or "none",
        }


@dataclass
class OutputChecks:
    """All per-file findings of one pass over the released files."""

    private_attributes: Findings = field(default_factory=Findings)
    original_uids: Findings = field(default_factory=Findings)
    identifying_values: Findings = field(default_factory=Findings)
    parse_and_pixels: Findings = field(default_factory=Findings)


@dataclass(frozen=True)
class CheckInputs:
    """What each worker needs to check files on its own; picklable."""

    files_dir: Path
    original_uids: frozenset[str]
    identifier_pattern: re.Pattern[bytes] | None
    identifier_keywords: dict[bytes, str]
    identifier_text_pattern: re.Pattern[str] | None
    identifier_text_keywords: dict[str, str]
    expected_pixel_hashes: dict[str, str | None]
    expected_output_hashes: dict[str, str | None]


def walk(dataset: Dataset) -> Iterator[DataElement]:
    for element in dataset:
        yield element
        if element.VR == "SQ":
            for item in element.value:
                yield from walk(item)


def identifier_texts(values: list[tuple[str, str]]) -> dict[str, str]:
    """Texts to search for (each value and each PN component) -> attribute keyword."""
    texts: dict[str, str] = {}
    for keyword, value in values:
        for text in {value, *re.split(r"[\^=]", value)}:
            text = text.strip()
            if len(text) >= MIN_IDENTIFIER_LENGTH:
                texts[text] = keyword
    return texts


def identifier_forms(values: list[tuple[str, str]]) -> dict[bytes, str]:
    """Byte forms to search for (each text of `identifier_texts`, in each encoding of
    IDENTIFIER_ENCODINGS) -> attribute keyword."""
    forms: dict[bytes, str] = {}
    for text, keyword in identifier_texts(values).items():
        for encoding in IDENTIFIER_ENCODINGS:
            try:
                forms[text.encode(encoding)] = keyword
            except UnicodeEncodeError:
                continue
    return forms


def alternatives(texts: Iterable[AnyStr]) -> re.Pattern[AnyStr] | None:
    """One pattern matching any of `texts`, the longest first."""
    ordered = sorted(texts, key=len, reverse=True)
    if not ordered:
        return None
    separator = b"|" if isinstance(ordered[0], bytes) else "|"
    return re.compile(separator.join(map(re.escape, ordered)))


def decoded_texts(elements: list[DataElement]) -> str:
    """The values of the text elements as pydicom decodes them, one per line."""
    return "\n".join(
        str(element.value) for element in elements if element.VR in TEXT_VRS and element.value
    )


def check_file(inputs: CheckInputs, output_name: str) -> tuple[str, list[str]]:
    """(output name, names of the checks it fails: private/uids/identifiers/parse)."""
    failures = []
    path = inputs.files_dir / output_name
    try:
        data = path.read_bytes()
    except OSError:
        return output_name, ["parse"]
    if inputs.identifier_pattern is not None:
        match = inputs.identifier_pattern.search(data)
        if match:
            failures.append(f"identifiers:{inputs.identifier_keywords.get(match.group(0), '?')}")
    try:
        dataset = dcmread(io.BytesIO(data))
        elements = list(walk(dataset))
        texts = decoded_texts(elements) if inputs.identifier_text_pattern is not None else ""
    except Exception:
        return output_name, [*failures, "parse"]
    match = inputs.identifier_text_pattern.search(texts) if texts and not failures else None
    if match:  # pydicom decoded it with the file's character set
        failures.append(f"identifiers:{inputs.identifier_text_keywords.get(match.group(0), '?')}")
    if any(element.tag.is_private for element in elements):
        failures.append("private")
    uids = {str(element.value) for element in elements if element.VR == "UI" and element.value}
    if uids & inputs.original_uids:
        failures.append("uids")
    if pixel_data_hash(dataset) != inputs.expected_pixel_hashes.get(output_name):
        failures.append("pixels")
    if content_hash(data) != inputs.expected_output_hashes.get(output_name):
        failures.append("altered")  # after the run, or by a run stopped between its swaps
    return output_name, failures


def check_chunk(inputs: CheckInputs, _index: int, names: list[str]) -> list[tuple[str, list[str]]]:
    with quiet_pydicom():
        return [check_file(inputs, name) for name in names]


def check_outputs(paths: BatchPaths, workers: int | None = None) -> OutputChecks:
    """Re-read every released file once and run the per-file checks on it."""
    manifest = [row for row in read_rows(paths.manifest) if row["outcome"] == "anonymized"]
    with duckdb.connect() as connection:
        originals = connection.execute(
            f"SELECT DISTINCT original_uid FROM read_parquet('{paths.parts / UID_PAIRS}/*.parquet')"
        ).fetchall()
    identifiers = [(row["keyword"], row["value"]) for row in read_rows(paths.identifiers)]
    forms = identifier_forms(identifiers)
    texts = identifier_texts(identifiers)
    inputs = CheckInputs(
        files_dir=paths.release_files,
        original_uids=frozenset(uid for (uid,) in originals),
        identifier_pattern=alternatives(forms),
        identifier_keywords=forms,
        identifier_text_pattern=alternatives(texts),
        identifier_text_keywords=texts,
        expected_pixel_hashes={row["output_name"]: row["pixel_hash"] for row in manifest},
        expected_output_hashes={row["output_name"]: row["output_hash"] for row in manifest},
    )
    names = sorted(inputs.expected_pixel_hashes)
    on_disk = sorted(
        str(p.relative_to(paths.release_files)) for p in paths.release_files.rglob("*")
    )
    on_disk = [name for name in on_disk if (paths.release_files / name).is_file()]
    checks = OutputChecks()
    for findings in vars(checks).values():
        findings.checked = len(on_disk)
    for extra in sorted(set(on_disk) - set(names)):
        checks.parse_and_pixels.failed.append(f"{extra}: not in the manifest")
    results = map_chunks(check_chunk, inputs, names, workers or default_workers())
    for name, failures in sorted(results):
        for failure in failures:
            if failure == "private":
                checks.private_attributes.failed.append(name)
            elif failure == "uids":
                checks.original_uids.failed.append(name)
            elif failure.startswith("identifiers:"):
                checks.identifying_values.failed.append(f"{name}: {failure.split(':', 1)[1]}")
            elif failure == "parse":
                checks.parse_and_pixels.failed.append(f"{name}: does not parse")
            elif failure == "pixels":
                checks.parse_and_pixels.failed.append(f"{name}: pixel data differs from the input")
            elif failure == "altered":
                checks.parse_and_pixels.failed.append(
                    f"{name}: bytes differ from those the run wrote (manifest output_hash)"
                )
    return checks


def check_accounted(paths: BatchPaths) -> Findings:
    """Every file under the batch folder (and every folder it could not list) has one
    manifest row with a disposition."""
    listed = [entry.relative_path for entry in list_batch(paths.batch_dir)]
    rows = read_rows(paths.manifest)
    findings = Findings(checked=len(listed))
    manifest_paths = [row["relative_path"] for row in rows]
    if sorted(manifest_paths) != sorted(listed):
        missing = len(set(listed) - set(manifest_paths))
        extra = len(set(manifest_paths) - set(listed))
        findings.failed.append(
            f"{len(listed)} files on disk, {len(rows)} manifest rows "
            f"({missing} files without a row, {extra} rows without a file)"
        )
    without = [row["row"] for row in rows if not row["disposition"]]
    if without:
        findings.failed.append(f"rows without a disposition: {without[:MAX_LISTED]}")
    return findings
