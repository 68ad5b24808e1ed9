"""ImportJobSensor in all three modes: through ``dag.test()`` and through its methods."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_import_jobs._compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)
from airflow_import_jobs.models import ImportJob, JobState
from airflow_import_jobs.sensors.import_job import ImportJobSensor
from airflow_import_jobs.testing import Lifecycle, SimulatorServer
from airflow_import_jobs.waiting.outcome import Outcome
from tests.conftest import DAGS_FOLDER, EGAIN, MILVUS, set_connection

MODES = ["sensor_poke", "sensor_reschedule", "sensor_deferrable"]


def run_dag(dag_id: str, **conf: Any) -> tuple[str, Any]:
    """Run a test DAG with ``dag.test()``; return the run's state and the sensor's XCom."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from tests.test_example_dags import load_dag_module

    dag = getattr(load_dag_module(Path(DAGS_FOLDER) / "sensor_dags.py"), dag_id)
    run = dag.test(run_conf=conf)
    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_id, run_id=run.run_id, task_id="wait", key="return_value")
            .one_or_none()
        )
        value = None if row is None else XComModel.deserialize_value(row)
    return str(run.state), value


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("dag_id", MODES)
def test_modes_succeed_with_the_job_as_xcom(sim_server: SimulatorServer, dag_id: str) -> None:
    job_id = sim_server.sim.add_milvus_job(lifecycle=Lifecycle(steps=4, total_rows=321))
    state, xcom = run_dag(dag_id, conn_id=MILVUS, job_id=job_id)
    assert state == "success"
    job = ImportJob.model_validate(xcom)
    assert job.job_id == job_id
    assert job.state is JobState.COMPLETED
    assert job.imported_rows == 321
    counters = sim_server.sim.counters()
    if dag_id == "sensor_deferrable":
        assert counters["milvus.list"] >= 1  # the trigger's shared poll ran (the sensor itself only describes)
    else:
        assert "milvus.list" not in counters


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize("dag_id", MODES)
def test_modes_fail_when_the_job_fails(sim_server: SimulatorServer, dag_id: str) -> None:
    job_id = sim_server.sim.add_milvus_job(lifecycle=Lifecycle(outcome="failed", steps=3, reason="bad column"))
    state, xcom = run_dag(dag_id, conn_id=MILVUS, job_id=job_id)
    assert state == "failed"
    assert xcom is None


def sensor(**kwargs: Any) -> ImportJobSensor:
    kwargs.setdefault("task_id", "wait")
    kwargs.setdefault("conn_id", MILVUS)
    kwargs.setdefault("poke_interval", 0.05)
    return ImportJobSensor(**kwargs)


def test_deferrable_checks_once_then_defers_with_deadline(sim_server: SimulatorServer) -> None:
    job_id = sim_server.sim.add_milvus_job(lifecycle=Lifecycle(steps=5))
    task = sensor(job_id=job_id, deferrable=True, timeout=120, stall_timeout=600)
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({})  # type: ignore[arg-type]
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(seconds=120 + 60)  # a backstop behind the trigger's own deadline
    classpath, kwargs = deferred.value.trigger.serialize()
    assert classpath == "airflow_import_jobs.triggers.import_job.ImportJobTrigger"
    assert kwargs["conn_id"] == MILVUS
    assert kwargs["job_ids"] == [job_id]
    assert kwargs["poll_interval"] == 0.05
    assert kwargs["stall_timeout"] == 600
    assert before + 120 <= kwargs["end_time"] <= time.time() + 120
    assert sim_server.sim.counters()["milvus.describe"] == 1


def test_deferrable_finishes_without_deferring_when_already_done(sim_server: SimulatorServer) -> None:
    job_id = sim_server.sim.add_milvus_job(lifecycle=Lifecycle(steps=0))
    result = sensor(job_id=job_id, deferrable=True).execute({})  # type: ignore[arg-type]
    assert result["state"] == "completed"
    assert result["job_id"] == job_id


def test_int_job_id_from_native_rendering_is_exact(sim_server: SimulatorServer) -> None:
    job_id = sim_server.sim.add_milvus_job(lifecycle=Lifecycle(steps=1))
    result = sensor(job_id=int(job_id), deferrable=False).execute({})  # type: ignore[arg-type]
    assert result["job_id"] == job_id


def test_list_of_ids_returns_a_list(sim_server: SimulatorServer) -> None:
    ids = [sim_server.sim.add_milvus_job(lifecycle=Lifecycle(steps=1)) for _ in range(2)]
    result = sensor(job_id=ids, deferrable=False).execute({})  # type: ignore[arg-type]
    assert [r["job_id"] for r in result] == ids


def failed_event(job: dict[str, Any], message: str = "it failed", status: str = "failed") -> dict[str, Any]:
    return {"status": status, "jobs": [job], "message": message}


def _job(**fields: Any) -> dict[str, Any]:
    base = {"job_id": "448761313698322011", "backend": "milvus", "state": "failed", "progress": 40}
    return ImportJob.model_validate({**base, **fields}).model_dump(mode="json")


def test_failure_message_names_job_state_reason_and_files(sim_server: SimulatorServer) -> None:
    job_id = sim_server.sim.add_milvus_job(
        lifecycle=Lifecycle(outcome="failed", steps=1, reason="a.parquet: field 'vec' missing")
    )
    with pytest.raises(AirflowFailException) as caught:
        sensor(job_id=job_id, deferrable=False).execute({})  # type: ignore[arg-type]
    message = str(caught.value)
    assert job_id in message
    assert "failed at" in message
    assert "reason: a.parquet: field 'vec' missing" in message
    assert "failing files:" in message


def test_egain_failure_message_has_error_retryable_and_log(sim_server: SimulatorServer) -> None:
    job_id = sim_server.sim.add_egain_job(
        lifecycle=Lifecycle(outcome="failed", steps=1, reason="DB timeout", retryable=True)
    )
    with pytest.raises(AirflowFailException) as caught:
        sensor(conn_id=EGAIN, job_id=job_id).execute({})  # type: ignore[arg-type]
    message = str(caught.value)
    assert "DB timeout" in message
    assert "retryable: true" in message
    assert "log file: s3://" in message


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        ("failed", AirflowFailException),
        ("cancelled", AirflowFailException),
        ("timeout", AirflowSensorTimeout),
        ("stalled", AirflowException),
        ("error", AirflowException),
    ],
)
def test_execute_complete_maps_every_status(status: str, exception: type[Exception]) -> None:
    with pytest.raises(exception, match="the message"):
        sensor(job_id="448761313698322011").execute_complete({}, failed_event(_job(), "the message", status))  # type: ignore[arg-type]


@pytest.mark.parametrize("status", ["failed", "timeout", "error", "stalled"])
def test_soft_fail_skips(status: str) -> None:
    with pytest.raises(AirflowSkipException, match="the message"):
        sensor(job_id="448761313698322011", soft_fail=True).execute_complete(  # type: ignore[arg-type]
            {}, failed_event(_job(), "the message", status)
        )


def test_execute_complete_success_returns_json() -> None:
    job = _job(state="completed", progress=100)
    assert sensor(job_id="448761313698322011").execute_complete({}, failed_event(job, "ok", "success")) == job  # type: ignore[arg-type]


def test_fail_on_errors_fails_a_successful_validation_with_errors(sim_server: SimulatorServer) -> None:
    job_id = sim_server.sim.add_egain_job(job_type="Validation", lifecycle=Lifecycle(steps=1, errors=5, warnings=2))
    assert sensor(conn_id=EGAIN, job_id=job_id).execute({})["results"]["errors"] == 5  # type: ignore[arg-type]
    with pytest.raises(AirflowFailException, match=r"finished with 5 error\(s\) and 2 warning\(s\)"):
        sensor(conn_id=EGAIN, job_id=job_id, fail_on_errors=True).execute({})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("job_id", "match"),
    [
        ("", "non-empty string"),
        ("   ", "non-empty string"),
        ([], "non-empty list"),
        ([4.48761313698322e17], "non-empty string"),
        (None, "job ID string"),
        ("1.5e18", "not a valid Milvus job ID"),
        ("448761313698322011/../x", "not a valid Milvus job ID"),
    ],
)
def test_bad_job_ids_fail_before_any_request(sim_server: SimulatorServer, job_id: Any, match: str) -> None:
    for deferrable in (False, True):
        with pytest.raises(AirflowFailException, match=match):
            sensor(job_id=job_id, deferrable=deferrable).execute({})  # type: ignore[arg-type]
    assert sim_server.sim.counters()["total"] == 0


def test_connection_of_another_type_fails_before_any_request(
    sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(monkeypatch, "http_conn", conn_type="http", host="example.com")
    with pytest.raises(AirflowFailException, match=r"'http'.*egain, milvus, zilliz_cloud"):
        sensor(conn_id="http_conn", job_id="448761313698322011").execute({})  # type: ignore[arg-type]
    assert sim_server.sim.counters()["total"] == 0


def test_outcome_from_event_rejects_unknown_status() -> None:
    with pytest.raises(ValueError, match="unexpected trigger event status"):
        Outcome.from_event({"status": "bogus", "jobs": [], "message": ""})
