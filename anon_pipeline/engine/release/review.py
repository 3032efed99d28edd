"""The manual half of whitelisting: attributes no rule covers wait here for a person.

`pending_attributes` gathers every batch's review queue (secure zone, with sample
values: for the terminal only, never for Dagster). `record_decision` writes a
reviewer's rule into the reviewed-rules file layered over the shipped whitelist,
so the whitelist's version changes and the affected batches show as stale.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import yaml
from pydicom.datadict import keyword_for_tag

from anon_pipeline.engine.disk.atomic import temporary_sibling
from anon_pipeline.engine.disk.folders import REVIEW_QUEUE
from anon_pipeline.engine.disk.layout import SECURE_MODE, DataRoot
from anon_pipeline.engine.rules.rule_set import (
    DECIDABLE,
    TAG_PATTERN,
    RuleError,
    RuleSet,
    load_rule_set,
    parse_tag,
)
from anon_pipeline.engine.rules.transform import NO_RULE

HEADER = (
    "# Reviewers' decisions on attributes from the review queue, layered over the\n"
    "# shipped whitelist. Written by `anon-pipeline review decide`; every decision says\n"
    "# who decided, when and why. Changing this file changes the whitelist's version.\n"
)


@dataclass(frozen=True)
class PendingAttribute:
    """One attribute waiting for a decision, over all batches (holds sample values: PHI)."""

    tag: str
    keyword: str
    vr: str
    files: int
    batches: int
    samples: list[str]
    decided: str | None  # the recorded action if a decision exists but batches still wait
    reasons: tuple[str, ...] = (NO_RULE,)  # or why its kept values were refused


def pending_attributes(root: DataRoot, rule_set: RuleSet | None = None) -> list[PendingAttribute]:
    """Every attribute in any batch's review queue, most files first."""
    queues = sorted(root.secure.glob(f"batches/*/{REVIEW_QUEUE}"))
    if not queues:
        return []
    files = ", ".join(f"'{path}'" for path in queues)
    source = f"read_parquet([{files}], filename = true, union_by_name = true)"
    with duckdb.connect() as connection:
        columns = {
            row[0] for row in connection.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        }
        # Queues written before reasons were recorded hold unlisted attributes only.
        reason = "coalesce(reason, ?)" if "reason" in columns else "?"
        rows = connection.execute(
            f"""
            SELECT tag, keyword, vr, sum(files) AS files,
                   count(DISTINCT filename) AS batches,
                   list_sort(list_distinct(flatten(list(sample_values))))[1:3] AS samples,
                   list_sort(list_distinct(list({reason}))) AS reasons
            FROM {source}
            GROUP BY tag, keyword, vr ORDER BY files DESC, tag
            """,
            [NO_RULE],
        ).fetchall()
    decided = {rule.name: rule.action.value for rule in (rule_set.decisions if rule_set else ())}
    return [
        PendingAttribute(
            tag,
            keyword,
            vr,
            int(count),
            int(batches),
            list(samples or []),
            decided.get(keyword) or decided.get(tag),
            tuple(reasons),
        )
        for tag, keyword, vr, count, batches, samples, reasons in rows
    ]


def rule_name(tag_or_keyword: str) -> str:
    """The name a decision is recorded under: the keyword where the dictionary has one."""
    text = tag_or_keyword.strip()
    if TAG_PATTERN.match(text.upper()):
        keyword = keyword_for_tag(parse_tag(text.upper()))
        return keyword or text.upper()
    return text


def record_decision(
    reviewed_path: Path,
    whitelist_path: Path,
    tag_or_keyword: str,
    action: str,
    reviewer: str,
    note: str = "",
) -> RuleSet:
    """Add a decision; the new file is validated with the whitelist before it replaces the
    old one, so a bad decision (unknown attribute, action that does not fit) changes nothing."""
    if action not in DECIDABLE:
        raise ValueError(f"action must be one of {', '.join(DECIDABLE)}, not '{action}'")
    if not reviewer.strip():
        raise ValueError("a decision needs the reviewer's name (--reviewer)")
    reviewed_path = Path(reviewed_path)
    current = (
        yaml.safe_load(reviewed_path.read_text(encoding="utf-8"))
        if reviewed_path.exists()
        else None
    ) or {}
    decisions = dict(current.get("decisions") or {})
    decisions[rule_name(tag_or_keyword)] = {
        "action": action,
        "reviewer": reviewer.strip(),
        "decided_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "note": note,
    }
    text = HEADER + yaml.safe_dump({"decisions": decisions}, sort_keys=True, allow_unicode=True)
    reviewed_path.parent.mkdir(parents=True, exist_ok=True, mode=SECURE_MODE)
    with temporary_sibling(reviewed_path) as temporary:
        temporary.write_text(text, encoding="utf-8")
        try:
            return load_rule_set(whitelist_path, reviewed=temporary)
        except RuleError as error:  # name the real file, not the temporary one
            raise RuleError(str(error).replace(str(temporary), str(reviewed_path))) from None
