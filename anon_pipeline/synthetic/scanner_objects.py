"""Synthetic objects as scanners write them, beyond the classic CT slice: a multi-frame
Enhanced CT with its functional groups, overlays (in their own plane and in the pixel
data's unused bits) and icon images. Fake PHI only; every IOD's Type 1 and Type 2
attributes are present, so an independent validator judges them as a scanner's files.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import CTImageStorage, EnhancedCTImageStorage, ExplicitVRLittleEndian

from anon_pipeline.synthetic.cds import FakePatient, make_ct_slice, make_uid

FRAME_PRIVATE_CREATOR = "ACME ENHANCED 2.0"
ACQUISITION_START = datetime(2024, 3, 15, 10, 10)
SLICE_SPACING = 1.25


def item(**attributes: object) -> Dataset:
    """A sequence item with the given attributes."""
    dataset = Dataset()
    for keyword, value in attributes.items():
        setattr(dataset, keyword, value)
    return dataset


def code(value: str, scheme: str, meaning: str) -> Dataset:
    return item(CodeValue=value, CodingSchemeDesignator=scheme, CodeMeaning=meaning)


def shared_ct_groups(patient: FakePatient, study_key: str) -> Dataset:
    """The functional groups every frame shares: what a CT scanner writes once."""
    return item(
        PixelMeasuresSequence=Sequence(
            [item(PixelSpacing=[0.7, 0.7], SliceThickness=SLICE_SPACING)]
        ),
        PlaneOrientationSequence=Sequence([item(ImageOrientationPatient=[1, 0, 0, 0, 1, 0])]),
        CTImageFrameTypeSequence=Sequence(
            [
                item(
                    FrameType=["ORIGINAL", "PRIMARY", "VOLUME", "NONE"],
                    PixelPresentation="MONOCHROME",
                    VolumetricProperties="VOLUME",
                    VolumeBasedCalculationTechnique="NONE",
                )
            ]
        ),
        CTAcquisitionTypeSequence=Sequence(
            [item(AcquisitionType="SPIRAL", ConstantVolumeFlag="NO", FluoroscopyFlag="NO")]
        ),
        CTAcquisitionDetailsSequence=Sequence(
            [
                item(
                    DataCollectionDiameter=500,
                    RevolutionTime=0.5,
                    TableHeight=153,
                    GantryDetectorTilt=0,
                    TotalCollimationWidth=40.0,
                    SingleCollimationWidth=0.625,
                    RotationDirection="CW",
                )
            ]
        ),
        CTTableDynamicsSequence=Sequence(
            [item(TableSpeed=78.75, TableFeedPerRotation=39.375, SpiralPitchFactor=0.984375)]
        ),
        CTGeometrySequence=Sequence(
            [item(DistanceSourceToDetector=1085.6, DistanceSourceToDataCollectionCenter=595.0)]
        ),
        CTReconstructionSequence=Sequence(
            [
                item(
                    ReconstructionAlgorithm="ITERATIVE",
                    ConvolutionKernel="Br40d",
                    ConvolutionKernelGroup="BRAIN",
                    ReconstructionDiameter=350,
                    ReconstructionPixelSpacing=[0.7, 0.7],
                    ReconstructionAngle=360.0,
                    ImageFilter="NONE",
                )
            ]
        ),
        CTExposureSequence=Sequence(
            [
                item(
                    ExposureTimeInms=500.0,
                    XRayTubeCurrentInmA=200.0,
                    ExposureInmAs=100.0,
                    ExposureModulationType="NONE",
                    CTDIvol=8.5,
                )
            ]
        ),
        CTXRayDetailsSequence=Sequence(
            [item(KVP=120, FocalSpots=[1.2], FilterType="FLAT", FilterMaterial="ALUMINUM")]
        ),
        PixelValueTransformationSequence=Sequence(
            [item(RescaleIntercept=-1024, RescaleSlope=1, RescaleType="HU")]
        ),
        FrameVOILUTSequence=Sequence([item(WindowCenter=40, WindowWidth=400)]),
        FrameAnatomySequence=Sequence(
            [
                item(
                    AnatomicRegionSequence=Sequence([code("51185008", "SCT", "Chest")]),
                    FrameLaterality="U",
                )
            ]
        ),
        IrradiationEventIdentificationSequence=Sequence(
            [item(IrradiationEventUID=make_uid(patient.patient_id, study_key, "irradiation"))]
        ),
    )


def per_frame_ct_group(patient: FakePatient, study_key: str, frame: int) -> Dataset:
    """One frame's functional groups: its time, its place, and a scanner's private block
    holding the patient's name (which must never be released)."""
    moment = (ACQUISITION_START + timedelta(seconds=frame)).strftime("%Y%m%d%H%M%S")
    group = item(
        FrameContentSequence=Sequence(
            [
                item(
                    FrameAcquisitionNumber=1,
                    FrameReferenceDateTime=moment,
                    FrameAcquisitionDateTime=f"{moment}.000000",
                    FrameAcquisitionDuration=500.0,
                    DimensionIndexValues=[1, frame],
                    StackID="1",
                    InStackPositionNumber=frame,
                )
            ]
        ),
        PlanePositionSequence=Sequence(
            [item(ImagePositionPatient=[-100.0, -100.0, -SLICE_SPACING * frame])]
        ),
        CTPositionSequence=Sequence(
            [
                item(
                    TablePosition=-SLICE_SPACING * frame,
                    ReconstructionTargetCenterPatient=[0.0, -153.0, -SLICE_SPACING * frame],
                    DataCollectionCenterPatient=[0.0, -153.0, -SLICE_SPACING * frame],
                )
            ]
        ),
        DerivationImageSequence=Sequence(
            [
                item(
                    DerivationCodeSequence=Sequence([code("113076", "DCM", "Segmentation")]),
                    SourceImageSequence=Sequence(
                        [
                            item(
                                ReferencedSOPClassUID=CTImageStorage,
                                ReferencedSOPInstanceUID=make_uid(
                                    patient.patient_id, study_key, "source", frame
                                ),
                                PurposeOfReferenceCodeSequence=Sequence(
                                    [code("121322", "DCM", "Source image for image processing")]
                                ),
                            )
                        ]
                    ),
                )
            ]
        ),
    )
    block = group.private_block(0x0021, FRAME_PRIVATE_CREATOR, create=True)
    block.add_new(0x10, "LO", patient.name)
    return group


def make_enhanced_ct(
    patient: FakePatient,
    study_key: str,
    series_number: int = 1,
    frames: int = 3,
    rows: int = 16,
    columns: int = 16,
) -> Dataset:
    """A multi-frame Enhanced CT Image (PS3.3 A.38) of `frames` axial frames, with shared
    and per-frame functional groups holding dates, UIDs and a private block."""
    base = make_ct_slice(patient, study_key, series_number, 1, rows=rows, columns=columns)
    ds = Dataset()
    for keyword in (
        "SpecificCharacterSet",
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "Modality",
        "Manufacturer",
        "InstitutionName",
        "InstitutionAddress",
        "ReferringPhysicianName",
        "StationName",
        "StudyDescription",
        "SeriesDescription",
        "OperatorsName",
        "ManufacturerModelName",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "PatientAge",
        "PatientWeight",
        "DeviceSerialNumber",
        "SoftwareVersions",
        "ProtocolName",
        "PatientPosition",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "StudyID",
        "SeriesNumber",
        "FrameOfReferenceUID",
        "PositionReferenceIndicator",
        "BodyPartExamined",
        "SamplesPerPixel",
        "PhotometricInterpretation",
        "Rows",
        "Columns",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
    ):
        setattr(ds, keyword, getattr(base, keyword))
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    ds.SOPClassUID = EnhancedCTImageStorage
    ds.SOPInstanceUID = make_uid(patient.patient_id, study_key, series_number, "enhanced")
    ds.InstanceCreationDate, ds.InstanceCreationTime = "20240315", "101700"
    ds.SeriesDate, ds.SeriesTime = "20240315", "101500"
    ds.ContentDate, ds.ContentTime = "20240315", "101600"
    ds.AcquisitionDateTime = "20240315101000"
    ds.AcquisitionDuration = 2.5
    ds.InstanceNumber = 1
    ds.AcquisitionNumber = 1
    ds.ContentQualification = "PRODUCT"
    ds.PixelPresentation = "MONOCHROME"
    ds.VolumetricProperties = "VOLUME"
    ds.VolumeBasedCalculationTechnique = "NONE"
    ds.PresentationLUTShape = "IDENTITY"
    ds.BurnedInAnnotation = "NO"
    ds.RecognizableVisualFeatures = "NO"
    ds.LossyImageCompression = "00"
    ds.IssuerOfPatientID = "SZPITAL"
    ds.AcquisitionContextSequence = Sequence()
    ds.ReferencedPerformedProcedureStepSequence = Sequence(
        [
            item(
                ReferencedSOPClassUID="1.2.840.10008.3.1.2.3.3",  # MPPS SOP class
                ReferencedSOPInstanceUID=make_uid(patient.patient_id, study_key, "mpps"),
            )
        ]
    )
    ds.SourceImageEvidenceSequence = Sequence(
        [
            item(
                StudyInstanceUID=make_uid(patient.patient_id, study_key, "source study"),
                ReferencedSeriesSequence=Sequence(
                    [
                        item(
                            SeriesInstanceUID=make_uid(patient.patient_id, study_key, "source"),
                            ReferencedSOPSequence=Sequence(
                                [
                                    item(
                                        ReferencedSOPClassUID=CTImageStorage,
                                        ReferencedSOPInstanceUID=make_uid(
                                            patient.patient_id, study_key, "source", frame
                                        ),
                                    )
                                    for frame in range(1, frames + 1)
                                ]
                            ),
                        )
                    ]
                ),
            )
        ]
    )
    dimension_uid = make_uid(patient.patient_id, study_key, series_number, "dimensions")
    ds.DimensionOrganizationSequence = Sequence([item(DimensionOrganizationUID=dimension_uid)])
    ds.DimensionOrganizationType = "3D"
    ds.DimensionIndexSequence = Sequence(
        [
            item(
                DimensionOrganizationUID=dimension_uid,
                DimensionIndexPointer=Tag("StackID"),
                FunctionalGroupPointer=Tag("FrameContentSequence"),
                DimensionDescriptionLabel="Stack ID",
            ),
            item(
                DimensionOrganizationUID=dimension_uid,
                DimensionIndexPointer=Tag("InStackPositionNumber"),
                FunctionalGroupPointer=Tag("FrameContentSequence"),
                DimensionDescriptionLabel="In-Stack Position Number",
            ),
        ]
    )
    ds.NumberOfFrames = frames
    ds.SharedFunctionalGroupsSequence = Sequence([shared_ct_groups(patient, study_key)])
    ds.PerFrameFunctionalGroupsSequence = Sequence(
        [per_frame_ct_group(patient, study_key, frame) for frame in range(1, frames + 1)]
    )
    ds.PixelRepresentation = 0  # Enhanced CT: unsigned stored values, rescaled to HU
    rng = np.random.default_rng(frames * 1000 + rows)
    ds.PixelData = rng.integers(0, 4095, size=(frames, rows, columns), dtype=np.uint16).tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def overlay_plane(rows: int, columns: int, group: int = 0x6000) -> dict[int, tuple[str, object]]:
    """The elements of an overlay plane in its own group (data in OverlayData)."""
    bits = np.zeros((rows, columns), dtype=np.uint8)
    bits[2:5, 2:12] = 1  # a bar where a name would be drawn
    packed = np.packbits(bits.ravel(), bitorder="little").tobytes()
    return {
        group << 16 | 0x0010: ("US", rows),
        group << 16 | 0x0011: ("US", columns),
        group << 16 | 0x0022: ("LO", "Patient name"),
        group << 16 | 0x0040: ("CS", "G"),
        group << 16 | 0x0050: ("SS", [1, 1]),
        group << 16 | 0x0100: ("US", 1),
        group << 16 | 0x0102: ("US", 0),
        group << 16 | 0x1500: ("LO", "NAME"),
        group << 16 | 0x3000: ("OW", packed + b"\0" * (len(packed) % 2)),
        group << 16 | 0x4000: ("LT", "drawn by the scanner"),
    }


def with_overlay_plane(dataset: Dataset, group: int = 0x6000) -> Dataset:
    """The dataset with an overlay plane (PS3.3 C.9.2) in group `group`."""
    for tag, (vr, value) in overlay_plane(dataset.Rows, dataset.Columns, group).items():
        dataset.add_new(tag, vr, value)
    return dataset


def with_overlay_in_pixel_data(dataset: Dataset, bit: int = 12, group: int = 0x6000) -> Dataset:
    """The dataset with an old-style overlay: its plane drawn into an unused high bit of
    the pixel data (OverlayBitsAllocated = BitsAllocated, OverlayBitPosition = the bit),
    as older equipment wrote them; the bits spell a bar where a name would be."""
    pixels = (
        np.frombuffer(dataset.PixelData, dtype=np.uint16)
        .reshape(dataset.Rows, dataset.Columns)
        .copy()
    )
    pixels &= (1 << dataset.BitsStored) - 1
    pixels[2:5, 2:12] |= 1 << bit
    dataset.PixelRepresentation = 0
    dataset.PixelData = pixels.tobytes()
    for tag, vr, value in (
        (0x0010, "US", dataset.Rows),
        (0x0011, "US", dataset.Columns),
        (0x0040, "CS", "G"),
        (0x0050, "SS", [1, 1]),
        (0x0100, "US", dataset.BitsAllocated),
        (0x0102, "US", bit),
    ):
        dataset.add_new(group << 16 | tag, vr, value)
    return dataset


def with_icon_image(dataset: Dataset) -> Dataset:
    """The dataset with an Icon Image Sequence (a thumbnail that may show text)."""
    icon = item(
        SamplesPerPixel=1,
        PhotometricInterpretation="MONOCHROME2",
        Rows=8,
        Columns=8,
        BitsAllocated=8,
        BitsStored=8,
        HighBit=7,
        PixelRepresentation=0,
        PixelData=bytes(range(64)),
    )
    dataset.IconImageSequence = Sequence([icon])
    return dataset
