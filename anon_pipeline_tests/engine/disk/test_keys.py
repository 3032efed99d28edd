import stat

import pytest

from anon_pipeline.engine.disk.keys import KEY_ENV_VAR, KeyFileError, create_key_file, load_key
from anon_pipeline.engine.disk.settings import Settings


def test_new_key_is_private_and_loadable(tmp_path):
    path = create_key_file(tmp_path / "secure" / "k.key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(load_key(path)) == 32


def test_existing_key_is_never_overwritten(tmp_path):
    path = create_key_file(tmp_path / "k.key")
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        create_key_file(path)
    assert path.read_bytes() == before


def test_missing_key_says_how_to_create_one(tmp_path):
    with pytest.raises(KeyFileError, match="anon-pipeline init"):
        Settings.from_environment({}).key(root_default=False)
    with pytest.raises(KeyFileError, match=r"not found.*anon-pipeline init"):
        load_key(tmp_path / "absent.key")


def test_key_comes_from_the_environment_through_the_settings(tmp_path):
    path = create_key_file(tmp_path / "k.key")
    settings = Settings.from_environment({KEY_ENV_VAR: str(path), "ANON_PIPELINE_ROOT": "x"})
    assert settings.key(root_default=False) == load_key(path) == settings.key()
    root_only = Settings.from_environment({"ANON_PIPELINE_ROOT": str(tmp_path)})
    assert root_only.key_path() == tmp_path / "secure" / "anon_pipeline.key"
    assert root_only.key_path(root_default=False) is None


def test_malformed_key_is_refused(tmp_path):
    (tmp_path / "bad.key").write_text("not hex at all")
    with pytest.raises(KeyFileError, match="not hex"):
        load_key(tmp_path / "bad.key")
    (tmp_path / "short.key").write_text("abcd")
    with pytest.raises(KeyFileError, match="too short"):
        load_key(tmp_path / "short.key")
