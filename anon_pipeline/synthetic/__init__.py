"""Synthetic data with fake PHI for the demo, the tests and the benchmarks: CT studies
laid out like hospital CD copies, a hostile CD (`cds`), and objects as scanners write
them beyond classic slices (`scanner_objects`). Never real patient data; not engine code."""
