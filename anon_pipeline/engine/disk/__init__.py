"""Where things live and how they are written: the data root's zones and a batch's
paths (`layout`), the key file, atomic writes, Parquet tables, fast-disk staging, and the
worker pool. Imports only `dicom` and `rules`."""
