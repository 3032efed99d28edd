"""`anon-pipeline`: the command-line front of the engine, one module per command group
(`stages`, `review`, `release`) over what they share (`common`).

Stage 1 must run on an offline hospital computer without a Dagster server, so
every engine step is reachable from here. That computer has no DuckDB either: the
server's commands (review, qc, audit, approve, release) import what needs it when
run. Errors are one line that names the file and says what to do; no value from
before whitelisting is ever printed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from anon_pipeline.cli import release, review, stages
from anon_pipeline.cli.common import CliError
from anon_pipeline.engine.batch import PackageRefused
from anon_pipeline.engine.disk import OutputFolderError, PathTooLong


def build_parser() -> argparse.ArgumentParser:
    """Every group's subcommands under one `anon-pipeline` parser."""
    parser = argparse.ArgumentParser(
        prog="anon-pipeline",
        description="Two-stage DICOM anonymization: blacklist, whitelist, verify.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for group in (stages, review, release):
        group.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user errors are one line on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    command: Callable[[argparse.Namespace], None] = args.handler
    try:
        command(args)
    except (CliError, PackageRefused, PathTooLong) as error:
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
