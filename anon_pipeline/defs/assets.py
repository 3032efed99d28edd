"""The batch's assets: each resolves paths, calls one engine step, returns PHI-free metadata."""

import contextlib
import functools
import time
from collections.abc import Iterator
from typing import Any

import dagster as dg

from anon_pipeline.defs.partitions import batches
from anon_pipeline.defs.resources import PipelineSettings
from anon_pipeline.defs.sensors import RUN_KEY_TAG
from anon_pipeline.engine.batch import (
    NO_RULE,
    PackageRefused,
    pipeline,
    signature_of_run_key,
)
from anon_pipeline.engine.disk import RuleSets, read_rows
from anon_pipeline.engine.release import signoff
from anon_pipeline.engine.release.contact_sheet import write_contact_sheet
from anon_pipeline.engine.release.qc import qc_summary_markdown

SCAN_VERSION = "scan-1"
# Stand-ins for the rule sets' versions, which `with_rule_versions` puts in their place
# once the definitions are built from a Settings object (not at import).
BLACKLIST_VERSION, WHITELIST_VERSION = "blacklist rules", "whitelist rules"
PROGRESS_SECONDS = 5.0
# Every asset here is one per batch and owned by the same team.
batch_asset = functools.partial(dg.asset, partitions_def=batches, owners=["team:anonymization"])


def log_progress(
    context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext,
) -> pipeline.PhaseProgress:
    """Progress as log lines, counts only: each phase's start, then at most one line every
    PROGRESS_SECONDS, and its end. Each line is an event Dagster stores (about 10 ms on
    SQLite): a line per 10 % cost a 1,300-file run 0.4 s, while a step that long needs
    none in between."""
    last_logged = [-PROGRESS_SECONDS]

    def report(phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done in (0, total) or now - last_logged[0] >= PROGRESS_SECONDS:
            last_logged[0] = now
            context.log.info(f"{phase}: {done}/{total} files")

    return report


def step_options(
    context: dg.AssetExecutionContext, settings: PipelineSettings
) -> pipeline.StepOptions:
    """How the engine's steps run inside a Dagster step: the deployment's workers and
    scratch disk, progress and staging notes in the run's log."""
    return pipeline.StepOptions(
        workers=settings.worker_count(),
        progress=log_progress(context),
        scratch=settings.scratch_area(),
        log=context.log.info,
        marker=settings.marker,
    )


def sensor_listing(context: dg.AssetExecutionContext) -> str | None:
    """The listing signature a sensor-started run was requested for (its run key)."""
    requested = context.run.tags.get(RUN_KEY_TAG)
    return signature_of_run_key(requested) if requested else None


def policy(settings: PipelineSettings) -> pipeline.Policy:
    rules = settings.rule_sets()
    return pipeline.Policy(rules.blacklist, rules.whitelist, settings.key())


def with_rule_versions(
    assets: list[dg.AssetsDefinition], rules: RuleSets
) -> list[dg.AssetsDefinition]:
    """The assets with their rule set's version as code version: the UI marks the
    partitions made with other rules stale, and a backfill reruns exactly those."""
    versions = {
        BLACKLIST_VERSION: rules.blacklist.version,
        WHITELIST_VERSION: rules.whitelist.version,
    }

    def versioned(spec: dg.AssetSpec) -> dg.AssetSpec:
        version = versions.get(spec.code_version or "", spec.code_version)
        return spec.replace_attributes(code_version=version)

    return [asset.map_asset_specs(versioned) for asset in assets]


@contextlib.contextmanager
def refusals_as_failures() -> Iterator[None]:
    """A refused stage-1 package fails the step with its one-line reason (batch and
    why), as Dagster shows a Failure, not a traceback."""
    try:
        yield
    except PackageRefused as error:
        raise dg.Failure(description=str(error)) from None


def stage_metadata(report: pipeline.StageReport) -> dict[str, Any]:
    """The report's counts, and files by disposition in the manifest's own words, never
    cut ("skipped: already released in cd_002 (not yet signed off)"). A package's counts
    come from its descriptor, which has the dispositions' summaries only."""
    counted = report.dispositions or report.reasons
    return {
        **report.metadata(),
        **{f"disposition: {text}": count for text, count in sorted(counted.items())},
    }


@batch_asset(
    group_name="intake",
    kinds={"dicom", "parquet"},
    code_version=SCAN_VERSION,
)
def raw_batch(
    context: dg.AssetExecutionContext, settings: PipelineSettings
) -> dg.MaterializeResult:
    """The CD copy as it arrived: one manifest row per file (kind, size, XXH3-128 content hash).
    Or a hospital's stage-1 package, verified whole (refused with the reason if any part
    fails), its manifest's rows taken over. The input folder is only read. The manifest
    stays in the secure zone; `stage1_site` says which way the batch came."""
    paths = settings.paths(context.partition_key)
    with settings.run_pool(), refusals_as_failures():
        report = pipeline.scan_step(paths, policy(settings), step_options(context, settings))
    return dg.MaterializeResult(
        metadata={**report.metadata(), "manifest": dg.MetadataValue.path(str(paths.scan))}
    )


@batch_asset(
    deps=[raw_batch],
    group_name="stage1",
    kinds={"dicom"},
    code_version=BLACKLIST_VERSION,
)
def blacklisted_files(
    context: dg.AssetExecutionContext, settings: PipelineSettings
) -> dg.MaterializeResult:
    """Stage 1: direct identifiers removed or pseudonymised (blacklist.yaml). Secure zone.
    For a hospital's stage-1 package, the package's files adopted as they are (never
    blacklisted twice), with the hospital's counts, rule version and key fingerprint."""
    paths = settings.paths(context.partition_key)
    with settings.run_pool(), refusals_as_failures():
        report = pipeline.blacklist_step(paths, policy(settings), step_options(context, settings))
    return dg.MaterializeResult(
        metadata={**stage_metadata(report), "folder": dg.MetadataValue.path(str(paths.stage1_dir))}
    )


@batch_asset(
    deps=[blacklisted_files],
    group_name="stage2",
    kinds={"dicom"},
    code_version=WHITELIST_VERSION,
)
def whitelisted_files(
    context: dg.AssetExecutionContext, settings: PipelineSettings
) -> dg.MaterializeResult:
    """Stage 2: only whitelisted attributes, hashed UIDs, shifted dates; the releasable files.
    Every input file's final disposition is in the secure manifest."""
    paths = settings.paths(context.partition_key)
    with settings.run_pool():
        report = pipeline.whitelist_step(
            paths,
            policy(settings),
            step_options(context, settings),
            operator=settings.operator_name(),
            index=settings.data_root.released_index,
            arrival=sensor_listing(context),
        )
    if report.nothing_new:
        context.log.warning(f"{context.partition_key}: {report.nothing_new}")
    return dg.MaterializeResult(
        metadata={
            **stage_metadata(report),
            "files_to_release": report.outcomes.get("anonymized", 0),
            **report.duplicates,
            "blacklist_rule_set_version": settings.rule_sets().blacklist.version,
            "files": dg.MetadataValue.path(str(paths.release_files)),
            "manifest": dg.MetadataValue.path(str(paths.manifest)),
        }
    )


@batch_asset(
    deps=[whitelisted_files],
    group_name="stage2",
    kinds={"parquet"},
    code_version=WHITELIST_VERSION,
)
def hashed_uid_map(
    context: dg.AssetExecutionContext, settings: PipelineSettings
) -> dg.MaterializeResult:
    """Original UID -> keyed hash, for the batch. Secure zone: it links outputs to originals."""
    paths = settings.paths(context.partition_key)
    pairs = pipeline.uid_map_step(paths)
    return dg.MaterializeResult(
        metadata={"uid_pairs": pairs, "table": dg.MetadataValue.path(str(paths.uid_map))}
    )


@batch_asset(
    deps=[whitelisted_files],
    group_name="verification",
    kinds={"parquet", "duckdb"},
    code_version=WHITELIST_VERSION,
)
def attribute_inventory(
    context: dg.AssetExecutionContext, settings: PipelineSettings
) -> dg.MaterializeResult:
    """Per attribute and distinct released value: number of files. What the second
    reviewer reads (with DuckDB) before sign-off. Holds only whitelisted values."""
    paths = settings.paths(context.partition_key)
    rows = pipeline.inventory_step(paths)
    attributes = len({row["tag_path"] for row in read_rows(paths.inventory)})
    return dg.MaterializeResult(
        metadata={
            "rows": rows,
            "attributes": attributes,
            # Values only for kept, non-free-text attributes: see qc_summary_markdown.
            "qc_summary": dg.MetadataValue.md(
                qc_summary_markdown(paths.inventory, settings.rule_sets().whitelist)
            ),
            "table": dg.MetadataValue.path(str(paths.inventory)),
        }
    )


@batch_asset(
    deps=[whitelisted_files],
    group_name="verification",
    kinds={"parquet"},
    code_version=WHITELIST_VERSION,
)
def review_queue(
    context: dg.AssetExecutionContext, settings: PipelineSettings
) -> dg.MaterializeResult:
    """Attributes no whitelist rule covers, and kept values not of their attribute's
    form: removed, and waiting for a reviewer. Shown here by tag, keyword and reason
    only; sample values stay in the secure zone."""
    paths = settings.paths(context.partition_key)
    attributes = pipeline.review_queue_step(paths)
    rows = read_rows(paths.review_queue)
    table = "\n".join(
        ["| tag | keyword | VR | reason | files |", "| --- | --- | --- | --- | --- |"]
        + [
            f"| {r['tag']} | {r['keyword'] or '(none)'} | {r['vr']} | {r['reason']} "
            f"| {r['files']} |"
            for r in rows
        ]
    )
    refused = [r for r in rows if r["reason"] != NO_RULE]
    return dg.MaterializeResult(
        metadata={
            "attributes_queued": attributes,
            "values_refused": len(refused),  # kept attributes whose values failed their form
            "files_with_values_refused": sum(r["files"] for r in refused),
            "queue": dg.MetadataValue.md(table),
            "table": dg.MetadataValue.path(str(paths.review_queue)),
        }
    )


@batch_asset(
    deps=[whitelisted_files],
    group_name="verification",
    kinds={"png"},
    code_version=WHITELIST_VERSION,
)
def contact_sheet(
    context: dg.AssetExecutionContext, settings: PipelineSettings
) -> dg.MaterializeResult:
    """One thumbnail per series (middle slice, windowed) for spotting burned-in text.
    The image may show burned-in PHI, so it stays in the secure zone: only its path is here."""
    paths = settings.paths(context.partition_key)
    report = write_contact_sheet(paths, paths.contact_sheet)
    return dg.MaterializeResult(
        metadata={
            "series": report.series,
            "thumbnails": report.decoded,
            "not_decodable": report.not_decodable,
            "image": dg.MetadataValue.path(str(paths.contact_sheet)),
        }
    )


@batch_asset(
    deps=[whitelisted_files, attribute_inventory, review_queue, hashed_uid_map, contact_sheet],
    group_name="release",
    kinds={"dicom"},
    code_version=WHITELIST_VERSION,
)
def released_batch(
    context: dg.AssetExecutionContext, settings: PipelineSettings
) -> dg.MaterializeResult:
    """The approved batch, hard-linked into released/ with a PHI-free audit log. Refuses
    without a valid approval (anon-pipeline approve), or if the outputs changed since."""
    root = settings.data_root
    try:
        audit = signoff.release_batch(root, context.partition_key)
    except signoff.SignOffRefused as error:
        raise dg.Failure(description=str(error)) from None
    return dg.MaterializeResult(
        metadata={
            "approved_by": audit["approved_by"],
            "whitelisted_by": audit["whitelisted_by"],
            "approved_at": audit["approved_at"],
            "files_released": audit["outcomes"].get("anonymized", 0),
            "fingerprint": audit["fingerprint"][:16],
            "folder": dg.MetadataValue.path(str(root.released / context.partition_key)),
        }
    )


# What the anonymize_batch job materializes; released_batch waits for a person.
anonymization_assets = [
    raw_batch,
    blacklisted_files,
    whitelisted_files,
    hashed_uid_map,
    attribute_inventory,
    review_queue,
    contact_sheet,
]
batch_assets = [*anonymization_assets, released_batch]
