"""pytest fixtures serving the import-job API simulator.

Enable in a ``conftest.py`` or test module (no entry point is registered, so it never loads
unasked)::

    pytest_plugins = ["airflow_import_jobs.testing.pytest_plugin"]

``import_job_simulator_server`` starts one server per session; ``import_job_simulator`` hands each
test that same server with its state reset (``server.sim`` is the :class:`Simulator`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_import_jobs.testing.simulator.server import SimulatorServer


@pytest.fixture(scope="session")
def import_job_simulator_server() -> Iterator[SimulatorServer]:
    """One simulator server for the whole session."""
    with SimulatorServer() as server:
        yield server


@pytest.fixture
def import_job_simulator(import_job_simulator_server: SimulatorServer) -> SimulatorServer:
    """The session's simulator server, reset for this test."""
    import_job_simulator_server.sim.reset()
    return import_job_simulator_server
