"""A hostile CD copy, all cases at once: every file gets an explained outcome, nothing
leaks, nothing is lost, and the input is never touched."""

import os
import shutil
import stat

import pydicom
import pytest

from anon_pipeline.engine.batch.pipeline import BatchPaths, Policy, StepOptions, anonymize_batch
from anon_pipeline.engine.disk.tables import read_rows
from anon_pipeline.engine.files.scan import list_batch
from anon_pipeline.engine.release.verification import check_accounted, check_outputs
from anon_pipeline.synthetic.cds import write_hostile_cd
from anon_pipeline_tests.conftest import TEST_KEY, query, tree_digest

ENCODINGS = ("latin-1", "iso8859-2", "utf-8")


def make_read_only(folder):
    for root, folders, files in os.walk(folder):
        for name in folders + files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(
                    path, os.stat(path).st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
                )
    os.chmod(folder, os.stat(folder).st_mode & ~stat.S_IWUSR)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, blacklist, whitelist):
    root = tmp_path_factory.mktemp("hostile")
    cd = write_hostile_cd(root / "incoming" / "hostile_cd")
    make_read_only(root / "incoming" / "hostile_cd")
    before = tree_digest(root / "incoming" / "hostile_cd")
    paths = BatchPaths(root / "incoming" / "hostile_cd", root / "secure", root / "release")
    report = anonymize_batch(paths, Policy(blacklist, whitelist, TEST_KEY), StepOptions(workers=2))
    yield paths, cd, report, before
    for dirpath, folders, _ in os.walk(root):  # let pytest clean up
        for name in folders:
            os.chmod(os.path.join(dirpath, name), 0o755)
    os.chmod(root / "incoming" / "hostile_cd", 0o755)


def test_every_file_gets_the_expected_disposition(hostile):
    paths, cd, _, _ = hostile
    dispositions = {row["relative_path"]: row["disposition"] for row in read_rows(paths.manifest)}
    assert set(dispositions) == set(cd.expected)
    wrong = {
        path: (dispositions[path], wanted)
        for path, wanted in cd.expected.items()
        if not dispositions[path].startswith(wanted)
    }
    assert wrong == {}


def test_counts_add_up_and_every_file_is_accounted_for(hostile):
    paths, cd, report, _ = hostile
    outcomes = report.outcomes
    assert sum(outcomes.values()) == report.files_in == len(list_batch(paths.batch_dir))
    assert outcomes["anonymized"] == sum(v == "anonymized" for v in cd.expected.values())
    assert check_accounted(paths).passed


def test_nothing_identifying_is_released_in_any_encoding_or_path(hostile):
    paths, cd, _, _ = hostile
    released = [p for p in paths.release_dir.rglob("*") if p.is_file()]
    assert len(released) > 10
    forms = {
        identifier: [
            identifier.encode(codec) for codec in ENCODINGS if _encodable(identifier, codec)
        ]
        for identifier in cd.identifiers
    }
    for path in released:
        data = path.read_bytes() if path.suffix == ".dcm" else b""
        for identifier, encoded in forms.items():
            assert not any(form in data for form in encoded), (path.name, identifier)
            assert identifier.replace("^", "_") not in str(path), identifier
    values = [v for (v,) in query(f"SELECT value FROM '{paths.inventory}' WHERE value IS NOT NULL")]
    for identifier in cd.identifiers:
        assert not any(identifier in value for value in values), identifier


def _encodable(text, codec):
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def test_the_independent_checks_pass_on_the_hostile_batch(hostile):
    paths, _, _, _ = hostile
    checks = check_outputs(paths, workers=1)
    for name, findings in vars(checks).items():
        assert findings.passed, (name, findings.failed)


def test_polish_names_are_found_by_the_leak_check_in_their_own_encoding(hostile):
    paths, _, _, _ = hostile
    identifiers = {value for _, value in query(f"SELECT keyword, value FROM '{paths.identifiers}'")}
    assert "Żółć^Łukasz" in identifiers  # decoded from ISO_IR 101 and ISO_IR 192 alike
    victim = next(paths.release_files.rglob("*.dcm"))
    data = victim.read_bytes()
    dataset = pydicom.dcmread(victim)
    dataset.pop("SpecificCharacterSet", None)  # undeclared, as on many CDs: Latin-2 bytes
    dataset.add_new("ImageComments", "LT", "pacjentka ŻÓŁĆ".encode("iso8859-2"))
    dataset.save_as(victim)
    try:
        failed = check_outputs(paths, workers=1).identifying_values.failed
        assert len(failed) == 1 and failed[0].endswith(": PatientName in ImageComments")
    finally:
        victim.write_bytes(data)


def test_the_input_folder_is_never_modified(hostile):
    paths, _, _, before = hostile
    assert tree_digest(paths.batch_dir) == before


def test_released_files_gain_no_dciodvfy_error(hostile):
    """Every object released from the hostile CD is as valid as its input (PS3.15's
    actions, the refused values and the emptied sequences break no IOD)."""
    from anon_pipeline_tests.engine.release.test_validation import dciodvfy_errors

    if shutil.which("dciodvfy") is None:
        pytest.fail("dciodvfy is missing: apt-get install dicom3tools")
    paths, _, _, _ = hostile
    released = [row for row in read_rows(paths.manifest) if row["disposition"] == "anonymized"]
    assert len(released) >= 5
    gained = {}
    for row in released:
        before = set(dciodvfy_errors(paths.batch_dir / row["relative_path"]))
        after = set(dciodvfy_errors(paths.release_files / row["output_name"]))
        if after - before:
            gained[row["relative_path"]] = sorted(after - before)
    assert gained == {}, "\n".join(f"{k}: {v}" for k, v in gained.items())
