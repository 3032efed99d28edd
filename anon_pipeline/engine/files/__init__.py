"""Per-file work over a batch: the scan (one manifest row per file), a stage over every
file in the pool, the streaming path of a stage, the attribute-value inventory rows.
Imports `dicom`, `rules` and `disk`."""
