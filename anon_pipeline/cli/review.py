"""The review commands: the queue of unknown attributes, review rounds with their page and
bulk sign-off, and the QC of unique values. Server only: what needs DuckDB is imported
when a command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from anon_pipeline.cli.common import (
    CliError,
    load_rules,
    root_from,
    settings_from,
)
from anon_pipeline.engine.disk import BatchPaths
from anon_pipeline.engine.rules.rule_set import (
    DECIDABLE,
    RuleError,
)
from anon_pipeline.engine.rules.transform import NO_RULE


def command_review_list(args: argparse.Namespace) -> None:
    """`review list`: what waits for a reviewer's decision, over all batches."""
    from anon_pipeline.engine.release.review import pending_attributes

    root = root_from(args)
    whitelist = load_rules(args, "whitelist", root.reviewed_rules)
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
        refused = [reason for reason in item.reasons if reason != NO_RULE]
        if refused:  # kept by a rule, but a value is not of its form: a rule-file change
            waiting += f"  [{'; '.join(refused)}: change its rule or value_terms]"
        print(
            f"{item.tag:<13} {(item.keyword or '(none)'):<34} {item.vr:<3} {item.files:>6} "
            f"{item.batches:>7}  {samples}{waiting}"
        )


def command_review_decide(args: argparse.Namespace) -> None:
    """`review decide TAG ACTION`: record a reviewer's rule for a queued attribute."""
    from anon_pipeline.engine.release.review import record_decision, rule_name

    root = root_from(args)
    whitelist_path = settings_from(args).rules_folder / "whitelist.yaml"
    try:
        rule_set = record_decision(
            root.reviewed_rules, whitelist_path, args.tag, args.action, args.reviewer, args.note
        )
    except (RuleError, ValueError) as error:
        raise CliError(str(error)) from None
    print(f"recorded: {rule_name(args.tag)} -> {args.action} by {args.reviewer.strip()}")
    print(f"whitelist version is now {rule_set.version}: rerun the batches that queued it")


def command_review_page(args: argparse.Namespace) -> None:
    """`review page [BATCH…]`: a review round's page of new values (secure zone)."""
    from anon_pipeline.engine.release.review_round import build_round, save_round, write_page

    root = root_from(args)
    whitelist = load_rules(args, "whitelist", root.reviewed_rules)
    try:
        review = build_round(root, whitelist, args.batches or None)
    except FileNotFoundError as error:
        raise CliError(str(error)) from None
    if not review.batches:
        raise CliError("no batch waits for a review: every processed batch is approved")
    save_round(root, review)
    page = write_page(root, review)
    flagged = sum(1 for value in review.new_values if value.flags)
    print(
        f"round {review.round_id}: {len(review.batches)} batches, "
        f"{len(review.new_values)} new values ({flagged} flagged)"
    )
    print(f"page (secure zone): {page}")
    print(f"then: {review.command}")


def command_review_approve(args: argparse.Namespace) -> None:
    """`review approve ROUND`: sign off every batch of a round as its page showed it."""
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
    """`qc BATCH…`: unique released values, flagged, and each batch's duplicates."""
    from anon_pipeline.engine.release.qc import duplicates, qc_values
    from anon_pipeline.engine.release.signoff import recorded_failures

    try:
        values = qc_values(root_from(args), args.batches)
    except FileNotFoundError as error:
        raise CliError(str(error)) from None
    for batch in args.batches:
        failed = recorded_failures(BatchPaths.in_root(root_from(args), batch))
        state = "not run yet" if failed is None else "; ".join(failed) or "passed"
        print(f"{batch}: automated checks {'failed: ' if failed else ''}{state}")
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


def add_commands(commands: Any) -> None:
    """This group's subcommands, on the top-level parser's subparsers."""
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
