"""A production-shaped Airflow for the deployment tests, once per module: PostgreSQL (Debian's
package, a private server on 127.0.0.1), LocalExecutor, the api-server, scheduler, dag-processor
and two triggerers, and the simulator behind a gate that can take the API down.

The Airflow settings below shorten the heartbeats and health checks that decide how fast a crash
is noticed; the defaults (5 s heartbeats, 30 s thresholds) would spend minutes of this module
waiting for Airflow to notice a kill, on a machine with two cores shared with others.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from airflow_import_jobs.assets import IMPORT_JOBS_ALIAS
from airflow_import_jobs.testing.local_airflow import (
    LocalAirflow,
    LocalAirflowError,
    SimulatorProcess,
    simulator_connections,
)
from tests.deployment.dags.deployment_dags import CONN_ID, WAITS
from tests.deployment.infra import ApiGate, LocalPostgres, postgres_bindir

DAGS = Path(__file__).parent / "dags"
#: Seconds a job created through the simulated API takes to reach its outcome (Uncommitted here).
JOB_DURATION_S = 1.0
#: The collection the scenarios' jobs load into (the simulator's default for Milvus jobs).
COLLECTION = "quick_setup"
#: A job the simulator reports completed from its first read on.
COMPLETED = {"outcome": "completed", "advance": "reads", "steps": 1}
#: The assets linked to the provider's asset alias, by URI.
ALIASED_ASSETS = (
    "SELECT a.uri FROM asset a JOIN asset_alias_asset link ON link.asset_id = a.id "
    "JOIN asset_alias alias ON alias.id = link.alias_id WHERE alias.name = %s ORDER BY a.uri"
)

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
    # A test holds the asset table until two tasks' success calls meet there: the first one's
    # request must not time out (default 5 s) and be retried while the other is on its way.
    "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
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
                d = Deployment(postgres, sim, gate, airflow)
                register_asset(d, COLLECTION)
                yield d
        finally:
            gate.close()


def register_asset(d: Deployment, collection: str) -> str:
    """Have one wait, alone, emit the first asset event of ``collection``: Airflow then creates the
    collection's asset and links it to the provider's alias. The asset's URI.

    Airflow 3.3.2 registers an asset emitted through an alias with check-then-insert and no conflict
    handling, inside each task's success call (``TaskInstance.register_asset_changes_in_db`` adds
    the asset, ``AssetManager._add_asset_alias_association`` the link). When several tasks emit the
    first event of one new asset at the same moment, every one but the first hits a unique violation,
    and the Execution API marks it ``failed`` (``ti_update_state``: "Error updating Task Instance
    state. Setting the task to failed."), no retry, although its wait succeeded and its log says so.
    The scenarios resume 5 to 20 waits on one collection at once: they are about crashes, so the
    collection's asset exists before they start, as it does in any deployment after its first load
    (``test_deployment.py`` pins the Airflow behavior; docs/troubleshooting.md tells users).
    """
    before = {row[0] for row in d.postgres.query(ALIASED_ASSETS, IMPORT_JOBS_ALIAS)}
    job_id = d.simulator.add_job("milvus", lifecycle=COMPLETED, collection_name=collection)
    d.airflow.wait_for_dag(WAITS, timeout=120)
    run_id = d.airflow.trigger(WAITS, conf={"job_ids": [job_id]})
    state = d.airflow.wait_for_run(WAITS, run_id, timeout=120)
    new = {row[0] for row in d.postgres.query(ALIASED_ASSETS, IMPORT_JOBS_ALIAS)} - before
    if state != "success" or len(new) != 1:
        raise LocalAirflowError(f"registering the asset of {collection!r}: run {state}, new aliased assets {new}")
    return new.pop()


#: Component log lines worth showing when a scenario fails: warnings and the scheduler's verdicts on
#: task instances (a state mismatch is logged at info level).
NOTABLE = re.compile(r"\[warning|state mismatch|reported that the task instance|Trigger exited")
#: Errors and the exceptions they carry, shown first (a repeated warning must not push them out of view).
ERRORS = re.compile(r"\[(error|critical)|^[\w.]+(Error|Exception|Violation): |^DETAIL: ")
#: Where a failed scenario's Airflow root is kept (pytest recycles its own temp dirs).
KEEP_PREFIX = "aij-deployment-failure-"


def keep_for_diagnosis(d: Deployment) -> str:
    """Copy the deployment's Airflow root (component logs, task and trigger logs) and the simulator's
    log to a new ``/tmp/aij-deployment-failure-*`` directory, and summarize what went wrong: the
    notable lines of the scheduler, triggerer and api-server logs (the Execution API decides a task's
    final state too) and the latest audit-log rows of the metadata DB."""
    keep = Path(tempfile.mkdtemp(prefix=KEEP_PREFIX))
    parts = [f"Airflow root and simulator log kept in {keep}"]
    try:
        shutil.copytree(d.airflow.home, keep / "airflow", ignore=shutil.ignore_patterns("*.sock"), symlinks=True)
        shutil.copytree(d.simulator.directory, keep / "simulator")
    except (OSError, shutil.Error) as error:
        parts.append(f"(copy incomplete: {error})")
    logs = [d.airflow.component_log(name) for name in ("scheduler", "api-server")]
    for path in [*logs, *sorted(d.airflow.log_dir.glob("triggerer*.log"))]:
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        errors = [line[:600] for line in lines if ERRORS.search(line)]
        notable = [line[:600] for line in lines if NOTABLE.search(line) and not ERRORS.search(line)]
        parts.append(
            f"--- {path.name}: {len(errors)} error lines, {len(notable)} other notable lines (last 40 of each) ---"
        )
        parts.extend(errors[-40:] + notable[-40:])
    try:
        rows = d.postgres.query(
            "SELECT dttm, event, task_id, map_index, try_number, left(extra, 800) FROM log "
            "WHERE event NOT LIKE 'cli_%%' ORDER BY id DESC LIMIT 40"
        )
    except Exception as error:  # the database may be what broke
        rows = [(f"(audit log unreadable: {error})",)]
    parts.append("--- audit log (newest first) ---")
    parts.extend(" | ".join(str(value) for value in row) for row in rows)
    return "\n".join(parts)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed scenario's report carries the kept logs' location and their notable lines."""
    report = yield
    deployment = getattr(item, "funcargs", {}).get("deployment")
    if report.when in ("setup", "call") and report.failed and isinstance(deployment, Deployment):
        report.sections.append(("deployment diagnosis", keep_for_diagnosis(deployment)))
    return report
