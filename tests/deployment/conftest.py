"""A production-shaped Airflow for the deployment tests, once per module: PostgreSQL (Debian's
package, a private server on 127.0.0.1), LocalExecutor, the api-server, scheduler, dag-processor
and two triggerers, and the simulator behind a gate that can take the API down.

The Airflow settings below shorten the heartbeats and health checks that decide how fast a crash
is noticed; the defaults (5 s heartbeats, 30 s thresholds) would spend minutes of this module
waiting for Airflow to notice a kill, on a machine with two cores shared with others.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from airflow_import_jobs.testing.local_airflow import LocalAirflow, SimulatorProcess, simulator_connections
from tests.deployment.dags.deployment_dags import CONN_ID
from tests.deployment.infra import ApiGate, LocalPostgres, postgres_bindir

DAGS = Path(__file__).parent / "dags"
#: Seconds a job created through the simulated API takes to reach its outcome (Uncommitted here).
JOB_DURATION_S = 1.0

SETTINGS = {
    # Triggerers heartbeat every second (default 5) and one whose heartbeat is 6 s old (default 30)
    # counts as dead: the other triggerer takes its triggers over within seconds of a SIGKILL.
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "6",
    # The scheduler heartbeats every second (default 5) and the health endpoint calls it unhealthy
    # after 10 s without one (default 30), so waiting for health after a restart sees the new one.
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "10",
    # 20 waits start at once: enough LocalExecutor workers and task slots for them (default 32
    # workers would not fit in this machine's memory next to everything else).
    "AIRFLOW__CORE__PARALLELISM": "6",
    "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "32",
}


@dataclass
class Deployment:
    """Everything one test module runs."""

    postgres: LocalPostgres
    simulator: SimulatorProcess
    gate: ApiGate
    airflow: LocalAirflow


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL is not installed and could not be: `make deps-system` installs Debian's postgresql "
            "package, which needs root and apt-get"
        )
    root = tmp_path_factory.mktemp("deployment")
    with LocalPostgres(bindir) as postgres, SimulatorProcess(root / "simulator", duration=JOB_DURATION_S) as sim:
        sim.configure(milvus_password=secrets.token_urlsafe(12))
        port = urlsplit(sim.url).port
        assert port is not None
        gate = ApiGate(port)
        try:
            through_gate = {**sim.info, "milvus": {**sim.info["milvus"], "url": gate.url}}
            env = {
                **simulator_connections(through_gate, {"milvus": CONN_ID}),
                **SETTINGS,
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.sync_url,
            }
            with LocalAirflow(root / "airflow", DAGS, env=env, triggerers=2, startup_timeout=180) as airflow:
                yield Deployment(postgres, sim, gate, airflow)
        finally:
            gate.close()
