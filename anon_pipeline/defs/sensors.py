"""The arrival sensor: a batch starts when the copy station has finished it."""

import json
import time

import dagster as dg

from anon_pipeline.defs.jobs import anonymize_batch_job, release_batch_job
from anon_pipeline.defs.partitions import batches
from anon_pipeline.defs.resources import PipelineSettings
from anon_pipeline.engine.arrivals import BatchState, look_at_incoming, ready_batches


@dg.sensor(
    job=anonymize_batch_job,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Watches incoming/: a batch is ready when it holds the completion marker "
    "(default .copy_complete) or its listing has not changed for the quiet period (never for "
    "a batch with a folder that cannot be listed: the skip reason names it). Adds the "
    "partition and requests its run in one tick; the run key is the batch's name and listing "
    "signature, so a batch never runs twice by accident.",
)
def incoming_batches(
    context: dg.SensorEvaluationContext, settings: PipelineSettings
) -> dg.SensorResult:
    memory = json.loads(context.cursor) if context.cursor else {}
    states = look_at_incoming(settings.data_root.incoming, settings.marker)
    ready, new_memory = ready_batches(states, memory, time.time(), settings.quiet_seconds)
    known = set(context.instance.get_dynamic_partitions(batches.name))
    run_requests, new_partitions = [], []
    for state in ready:
        if memory.get(state.name, {}).get("launched") == state.signature:
            new_memory[state.name]["launched"] = state.signature
            continue
        new_memory[state.name]["launched"] = state.signature
        if state.name not in known:
            new_partitions.append(state.name)
        run_requests.append(
            dg.RunRequest(
                partition_key=state.name,
                run_key=f"{state.name}:{state.signature}",
                tags={"anon_pipeline/trigger": "arrival"},
            )
        )
    for name, seen in memory.items():  # keep what was launched, also for batches not ready now
        if name in new_memory and "launched" in seen and "launched" not in new_memory[name]:
            new_memory[name]["launched"] = seen["launched"]
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[batches.build_add_request(new_partitions)]
        if new_partitions
        else [],
        cursor=json.dumps(new_memory, sort_keys=True),
        skip_reason=None if run_requests else waiting_reason(states, ready, settings.marker),
    )


def waiting_reason(states: list[BatchState], ready: list[BatchState], marker: str) -> str:
    """Why no run starts: a batch with a folder nobody can list never looks quiet, and
    would wait without a word (batch names only: paths inside a batch stay secure)."""
    blocked = [state for state in states if state.unlistable_folders and state not in ready]
    reasons = [
        f"{state.name} waits: {state.unlistable_folders} folder(s) in it cannot be listed "
        f"(fix their permissions, or add {marker} to run it and hold what they contain)"
        for state in blocked
    ]
    return "; ".join(["no new complete batch", *reasons])


@dg.sensor(
    job=release_batch_job,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts a release run when an approval appears (anon-pipeline approve); the "
    "run key is the batch and the approved fingerprint, so each approval releases once.",
)
def approved_batches(
    context: dg.SensorEvaluationContext, settings: PipelineSettings
) -> dg.SensorResult:
    seen = json.loads(context.cursor) if context.cursor else {}
    known = set(context.instance.get_dynamic_partitions(batches.name))
    run_requests = []
    for path in sorted(settings.data_root.approvals.glob("*.json")):
        batch, fingerprint = path.stem, json.loads(path.read_text())["fingerprint"]
        if batch in known and seen.get(batch) != fingerprint:
            seen[batch] = fingerprint
            run_requests.append(
                dg.RunRequest(partition_key=batch, run_key=f"{batch}:{fingerprint[:16]}")
            )
    return dg.SensorResult(
        run_requests=run_requests,
        cursor=json.dumps(seen, sort_keys=True),
        skip_reason=None if run_requests else "no new approval",
    )
