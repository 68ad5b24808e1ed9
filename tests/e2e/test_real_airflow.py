"""End to end: the deferrable ImportJobSensor in a real scheduler, worker and triggerer, against
the simulator over loopback HTTP."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import psutil
import pytest

from airflow_import_jobs.testing.local_airflow import LocalAirflow, SimulatorProcess

pytestmark = pytest.mark.e2e

COMPLETES = "e2e_import_job_completes"
FAILS = "e2e_import_job_fails"
TASK = "wait_for_import"
REASON = "file a.parquet: unexpected column"
RUN_TIMEOUT_S = 90


@dataclass
class Run:
    dag_id: str
    run_id: str
    job_id: str
    state: str
    task: dict[str, Any]
    log: str


@pytest.fixture(scope="module")
def runs(simulator: SimulatorProcess, airflow: LocalAirflow) -> dict[str, Run]:
    """Both DAGs run to the end, side by side."""
    # Read-driven, so the wait has to go through the triggerer: the sensor's check before deferring
    # reads the job once (pending), the trigger reads it the other 11 times, 0.5 s apart. (A 3 s
    # time-driven job is over before a task starts on this machine, so the sensor would never defer.)
    # The ~5 s in the triggerer also keep the trigger from firing before the scheduler has seen the
    # deferring try exit: a faster trigger can make Airflow 3.3.2 fail the resumed task.
    completing = simulator.add_job("milvus", {"outcome": "completed", "advance": "reads", "steps": 12})
    failing = simulator.add_job("milvus", {"outcome": "failed", "advance": "time", "duration": 3, "reason": REASON})
    started = {}
    for dag_id, job_id in ((COMPLETES, completing), (FAILS, failing)):
        airflow.wait_for_dag(dag_id)
        started[dag_id] = (airflow.trigger(dag_id, conf={"job_id": job_id}), job_id)
    out = {}
    for dag_id, (run_id, job_id) in started.items():
        state = airflow.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT_S)
        (task,) = airflow.task_instances(dag_id, run_id)
        log = airflow.task_log(dag_id, run_id, task["task_id"], task["try_number"])
        out[dag_id] = Run(dag_id, run_id, job_id, state, task, log)
    return out


def test_completing_job_succeeds_through_the_triggerer(runs: dict[str, Run], airflow: LocalAirflow) -> None:
    run = runs[COMPLETES]
    assert run.state == "success", run.log
    assert run.task["task_id"] == TASK
    assert run.task["state"] == "success"
    assert run.task["try_number"] == 1
    # The worker deferred, the triggerer ran ImportJobTrigger and fired, the worker resumed.
    assert "Pausing task as DEFERRED" in run.log, run.log
    assert "airflow_import_jobs.triggers.import_job.ImportJobTrigger" in run.log, run.log
    assert "Trigger fired event" in run.log, run.log
    assert "%" in run.log

    job = airflow.xcom(COMPLETES, run.run_id, TASK)
    assert isinstance(job, dict), job
    assert job["job_id"] == run.job_id
    assert job["backend"] == "milvus"
    assert job["state"] == "completed"
    assert job["progress"] == 100


def test_failing_job_fails_with_the_server_reason(runs: dict[str, Run], simulator: SimulatorProcess) -> None:
    run = runs[FAILS]
    assert run.state == "failed", run.log
    assert run.task["state"] == "failed"
    assert "AirflowFailException" in run.log, run.log
    assert "unexpected column" in run.log, run.log
    assert simulator.job(run.job_id)["lifecycle"]["outcome"] == "failed"


def test_everything_listens_on_loopback_only(airflow: LocalAirflow, simulator: SimulatorProcess) -> None:
    health = airflow.health()
    assert health is not None
    assert {k: v["status"] for k, v in health.items() if isinstance(v, dict)} == {
        "metadatabase": "healthy",
        "scheduler": "healthy",
        "triggerer": "healthy",
        "dag_processor": "healthy",
    }
    leaders = [p.pid for p in airflow.processes.values()]
    assert simulator.proc is not None
    leaders.append(simulator.proc.pid)
    listening = set()
    for pid in leaders:
        leader = psutil.Process(pid)
        for proc in [leader, *leader.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                listening |= {c.laddr for c in proc.net_connections("inet") if c.status == psutil.CONN_LISTEN}
    assert listening, "found no listening socket at all"
    assert {addr.ip for addr in listening} == {"127.0.0.1"}, listening
    assert airflow.url == f"http://127.0.0.1:{airflow.port}"
    assert simulator.url.startswith("http://127.0.0.1:")
