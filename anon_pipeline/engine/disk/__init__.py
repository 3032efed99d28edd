"""Where things live and how they are written: the deployment's settings (`settings`),
the data root's zones and a batch's paths (`layout`), the key file, atomic writes,
Parquet tables, fast-disk staging, and the worker pool. Imports only `dicom` and
`rules`."""

from anon_pipeline.engine.disk.atomic import OutputFolderError
from anon_pipeline.engine.disk.folders import PathTooLong
from anon_pipeline.engine.disk.keys import KEY_ENV_VAR, KeyFileError, load_key
from anon_pipeline.engine.disk.layout import DEFAULT_MARKER, BatchPaths, DataRoot, init_root
from anon_pipeline.engine.disk.parallel import SharedPools, default_workers, using_pools
from anon_pipeline.engine.disk.scratch import Scratch
from anon_pipeline.engine.disk.settings import (
    ROOT_ENV_VAR,
    RULES_DIR_ENV_VAR,
    SCRATCH_BYTES_ENV_VAR,
    SCRATCH_ENV_VAR,
    RuleSets,
    Settings,
    SettingsError,
)
from anon_pipeline.engine.disk.tables import read_rows

# What the CLI, the Dagster definitions and the cluster use; the rest is the engine's.
__all__ = [
    "DEFAULT_MARKER",
    "KEY_ENV_VAR",
    "ROOT_ENV_VAR",
    "RULES_DIR_ENV_VAR",
    "SCRATCH_BYTES_ENV_VAR",
    "SCRATCH_ENV_VAR",
    "BatchPaths",
    "DataRoot",
    "KeyFileError",
    "OutputFolderError",
    "PathTooLong",
    "RuleSets",
    "Scratch",
    "Settings",
    "SettingsError",
    "SharedPools",
    "default_workers",
    "init_root",
    "load_key",
    "read_rows",
    "using_pools",
]
