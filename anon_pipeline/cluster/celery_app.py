"""The Celery app the cluster's workers run:

    celery -A anon_pipeline.cluster.celery_app worker --pool solo -Q dagster

dagster-celery's own run tasks, on an app configured from the environment exactly as
the instance's run launcher builds its own (`launcher`), so both sides agree on the
broker, the queue and the routing. A worker runs one batch at a time (`--pool solo`:
Celery's default prefork pool makes daemonic children, which may not start the
engine's worker processes). While it runs one, Celery cannot answer a ping, so each
worker also beats: a thread refreshes a key in Redis that expires soon after the
worker dies, and the launcher's health check reads it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any

import redis
from celery.signals import worker_ready
from dagster_celery.config import DEFAULT_CONFIG
from dagster_celery.defaults import task_default_queue
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_execute_job_task, create_resume_job_task

BROKER_ENV_VAR = "ANON_PIPELINE_BROKER"  # redis://host:6379/0
BACKEND_ENV_VAR = "ANON_PIPELINE_RESULT_BACKEND"  # redis://host:6379/1
BEAT_SECONDS = 2
ALIVE_SECONDS = 10  # a worker silent this long is dead


def app_args(broker: str, backend: str) -> dict[str, Any]:
    """What dagster-celery's CeleryRunLauncher passes to its app, for these URLs."""
    return {
        "broker": broker,
        "backend": backend,
        "include": [],
        "config_source": dict(DEFAULT_CONFIG),
        "task_default_queue": task_default_queue,
    }


def alive_key(hostname: str) -> str:
    return f"anon_pipeline:worker-alive:{hostname}"


def beat(broker: str, hostname: str) -> None:
    """Refresh this worker's key until the process ends (with it, the key expires)."""
    client = redis.Redis.from_url(broker)
    while True:
        with contextlib.suppress(redis.RedisError):  # the broker is away: no work either
            client.set(alive_key(hostname), str(os.getpid()), ex=ALIVE_SECONDS)
        time.sleep(BEAT_SECONDS)


@worker_ready.connect
def start_beating(sender: Any, **_: Any) -> None:
    hostname = sender.hostname
    thread = threading.Thread(
        target=beat, args=(os.environ[BROKER_ENV_VAR], hostname), daemon=True, name="alive"
    )
    thread.start()


_broker = os.environ.get(BROKER_ENV_VAR, "redis://127.0.0.1:6379/0")
app = make_app(app_args(_broker, os.environ.get(BACKEND_ENV_VAR, _broker)))
execute_job = create_execute_job_task(app)
resume_job = create_resume_job_task(app)
