"""Run one stage (blacklist or whitelist) over the files of a batch.

A stage reads each input file once, applies its rule set, writes the output under
a name derived from hashed UIDs, and records one outcome per input row. Callers
give it staging folders and swap them in atomically (see `atomic`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from operator import attrgetter
from pathlib import Path
from typing import Any

from anon_pipeline.engine.dicom.dicomfile import (
    DicomFileError,
    content_hash,
    content_hash_of_parts,
    encode_dicom,
    parse_dicom,
    pixel_data_hash,
)
from anon_pipeline.engine.dicom.rawparse import Unsupported
from anon_pipeline.engine.disk.atomic import OutputFolderError, write_new_file
from anon_pipeline.engine.disk.parallel import Progress, default_workers, map_chunks
from anon_pipeline.engine.disk.tables import (
    IDENTIFIERS,
    UID_PAIRS,
    UNLISTED,
    VALUES,
    SideTables,
)
from anon_pipeline.engine.files.inventory import attribute_values
from anon_pipeline.engine.files.outcomes import (
    ANONYMIZED,
    NOT_YET_SIGNED_OFF,
    Disposition,
    Outcome,
    Reason,
    Stage,
    StageReport,
)
from anon_pipeline.engine.files.runner import each_file
from anon_pipeline.engine.files.scan import Kind, ScannedFile
from anon_pipeline.engine.files.streaming import FileResult, stream_file
from anon_pipeline.engine.rules.deidentification import mark_deidentified, processed_before
from anon_pipeline.engine.rules.holds import Held, hold_reason
from anon_pipeline.engine.rules.rule_set import RuleSet
from anon_pipeline.engine.rules.scope import outside_scope
from anon_pipeline.engine.rules.transform import UnlistedAttribute, apply_rules
from anon_pipeline.engine.rules.uids import REQUIRED_UIDS, output_name_for

STREAMING, PYDICOM = "streaming", "pydicom"
# The columns a FileOutcome keeps as they are; the disposition's are typed again.
OUTCOME_FIELDS = (
    "row",
    "output_name",
    "output_size",
    "output_hash",
    "output_pixel_hash",
    "error",
    "engine",
    "declined",
)
MAX_DECLINED = 80
ALREADY_PROCESSED = Disposition.of(
    Outcome.HELD,
    Reason.ALREADY_PROCESSED,
    "a stage-1 or released file outside its package: bring the whole stage-1 package "
    "folder instead",
)


@dataclass(frozen=True, slots=True)
class Claim:
    """Another batch that holds an instance: released, or produced and waiting."""

    batch: str
    content_hash: str
    released: bool


@dataclass(frozen=True, slots=True)  # a batch's worth of them: no __dict__ each
class FileOutcome:
    """What a stage did with one input row. `error` may quote pydicom: secure zone only."""

    row: int
    disposition: Disposition  # str(): 'anonymized', 'held: <reason>', 'skipped: <reason>'
    output_name: str | None = None
    output_size: int | None = None
    output_hash: str | None = None
    output_pixel_hash: str | None = None
    error: str | None = None
    engine: str | None = None  # 'streaming' or 'pydicom': which path processed the file
    declined: str | None = None  # why the streaming path left it to pydicom (PHI-free)

    # The disposition's parts, as the outcome tables' columns (`OUTCOME_SCHEMA`).
    @property
    def outcome(self) -> Outcome:
        return self.disposition.outcome

    @property
    def reason(self) -> Reason:
        return self.disposition.reason

    @property
    def reason_detail(self) -> str | None:
        return self.disposition.detail

    @property
    def other_batch(self) -> str | None:
        return self.disposition.other_batch

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> FileOutcome:
        """From an outcome table's or a manifest's row (its columns, typed again)."""
        fields = {name: row[name] for name in OUTCOME_FIELDS}
        return cls(**fields, disposition=Disposition.from_row(row))


@dataclass(frozen=True)
class StageJob:
    """Everything a worker needs; picklable."""

    stage: Stage
    rule_set: RuleSet
    key: bytes
    input_dir: Path
    output_dir: Path
    work_dir: Path
    streaming: bool = True  # False: every file takes the straightforward pydicom path
    # Output names another batch released or produced (`released_index`): skipped when
    # this file's output has the same bytes, held when not.
    claimed: Mapping[str, Claim] = field(default_factory=dict)
    # Rows alone in their series (stage 2 reads stage 1's outputs, named
    # study/series/instance): a key image or a screenshot is, and is read whole.
    lone_rows: frozenset[int] = frozenset()

    @property
    def is_whitelist(self) -> bool:
        return self.stage is Stage.WHITELIST

    @property
    def reads_pixels(self) -> bool:
        """Whether this stage looks for text in the pixels: the whitelisting stage, on the
        server, unless its rule set switches the hold off."""
        return self.is_whitelist and "text_in_pixels" in self.rule_set.holds


def pixel_hold(data: bytes, result: FileResult, lone: bool) -> Held | None:
    """The text-in-pixels check of a file about to be released (imported here: OpenCV
    and tesseract are the server's, never a hospital's)."""
    from anon_pipeline.engine.files.pixel_check import text_in_pixels

    return text_in_pixels(data, (value for _, value in result.log.identifiers), risky=lone)


def lone_rows(scanned: list[ScannedFile]) -> frozenset[int]:
    """The rows whose series folder (stage 1's output name) holds no other file."""
    series = Counter(row.relative_path.rsplit("/", 1)[0] for row in scanned)
    return frozenset(
        row.row
        for row in scanned
        if "/" in row.relative_path and series[row.relative_path.rsplit("/", 1)[0]] == 1
    )


def disposition_without_processing(scanned: ScannedFile) -> FileOutcome | None:
    """The outcome of a row a stage must not process, or None if it should."""
    held, skipped = Outcome.HELD, Outcome.SKIPPED
    by_kind = {
        Kind.DICOMDIR: (skipped, Reason.DICOMDIR, None),
        Kind.NON_DICOM: (skipped, Reason.NON_DICOM, None),
        Kind.SYMLINK: (skipped, Reason.SYMLINK, "not followed"),
        Kind.MARKER: (skipped, Reason.MARKER, None),
        Kind.DUPLICATE: (skipped, Reason.DUPLICATE, scanned.detail),
        Kind.EMPTY: (held, Reason.CORRUPT, "empty file"),
        Kind.CORRUPT: (held, Reason.CORRUPT, scanned.detail),
        Kind.UNREADABLE: (held, Reason.UNREADABLE, scanned.detail),
    }
    if scanned.kind in by_kind:
        return FileOutcome(scanned.row, Disposition.of(*by_kind[scanned.kind]))
    if scanned.uid_conflict:
        disposition = Disposition.of(held, Reason.UID_CONFLICT, "see uid_conflict rows")
        return FileOutcome(scanned.row, disposition)
    return None


class ChunkRecorder:
    """Collects one chunk's side-table rows, then writes them as parts."""

    def __init__(self) -> None:
        self.uid_pairs: dict[str, str] = {}
        self.identifiers: set[tuple[str, str]] = set()
        self.unlisted: list[tuple[int, UnlistedAttribute]] = []  # (row, attribute)
        # (tag path, keyword path, VR, value) -> files of this chunk that hold it
        self.values: Counter[tuple[str, str, str, str | None]] = Counter()

    def add_values(self, values: list[tuple[str, str, str, str | None]]) -> None:
        self.values.update(set(values))  # a value counts once per file

    def tables(self) -> dict[str, dict[str, list[Any]]]:
        """The chunk's side-table rows as columns (rows of dicts cost ten times as much to
        turn into Arrow), for the parent to write (`SideTables`)."""
        pairs = sorted(self.uid_pairs.items())
        identifiers = sorted(self.identifiers)
        unlisted: dict[str, list[Any]] = {"row": [row for row, _ in self.unlisted]}
        for name in ("tag", "keyword", "vr", "path", "sample", "reason"):
            unlisted[name] = [getattr(item, name) for _, item in self.unlisted]
        keys = list(self.values)
        names = ("tag_path", "keyword_path", "vr", "value")
        values: dict[str, list[Any]] = {
            name: [key[index] for key in keys] for index, name in enumerate(names)
        }
        values["files"] = [self.values[key] for key in keys]
        return {
            UID_PAIRS: {"original_uid": [o for o, _ in pairs], "hashed_uid": [h for _, h in pairs]},
            IDENTIFIERS: {
                "keyword": [k for k, _ in identifiers],
                "value": [v for _, v in identifiers],
            },
            UNLISTED: unlisted,
            VALUES: values,
        }


@dataclass(frozen=True)
class ChunkResult:
    """What a worker sends back for one chunk: an outcome per file and the side-table rows."""

    outcomes: list[FileOutcome]
    tables: dict[str, dict[str, list[Any]]]


def transform_with_pydicom(job: StageJob, data: bytes) -> FileResult | Disposition:
    """The straightforward path: pydicom parses the whole file, the rule walk changes
    the Dataset, pydicom writes it. Returns the result, or why the file is held."""
    parsed = parse_dicom(data)
    dataset = parsed.dataset
    missing = [keyword for keyword in REQUIRED_UIDS if not str(dataset.get(keyword, "") or "")]
    if missing:
        return Disposition.of(Outcome.HELD, Reason.MISSING_UIDS, ", ".join(missing))
    meta = getattr(dataset, "file_meta", None) or {}
    sop_class = str(dataset.get("SOPClassUID", "") or meta.get("MediaStorageSOPClassUID", ""))
    excluded = outside_scope(sop_class, job.rule_set.scope) if job.is_whitelist else None
    if excluded:
        return Disposition.of(Outcome.SKIPPED, Reason.OUT_OF_SCOPE, excluded)
    held = hold_reason(dataset, parsed.kind, job.rule_set.holds)
    if held:
        return Disposition.held(held)
    if not job.is_whitelist and processed_before(dataset):
        return ALREADY_PROCESSED
    output_name = output_name_for(dataset, job.key)
    log = apply_rules(dataset, job.rule_set, job.key)
    mark_deidentified(dataset, job.rule_set, complete=job.is_whitelist)
    encoded = encode_dicom(dataset, parsed.transfer_syntax)  # before anything converts values
    values = list(attribute_values(dataset)) if job.is_whitelist else []
    return FileResult(parsed.kind, output_name, [encoded], log, values, pixel_data_hash(dataset))


def transform_file(
    job: StageJob, data: bytes, trace: dict[str, str] | None = None
) -> tuple[FileResult | Disposition, str]:
    """The stage's result for one file and the path that made it: the streaming path
    when it handles the file, else the straightforward one (which then decides). Why
    the streaming path declined goes into `trace` (`declined_reason`)."""
    if job.streaming:
        try:
            return stream_file(data, job.rule_set, job.key, job.is_whitelist), STREAMING
        except Exception as error:  # anything unusual is the straightforward path's to judge
            if trace is not None:
                trace["declined"] = declined_reason(error)
    return transform_with_pydicom(job, data), PYDICOM


def declined_reason(error: Exception) -> str:
    """Why the streaming path left a file to pydicom, PHI-free: its own reasons are fixed
    texts; any other error is named by its type only (its message may quote a value)."""
    if isinstance(error, Unsupported):
        return str(error)[:MAX_DECLINED]
    return f"error ({type(error).__name__})"


def unreadable_outcome(scanned: ScannedFile, error: OSError) -> FileOutcome:
    reason = Disposition.of(Outcome.HELD, Reason.UNREADABLE, type(error).__name__)
    return FileOutcome(scanned.row, reason)


def process_file(
    job: StageJob, scanned: ScannedFile, data: bytes, recorder: ChunkRecorder
) -> FileOutcome:
    """Apply the stage to one file's bytes; every failure becomes a held outcome."""
    if scanned.content_hash and content_hash(data) != scanned.content_hash:
        return FileOutcome(scanned.row, Disposition.of(Outcome.HELD, Reason.CHANGED))
    engine, trace = PYDICOM, dict[str, str]()
    try:
        result, engine = transform_file(job, data, trace)
        if not isinstance(result, Disposition) and job.reads_pixels:
            held = pixel_hold(data, result, scanned.row in job.lone_rows)
            if held is not None:
                result = Disposition.held(held)
        del data
        if isinstance(result, Disposition):
            return FileOutcome(scanned.row, result, engine=engine, declined=trace.get("declined"))
        claim = job.claimed.get(result.output_name)
        if claim is not None:
            return replace(
                claimed_outcome(scanned.row, claim, content_hash_of_parts(result.parts), engine),
                declined=trace.get("declined"),
            )
        # never overwrites another file's output
        write_new_file(job.output_dir / result.output_name, result.parts)
    except OutputFolderError:
        raise  # the output folder is at fault, not this file: stop the run
    except DicomFileError as error:
        return FileOutcome(
            scanned.row,
            Disposition.of(Outcome.HELD, Reason.CORRUPT, error.reason),
            engine=engine,
            declined=trace.get("declined"),
        )
    except FileExistsError:
        return FileOutcome(
            scanned.row,
            Disposition.of(Outcome.HELD, Reason.OUTPUT_TAKEN),
            engine=engine,
            declined=trace.get("declined"),
        )
    except Exception as error:  # one bad file must never stop a batch
        return FileOutcome(
            scanned.row,
            Disposition.of(Outcome.HELD, Reason.ERROR, type(error).__name__),
            error=str(error)[:500],
            engine=engine,
            declined=trace.get("declined"),
        )
    log = result.log
    recorder.uid_pairs.update(log.uid_pairs)
    recorder.identifiers.update(log.identifiers)
    recorder.unlisted.extend((scanned.row, item) for item in log.unlisted)
    recorder.add_values(result.values)
    return FileOutcome(
        scanned.row,
        ANONYMIZED,
        output_name=result.output_name,
        output_size=sum(map(len, result.parts)),
        output_hash=content_hash_of_parts(result.parts),
        output_pixel_hash=result.pixel_hash,
        engine=engine,
        declined=trace.get("declined"),
    )


def claimed_outcome(row: int, claim: Claim, output_hash: str, engine: str) -> FileOutcome:
    """The outcome of a file whose instance another batch holds: nothing written."""
    if output_hash != claim.content_hash:
        held = Disposition(Outcome.HELD, Reason.OTHER_CONTENT, other_batch=claim.batch)
        return FileOutcome(row, held, engine=engine)
    waiting = None if claim.released else NOT_YET_SIGNED_OFF  # in release/, not released/
    skipped = Disposition(Outcome.SKIPPED, Reason.ALREADY_RELEASED, waiting, claim.batch)
    return FileOutcome(row, skipped, engine=engine)


def process_chunk(job: StageJob, _index: int, chunk: list[ScannedFile]) -> list[ChunkResult]:
    recorder = ChunkRecorder()
    outcomes = each_file(
        job.input_dir,
        chunk,
        attrgetter("relative_path"),
        lambda scanned, data: process_file(job, scanned, data, recorder),
        unreadable_outcome,
    )
    return [ChunkResult(outcomes, recorder.tables())]


def run_stage(
    job: StageJob,
    scanned: list[ScannedFile],
    workers: int | None = None,
    progress: Progress | None = None,
) -> tuple[StageReport, list[FileOutcome]]:
    """Process every processable row; return the report and one outcome per row, in row order.

    Writes files into `job.output_dir` and the side tables into `job.work_dir`.
    """
    started = time.perf_counter()
    job.output_dir.mkdir(parents=True, exist_ok=True)
    job.work_dir.mkdir(parents=True, exist_ok=True)
    outcomes: dict[int, FileOutcome] = {}
    to_process = []
    for row in scanned:
        fixed = disposition_without_processing(row)
        if fixed is None:
            to_process.append(row)
        else:
            outcomes[row.row] = fixed
    if job.reads_pixels:
        job = replace(job, lone_rows=lone_rows(to_process))
    side_tables = SideTables(job.work_dir)
    try:
        for chunk in map_chunks(
            process_chunk, job, to_process, workers or default_workers(), progress
        ):
            side_tables.add(chunk.tables)
            outcomes.update((outcome.row, outcome) for outcome in chunk.outcomes)
    except BaseException:
        side_tables.discard()
        raise
    side_tables.close()
    ordered = [outcomes[row.row] for row in scanned]

    names = [o.output_name for o in ordered if o.output_name]
    report = StageReport(
        job.stage,
        job.rule_set.version,
        files_in=len(scanned),
        outcomes=Counter(o.outcome.value for o in ordered),
        reasons=Counter(o.disposition.summary for o in ordered),
        dispositions=Counter(str(o.disposition) for o in ordered),
        bytes_out=sum(o.output_size or 0 for o in ordered),
        files_streamed=sum(o.engine == STREAMING for o in ordered),
        studies=len({name.split("/")[0] for name in names}),
        series=len({name.rsplit("/", 1)[0] for name in names}),
        seconds=time.perf_counter() - started,
        declined=Counter(o.declined for o in ordered if o.declined),
    )
    return report, ordered
