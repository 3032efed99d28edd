"""`anon-pipeline`: the command-line front of the engine.

Stage 1 must run on an offline hospital computer without a Dagster server, so
every engine step is reachable from here. That computer has no DuckDB either: the
server's commands (review, qc, audit, approve, release) import what needs it when
run. Errors are one line that names the file and says what to do; no value from
before whitelisting is ever printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm import tqdm

from anon_pipeline.engine.batch.package import PackageRefused
from anon_pipeline.engine.batch.pipeline import (
    BatchPaths,
    BatchReport,
    anonymize_batch,
    blacklist_folder,
    whitelist_folder,
)
from anon_pipeline.engine.disk.atomic import OutputFolderError
from anon_pipeline.engine.disk.keys import KEY_ENV_VAR, KeyFileError, load_key
from anon_pipeline.engine.disk.layout import DataRoot, init_root
from anon_pipeline.engine.disk.parallel import default_workers
from anon_pipeline.engine.disk.scratch import Scratch
from anon_pipeline.engine.files import stage
from anon_pipeline.engine.files.stage import StageReport
from anon_pipeline.engine.rules.rule_set import (
    DECIDABLE,
    SHIPPED_RULES_DIR,
    RuleError,
    RuleSet,
    load_rule_set,
)
from anon_pipeline.synthetic.cds import write_demo_batches


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


def load_rules(rules_dir: Path | None, name: str, reviewed: Path | None = None) -> RuleSet:
    path = (rules_dir or SHIPPED_RULES_DIR) / f"{name}.yaml"
    try:
        return load_rule_set(path, reviewed=reviewed if name == "whitelist" else None)
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
    nothing_new = stage.nothing_new(report.outcomes, report.reasons)
    if nothing_new:
        print(f"    {nothing_new}")


def command_init(args: argparse.Namespace) -> None:
    try:
        root = init_root(args.root)
    except KeyFileError as error:
        raise CliError(str(error)) from None
    print(f"created {root.incoming}, {root.secure} (0700), {root.release}")
    print(f"new key: {root.key_file} (0600); export {KEY_ENV_VAR}={root.key_file}")


def command_blacklist(args: argparse.Namespace) -> None:
    records = args.records or args.output_dir.with_name(args.output_dir.name + ".hospital")
    report = blacklist_folder(
        require_folder(args.input_dir, "INPUT_DIR"),
        args.output_dir,
        records,
        rule_set=load_rules(args.rules_dir, "blacklist"),
        key=require_key(args.key_file),
        workers=args.workers,
        progress=ProgressBars(not args.quiet),
        scratch=scratch_from(args),
        log=note,
    )
    print_stage(report, args.output_dir)
    print(f"stage-1 package (carry it to the server's incoming/ as it is): {args.output_dir}")
    print(f"hospital records (original paths, removed values: they stay here): {records}")


def command_whitelist(args: argparse.Namespace) -> None:
    secure_dir = args.secure_dir or args.output_dir.with_name(args.output_dir.name + ".secure")
    report = whitelist_folder(
        require_folder(args.input_dir, "INPUT_DIR"),
        args.output_dir,
        secure_dir,
        rule_set=load_rules(args.rules_dir, "whitelist", args.reviewed_rules),
        key=require_key(args.key_file),
        workers=args.workers,
        progress=ProgressBars(not args.quiet),
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
    return anonymize_batch(
        paths,
        blacklist=load_rules(args.rules_dir, "blacklist"),
        whitelist=load_rules(args.rules_dir, "whitelist", reviewed or args.reviewed_rules),
        key=key,
        workers=args.workers,
        progress=ProgressBars(not args.quiet),
        scratch=scratch_from(args),
        log=note,
        index=index,
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
        paths = BatchPaths.in_root(root, batch.name)
        report = run_anonymize(paths, args, key, root.reviewed_rules, root.released_index)
        print_batch(batch.name, report)
    print(f"\nreleased (not yet signed off): {root.release}\nsecure zone: {root.secure}")


def root_from(args: argparse.Namespace) -> DataRoot:
    return DataRoot(Path(args.root or os.environ.get("ANON_PIPELINE_ROOT") or "data"))


def command_review_list(args: argparse.Namespace) -> None:
    from anon_pipeline.engine.release.review import pending_attributes

    root = root_from(args)
    whitelist = load_rules(args.rules_dir, "whitelist", root.reviewed_rules)
    pending = pending_attributes(root, whitelist)
    if not pending:
        print("review queue: empty")
        return
    # Sample values are from before whitelisting: printed here, in the secure terminal,
    # and never sent to Dagster or a log.
    print(f"{'tag':<13} {'keyword':<34} {'VR':<3} {'files':>6} {'batches':>7}  samples")
    for item in pending:
        samples = " | ".join(item.samples) or "-"
        waiting = f"  [decided: {item.decided}; rerun pending]" if item.decided else ""
        print(
            f"{item.tag:<13} {(item.keyword or '(none)'):<34} {item.vr:<3} {item.files:>6} "
            f"{item.batches:>7}  {samples}{waiting}"
        )


def command_review_decide(args: argparse.Namespace) -> None:
    from anon_pipeline.engine.release.review import record_decision, rule_name

    root = root_from(args)
    whitelist_path = (args.rules_dir or SHIPPED_RULES_DIR) / "whitelist.yaml"
    try:
        rule_set = record_decision(
            root.reviewed_rules, whitelist_path, args.tag, args.action, args.reviewer, args.note
        )
    except (RuleError, ValueError) as error:
        raise CliError(str(error)) from None
    print(f"recorded: {rule_name(args.tag)} -> {args.action} by {args.reviewer.strip()}")
    print(f"whitelist version is now {rule_set.version}: rerun the batches that queued it")


def command_review_page(args: argparse.Namespace) -> None:
    from anon_pipeline.engine.release.review_round import build_round, save_round, write_page

    root = root_from(args)
    whitelist = load_rules(args.rules_dir, "whitelist", root.reviewed_rules)
    try:
        review = build_round(root, whitelist, args.batches or None)
    except FileNotFoundError as error:
        raise CliError(str(error)) from None
    if not review.batches:
        raise CliError("no batch waits for a review: every processed batch is approved")
    save_round(root, review)
    page = write_page(root, review)
    flagged = sum(1 for value in review.new_values if value.flags)
    print(f"round {review.round_id}: {len(review.batches)} batches, "
          f"{len(review.new_values)} new values ({flagged} flagged)")  # fmt: skip
    print(f"page (secure zone): {page}")
    print(f"then: {review.command}")


def command_review_approve(args: argparse.Namespace) -> None:
    from anon_pipeline.engine.release.review_round import approve_round

    root = root_from(args)
    try:
        approved, refused = approve_round(root, args.round_id, args.reviewer, args.workers)
    except FileNotFoundError as error:
        raise CliError(str(error)) from None
    print(f"approved by {args.reviewer.strip()}: {len(approved)} batches")
    for batch, reason in refused.items():
        print(f"refused: {batch}: {reason}", file=sys.stderr)
    if refused:
        raise CliError(f"{len(refused)} batches of the round were not approved (above)")


def command_qc(args: argparse.Namespace) -> None:
    from anon_pipeline.engine.release.qc import duplicates, qc_values

    try:
        values = qc_values(root_from(args), args.batches)
    except FileNotFoundError as error:
        raise CliError(str(error)) from None
    for batch, found in duplicates(root_from(args), args.batches).items():
        print(f"{batch}: {sum(found.values())} file(s) other batches already hold")
        for disposition, count in found.items():
            print(f"    {count:5d}  {disposition}")
    flagged = [value for value in values if value.flags]
    shown = values if args.all else flagged
    print(f"{len(values)} distinct values in {', '.join(args.batches)}; {len(flagged)} need a look")
    print(f"{'attribute':<52} {'VR':<3} {'files':>5}  {'value':<40} flags")
    for item in shown:
        value = "(binary)" if item.value is None else item.value[:40]
        flags = ", ".join(item.flags)
        print(f"{item.keyword_path[:52]:<52} {item.vr:<3} {item.files:>5}  {value:<40} {flags}")


AUDIT_EXAMPLES = (
    "SELECT batch, disposition, output_name FROM manifests WHERE relative_path LIKE '%IM000001'",
    "SELECT rule_set, action, source, line FROM rules WHERE name = 'InstitutionName'",
    "SELECT reviewer, approved_at, operator FROM approvals WHERE batch = 'cd_001'",
)


def command_audit(args: argparse.Namespace) -> None:
    import duckdb

    from anon_pipeline.engine.release.audit import build_audit_database, run_query

    root = root_from(args)
    rule_sets = [
        load_rules(args.rules_dir, "blacklist"),
        load_rules(args.rules_dir, "whitelist", root.reviewed_rules),
    ]
    path = build_audit_database(root, rule_sets)
    if not args.sql:
        print(f"audit database: {path}  (secure zone: manifests hold original paths)")
        print(
            "tables: manifests, uid_maps, review_queues, inventories, rules, decisions, approvals"
        )
        print("for example:\n  " + "\n  ".join(AUDIT_EXAMPLES))
        return
    try:
        columns, rows = run_query(path, args.sql)
    except duckdb.Error as error:
        raise CliError(f"query failed: {error}") from None
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join("" if value is None else str(value) for value in row))


def command_approve(args: argparse.Namespace) -> None:
    from anon_pipeline.engine.release.signoff import SignOffRefused, approve

    try:
        approval = approve(root_from(args), args.batch, args.reviewer, workers=args.workers)
    except SignOffRefused as error:
        raise CliError(f"approval refused: {error}") from None
    print(
        f"{args.batch}: approved by {approval['reviewer']} (whitelisted by {approval['operator']})"
    )
    print(f"fingerprint {approval['fingerprint'][:16]}: a rerun that changes the outputs voids it")


def command_release(args: argparse.Namespace) -> None:
    from anon_pipeline.engine.release.signoff import SignOffRefused, release_batch

    root = root_from(args)
    try:
        audit = release_batch(root, args.batch)
    except SignOffRefused as error:
        raise CliError(f"release refused: {error}") from None
    print(f"{args.batch}: released to {root.released / args.batch} ({audit['outcomes']})")


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
    if getattr(args, "scratch", None) is None:
        if getattr(args, "scratch_bytes", 0):
            raise CliError("--scratch-bytes needs --scratch (the folder to stage batches in)")
        return None
    if not args.scratch_bytes:
        raise CliError("--scratch needs --scratch-bytes (the most the staged batches may use)")
    return Scratch(args.scratch, args.scratch_bytes)


def note(message: str) -> None:
    print(message, file=sys.stderr)


def add_scratch(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scratch", type=Path, default=None, metavar="DIR",
        help="fast local folder: the batch is copied there, read from there, removed after",
    )  # fmt: skip
    parser.add_argument(
        "--scratch-bytes", type=byte_size, default=0, metavar="SIZE",
        help="byte budget of --scratch shared by all runs (e.g. 200G); larger batches stay put",
    )  # fmt: skip


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
    parser.add_argument(
        "--reviewed-rules", type=Path, default=None, help="reviewers' decisions over the whitelist"
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
    blacklist.add_argument(
        "--records", type=Path, default=None, metavar="DIR",
        help="what stays at the hospital: the manifest with original paths, the removed "
        "values (default: OUTPUT_DIR.hospital)",
    )  # fmt: skip
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

    review = commands.add_parser(
        "review", help="attributes no rule covers: list them, decide on them"
    )
    review_commands = review.add_subparsers(dest="review_command", required=True)
    listing = review_commands.add_parser("list", help="what waits for a decision, over all batches")
    decide = review_commands.add_parser("decide", help="record a rule for a queued attribute")
    decide.add_argument("tag", metavar="TAG", help="keyword or (gggg,eeee)")
    decide.add_argument("action", metavar="ACTION", choices=DECIDABLE, help=" | ".join(DECIDABLE))
    decide.add_argument("--reviewer", required=True, help="who decides (recorded)")
    decide.add_argument("--note", default="", help="why (recorded)")
    page = review_commands.add_parser(
        "page", help="a review round: what is new in the batches, on one page (secure zone)"
    )
    page.add_argument("batches", nargs="*", metavar="BATCH", help="default: every unapproved one")
    bulk = review_commands.add_parser(
        "approve", help="sign off every batch of a round, as its page showed it"
    )
    bulk.add_argument("round_id", metavar="ROUND")
    bulk.add_argument("--reviewer", required=True, help="the second person (never the operator)")
    bulk.add_argument("--workers", type=int, default=None, help="for checks that must run again")
    for sub, handler in (
        (listing, command_review_list),
        (decide, command_review_decide),
        (page, command_review_page),
        (bulk, command_review_approve),
    ):
        sub.add_argument(
            "--root",
            type=Path,
            default=None,
            help="data root (default: $ANON_PIPELINE_ROOT or ./data)",
        )
        sub.add_argument("--rules-dir", type=Path, default=None, help="folder with whitelist.yaml")
        sub.set_defaults(handler=handler)
    qc = commands.add_parser("qc", help="unique values of released attributes, flagged for review")
    qc.add_argument("batches", nargs="+", metavar="BATCH")
    qc.add_argument("--all", action="store_true", help="every value, not only the flagged ones")
    qc.add_argument(
        "--root", type=Path, default=None, help="data root (default: $ANON_PIPELINE_ROOT or ./data)"
    )
    qc.set_defaults(handler=command_qc)

    audit = commands.add_parser(
        "audit", help="one DuckDB database over everything recorded; query it"
    )
    audit.add_argument(
        "sql", nargs="?", default=None, metavar="SQL", help="a query to run (read-only)"
    )
    audit.add_argument(
        "--root", type=Path, default=None, help="data root (default: $ANON_PIPELINE_ROOT or ./data)"
    )
    audit.add_argument("--rules-dir", type=Path, default=None, help="folder with the rule files")
    audit.set_defaults(handler=command_audit)

    approve_parser = commands.add_parser(
        "approve", help="sign a batch off (a second person; checks rerun; queue must be empty)"
    )
    approve_parser.add_argument("batch", metavar="BATCH")
    approve_parser.add_argument("--reviewer", required=True, help="who approves (not the operator)")
    approve_parser.add_argument("--workers", type=int, default=default_workers())
    approve_parser.set_defaults(handler=command_approve)
    release_parser = commands.add_parser(
        "release", help="hard-link an approved batch into released/"
    )
    release_parser.add_argument("batch", metavar="BATCH")
    release_parser.set_defaults(handler=command_release)
    for sub in (approve_parser, release_parser):
        sub.add_argument(
            "--root",
            type=Path,
            default=None,
            help="data root (default: $ANON_PIPELINE_ROOT or ./data)",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command: Callable[[argparse.Namespace], None] = args.handler
    try:
        command(args)
    except (CliError, PackageRefused) as error:
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
