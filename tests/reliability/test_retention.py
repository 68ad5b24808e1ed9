"""A Milvus job that vanishes after retention: finished jobs are deleted (3 h by default), and a
later describe answers code 2100 "import job does not exist"."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_import_jobs._compat import AirflowException
from airflow_import_jobs.exceptions import JobNotFoundError
from airflow_import_jobs.models import JobState
from airflow_import_jobs.sensors.import_job import ImportJobSensor
from airflow_import_jobs.testing import Lifecycle, SimulatorServer
from airflow_import_jobs.waiting.feed import active_feeds
from tests.conftest import MILVUS
from tests.reliability.support import DRIVERS, Driver, hook_for, run_trigger, trigger_for


@pytest.fixture(autouse=True)
async def _no_leftover_feeds() -> Any:
    yield
    assert not active_feeds()


def _finished_then_gone(server: SimulatorServer) -> str:
    """A Milvus job read once as completed, then past its retention."""
    sim = server.sim
    job_id = sim.add_milvus_job(lifecycle=Lifecycle(steps=1))
    assert hook_for("milvus").get_job(job_id).state is JobState.COMPLETED
    sim.milvus_retention_s = 0.0
    return job_id


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_hook_reports_a_job_gone_after_retention_once(sim_server: SimulatorServer, driver: Driver) -> None:
    job_id = _finished_then_gone(sim_server)
    before = sim_server.sim.counters()["milvus.describe"]
    with pytest.raises(JobNotFoundError) as caught:
        driver(hook_for("milvus"), "get_job", job_id)
    message = str(caught.value)
    assert caught.value.code == 2100
    assert job_id in message
    assert "retention" in message  # says why a job that existed is gone
    assert sim_server.sim.counters()["milvus.describe"] == before + 1  # not retried


async def test_wait_ends_with_success_when_the_job_vanishes_as_it_completes(sim_server: SimulatorServer) -> None:
    sim = sim_server.sim
    sim.milvus_retention_s = 0.0  # deleted the moment it is seen finished
    job_id = sim.add_milvus_job(lifecycle=Lifecycle(steps=3, total_rows=640))
    event = await run_trigger(trigger_for(MILVUS, job_id))
    assert event["status"] == "success", event
    assert [job["job_id"] for job in event["jobs"]] == [job_id]
    assert event["jobs"][0]["state"] == "completed"
    counters = sim.counters()
    assert counters["milvus.describe"] == 1  # the details were gone: the listed record is kept, no retry loop
    assert counters["milvus.list"] <= 3


async def test_wait_on_a_job_already_gone_ends_at_once(sim_server: SimulatorServer) -> None:
    job_id = _finished_then_gone(sim_server)
    before = sim_server.sim.counters()
    event = await run_trigger(trigger_for(MILVUS, job_id, max_consecutive_errors=10))
    assert event["status"] == "error"
    assert job_id in event["message"]
    assert "does not exist" in event["message"]
    assert "retention" in event["message"]
    after = sim_server.sim.counters()
    assert after["milvus.list"] - before.get("milvus.list", 0) == 1
    assert after["milvus.describe"] - before["milvus.describe"] == 1


def test_sensor_on_a_job_already_gone_fails_with_the_reason(sim_server: SimulatorServer) -> None:
    job_id = _finished_then_gone(sim_server)
    sensor = ImportJobSensor(task_id="wait", conn_id=MILVUS, job_id=job_id, poke_interval=0.05, deferrable=False)
    with pytest.raises(AirflowException, match="retention"):
        sensor.execute({})  # type: ignore[arg-type]
