"""Milvus: start a bulk import and wait for it in the triggerer.

Needs a ``milvus_default`` connection (``make demo`` points it at the bundled simulator), e.g.::

    export AIRFLOW_CONN_MILVUS_DEFAULT='{"conn_type": "milvus", "host": "http://127.0.0.1:19530",
                                        "login": "root", "password": "Milvus"}'
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_import_jobs.operators.import_job import StartImportJobOperator

with DAG(
    dag_id="example_milvus_import",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "milvus"],
) as dag:
    # [START howto_start_milvus_import]
    load_articles = StartImportJobOperator(
        task_id="load_articles",
        conn_id="milvus_default",
        request={
            "collectionName": "medium_articles",
            # One inner list per file (or per set of column files), relative to the bucket root.
            "files": [["articles/2024/part-0001.parquet"], ["articles/2024/part-0002.parquet"]],
            "options": {"timeout": "3600s"},  # Milvus options are strings, always
        },
        deferrable=True,  # the wait runs in the triggerer: no worker slot is held
        poll_interval=2,
        stall_timeout=1800,  # fail if progress freezes for 30 minutes (e.g. stuck at 80%: index build)
    )
    # [END howto_start_milvus_import]
