"""Synthetic CT studies with fake PHI, laid out like hospital CD copies.

Used by `anon-pipeline demo` and by the tests; never real patient data. Every
identifier planted here is listed by `FakePatient.identifiers()` so tests can
search output bytes for each of them.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.fileset import FileSet
from pydicom.sequence import Sequence
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian, generate_uid

UID_PREFIX = "1.2.826.0.1.3680043.8.498."  # pydicom's root, for synthetic originals
PRIVATE_CREATOR = "ACME SCANNER 1.0"


@dataclass(frozen=True)
class FakePatient:
    """A fake patient with every kind of identifier a CD can carry."""

    name: str
    patient_id: str
    birth_date: str
    sex: str
    age: str
    address: str
    phone: str
    accession: str
    institution: str
    physician: str
    operator: str
    station: str
    serial: str

    def identifiers(self) -> list[str]:
        """Values that must never appear in an output (names split into components too)."""
        names = [self.name, self.physician, self.operator]
        parts = [part for name in names for part in name.split("^") if len(part) > 3]
        return [
            *names,
            *parts,
            self.patient_id,
            self.birth_date,
            self.address,
            self.phone,
            self.accession,
            self.institution,
            self.station,
            self.serial,
        ]


def fake_patient(index: int) -> FakePatient:
    """A deterministic fake patient; Polish names because the real data is Polish."""
    first = ["Jan", "Anna", "Piotr", "Maria", "Krzysztof", "Agnieszka"][index % 6]
    last = ["Kowalski", "Nowak", "Wisniewski", "Wojcik", "Kaminski", "Lewandowska"][index % 6]
    return FakePatient(
        name=f"{last}{index:03d}^{first}",
        patient_id=f"PID{740000 + index * 17:07d}",
        birth_date=f"19{40 + index % 50:02d}0{1 + index % 9}1{index % 9}",
        sex="MF"[index % 2],
        age=f"{30 + index % 50:03d}Y",
        address=f"ul. Dluga {index + 3}, 00-{index % 90 + 10:02d}0 Warszawa",
        phone=f"+48 22 555 {index % 100:02d} {index % 97:02d}",
        accession=f"ACC{2024000 + index:07d}",
        institution=f"Szpital Wojewodzki nr {index % 7 + 1}",
        physician=f"Zielinski{index % 4}^Marek^^Dr",
        operator=f"Szymanska{index % 3}^Ewa",
        station=f"CTSTATION{index % 5:02d}",
        serial=f"SN-{9000 + index % 11:05d}",
    )


def make_uid(*parts: object) -> UID:
    """A deterministic 'original' UID for synthetic data."""
    return generate_uid(prefix=UID_PREFIX, entropy_srcs=[str(part) for part in parts])


def make_ct_slice(
    patient: FakePatient,
    study_key: str,
    series_number: int,
    instance_number: int,
    *,
    rows: int = 32,
    columns: int = 32,
) -> Dataset:
    """One CT slice with planted PHI in top-level, nested and private attributes."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = make_uid(patient.patient_id, study_key, series_number, instance_number)
    ds.StudyInstanceUID = make_uid(patient.patient_id, study_key)
    ds.SeriesInstanceUID = make_uid(patient.patient_id, study_key, series_number)
    ds.FrameOfReferenceUID = make_uid(patient.patient_id, study_key, "frame")
    ds.StudyID = patient.accession[-6:]
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = "20240315"
    ds.StudyTime = ds.SeriesTime = "101500"
    ds.AcquisitionTime = ds.ContentTime = f"1016{instance_number % 60:02d}"
    ds.StudyDescription = "CT KLATKI PIERSIOWEJ"
    ds.SeriesDescription = f"Seria {series_number} dla {patient.name.split('^')[0]}"
    add_patient_and_staff(ds, patient)
    add_ct_acquisition(ds, patient, instance_number)
    add_image_pixels(ds, rows, columns)
    add_sequences(ds, patient, study_key, series_number, instance_number)
    add_private_block(ds, patient)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def add_patient_and_staff(ds: Dataset, patient: FakePatient) -> None:
    """The patient's and the hospital's people and places: the PHI stage 1 must find."""
    ds.AccessionNumber = patient.accession
    ds.InstitutionName = patient.institution
    ds.InstitutionAddress = patient.address.replace("Dluga", "Szpitalna")
    ds.ReferringPhysicianName = patient.physician
    ds.StationName = patient.station
    ds.OperatorsName = patient.operator
    ds.PerformingPhysicianName = patient.physician
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    ds.OtherPatientIDs = f"PESEL{patient.patient_id[3:]}"
    ds.PatientAge = patient.age
    ds.PatientSize = "1.75"
    ds.PatientWeight = "72"
    ds.PatientAddress = patient.address
    ds.PatientTelephoneNumbers = patient.phone
    ds.PatientComments = f"Kontakt: {patient.phone}"
    ds.ImageComments = f"Pacjent {patient.name}"


def add_ct_acquisition(ds: Dataset, patient: FakePatient, instance_number: int) -> None:
    """The scanner and how it acquired the slice, and where the slice lies."""
    ds.Modality = "CT"
    ds.Manufacturer = "ACME"
    ds.ManufacturerModelName = "Synthetica 64"
    ds.DeviceSerialNumber = patient.serial
    ds.SoftwareVersions = "1.0"
    ds.ContrastBolusAgent = "Omnipaque 350"
    ds.BodyPartExamined = "CHEST"
    ds.SliceThickness = "1.25"
    ds.KVP = "120"
    ds.AcquisitionNumber = 1
    ds.ProtocolName = "Chest routine"
    ds.ConvolutionKernel = "B30f"
    ds.PatientPosition = "HFS"
    ds.XRayTubeCurrent = 200
    ds.ExposureTime = 500
    ds.ImagePositionPatient = [-100.0, -100.0, -1.25 * instance_number]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = f"{-1.25 * instance_number:.2f}"


def add_image_pixels(ds: Dataset, rows: int, columns: int) -> None:
    """12-bit signed pixels, random but the same for the same SOP instance UID."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, columns
    ds.PixelSpacing = [0.7, 0.7]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 1
    ds.WindowCenter, ds.WindowWidth = "40", "400"
    ds.RescaleIntercept, ds.RescaleSlope = "-1024", "1"
    rng = np.random.default_rng(int(hashlib.sha256(ds.SOPInstanceUID.encode()).hexdigest()[:8], 16))
    ds.PixelData = rng.integers(-1000, 3000, size=(rows, columns), dtype=np.int16).tobytes()


def add_sequences(
    ds: Dataset, patient: FakePatient, study_key: str, series_number: int, instance_number: int
) -> None:
    """Nested PHI (the request), a code, and a reference to the previous slice."""
    request = Dataset()
    request.RequestedProcedureID = patient.accession + "-RP"
    request.ScheduledProcedureStepID = patient.accession + "-SPS"
    request.RequestingPhysician = patient.physician
    ds.RequestAttributesSequence = Sequence([request])
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "CTCHEST", "99LOCAL", "CT chest"
    ds.ProcedureCodeSequence = Sequence([code])
    if instance_number > 1:
        reference = Dataset()
        reference.ReferencedSOPClassUID = CTImageStorage
        reference.ReferencedSOPInstanceUID = make_uid(
            patient.patient_id, study_key, series_number, instance_number - 1
        )
        ds.ReferencedImageSequence = Sequence([reference])


def add_private_block(ds: Dataset, patient: FakePatient) -> None:
    """A vendor's private block with the name and ID, and a nested name."""
    block = ds.private_block(0x0029, PRIVATE_CREATOR, create=True)
    block.add_new(0x10, "LO", patient.name)
    block.add_new(0x11, "LO", patient.patient_id)
    nested = Dataset()
    nested.PatientName = patient.name
    block.add_new(0x12, "SQ", Sequence([nested]))


def study_slices(
    patient: FakePatient, study_key: str, series: int = 2, slices: int = 3, **size: int
) -> list[Dataset]:
    """All slices of one study: `series` series of `slices` slices each."""
    return [
        make_ct_slice(patient, study_key, series_number, instance, **size)
        for series_number in range(1, series + 1)
        for instance in range(1, slices + 1)
    ]


def write_cd_batch(
    batch_dir: Path, patients: list[FakePatient], *, series: int = 2, slices: int = 3
) -> list[Path]:
    """Write a CD copy: DICOMDIR + PT*/ST*/SE*/IM* files (pydicom's File-set), plus the
    non-DICOM files CDs carry. Returns the DICOM image paths."""
    batch_dir = Path(batch_dir)
    file_set = FileSet()
    for patient in patients:
        for dataset in study_slices(patient, "study-1", series, slices):
            file_set.add(dataset)
    file_set.write(batch_dir)
    (batch_dir / "AUTORUN.INF").write_text("[autorun]\nopen=VIEWER\\viewer.exe\n")
    (batch_dir / "README.TXT").write_text("Badanie CT. Plyta wygenerowana automatycznie.\n")
    return sorted(path for path in batch_dir.rglob("IM*") if path.is_file())


def write_demo_batches(
    incoming: Path, batches: int = 3, patients: int = 2, slices: int = 4, marker: str | None = None
) -> list[tuple[Path, int]]:
    """Synthetic CD batches cd_001... under `incoming` (existing ones are left as they are),
    each finished with the copy station's completion marker if one is named.
    Returns (batch folder, images written; 0 if it existed)."""
    written = []
    for index in range(batches):
        batch = Path(incoming) / f"cd_{index + 1:03d}"
        if batch.exists():
            written.append((batch, 0))
            continue
        people = [fake_patient(index * 10 + offset) for offset in range(patients)]
        images = write_cd_batch(batch, people, series=2, slices=slices)
        if marker:
            (batch / marker).touch()
        written.append((batch, len(images)))
    return written


# Attributes a real CT slice carries besides those above (values are plausible, not real).
REALISTIC_EXTRAS = {
    "InstanceCreationDate": "20240315",
    "InstanceCreationTime": "101700",
    "InstanceCreatorUID": "",
    "StudyID": "",
    "TimezoneOffsetFromUTC": "+0100",
    "AcquisitionDateTime": "20240315101601",
    "ScanOptions": "HELICAL_CT",
    "DataCollectionDiameter": "500",
    "ReconstructionDiameter": "350",
    "DistanceSourceToDetector": "1085.6",
    "DistanceSourceToPatient": "595",
    "GantryDetectorTilt": "0",
    "TableHeight": "153",
    "RotationDirection": "CW",
    "Exposure": "100",
    "ExposureInuAs": "100000",
    "FilterType": "FLAT",
    "GeneratorPower": "24",
    "FocalSpots": "1.2",
    "RevolutionTime": 0.5,
    "SingleCollimationWidth": 0.625,
    "TotalCollimationWidth": 40.0,
    "TableSpeed": 78.75,
    "TableFeedPerRotation": 39.375,
    "SpiralPitchFactor": 0.984375,
    "CTDIvol": 8.5,
    "ExposureModulationType": "DOSE",
    "DataCollectionCenterPatient": [0.0, -153.0, -600.0],
    "ReconstructionTargetCenterPatient": [0.0, -153.0, -600.0],
    "RescaleType": "HU",
    "SpacingBetweenSlices": "1.25",
    "PatientOrientation": "",
    "ImagesInAcquisition": "300",
    "SmallestImagePixelValue": 0,
    "LargestImagePixelValue": 4095,
    "BurnedInAnnotation": "NO",
    "LossyImageCompression": "00",
    "Laterality": "",
    "WindowCenterWidthExplanation": "WINDOW1",
    "ReconstructionAlgorithm": "FBP",
    "ContentQualification": "PRODUCT",
    "IrradiationEventUID": "",
    "PerformedProcedureStepStartDate": "20240315",
    "PerformedProcedureStepStartTime": "101400",
    "PerformedProcedureStepID": "PPS123",
    "PerformedProcedureStepDescription": "CT CHEST",
    "AdmittingDiagnosesDescription": "R91",
    "PatientState": "",
    "PregnancyStatus": 4,
    "RequestedProcedureDescription": "CT KLATKI",
    "ReasonForStudy": "kontrola",
    "AcquisitionNumber": 1,
    "TemporalPositionIndex": 1,
    "CalciumScoringMassFactorPatient": 0.8,
    "EstimatedDoseSaving": 20.5,
    "CTDIPhantomTypeCodeSequence": None,
}


def make_realistic_ct_slice(
    patient: FakePatient, study_key: str, series: int, instance: int
) -> Dataset:
    """A 512x512 int16 CT slice (~525 KB) with about 150 attributes, nested sequences
    and a 20-element private block: what the benchmark measures against."""
    ds = make_ct_slice(patient, study_key, series, instance, rows=512, columns=512)
    for keyword, value in REALISTIC_EXTRAS.items():
        if value is None:
            item = Dataset()
            item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = (
                "113691",
                "DCM",
                "IEC Body",
            )
            setattr(ds, keyword, Sequence([item]))
        elif keyword.endswith("UID"):
            setattr(ds, keyword, make_uid(patient.patient_id, study_key, series, instance, keyword))
        else:
            setattr(ds, keyword, value)
    block = ds.private_block(0x0019, "ACME CT PRIVATE", create=True)
    for offset in range(20):
        block.add_new(
            0x20 + offset,
            "LO" if offset % 3 else "DS",
            f"{offset}.5" if offset % 3 == 0 else f"p{offset}",
        )
    return ds


@dataclass(frozen=True)
class HostileCd:
    """A CD copy with every kind of bad input; `expected` maps each file to the start of
    the disposition it must get, and `identifiers` lists what must never be released."""

    expected: dict[str, str]
    identifiers: list[str]


def write_hostile_cd(batch_dir: Path) -> HostileCd:
    """Write a hostile CD copy under `batch_dir` (see HostileCd)."""
    cd = HostileWriter(Path(batch_dir))
    patient = fake_patient(42)
    polish = FakePatient(
        **{**vars(fake_patient(43)), "name": "Żółć^Łukasz", "physician": "Wąsik^Jędrzej"}
    )
    good = cd.copies_and_encodings(patient)
    cd.bundled_files(patient)
    cd.charsets_and_odd_values(patient, polish)
    cd.objects_to_hold(patient)
    cd.scanner_objects(patient)
    cd.damaged_files(patient)
    cd.what_else_a_cd_carries(patient, good)
    identifiers = [*patient.identifiers(), *polish.identifiers(), "Kowalski^Jan^Maria"]
    return HostileCd(cd.expected, identifiers)


class HostileWriter:
    """Writes the hostile CD's files, each with the disposition it must get."""

    def __init__(self, batch_dir: Path) -> None:
        self.batch_dir = batch_dir
        self.expected: dict[str, str] = {}

    def save(self, relative: str, dataset: Dataset, disposition: str, **write: Any) -> Path:
        path = self.batch_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        dataset.save_as(path, enforce_file_format=True, **write)
        self.expected[relative] = disposition
        return path

    def raw(self, relative: str, data: bytes, disposition: str) -> Path:
        path = self.batch_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.expected[relative] = disposition
        return path

    def copies_and_encodings(self, patient: FakePatient) -> Path:
        """Duplicates, a shared SOP instance UID, and every encoding; returns a good file."""
        save, raw, batch_dir = self.save, self.raw, self.batch_dir
        slices = study_slices(patient, "hostile", series=1, slices=7)
        # A folder named after the patient, as some copy tools make them.
        good = save(f"{patient.name.replace('^', '_')}/IM1", slices[0], "anonymized")
        save("DICOM/IM2", slices[1], "anonymized")
        raw("DICOM/IM2_COPY", (batch_dir / "DICOM/IM2").read_bytes(), "skipped: duplicate")
        conflicting = copy.deepcopy(slices[2])
        conflicting.WindowCenter = "60"  # same SOPInstanceUID, different content
        save("DICOM/IM3", slices[2], "held: SOPInstanceUID shared")
        save("DICOM/IM3_OTHER", conflicting, "held: SOPInstanceUID shared")
        # Encodings: no preamble, big endian, deflated, RLE (JPEG ones: bundled_files).
        with_preamble = save("DICOM/TMP", slices[6], "anonymized")
        raw("DICOM/NOPREAMB", with_preamble.read_bytes()[132:], "anonymized")
        with_preamble.unlink()
        del self.expected["DICOM/TMP"]
        for relative, dataset, syntax in (
            ("DICOM/BIGEND", slices[3], "1.2.840.10008.1.2.2"),
            ("DICOM/DEFLATE", slices[4], "1.2.840.10008.1.2.1.99"),
        ):
            dataset.file_meta.TransferSyntaxUID = UID(syntax)
            save(relative, dataset, "anonymized")
        slices[5].compress("1.2.840.10008.1.2.5", generate_instance_uid=False)  # deterministic
        save("DICOM/RLE", slices[5], "anonymized")
        return good

    def bundled_files(self, patient: FakePatient) -> None:
        """pydicom's own files (no patient data): JPEG 2000, JPEG-LS, a secondary capture."""
        from pydicom.data import get_testdata_file

        for name in ("JPEG2000.dcm", "MR_small_jpeg_ls_lossless.dcm"):
            bundled = dcmread(str(get_testdata_file(name)))  # pixel data stays encapsulated
            bundled.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]  # primary images: not held
            bundled.SOPClassUID = bundled.file_meta.MediaStorageSOPClassUID = CTImageStorage
            # An NM file's frame increments point at its detector and energy window
            # vectors, which a CT image has not (nor the CT whitelist keeps).
            if "FrameIncrementPointer" in bundled:
                del bundled.FrameIncrementPointer
            # Its institution is "TOSHIBA", also a substring of its manufacturer: a leak
            # check that searches removed values would rightly flag it for a person.
            bundled.InstitutionName = patient.institution
            # Its comment "Uncompressed" also opens a code meaning the whitelist keeps
            # ("Uncompressed predecessor"): the same, and the same remedy.
            bundled.ImageComments = f"Pacjent {patient.name}"
            self.save(f"BUNDLED/{name}", bundled, "anonymized")
        sc_source = Path(str(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm")))
        self.raw("BUNDLED/SC_rgb_jpeg_dcmtk.dcm", sc_source.read_bytes(), "held: secondary capture")

    def charsets_and_odd_values(self, patient: FakePatient, polish: FakePatient) -> None:
        """Latin-2 (Polish) and UTF-8; values that break their VR, unknown-VR private tags."""
        latin2 = make_ct_slice(polish, "charsets", 1, 1)
        latin2.SpecificCharacterSet = "ISO_IR 101"
        self.save("DICOM/LATIN2", latin2, "anonymized")
        utf8 = make_ct_slice(polish, "charsets", 1, 2)
        utf8.SpecificCharacterSet = "ISO_IR 192"
        self.save("DICOM/UTF8", utf8, "anonymized")
        odd = make_ct_slice(patient, "odd", 1, 1)
        odd.StudyDate = "2024-13-45"
        odd.PatientName = "Kowalski^Jan^Maria^Dr^Jr^Extra"
        odd.private_block(0x0033, "UNKNOWN VENDOR", create=True).add_new(
            0x01, "UN", patient.name.encode()
        )
        self.save("DICOM/ODDVALUES", odd, "anonymized")

    def objects_to_hold(self, patient: FakePatient) -> None:
        """Burned-in text risk and objects that are not images."""
        burned = make_ct_slice(patient, "burned", 1, 1)
        burned.BurnedInAnnotation = "YES"
        self.save("DICOM/BURNED", burned, "held: burned-in annotation")
        screen = make_ct_slice(patient, "screen", 1, 1)
        screen.ImageType = ["DERIVED", "SECONDARY", "SCREEN SAVE"]
        self.save("DICOM/DOSE", screen, "held: secondary capture")
        report = make_ct_slice(patient, "report", 1, 1)
        del report.PixelData
        report.SOPClassUID = report.file_meta.MediaStorageSOPClassUID = UID(
            "1.2.840.10008.5.1.4.1.1.88.22"
        )
        self.save("DICOM/SR", report, "held: non-image object")

    def scanner_objects(self, patient: FakePatient) -> None:
        """Objects scanners write besides classic slices (scanner_objects)."""
        from anon_pipeline.synthetic import scanner_objects as objects

        save = self.save
        save("SCANNER/ENHANCED", objects.make_enhanced_ct(patient, "enhanced"), "anonymized")
        implicit = objects.make_enhanced_ct(patient, "enhanced", series_number=2)
        implicit.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2")
        save("SCANNER/ENHANCED_IMPLICIT", implicit, "anonymized")
        plane = objects.with_overlay_plane(make_ct_slice(patient, "overlays", 1, 1), group=0x6002)
        save("SCANNER/OVERLAY", plane, "anonymized")
        save(
            "SCANNER/ICON",
            objects.with_icon_image(make_ct_slice(patient, "overlays", 1, 2)),
            "anonymized",
        )
        in_pixels = objects.with_overlay_in_pixel_data(make_ct_slice(patient, "overlays", 1, 3))
        save("SCANNER/OVERLAY_IN_PIXELS", in_pixels, "held: overlay in pixel data")

    def damaged_files(self, patient: FakePatient) -> None:
        data = (self.batch_dir / "DICOM/IM2").read_bytes()
        self.raw("DICOM/TRUNC", data[: len(data) - 100], "held: corrupt")
        self.raw("DICOM/HEADONLY", data[:300], "held: corrupt")
        self.raw("DICOM/EMPTY", b"", "held: corrupt")
        short = make_ct_slice(patient, "short", 1, 1)
        short.PixelData = short.PixelData[:100]
        self.save("DICOM/SHORTPIX", short, "held: corrupt")

    def what_else_a_cd_carries(self, patient: FakePatient, good: Path) -> None:
        """A viewer, documents, a DICOMDIR file set, a symlink, a very deep folder."""
        raw, batch_dir = self.raw, self.batch_dir
        raw("AUTORUN.INF", b"[autorun]\r\nopen=viewer.exe\r\n", "skipped: non_dicom")
        raw("VIEWER/viewer.exe", b"MZ\x90\x00" + bytes(range(256)) * 4, "skipped: non_dicom")
        raw(
            "REPORT.PDF", b"%PDF-1.4\n" + patient.name.encode() + b"\n%%EOF\n", "skipped: non_dicom"
        )
        raw("PHOTO.JPG", b"\xff\xd8\xff\xe0" + bytes(300), "skipped: non_dicom")
        raw("NOTES.TXT", f"Pacjent: {patient.name}\n".encode(), "skipped: non_dicom")
        file_set = FileSet()
        file_set.add(make_ct_slice(patient, "dir", 1, 1))
        file_set.write(batch_dir / "DIRCD")
        for path in (batch_dir / "DIRCD").rglob("*"):
            if path.is_file():
                kind = "skipped: dicomdir" if path.name == "DICOMDIR" else "anonymized"
                self.expected[str(path.relative_to(batch_dir))] = kind
        (batch_dir / "LINK").symlink_to(good)
        self.expected["LINK"] = "skipped: symlink"
        deep = batch_dir.joinpath(*[f"D{level}" for level in range(40)])
        self.save(
            str((deep / "IMDEEP").relative_to(batch_dir)),
            make_ct_slice(patient, "deep", 1, 1),
            "anonymized",
        )
