"""anon_pipeline: two-stage DICOM anonymization with verification before release."""

__version__ = "0.1.0"
