"""Sign-off and release: nothing leaves before a second person has approved it.

An approval is bound to a fingerprint of the batch's outputs and inventory, so a
rerun that changes a single byte makes it invalid. It is refused when the
approver ran the whitelisting, when an automated check fails, or when an
attribute still waits for a decision.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb

from anon_pipeline.engine.batch.released_index import AlreadyReleased, record_release
from anon_pipeline.engine.disk.atomic import staged_directory, write_bytes_atomically
from anon_pipeline.engine.disk.folders import APPROVAL_SUFFIX, ReleasedFolder
from anon_pipeline.engine.disk.layout import BatchPaths, DataRoot
from anon_pipeline.engine.disk.tables import read_rows
from anon_pipeline.engine.files.outcomes import Disposition
from anon_pipeline.engine.release.verification import (
    MAX_LISTED,
    OutputChecks,
    check_accounted,
    check_outputs,
)


class SignOffRefused(Exception):
    """An approval or a release that must not happen; the message says why (PHI-free)."""


def batch_fingerprint(paths: BatchPaths, connection: Any = None) -> str:
    """SHA-256 over every output's name and content hash and every inventory row. Pass a
    DuckDB connection when fingerprinting many batches: opening one costs more than this."""
    digest = hashlib.sha256()
    for row in sorted(read_rows(paths.manifest), key=lambda row: row["row"]):
        digest.update(
            f"{row['row']}\0{row['disposition']}\0{row['output_name']}\0{row['output_hash']}\n".encode()
        )
    with contextlib.ExitStack() as stack:
        if connection is None:
            connection = stack.enter_context(duckdb.connect())
        query = "SELECT * FROM read_parquet(?) ORDER BY ALL"
        for row in connection.execute(query, [str(paths.inventory)]).fetchall():
            digest.update(json.dumps(row, default=str).encode())
    return digest.hexdigest()


def release_state(paths: BatchPaths) -> str:
    """SHA-256 over every released file's name, size, modification time (ns) and inode:
    a `stat` each, no read. A file rewritten changes its time, a file replaced its inode."""
    entries = []
    for folder, _, names in os.walk(paths.release_dir):
        for name in names:
            path = os.path.join(folder, name)
            info = os.stat(path, follow_symlinks=False)
            relative = os.path.relpath(path, paths.release_dir)
            entries.append(f"{relative}\0{info.st_size}\0{info.st_mtime_ns}\0{info.st_ino}\n")
    return hashlib.sha256("".join(sorted(entries)).encode()).hexdigest()


def record_checks(paths: BatchPaths, checks: OutputChecks, state: str) -> dict[str, Any]:
    """Keep what the per-file checks found, with the outputs they read: their fingerprint
    and `state`, the release folder's state taken before they began reading."""
    record = {
        "checked_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "fingerprint": batch_fingerprint(paths),
        "state": state,
        "checks": {
            name: {
                "checked": f.checked,
                "passed": f.passed,
                "failed": len(f.failed),
                # where each failure bit: hashed file names, keyword paths, kinds of value
                "examples": f.failed[:MAX_LISTED],
                **({"searched_at": f.searched_at} if f.searched_at else {}),
            }
            for name, f in vars(checks).items()
        },
    }
    write_bytes_atomically(paths.checks_record, json.dumps(record, indent=2).encode())
    return record


def failed_checks(checks: dict[str, dict[str, Any]]) -> list[str]:
    """Each failed check by name with where it bit first (PHI-free): what the refusal,
    `qc` and the review page say."""
    return [
        name + (f" ({check['examples'][0]})" if check.get("examples") else "")
        for name, check in sorted(checks.items())
        if not check["passed"]
    ]


def recorded_failures(paths: BatchPaths) -> list[str] | None:
    """The failed checks the last run recorded for a batch; None if none is recorded."""
    if not paths.checks_record.exists():
        return None
    return failed_checks(json.loads(paths.checks_record.read_text())["checks"])


def run_checks(paths: BatchPaths, workers: int | None = 1) -> dict[str, dict[str, Any]]:
    """Every per-file check, reading every released file; recorded for later reuse."""
    state = release_state(paths)
    return record_checks(paths, check_outputs(paths, workers), state)["checks"]


def reusable_checks(
    paths: BatchPaths, fingerprint: str | None = None
) -> dict[str, dict[str, Any]] | None:
    """The recorded checks, if they all passed on these very outputs: the manifest and the
    inventory have the fingerprint the checks saw, and every released file the size, time
    and inode it had when they began. Sound against any rerun or rewrite; not against
    someone who restores a file's old time by hand on the secure server."""
    if not paths.checks_record.exists():
        return None
    record = json.loads(paths.checks_record.read_text())
    if not all(check["passed"] for check in record["checks"].values()):
        return None
    if record["fingerprint"] != (fingerprint or batch_fingerprint(paths)):
        return None
    if record["state"] != release_state(paths):
        return None
    return record["checks"]


def approval_path(root: DataRoot, batch: str) -> Path:
    return root.approvals_folder.approval(batch)


def approvals_written_since(root: DataRoot, since: float | None) -> list[tuple[str, str]]:
    """(batch, fingerprint) of the approvals written at or after `since` (every one when
    None), by batch: what the release sensor reads, so that a look costs a `stat` per
    approval ever made and a read only for the new ones."""
    if not root.approvals.is_dir():
        return []
    with os.scandir(root.approvals) as entries:
        names = sorted(
            entry.name
            for entry in entries
            if entry.name.endswith(APPROVAL_SUFFIX)
            and entry.is_file(follow_symlinks=False)
            and (since is None or entry.stat(follow_symlinks=False).st_mtime >= since)
        )
    found = []
    for name in names:
        try:
            approval = json.loads((root.approvals / name).read_text())
        except (OSError, ValueError):  # being replaced, or not an approval: the next look
            continue
        found.append((name.removesuffix(APPROVAL_SUFFIX), str(approval.get("fingerprint", ""))))
    return found


def approve(
    root: DataRoot,
    batch: str,
    reviewer: str,
    workers: int | None = 1,
    expected: str | None = None,
    connection: Any = None,
) -> dict[str, Any]:
    """Check everything again, independently (or reuse the checks that passed on these
    very outputs), and record the approval; or refuse. With `expected`, the outputs must
    still have that fingerprint (what a review page showed)."""
    paths = BatchPaths.in_root(root, batch)
    reviewer = reviewer.strip()
    if not reviewer:
        raise SignOffRefused("an approval needs the reviewer's name (--reviewer)")
    if (
        not paths.run_record.exists()
        or not paths.inventory.exists()
        or not paths.review_queue.exists()
    ):
        raise SignOffRefused(
            f"{batch}: not fully processed yet (whitelisted files, inventory, review queue)"
        )
    run = json.loads(paths.run_record.read_text())
    if reviewer.casefold() == str(run["operator"]).casefold():
        raise SignOffRefused(
            f"{batch}: {run['operator']} ran the whitelisting; "
            "the approval must come from a second person"
        )
    queued = read_rows(paths.review_queue)
    if queued:
        keywords = ", ".join(sorted(row["keyword"] or row["tag"] for row in queued))
        raise SignOffRefused(f"{batch}: {len(queued)} attribute(s) wait for a decision: {keywords}")
    fingerprint = batch_fingerprint(paths, connection)
    if expected is not None and fingerprint != expected:
        raise SignOffRefused(f"{batch}: its outputs changed since the page was written")
    reused = reusable_checks(paths, fingerprint)
    checks = reused or run_checks(paths, workers)
    accounted = check_accounted(paths)
    checks["accounted_for"] = {"checked": accounted.checked, "passed": accounted.passed}
    failed = failed_checks(checks)
    if failed:
        raise SignOffRefused(f"{batch}: automated checks failed: {'; '.join(failed)}")
    approval = {
        "batch": batch,
        "reviewer": reviewer,
        "approved_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "operator": run["operator"],
        "whitelisted_at": run["finished_at"],
        "whitelist_version": run["whitelist_version"],
        "fingerprint": fingerprint,
        "checks": {
            name: {"checked": c["checked"], "passed": c["passed"]} for name, c in checks.items()
        },
        "checks_reused": reused is not None,  # passed on these very outputs (reusable_checks)
    }
    root.approvals.mkdir(parents=True, exist_ok=True)
    write_bytes_atomically(approval_path(root, batch), json.dumps(approval, indent=2).encode())
    return approval


def valid_approval(root: DataRoot, batch: str) -> dict[str, Any]:
    """The batch's approval if it still matches the outputs; refuse otherwise."""
    path = approval_path(root, batch)
    if not path.exists():
        raise SignOffRefused(
            f"{batch}: not approved; run `anon-pipeline approve {batch} --reviewer NAME`"
        )
    approval = json.loads(path.read_text())
    if approval["fingerprint"] != batch_fingerprint(BatchPaths.in_root(root, batch)):
        raise SignOffRefused(
            f"{batch}: the outputs changed after the approval (a rerun?); approve again"
        )
    return approval


def release_batch(root: DataRoot, batch: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """Hard-link an approved batch into released/<batch>/ with its PHI-free audit log."""
    approval = valid_approval(root, batch)
    paths = BatchPaths.in_root(root, batch)
    manifest = read_rows(paths.manifest)
    released = [
        (row["output_name"], row["output_hash"])
        for row in manifest
        if row["outcome"] == "anonymized"
    ]
    # The last guard, before any file moves: the index's unique key refuses an instance
    # another batch released, even one that raced past the early check. Recorded first,
    # so a crash before the swap below leaves instances claimed, not released twice; a
    # retry replaces this batch's own rows.
    try:
        record_release(root.released_index, batch, released)
    except AlreadyReleased as error:
        raise SignOffRefused(str(error)) from None
    with staged_directory(root.released / batch) as staging:
        released_folder = ReleasedFolder(staging)
        link_tree(paths.release_files, released_folder.files)
        link_tree(paths.inventory, released_folder.inventory)
        audit = {
            "batch": batch,
            "released_at": (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
            "approved_by": approval["reviewer"],
            "approved_at": approval["approved_at"],
            "whitelisted_by": approval["operator"],
            "whitelisted_at": approval["whitelisted_at"],
            "whitelist_version": approval["whitelist_version"],
            "fingerprint": approval["fingerprint"],
            "checks": approval["checks"],
            "files_in": len(manifest),
            "files_released": len(released),
            "outcomes": dict(Counter(row["outcome"] for row in manifest)),
            "dispositions": dict(Counter(Disposition.from_row(row).summary for row in manifest)),
        }
        write_bytes_atomically(released_folder.audit, json.dumps(audit, indent=2).encode())
    return audit


def link_tree(source: Path, target: Path) -> None:
    """Hard links where the file system allows them (no second copy), copies elsewhere."""
    if source.is_file():
        link_or_copy(source, target)
        return
    for path in sorted(source.rglob("*")):
        if path.is_file():
            link_or_copy(path, target / path.relative_to(source))


def link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(source, target)
