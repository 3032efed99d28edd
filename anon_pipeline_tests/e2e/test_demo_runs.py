"""The runs `make demo` makes can be re-executed from the UI: the demo launches them from
the code location through the instance, as production does, so each run has an origin
to re-execute from (a run executed in the demo's own process had none: HTTP 500)."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

from anon_pipeline_tests.e2e.conftest import REEXECUTE

pytestmark = pytest.mark.slow
REPOSITORY = Path(__file__).resolve().parents[2]
LAUNCH = """mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}"""
RUN_SECONDS = 180


def finished(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun:
    deadline = time.monotonic() + RUN_SECONDS
    while not (run := instance.get_run_by_id(run_id)).is_finished:
        assert time.monotonic() < deadline, f"the run is {run.status}"
        time.sleep(1)
    return run


def test_a_demo_run_is_re_executed_as_the_uis_button_does(tmp_path, monkeypatch):
    home, root = tmp_path / "dagster_home", tmp_path / "root"
    home.mkdir()
    shutil.copy(REPOSITORY / "dagster.yaml", home / "dagster.yaml")  # as `make demo` does
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("ANON_PIPELINE_ROOT", str(root))
    monkeypatch.setenv("ANON_PIPELINE_WORKERS", "1")
    demo = subprocess.run(
        [sys.executable, "-m", "anon_pipeline.demo", "--batches", "1"],
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "cd_001: run" in demo.stdout and "succeeded; 7 materializations" in demo.stdout

    # The UI's button submits the run to the queue, which `make ui`'s daemon empties;
    # with no daemon here, the re-executed run must launch at once.
    (home / "dagster.yaml").write_text(
        "run_coordinator:\n  module: dagster.core.run_coordinator\n"
        "  class: DefaultRunCoordinator\ntelemetry:\n  enabled: false\n"
    )
    with dg.DagsterInstance.get() as instance:
        (parent,) = instance.get_runs()
        assert parent.remote_job_origin is not None  # what re-execution needs
        # The code server runs what it launches: the run is waited for while it serves.
        with define_out_of_process_context(str(home / "workspace.yaml"), None, instance) as ui:
            answer = execute_dagster_graphql(ui, REEXECUTE, {"parentRunId": parent.run_id})
            launched = answer.data["launchPipelineReexecution"]
            assert launched["__typename"] == "LaunchRunSuccess", launched
            run = finished(instance, launched["run"]["runId"])
            assert run.status == dg.DagsterRunStatus.SUCCESS
            assert run.parent_run_id == parent.run_id

            # The whole batch again, as the job's Launchpad with the partition chosen does
            # (README): every asset of the batch in one run.
            params = {
                "selector": {
                    "repositoryLocationName": "anon_pipeline",
                    "repositoryName": "__repository__",
                    "jobName": "anonymize_batch",
                },
                "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "cd_001"}]},
            }
            answer = execute_dagster_graphql(ui, LAUNCH, {"params": params})
            launched = answer.data["launchRun"]
            assert launched["__typename"] == "LaunchRunSuccess", launched
            rerun = finished(instance, launched["run"]["runId"])
        assert rerun.status == dg.DagsterRunStatus.SUCCESS
        materialized = {
            record.get_dagster_event().asset_key.to_user_string()
            for record in instance.all_logs(
                rerun.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            )
        }
        assert len(materialized) == 7 and "raw_batch" in materialized
        assert os.environ["DAGSTER_HOME"] == str(home)
