"""eGain Knowledge: validate content, import it only if validation found no errors, wait for the import.

Needs an ``egain_default`` connection (client credentials, ``token_url`` extra, and the storage keys
as ``storage_access_key`` / ``storage_secret_key`` extras). ``make demo`` points it at the simulator.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_import_jobs.operators.import_job import StartImportJobOperator
from airflow_import_jobs.sensors.import_job import ImportJobSensor

SOURCE = {"type": "AWS S3 bucket", "path": "s3://my-bucket/knowledge/2026-01", "region": "us-east-1"}

with DAG(
    dag_id="example_egain_validate_then_import",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example", "egain"],
) as dag:
    # [START howto_egain_validate]
    validate = StartImportJobOperator(
        task_id="validate",
        conn_id="egain_default",
        request={"dataSource": SOURCE},
        validate_only=True,
        fail_on_errors=True,  # the gate: a validation that counts errors fails here, nothing is imported
        deferrable=True,
        poll_interval=2,
    )
    # [END howto_egain_validate]

    start_import = StartImportJobOperator(
        task_id="start_import",
        conn_id="egain_default",
        request={"dataSource": SOURCE, "operation": "import"},
        wait_for_completion=False,  # returns the job ID; the sensor below waits
    )

    wait_for_import = ImportJobSensor(
        task_id="wait_for_import",
        conn_id="egain_default",
        job_id="{{ ti.xcom_pull(task_ids='start_import') }}",
        deferrable=True,
        poke_interval=2,
        timeout=3 * 3600,
    )

    validate >> start_import >> wait_for_import
