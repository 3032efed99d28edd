"""`make demo`: synthetic CD batches, picked up by the real arrival sensor and run
through the real Dagster job in this process, recorded in $DAGSTER_HOME so that
`make ui` shows the runs, materializations and check results afterwards."""

import argparse
import sys

import dagster as dg

from anon_pipeline.definitions import defs
from anon_pipeline.defs.jobs import anonymize_batch_job
from anon_pipeline.defs.partitions import BATCHES
from anon_pipeline.defs.resources import PipelineSettings
from anon_pipeline.defs.sensors import RUN_KEY_TAG, SENSOR_NAME_TAG, incoming_batches
from anon_pipeline.engine.disk import init_root
from anon_pipeline.synthetic.cds import write_demo_batches


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

    job = defs.resolve_job_def(anonymize_batch_job.name)
    failed = 0
    for request in run_requests:
        run = job.execute_in_process(
            partition_key=request.partition_key,
            instance=instance,
            # The summary below is the demo's output; every event is in the UI (make ui).
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            # The tags the sensor daemon reads to recognise runs it already requested
            # (so `make ui` does not run the demo batches a second time).
            tags={
                **request.tags,
                SENSOR_NAME_TAG: incoming_batches.name,
                RUN_KEY_TAG: request.run_key or "",
            },
            raise_on_error=False,
        )
        checks = run.get_asset_check_evaluations()
        passed = sum(evaluation.passed for evaluation in checks)
        status = "succeeded" if run.success else "FAILED"
        print(
            f"{request.partition_key}: run {run.run_id[:8]} {status}; "
            f"{len(run.get_asset_materialization_events())} materializations; "
            f"checks {passed}/{len(checks)} passed"
        )
        for evaluation in checks:
            if not evaluation.passed:
                print(f"    {evaluation.check_name}: not passed ({evaluation.severity.value})")
        failed += not run.success
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
