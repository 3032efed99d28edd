"""A batch's steps, as the CLI runs them in a row and the Dagster assets one by one
(`pipeline`); when a batch in incoming/ is ready (`arrivals`); stage-1 packages from a
hospital (`package`); which batch holds each instance (`released_index`). Imports the
layers below it, never `release`."""

from anon_pipeline.engine.batch.arrivals import (
    REQUESTED_MEMORY_SECONDS,
    TOUCH_SLACK_SECONDS,
    ArrivalMemory,
    BatchState,
    Launched,
    Look,
    Watch,
    look_at_incoming,
    record_arrival,
    recorded_signature,
    run_key,
    signature_of_run_key,
)
from anon_pipeline.engine.batch.package import PackageRefused, check_package_files, read_package
from anon_pipeline.engine.batch.pipeline import (
    BatchReport,
    PhaseProgress,
    Policy,
    StageReport,
    StepOptions,
    anonymize_batch,
    blacklist_folder,
    blacklist_step,
    inventory_step,
    made_under_older_rules,
    review_queue_step,
    scan_step,
    uid_map_step,
    whitelist_folder,
    whitelist_step,
)
from anon_pipeline.engine.rules.transform import NO_RULE  # a review-queue row's reason

# What the CLI, the Dagster definitions and the demo use; the rest is the engine's.
__all__ = [
    "NO_RULE",
    "REQUESTED_MEMORY_SECONDS",
    "TOUCH_SLACK_SECONDS",
    "ArrivalMemory",
    "BatchReport",
    "BatchState",
    "Launched",
    "Look",
    "PackageRefused",
    "PhaseProgress",
    "Policy",
    "StageReport",
    "StepOptions",
    "Watch",
    "anonymize_batch",
    "blacklist_folder",
    "blacklist_step",
    "check_package_files",
    "inventory_step",
    "look_at_incoming",
    "made_under_older_rules",
    "read_package",
    "record_arrival",
    "recorded_signature",
    "review_queue_step",
    "run_key",
    "scan_step",
    "signature_of_run_key",
    "uid_map_step",
    "whitelist_folder",
    "whitelist_step",
]
