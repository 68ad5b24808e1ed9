"""Fixtures of the reliability suite."""

from __future__ import annotations

import pytest

from airflow_import_jobs.testing import SimulatorServer
from tests.conftest import ZILLIZ, set_connection, simulator_connections


@pytest.fixture(autouse=True)
def _unthrottled_zilliz(sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Zilliz Cloud's 20 requests/s limit (client and simulator) would only slow these suites down.

    The limiter has its own tests; here every API answers as fast as the faults let it.
    """
    fields = simulator_connections(sim_server)[ZILLIZ]
    set_connection(monkeypatch, ZILLIZ, **{**fields, "extra": {**fields["extra"], "max_requests_per_second": 10_000}})
    sim_server.sim.zilliz_rate_limit = None
