"""Where the data lives and how the pipeline runs: the Dagster resource over the engine's
`Settings` (the one reader of the environment)."""

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from anon_pipeline.engine.disk import (
    DEFAULT_MARKER,
    SCRATCH_BYTES_ENV_VAR,
    SCRATCH_ENV_VAR,
    BatchPaths,
    DataRoot,
    KeyFileError,
    RuleSets,
    Scratch,
    Settings,
    SharedPools,
    using_pools,
)


class PipelineSettings(dg.ConfigurableResource):
    """The data root (incoming/, secure/, release/), the key, and when a batch is ready."""

    root: str = "data"
    key_file: str = ""  # empty: <root>/secure/anon_pipeline.key
    rules_dir: str = ""  # empty: the shipped rule files
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

    @classmethod
    def from_settings(cls, settings: Settings) -> "PipelineSettings":
        return cls(**{name: getattr(settings, name) for name in cls.model_fields})

    @classmethod
    def from_environment(cls) -> "PipelineSettings":
        return cls.from_settings(Settings.from_environment())

    @property
    def engine_settings(self) -> Settings:
        return Settings(**{name: getattr(self, name) for name in type(self).model_fields})

    @property
    def data_root(self) -> DataRoot:
        return self.engine_settings.data_root

    def rule_sets(self) -> RuleSets:
        """The rules in force (read once per process while their files stay the same):
        the versions the assets were defined with are the ones a run applies."""
        return self.engine_settings.rule_sets()

    def paths(self, batch: str) -> BatchPaths:
        return BatchPaths.in_root(self.data_root, batch)

    def key(self) -> bytes:
        try:
            return self.engine_settings.key()
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
