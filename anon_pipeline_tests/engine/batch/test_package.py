"""Two sites: the hospital's stage-1 package, verified and adopted by the server, gives
each patient the identity a raw CD would have given them."""

import json
import shutil

import pydicom
import pytest

from anon_pipeline.engine.batch.package import (
    COMPLETE_MARKER,
    DESCRIPTOR,
    PACKAGE_MANIFEST,
    PackageRefused,
    is_package,
    key_fingerprint,
)
from anon_pipeline.engine.batch.pipeline import (
    BatchPaths,
    Policy,
    StepOptions,
    anonymize_batch,
    blacklist_folder,
    scan_step,
    whitelist_folder,
)
from anon_pipeline.engine.disk.tables import read_rows
from anon_pipeline.engine.release.verification import check_outputs
from anon_pipeline.synthetic.cds import fake_patient, make_ct_slice, write_cd_batch
from anon_pipeline_tests.conftest import TEST_KEY, tree_digest

OTHER_KEY = bytes(range(1, 33))


def blacklist_at_hospital(cd, package, blacklist, key=TEST_KEY):
    return blacklist_folder(
        cd,
        package,
        package.with_name(package.name + ".hospital"),
        blacklist,
        key,
        StepOptions(workers=1),
    )


def released_bytes(paths: BatchPaths) -> dict[str, bytes]:
    return {
        str(path.relative_to(paths.release_files)): path.read_bytes()
        for path in paths.release_files.rglob("*.dcm")
    }


@pytest.fixture(scope="module")
def two_sites(tmp_path_factory, blacklist, whitelist):
    """The same patient on two CDs: CD A copied raw to the server, CD B (with a second
    patient on it) blacklisted at the hospital and carried over as a package."""
    root = tmp_path_factory.mktemp("sites")
    patient = fake_patient(31)
    write_cd_batch(root / "incoming" / "cd_a", [patient], series=1, slices=3)
    write_cd_batch(root / "hospital" / "cd_b", [patient, fake_patient(32)], series=1, slices=3)
    blacklist_at_hospital(root / "hospital" / "cd_b", root / "incoming" / "pkg_b", blacklist)
    batches = {}
    for name in ("cd_a", "pkg_b"):
        paths = BatchPaths(
            root / "incoming" / name, root / "secure" / name, root / "release" / name
        )
        anonymize_batch(paths, Policy(blacklist, whitelist, TEST_KEY), StepOptions(workers=2))
        batches[name] = paths
    return root, batches


def test_a_patient_gets_one_identity_whichever_way_the_cd_came(two_sites):
    _, batches = two_sites
    raw, package = released_bytes(batches["cd_a"]), released_bytes(batches["pkg_b"])
    assert len(raw) == 3 and len(package) == 6
    assert set(raw) < set(package)  # same hashed study/series/instance names
    for name, data in raw.items():  # same pseudonyms, date shift, UIDs: the same bytes
        assert package[name] == data, name
    first = pydicom.dcmread(batches["cd_a"].release_files / sorted(raw)[0])
    same = pydicom.dcmread(batches["pkg_b"].release_files / sorted(raw)[0])
    assert (first.PatientID, first.StudyDate) == (same.PatientID, same.StudyDate)


def test_the_package_is_adopted_not_blacklisted_again(two_sites):
    _, batches = two_sites
    paths = batches["pkg_b"]
    descriptor = json.loads((paths.stage1_dir / DESCRIPTOR).read_text())
    assert descriptor["key_fingerprint"] == key_fingerprint(TEST_KEY)
    for name in ("dicom",):  # the adopted files are the package's, byte for byte
        assert tree_digest(paths.stage1_dir / name) == tree_digest(paths.batch_dir / name)
    assert read_rows(paths.identifiers) == []  # the removed values stayed at the hospital
    manifest = read_rows(paths.manifest)
    assert all(row["relative_path"].startswith("hospital/row-") for row in manifest)
    assert sum(row["outcome"] == "anonymized" for row in manifest) == 6
    assert {row["disposition"] for row in manifest} >= {"anonymized", "skipped: dicomdir"}


def test_nothing_identifying_travels_in_the_package(two_sites, blacklist):
    root, _ = two_sites
    package = root / "incoming" / "pkg_b"
    records = root / "incoming" / "pkg_b.hospital"
    travelling = (package / PACKAGE_MANIFEST).read_bytes() + (package / DESCRIPTOR).read_bytes()
    original_paths = [row["relative_path"] for row in read_rows(records / "manifest.parquet")]
    original_uids = [row["sop_instance_uid"] for row in read_rows(records / "manifest.parquet")]
    removed = [row["value"] for row in read_rows(records / "identifiers.parquet")]
    assert removed and any(original_uids)  # the hospital keeps them
    for text in [*original_paths, *[u for u in original_uids if u], *removed]:
        assert text.encode() not in travelling, text
    assert TEST_KEY.hex().encode() not in travelling
    assert sorted(p.name for p in package.iterdir()) == sorted(
        ["dicom", DESCRIPTOR, PACKAGE_MANIFEST, COMPLETE_MARKER]
    )


def package_copy(tmp_path, blacklist, key=TEST_KEY):
    cd = tmp_path / "hospital" / "cd"
    write_cd_batch(cd, [fake_patient(33)], series=1, slices=2)
    blacklist_at_hospital(cd, tmp_path / "incoming" / "pkg", blacklist, key)
    return BatchPaths(tmp_path / "incoming" / "pkg", tmp_path / "secure", tmp_path / "release")


def first_file(paths):
    return sorted((paths.batch_dir / "dicom").rglob("*.dcm"))[0]


def edit_a_file(paths):
    target = first_file(paths)
    target.write_bytes(target.read_bytes()[:-2] + b"\0\1")


def drop_the_marker(paths):
    (paths.batch_dir / COMPLETE_MARKER).unlink()


def change_the_rule_version(paths):
    descriptor = json.loads((paths.batch_dir / DESCRIPTOR).read_text())
    descriptor["rule_set_version"] = "0123456789abcdef"
    (paths.batch_dir / DESCRIPTOR).write_text(json.dumps(descriptor))


def add_a_file(paths):
    shutil.copy(first_file(paths), first_file(paths).with_name("extra.dcm"))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (edit_a_file, r"1 file\(s\) differ from the hashes in its manifest .*e\.g\. 2\.25\."),
        (lambda paths: first_file(paths).unlink(), r"1 file\(s\) of its manifest are missing"),
        (add_a_file, r"1 file\(s\) in dicom/ not in its manifest$"),
        (drop_the_marker, r"incomplete: no STAGE1_COMPLETE"),
        (change_the_rule_version, r"made with blacklist rules '0123456789abcdef'.* does not know"),
        (
            lambda paths: (paths.batch_dir / "Kowalski_Jan.txt").write_text("x"),  # never named
            r"1 other entr\(ies\) beside the package's own files: a package holds nothing else$",
        ),
    ],
)
def test_a_package_that_does_not_verify_is_refused_whole(
    tmp_path, blacklist, whitelist, damage, reason
):
    paths = package_copy(tmp_path, blacklist)
    damage(paths)
    with pytest.raises(PackageRefused, match=rf"^batch pkg: stage-1 package refused: {reason}"):
        anonymize_batch(paths, Policy(blacklist, whitelist, TEST_KEY), StepOptions(workers=1))
    assert not paths.scan.exists() and not paths.release_dir.exists()


def test_a_package_made_with_another_key_is_refused(tmp_path, blacklist, whitelist):
    paths = package_copy(tmp_path, blacklist, key=OTHER_KEY)
    with pytest.raises(PackageRefused, match="made with another key"):
        scan_step(paths, Policy(blacklist, whitelist, TEST_KEY), StepOptions(workers=1))
    assert not paths.scan.exists()


def test_a_forged_descriptor_does_not_carry_the_seal(tmp_path, blacklist, whitelist):
    paths = package_copy(tmp_path, blacklist)
    descriptor = json.loads((paths.batch_dir / DESCRIPTOR).read_text())
    descriptor["files_in"] += 1
    (paths.batch_dir / DESCRIPTOR).write_text(json.dumps(descriptor, indent=2))
    with pytest.raises(PackageRefused, match="changed after stage 1 sealed it"):
        scan_step(paths, Policy(blacklist, whitelist, TEST_KEY), StepOptions(workers=1))


def test_a_cd_that_only_looks_like_a_package_is_a_raw_cd(tmp_path, blacklist, whitelist):
    batch = tmp_path / "incoming" / "package"
    write_cd_batch(batch / "dicom", [fake_patient(34)], series=1, slices=2)
    (batch / DESCRIPTOR).write_text(json.dumps({"format": "a viewer's settings"}))
    (batch / COMPLETE_MARKER).write_text("done\n")
    assert not is_package(batch)
    paths = BatchPaths(batch, tmp_path / "secure", tmp_path / "release")
    report = anonymize_batch(paths, Policy(blacklist, whitelist, TEST_KEY))
    assert report.outcomes["anonymized"] == 2


def test_blacklisting_twice_is_refused_or_held(tmp_path, blacklist):
    """A package is never blacklisted again, and a stage-1 file out of its package is
    held, not pseudonymised a second time."""
    paths = package_copy(tmp_path, blacklist)
    with pytest.raises(PackageRefused, match="is a stage-1 package already"):
        blacklist_at_hospital(paths.batch_dir, tmp_path / "again", blacklist)
    with pytest.raises(PackageRefused, match="is a stage-1 package: run `anon-pipeline anonymize"):
        whitelist_folder(
            paths.batch_dir,
            tmp_path / "w",
            tmp_path / "ws",
            blacklist,
            TEST_KEY,
            StepOptions(workers=1),
        )
    loose = tmp_path / "loose"
    loose.mkdir()
    shutil.copy(first_file(paths), loose / "IM1")
    make_ct_slice(fake_patient(35), "fresh", 1, 1).save_as(loose / "IM2", enforce_file_format=True)
    report = blacklist_at_hospital(loose, tmp_path / "loose_pkg", blacklist)
    assert report.outcomes == {"anonymized": 1, "held": 1}
    rows = read_rows(tmp_path / "loose_pkg.hospital" / "manifest.parquet")
    assert {row["relative_path"]: row["disposition"].split(" (")[0] for row in rows} == {
        "IM1": "held: already processed by anon_pipeline",
        "IM2": "anonymized",
    }


def test_the_hospital_searches_its_own_output_and_the_server_shows_it(two_sites):
    """The server has no values to search with: the check's outcome is the search stage 1
    ran at the hospital before sealing, and it says so."""
    root, batches = two_sites
    descriptor = json.loads((root / "incoming" / "pkg_b" / DESCRIPTOR).read_text())
    assert descriptor["identifier_search"] == {"files": 6, "found": 0, "examples": []}
    checks = check_outputs(batches["pkg_b"], workers=1)
    assert checks.identifying_values.passed and checks.identifying_values.checked == 6
    assert checks.identifying_values.metadata()["searched_at"].startswith("hospital")
    assert (
        "searched_at" not in check_outputs(batches["cd_a"], workers=1).identifying_values.metadata()
    )


def test_a_package_whose_hospital_search_found_a_value_is_refused(tmp_path, blacklist, whitelist):
    """A name in an attribute the blacklist keeps (stage 2's whitelist would remove it,
    but the package carries it off site): stage 1 says so and the server refuses."""
    patient = fake_patient(35)
    cd = tmp_path / "hospital" / "cd"
    write_cd_batch(cd, [patient], series=1, slices=2)
    victim = sorted(cd.rglob("IM*"))[0]
    dataset = pydicom.dcmread(victim)
    dataset.AcquisitionComments = f"pacjent {patient.name.replace('^', ' ')} niespokojny"
    dataset.save_as(victim)
    package = tmp_path / "incoming" / "pkg"
    with pytest.raises(
        PackageRefused,
        match=r"identifying values in 1 of its 2 files, e\.g\. "
        r"2\.25\.[0-9./]+\.dcm: PatientName in AcquisitionComments",
    ):
        blacklist_at_hospital(cd, package, blacklist)
    assert is_package(package)  # written and sealed, as evidence of what was found
    assert patient.name.split("^")[0] not in (package / DESCRIPTOR).read_text()
    paths = BatchPaths(package, tmp_path / "secure", tmp_path / "release")
    with pytest.raises(
        PackageRefused,
        match=r"^batch pkg: stage-1 package refused: stage 1's own search at the hospital "
        r"found identifying values in 1 of its 2 files, e\.g\. .*PatientName in Acquisition",
    ):
        anonymize_batch(paths, Policy(blacklist, whitelist, TEST_KEY), StepOptions(workers=1))
    assert not paths.release_dir.exists()
