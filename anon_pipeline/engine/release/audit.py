"""One DuckDB database in the secure zone over everything the pipeline recorded.

Views read the per-batch Parquet tables in place (manifests, hashed-UID maps,
review queues, inventories); small tables hold the rules in force, the reviewers'
decisions and the approvals. "Where did file X go", "which rule removed tag Y",
"who approved batch Z" are then single queries.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import yaml

from anon_pipeline.engine.disk.atomic import temporary_sibling
from anon_pipeline.engine.disk.folders import BatchSecureFolder, ReleaseFolder
from anon_pipeline.engine.disk.layout import DataRoot
from anon_pipeline.engine.rules.rule_set import RuleSet

BATCH_FROM_PATH = r"regexp_extract(filename, '(batches|release)/([^/]+)/', 2)"


# Every batch's folders as glob patterns, from the folders' own names.
EVERY_BATCH = BatchSecureFolder(Path("batches") / "*")
EVERY_RELEASE = ReleaseFolder(Path("*"))


def pattern_of(path: Path) -> str:
    return path.as_posix()


def audit_database_path(root: DataRoot) -> Path:
    return root.audit_database


def build_audit_database(root: DataRoot, rule_sets: list[RuleSet]) -> Path:
    """(Re)build secure/audit.duckdb; returns its path. Views see later batches as they land."""
    path = audit_database_path(root)
    with temporary_sibling(path) as temporary, duckdb.connect(str(temporary)) as connection:
        for name, (folder, pattern) in {
            "manifests": (root.secure, pattern_of(EVERY_BATCH.stage2.manifest)),
            "uid_maps": (root.secure, pattern_of(EVERY_BATCH.uid_map)),
            "review_queues": (root.secure, pattern_of(EVERY_BATCH.review_queue)),
            "inventories": (root.release, pattern_of(EVERY_RELEASE.inventory)),
        }.items():
            if any(folder.glob(pattern)):  # a view over a glob that matches nothing fails
                connection.execute(
                    f"CREATE VIEW {name} AS SELECT {BATCH_FROM_PATH} AS batch, * EXCLUDE (filename)"
                    f" FROM read_parquet('{folder / pattern}', filename = true,"
                    " union_by_name = true)"  # batches written by older versions lack columns
                )
        create_table(connection, "rules", RULE_COLUMNS, rule_rows(rule_sets))
        create_table(connection, "decisions", DECISION_COLUMNS, decision_rows(root))
        create_table(connection, "approvals", APPROVAL_COLUMNS, approval_rows(root))
    return path


RULE_COLUMNS = ("rule_set", "version", "name", "vr", "action", "source", "line")
DECISION_COLUMNS = ("name", "action", "reviewer", "decided_at", "note")
APPROVAL_COLUMNS = (
    "batch",
    "reviewer",
    "approved_at",
    "operator",
    "whitelist_version",
    "fingerprint",
)


def create_table(
    connection: duckdb.DuckDBPyConnection, name: str, columns: tuple[str, ...], rows: list[tuple]
) -> None:
    connection.execute(f"CREATE TABLE {name} ({', '.join(f'{c} VARCHAR' for c in columns)})")
    if rows:
        placeholders = ", ".join("?" for _ in columns)
        connection.executemany(f"INSERT INTO {name} VALUES ({placeholders})", rows)


def rule_rows(rule_sets: list[RuleSet]) -> list[tuple]:
    rows = []
    for rule_set in rule_sets:
        unique = {
            id(rule): rule for rule in [*rule_set.by_keyword.values(), *rule_set.by_tag.values()]
        }
        for rule in unique.values():
            source = "reviewed" if rule in rule_set.decisions else rule_set.source
            rows.append(
                (
                    rule_set.name,
                    rule_set.version,
                    rule.name,
                    rule.vr,
                    rule.action.value,
                    source,
                    str(rule.line),
                )
            )
    return rows


def decision_rows(root: DataRoot) -> list[tuple]:
    if not root.reviewed_rules.exists():
        return []
    decided = (yaml.safe_load(root.reviewed_rules.read_text(encoding="utf-8")) or {}).get(
        "decisions"
    ) or {}
    return [
        (name, d["action"], d["reviewer"], str(d["decided_at"]), d.get("note") or "")
        for name, d in decided.items()
    ]


def approval_rows(root: DataRoot) -> list[tuple]:
    rows = []
    for approval_file in root.approvals_folder.records():
        approval = json.loads(approval_file.read_text())
        rows.append(tuple(str(approval[column]) for column in APPROVAL_COLUMNS))
    return rows


def run_query(path: Path, sql: str) -> tuple[list[str], list[tuple]]:
    """Column names and rows of a read-only query on the audit database."""
    with duckdb.connect(str(path), read_only=True) as connection:
        cursor = connection.execute(sql)
        return [column[0] for column in cursor.description], cursor.fetchall()
