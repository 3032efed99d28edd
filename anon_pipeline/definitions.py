"""The Definitions object that workspace.yaml loads: assembly only."""

import dagster as dg

from anon_pipeline.defs.assets import batch_assets
from anon_pipeline.defs.checks import batch_checks
from anon_pipeline.defs.jobs import anonymize_batch_job
from anon_pipeline.defs.resources import settings_from_environment
from anon_pipeline.defs.sensors import incoming_batches

defs = dg.Definitions(
    assets=batch_assets,
    asset_checks=batch_checks,
    jobs=[anonymize_batch_job],
    sensors=[incoming_batches],
    resources={"settings": settings_from_environment()},
)
