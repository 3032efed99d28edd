"""One reader of the environment: the CLI and the Dagster deployment see the same root,
key and rules for the same environment."""

import argparse
import shutil

import pytest

from anon_pipeline.cli.common import load_rules, root_from
from anon_pipeline.defs.resources import PipelineSettings
from anon_pipeline.engine.disk.settings import Settings, SettingsError
from anon_pipeline.engine.rules.rule_set import SHIPPED_RULES_DIR


def test_the_cli_and_dagster_use_the_same_rules_for_the_same_environment(tmp_path, monkeypatch):
    rules = tmp_path / "rules"
    shutil.copytree(SHIPPED_RULES_DIR, rules)
    whitelist = rules / "whitelist.yaml"
    whitelist.write_text(whitelist.read_text() + "  ContrastBolusAgent: keep\n")
    monkeypatch.setenv("ANON_PIPELINE_RULES_DIR", str(rules))
    monkeypatch.setenv("ANON_PIPELINE_ROOT", str(tmp_path / "root"))
    args = argparse.Namespace(root=None, key_file=None, rules_dir=None)
    dagster = PipelineSettings.from_environment().rule_sets()
    root = root_from(args)
    cli = load_rules(args, "whitelist", root.reviewed_rules)
    shipped = Settings(root=str(tmp_path / "root")).rule_sets().whitelist
    assert cli.version == dagster.whitelist.version != shipped.version
    assert root == PipelineSettings.from_environment().data_root
    assert load_rules(args, "blacklist").version == dagster.blacklist.version


def test_options_override_the_environment_and_bad_numbers_are_named():
    environment = {"ANON_PIPELINE_ROOT": "/srv/a", "ANON_PIPELINE_WORKERS": "3"}
    settings = Settings.from_environment(environment, root="/srv/b", rules_dir=None)
    assert (settings.root, settings.workers, settings.rules_dir) == ("/srv/b", 3, "")
    with pytest.raises(SettingsError, match="ANON_PIPELINE_WORKERS='many' is not a whole number"):
        Settings.from_environment({"ANON_PIPELINE_WORKERS": "many"})


def test_only_the_settings_module_reads_the_environment():
    from pathlib import Path

    package = Path(__file__).resolve().parents[3] / "anon_pipeline"
    readers = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if "os.environ" in path.read_text() or "getenv(" in path.read_text()
    ]
    # cluster/ starts servers with the environment they inherit, and says so
    assert sorted(r for r in readers if not r.startswith("cluster/")) == ["engine/disk/settings.py"]
