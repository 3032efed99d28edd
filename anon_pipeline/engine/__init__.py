"""The engine: pure Python over pydicom and files. It never imports Dagster, so
stage 1 runs on an offline hospital computer with only this package installed."""
