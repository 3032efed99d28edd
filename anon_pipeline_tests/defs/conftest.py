"""Dagster test helpers: definitions bound to a temporary data root, an ephemeral instance."""

from pathlib import Path

import dagster as dg
import pytest

from anon_pipeline.definitions import build_definitions
from anon_pipeline.defs.jobs import anonymize_batch_job
from anon_pipeline.defs.partitions import batches
from anon_pipeline.defs.resources import PipelineSettings
from anon_pipeline.engine.disk.layout import init_root


def definitions_for(settings: PipelineSettings) -> dg.Definitions:
    return build_definitions(settings)


def run_batch(settings: PipelineSettings, instance: dg.DagsterInstance, batch: str):
    if batch not in instance.get_dynamic_partitions(batches.name):
        instance.add_dynamic_partitions(batches.name, [batch])
    job = definitions_for(settings).resolve_job_def(anonymize_batch_job.name)
    return job.execute_in_process(partition_key=batch, instance=instance, raise_on_error=False)


@pytest.fixture
def settings(tmp_path) -> PipelineSettings:
    init_root(tmp_path / "root")
    return PipelineSettings(root=str(tmp_path / "root"), workers=1, quiet_seconds=3600)


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def incoming(settings: PipelineSettings) -> Path:
    return settings.data_root.incoming
