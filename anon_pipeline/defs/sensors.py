"""The sensors: a batch starts when the copy station has finished it (arrivals), is
released when approved, and is rerun when the rules it was made with changed (stale)."""

import bisect
import datetime as dt
import functools
import json
import time
from pathlib import Path

import dagster as dg

from anon_pipeline.defs.jobs import anonymize_batch_job, release_batch_job
from anon_pipeline.defs.partitions import BATCHES, batches
from anon_pipeline.defs.resources import PipelineSettings
from anon_pipeline.engine.batch import (
    REQUESTED_MEMORY_SECONDS,
    TOUCH_SLACK_SECONDS,
    ArrivalMemory,
    BatchState,
    Launched,
    Look,
    Watch,
    look_at_incoming,
    made_under_older_rules,
    recorded_signature,
    run_key,
    signature_of_run_key,
)
from anon_pipeline.engine.disk import BatchPaths, DataRoot
from anon_pipeline.engine.release.signoff import approvals_written_since

# Tags Dagster puts on every run (dagster._core.storage.tags; not re-exported by dagster).
PARTITION_TAG = "dagster/partition"
SENSOR_NAME_TAG = "dagster/sensor_name"
RUN_KEY_TAG = "dagster/run_key"
ARRIVAL_SENSOR = "incoming_batches"


@dg.sensor(
    name=ARRIVAL_SENSOR,
    job=anonymize_batch_job,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Watches incoming/: a batch is ready when it holds the completion marker "
    "(default .copy_complete) or its listing has not changed for the quiet period (never for "
    "a batch with a folder that cannot be listed: the skip reason names it). Adds the "
    "partition and requests its run in one tick; the run key is the batch's name and listing "
    "signature, so a batch never runs twice by accident. Launched batches are walked again "
    "only when their folder or marker is touched, or in a slow rotation.",
)
def incoming_batches(
    context: dg.SensorEvaluationContext, settings: PipelineSettings
) -> dg.SensorResult:
    launched = set(context.instance.get_dynamic_partitions(BATCHES))
    known = KnownBatches(launched, settings.data_root)
    look = look_at_incoming(
        settings.data_root.incoming,
        ArrivalMemory.from_json(context.cursor),
        Launched(known, functools.partial(known.last_signature, context.instance)),
        Watch(settings.quiet_seconds, settings.marker),
    )
    new_partitions = [state.name for state in look.ready if state.name not in launched]
    new_partitions += sorted(known.from_data_root - set(new_partitions))
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                partition_key=state.name,
                run_key=run_key(state),
                tags={"anon_pipeline/trigger": "arrival"},
            )
            for state in look.ready
        ],
        dynamic_partitions_requests=[batches.build_add_request(new_partitions)]
        if new_partitions
        else [],
        cursor=look.memory.to_json(),
        skip_reason=None if look.ready else waiting_reason(look, settings),
    )


class KnownBatches:
    """The batches already processed: Dagster's partitions, and for a new or reset
    instance over an existing data root, the batches whose processing the root records
    (`arrival_record`). Only a batch that is not a partition is looked up in the root, so
    on a running instance the cost stays with the new batches; a new instance adds the
    recorded ones as partitions at its first tick and requests no run for them."""

    def __init__(self, partitions: set[str], root: DataRoot) -> None:
        self.partitions, self.root = partitions, root
        self.from_data_root: set[str] = set()

    def __contains__(self, name: object) -> bool:
        if name in self.partitions or name in self.from_data_root:
            return True
        if isinstance(name, str) and self.record(name).is_file():
            self.from_data_root.add(name)
            return True
        return False

    def record(self, name: str) -> Path:
        return BatchPaths.in_root(self.root, name).secure.arrival_record

    def last_signature(self, instance: dg.DagsterInstance, name: str) -> str | None:
        return last_run_signature(instance, ARRIVAL_SENSOR, name) or recorded_signature(
            self.record(name)
        )


def last_run_signature(instance: dg.DagsterInstance, sensor: str, batch: str) -> str | None:
    """The listing signature of the newest run this sensor started for a batch (from its
    run key), or None if it started none."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(tags={PARTITION_TAG: batch, SENSOR_NAME_TAG: sensor}), limit=1
    )
    key = records[0].dagster_run.tags.get(RUN_KEY_TAG) if records else None
    return signature_of_run_key(key) if key else None


MAX_NAMED_WAITING = 20  # batches a skip message names; the rest are counted


def waiting_reason(look: Look, settings: PipelineSettings) -> str:
    """Why no run starts, batch by batch: what each arriving batch waits for (its marker,
    or how much longer its listing must stay unchanged), and a batch with a folder nobody
    can list, which never looks quiet. Batch names only: paths inside stay secure."""
    now = look.memory.looked_at or time.time()
    reasons = [
        waiting_for(state, look.memory.arriving, now, settings)
        for state in look.arriving[:MAX_NAMED_WAITING]
    ]
    if len(look.arriving) > MAX_NAMED_WAITING:
        reasons.append(f"and {len(look.arriving) - MAX_NAMED_WAITING} more batch(es) arriving")
    return "; ".join(["no new complete batch", *reasons])


def waiting_for(
    state: BatchState,
    arriving: dict[str, tuple[str, float]],
    now: float,
    settings: PipelineSettings,
) -> str:
    marker = settings.marker
    if state.unlistable_folders:
        return (
            f"{state.name} waits: {state.unlistable_folders} folder(s) in it cannot be listed "
            f"(fix their permissions, or add {marker} to run it and hold what they contain)"
        )
    since = arriving.get(state.name, (state.signature, now))[1]
    left = max(0, round(settings.quiet_seconds - (now - since)))
    return f"{state.name} waits for {marker}, or {left} s more without a change"


@dg.sensor(
    job=release_batch_job,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts a release run when an approval appears (anon-pipeline approve); the "
    "run key is the batch and the approved fingerprint, so each approval releases once. Reads "
    "only the approvals written since its previous look.",
)
def approved_batches(
    context: dg.SensorEvaluationContext, settings: PipelineSettings
) -> dg.SensorResult:
    memory = json.loads(context.cursor) if context.cursor else {}
    if "looked_at" not in memory:  # an older cursor (one entry per approval ever made)
        memory = {"looked_at": time.time() - TOUCH_SLACK_SECONDS if memory else None}
    now = time.time()
    since = memory["looked_at"] - TOUCH_SLACK_SECONDS if memory["looked_at"] else None
    requested = {
        batch: seen
        for batch, seen in memory.get("requested", {}).items()
        if now - seen[1] < REQUESTED_MEMORY_SECONDS
    }
    known = set(context.instance.get_dynamic_partitions(BATCHES))
    run_requests = []
    for batch, fingerprint in approvals_written_since(settings.data_root, since):
        if batch in known and fingerprint and requested.get(batch, [None])[0] != fingerprint:
            requested[batch] = [fingerprint, now]
            run_requests.append(
                dg.RunRequest(partition_key=batch, run_key=f"{batch}:{fingerprint[:16]}")
            )
    return dg.SensorResult(
        run_requests=run_requests,
        cursor=json.dumps({"looked_at": now, "requested": requested}, sort_keys=True),
        skip_reason=None if run_requests else "no new approval",
    )


STALE_SENSOR = "stale_batches"
STALE_PAGE = 500  # batches whose run record a tick reads; the cursor keeps its place


@dg.sensor(
    name=STALE_SENSOR,
    job=anonymize_batch_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="After a reviewer's decision (or any rule change), reruns every batch "
    "whitelisted under other rules: each run the whole batch, in one process, queued within "
    "the deployment's run limit. Start it from Automation; it walks the processed batches "
    f"{STALE_PAGE} a tick once per rule version, then only compares two versions a tick. The "
    "run key is the batch and the new version, so a batch is rerun once per version.",
)
def stale_batches(
    context: dg.SensorEvaluationContext, settings: PipelineSettings
) -> dg.SensorResult | dg.SkipReason:
    rules = settings.rule_sets()
    version = f"{rules.blacklist.version}/{rules.whitelist.version}"
    memory = json.loads(context.cursor) if context.cursor else {}
    if memory.get("version") != version:  # a new rule version: a new pass from the start
        memory = {"version": version, "after": "", "done": False, "requested": 0}
    if memory["done"]:
        return dg.SkipReason(
            f"every processed batch was made under the rules in force ({version}); "
            f"{memory['requested']} rerun for them"
        )
    names = sorted(context.instance.get_dynamic_partitions(BATCHES))
    start = bisect.bisect_right(names, memory["after"]) if memory["after"] else 0
    page = names[start : start + STALE_PAGE]
    stale = [
        name
        for name in page
        if made_under_older_rules(settings.paths(name), rules.blacklist, rules.whitelist)
    ]
    memory.update(
        after=page[-1] if page else memory["after"],
        done=start + len(page) >= len(names),
        requested=memory["requested"] + len(stale),
    )
    checked = start + len(page)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                partition_key=name,
                run_key=f"stale:{name}:{version}",
                tags={"anon_pipeline/trigger": "rule change"},
            )
            for name in stale
        ],
        cursor=json.dumps(memory, sort_keys=True),
        skip_reason=None
        if stale
        else f"no stale batch among {checked} of {len(names)} checked under {version}",
    )


RELAUNCH_SENSOR = "unretried_failures"
WILL_RETRY_TAG = "dagster/will_retry"  # Dagster's run retries: it decided to retry the run
# What Dagster's run retries log when their attempt failed (they then set will_retry false).
RETRY_FAILED_MESSAGE = "Failed to retry run"
AUTO_RETRY_RUN_ID_TAG = "dagster/auto_retry_run_id"  # ... and launched this run
FAILURE_REASON_TAG = "dagster/failure_reason"
STEP_FAILURE = "STEP_FAILURE"  # Dagster's RunFailureReason of a failed step (or check)
RELAUNCH_TAG = "anon_pipeline/relaunch"  # how many relaunches a batch's chain had
MAX_RELAUNCHES = 2
RELAUNCH_GRACE_SECONDS = 60  # Dagster's own retry goes first (it tries within seconds)
RELAUNCH_WINDOW_SECONDS = 6 * 3600


@dg.sensor(
    name=RELAUNCH_SENSOR,
    job=anonymize_batch_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Completes Dagster's run retries (dagster.yaml run_retries): a batch's run "
    "that Dagster decided to retry (an infrastructure failure: a lost worker, the database "
    "restarting; never a failed check) but whose retry was not launched, or failed to launch "
    "because the database was still down (Dagster then gives up), is launched again here once "
    f"the database answers, at most {MAX_RELAUNCHES} times per batch.",
)
def unretried_failures(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    now = time.time()
    since = dt.datetime.fromtimestamp(now - RELAUNCH_WINDOW_SECONDS, tz=dt.UTC)
    records = context.instance.get_run_records(
        filters=dg.RunsFilter(
            job_name=anonymize_batch_job.name,
            statuses=[dg.DagsterRunStatus.FAILURE],
            updated_after=since,
        ),
        limit=200,
    )
    # Runs judged once after their grace period are not judged again: each tick reads
    # the logs of new failures only, not of every failure in the window.
    settled = set(json.loads(context.cursor)) if context.cursor else set()
    requests = []
    for record in records:
        run = record.dagster_run
        if run.run_id in settled or now - record.update_timestamp.timestamp() < (
            RELAUNCH_GRACE_SECONDS
        ):
            continue  # judged before, or Dagster's own retry still has its turn
        settled.add(run.run_id)
        request = relaunch_request(context.instance, run)
        if request is not None:
            requests.append(request)
    cursor = json.dumps(sorted(settled & {record.dagster_run.run_id for record in records}))
    if not requests:
        return dg.SensorResult(
            cursor=cursor, skip_reason="no failed run waits for the retry Dagster decided on"
        )
    return dg.SensorResult(run_requests=requests, cursor=cursor)


def relaunch_request(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dg.RunRequest | None:
    """A run of the failed run's batch, if Dagster decided to retry it and no retry came."""
    batch = run.tags.get(PARTITION_TAG)
    relaunches = int(run.tags.get(RELAUNCH_TAG, "0"))
    will_retry = run.tags.get(WILL_RETRY_TAG)
    if batch is None or run.tags.get(AUTO_RETRY_RUN_ID_TAG) or relaunches >= MAX_RELAUNCHES:
        return None
    if will_retry != "true" and (
        will_retry != "false"
        or run.tags.get(FAILURE_REASON_TAG) == STEP_FAILURE  # a failed step or check
        or not retry_attempt_failed(instance, run.run_id)
    ):
        return None  # Dagster chose not to retry (a failed check, retries spent)
    newest = instance.get_run_records(
        filters=dg.RunsFilter(tags={PARTITION_TAG: batch}, job_name=run.job_name), limit=1
    )
    if newest and newest[0].dagster_run.run_id != run.run_id:
        return None  # rerun since, by Dagster, a person or a sensor
    return dg.RunRequest(
        partition_key=batch,
        run_key=f"relaunch:{run.run_id}",
        tags={
            RELAUNCH_TAG: str(relaunches + 1),
            "anon_pipeline/relaunch_of": run.run_id,
            "anon_pipeline/trigger": "infrastructure failure",
        },
    )


def retry_attempt_failed(instance: dg.DagsterInstance, run_id: str) -> bool:
    """Whether Dagster's run retries tried to retry this run and failed to launch it."""
    return any(
        (record.message or "").startswith(RETRY_FAILED_MESSAGE)
        for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
    )
