"""Zilliz Cloud: start imports, list the ones still running, and wait for all of them.

Needs a ``zilliz_cloud_default`` connection with a ``cluster_id`` extra (``make demo`` points it at
the bundled simulator). Storage keys come from the connection's extras, not from this file.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_import_jobs.operators.import_job import ListImportJobsOperator, StartImportJobOperator
from airflow_import_jobs.sensors.import_job import ImportJobSensor

with DAG(
    dag_id="example_zilliz_wait_running",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "zilliz"],
    render_template_as_native_obj=True,  # so a list of job IDs stays a list when templated
) as dag:
    start = StartImportJobOperator.partial(
        task_id="start_import", conn_id="zilliz_cloud_default", wait_for_completion=False
    ).expand(
        request=[
            {"collectionName": "medium_articles", "objectUrls": [["s3://my-bucket/articles/part-1.parquet"]]},
            {"collectionName": "medium_articles", "objectUrls": [["s3://my-bucket/articles/part-2.parquet"]]},
        ]
    )

    # [START howto_list_running_jobs]
    running = ListImportJobsOperator(
        task_id="list_running",
        conn_id="zilliz_cloud_default",
        collection_name="medium_articles",
        states=["pending", "running"],
    )
    # [END howto_list_running_jobs]

    @task.short_circuit
    def any_running(jobs: list[dict[str, Any]]) -> bool:
        """Skip the wait when nothing is running."""
        return bool(jobs)

    # [START howto_wait_for_jobs]
    wait = ImportJobSensor(
        task_id="wait_for_running",
        conn_id="zilliz_cloud_default",
        job_id="{{ ti.xcom_pull(task_ids='list_running') | map(attribute='job_id') | list }}",
        deferrable=True,
        poke_interval=2,
        timeout=3600,
    )
    # [END howto_wait_for_jobs]

    start >> running >> any_running(running.output) >> wait
