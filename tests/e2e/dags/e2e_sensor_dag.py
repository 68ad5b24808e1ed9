"""DAGs for the end-to-end test: a deferrable ImportJobSensor waiting on a simulator job.

The test creates the job through the simulator's control API and passes its ID as
``dag_run.conf["job_id"]``; ``milvus_sim`` is an ``AIRFLOW_CONN_*`` connection to the simulator.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_import_jobs.sensors.import_job import ImportJobSensor

for dag_id, doc in (
    ("e2e_import_job_completes", "The job completes: the sensor succeeds with the job as XCom."),
    ("e2e_import_job_fails", "The job fails: the sensor fails with the server's reason."),
):
    with DAG(
        dag_id=dag_id,
        doc_md=doc,
        schedule=None,
        start_date=datetime(2025, 1, 1),
        catchup=False,
        tags=["e2e"],
        params={"job_id": ""},
        default_args={"retries": 0},
    ) as dag:
        ImportJobSensor(
            task_id="wait_for_import",
            conn_id="milvus_sim",
            job_id="{{ dag_run.conf['job_id'] }}",
            poke_interval=0.5,
            deferrable=True,
            timeout=timedelta(minutes=2).total_seconds(),
        )
    globals()[dag_id] = dag
