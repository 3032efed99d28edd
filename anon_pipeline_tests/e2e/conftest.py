"""A real `dagster dev` (webserver + daemon) on a loopback port, for end-to-end tests.

Everything it starts is stopped at the end of the module; its log and the browser
screenshots land in test-artifacts/ for CI to keep."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from anon_pipeline.engine.disk.layout import init_root

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
STARTUP_SECONDS = 180
# The UI's "Re-execute all" button, as a GraphQL mutation.
REEXECUTE = """mutation($parentRunId: String!) {
  launchPipelineReexecution(reexecutionParams: {parentRunId: $parentRunId, strategy: ALL_STEPS}) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}"""


@dataclass(frozen=True)
class DagsterDev:
    url: str
    root: Path

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        assert "errors" not in answer, answer
        return answer["data"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster dev exited early; see {log}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=5):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1)
    raise RuntimeError(f"dagster dev did not answer within {STARTUP_SECONDS}s; see {log}")


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory) -> DagsterDev:
    base = tmp_path_factory.mktemp("dagster_dev")
    root = init_root(base / "root").root
    home = base / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / "dagster-dev.log"
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "ANON_PIPELINE_ROOT": str(root),
        "ANON_PIPELINE_WORKERS": "1",
        "ANON_PIPELINE_QUIET_SECONDS": "3600",  # only the marker makes a batch ready here
    }
    dagster = Path(os.sys.executable).parent / "dagster"
    with open(log, "w") as log_file:
        process = subprocess.Popen(
            [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped whole below
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process, log)
        yield DagsterDev(url, root)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
