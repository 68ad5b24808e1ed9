"""DAGs for the sensor tests: one per mode, driven by ``dag_run.conf`` (conn_id, job_id, flags)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_import_jobs.sensors.import_job import ImportJobSensor

MODES = {
    "sensor_poke": {"mode": "poke", "deferrable": False},
    "sensor_reschedule": {"mode": "reschedule", "deferrable": False},
    "sensor_deferrable": {"mode": "poke", "deferrable": True},
}

for dag_id, mode in MODES.items():
    with DAG(dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False, tags=["test"]) as dag:
        ImportJobSensor(
            task_id="wait",
            conn_id="{{ dag_run.conf['conn_id'] }}",
            job_id="{{ dag_run.conf['job_id'] }}",
            poke_interval=0.05,
            timeout=60,
            **mode,
        )
    globals()[dag_id] = dag
