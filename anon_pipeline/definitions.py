"""The Definitions object that workspace.yaml loads: assembly only."""

import dagster as dg

from anon_pipeline.defs.assets import batch_assets, with_rule_versions
from anon_pipeline.defs.checks import batch_checks
from anon_pipeline.defs.jobs import anonymize_batch_job, release_batch_job
from anon_pipeline.defs.resources import PipelineSettings
from anon_pipeline.defs.sensors import (
    approved_batches,
    incoming_batches,
    stale_batches,
    unretried_failures,
)


def build_definitions(settings: PipelineSettings) -> dg.Definitions:
    """Everything, bound to one settings resource (the environment's, or a test's), with
    the code versions of the rules those settings name."""
    return dg.Definitions(
        assets=with_rule_versions(batch_assets, settings.rule_sets()),
        asset_checks=batch_checks,
        jobs=[anonymize_batch_job, release_batch_job],
        sensors=[incoming_batches, approved_batches, stale_batches, unretried_failures],
        resources={"settings": settings},
        # Every job in one process, the UI's "Materialize" asset jobs too: the engine
        # spreads each step over its own worker processes already (one pool per run).
        executor=dg.in_process_executor,
    )


defs = build_definitions(PipelineSettings.from_environment())
