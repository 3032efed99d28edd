"""What every command shares: one-line errors, progress bars, loading the rules and the
key, and the common options.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from anon_pipeline.engine.batch import BatchReport, StageReport, StepOptions
from anon_pipeline.engine.disk import (
    KEY_ENV_VAR,
    DataRoot,
    KeyFileError,
    Scratch,
    Settings,
    SettingsError,
    default_workers,
)
from anon_pipeline.engine.rules.rule_set import (
    RuleError,
    RuleSet,
    load_rule_set,
)


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


class ProgressBars:
    """One tqdm bar per phase, on stderr."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.bars: dict[str, tqdm] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        bar = self.bars.get(phase)
        if bar is None:
            bar = self.bars[phase] = tqdm(total=total, desc=f"{phase:>9}", unit="file", leave=True)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()


def settings_from(args: argparse.Namespace, **overrides: Any) -> Settings:
    """The environment's settings (`Settings.from_environment`, as the Dagster deployment
    reads them) with this command's options over them."""
    options = {name: getattr(args, name, None) for name in ("root", "key_file", "rules_dir")}
    options.update((name, value) for name, value in overrides.items() if value is not None)
    try:
        return Settings.from_environment(**options)
    except SettingsError as error:
        raise CliError(str(error)) from None


def load_rules(args: argparse.Namespace, name: str, reviewed: Path | None = None) -> RuleSet:
    """A rule file of the settings' rules folder (--rules-dir, else
    $ANON_PIPELINE_RULES_DIR, else the shipped one), reviewers' decisions layered over the
    whitelist; a bad file is one line naming file, line and entry, not a traceback."""
    path = settings_from(args).rules_folder / f"{name}.yaml"
    try:
        return load_rule_set(path, reviewed=reviewed if name == "whitelist" else None)
    except RuleError as error:
        raise CliError(str(error)) from None


def require_key(args: argparse.Namespace, key_file: Path | None = None) -> bytes:
    """The deployment's key (`key_file`, else --key-file, else $ANON_PIPELINE_KEY_FILE);
    one line if absent or unsafe, since every pseudonym and hashed UID depends on it."""
    try:
        return settings_from(args, key_file=key_file).key(root_default=False)
    except KeyFileError as error:
        raise CliError(str(error)) from None


def require_folder(path: Path, what: str) -> Path:
    """Refuse a path that is not a folder before any work starts."""
    if not path.is_dir():
        raise CliError(f"{path}: {what} is not a folder")
    return path


def print_stage(report: StageReport, output: Path) -> None:
    """One line per stage: counts by outcome, time and where the outputs went."""
    outcomes = ", ".join(f"{count} {name}" for name, count in sorted(report.outcomes.items()))
    print(
        f"{report.stage}: {report.files_in} files ({outcomes}) in {report.seconds:.1f}s -> {output}"
    )


def print_batch(name: str, report: BatchReport) -> None:
    """A batch's counts, then one line per reason a file was not anonymized (counts only:
    the reasons are PHI-free, the paths are not printed)."""
    outcomes = ", ".join(f"{count} {outcome}" for outcome, count in report.outcomes.items())
    print(
        f"{name}: {report.files_in} files -> {outcomes}; {report.studies} studies, "
        f"{report.series} series; {report.review_attributes} attributes queued for review; "
        f"{report.seconds:.1f}s"
    )
    for reason, count in report.reasons.items():
        if reason != "anonymized":
            print(f"    {count:5d}  {reason}")
    if report.nothing_new:
        print(f"    {report.nothing_new}")


def root_from(args: argparse.Namespace) -> DataRoot:
    """The data root: --root, else $ANON_PIPELINE_ROOT, else ./data (as the Dagster
    deployment's default)."""
    return settings_from(args).data_root


SIZE_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def byte_size(text: str) -> int:
    """'500G', '1.5T', '1048576' -> bytes (binary units)."""
    number, unit = text.strip().upper().rstrip("B"), ""
    if number and number[-1] in SIZE_UNITS:
        number, unit = number[:-1], number[-1]
    try:
        return int(float(number) * SIZE_UNITS[unit])
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 500G)") from None


def scratch_from(args: argparse.Namespace) -> Scratch | None:
    """The scratch disk, when both --scratch and its byte budget are given (one without
    the other is a mistake worth a message)."""
    if getattr(args, "scratch", None) is None:
        if getattr(args, "scratch_bytes", 0):
            raise CliError("--scratch-bytes needs --scratch (the folder to stage batches in)")
        return None
    if not args.scratch_bytes:
        raise CliError("--scratch needs --scratch-bytes (the most the staged batches may use)")
    if sys.platform == "win32":  # the shared ledger asks whether its owners still run
        raise CliError("--scratch is not available on Windows: process the CD where it is")
    return Scratch(args.scratch, args.scratch_bytes)


def note(message: str) -> None:
    """A step's remark (what it staged) on stderr, apart from the results on stdout."""
    print(message, file=sys.stderr)


def step_options(args: argparse.Namespace) -> StepOptions:
    """How a command's steps run: its --workers, bars unless --quiet, its scratch disk."""
    return StepOptions(
        workers=args.workers,
        progress=ProgressBars(not args.quiet),
        scratch=scratch_from(args),
        log=note,
    )


def add_scratch(parser: argparse.ArgumentParser) -> None:
    """--scratch and --scratch-bytes, for the commands that read a whole batch."""
    parser.add_argument(
        "--scratch",
        type=Path,
        default=None,
        metavar="DIR",
        help="fast local folder: the batch is copied there, read from there, removed after",
    )
    parser.add_argument(
        "--scratch-bytes",
        type=byte_size,
        default=0,
        metavar="SIZE",
        help="byte budget of --scratch shared by all runs (e.g. 200G); larger batches stay put",
    )


def add_common(parser: argparse.ArgumentParser, needs_key: bool = True) -> None:
    """The options every processing command takes: key, workers, rules, quiet."""
    if needs_key:
        parser.add_argument(
            "--key-file", type=Path, default=None, help=f"secret key file (default: ${KEY_ENV_VAR})"
        )
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="worker processes (default: all cores)",
    )
    parser.add_argument(
        "--rules-dir", type=Path, default=None, help="folder with blacklist.yaml and whitelist.yaml"
    )
    parser.add_argument(
        "--reviewed-rules", type=Path, default=None, help="reviewers' decisions over the whitelist"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
