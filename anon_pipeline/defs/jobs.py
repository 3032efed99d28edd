"""The job the sensor starts: every asset and check of one batch partition."""

import dagster as dg

from anon_pipeline.defs.partitions import batches

# In-process: the engine spreads each step over its own worker processes already.
anonymize_batch_job = dg.define_asset_job(
    "anonymize_batch",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets("released_batch"),
    partitions_def=batches,
    executor_def=dg.in_process_executor,
    description="Scan, blacklist, whitelist, tables and checks for one batch.",
)

release_batch_job = dg.define_asset_job(
    "release_batch",
    selection=dg.AssetSelection.assets("released_batch"),
    partitions_def=batches,
    executor_def=dg.in_process_executor,
    description="Hard-link an approved batch into released/ (refuses without approval).",
)
