"""DAGs for the lineage tests: a ``@task`` that starts a job through the hook, as a user would, and
starts whose create bodies carry their own keys."""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_import_jobs.hooks import get_import_hook
from airflow_import_jobs.operators.import_job import StartImportJobOperator

COMMON: dict[str, Any] = {
    "schedule": None,
    "start_date": pendulum.datetime(2026, 1, 1),
    "catchup": False,
    "tags": ["test"],
}
#: A key written into a create body (not from the connection): no lineage event may carry it.
INLINE_SECRET = "inline-secret-3c3c"

with DAG("lineage_hook_task", render_template_as_native_obj=True, **COMMON) as lineage_hook_task:

    @task
    def start_with_hook(conn_id: str, request: dict[str, Any]) -> str:
        """Start a job with the hook and return its ID: hook lineage reports its files and target."""
        return get_import_hook(conn_id).start_job(request)

    start_with_hook("{{ dag_run.conf['conn_id'] }}", "{{ dag_run.conf['request'] }}")  # type: ignore[arg-type]


def start_dag(dag_id: str, conn_id: str, request: dict[str, Any]) -> DAG:
    """A DAG that starts one job with ``request`` (written here, not passed in the run's conf) and waits."""
    with DAG(dag_id, **COMMON) as dag:
        StartImportJobOperator(task_id="start", conn_id=conn_id, request=request, deferrable=True, poll_interval=0.05)
    return dag


lineage_zilliz_inline_keys = start_dag(
    "lineage_zilliz_inline_keys",
    "zilliz_cloud_default",
    {
        "collectionName": "medium_articles",
        "objectUrls": [["https://my-bucket.s3.us-east-1.amazonaws.com/articles/part-9.parquet"]],
        "accessKey": "AKIA-INLINE",
        "secretKey": INLINE_SECRET,
    },
)
lineage_egain_share = start_dag(
    "lineage_egain_share",
    "egain_default",
    {
        "dataSource": {
            "type": "Shared file path",
            "path": "sftp://files.example.com/exports/kb",
            "credentials": {"username": "kb-user", "password": INLINE_SECRET},
        },
        "operation": "import",
    },
)
