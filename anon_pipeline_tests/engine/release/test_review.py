"""Review queue -> a reviewer's decision -> rerun: the attribute is kept or removed as
decided, the queue empties, and the whitelist's version records the change."""

import datetime as dt

import pydicom
import pytest
import yaml

from anon_pipeline.engine.batch.pipeline import BatchPaths, Policy, StepOptions, anonymize_batch
from anon_pipeline.engine.disk.layout import DataRoot
from anon_pipeline.engine.disk.tables import read_rows
from anon_pipeline.engine.release.review import pending_attributes, record_decision
from anon_pipeline.engine.rules.rule_set import SHIPPED_RULES_DIR, RuleError, load_rule_set
from anon_pipeline.synthetic.cds import fake_patient, write_cd_batch
from anon_pipeline_tests.conftest import TEST_KEY

WHITELIST = SHIPPED_RULES_DIR / "whitelist.yaml"


@pytest.fixture
def root(tmp_path, blacklist, whitelist) -> DataRoot:
    root = DataRoot(tmp_path / "root")
    for batch in ("cd_a", "cd_b"):
        write_cd_batch(root.incoming / batch, [fake_patient(len(batch))], series=1, slices=2)
        process(root, batch, blacklist, whitelist)
    return root


def process(root, batch, blacklist, whitelist):
    paths = BatchPaths.in_root(root, batch)
    anonymize_batch(paths, Policy(blacklist, whitelist, TEST_KEY), StepOptions(workers=1))
    return paths


def test_a_decision_flows_into_the_rerun_and_empties_the_queue(root, blacklist, whitelist):
    pending = {item.keyword: item for item in pending_attributes(root)}
    assert pending["ContrastBolusAgent"].batches == 2
    assert pending["ContrastBolusAgent"].samples == ["Omnipaque 350"]
    assert "RequestAttributesSequence" in pending

    record_decision(
        root.reviewed_rules, WHITELIST, "ContrastBolusAgent", "keep", "Anna K", "product names"
    )
    reviewed = record_decision(root.reviewed_rules, WHITELIST, "(0040,0275)", "remove", "Anna K")
    assert reviewed.version != whitelist.version
    assert {item.decided for item in pending_attributes(root, reviewed)} == {"keep", "remove"}

    for batch in ("cd_a", "cd_b"):
        paths = process(root, batch, blacklist, reviewed)
        assert read_rows(paths.review_queue) == []
        for output in paths.release_files.rglob("*.dcm"):
            dataset = pydicom.dcmread(output)
            assert dataset.ContrastBolusAgent == "Omnipaque 350"
            assert "RequestAttributesSequence" not in dataset
            assert reviewed.version in dataset.DeidentificationMethod
    assert pending_attributes(root, reviewed) == []


def test_every_decision_records_who_when_and_why(tmp_path):
    reviewed = tmp_path / "reviewed_rules.yaml"
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    record_decision(reviewed, WHITELIST, "ContrastBolusAgent", "keep", "Anna K", "product names")
    after = dt.datetime.now(dt.UTC)
    text = reviewed.read_text()
    assert "reviewer: Anna K" in text and "note: product names" in text
    decided = yaml.safe_load(text)["decisions"]["ContrastBolusAgent"]["decided_at"]
    assert before <= dt.datetime.fromisoformat(str(decided)) <= after
    assert load_rule_set(WHITELIST, reviewed=reviewed).decisions[0].name == "ContrastBolusAgent"


@pytest.mark.parametrize(
    ("name", "action", "reviewer", "message"),
    [
        ("PatientAge", "keep", "A", "already has a rule in whitelist.yaml"),
        ("PatientNmae", "keep", "A", "not a DICOM keyword"),
        ("ContrastBolusAgent", "hash_uid", "A", "needs VR UI"),
        ("ContrastBolusAgent", "scramble", "A", "action must be one of"),
        ("ContrastBolusAgent", "keep", " ", "reviewer"),
    ],
)
def test_a_bad_decision_changes_nothing(tmp_path, name, action, reviewer, message):
    reviewed = tmp_path / "reviewed_rules.yaml"
    record_decision(reviewed, WHITELIST, "ProtocolName", "remove", "A")
    before = reviewed.read_bytes()
    with pytest.raises((RuleError, ValueError), match=message) as error:
        record_decision(reviewed, WHITELIST, name, action, reviewer)
    assert ".staging-" not in str(error.value)
    assert reviewed.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["reviewed_rules.yaml"]


def test_queues_written_before_reasons_were_recorded_still_list(root):
    """A data root from before the kept-value checks: its queues have no reason column,
    alone or beside newer ones; their rows read as unlisted attributes."""
    import pyarrow.parquet as pq

    for batch in ("cd_a", "cd_b"):  # first beside a newer queue, then all of them old
        queue = BatchPaths.in_root(root, batch).review_queue
        pq.write_table(pq.read_table(queue).drop_columns(["reason"]), queue)
        pending = {item.keyword: item for item in pending_attributes(root)}
        assert pending["ContrastBolusAgent"].reasons == ("no rule",)
        assert pending["ContrastBolusAgent"].batches == 2
