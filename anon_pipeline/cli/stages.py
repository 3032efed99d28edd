"""The stages' commands: init, blacklist (the hospital), whitelist, anonymize, demo. They
need no DuckDB or Dagster, so a hospital's stage 1 runs from a stage-1-only install.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from anon_pipeline.cli.common import (
    CliError,
    add_common,
    add_scratch,
    load_rules,
    print_batch,
    print_stage,
    require_folder,
    require_key,
    step_options,
)
from anon_pipeline.engine.batch import (
    BatchReport,
    Policy,
    anonymize_batch,
    blacklist_folder,
    whitelist_folder,
)
from anon_pipeline.engine.disk import KEY_ENV_VAR, BatchPaths, DataRoot, KeyFileError, init_root


def command_init(args: argparse.Namespace) -> None:
    """`init ROOT`: the zones (secure with mode 0700) and a new key, never overwriting one."""
    try:
        root = init_root(args.root)
    except KeyFileError as error:
        raise CliError(str(error)) from None
    print(f"created {root.incoming}, {root.secure} (0700), {root.release}")
    print(f"new key: {root.key_file} (0600); export {KEY_ENV_VAR}={root.key_file}")


def command_blacklist(args: argparse.Namespace) -> None:
    """`blacklist CD OUT`: stage 1 at the hospital; OUT becomes a stage-1 package."""
    if args.self_test:
        self_test(args)
        return
    if args.input_dir is None or args.output_dir is None:
        raise CliError("blacklist needs INPUT_DIR and OUTPUT_DIR (or --self-test)")
    records = args.records or args.output_dir.with_name(args.output_dir.name + ".hospital")
    report = blacklist_folder(
        require_folder(args.input_dir, "INPUT_DIR"),
        args.output_dir,
        records,
        load_rules(args, "blacklist"),
        require_key(args),
        step_options(args),
    )
    print_stage(report, args.output_dir)
    print(f"stage-1 package (carry it to the server's incoming/ as it is): {args.output_dir}")
    print(f"hospital records (original paths, removed values: they stay here): {records}")


def self_test(args: argparse.Namespace) -> None:
    """`blacklist --self-test`: what a site runs first on its own computer. Stage 1 on a
    synthetic CD with fake PHI (written to a temporary folder, removed after), the worker
    pool, the folder swaps and the identifying-value search as this platform does them,
    then the package verified as the server verifies it."""
    import secrets
    import tempfile

    from anon_pipeline.engine.batch import check_package_files, read_package
    from anon_pipeline.synthetic.cds import fake_patient, write_cd_batch

    rules = load_rules(args, "blacklist")
    key = secrets.token_bytes(32)  # a throwaway key: never the deployment's
    with tempfile.TemporaryDirectory(prefix="anon-pipeline-self-test-") as folder:
        work = Path(folder)
        images = write_cd_batch(work / "CD", [fake_patient(1), fake_patient(2)], slices=3)
        package = work / "package"
        report = blacklist_folder(
            work / "CD", package, work / "package.hospital", rules, key, step_options(args)
        )
        adopted = read_package(package, rules, key)
        check_package_files(package, adopted, args.workers)
        anonymized = report.outcomes.get("anonymized", 0)
        if anonymized != len(images):
            raise CliError(f"self-test failed: {anonymized} of {len(images)} images anonymized")
    print(
        f"self-test passed: {len(images)} synthetic images through stage 1 with "
        f"{args.workers} worker(s); the package verified as the server would. "
        f"Rules {rules.version}; now run stage 1 on a real CD."
    )


def command_whitelist(args: argparse.Namespace) -> None:
    """`whitelist IN OUT`: stage 2 alone; the secure tables go beside OUT."""
    secure_dir = args.secure_dir or args.output_dir.with_name(args.output_dir.name + ".secure")
    report = whitelist_folder(
        require_folder(args.input_dir, "INPUT_DIR"),
        args.output_dir,
        secure_dir,
        load_rules(args, "whitelist", args.reviewed_rules),
        require_key(args),
        step_options(args),
    )
    print_stage(report, args.output_dir)
    print(f"secure tables (manifest, hashed-UID map, review queue): {secure_dir}")


def run_anonymize(
    paths: BatchPaths,
    args: argparse.Namespace,
    key: bytes,
    reviewed: Path | None = None,
    index: Path | None = None,
) -> BatchReport:
    """Both stages on one batch, with the rules as a command loads them (and a data
    root's reviewed decisions and released index, when it has them)."""
    policy = Policy(
        blacklist=load_rules(args, "blacklist"),
        whitelist=load_rules(args, "whitelist", reviewed or args.reviewed_rules),
        key=key,
    )
    return anonymize_batch(paths, policy, step_options(args), index=index)


def command_anonymize(args: argparse.Namespace) -> None:
    """`anonymize IN --out OUT`: both stages on one folder (a CD or a stage-1 package)."""
    key = require_key(args)
    batch_dir = require_folder(args.input_dir, "INPUT_DIR")
    paths = BatchPaths(batch_dir, args.out / "secure", args.out / "release")
    report = run_anonymize(paths, args, key)
    print_batch(batch_dir.name, report)
    print(f"release: {args.out / 'release'}   secure: {args.out / 'secure'}")


def command_demo(args: argparse.Namespace) -> None:
    """`demo ROOT [--run]`: synthetic CD batches with fake PHI, anonymized if asked."""
    from anon_pipeline.synthetic.cds import write_demo_batches  # never at the hospital

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
    key = require_key(args, root.key_file)
    for batch in sorted(path for path in root.incoming.iterdir() if path.is_dir()):
        paths = BatchPaths.in_root(root, batch.name)
        report = run_anonymize(paths, args, key, root.reviewed_rules, root.released_index)
        print_batch(batch.name, report)
    print(f"\nreleased (not yet signed off): {root.release}\nsecure zone: {root.secure}")


def add_commands(commands: Any) -> None:
    """This group's subcommands, on the top-level parser's subparsers."""
    init = commands.add_parser(
        "init", help="create ROOT/incoming, secure (0700), release and a key"
    )
    init.add_argument("root", type=Path, metavar="ROOT")
    init.set_defaults(handler=command_init)

    blacklist = commands.add_parser("blacklist", help="stage 1 alone (offline, at the hospital)")
    blacklist.add_argument("input_dir", type=Path, metavar="INPUT_DIR", nargs="?")
    blacklist.add_argument("output_dir", type=Path, metavar="OUTPUT_DIR", nargs="?")
    blacklist.add_argument(
        "--self-test",
        action="store_true",
        help="check this install first: stage 1 on a synthetic CD it writes itself, with a "
        "throwaway key; the package verified as the server would (no CD, no key needed)",
    )
    blacklist.add_argument(
        "--records",
        type=Path,
        default=None,
        metavar="DIR",
        help="what stays at the hospital: the manifest with original paths, the removed "
        "values (default: OUTPUT_DIR.hospital)",
    )
    add_common(blacklist)
    add_scratch(blacklist)
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
    add_scratch(anonymize)
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
