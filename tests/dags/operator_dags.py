"""DAGs for the operator tests, driven by ``dag_run.conf`` (conn_id, request, flags)."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_import_jobs.operators.import_job import StartImportJobOperator

COMMON = {
    "schedule": None,
    "start_date": pendulum.datetime(2026, 1, 1),
    "catchup": False,
    "tags": ["test"],
    "render_template_as_native_obj": True,
}

with DAG("op_start_retry", **COMMON) as op_start_retry:  # type: ignore[arg-type]
    # The first try fails while waiting (the test makes the server refuse a poll); the retry must
    # find the job the first try started instead of starting a second one.
    StartImportJobOperator(
        task_id="start",
        conn_id="{{ dag_run.conf['conn_id'] }}",
        request="{{ dag_run.conf['request'] }}",  # type: ignore[arg-type]
        poll_interval=0.05,
        retries=1,
        retry_delay=timedelta(seconds=0),
        max_consecutive_errors=1,
    )

# A deferrable import and a deferrable eGain validation, alike but for validate_only.
for _dag_id, _validate_only in (("op_start_deferrable", False), ("op_validate_deferrable", True)):
    with DAG(_dag_id, **COMMON) as _dag:  # type: ignore[arg-type]
        StartImportJobOperator(
            task_id="validate" if _validate_only else "start",
            conn_id="{{ dag_run.conf['conn_id'] }}",
            request="{{ dag_run.conf['request'] }}",  # type: ignore[arg-type]
            validate_only=_validate_only,
            deferrable=True,
            poll_interval=0.05,
        )
    globals()[_dag_id] = _dag

with DAG("op_start_timeout", **COMMON) as op_start_timeout:  # type: ignore[arg-type]
    StartImportJobOperator(
        task_id="start",
        conn_id="{{ dag_run.conf['conn_id'] }}",
        request="{{ dag_run.conf['request'] }}",  # type: ignore[arg-type]
        poll_interval=0.05,
        execution_timeout=timedelta(seconds=2),
    )
