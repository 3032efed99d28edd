"""Many realistic synthetic batches through both stages and the identifying-value search:
false alarms on clean files and misses on planted leaks, counted.

A rule that is right 99.9 % of the time is wrong on 25,000 files, so the search is
judged on many generated batches, not on one: numeric Study IDs of 1 to 6 digits (whose
digits occur by chance in hashed UIDs, instance numbers and decimals), accession numbers,
PESELs, short first names (Ewa, Jan, Anna), Polish surnames with diacritics in Latin-2
or UTF-8, real scanners' kept texts, and 8- and 16-bit pixels that hold the Study ID's
and the birth date's digits. Each batch gets its own key. Used by a test (200 batches)
and by `benchmarks/leak_check.py` (as many as asked for).
"""

from __future__ import annotations

import io
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import JPEGBaseline8Bit

from anon_pipeline.engine.dicom.dicomfile import encode_dicom, quiet_pydicom
from anon_pipeline.engine.dicom.identifiers import IdentifierSearch, fold, search_file
from anon_pipeline.engine.rules.deidentification import mark_deidentified
from anon_pipeline.engine.rules.rule_set import RuleSet
from anon_pipeline.engine.rules.transform import apply_rules
from anon_pipeline.synthetic.cds import fake_patient, make_ct_slice

FIRST_NAMES = ["Ewa", "Jan", "Anna", "Ola", "Adam", "Piotr", "Zofia", "Łukasz", "Małgorzata"]
SURNAMES = ["Lis", "Kos", "Nowak", "Wójcik", "Żak", "Król", "Mazur", "Łukaszewicz", "Wiśniewska"]
SCANNERS = [  # (Manufacturer, ManufacturerModelName, SoftwareVersions, ConvolutionKernel)
    ("SIEMENS", "SOMATOM Definition AS+", "syngo CT VA48A", "I70f\\3"),
    ("SIEMENS", "SOMATOM Force", "syngo CT VB20A", "Br40d"),
    ("GE MEDICAL SYSTEMS", "LightSpeed VCT", "LightSpeedverrel", "LUNG"),
    ("GE MEDICAL SYSTEMS", "Revolution CT", "rev_ct_2016", "BONEPLUS"),
    ("Philips", "Brilliance 64", "4.1.5.52380", "YA"),
    ("TOSHIBA", "Aquilion ONE", "V6.00ER007", "FC52"),
]


@dataclass
class Tally:
    """What the trials counted: files, the clean files the check failed (false alarms),
    the planted leaks it did not find (misses), and how often a clean file's bytes held
    an identifier's digits all the same (the hazard a byte search trips on)."""

    batches: int = 0
    clean_files: int = 0
    false_alarms: list[str] = field(default_factory=list)
    planted: Counter[str] = field(default_factory=Counter)  # by kind of leak
    misses: list[str] = field(default_factory=list)
    digits_in_bytes: int = 0
    byte_search_alarms: int = 0  # clean files whose bytes hold a value: the old check's


@dataclass(frozen=True)
class TrialPatient:
    name: str
    patient_id: str
    birth_date: str
    study_id: str
    accession: str
    charset: str


def trial_patient(rng: random.Random) -> TrialPatient:
    year, month, day = rng.randint(1930, 2008), rng.randint(1, 12), rng.randint(1, 28)
    pesel = f"{year % 100:02d}{month:02d}{day:02d}{rng.randint(0, 99999):05d}"
    digits = rng.randint(1, 6)
    return TrialPatient(
        name=f"{rng.choice(SURNAMES)}^{rng.choice(FIRST_NAMES)}",
        patient_id=pesel,
        birth_date=f"{year}{month:02d}{day:02d}",
        study_id=str(rng.randint(10 ** (digits - 1), 10**digits - 1)),
        accession=rng.choice([str(rng.randint(10**5, 10**9)), f"RTG{rng.randint(1, 99999)}"]),
        charset=rng.choice(["ISO_IR 192", "ISO_IR 101"]),
    )


def trial_slice(patient: TrialPatient, rng: random.Random, index: int) -> Dataset:
    """A slice with the patient's identifiers in the usual places, a real scanner's
    texts, numbers with many digits and pixels that hold the identifiers' digits."""
    dataset = make_ct_slice(fake_patient(index), f"trial{index}", 1 + index % 3, index + 1)
    dataset.SpecificCharacterSet = patient.charset
    dataset.PatientName = dataset.ImageComments = patient.name
    dataset.PatientID, dataset.PatientBirthDate = patient.patient_id, patient.birth_date
    dataset.StudyID, dataset.AccessionNumber = patient.study_id, patient.accession
    dataset.OtherPatientIDs = patient.patient_id
    dataset.SeriesDescription = f"Thorax {patient.name.split('^')[1]}"
    maker, model, software, kernel = rng.choice(SCANNERS)
    dataset.Manufacturer, dataset.ManufacturerModelName = maker, model
    dataset.SoftwareVersions, dataset.ConvolutionKernel = software, kernel.split("\\")
    dataset.InstanceNumber = rng.randint(1, 1500)
    dataset.SeriesNumber = rng.randint(1, 9000)
    spacing = f"{rng.uniform(0.5, 0.98):.4f}"
    dataset.PixelSpacing = [spacing, spacing]
    position = [f"{rng.uniform(-250, 250):.6f}" for _ in range(3)]
    dataset.ImagePositionPatient = position
    dataset.SliceLocation = position[2]
    dataset.StudyDate = dataset.ContentDate = f"20{rng.randint(15, 25)}{rng.randint(10, 12)}15"
    add_pixels(dataset, patient, rng)
    return dataset


def add_pixels(dataset: Dataset, patient: TrialPatient, rng: random.Random) -> None:
    """8- or 16-bit pixels, in every other file with the Study ID's, the birth date's
    and the PESEL's digits among them."""
    rows = columns = 16
    bits = rng.choice([8, 16])
    dataset.Rows, dataset.Columns = rows, columns
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = bits, bits, bits - 1
    dataset.PixelRepresentation = 0
    pixels = bytearray(rng.randbytes(rows * columns * bits // 8))
    for text in (patient.study_id, patient.birth_date, patient.patient_id)[: rng.choice([0, 3])]:
        at = rng.randrange(0, len(pixels) - len(text))
        pixels[at : at + len(text)] = text.encode()
    dataset.PixelData = bytes(pixels)


def released(dataset: Dataset, policy: tuple[RuleSet, RuleSet, bytes]) -> set[tuple[str, str]]:
    """Both stages on the dataset, in place; the values stage 1 took away."""
    blacklist, whitelist, key = policy
    log = apply_rules(dataset, blacklist, key)
    mark_deidentified(dataset, blacklist, complete=False)
    apply_rules(dataset, whitelist, key)
    mark_deidentified(dataset, whitelist)
    return log.identifiers


def plantings(patient: TrialPatient) -> list[tuple[str, Callable[[Dataset], None]]]:
    """Leaks as a wrongly kept attribute or a careless device would carry them."""
    family, given = patient.name.split("^")
    born = patient.birth_date
    dotted = f"{born[6:]}.{born[4:6]}.{born[:4]}"

    def nested(dataset: Dataset) -> None:
        item = Dataset()
        item.ScheduledProcedureStepDescription = f"TK dla {given} {family}".upper()
        dataset.RequestAttributesSequence = Sequence([item])

    def jpeg_comment(dataset: Dataset) -> None:
        comment = f"{family} {born}".encode()
        segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
        dataset.PixelData = encapsulate([b"\xff\xd8" + segment + b"\xff\xd9"])
        dataset.file_meta.TransferSyntaxUID = JPEGBaseline8Bit

    leaks: list[tuple[str, Callable[[Dataset], None]]] = [
        ("name, given first", lambda d: setattr(d, "AcquisitionComments", f"{given} {family}")),
        ("birth date dotted", lambda d: setattr(d, "AcquisitionComments", f"ur. {dotted}")),
        ("birth date in a date", lambda d: setattr(d, "ContentDate", born)),
        (
            "PESEL in text",
            lambda d: setattr(d, "AcquisitionComments", f"PESEL {patient.patient_id}"),
        ),
        ("accession", lambda d: setattr(d, "AcquisitionComments", f"nr {patient.accession}.")),
        ("nested", nested),
        ("JPEG comment", jpeg_comment),
    ]
    if len(patient.study_id) >= 4:  # shorter ones are not searched for: too short to tell
        leaks.append(
            (
                "study ID token",
                lambda d: setattr(d, "AcquisitionComments", f"ID {patient.study_id}"),
            )
        )
    if len(family) >= 4:  # so is a 3-letter surname alone (Lis, Kos): only with the given name
        leaks.append(
            ("surname upper case", lambda d: setattr(d, "AcquisitionComments", family.upper()))
        )
        leaks.append(("surname in the meta group", lambda d: None))
    return leaks


def run_trials(
    batches: int, slices: int, blacklist: RuleSet, whitelist: RuleSet, seed: int = 0
) -> Tally:
    """`batches` batches of `slices` clean files and one planted file each: every file
    through both stages with the batch's own key, then the check's search."""
    rng = random.Random(seed)
    tally = Tally()
    with quiet_pydicom():
        for batch in range(batches):
            run_batch(batch, slices, (blacklist, whitelist, rng.randbytes(32)), rng, tally)
    return tally


def run_batch(
    batch: int,
    slices: int,
    policy: tuple[RuleSet, RuleSet, bytes],
    rng: random.Random,
    tally: Tally,
) -> None:
    patient = trial_patient(rng)
    datasets = [trial_slice(patient, rng, batch * 100 + index) for index in range(slices + 1)]
    identifiers: set[tuple[str, str]] = set()
    for dataset in datasets:
        identifiers |= released(dataset, policy)
    search = IdentifierSearch(identifiers)
    tally.batches += 1
    for index, dataset in enumerate(datasets[:-1]):
        data = encode_dicom(dataset, dataset.file_meta.TransferSyntaxUID)
        tally.clean_files += 1
        tally.digits_in_bytes += any(
            value.encode() in data for _, value in identifiers if value.isdigit()
        )
        tally.byte_search_alarms += any(form in data for form in byte_forms(identifiers))
        hit = search_file(search, data)
        if hit is not None:
            tally.false_alarms.append(f"batch {batch} file {index}: {hit}")
    name, plant = rng.choice(plantings(patient))
    leaky = datasets[-1]
    plant(leaky)
    data = encode_dicom(leaky, leaky.file_meta.TransferSyntaxUID)
    if name == "surname in the meta group":  # encode_dicom rebuilds the meta: plant after
        data = with_source_title(data, patient.name.split("^")[0])
    tally.planted[name] += 1
    if search_file(search, data) is None:
        tally.misses.append(f"batch {batch}: {name}")


def byte_forms(identifiers: set[tuple[str, str]]) -> set[bytes]:
    """What the check searched for before it searched text: every value of 4 characters
    or more and each name component, in three encodings, anywhere in a file's bytes."""
    texts = {part for _, value in identifiers for part in [value, *value.split("^")]}
    return {
        text.encode(encoding, "ignore")
        for text in texts
        if len(text) >= 4
        for encoding in ("latin-1", "iso8859-2", "utf-8")
    }


def with_source_title(data: bytes, title: str) -> bytes:
    """The file with a SourceApplicationEntityTitle in its meta group (a careless
    station names its AE after a person; AE is ASCII)."""
    dataset = dcmread(io.BytesIO(data))
    dataset.file_meta.SourceApplicationEntityTitle = fold(title).upper()[:16]
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
