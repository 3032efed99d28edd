"""The deployment's settings: the one reader of the ANON_PIPELINE_* environment variables.

The CLI, the Dagster definitions, the demo and the cluster each call
`Settings.from_environment(**overrides)` (a command's options are the overrides), so a
deployment that sets ANON_PIPELINE_RULES_DIR runs its Dagster jobs and its review
commands with the same whitelist. The rule sets come from a Settings object, never from
module globals bound at import: a test's settings use the test's rules and reviews.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from anon_pipeline.engine.disk.keys import KEY_ENV_VAR, KeyFileError, load_key
from anon_pipeline.engine.disk.layout import DEFAULT_MARKER, DataRoot
from anon_pipeline.engine.rules.rule_set import SHIPPED_RULES_DIR, RuleSet, load_rule_set

ROOT_ENV_VAR = "ANON_PIPELINE_ROOT"
RULES_DIR_ENV_VAR = "ANON_PIPELINE_RULES_DIR"
WORKERS_ENV_VAR = "ANON_PIPELINE_WORKERS"
QUIET_ENV_VAR = "ANON_PIPELINE_QUIET_SECONDS"
OPERATOR_ENV_VAR = "ANON_PIPELINE_OPERATOR"
SCRATCH_ENV_VAR = "ANON_PIPELINE_SCRATCH"
SCRATCH_BYTES_ENV_VAR = "ANON_PIPELINE_SCRATCH_BYTES"
# Each field's variable; a field without one is set by its caller only.
ENV_VARS = {
    "root": ROOT_ENV_VAR,
    "key_file": KEY_ENV_VAR,
    "rules_dir": RULES_DIR_ENV_VAR,
    "workers": WORKERS_ENV_VAR,
    "quiet_seconds": QUIET_ENV_VAR,
    "operator": OPERATOR_ENV_VAR,
    "scratch": SCRATCH_ENV_VAR,
    "scratch_bytes": SCRATCH_BYTES_ENV_VAR,
}


class SettingsError(ValueError):
    """A variable that does not parse: names the variable, never a secret."""


@dataclass(frozen=True)
class RuleSets:
    """The two rule sets in force: the blacklist, and the whitelist with the reviewers'
    decisions layered over it. Their versions are the assets' code versions."""

    blacklist: RuleSet
    whitelist: RuleSet


@dataclass(frozen=True)
class Settings:
    """Where the data lives, which rules and key apply, and how the steps run."""

    root: str = "data"
    key_file: str = ""  # '': the root's secure/anon_pipeline.key (the server's default)
    rules_dir: str = ""  # '': the shipped rule files
    workers: int = 0  # 0: all cores
    quiet_seconds: int = 300  # a batch without its marker is ready after this much quiet
    operator: str = ""  # who runs the pipeline ('': the OS user)
    scratch: str = ""  # fast local folder to stage batches in ('': <root>/scratch)
    scratch_bytes: int = 0  # what staged batches may use there at once (0: no staging)
    marker: str = DEFAULT_MARKER

    @classmethod
    def from_environment(
        cls, environment: Mapping[str, str] | None = None, **overrides: Any
    ) -> Settings:
        """The environment's settings (os.environ unless given), then the overrides that
        are not None (a command's options)."""
        environment = os.environ if environment is None else environment
        values: dict[str, Any] = {}
        for field in fields(cls):
            name = ENV_VARS.get(field.name)
            if name is None or not environment.get(name):
                continue
            text = environment[name]
            if field.type == "int":
                try:
                    values[field.name] = int(text)
                except ValueError:
                    raise SettingsError(f"{name}={text!r} is not a whole number") from None
            else:
                values[field.name] = text
        for name, value in overrides.items():
            if value is not None:
                values[name] = str(value) if isinstance(value, Path) else value
        return cls(**values)

    @property
    def data_root(self) -> DataRoot:
        return DataRoot(Path(self.root).expanduser().resolve())

    @property
    def rules_folder(self) -> Path:
        return Path(self.rules_dir).expanduser() if self.rules_dir else SHIPPED_RULES_DIR

    def key_path(self, *, root_default: bool = True) -> Path | None:
        """The key file: the one named, else the root's (the server's layout); a hospital's
        command has no root to default to (`root_default=False`)."""
        if self.key_file:
            return Path(self.key_file).expanduser()
        return self.data_root.key_file if root_default else None

    def key(self, *, root_default: bool = True) -> bytes:
        path = self.key_path(root_default=root_default)
        if path is None:
            raise KeyFileError(
                f"no key file given: pass --key-file or set {KEY_ENV_VAR}; "
                "create one with `anon-pipeline init ROOT`"
            )
        return load_key(path)

    def rule_set(self, name: str, *, reviewed: bool = True) -> RuleSet:
        """One rule file of the rules folder; the whitelist with the root's reviewed
        decisions unless `reviewed` is False."""
        path = self.rules_folder / f"{name}.yaml"
        layered = self.data_root.reviewed_rules if reviewed and name == "whitelist" else None
        return cached_rule_set(path, layered, file_state(path), file_state(layered))

    def rule_sets(self) -> RuleSets:
        return RuleSets(self.rule_set("blacklist"), self.rule_set("whitelist"))

    def worker_count(self) -> int | None:
        return self.workers or None


def file_state(path: Path | None) -> tuple[int, int] | None:
    """What a cached rule set is keyed on besides its path: a changed file is read again."""
    if path is None:
        return None
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


@lru_cache(maxsize=16)
def cached_rule_set(
    path: Path, reviewed: Path | None, _state: object, _reviewed_state: object
) -> RuleSet:
    """Rule files are read once per process while they stay the same: the code location,
    its runs and each step see the same versions."""
    return load_rule_set(path, reviewed=reviewed)
