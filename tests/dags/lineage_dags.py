"""DAGs for the lineage tests: a ``@task`` that starts a job through the hook, as a user would, and
starts whose create bodies carry their own keys."""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_import_jobs.hooks import get_import_hook
from airflow_import_jobs.operators.import_job import StartImportJobOperator

with DAG(
    "lineage_hook_task",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1),
    catchup=False,
    tags=["test"],
    render_template_as_native_obj=True,
) as lineage_hook_task:

    @task
    def start_with_hook(conn_id: str, request: dict[str, Any]) -> str:
        """Start a job with the hook and return its ID: hook lineage reports its files and target."""
        return get_import_hook(conn_id).start_job(request)

    start_with_hook("{{ dag_run.conf['conn_id'] }}", "{{ dag_run.conf['request'] }}")  # type: ignore[arg-type]


#: A key written into a create body (not from the connection): no lineage event may carry it.
INLINE_SECRET = "inline-secret-3c3c"

with DAG(
    "lineage_zilliz_inline_keys",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1),
    catchup=False,
    tags=["test"],
) as lineage_zilliz_inline_keys:
    StartImportJobOperator(
        task_id="start",
        conn_id="zilliz_cloud_default",
        request={
            "collectionName": "medium_articles",
            "objectUrls": [["https://my-bucket.s3.us-east-1.amazonaws.com/articles/part-9.parquet"]],
            "accessKey": "AKIA-INLINE",
            "secretKey": INLINE_SECRET,
        },
        deferrable=True,
        poll_interval=0.05,
    )

with DAG(
    "lineage_egain_share",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1),
    catchup=False,
    tags=["test"],
) as lineage_egain_share:
    StartImportJobOperator(
        task_id="start",
        conn_id="egain_default",
        request={
            "dataSource": {
                "type": "Shared file path",
                "path": "sftp://files.example.com/exports/kb",
                "credentials": {"username": "kb-user", "password": INLINE_SECRET},
            },
            "operation": "import",
        },
        deferrable=True,
        poll_interval=0.05,
    )
