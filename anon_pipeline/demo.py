"""`make demo`: synthetic CD batches, picked up by the real arrival sensor and run
through the real Dagster job, recorded in $DAGSTER_HOME so that `make ui` shows the
runs, materializations and check results afterwards.

The runs are launched the way production launches them: through the instance, from the
code location (`code_location.py`), by its run launcher. So every run the demo makes
can be re-executed from the UI, as a sensor-started one can (a run executed in this
process would have no code location to re-execute from). The demo waits for each run
and prints its summary: no second command is needed.
"""

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._cli.job import _create_run  # what `dagster job launch` creates a run with
from dagster._cli.workspace.cli_target import (
    get_code_location_from_workspace,
    get_remote_job_from_remote_repo,
    get_remote_repository_from_code_location,
    get_workspace_from_cli_opts,
)
from dagster.version import __version__ as dagster_version
from dagster_shared.cli import WorkspaceOpts

from anon_pipeline.code_location import LOCATION_NAME, write_workspace
from anon_pipeline.definitions import defs
from anon_pipeline.defs.jobs import anonymize_batch_job
from anon_pipeline.defs.partitions import BATCHES
from anon_pipeline.defs.resources import PipelineSettings
from anon_pipeline.defs.sensors import RUN_KEY_TAG, SENSOR_NAME_TAG, incoming_batches
from anon_pipeline.engine.disk import init_root
from anon_pipeline.synthetic.cds import write_demo_batches

RUN_SECONDS = 600


@contextmanager
def run_launcher(instance: dg.DagsterInstance) -> Iterator[Any]:
    """A function that launches the batch job for a partition from the code location,
    through the instance's run launcher (not its queue: the demo has no daemon), and
    returns the run's id."""
    workspace_file = write_workspace(Path(instance.root_directory) / "workspace.yaml")
    options = WorkspaceOpts(workspace=[str(workspace_file)])
    with get_workspace_from_cli_opts(instance, dagster_version, options) as workspace:
        location = get_code_location_from_workspace(workspace, LOCATION_NAME)
        repository = get_remote_repository_from_code_location(location, None)
        job = get_remote_job_from_remote_repo(repository, anonymize_batch_job.name)

        def launch(partition: str, tags: dict[str, str]) -> str:
            run = _create_run(
                instance=instance,
                code_location=location,
                remote_repo=repository,
                remote_job=job,
                run_config=QUIET_RUN,
                tags={**tags, "dagster/partition": partition},
                op_selection=None,
                run_id=None,
            )
            instance.launch_run(run.run_id, workspace)
            return run.run_id

        yield launch


# The summary below is the demo's output; every event is in the UI (make ui).
QUIET_RUN = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def wait_for(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun:
    deadline = time.monotonic() + RUN_SECONDS
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            return run
        time.sleep(0.5)
    raise TimeoutError(f"run {run_id[:8]} did not finish in {RUN_SECONDS} s (see make ui)")


def summary(instance: dg.DagsterInstance, run: dg.DagsterRun, partition: str) -> list[str]:
    """The run's line and its failed checks, read back from the instance."""
    materialized = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    checks: list[Any] = [
        record.get_dagster_event().event_specific_data
        for record in instance.all_logs(
            run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        )
    ]
    passed = sum(check.passed for check in checks)
    status = "succeeded" if run.status == dg.DagsterRunStatus.SUCCESS else "FAILED"
    lines = [
        f"{partition}: run {run.run_id[:8]} {status}; {len(materialized)} materializations; "
        f"checks {passed}/{len(checks)} passed"
    ]
    lines += [
        f"    {check.check_name}: not passed ({check.severity.value})"
        for check in checks
        if not check.passed
    ]
    return lines


def run_demo(batches_count: int) -> int:
    settings = PipelineSettings.from_environment()
    root = settings.data_root
    init_root(root.root, create_key=not root.key_file.exists())
    for batch, images in write_demo_batches(root.incoming, batches_count, marker=settings.marker):
        print(f"{batch}: {images} new synthetic CT images" if images else f"{batch}: exists")

    instance = dg.DagsterInstance.get()
    with dg.build_sensor_context(
        instance=instance, resources={"settings": settings}, sensor_name=incoming_batches.name
    ) as context:
        result = incoming_batches(context)
    assert isinstance(result, dg.SensorResult)  # what the arrival sensor returns
    for partitions in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(BATCHES, list(partitions.partition_keys or []))
    run_requests = list(result.run_requests or [])
    print(f"sensor: {len(run_requests)} batch(es) ready")

    assert defs.resolve_job_def(anonymize_batch_job.name)  # the definitions load here too
    failed = 0
    with run_launcher(instance) as launch:
        for request in run_requests:
            # The tags the sensor daemon reads to recognise runs it already requested
            # (so `make ui` does not run the demo batches a second time).
            tags = {
                **request.tags,
                SENSOR_NAME_TAG: incoming_batches.name,
                RUN_KEY_TAG: request.run_key or "",
            }
            run = wait_for(instance, launch(request.partition_key or "", tags))
            print("\n".join(summary(instance, run, request.partition_key or "")))
            failed += run.status != dg.DagsterRunStatus.SUCCESS
    print(f"\nwhitelisted files (not yet signed off): {root.release}\nsecure zone: {root.secure}")
    print("next: make ui                          the runs, partitions and checks in the UI")
    print("      anon-pipeline review list        what waits for a decision")
    print("      anon-pipeline review decide TAG ACTION --reviewer NAME, then rerun")
    print("      anon-pipeline approve BATCH --reviewer NAME (not the operator) to release it")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=3)
    return run_demo(parser.parse_args().batches)


if __name__ == "__main__":
    sys.exit(main())
