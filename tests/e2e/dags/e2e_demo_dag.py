"""A self-contained example-style DAG (tag ``example``) for developing ``scripts/demo.py`` against
``tests/e2e/dags``: it starts a Milvus import through ``milvus_default`` and waits on it in the
triggerer."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from airflow_import_jobs.hooks import get_import_hook
from airflow_import_jobs.sensors.import_job import ImportJobSensor

with DAG(
    dag_id="e2e_demo_milvus_import",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["e2e", "example"],
) as dag:

    @task
    def start_import() -> str:
        return get_import_hook("milvus_default").start_job({"collectionName": "quick_setup", "files": [["a.parquet"]]})

    ImportJobSensor(
        task_id="wait_for_import",
        conn_id="milvus_default",
        job_id=start_import(),
        poke_interval=1,
        deferrable=True,
        timeout=120,
    )
