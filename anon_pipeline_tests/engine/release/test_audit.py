"""The audit database: one DuckDB file over everything recorded, answering which file
went where, which rule or reviewer decided, and who approved; older batches included."""

import pyarrow.parquet as pq
import pytest

from anon_pipeline.engine.release.audit import build_audit_database, run_query
from anon_pipeline.engine.release.signoff import approve
from anon_pipeline.engine.rules.rule_set import SHIPPED_RULES_DIR, load_rule_set
from anon_pipeline_tests.engine.release.conftest import BATCH


@pytest.fixture
def root(signoff_root):
    """The batch ready for sign-off (conftest), by the name these tests give it."""
    return signoff_root


def test_the_audit_database_answers_the_three_questions(root, blacklist):
    approve(root, BATCH, "Anna")
    whitelist = load_rule_set(SHIPPED_RULES_DIR / "whitelist.yaml", reviewed=root.reviewed_rules)
    database = build_audit_database(root, [blacklist, whitelist])

    _, rows = run_query(
        database,
        "SELECT batch, disposition, output_name FROM manifests"
        " WHERE relative_path LIKE '%IM000001'",
    )
    [(batch, disposition, output_name)] = rows
    assert (batch, disposition) == (BATCH, "anonymized") and output_name.endswith(".dcm")

    _, rows = run_query(
        database, "SELECT rule_set, action, source FROM rules WHERE name = 'InstitutionName'"
    )
    assert ("blacklist", "remove", "blacklist.yaml") in rows
    _, rows = run_query(
        database,
        "SELECT r.action, d.reviewer FROM rules r JOIN decisions d USING (name)"
        " WHERE name = 'RequestAttributesSequence'",
    )
    assert rows == [("remove", "Anna")]

    _, rows = run_query(
        database, f"SELECT reviewer, operator FROM approvals WHERE batch = '{BATCH}'"
    )
    assert rows == [("Anna", "Olaf")]


def test_the_audit_database_reads_batches_written_by_an_older_version(root, blacklist):
    """Manifests of older versions lack newer columns (here: engine); views union by name."""
    current = root.secure_batch(BATCH) / "whitelisted" / "manifest.parquet"
    older = root.secure_batch("cd_older") / "whitelisted" / "manifest.parquet"
    older.parent.mkdir(parents=True)
    pq.write_table(pq.read_table(current).drop_columns(["engine"]), older)
    database = build_audit_database(root, [blacklist])
    _, rows = run_query(
        database,
        "SELECT batch, count(*), count(engine), count(output_name) FROM manifests"
        " GROUP BY batch ORDER BY 1",
    )
    files, processed = rows[1][1], rows[1][3]  # engine: set for every file a stage processed
    assert processed > 0
    assert rows == [("cd_older", files, 0, processed), (BATCH, files, processed, processed)]
