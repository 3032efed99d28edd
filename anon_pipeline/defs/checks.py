"""Asset checks: the automated half of verification. The privacy checks block the
assets downstream of the released files when they fail."""

import warnings
from collections.abc import Iterator

import dagster as dg

from anon_pipeline.defs.assets import log_progress, review_queue, whitelisted_files
from anon_pipeline.defs.partitions import batches
from anon_pipeline.defs.resources import PipelineSettings
from anon_pipeline.engine.batch import pipeline
from anon_pipeline.engine.disk import read_rows
from anon_pipeline.engine.release import signoff, verification

# Partitioned asset checks are a Dagster preview feature (1.13). They are what lets
# the UI show check results per batch, which verification needs; the warning would
# otherwise repeat on every code-location load.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*partitions_def.*")

OUTPUT_CHECKS = {
    "no_private_attributes": "No private attribute (odd group, private creators included) at any "
    "depth of any released file.",
    "no_original_uids": "No UID from the input batch (every original in the hashed-UID map) "
    "appears in any released file.",
    "no_identifying_values": "No value that stage 1 removed or pseudonymised (names, IDs, birth "
    "dates, accession numbers, addresses… from the raw batch, kept in the secure zone) occurs "
    "anywhere in the bytes of a released file, or in its text as decoded with its own "
    "character set.",
    "outputs_parse_with_pixels_unchanged": "Every released file parses, is listed in the "
    "manifest, holds the bytes the run wrote (its content hash equals the manifest's "
    "output_hash), and its pixel data hash equals the input file's.",
    "pixels_mean_the_same": "Every released image keeps, byte for byte, the attributes that "
    "say how its pixel data is read and placed, as the input had them: frames, rows, columns, "
    "bits, photometric interpretation, spacing, position and orientation (per frame in "
    "functional groups), rescale, lookup tables, transfer syntax.",
}


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            name,
            asset=whitelisted_files,
            description=description,
            blocking=True,
            partitions_def=batches,
        )
        for name, description in OUTPUT_CHECKS.items()
    ]
)
def released_files_checks(
    context: dg.AssetCheckExecutionContext, settings: PipelineSettings
) -> Iterator[dg.AssetCheckResult]:
    """One re-read of every released file serves all five per-file checks."""
    paths = settings.paths(context.partition_key)
    state = signoff.release_state(paths)  # before the files are read
    with settings.run_pool():
        checks = verification.check_outputs(
            paths, settings.worker_count(), pipeline.phase(log_progress(context), "verification")
        )
    signoff.record_checks(paths, checks, state)  # the sign-off reuses what passed here
    findings = {
        "no_private_attributes": checks.private_attributes,
        "no_original_uids": checks.original_uids,
        "no_identifying_values": checks.identifying_values,
        "outputs_parse_with_pixels_unchanged": checks.parse_and_pixels,
        "pixels_mean_the_same": checks.pixel_meaning,
    }
    for name, result in findings.items():
        yield dg.AssetCheckResult(
            check_name=name,
            asset_key=whitelisted_files.key,
            passed=result.passed,
            metadata=result.metadata(),
        )


@dg.asset_check(
    asset=whitelisted_files,
    blocking=True,
    partitions_def=batches,
    description="Every file in the batch folder has exactly one manifest row, and every row "
    "has a disposition: anonymized, or held or skipped with its reason.",
)
def every_input_file_accounted_for(
    context: dg.AssetCheckExecutionContext, settings: PipelineSettings
) -> dg.AssetCheckResult:
    result = verification.check_accounted(settings.paths(context.partition_key))
    return dg.AssetCheckResult(passed=result.passed, metadata=result.metadata())


@dg.asset_check(
    asset=review_queue,
    partitions_def=batches,
    description="No attribute of this batch is waiting for a reviewer's decision. A warning: "
    "the unknown attributes were removed, but a person should decide on them.",
)
def review_queue_is_empty(
    context: dg.AssetCheckExecutionContext, settings: PipelineSettings
) -> dg.AssetCheckResult:
    rows = read_rows(settings.paths(context.partition_key).review_queue)
    return dg.AssetCheckResult(
        passed=not rows,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "attributes_waiting": len(rows),
            "keywords": ", ".join(sorted(r["keyword"] or r["tag"] for r in rows)) or "none",
        },
    )


batch_checks = [released_files_checks, every_input_file_accounted_for, review_queue_is_empty]
