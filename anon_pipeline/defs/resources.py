"""Where the data lives and how the pipeline runs, from environment variables."""

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from anon_pipeline.engine.disk import (
    DEFAULT_MARKER,
    KEY_ENV_VAR,
    BatchPaths,
    DataRoot,
    KeyFileError,
    Scratch,
    SharedPools,
    load_key,
    using_pools,
)

ROOT_ENV_VAR = "ANON_PIPELINE_ROOT"
WORKERS_ENV_VAR = "ANON_PIPELINE_WORKERS"
QUIET_ENV_VAR = "ANON_PIPELINE_QUIET_SECONDS"
OPERATOR_ENV_VAR = "ANON_PIPELINE_OPERATOR"
SCRATCH_ENV_VAR = "ANON_PIPELINE_SCRATCH"
SCRATCH_BYTES_ENV_VAR = "ANON_PIPELINE_SCRATCH_BYTES"


class PipelineSettings(dg.ConfigurableResource):
    """The data root (incoming/, secure/, release/), the key, and when a batch is ready."""

    root: str = "data"
    key_file: str = ""  # empty: <root>/secure/anon_pipeline.key
    workers: int = 0  # 0: all cores
    marker: str = DEFAULT_MARKER
    quiet_seconds: int = 300
    operator: str = ""  # who runs the pipeline (recorded; may not approve): default the OS user
    scratch: str = ""  # fast local folder to stage batches in ('': <root>/scratch)
    scratch_bytes: int = 0  # what staged batches may use there at once (0: no staging)
    # One pool of worker processes for a whole run: its steps run one after another in
    # one process (in_process_executor), so the scan's workers also do both stages and
    # the checks, instead of a pool per step.
    _pools: SharedPools | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._pools = SharedPools()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._pools is not None:
            self._pools.drop()
            self._pools = None

    @contextmanager
    def run_pool(self) -> Iterator[None]:
        """Around a step's engine call: its per-file work goes to the run's pool."""
        if self._pools is None:  # outside a run (a sensor, a direct call)
            yield
            return
        with using_pools(self._pools):
            yield

    @property
    def data_root(self) -> DataRoot:
        return DataRoot(Path(self.root).expanduser().resolve())

    def paths(self, batch: str) -> BatchPaths:
        return BatchPaths.in_root(self.data_root, batch)

    def key(self) -> bytes:
        try:
            return load_key(self.key_file or self.data_root.key_file)
        except KeyFileError as error:
            raise dg.Failure(description=str(error)) from None

    def worker_count(self) -> int | None:
        return self.workers or None

    def operator_name(self) -> str:
        return self.operator or getpass.getuser()

    def scratch_area(self) -> Scratch | None:
        """Staging is on when a budget is set; the folder defaults to <root>/scratch."""
        if self.scratch_bytes <= 0:
            if self.scratch:
                raise dg.Failure(
                    description=f"{SCRATCH_ENV_VAR} is set: set {SCRATCH_BYTES_ENV_VAR} too"
                )
            return None
        folder = Path(self.scratch).expanduser().resolve() if self.scratch else None
        return Scratch(folder or self.data_root.scratch, self.scratch_bytes)


def settings_from_environment(deferred: bool = True) -> PipelineSettings:
    """ANON_PIPELINE_ROOT (default ./data), ANON_PIPELINE_KEY_FILE, ANON_PIPELINE_WORKERS,
    ANON_PIPELINE_QUIET_SECONDS, ANON_PIPELINE_SCRATCH, ANON_PIPELINE_SCRATCH_BYTES.
    Deferred: read at run time and shown as environment variables in the UI; otherwise
    read now (for code that runs outside a Dagster run)."""

    def from_env(name: str, default: Any, as_int: bool = False) -> Any:
        if name not in os.environ:
            return default
        if not deferred:
            return int(os.environ[name]) if as_int else os.environ[name]
        return dg.EnvVar.int(name) if as_int else dg.EnvVar(name)

    return PipelineSettings(
        root=from_env(ROOT_ENV_VAR, "data"),
        key_file=from_env(KEY_ENV_VAR, ""),
        workers=from_env(WORKERS_ENV_VAR, 0, as_int=True),
        quiet_seconds=from_env(QUIET_ENV_VAR, 300, as_int=True),
        operator=from_env(OPERATOR_ENV_VAR, ""),
        scratch=from_env(SCRATCH_ENV_VAR, ""),
        scratch_bytes=from_env(SCRATCH_BYTES_ENV_VAR, 0, as_int=True),
    )
