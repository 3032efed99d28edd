"""Review rounds: only what is new, on one self-contained page, signed off in bulk and
still bound to each batch's outputs."""

import json
import os
import shutil
from pathlib import Path

import pydicom
import pytest

from anon_pipeline.cli import main
from anon_pipeline.engine.batch.pipeline import BatchPaths
from anon_pipeline.engine.disk.layout import DataRoot
from anon_pipeline.engine.disk.tables import read_rows
from anon_pipeline.engine.release.review_round import approve_round, build_round, save_round
from anon_pipeline.engine.release.signoff import approve, run_checks
from anon_pipeline.engine.rules.rule_set import load_rule_set
from anon_pipeline.synthetic.cds import fake_patient, write_cd_batch
from anon_pipeline_tests.engine.batch.test_released_index import WHITELIST, data_root, process

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"


def whitelist(root: DataRoot):
    return load_rule_set(WHITELIST, reviewed=root.reviewed_rules)


def with_manufacturer(batch_dir: Path, manufacturer: str) -> None:
    """Every image of a CD from another scanner maker: a value no round has shown."""
    for path in batch_dir.rglob("IM*"):
        dataset = pydicom.dcmread(path)
        dataset.Manufacturer = manufacturer
        dataset.save_as(path)


@pytest.fixture
def root(tmp_path) -> DataRoot:
    root = data_root(tmp_path / "root")
    for index, name in enumerate(("cd_a", "cd_b", "cd_c")):
        write_cd_batch(root.incoming / name, [fake_patient(80 + index)], series=1, slices=2)
    with_manufacturer(root.incoming / "cd_c", "Kowalski Medical")
    for name in ("cd_a", "cd_b", "cd_c"):
        process(root, name)
    return root


def test_a_round_shows_new_values_once_and_counts_what_the_rules_produce(root):
    first = build_round(root, whitelist(root), ["cd_a", "cd_b"])
    shown = {(v.keyword_path, v.value): v for v in first.new_values}
    assert ("Manufacturer", "ACME") in shown
    assert shown["Manufacturer", "ACME"].batches == ["cd_a", "cd_b"]
    assert not any(v.keyword_path in ("PatientID", "StudyInstanceUID") for v in first.new_values)
    produced = {p["keyword_path"]: p for p in first.produced}
    assert produced["PatientID"]["distinct"] == 2  # two pseudonyms, counted not listed
    assert "StudyDate" in produced and "SOPInstanceUID" in produced
    save_round(root, first)
    approved, refused = approve_round(root, first.round_id, "Basia")
    assert approved == ["cd_a", "cd_b"] and refused == {}

    second = build_round(root, whitelist(root))  # by default: every unapproved batch
    assert second.batches == ["cd_c"]
    values = {(v.keyword_path, v.value): v for v in second.new_values}
    assert ("Manufacturer", "ACME") not in values  # approved in the first round
    new = values["Manufacturer", "Kowalski Medical"]
    assert new.batches == ["cd_c"] and "name?" in new.flags
    stored = list((root.secure / "review" / "approved_values").glob("*.parquet"))
    assert len(stored) == 1


def test_bulk_approval_refuses_each_batch_that_is_not_as_the_page_showed_it(root, tmp_path):
    review = build_round(root, whitelist(root))
    save_round(root, review)
    assert approve_round(root, review.round_id, "olaf")[1].keys() == {"cd_a", "cd_b", "cd_c"}
    extra = root.incoming / "cd_b" / "EXTRA"
    write_cd_batch(tmp_path / "more", [fake_patient(90)], series=1, slices=1)
    shutil.copytree(tmp_path / "more", extra)
    process(root, "cd_b")  # rerun after the page: other outputs
    released = next(BatchPaths.in_root(root, "cd_c").release_files.rglob("*.dcm"))
    released.write_bytes(released.read_bytes() + b"\0\0")  # changed after its checks
    approved, refused = approve_round(root, review.round_id, "Basia")
    assert approved == ["cd_a"]
    assert "changed since the page was written" in refused["cd_b"]
    assert "automated checks failed" in refused["cd_c"]


def test_recorded_checks_are_reused_only_for_the_same_outputs(root):
    paths = BatchPaths.in_root(root, "cd_a")
    run_checks(paths)  # what the Dagster checks record when they pass
    assert approve(root, "cd_a", "Basia")["checks_reused"] is True
    paths = BatchPaths.in_root(root, "cd_b")
    run_checks(paths)
    released = next(paths.release_files.rglob("*.dcm"))
    os.utime(released, ns=(released.stat().st_atime_ns, released.stat().st_mtime_ns + 1000))
    approval = approve(root, "cd_b", "Basia")  # a touched file: every check reads again
    assert approval["checks_reused"] is False
    assert json.loads(paths.checks_record.read_text())["state"]


def test_the_page_opens_offline_in_chromium_with_new_values_and_flags(root, capsys):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/run must install Debian's chromium")
        pytest.skip("Debian chromium not installed")
    from playwright.sync_api import sync_playwright

    assert main(["review", "page", "--root", str(root.root)]) == 0
    output = capsys.readouterr().out
    page_path = Path(output.split("page (secure zone): ")[1].splitlines()[0])
    text = page_path.read_text()
    assert "<script" not in text and "http" not in text.replace("http://", "")  # nothing fetched
    assert "anon-pipeline review approve" in text
    queued = read_rows(BatchPaths.in_root(root, "cd_a").review_queue)
    said = "approving refuses this batch until these are decided" in text
    assert said == bool(queued)  # an open queue says what it means for the sign-off
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--headless"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.route(
            "**/*",
            lambda route: (
                route.abort()
                if not route.request.url.startswith(("file:", "data:"))
                else route.continue_()
            ),
        )
        page.goto(page_path.as_uri())
        page.get_by_text("Kowalski Medical").first.wait_for(timeout=30000)
        assert page.locator("tr.flagged").count() > 0
        assert page.get_by_text("name?").first.is_visible()
        page.screenshot(path=ARTIFACTS / "review-page.png", full_page=True)
        browser.close()
    assert (ARTIFACTS / "review-page.png").stat().st_size > 10_000


def test_many_new_numbers_of_one_attribute_become_one_line():
    from anon_pipeline.engine.release.review_round import NewValue, summarise_numbers

    positions = [
        NewValue("(0020,0032)", "ImagePositionPatient", "DS", f"0\\0\\-{n}.5", 1, ["cd"])
        for n in range(12)
    ]
    text = [NewValue("(0008,0070)", "Manufacturer", "LO", "ACME", 12, ["cd"])]
    listed, summarised = summarise_numbers(positions + text)
    assert listed == text
    expected = {
        "keyword_path": "ImagePositionPatient",
        "vr": "DS",
        "distinct": 12,
        "files": 12,
        "first": "0\\0\\-0.5",
        "last": "0\\0\\-9.5",
        "batches": 1,
    }
    assert summarised == [expected]


def test_a_batch_with_an_open_queue_says_approving_refuses_it(tmp_path):
    from anon_pipeline.engine.batch.pipeline import Policy, StepOptions, anonymize_batch
    from anon_pipeline.engine.disk.layout import init_root
    from anon_pipeline.engine.release.review_round import write_page
    from anon_pipeline.engine.rules.rule_set import load_shipped_rule_set
    from anon_pipeline_tests.conftest import TEST_KEY

    root = init_root(tmp_path / "root", create_key=False)  # nobody decided anything yet
    write_cd_batch(root.incoming / "cd_q", [fake_patient(90)], series=1, slices=1)
    odd = next((root.incoming / "cd_q").rglob("IM*"))
    dataset = pydicom.dcmread(odd)
    dataset.PatientSex = "MRK0320Q"  # a kept value not of its form: queued with its reason
    dataset.save_as(odd)
    rules = Policy(load_shipped_rule_set("blacklist"), load_rule_set(WHITELIST), TEST_KEY)
    anonymize_batch(BatchPaths.in_root(root, "cd_q"), rules, StepOptions(workers=1))
    text = write_page(root, build_round(root, load_rule_set(WHITELIST), ["cd_q"])).read_text()
    assert "approving refuses this batch until these are decided" in text
    assert "PatientSex (not a value of PatientSex)" in text and "MRK0320Q" not in text
