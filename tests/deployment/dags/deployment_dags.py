"""DAGs for the deployment tests (PostgreSQL, two triggerers, crashes).

``milvus_sim`` is an ``AIRFLOW_CONN_*`` connection to the simulator, through the test's API gate.
The jobs the tests wait on are two-phase Milvus imports (``auto_commit = "false"``): they stop in
``Uncommitted`` (a running state for our waits) until the test commits them, so nothing finishes
before the test has done its damage, whatever the machine's speed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_import_jobs.operators.import_job import StartImportJobOperator
from airflow_import_jobs.sensors.import_job import ImportJobSensor

CONN_ID = "milvus_sim"
#: The DAG of deferred waits and the DAG that starts an import.
WAITS = "deployment_waits"
START = "deployment_start"
#: Seconds between polls of every wait here.
POLL_S = 2.0
#: The create request of ``deployment_start``: a collection the simulator knows, one Parquet file.
START_REQUEST: dict[str, Any] = {
    "collectionName": "quick_setup",
    "files": [["deployment/part-0.parquet"]],
    "options": {"auto_commit": "false"},
}
COMMON: dict[str, Any] = {
    "schedule": None,
    "start_date": datetime(2025, 1, 1),
    "catchup": False,
    "tags": ["deployment"],
    "max_active_tasks": 32,
}

with DAG(WAITS, doc_md="One deferred wait per job ID in conf['job_ids'].", **COMMON) as waits:

    @task
    def job_ids(**context: Any) -> list[str]:
        return [str(job_id) for job_id in context["dag_run"].conf["job_ids"]]

    ImportJobSensor.partial(
        task_id="wait",
        conn_id=CONN_ID,
        poke_interval=POLL_S,
        deferrable=True,
        timeout=timedelta(minutes=10).total_seconds(),
        retries=0,
    ).expand(job_id=job_ids())

with DAG(START, doc_md="Start an import and wait for it in the worker.", **COMMON) as start:
    StartImportJobOperator(
        task_id="start",
        conn_id=CONN_ID,
        request=START_REQUEST,
        deferrable=False,
        poll_interval=1.0,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )
