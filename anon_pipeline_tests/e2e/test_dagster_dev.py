"""End to end: a batch dropped into incoming/ is picked up by the sensor of a real
`dagster dev`, and the result is verified through GraphQL and in a browser."""

import contextlib
import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from anon_pipeline.defs.assets import anonymization_assets
from anon_pipeline.defs.checks import OUTPUT_CHECKS
from anon_pipeline.engine.disk.layout import DEFAULT_MARKER
from anon_pipeline.engine.release.review import record_decision
from anon_pipeline.synthetic.cds import fake_patient, write_cd_batch
from anon_pipeline_tests.e2e.conftest import ARTIFACTS, REEXECUTE

pytestmark = pytest.mark.slow

BATCH = "cd_e2e"
RUN_SECONDS = 300
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RUNS = """query($partition: String!) {
  runsOrError(filter: {tags: [{key: "dagster/partition", value: $partition}]}) {
    ... on Runs { results { runId status tags { key value } } }
  }
}"""
MATERIALIZATIONS = """query($key: AssetKeyInput!, $partition: String!) {
  assetOrError(assetKey: $key) {
    ... on Asset { assetMaterializations(partitions: [$partition]) { partition runId } }
  }
}"""
CHECK_EXECUTIONS = """query($key: AssetKeyInput!, $check: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $check, limit: 10) {
    runId status evaluation { success partition severity }
  }
}"""


def drop_batch(incoming: Path) -> None:
    """Copy like a copy station: into a hidden folder, marker last, then rename."""
    staging = incoming / f".{BATCH}.copying"
    write_cd_batch(staging, [fake_patient(11), fake_patient(12)], series=1, slices=2)
    (staging / DEFAULT_MARKER).touch()
    os.rename(staging, incoming / BATCH)


def wait_for_run(dagster_dev) -> dict:
    deadline = time.monotonic() + RUN_SECONDS
    while time.monotonic() < deadline:
        runs = dagster_dev.graphql(RUNS, {"partition": BATCH})["runsOrError"]["results"]
        if runs and runs[0]["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return runs[0]
        time.sleep(3)
    pytest.fail(f"no finished run for {BATCH} within {RUN_SECONDS}s (see test-artifacts/)")


@pytest.fixture(scope="module")
def finished_run(dagster_dev) -> dict:
    drop_batch(dagster_dev.root / "incoming")
    return wait_for_run(dagster_dev)


def test_sensor_run_materializes_every_asset_and_passes_every_check(dagster_dev, finished_run):
    assert finished_run["status"] == "SUCCESS"
    tags = {tag["key"]: tag["value"] for tag in finished_run["tags"]}
    assert tags["dagster/sensor_name"] == "incoming_batches"
    assert tags["dagster/run_key"].startswith(f"{BATCH}:")
    for asset in anonymization_assets:
        answer = dagster_dev.graphql(
            MATERIALIZATIONS, {"key": {"path": asset.key.path}, "partition": BATCH}
        )
        events = answer["assetOrError"]["assetMaterializations"]
        assert [event["runId"] for event in events] == [finished_run["runId"]], asset.key
    checks = [
        ("whitelisted_files", name) for name in [*OUTPUT_CHECKS, "every_input_file_accounted_for"]
    ]
    for asset, check in checks:
        executions = dagster_dev.graphql(
            CHECK_EXECUTIONS, {"key": {"path": [asset]}, "check": check}
        )["assetCheckExecutions"]
        mine = [e for e in executions if e["runId"] == finished_run["runId"]]
        assert mine and mine[0]["evaluation"]["success"], (check, mine)
        assert mine[0]["evaluation"]["partition"] == BATCH
    review = dagster_dev.graphql(
        CHECK_EXECUTIONS, {"key": {"path": ["review_queue"]}, "check": "review_queue_is_empty"}
    )["assetCheckExecutions"]
    assert review[0]["evaluation"]["severity"] == "WARN"  # synthetic data has unreviewed attributes
    released = list((dagster_dev.root / "release" / BATCH / "dicom").rglob("*.dcm"))
    assert len(released) == 4


def test_the_same_batch_is_not_run_twice(dagster_dev, finished_run):
    time.sleep(35)  # at least two more sensor ticks
    runs = dagster_dev.graphql(RUNS, {"partition": BATCH})["runsOrError"]["results"]
    assert [run["runId"] for run in runs] == [finished_run["runId"]]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/run must install Debian's chromium")
        pytest.skip("Debian chromium not installed")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 2000, "height": 1300})
    page.goto(url)
    skip = page.get_by_role("button", name="Skip")  # the first-visit community dialog
    with contextlib.suppress(PlaywrightTimeout):  # no dialog this time
        skip.click(timeout=5000)
    return page


def test_ui_shows_the_graph_partitions_and_checks(dagster_dev, finished_run, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    page = open_page(
        browser, f"{dagster_dev.url}/assets/whitelisted_files?view=lineage&lineageDepth=3"
    )
    for asset in anonymization_assets:  # zoomed out, long names are truncated: match a prefix
        name = asset.key.to_user_string()
        shown = page.get_by_text(re.compile("^" + re.escape(name[:7]))).filter(visible=True)
        shown.first.wait_for(timeout=60000)
    page.get_by_text("6 / 6 Passed").first.wait_for(timeout=60000)
    page.screenshot(path=ARTIFACTS / "asset-graph.png")

    page.goto(f"{dagster_dev.url}/assets/whitelisted_files?view=partitions")
    page.get_by_text(BATCH, exact=True).first.click(timeout=60000)
    page.get_by_text("files_anonymized").first.wait_for(timeout=60000)
    page.get_by_text(finished_run["runId"][:8]).first.wait_for(timeout=60000)
    page.screenshot(path=ARTIFACTS / "partition-materialization.png")

    page.goto(f"{dagster_dev.url}/assets/whitelisted_files?view=checks")
    for check in OUTPUT_CHECKS:  # long names are middle-truncated on screen: match a prefix
        shown = page.get_by_text(re.compile(re.escape(check[:14]))).filter(visible=True)
        shown.first.wait_for(timeout=60000)
    page.get_by_text("Passed").first.wait_for(timeout=60000)
    page.get_by_text(BATCH).first.wait_for(timeout=60000)
    page.screenshot(path=ARTIFACTS / "asset-checks.png")
    page.close()
    for screenshot in ("asset-graph", "partition-materialization", "asset-checks"):
        assert (ARTIFACTS / f"{screenshot}.png").stat().st_size > 10_000


STALE = """query($key: AssetKeyInput!, $partition: String!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode { staleCauses(partition: $partition) { reason category } }
  }
}"""
RELOAD = """mutation { reloadRepositoryLocation(repositoryLocationName: "anon_pipeline") {
  __typename } }"""


def test_a_reviewers_decision_makes_the_partition_stale(dagster_dev, finished_run, browser):
    """After `review decide` and a reload, the UI's API says the whitelisted files of the
    batch were made with another rule version: a rerun (backfill) is due."""
    whitelist = Path(__file__).resolve().parents[2] / "anon_pipeline" / "rules" / "whitelist.yaml"
    reviewed = dagster_dev.root / "secure" / "reviewed_rules.yaml"
    record_decision(reviewed, whitelist, "ContrastBolusAgent", "keep", "Anna K", "product names")
    assert (
        dagster_dev.graphql(RELOAD)["reloadRepositoryLocation"]["__typename"]
        == "WorkspaceLocationEntry"
    )

    def causes(asset: str) -> list[dict]:
        node = dagster_dev.graphql(STALE, {"key": {"path": [asset]}, "partition": BATCH})
        return node["assetNodeOrError"]["staleCauses"]

    deadline = time.monotonic() + 60
    while not causes("whitelisted_files") and time.monotonic() < deadline:
        time.sleep(2)
    assert {"reason": "has a new code version", "category": "CODE"} in causes("whitelisted_files")
    assert not any(cause["category"] == "CODE" for cause in causes("raw_batch"))
    page = open_page(
        browser, f"{dagster_dev.url}/assets/whitelisted_files?view=lineage&lineageDepth=3"
    )
    page.get_by_text(re.compile("^contact")).filter(visible=True).first.wait_for(timeout=60000)
    page.screenshot(path=ARTIFACTS / "after-rule-change.png")
    page.close()


def test_the_sensor_page_says_what_a_waiting_batch_waits_for(dagster_dev, finished_run, browser):
    """A batch copied without its marker: the sensor's ticks name it and what it waits
    for, on the sensor's page; the screenshots of that page and of the run are kept."""
    waiting = dagster_dev.root / "incoming" / "cd_waiting"
    write_cd_batch(waiting, [fake_patient(13)], series=1, slices=1)
    page = open_page(browser, f"{dagster_dev.url}/runs/{finished_run['runId']}")
    page.get_by_text("Success").first.wait_for(timeout=60000)
    page.screenshot(path=ARTIFACTS / "sensor-run.png")
    page.goto(f"{dagster_dev.url}/locations/anon_pipeline/sensors/incoming_batches")
    said = page.get_by_text(re.compile("cd_waiting waits for")).filter(visible=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not said.count():
        page.reload()
        with contextlib.suppress(PlaywrightTimeout):  # a tick's result opens its skip reason
            page.get_by_role("button", name="0 runs requested").first.click(timeout=10000)
            said.first.wait_for(timeout=5000)
    found = said.count()
    page.screenshot(path=ARTIFACTS / "sensor-ticks.png")
    page.close()
    assert found, "the sensor page does not name the waiting batch and what it waits for"


SENSOR = """mutation($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
  }
}"""
STOP_SENSOR = """mutation($id: String!) { stopSensor(id: $id) { __typename } }"""
SENSOR_STATE = """query($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) { ... on Sensor { sensorState { id } } }
}"""
RUN_STATUS = """query($id: ID!) { runOrError(runId: $id) { ... on Run { status parentRunId } } }"""


def wait_for_status(dagster_dev, run_id: str) -> dict:
    deadline = time.monotonic() + RUN_SECONDS
    while time.monotonic() < deadline:
        run = dagster_dev.graphql(RUN_STATUS, {"id": run_id})["runOrError"]
        if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return run
        time.sleep(3)
    pytest.fail(f"run {run_id} did not finish within {RUN_SECONDS}s")


def test_the_stale_sensor_reruns_a_stale_batch_and_its_run_re_executes(
    dagster_dev, finished_run, browser
):
    """After a decision, starting the stale sensor (Automation, stale_batches) reruns the
    batch whole, by the daemon, and it is no longer stale; Re-execute on that run (the
    UI's button, through GraphQL) succeeds too. The re-executed run's page is kept."""
    whitelist = Path(__file__).resolve().parents[2] / "anon_pipeline" / "rules" / "whitelist.yaml"
    reviewed = dagster_dev.root / "secure" / "reviewed_rules.yaml"
    record_decision(reviewed, whitelist, "ContrastBolusAgent", "keep", "Anna K", "product names")
    dagster_dev.graphql(RELOAD)
    selector = {
        "repositoryLocationName": "anon_pipeline",
        "repositoryName": "__repository__",
        "sensorName": "stale_batches",
    }
    started = dagster_dev.graphql(SENSOR, {"selector": selector})["startSensor"]
    assert started["__typename"] == "Sensor", started
    try:
        deadline, rerun = time.monotonic() + RUN_SECONDS, None
        while rerun is None and time.monotonic() < deadline:
            runs = dagster_dev.graphql(RUNS, {"partition": BATCH})["runsOrError"]["results"]
            rerun = next(
                (
                    run
                    for run in runs
                    if {"key": "anon_pipeline/trigger", "value": "rule change"} in run["tags"]
                ),
                None,
            )
            time.sleep(3)
        assert rerun is not None, "the stale sensor requested no run for the stale batch"
        assert wait_for_status(dagster_dev, rerun["runId"])["status"] == "SUCCESS"
    finally:
        state = dagster_dev.graphql(SENSOR_STATE, {"selector": selector})["sensorOrError"]
        dagster_dev.graphql(STOP_SENSOR, {"id": state["sensorState"]["id"]})
    node = dagster_dev.graphql(STALE, {"key": {"path": ["whitelisted_files"]}, "partition": BATCH})
    assert node["assetNodeOrError"]["staleCauses"] == []

    launched = dagster_dev.graphql(REEXECUTE, {"parentRunId": rerun["runId"]})
    launched = launched["launchPipelineReexecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    again = wait_for_status(dagster_dev, launched["run"]["runId"])
    assert again == {"status": "SUCCESS", "parentRunId": rerun["runId"]}
    page = open_page(browser, f"{dagster_dev.url}/runs/{launched['run']['runId']}")
    page.get_by_text("Success").first.wait_for(timeout=60000)
    page.screenshot(path=ARTIFACTS / "reexecuted-run.png")
    page.close()
