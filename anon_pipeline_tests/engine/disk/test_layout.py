"""The data root's zones: created with the secure zone private whatever the umask, a key
never overwritten, and a batch's paths in the zones DESIGN.md gives them."""

import os
import stat

import pytest

from anon_pipeline.engine.disk.keys import KeyFileError, load_key
from anon_pipeline.engine.disk.layout import SECURE_MODE, BatchPaths, DataRoot, init_root


def test_init_makes_the_zones_with_a_private_secure_zone_whatever_the_umask(tmp_path):
    previous = os.umask(0o000)  # the loosest umask: mkdir's mode alone would not do
    try:
        root = init_root(tmp_path / "root")
    finally:
        os.umask(previous)
    assert root.incoming.is_dir() and root.release.is_dir()
    assert stat.S_IMODE(root.secure.stat().st_mode) == SECURE_MODE
    assert len(load_key(root.key_file)) >= 16


def test_init_again_refuses_and_keeps_the_key(tmp_path):
    """Losing the key would orphan every hashed UID and pseudonym made with it."""
    root = init_root(tmp_path / "root")
    key = load_key(root.key_file)
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        init_root(tmp_path / "root")
    assert load_key(root.key_file) == key
    assert init_root(tmp_path / "root", create_key=False) == root  # the zones alone: fine


def test_a_batchs_paths_keep_secure_tables_out_of_the_release(tmp_path):
    root = DataRoot(tmp_path)
    paths = BatchPaths.in_root(root, "cd_001")
    assert paths.batch == "cd_001"
    assert paths.batch_dir == root.incoming / "cd_001"
    release_side = [paths.release_files, paths.inventory]
    secure_side = [
        paths.scan,
        paths.stage1_files,
        paths.identifiers,
        paths.manifest,
        paths.uid_map,
        paths.review_queue,
        paths.parts,
        paths.run_record,
        root.released_index,
        root.reviewed_rules,
        root.approvals,
    ]
    assert all(root.release in path.parents for path in release_side)
    assert all(root.secure in path.parents for path in secure_side)
