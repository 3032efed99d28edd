"""The command line: what an operator at the hospital or on the server types."""

import os
import stat
import subprocess
import sys

import pytest

from anon_pipeline.cli import main
from anon_pipeline.engine.disk.keys import KEY_ENV_VAR
from anon_pipeline.synthetic.cds import write_cd_batch
from anon_pipeline_tests.conftest import query, tree_digest


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV_VAR, raising=False)
    assert main(["init", str(tmp_path / "root")]) == 0
    return tmp_path / "root"


def test_init_creates_the_zones_and_a_private_key(tmp_path, capsys):
    root = tmp_path / "fresh"
    assert main(["init", str(root)]) == 0
    assert (root / "incoming").is_dir() and (root / "release").is_dir()
    assert stat.S_IMODE((root / "secure").stat().st_mode) == 0o700
    key = root / "secure" / "anon_pipeline.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "new key" in capsys.readouterr().out


def test_init_refuses_to_overwrite_a_key(root, capsys):
    key = root / "secure" / "anon_pipeline.key"
    before = key.read_bytes()
    assert main(["init", str(root)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert key.read_bytes() == before


def test_missing_key_is_a_clear_error(tmp_path, patients, monkeypatch, capsys):
    monkeypatch.delenv(KEY_ENV_VAR, raising=False)
    write_cd_batch(tmp_path / "cd", patients[:1], series=1, slices=1)
    assert main(["anonymize", str(tmp_path / "cd"), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "--key-file" in error and KEY_ENV_VAR in error and "anon-pipeline init" in error
    assert not (tmp_path / "out").exists()


def test_stage_by_stage_equals_both_stages_at_once(root, tmp_path, patients, monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV_VAR, str(root / "secure" / "anon_pipeline.key"))
    cd = root / "incoming" / "cd"
    write_cd_batch(cd, patients[:2], series=1, slices=2)
    before = tree_digest(cd)
    stage1, stage2 = tmp_path / "stage1", tmp_path / "stage2"
    common = ["--workers", "1", "--quiet"]
    assert main(["blacklist", str(cd), str(stage1), *common]) == 0
    assert main(["whitelist", str(stage1 / "dicom"), str(stage2), *common]) == 0
    assert main(["anonymize", str(cd), "--out", str(tmp_path / "both"), *common]) == 0
    output = capsys.readouterr().out
    assert "blacklist: 7 files (4 anonymized, 3 skipped)" in output
    assert tree_digest(stage2 / "dicom") == tree_digest(tmp_path / "both" / "release" / "dicom")
    assert (tmp_path / "stage2.secure" / "uid_map.parquet").exists()
    assert not list(stage2.rglob("uid_map*"))  # the map stays out of the releasable folder
    assert (
        query(f"SELECT count(*) FROM '{tmp_path / 'stage1.hospital' / 'manifest.parquet'}'")[0][0]
        == 7
    )
    assert tree_digest(cd) == before


def test_scratch_staging_from_the_command_line(root, tmp_path, patients, monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV_VAR, str(root / "secure" / "anon_pipeline.key"))
    cd = root / "incoming" / "cd"
    write_cd_batch(cd, patients[:1], series=1, slices=2)
    common = ["--workers", "1", "--quiet", "--scratch", str(tmp_path / "scratch")]
    out = ["--out", str(tmp_path / "out")]
    assert main(["anonymize", str(cd), *out, *common]) == 2
    assert "--scratch needs --scratch-bytes" in capsys.readouterr().err
    assert main(["anonymize", str(cd), *out, *common, "--scratch-bytes", "1K"]) == 0
    assert "processed in place, not staged" in capsys.readouterr().err
    assert main(["blacklist", str(cd), str(tmp_path / "s1"), *common, "--scratch-bytes", "1G"]) == 0
    assert "batch staged in scratch" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "scratch").iterdir() if p.is_dir()] == []


def test_rule_errors_stop_before_anything_is_written(root, tmp_path, patients, monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV_VAR, str(root / "secure" / "anon_pipeline.key"))
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "blacklist.yaml").write_text(
        "rule_set: b\ndefaults: {private: remove, unlisted: keep, sequence: recurse}\n"
        "rules:\n  PatientAge: hash_uid\n"
    )
    write_cd_batch(tmp_path / "cd", patients[:1], series=1, slices=1)
    code = main(
        ["blacklist", str(tmp_path / "cd"), str(tmp_path / "out"), "--rules-dir", str(rules)]
    )
    assert code == 2
    assert (
        "blacklist.yaml:4: 'PatientAge': action 'hash_uid' needs VR UI" in capsys.readouterr().err
    )
    assert not (tmp_path / "out").exists()


def test_demo_generates_and_anonymizes_batches(tmp_path, capsys):
    root = tmp_path / "demo"
    assert (
        main(["demo", str(root), "--batches", "2", "--slices", "2", "--run", "--workers", "1"]) == 0
    )
    output = capsys.readouterr().out
    assert output.count("8 anonymized, 3 skipped") == 2
    assert sorted(p.name for p in (root / "release").iterdir()) == ["cd_001", "cd_002"]
    # a second demo run keeps the key and the batches
    key = (root / "secure" / "anon_pipeline.key").read_bytes()
    assert main(["demo", str(root), "--batches", "2", "--workers", "1"]) == 0
    assert (root / "secure" / "anon_pipeline.key").read_bytes() == key


@pytest.mark.parametrize("command", ["init", "blacklist", "whitelist", "anonymize", "demo"])
def test_every_command_has_help(command):
    result = subprocess.run(
        [sys.executable, "-m", "anon_pipeline.cli", command, "--help"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ},
    )
    assert result.returncode == 0
    assert "usage: anon-pipeline" in result.stdout


def test_review_list_shows_samples_and_decide_records_the_reviewer(tmp_path, capsys):
    root = tmp_path / "demo"
    assert (
        main(["demo", str(root), "--batches", "1", "--slices", "1", "--run", "--workers", "1"]) == 0
    )
    capsys.readouterr()
    assert main(["review", "list", "--root", str(root)]) == 0
    listing = capsys.readouterr().out
    assert "ContrastBolusAgent" in listing and "Omnipaque 350" in listing
    assert (
        main(
            [
                "review",
                "decide",
                "ContrastBolusAgent",
                "keep",
                "--reviewer",
                "Anna K",
                "--root",
                str(root),
            ]
        )
        == 0
    )
    assert "recorded: ContrastBolusAgent -> keep by Anna K" in capsys.readouterr().out
    assert main(["review", "list", "--root", str(root)]) == 0
    assert "[decided: keep; rerun pending]" in capsys.readouterr().out
    assert main(["demo", str(root), "--batches", "1", "--run", "--workers", "1"]) == 0  # the rerun
    capsys.readouterr()
    main(["review", "list", "--root", str(root)])
    assert "ContrastBolusAgent" not in capsys.readouterr().out


def test_blacklist_refuses_to_hand_over_a_package_that_still_names_the_patient(
    root, tmp_path, patients, monkeypatch, capsys
):
    """The hospital's own search: a name in an attribute the blacklist keeps makes the
    command exit 2, naming the file, the element and whose value it is, never the value."""
    import pydicom

    monkeypatch.setenv(KEY_ENV_VAR, str(root / "secure" / "anon_pipeline.key"))
    cd = tmp_path / "cd"
    victim = write_cd_batch(cd, patients[:1], series=1, slices=2)[0]
    dataset = pydicom.dcmread(victim)
    dataset.AcquisitionComments = patients[0].name.replace("^", " ")
    dataset.save_as(victim)
    assert main(["blacklist", str(cd), str(tmp_path / "pkg"), "--workers", "1", "--quiet"]) == 2
    error = capsys.readouterr().err
    assert "PatientName in AcquisitionComments" in error and "the server will refuse" in error
    assert patients[0].name.split("^")[0] not in error


def test_blacklist_self_test_checks_an_install_without_a_cd_or_a_key(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(KEY_ENV_VAR, raising=False)
    assert main(["blacklist", "--self-test", "--workers", "1", "--quiet"]) == 0
    assert "self-test passed: 12 synthetic images" in capsys.readouterr().out
    assert main(["blacklist", "--workers", "1"]) == 2
    assert "needs INPUT_DIR and OUTPUT_DIR (or --self-test)" in capsys.readouterr().err


def test_review_list_says_a_refused_value_needs_a_rule_change(root, blacklist, whitelist, capsys):
    """A kept value not of its form is listed with its reason and what clears it; `review
    decide` cannot cover an attribute the whitelist already has a rule for."""
    import pydicom

    from anon_pipeline.engine.batch import Policy, StepOptions, anonymize_batch
    from anon_pipeline.engine.disk import BatchPaths, DataRoot
    from anon_pipeline.synthetic.cds import fake_patient

    cd = root / "incoming" / "cd_sex"
    write_cd_batch(cd, [fake_patient(41)], series=1, slices=1)
    planted = next(cd.rglob("IM*"))
    dataset = pydicom.dcmread(planted)
    dataset.PatientSex = "MRK0320Q"
    dataset.save_as(planted)
    key = (root / "secure" / "anon_pipeline.key").read_bytes()
    paths = BatchPaths.in_root(DataRoot(root), "cd_sex")
    anonymize_batch(paths, Policy(blacklist, whitelist, key), StepOptions(workers=1))
    capsys.readouterr()
    assert main(["review", "list", "--root", str(root)]) == 0
    listing = capsys.readouterr().out
    line = next(line for line in listing.splitlines() if "PatientSex" in line)
    assert "[not a value of PatientSex: change its rule or value_terms]" in line
    decide = ["review", "decide", "PatientSex", "remove", "--reviewer", "Anna K"]
    assert main([*decide, "--root", str(root)]) != 0
    assert "already has a rule" in capsys.readouterr().err
