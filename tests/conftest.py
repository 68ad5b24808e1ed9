"""Test setup: an isolated AIRFLOW_HOME, the simulator fixtures, and connections that point at it."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

# Airflow reads its home and config at import time: set them before anything imports airflow.
_HOME = tempfile.mkdtemp(prefix="aij-airflow-home-")
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ.setdefault("AIRFLOW_HOME", _HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
# dag.test() serializes DAGs through the dags-folder bundle: the test DAGs and the shipped example
# DAGs are linked into one folder, and tests load them from there.
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAGS_FOLDER = os.path.join(_HOME, "dags")
os.makedirs(DAGS_FOLDER, exist_ok=True)
for _folder in (os.path.join(_REPO, "tests", "dags"), os.path.join(_REPO, "example_dags")):
    for _name in os.listdir(_folder):
        if _name.endswith(".py") and not _name.startswith("_"):
            os.symlink(os.path.join(_folder, _name), os.path.join(DAGS_FOLDER, _name))
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = DAGS_FOLDER

from airflow_import_jobs.testing import SimulatorServer  # noqa: E402

pytest_plugins = ["airflow_import_jobs.testing.pytest_plugin"]

MILVUS = "milvus_sim"
ZILLIZ = "zilliz_sim"
EGAIN = "egain_sim"


def conn_env(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> None:
    """An ``AIRFLOW_CONN_*`` connection in JSON form (no metadata DB needed)."""
    monkeypatch.setenv(conn_env(conn_id), json.dumps(fields))


def simulator_connections(server: SimulatorServer) -> dict[str, dict[str, Any]]:
    """JSON connection fields for each API, pointing at ``server``."""
    sim = server.sim
    return {
        MILVUS: {
            "conn_type": "milvus",
            "host": server.milvus_url,
            "login": sim.milvus_user,
            "password": sim.milvus_password,
            "extra": {"timeout": 5},
        },
        ZILLIZ: {
            "conn_type": "zilliz_cloud",
            "host": server.zilliz_url,
            "password": sim.zilliz_api_key,
            "extra": {"cluster_id": sim.zilliz_cluster_id, "timeout": 5},
        },
        EGAIN: {
            "conn_type": "egain",
            "host": server.egain_url,
            "login": sim.egain_client_id,
            "password": sim.egain_client_secret,
            "extra": {"token_url": server.egain_token_url, "scope": "knowledge.contentmgr.manage", "timeout": 5},
        },
    }


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated metadata DB in the test AIRFLOW_HOME (``dag.test()`` needs one)."""
    import subprocess
    import sys
    from pathlib import Path

    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())


@pytest.fixture
def sim_server(import_job_simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatorServer]:
    """The simulator (reset) with ``milvus_sim``, ``zilliz_sim`` and ``egain_sim`` connections set."""
    for conn_id, fields in simulator_connections(import_job_simulator).items():
        set_connection(monkeypatch, conn_id, **fields)
    _reset_process_caches()
    yield import_job_simulator
    _reset_process_caches()


def _reset_process_caches() -> None:
    # Tokens and rate limiters are process-wide by design; tests must not inherit them.
    from airflow_import_jobs.client import engine, policy

    engine._token_cache.clear()
    policy._limiters.clear()


async def run_trigger(trigger: Any) -> dict[str, Any]:
    """Run a trigger to its end; it must yield exactly one plain-JSON event with the contract's keys."""
    events = [event async for event in trigger.run()]
    assert len(events) == 1, events
    payload: dict[str, Any] = events[0].payload
    assert set(payload) == {"status", "jobs", "message"}
    json.dumps(payload)
    return payload


class RequestWatch:
    """Wakes the test's event loop on every request the simulator records: waits without sleeping."""

    def __init__(self, server: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
        import asyncio

        self.sim = server.sim
        self.loop = asyncio.get_running_loop()
        self.changed = asyncio.Event()
        record = self.sim.record

        def recording(*args: Any, **kwargs: Any) -> None:
            record(*args, **kwargs)
            self.loop.call_soon_threadsafe(self.changed.set)

        monkeypatch.setattr(self.sim, "record", recording)

    async def until(self, condition: Callable[[dict[str, int]], bool]) -> None:
        while not condition(self.sim.counters()):
            self.changed.clear()
            await self.changed.wait()


@pytest.fixture
async def watch(sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> RequestWatch:
    return RequestWatch(sim_server, monkeypatch)
