"""The cluster deployment on one machine, as a person would try it (`make cluster`) and
as its end-to-end test runs it: Postgres and Redis on free loopback ports, Celery
workers, the Dagster daemon and, if asked, the webserver; all stopped together.

    python -m anon_pipeline.cluster.local [--workers 2] [--port 3000]
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from importlib import resources
from pathlib import Path
from typing import IO, Any

import yaml

from anon_pipeline.code_location import write_workspace
from anon_pipeline.engine.disk import DataRoot, Settings, init_root

# Package data, so the cluster starts from an installed wheel as from a checkout.
CLUSTER_CONFIG = resources.files("anon_pipeline.cluster") / "dagster.yaml"
STARTUP_SECONDS = 120
PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent dies
STOP_SECONDS = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_binary(name: str) -> str:
    """A PostgreSQL server program: on PATH, or where Debian's packages put it."""
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(f"{name} not found: install PostgreSQL (Debian: postgresql)")
    return found


def as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the postgres user."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def wait_for(ready: Any, what: str, process: subprocess.Popen | None, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited at start; see {log}")
        if ready():
            return
        time.sleep(0.3)
    raise RuntimeError(f"{what} not ready within {STARTUP_SECONDS}s; see {log}")


class LocalCluster:
    """Everything the cluster deployment needs, on this machine, in `base`."""

    def __init__(
        self,
        base: Path,
        root: Path,
        workers: int = 2,
        webserver_port: int | None = None,
        poll_seconds: int = 30,
        engine_workers: int | None = None,
    ) -> None:
        self.base, self.root = Path(base), Path(root)
        self.worker_count, self.webserver_port = workers, webserver_port
        self.poll_seconds = poll_seconds
        self.processes: dict[str, subprocess.Popen] = {}
        self.log_files: list[IO[Any]] = []
        self.logs = self.base / "logs"
        self.home = self.base / "dagster_home"
        self.pg_data = Path(tempfile.mkdtemp(prefix="anon-pipeline-postgres-"))
        self.pg_port, self.redis_port = free_port(), free_port()
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(self.home),
            "ANON_PIPELINE_ROOT": str(self.root),
            "ANON_PIPELINE_POSTGRES_URL": (
                f"postgresql+psycopg2://anon@127.0.0.1:{self.pg_port}/dagster"
            ),
            "ANON_PIPELINE_BROKER": f"redis://127.0.0.1:{self.redis_port}/0",
            "ANON_PIPELINE_RESULT_BACKEND": f"redis://127.0.0.1:{self.redis_port}/1",
            "ANON_PIPELINE_MAX_RUNS": str(workers),
            "ANON_PIPELINE_COMPUTE_LOGS": str(self.base / "compute_logs"),
        }
        if engine_workers:
            self.env["ANON_PIPELINE_WORKERS"] = str(engine_workers)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.webserver_port}"

    def worker_pids(self) -> dict[str, int]:
        """Worker name -> the pid of the process that runs its batches (`--pool solo`)."""
        return {
            name: process.pid
            for name, process in self.processes.items()
            if name.startswith("worker") and process.poll() is None
        }

    def start(self, name: str, command: list[str], **options: Any) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "a")  # noqa: SIM115 (kept open while it runs)
        self.log_files.append(log)
        self.processes[name] = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.base,
            start_new_session=True,
            **options,
        )
        return self.processes[name]

    def __enter__(self) -> LocalCluster:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        try:
            self.write_instance_config()
            self.start_postgres()
            self.start_redis()
            for number in range(1, self.worker_count + 1):
                self.start_worker(f"worker{number}")
            self.start_dagster()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def write_instance_config(self) -> None:
        """The package's cluster dagster.yaml, with run monitoring polling as often as
        asked, and the workspace the daemon and the webserver load."""
        config = yaml.safe_load(CLUSTER_CONFIG.read_text())
        config["run_monitoring"]["poll_interval_seconds"] = self.poll_seconds
        (self.home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        write_workspace(self.workspace)

    @property
    def workspace(self) -> Path:
        return self.home / "workspace.yaml"

    def start_postgres(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.pg_data, "postgres", "postgres")
        data = self.pg_data / "data"
        subprocess.run(
            as_postgres(
                [
                    postgres_binary("initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "anon",
                    "-A",
                    "trust",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
            cwd=self.pg_data,
        )
        self.serve_postgres()
        subprocess.run(
            [
                postgres_binary("createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.pg_port),
                "-U",
                "anon",
                "dagster",
            ],
            check=True,
            capture_output=True,
        )

    def serve_postgres(self) -> None:
        """Start the Postgres server over its data folder and wait until it accepts."""
        data = self.pg_data / "data"
        log = self.logs / "postgres.log"
        process = self.start(
            "postgres",
            as_postgres(
                [
                    postgres_binary("postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(self.pg_port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    f"unix_socket_directories={self.pg_data}",
                ]
            ),
        )

        def accepting() -> bool:
            probe = subprocess.run(
                [postgres_binary("pg_isready"), "-h", "127.0.0.1", "-p", str(self.pg_port)],
                capture_output=True,
                check=False,
            )
            return probe.returncode == 0

        wait_for(accepting, "postgres", process, log)

    def restart_postgres(self, down_seconds: float) -> None:
        """Kill the database server, leave it down a while, start it again on the same
        data (a database host restarting under running batches)."""
        self.kill("postgres")
        time.sleep(down_seconds)
        self.serve_postgres()

    def start_redis(self) -> None:
        log = self.logs / "redis.log"
        process = self.start(
            "redis",
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
        )

        def answering() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.redis_port), timeout=1) as probe:
                    probe.sendall(b"PING\r\n")
                    return probe.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        wait_for(answering, "redis", process, log)

    def start_worker(self, name: str) -> None:
        """A Celery worker that runs one batch at a time (README: why `--pool solo`)."""
        log = self.logs / f"{name}.log"
        process = self.start(
            name,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "anon_pipeline.cluster.celery_app",
                "worker",
                "--pool",
                "solo",
                "-Q",
                "dagster",
                "--prefetch-multiplier",
                "1",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"{name}@%h",
                "-l",
                "INFO",
            ],
        )
        wait_for(lambda: "ready." in log.read_text(errors="replace"), name, process, log)

    def start_dagster(self) -> None:
        bin_dir = Path(sys.executable).parent
        self.start("daemon", [str(bin_dir / "dagster-daemon"), "run", "-w", str(self.workspace)])
        if self.webserver_port is None:
            return
        log = self.logs / "webserver.log"
        process = self.start(
            "webserver",
            [
                str(bin_dir / "dagster-webserver"),
                "-w",
                str(self.workspace),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.webserver_port),
            ],
        )

        def answering() -> bool:
            try:
                with urllib.request.urlopen(f"{self.url}/server_info", timeout=5):
                    return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                return False

        wait_for(answering, "webserver", process, log)

    def kill(self, name: str) -> None:
        """Kill one process and everything it started, at once (a machine lost)."""
        process = self.processes[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        """Stop everything, Dagster first, the servers last; remove Postgres' files."""
        order = sorted(self.processes, key=lambda name: name in ("postgres", "redis"))
        for name in order:
            process = self.processes[name]
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for name in order:
            process = self.processes[name]
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for log in self.log_files:
            log.close()
        self.processes.clear()
        shutil.rmtree(self.pg_data, ignore_errors=True)


def stop_on_signals() -> None:
    """SIGTERM (a service manager, a CI timeout) and SIGHUP (the terminal closed) stop
    the cluster as Ctrl-C does: every server, worker and folder goes. On Linux the
    parent's death (`make` killed) sends this process SIGTERM too."""

    def interrupt(_signal: int, _frame: object) -> None:
        raise KeyboardInterrupt

    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, interrupt)
    if sys.platform.startswith("linux"):
        libc_name = ctypes.util.find_library("c")
        if libc_name:
            ctypes.CDLL(libc_name).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (one batch each)")
    parser.add_argument("--port", type=int, default=3000, help="the webserver's port")
    parser.add_argument("--base", type=Path, default=Path(".cluster"), help="logs and Dagster home")
    args = parser.parse_args()
    stop_on_signals()
    root = Settings.from_environment().data_root.root
    init_root(root, create_key=not DataRoot(root).key_file.exists())
    try:
        return run_until_stopped(LocalCluster(args.base.resolve(), root, args.workers, args.port))
    except KeyboardInterrupt:  # during the start: what had started is stopped already
        print("stopped before the cluster was up", file=sys.stderr)
        return 130


def run_until_stopped(local: LocalCluster) -> int:
    """Start the cluster, say where it is, and stop everything when asked (Ctrl-C,
    SIGTERM, SIGHUP) or when one of its processes stops on its own."""
    with local as cluster:
        print(f"cluster up: {cluster.worker_count} Celery workers, the daemon, Postgres and Redis")
        print(f"UI:        {cluster.url}")
        print(f"data root: {cluster.root} (drop CD copies into {cluster.root / 'incoming'})")
        print(f"logs:      {cluster.logs}")
        print("Ctrl-C or SIGTERM stops everything (the instance's Postgres database goes too)")
        sys.stdout.flush()
        try:
            while all(process.poll() is None for process in cluster.processes.values()):
                time.sleep(1)
            stopped = [n for n, p in cluster.processes.items() if p.poll() is not None]
            print(f"stopped on its own: {', '.join(stopped)}; see {cluster.logs}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
                signal.signal(number, signal.SIG_IGN)  # the stop below runs to its end
            print("\nstopping…")
    return 0


if __name__ == "__main__":
    sys.exit(main())
