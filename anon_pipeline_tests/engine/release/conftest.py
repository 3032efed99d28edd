"""A processed batch ready for sign-off, shared by the sign-off and audit tests."""

import pytest

from anon_pipeline.engine.batch.pipeline import Policy, StepOptions, anonymize_batch
from anon_pipeline.engine.disk.layout import BatchPaths, DataRoot
from anon_pipeline.engine.release.review import record_decision
from anon_pipeline.engine.rules.rule_set import SHIPPED_RULES_DIR, load_rule_set
from anon_pipeline.synthetic.cds import fake_patient, write_cd_batch
from anon_pipeline_tests.conftest import TEST_KEY

BATCH = "cd_signoff"


def process(root, blacklist, whitelist):
    paths = BatchPaths.in_root(root, BATCH)
    anonymize_batch(
        paths, Policy(blacklist, whitelist, TEST_KEY), StepOptions(workers=1), operator="Olaf"
    )
    return paths


@pytest.fixture
def signoff_root(tmp_path, blacklist) -> DataRoot:
    """A processed batch whose queued attributes have been decided and rerun."""
    root = DataRoot(tmp_path / "root")
    patient = fake_patient(9)
    write_cd_batch(root.incoming / BATCH, [patient], series=1, slices=2)
    whitelist_path = SHIPPED_RULES_DIR / "whitelist.yaml"
    record_decision(root.reviewed_rules, whitelist_path, "ContrastBolusAgent", "keep", "Anna")
    record_decision(
        root.reviewed_rules, whitelist_path, "RequestAttributesSequence", "remove", "Anna"
    )
    process(root, blacklist, load_rule_set(whitelist_path, reviewed=root.reviewed_rules))
    return root
