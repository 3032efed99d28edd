"""Sign-off, release and audit. Server only: what needs DuckDB is imported when a command
runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from anon_pipeline.cli.common import (
    CliError,
    load_rules,
    root_from,
)
from anon_pipeline.engine.disk import default_workers

AUDIT_EXAMPLES = (
    "SELECT batch, disposition, output_name FROM manifests WHERE relative_path LIKE '%IM000001'",
    "SELECT rule_set, action, source, line FROM rules WHERE name = 'InstitutionName'",
    "SELECT reviewer, approved_at, operator FROM approvals WHERE batch = 'cd_001'",
)


def command_audit(args: argparse.Namespace) -> None:
    """`audit [SQL]`: (re)build the secure audit database, or run a query on it."""
    import duckdb

    from anon_pipeline.engine.release.audit import build_audit_database, run_query

    root = root_from(args)
    rule_sets = [
        load_rules(args, "blacklist"),
        load_rules(args, "whitelist", root.reviewed_rules),
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
    """`approve BATCH`: one batch's sign-off by a second person."""
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
    """`release BATCH`: hard-link an approved batch into released/."""
    from anon_pipeline.engine.release.signoff import SignOffRefused, release_batch

    root = root_from(args)
    try:
        audit = release_batch(root, args.batch)
    except SignOffRefused as error:
        raise CliError(f"release refused: {error}") from None
    print(f"{args.batch}: released to {root.released / args.batch} ({audit['outcomes']})")


def add_commands(commands: Any) -> None:
    """This group's subcommands, on the top-level parser's subparsers."""
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
