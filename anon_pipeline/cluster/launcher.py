"""dagster-celery's run launcher, with a health check that notices a dead worker.

Run monitoring asks the launcher about each started run. dagster-celery answers with
the task's state in the result backend, which stays STARTED when the worker is
killed: the run would wait forever. Here a started run whose worker stopped beating
(`celery_app.beat`) is reported failed, and run monitoring fails it; so is a started
run whose task has ended (it could not record its end: the database was down).
"""

from __future__ import annotations

from typing import Any

import redis
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster_celery.launcher import CeleryRunLauncher
from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG

from anon_pipeline.cluster.celery_app import alive_key


class BatchRunLauncher(CeleryRunLauncher):
    """Each run (one batch) as one Celery task on a worker; dead workers noticed."""

    def check_run_worker_health(self, run: Any) -> CheckRunHealthResult:
        health = super().check_run_worker_health(run)
        if health.status == WorkerStatus.SUCCESS:
            # Asked only about runs still STARTED: the task ended, the run never recorded
            # its end (the database was unreachable when it tried). Healthy to Dagster, so
            # it would wait forever; failed here, so run monitoring fails it and the run
            # retries start it again.
            return CheckRunHealthResult(
                WorkerStatus.FAILED,
                "the run's task ended but the run never recorded its end "
                "(the database was unreachable then)",
            )
        if health.status != WorkerStatus.RUNNING:
            return health
        task = self.celery.AsyncResult(run.tags[DAGSTER_CELERY_TASK_ID_TAG])
        info = task.info if isinstance(task.info, dict) else {}
        hostname = info.get("hostname")
        if not hostname or not self.broker:
            return health
        if redis.Redis.from_url(self.broker).exists(alive_key(hostname)):
            return health
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"Celery worker {hostname} stopped beating (killed, or its machine is down)",
        )
