"""Oversized responses are refused with a clear error, and reading them never exhausts memory.

The simulator streams a 64 MiB body (chunked, no Content-Length, valid JSON that never ends); the
client stops at ``MAX_RESPONSE_BYTES`` (16 MiB).
"""

from __future__ import annotations

import tracemalloc

import pytest

from airflow_import_jobs.client.transport import _CappedBody
from airflow_import_jobs.exceptions import InvalidResponseError
from airflow_import_jobs.protocol.base import MAX_RESPONSE_BYTES
from airflow_import_jobs.testing import Fault, SimulatorServer
from tests.reliability.support import APIS, DRIVERS, STATUS_ENDPOINT, Api, Driver, add_job, hook_for

BODY = 64 * 1024 * 1024
#: What reading may cost at most: the capped body, its growth slack and the client's buffers —
#: half of the 64 MiB the server offers (reading it all would take more than all of it).
MEMORY_CEILING = BODY // 2


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_oversized_response_is_refused_within_bounded_memory(
    sim_server: SimulatorServer, driver: Driver, api: Api
) -> None:
    sim = sim_server.sim
    job_id = add_job(sim_server, api)
    sim.inject(api, Fault(kind="oversized", size=BODY), count=10, endpoint=STATUS_ENDPOINT[api])
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        with pytest.raises(InvalidResponseError) as caught:
            driver(hook_for(api), "get_job", job_id)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    assert f"larger than {MAX_RESPONSE_BYTES} bytes" in message
    assert "refusing to read it" in message
    assert not caught.value.transient  # the same request would bring the same flood: not retried
    assert sim.counters()[f"{api}.{STATUS_ENDPOINT[api]}"] == 1
    assert peak < MEMORY_CEILING, f"peak {peak / 2**20:.1f} MiB"


def test_oversized_token_response_is_refused(sim_server: SimulatorServer) -> None:
    sim = sim_server.sim
    job_id = add_job(sim_server, "egain")
    sim.inject("egain_token", Fault(kind="oversized", size=BODY), count=10)
    with pytest.raises(InvalidResponseError, match="larger than"):
        hook_for("egain").get_job(job_id)
    assert sim.counters() == {"egain.token": 1, "total": 1}


def test_oversized_list_is_refused(sim_server: SimulatorServer) -> None:
    sim = sim_server.sim
    sim.inject("milvus", Fault(kind="oversized", size=BODY), count=10, endpoint="list")
    with pytest.raises(InvalidResponseError, match="larger than"):
        hook_for("milvus").list_jobs()
    assert sim.counters() == {"milvus.list": 1, "total": 1}


@pytest.mark.parametrize("declared", [MAX_RESPONSE_BYTES + 1, 10**12])
def test_declared_oversized_length_is_refused_before_reading(declared: int) -> None:
    with pytest.raises(InvalidResponseError, match=f"at least {declared}"):
        _CappedBody(str(declared), "https://milvus.example.com/v2/vectordb/jobs/import/list")


def test_body_at_the_limit_is_read_and_one_byte_more_is_not() -> None:
    body = _CappedBody("", "https://example.com/x")
    body.add(b"x" * MAX_RESPONSE_BYTES)
    assert len(body.data) == MAX_RESPONSE_BYTES
    with pytest.raises(InvalidResponseError):
        body.add(b"x")
