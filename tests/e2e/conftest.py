"""A real local Airflow (api-server, scheduler, dag-processor, triggerer) and the simulator in a
subprocess, once per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_import_jobs.testing.local_airflow import LocalAirflow, SimulatorProcess, local_stack

DAGS = Path(__file__).parent / "dags"
MILVUS_CONN = "milvus_sim"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimulatorProcess, LocalAirflow]]:
    """The simulator, and Airflow with ``milvus_sim`` pointing at it."""
    with local_stack(tmp_path_factory.mktemp("e2e"), DAGS, {"milvus": MILVUS_CONN}) as (sim, airflow):
        yield sim, airflow


@pytest.fixture(scope="module")
def simulator(stack: tuple[SimulatorProcess, LocalAirflow]) -> SimulatorProcess:
    return stack[0]


@pytest.fixture(scope="module")
def airflow(stack: tuple[SimulatorProcess, LocalAirflow]) -> LocalAirflow:
    return stack[1]
