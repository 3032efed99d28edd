"""Review at the scale of 20,000 batches: a round shows the second person only what is
new, on one page, and signs off all of its batches at once.

A round covers a set of batches (by default every batch whose stage 2 finished and
that nobody approved). For each attribute it lists the released values never approved
before, with their flags, files and batches. Values the rules themselves produce
(pseudonyms, hashed UIDs, shifted dates, emptied or replaced values, the
de-identification marks) are counted per attribute, not listed: the automated checks
cover them and nobody can judge a hash by eye. Approving a round records its values
(who, when, which batches) in the secure zone, so no later round shows them again.

  secure/review/rounds/<round>.json        the round: batches, their fingerprints, values
  secure/review/<round>.html                the page (self-contained; values: secure only)
  secure/review/approved_values/<round>.parquet   what a reviewer approved, and for which batches
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from anon_pipeline.engine.disk.atomic import write_bytes_atomically
from anon_pipeline.engine.disk.folders import INVENTORY
from anon_pipeline.engine.disk.layout import BatchPaths, DataRoot
from anon_pipeline.engine.disk.tables import read_rows, write_columns
from anon_pipeline.engine.release.qc import ENGINE_WRITTEN, duplicates, flags_for
from anon_pipeline.engine.release.signoff import (
    SignOffRefused,
    approval_path,
    approve,
    batch_fingerprint,
    failed_checks,
)
from anon_pipeline.engine.release.withheld import held_pictures, withheld_counts
from anon_pipeline.engine.rules.rule_set import Action, RuleSet
from anon_pipeline.engine.rules.transform import NO_RULE

PRODUCING = frozenset(
    {Action.HASH_UID, Action.PSEUDONYMIZE, Action.SHIFT_DATE, Action.EMPTY, Action.REPLACE}
)
EMBED_IMAGES_BYTES = 20_000_000  # contact sheets embedded in the page up to this size
# Numbers and times cannot hold text (their VRs allow digits and a few signs): an
# attribute with more new ones than this (a position per slice...) is summarised.
NUMBER_VRS = frozenset({"DS", "IS", "TM", "US", "SS", "UL", "SL", "UV", "SV", "FL", "FD"})
MAX_LISTED_NUMBERS = 10
APPROVED_SCHEMA = pa.schema(
    [
        ("tag_path", pa.string()),
        ("vr", pa.string()),
        ("value", pa.string()),
        ("reviewer", pa.string()),
        ("approved_at", pa.string()),
        ("round", pa.string()),
        ("batches", pa.list_(pa.string())),
    ]
)


@dataclass
class NewValue:
    tag_path: str
    keyword_path: str
    vr: str
    value: str
    files: int
    batches: list[str]
    flags: list[str] = field(default_factory=list)


@dataclass
class Round:
    """One review round: what the page shows and what approving it signs."""

    round_id: str
    created_at: str
    batches: list[str]
    fingerprints: dict[str, str]
    new_values: list[NewValue]
    produced: list[dict[str, Any]]  # per attribute the rules fill: distinct values, files
    summarised: list[dict[str, Any]]  # per number attribute with many new values: a range
    queue: dict[str, list[dict[str, Any]]]  # per batch: attributes waiting for a decision
    checks: dict[str, dict[str, Any]]  # per batch: the per-file checks last recorded
    duplicates: dict[str, dict[str, int]]  # per batch: files other batches already hold
    # per batch: files not released, by disposition (reason, SOP class, device signature)
    withheld: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def command(self) -> str:
        return f'anon-pipeline review approve {self.round_id} --reviewer "NAME"'


def rounds_dir(root: DataRoot) -> Path:
    return root.review_rounds.rounds


def approved_dir(root: DataRoot) -> Path:
    return root.review_rounds.approved


def queue_cell(queued: str) -> str:
    """An open queue, and what it means for the sign-off: said where it is shown."""
    return (
        f"<span class=flag>{queued}</span><br>approving refuses this batch until these "
        "are decided (anon-pipeline review decide; a refused value, by a change of the "
        "rule file's value_terms or rule), and it is rerun"
    )


def pending_batches(root: DataRoot) -> list[str]:
    """Batches whose stage 2 finished (an inventory in release/) and nobody approved."""
    if not root.release.is_dir():
        return []
    return sorted(
        path.parent.name
        for path in root.release.glob(f"*/{INVENTORY}")
        if not approval_path(root, path.parent.name).exists()
    )


def is_produced(keyword_path: str, vr: str, value: str | None, whitelist: RuleSet) -> bool:
    """Whether a released value is one the rules themselves wrote."""
    keyword = keyword_path.rsplit(">", 1)[-1]
    if value is None or value == "" or vr == "UI" or keyword_path.split(">")[0] in ENGINE_WRITTEN:
        return True
    rule = whitelist.by_keyword.get(keyword)
    return rule is not None and rule.action in PRODUCING


def build_round(root: DataRoot, whitelist: RuleSet, batches: Iterable[str] | None = None) -> Round:
    """The round over `batches` (default: every pending batch), from their inventories."""
    chosen = sorted(batches) if batches is not None else pending_batches(root)
    paths = {batch: BatchPaths.in_root(root, batch) for batch in chosen}
    missing = [batch for batch, p in paths.items() if not p.inventory.exists()]
    if missing:
        raise FileNotFoundError(f"no inventory yet: {', '.join(missing)}")
    rows = grouped_values(root, [str(p.inventory) for p in paths.values()])
    new_values: list[NewValue] = []
    produced: dict[tuple[str, str], dict[str, int]] = {}
    for tag_path, keyword_path, vr, value, files, in_batches in rows:
        if is_produced(keyword_path, vr, value, whitelist):
            entry = produced.setdefault((keyword_path, vr), {"distinct": 0, "files": 0})
            entry["distinct"] += 1
            entry["files"] += int(files)
            continue
        flags = flags_for(vr, value, int(files), is_new=False)
        new_values.append(
            NewValue(tag_path, keyword_path, vr, value, int(files), list(in_batches), flags)
        )
    new_values, summarised = summarise_numbers(new_values)
    new_values.sort(key=lambda item: (not item.flags, item.keyword_path, item.value))
    checks = {}
    for batch, p in paths.items():
        record = json.loads(p.checks_record.read_text()) if p.checks_record.exists() else None
        checks[batch] = record["checks"] if record else {}
    return Round(
        round_id=dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3),
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        batches=chosen,
        fingerprints=fingerprints(paths),
        new_values=new_values,
        produced=[{"keyword_path": k, "vr": vr, **v} for (k, vr), v in sorted(produced.items())],
        summarised=summarised,
        queue={
            batch: [
                {
                    **{k: r[k] for k in ("tag", "keyword", "vr", "files", "sample_values")},
                    "reason": r.get("reason") or NO_RULE,  # older queues: unlisted only
                }
                for r in read_rows(p.review_queue)
            ]
            if p.review_queue.exists()
            else []
            for batch, p in paths.items()
        },
        checks=checks,
        duplicates=duplicates(root, chosen),
        withheld={batch: withheld_counts(p) for batch, p in paths.items()},
    )


def fingerprints(paths: dict[str, BatchPaths]) -> dict[str, str]:
    with duckdb.connect() as connection:
        return {batch: batch_fingerprint(p, connection) for batch, p in paths.items()}


def summarise_numbers(values: list[NewValue]) -> tuple[list[NewValue], list[dict[str, Any]]]:
    """Number attributes with many new values become one line each: how many, the
    smallest and largest text, and in how many files and batches."""
    by_attribute: dict[tuple[str, str], list[NewValue]] = {}
    for value in values:
        if value.vr in NUMBER_VRS:
            by_attribute.setdefault((value.keyword_path, value.vr), []).append(value)
    many = {key for key, items in by_attribute.items() if len(items) > MAX_LISTED_NUMBERS}
    listed = [v for v in values if (v.keyword_path, v.vr) not in many]
    summarised = []
    for keyword_path, vr in sorted(many):
        items = by_attribute[keyword_path, vr]
        texts = sorted(item.value for item in items)
        summarised.append(
            {
                "keyword_path": keyword_path,
                "vr": vr,
                "distinct": len(items),
                "files": sum(item.files for item in items),
                "first": texts[0],
                "last": texts[-1],
                "batches": len({batch for item in items for batch in item.batches}),
            }
        )
    return listed, summarised


def grouped_values(root: DataRoot, inventories: list[str]) -> list[tuple]:
    """Every distinct (tag path, VR, value) of the inventories with its files and batches,
    without the ones a reviewer approved in an earlier round."""
    approved = sorted(str(p) for p in approved_dir(root).glob("*.parquet"))
    with duckdb.connect() as connection:
        connection.execute(
            "CREATE TABLE current AS SELECT tag_path, keyword_path, vr, value, files, "
            "regexp_extract(filename, '([^/]+)/' || ? || '$', 1) AS batch "
            "FROM read_parquet(?, filename = true)",
            [INVENTORY, inventories],
        )
        unseen = "TRUE"
        if approved:
            connection.execute(
                "CREATE TABLE approved AS SELECT DISTINCT tag_path, vr, value FROM read_parquet(?)",
                [approved],
            )
            unseen = (
                "NOT EXISTS (SELECT 1 FROM approved a WHERE a.tag_path = c.tag_path "
                "AND a.vr = c.vr AND a.value IS NOT DISTINCT FROM c.value)"
            )
        return connection.execute(
            "SELECT tag_path, keyword_path, vr, value, sum(files), "
            "list(DISTINCT batch ORDER BY batch) "
            f"FROM current c WHERE {unseen} GROUP BY tag_path, keyword_path, vr, value "
            "ORDER BY keyword_path, value NULLS FIRST"
        ).fetchall()


def save_round(root: DataRoot, review: Round) -> Path:
    path = root.review_rounds.round_record(review.round_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomically(path, json.dumps(asdict(review), indent=1).encode())
    return path


def load_round(root: DataRoot, round_id: str) -> Round:
    path = root.review_rounds.round_record(round_id)
    if not path.exists():
        raise FileNotFoundError(f"no review round {round_id} (see {rounds_dir(root)})")
    data = json.loads(path.read_text())
    data["new_values"] = [NewValue(**value) for value in data["new_values"]]
    return Round(**data)


def write_page(root: DataRoot, review: Round) -> Path:
    """The round as one self-contained HTML file in the secure zone: no script, no font,
    no network; contact sheets embedded (or linked, when a round has too many)."""
    path = root.review_rounds.page(review.round_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomically(path, page_html(root, review).encode())
    return path


def page_html(root: DataRoot, review: Round) -> str:
    e = html.escape
    flagged = sum(1 for value in review.new_values if value.flags)
    value_rows = "".join(
        f"<tr class='{'flagged' if v.flags else ''}'><td>{e(v.keyword_path)}</td>"
        f"<td>{e(v.vr)}</td><td class='value'>{e(v.value)}</td><td>{v.files}</td>"
        f"<td>{e(', '.join(v.batches[:5]))}{' …' if len(v.batches) > 5 else ''}</td>"
        f"<td>{''.join(f'<span class=flag>{e(flag)}</span>' for flag in v.flags)}</td></tr>"
        for v in review.new_values
    )
    summary_rows = "".join(
        f"<tr><td>{e(s['keyword_path'])}</td><td>{e(s['vr'])}</td><td>{s['distinct']}</td>"
        f"<td class='value'>{e(s['first'])} … {e(s['last'])}</td><td>{s['files']}</td>"
        f"<td>{s['batches']}</td></tr>"
        for s in review.summarised
    )
    produced_rows = "".join(
        f"<tr><td>{e(p['keyword_path'])}</td><td>{e(p['vr'])}</td><td>{p['distinct']}</td>"
        f"<td>{p['files']}</td></tr>"
        for p in review.produced
    )
    batch_rows = []
    for batch in review.batches:
        checks = review.checks.get(batch) or {}
        failed = failed_checks(checks)
        state = (
            "<span class=flag>failed: " + e("; ".join(failed)) + "</span>"
            if failed
            else "passed"
            if checks
            else "not recorded yet (approving runs them)"
        )
        queue = ", ".join(
            (row["keyword"] or row["tag"])
            + ("" if row.get("reason", NO_RULE) == NO_RULE else f" ({row['reason']})")
            for row in review.queue.get(batch, [])
        )
        dups = sum(review.duplicates.get(batch, {}).values())
        batch_rows.append(
            f"<tr><td>{e(batch)}</td><td>{state}</td>"
            f"<td>{queue_cell(e(queue)) if queue else 'empty'}</td>"
            f"<td>{dups}</td></tr>"
        )
    return PAGE.format(
        round_id=e(review.round_id),
        created=e(review.created_at),
        batches=len(review.batches),
        new=len(review.new_values),
        flagged=flagged,
        values=value_rows or EMPTY_ROW,
        produced=produced_rows or EMPTY_ROW,
        batch_rows="".join(batch_rows),
        summaries=summary_rows or EMPTY_ROW,
        sheets=contact_sheets(root, review),
        withheld=withheld_section(root, review),
        command=e(review.command),
    )


def withheld_section(root: DataRoot, review: Round) -> str:
    """Per batch, the files not released by disposition, and the frames held for text."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(batch)}</td><td>{e(disposition)}</td><td>{files}</td></tr>"
        for batch in review.batches
        for disposition, files in review.withheld.get(batch, {}).items()
    )
    figures = "".join(
        f"<figure><img src='{uri}' alt='held frame'><figcaption>{e(batch)}: "
        f"{e(disposition)}<br>{e(device)}</figcaption></figure>"
        for batch in review.batches
        for disposition, device, uri in held_pictures(BatchPaths.in_root(root, batch))
    )
    return (
        "<table><tr><th>batch</th><th>disposition</th><th>files</th></tr>"
        f"{rows or EMPTY_ROW}</table>{figures}"
    )


def contact_sheets(root: DataRoot, review: Round) -> str:
    sheets = [(batch, BatchPaths.in_root(root, batch).contact_sheet) for batch in review.batches]
    sheets = [(batch, path) for batch, path in sheets if path.exists()]
    embed = sum(path.stat().st_size for _, path in sheets) <= EMBED_IMAGES_BYTES
    parts = []
    for batch, path in sheets:
        source = (
            "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
            if embed
            else path.as_uri()
        )
        parts.append(
            f"<figure><img src='{source}' alt='{html.escape(batch)}'>"
            f"<figcaption>{html.escape(batch)}</figcaption></figure>"
        )
    return "".join(parts) or "<p>No contact sheet yet.</p>"


def approve_round(
    root: DataRoot, round_id: str, reviewer: str, workers: int | None = 1
) -> tuple[list[str], dict[str, str]]:
    """Approve every batch of the round that is as the page showed it and passes the
    sign-off's conditions; record the round's values as approved for those batches.
    Returns (approved batches, refused batch -> why)."""
    review = load_round(root, round_id)
    approved, refused = [], {}
    with duckdb.connect() as connection:
        for batch in review.batches:
            try:
                approve(
                    root,
                    batch,
                    reviewer,
                    workers,
                    expected=review.fingerprints[batch],
                    connection=connection,
                )
            except SignOffRefused as error:
                refused[batch] = str(error)
                continue
            approved.append(batch)
    record_approved_values(root, review, reviewer.strip(), set(approved))
    return approved, refused


def record_approved_values(root: DataRoot, review: Round, reviewer: str, batches: set) -> None:
    """The round's values, for the batches approved: never shown again."""
    rows = [value for value in review.new_values if batches & set(value.batches)]
    if not rows:
        return
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    columns: dict[str, list[Any]] = {
        "tag_path": [v.tag_path for v in rows],
        "vr": [v.vr for v in rows],
        "value": [v.value for v in rows],
        "reviewer": [reviewer] * len(rows),
        "approved_at": [now] * len(rows),
        "round": [review.round_id] * len(rows),
        "batches": [sorted(batches & set(v.batches)) for v in rows],
    }
    path = root.review_rounds.approved_values(review.round_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_columns(path, columns, APPROVED_SCHEMA)


EMPTY_ROW = "<tr><td colspan=6>none</td></tr>"
PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Review round {round_id}</title>
<style>
body {{ font: 14px/1.4 sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }}
th {{ background: #eee; }}
tr.flagged td {{ background: #fff4d6; }}
.flag {{ background: #c62828; color: #fff; border-radius: 3px; padding: 0 5px; margin-right: 4px;
        white-space: nowrap; }}
.value {{ font-family: monospace; white-space: pre-wrap; }}
code {{ background: #f3f3f3; padding: 4px 8px; display: inline-block; }}
figure {{ display: inline-block; margin: 0 1em 1em 0; }} img {{ max-width: 480px; }}
</style></head><body>
<h1>Review round {round_id}</h1>
<p>Written {created} for {batches} batches. Secure zone only: this page shows released
values. {new} values were never approved before; {flagged} of them are flagged.</p>
<h2>New values, by attribute</h2>
<table><tr><th>attribute</th><th>VR</th><th>value</th><th>files</th><th>batches</th>
<th>flags</th></tr>{values}</table>
<h2>Numbers and times with many new values (summarised)</h2>
<p>Their VRs allow digits and a few signs only: no text can hide in them.</p>
<table><tr><th>attribute</th><th>VR</th><th>new values</th><th>range (as text)</th>
<th>files</th><th>batches</th></tr>{summaries}</table>
<h2>Values the rules produce (counted, not listed)</h2>
<p>Pseudonyms, hashed UIDs, shifted dates, emptied and replaced values, the
de-identification marks: the automated checks cover them.</p>
<table><tr><th>attribute</th><th>VR</th><th>distinct values</th><th>files</th></tr>
{produced}</table>
<h2>Batches: checks, review queue, duplicates</h2>
<table><tr><th>batch</th><th>automated checks</th><th>review queue</th>
<th>files other batches hold</th></tr>{batch_rows}</table>
<h2>Files not released: held for a person, or outside the release scope</h2>
<p>Held files wait for a decision (by device: the signature in the reason groups one
device's files); files outside the release scope are named by SOP class. Frames held
for text in their pixels are shown as read from the input.</p>
{withheld}
<h2>Contact sheets</h2>
{sheets}
<h2>To approve what this page shows</h2>
<p>As the second person (never the operator who ran the whitelisting):</p>
<p><code>{command}</code></p>
<p>A batch whose outputs changed after this page was written is refused by name.</p>
</body></html>
"""
