"""The cluster deployment: Celery workers that run whole batches, the run launcher that
sends them there, its dagster.yaml (package data), and a local cluster to try it on one
machine. Needs the `cluster` extra; neither the engine nor the embedded deployment
imports it."""
