"""`anon-pipeline`: the command-line front of the engine.

Stage 1 must run on an offline hospital computer without a Dagster server, so
every engine step is reachable from here. Errors are one line that names the
file and says what to do; no value from before whitelisting is ever printed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm import tqdm

from anon_pipeline.engine.atomic import OutputFolderError
from anon_pipeline.engine.keys import KEY_ENV_VAR, KeyFileError, load_key
from anon_pipeline.engine.layout import DataRoot, init_root
from anon_pipeline.engine.parallel import default_workers
from anon_pipeline.engine.pipeline import (
    BatchPaths,
    BatchReport,
    anonymize_batch,
    blacklist_folder,
    whitelist_folder,
)
from anon_pipeline.engine.rules import SHIPPED_RULES_DIR, RuleError, RuleSet, load_rule_set
from anon_pipeline.engine.stage import StageReport
from anon_pipeline.engine.synthetic import write_demo_batches


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


def load_rules(rules_dir: Path | None, name: str) -> RuleSet:
    path = (rules_dir or SHIPPED_RULES_DIR) / f"{name}.yaml"
    try:
        return load_rule_set(path)
    except RuleError as error:
        raise CliError(str(error)) from None


def require_key(key_file: Path | None) -> bytes:
    try:
        return load_key(key_file)
    except KeyFileError as error:
        raise CliError(str(error)) from None


def require_folder(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise CliError(f"{path}: {what} is not a folder")
    return path


def print_stage(report: StageReport, output: Path) -> None:
    outcomes = ", ".join(f"{count} {name}" for name, count in sorted(report.outcomes.items()))
    print(
        f"{report.stage}: {report.files_in} files ({outcomes}) in {report.seconds:.1f}s -> {output}"
    )


def print_batch(name: str, report: BatchReport) -> None:
    outcomes = ", ".join(f"{count} {outcome}" for outcome, count in report.outcomes.items())
    print(
        f"{name}: {report.files_in} files -> {outcomes}; {report.studies} studies, "
        f"{report.series} series; {report.review_attributes} attributes queued for review; "
        f"{report.seconds:.1f}s"
    )
    for reason, count in report.reasons.items():
        if reason != "anonymized":
            print(f"    {count:5d}  {reason}")


def command_init(args: argparse.Namespace) -> None:
    try:
        root = init_root(args.root)
    except KeyFileError as error:
        raise CliError(str(error)) from None
    print(f"created {root.incoming}, {root.secure} (0700), {root.release}")
    print(f"new key: {root.key_file} (0600); export {KEY_ENV_VAR}={root.key_file}")


def command_blacklist(args: argparse.Namespace) -> None:
    report = blacklist_folder(
        require_folder(args.input_dir, "INPUT_DIR"),
        args.output_dir,
        rule_set=load_rules(args.rules_dir, "blacklist"),
        key=require_key(args.key_file),
        workers=args.workers,
        progress=ProgressBars(not args.quiet),
    )
    print_stage(report, args.output_dir)


def command_whitelist(args: argparse.Namespace) -> None:
    secure_dir = args.secure_dir or args.output_dir.with_name(args.output_dir.name + ".secure")
    report = whitelist_folder(
        require_folder(args.input_dir, "INPUT_DIR"),
        args.output_dir,
        secure_dir,
        rule_set=load_rules(args.rules_dir, "whitelist"),
        key=require_key(args.key_file),
        workers=args.workers,
        progress=ProgressBars(not args.quiet),
    )
    print_stage(report, args.output_dir)
    print(f"secure tables (manifest, hashed-UID map, review queue): {secure_dir}")


def run_anonymize(paths: BatchPaths, args: argparse.Namespace, key: bytes) -> BatchReport:
    return anonymize_batch(
        paths,
        blacklist=load_rules(args.rules_dir, "blacklist"),
        whitelist=load_rules(args.rules_dir, "whitelist"),
        key=key,
        workers=args.workers,
        progress=ProgressBars(not args.quiet),
    )


def command_anonymize(args: argparse.Namespace) -> None:
    key = require_key(args.key_file)
    batch_dir = require_folder(args.input_dir, "INPUT_DIR")
    paths = BatchPaths(batch_dir, args.out / "secure", args.out / "release")
    report = run_anonymize(paths, args, key)
    print_batch(batch_dir.name, report)
    print(f"release: {args.out / 'release'}   secure: {args.out / 'secure'}")


def command_demo(args: argparse.Namespace) -> None:
    root = DataRoot(args.root)
    init_root(args.root, create_key=not root.key_file.exists())
    for batch, images in write_demo_batches(
        root.incoming, args.batches, args.patients, args.slices
    ):
        if images:
            print(f"{batch}: {images} synthetic CT images with fake PHI, DICOMDIR, CD extras")
        else:
            print(f"{batch}: exists, left as it is")
    if not args.run:
        return
    key = require_key(root.key_file)
    for batch in sorted(path for path in root.incoming.iterdir() if path.is_dir()):
        report = run_anonymize(BatchPaths.in_root(root, batch.name), args, key)
        print_batch(batch.name, report)
    print(f"\nreleased (not yet signed off): {root.release}\nsecure zone: {root.secure}")


def add_common(parser: argparse.ArgumentParser, needs_key: bool = True) -> None:
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
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="anon-pipeline",
        description="Two-stage DICOM anonymization: blacklist, whitelist, verify.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    init = commands.add_parser(
        "init", help="create ROOT/incoming, secure (0700), release and a key"
    )
    init.add_argument("root", type=Path, metavar="ROOT")
    init.set_defaults(handler=command_init)

    blacklist = commands.add_parser("blacklist", help="stage 1 alone (offline, at the hospital)")
    blacklist.add_argument("input_dir", type=Path, metavar="INPUT_DIR")
    blacklist.add_argument("output_dir", type=Path, metavar="OUTPUT_DIR")
    add_common(blacklist)
    blacklist.set_defaults(handler=command_blacklist)

    whitelist = commands.add_parser("whitelist", help="stage 2 alone")
    whitelist.add_argument("input_dir", type=Path, metavar="INPUT_DIR")
    whitelist.add_argument("output_dir", type=Path, metavar="OUTPUT_DIR")
    whitelist.add_argument(
        "--secure-dir", type=Path, default=None, help="secure tables (default: OUTPUT_DIR.secure)"
    )
    add_common(whitelist)
    whitelist.set_defaults(handler=command_whitelist)

    anonymize = commands.add_parser("anonymize", help="both stages on one batch")
    anonymize.add_argument("input_dir", type=Path, metavar="INPUT_DIR")
    anonymize.add_argument("--out", type=Path, required=True, metavar="OUT_DIR")
    add_common(anonymize)
    anonymize.set_defaults(handler=command_anonymize)

    demo = commands.add_parser(
        "demo", help="write synthetic CD batches with fake PHI into ROOT/incoming"
    )
    demo.add_argument("root", type=Path, metavar="ROOT")
    demo.add_argument("--batches", type=int, default=3)
    demo.add_argument("--patients", type=int, default=2, help="patients per batch")
    demo.add_argument("--slices", type=int, default=4, help="slices per series (2 series a study)")
    demo.add_argument("--run", action="store_true", help="then anonymize every batch end to end")
    add_common(demo, needs_key=False)
    demo.set_defaults(handler=command_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command: Callable[[argparse.Namespace], None] = args.handler
    try:
        command(args)
    except CliError as error:
        print(f"anon-pipeline: {error}", file=sys.stderr)
        return 2
    except OutputFolderError as error:
        print(
            f"anon-pipeline: {error.strerror}; earlier outputs were left as they were",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print(
            "anon-pipeline: interrupted; outputs of the batch in progress were not replaced",
            file=sys.stderr,
        )
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
