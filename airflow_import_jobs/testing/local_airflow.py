"""A real Airflow on loopback, for end-to-end tests and the demo.

:class:`LocalAirflow` runs ``airflow db migrate`` in a private ``AIRFLOW_HOME`` (sqlite), then the
api-server, scheduler, dag-processor and triggerer as subprocesses, each in its own process group
with its log in ``AIRFLOW_HOME/logs-components/NAME.log``, and talks to the public REST API::

    with LocalAirflow(home, dags_folder, env={"AIRFLOW_CONN_MILVUS_SIM": "..."}) as airflow:
        airflow.wait_for_dag("my_dag")
        run_id = airflow.trigger("my_dag", conf={"job_id": "..."})
        assert airflow.wait_for_run("my_dag", run_id, timeout=120) == "success"

``triggerers=2`` runs a second triggerer (high availability); each triggerer reports its component
name as its hostname (``triggerer``, ``triggerer-2``), so the ``job`` table tells which process holds
a trigger, and :meth:`LocalAirflow.kill` / :meth:`LocalAirflow.restart` crash or restart a component.
The metadata database is sqlite unless ``env`` sets ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``.

Nothing binds anything but 127.0.0.1: the log servers are skipped (``--skip-serve-logs``; the
api-server reads task logs from the shared local log folder). Every process started here is
stopped by its own process group: SIGTERM, then SIGKILL after a deadline.

:class:`SimulatorProcess` serves the import-job API simulator from a subprocess, and
:func:`simulator_connections` builds ``AIRFLOW_CONN_*`` variables that point at it.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar
from urllib.parse import quote

import httpx

LOOPBACK = "127.0.0.1"
COMPONENTS = ("scheduler", "dag-processor", "triggerer")
HEALTH_KEYS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
TERMINAL_RUN_STATES = frozenset({"success", "failed"})
POLL_S = 0.5
EGAIN_SCOPE = "knowledge.contentmgr.manage"
#: The environment variable that names a component to :func:`component_hostname`.
COMPONENT_ENV = "AIRFLOW_IMPORT_JOBS_COMPONENT"

T = TypeVar("T")


class LocalAirflowError(RuntimeError):
    """A component failed to start, died, or a wait ran out of time."""


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def component_hostname() -> str:
    """The hostname a component reports (``[core] hostname_callable``): its component name when
    :class:`LocalAirflow` started it, else the machine's name. Several triggerers on one machine
    are then told apart in the ``job`` table."""
    return os.environ.get(COMPONENT_ENV) or socket.getfqdn()


def airflow_executable() -> Path:
    """The ``airflow`` script of the running interpreter's environment."""
    return Path(sys.executable).parent / "airflow"


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _poll(what: str, timeout: float, check: Callable[[], T | None], interval: float = POLL_S) -> T:
    """Call ``check`` until it returns something other than None; LocalAirflowError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            raise LocalAirflowError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def _inherited_env() -> dict[str, str]:
    """This process's environment without any Airflow setting (tests set UNIT_TEST_MODE, a home, ...)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    """Signal the process group led by ``proc`` (its own session), or ``proc`` alone if that fails."""
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass
    except PermissionError:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signum)


def stop_processes(procs: list[subprocess.Popen[bytes]], timeout: float = 20.0) -> None:
    """SIGTERM each process's group, wait up to ``timeout`` for all, then SIGKILL what is left."""
    for proc in procs:
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    # The leader may be gone while its children (executor workers, parsing processes) linger.
    while time.monotonic() < deadline and any(_group_alive(p.pid) for p in procs):
        time.sleep(0.1)
    for proc in procs:
        if proc.poll() is None or _group_alive(proc.pid):
            _signal_group(proc, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


class LocalAirflow:
    """Airflow's api-server, scheduler, dag-processor and triggerer on 127.0.0.1.

    :param airflow_home: a directory of its own (created if missing): config, sqlite DB, logs.
    :param dags_folder: the DAG files to parse.
    :param env: extra environment for every component, e.g. ``AIRFLOW_CONN_*`` connections; it
        overrides the defaults set here. Inherited ``AIRFLOW*`` variables are dropped.
    :param port: the api-server's port; a free one when None.
    :param admin_user: the simple auth manager's admin user.
    :param admin_password: its password; a random one when None.
    :param startup_timeout: seconds to wait for ``db migrate`` and again for every component to be healthy.
    :param stop_timeout: seconds each component gets to exit after SIGTERM before SIGKILL.
    :param triggerers: how many triggerers to run (``triggerer``, ``triggerer-2``, ...).
    """

    def __init__(
        self,
        airflow_home: str | os.PathLike[str],
        dags_folder: str | os.PathLike[str],
        *,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        admin_user: str = "admin",
        admin_password: str | None = None,
        startup_timeout: float = 120.0,
        stop_timeout: float = 20.0,
        triggerers: int = 1,
    ) -> None:
        if triggerers < 1:
            raise ValueError(f"triggerers must be at least 1; got {triggerers}")
        self.home = Path(airflow_home).resolve()
        self.dags_folder = Path(dags_folder).resolve()
        self.port = port or free_port()
        self.admin_user = admin_user
        self.admin_password = admin_password or secrets.token_urlsafe(12)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.log_dir = self.home / "logs-components"
        self.env = self._environment(dict(env or {}))
        self.components = self._components(triggerers)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._log_files: list[IO[bytes]] = []
        self._token: str | None = None
        self._client: httpx.Client | None = None

    # -- addresses ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The api-server (and UI) root, ``http://127.0.0.1:PORT``."""
        return f"http://{LOOPBACK}:{self.port}"

    def component_log(self, name: str) -> Path:
        """Where component ``name`` (``api-server``, ``scheduler``, ``db-migrate``, ...) logs."""
        return self.log_dir / f"{name}.log"

    # -- lifecycle ------------------------------------------------------------------------------

    def _environment(self, extra: dict[str, str]) -> dict[str, str]:
        env = _inherited_env()
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "2",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.admin_user}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "simple_auth_passwords.json"),
                # One set of keys for every component: tokens the scheduler signs must verify in the api-server.
                "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
                "AIRFLOW__API__HOST": LOOPBACK,
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__API__EXPOSE_CONFIG": "True",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
                "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "300",
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
                # The task supervisor notices its task's exit only at its next heartbeat tick (default 5 s).
                # A trigger that fires sooner than that after defer() races the executor's "success" event
                # of the deferring try, and Airflow 3.3.2 can then fail the resumed task ("state changed
                # externally"). 1 s narrows that window and makes every task report back sooner.
                "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
                "NO_PROXY": "*",
                "no_proxy": "*",
            }
        )
        env.update(extra)
        return env

    def _components(self, triggerers: int) -> dict[str, list[str]]:
        """Each long-running component's name and ``airflow`` arguments, in start order."""
        out = {"api-server": ["api-server", "--host", LOOPBACK, "--port", str(self.port)]}
        for name in COMPONENTS:
            if name == "triggerer":
                for number in range(1, triggerers + 1):
                    out["triggerer" if number == 1 else f"triggerer-{number}"] = ["triggerer", "--skip-serve-logs"]
            else:
                out[name] = [name, "--skip-serve-logs"] if name == "scheduler" else [name]
        return out

    def __enter__(self) -> LocalAirflow:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalAirflow:
        """Migrate the DB, start every component and wait until all report healthy."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        passwords = Path(self.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
        passwords.write_text(json.dumps({self.admin_user: self.admin_password}) + "\n")
        passwords.chmod(0o600)
        atexit.register(self.stop)
        try:
            self._migrate()
            for name, args in self.components.items():
                self._spawn(name, args)
            self.wait_healthy(self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _open_log(self, name: str) -> IO[bytes]:
        handle = self.component_log(name).open("ab")
        self._log_files.append(handle)
        return handle

    def _migrate(self) -> None:
        log = self._open_log("db-migrate")
        proc = subprocess.Popen(  # noqa: S603 - our own venv's airflow, fixed arguments
            [str(airflow_executable()), "db", "migrate"],
            env=self.env,
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes["db-migrate"] = proc
        try:
            code = proc.wait(timeout=self.startup_timeout)
        except subprocess.TimeoutExpired:
            raise LocalAirflowError(f"airflow db migrate took over {self.startup_timeout:.0f}s") from None
        if code != 0:
            raise LocalAirflowError(f"airflow db migrate exited {code}:\n{_tail(self.component_log('db-migrate'))}")
        del self.processes["db-migrate"]

    def _spawn(self, name: str, args: list[str]) -> None:
        env = {**self.env, COMPONENT_ENV: name}
        if args[0] == "triggerer":  # triggerers report their component name as hostname (the job table)
            env.setdefault("AIRFLOW__CORE__HOSTNAME_CALLABLE", f"{__name__}.component_hostname")
        self.processes[name] = subprocess.Popen(  # noqa: S603 - our own venv's airflow, fixed arguments
            [str(airflow_executable()), *args],
            env=env,
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            stdout=self._open_log(name),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self, name: str, signum: int = signal.SIGKILL, timeout: float = 30.0) -> None:
        """Send ``signum`` to component ``name``'s whole process group (SIGKILL: a crash, children
        included) and wait for its leader to exit. It stays down until :meth:`restart`."""
        proc = self.processes.pop(name)
        _signal_group(proc, signum)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_processes([proc], 0)
        if signum != signal.SIGKILL:  # children that outlive a graceful stop go too
            stop_processes([proc], timeout)

    def restart(self, name: str) -> None:
        """Start component ``name`` again (stopping it first with SIGTERM if it runs)."""
        if name in self.processes:
            self.kill(name, signal.SIGTERM, self.stop_timeout)
        self._spawn(name, self.components[name])

    def check_alive(self) -> None:
        """LocalAirflowError (with the end of its log) if a component has exited."""
        for name, proc in self.processes.items():
            code = proc.poll()
            if code is not None:
                raise LocalAirflowError(f"airflow {name} exited with {code}:\n{_tail(self.component_log(name))}")

    def health(self) -> dict[str, Any] | None:
        """The health endpoint's answer, or None while the api-server does not answer."""
        try:
            response = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5)
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body

    def wait_healthy(self, timeout: float) -> dict[str, Any]:
        """Poll the health endpoint until the DB, scheduler, triggerer and dag-processor are healthy."""

        def check() -> dict[str, Any] | None:
            self.check_alive()
            body = self.health()
            if body is None:
                return None
            healthy = all((body.get(key) or {}).get("status") == "healthy" for key in HEALTH_KEYS)
            return body if healthy else None

        return _poll("Airflow to report healthy", timeout, check)

    def stop(self) -> None:
        """Stop every component (SIGTERM to its process group, SIGKILL after ``stop_timeout``). Idempotent."""
        atexit.unregister(self.stop)
        if self._client is not None:  # an idle keep-alive connection would hold up the api-server's exit
            self._client.close()
            self._client = None
        # The api-server goes last: the others talk to it while they shut down.
        procs = [p for n, p in self.processes.items() if n != "api-server"]
        stop_processes(procs, self.stop_timeout)
        if "api-server" in self.processes:
            stop_processes([self.processes["api-server"]], self.stop_timeout)
        self.processes.clear()
        for handle in self._log_files:
            handle.close()
        self._log_files.clear()

    # -- REST API -------------------------------------------------------------------------------

    def token(self) -> str:
        """A fresh bearer token for the admin user (``POST /auth/token``)."""
        response = httpx.post(
            f"{self.url}/auth/token",
            json={"username": self.admin_user, "password": self.admin_password},
            timeout=10,
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(base_url=self.url, timeout=30, trust_env=False)
        return self._client

    def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One authenticated request to the api-server; the raw response, whatever its status."""
        if self._token is None:
            self._token = self.token()
        for attempt in range(2):
            all_headers = {"Authorization": f"Bearer {self._token}", **(headers or {})}
            response = self._http().request(method, path, json=json, params=params, headers=all_headers)
            if response.status_code != 401 or attempt:
                return response
            self._token = self.token()
        raise AssertionError("unreachable")

    def api(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """An authenticated request; its JSON body (None when empty), LocalAirflowError on an error status."""
        response = self.request(method, path, json, params=params, headers=headers)
        if response.is_error:
            raise LocalAirflowError(f"{method} {path} -> {response.status_code}: {response.text[:2000]}")
        if not response.content:
            return None
        if "json" in response.headers.get("content-type", ""):
            return response.json()
        return response.text

    @staticmethod
    def _q(value: str) -> str:
        return quote(value, safe="")

    def _run_path(self, dag_id: str, run_id: str) -> str:
        return f"/api/v2/dags/{self._q(dag_id)}/dagRuns/{self._q(run_id)}"

    def dags(self) -> list[dict[str, Any]]:
        """Every DAG the dag-processor has parsed so far, as API records (``dag_id``, ``tags``, ...)."""
        dags: list[dict[str, Any]] = self.api("GET", "/api/v2/dags", params={"limit": 100})["dags"]
        return dags

    def dag_ids(self) -> list[str]:
        """The IDs of every DAG parsed so far."""
        return [d["dag_id"] for d in self.dags()]

    def import_errors(self) -> list[dict[str, Any]]:
        """DAG files that failed to parse (``filename``, ``stack_trace``)."""
        errors: list[dict[str, Any]] = self.api("GET", "/api/v2/importErrors")["import_errors"]
        return errors

    def _relative(self, path: str) -> str:
        candidate = Path(path)
        if candidate.is_absolute():
            with contextlib.suppress(ValueError):
                return candidate.resolve().relative_to(self.dags_folder).as_posix()
        return candidate.as_posix()

    def wait_for_dag_files(self, timeout: float = 90.0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Wait until every Python file in the DAGs folder that may hold a DAG (Airflow's heuristic:
        it mentions both "airflow" and "dag") has been parsed into DAGs or an import error; returns
        ``(dags, import_errors)``."""
        expected = set()
        for path in self.dags_folder.rglob("*.py"):
            text = path.read_bytes().lower()
            if b"airflow" in text and b"dag" in text:
                expected.add(path.relative_to(self.dags_folder).as_posix())

        def check() -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
            self.check_alive()
            dags, errors = self.dags(), self.import_errors()
            seen = {self._relative(d.get("relative_fileloc") or d["fileloc"]) for d in dags}
            seen |= {self._relative(e["filename"]) for e in errors}
            return (dags, errors) if expected <= seen else None

        return _poll(f"{len(expected)} DAG file(s) in {self.dags_folder} to be parsed", timeout, check)

    def wait_for_dags(self, min_count: int = 1, timeout: float = 60.0, settle: float = 0.0) -> list[str]:
        """Wait until at least ``min_count`` DAGs are parsed (and, with ``settle``, the list stops growing)."""
        seen: dict[str, Any] = {"ids": [], "since": time.monotonic()}

        def check() -> list[str] | None:
            self.check_alive()
            ids = self.dag_ids()
            if ids != seen["ids"]:
                seen.update(ids=ids, since=time.monotonic())
            if len(ids) >= min_count and time.monotonic() - seen["since"] >= settle:
                return ids
            return None

        return _poll(f"at least {min_count} parsed DAG(s)", timeout, check)

    def wait_for_dag(self, dag_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until ``dag_id`` is parsed and serialized; its ``GET /api/v2/dags/{id}`` answer."""

        def check() -> dict[str, Any] | None:
            self.check_alive()
            response = self.request("GET", f"/api/v2/dags/{self._q(dag_id)}")
            if response.status_code == 200:
                body: dict[str, Any] = response.json()
                return body
            return None

        try:
            return _poll(f"DAG {dag_id!r} to be parsed", timeout, check)
        except LocalAirflowError as error:
            errors = "; ".join(f"{e['filename']}: {e['stack_trace'][-500:]}" for e in self.import_errors())
            raise LocalAirflowError(f"{error}. Import errors: {errors or 'none'}") from None

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Unpause ``dag_id`` and start a manual run now; its run ID."""
        self.api("PATCH", f"/api/v2/dags/{self._q(dag_id)}", {"is_paused": False})
        body = self.api(
            "POST", f"/api/v2/dags/{self._q(dag_id)}/dagRuns", {"logical_date": None, "conf": dict(conf or {})}
        )
        run_id: str = body["dag_run_id"]
        return run_id

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """The DAG run's API record."""
        body: dict[str, Any] = self.api("GET", self._run_path(dag_id, run_id))
        return body

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 120.0) -> str:
        """Wait until the run succeeded or failed; its final state."""

        def check() -> str | None:
            self.check_alive()
            state = self.run(dag_id, run_id)["state"]
            return str(state) if state in TERMINAL_RUN_STATES else None

        return _poll(f"run {run_id} of {dag_id}", timeout, check)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The run's task instances as API records (``task_id``, ``state``, ``duration``, ``try_number``, ...)."""
        body = self.api("GET", f"{self._run_path(dag_id, run_id)}/taskInstances", params={"limit": 100})
        tis: list[dict[str, Any]] = body["task_instances"]
        return tis

    def task_log_records(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1
    ) -> list[dict[str, Any]]:
        """One try's full task log as structured records (``timestamp``, ``level``, ``logger``,
        ``event``, extras), from the task file and, for a deferred task, the triggerer's file."""
        path = f"{self._run_path(dag_id, run_id)}/taskInstances/{self._q(task_id)}/logs/{try_number}"
        body = self.api(
            "GET",
            path,
            params={"full_content": "true", "map_index": map_index},
            headers={"Accept": "application/json"},
        )
        return [r if isinstance(r, dict) else {"event": str(r)} for r in body.get("content", [])]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1) -> str:
        """One try's full task log as text: one line per record (see :func:`format_log_record`)."""
        records = self.task_log_records(dag_id, run_id, task_id, try_number, map_index)
        return "\n".join(format_log_record(record) for record in records)

    def create_connection(self, conn_id: str, fields: Mapping[str, Any]) -> None:
        """Store a connection in the metadata DB (so the UI lists it and its Test button works);
        ``fields`` as in the JSON ``AIRFLOW_CONN_*`` form (``conn_type``, ``host``, ``extra`` dict, ...).
        An ``AIRFLOW_CONN_*`` variable of the same ID still wins for tasks."""
        body = {k: v for k, v in fields.items() if k in ("conn_type", "host", "login", "password", "port", "schema")}
        body["connection_id"] = conn_id
        if "extra" in fields:
            extra = fields["extra"]
            body["extra"] = extra if isinstance(extra, str) else json.dumps(extra)
        self.api("POST", "/api/v2/connections", body)

    def env_connections(self) -> dict[str, dict[str, Any]]:
        """The JSON-form ``AIRFLOW_CONN_*`` connections given in ``env``, by connection ID."""
        out: dict[str, dict[str, Any]] = {}
        for key, value in self.env.items():
            if key.startswith("AIRFLOW_CONN_") and value.lstrip().startswith("{"):
                out[key.removeprefix("AIRFLOW_CONN_").lower()] = json.loads(value)
        return out

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        """An XCom value as stored (JSON), e.g. a task's return value."""
        path = f"{self._run_path(dag_id, run_id)}/taskInstances/{self._q(task_id)}/xcomEntries/{self._q(key)}"
        return self.api("GET", path, params={"map_index": map_index})["value"]


_CONTEXT_KEYS = frozenset(
    {"timestamp", "level", "logger", "event", "sources", "dag_id", "run_id", "task_id", "ti_id", "map_index"}
    | {"try_number", "filename", "lineno", "error_detail"}
)


def format_log_record(record: Any) -> str:
    """A structured task-log record as one text line: time, level, logger, message, then its own
    extra fields as ``key=value`` (the task's identity and the source location left out) and any
    exception as ``ExcType: message``."""
    if not isinstance(record, dict):
        return str(record)
    parts = [str(record[k]) for k in ("timestamp", "level", "logger") if record.get(k)]
    parts.append(str(record.get("event", "")))
    for key, value in record.items():
        if key not in _CONTEXT_KEYS:
            parts.append(f"{key}={value if isinstance(value, str) else json.dumps(value, default=str)}")
    for error in record.get("error_detail") or []:
        if isinstance(error, dict):
            parts.append(f"{error.get('exc_type')}: {error.get('exc_value')}")
    return " ".join(parts)


class SimulatorProcess:
    """The import-job API simulator (``python -m airflow_import_jobs.testing.simulator``) in a subprocess.

    :param directory: where its output and log go.
    :param duration: seconds a time-driven job created through the APIs takes.
    :param startup_timeout: seconds to wait for it to print its endpoints.
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, duration: float = 30.0, startup_timeout: float = 30.0
    ) -> None:
        self.directory = Path(directory)
        self.duration = duration
        self.startup_timeout = startup_timeout
        self.info: dict[str, Any] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self._files: list[IO[bytes]] = []

    @property
    def url(self) -> str:
        """The simulator's root (Milvus base URL and control API root)."""
        return str(self.info["url"])

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> SimulatorProcess:
        """Start it on a free loopback port; returns once it printed its endpoints."""
        self.directory.mkdir(parents=True, exist_ok=True)
        out_path, log_path = self.directory / "simulator.json", self.directory / "simulator.log"
        out, log = out_path.open("wb"), log_path.open("ab")
        self._files += [out, log]
        command = [sys.executable, "-m", "airflow_import_jobs.testing.simulator", "--host", LOOPBACK, "--port", "0"]
        command += ["--duration", str(self.duration), "--json"]
        self.proc = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=log, start_new_session=True
        )
        atexit.register(self.stop)
        proc = self.proc

        def check() -> dict[str, Any] | None:
            text = out_path.read_text()
            if text.endswith("\n"):
                info: dict[str, Any] = json.loads(text.splitlines()[0])
                return info
            if proc.poll() is not None:
                raise LocalAirflowError(f"the simulator exited with {proc.returncode}:\n{_tail(log_path)}")
            return None

        try:
            self.info = _poll("the simulator to start", self.startup_timeout, check, interval=0.05)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM it (SIGKILL after 10 s). Idempotent."""
        atexit.unregister(self.stop)
        if self.proc is not None:
            stop_processes([self.proc], 10.0)
            self.proc = None
        for handle in self._files:
            handle.close()
        self._files.clear()

    def control(self, method: str, path: str, json: Any = None) -> Any:
        """A control API call (``path`` under ``/_sim``); its JSON answer."""
        response = httpx.request(method, f"{self.url}/_sim/{path.lstrip('/')}", json=json, timeout=10, trust_env=False)
        response.raise_for_status()
        return response.json()

    def configure(self, **values: Any) -> dict[str, Any]:
        """Change the simulator's configuration (``POST /_sim/config``), e.g. its credentials; the
        new configuration. :attr:`info` follows credential changes."""
        config: dict[str, Any] = self.control("POST", "/config", values)
        milvus, zilliz, egain = self.info["milvus"], self.info["zilliz"], self.info["egain"]
        milvus["token"] = f"{config['milvus_user']}:{config['milvus_password']}"
        milvus["api_key"] = config["milvus_api_key"]
        zilliz["api_key"], zilliz["cluster_id"] = config["zilliz_api_key"], config["zilliz_cluster_id"]
        egain["client_id"], egain["client_secret"] = config["egain_client_id"], config["egain_client_secret"]
        return config

    def add_job(self, backend: str, lifecycle: Mapping[str, Any] | None = None, **fields: Any) -> str:
        """Create one job directly (``POST /_sim/jobs``); its ID."""
        payload: dict[str, Any] = {"backend": backend, **fields}
        if lifecycle is not None:
            payload["lifecycle"] = dict(lifecycle)
        ids: list[str] = self.control("POST", "/jobs", payload)["job_ids"]
        return ids[0]

    def job(self, job_id: str) -> dict[str, Any]:
        """A job's fields, without advancing it."""
        body: dict[str, Any] = self.control("GET", f"/jobs/{quote(job_id, safe='')}")
        return body


def simulator_connections(
    info: Mapping[str, Any], conn_ids: Mapping[str, str], extra: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables (JSON form) pointing at a simulator described by ``info``.

    :param info: what ``python -m airflow_import_jobs.testing.simulator --json`` printed
        (:attr:`SimulatorProcess.info`).
    :param conn_ids: backend (``milvus``, ``zilliz``, ``egain``) to connection ID.
    :param extra: more extras for every connection (e.g. ``storage_access_key``).
    """
    milvus, zilliz, egain = info["milvus"], info["zilliz"], info["egain"]
    user, _, password = str(milvus["token"]).partition(":")
    scopes = list(egain["scopes"])
    scope = EGAIN_SCOPE if EGAIN_SCOPE in scopes or not scopes else scopes[0]
    fields: dict[str, dict[str, Any]] = {
        "milvus": {
            "conn_type": "milvus",
            "host": milvus["url"],
            "login": user,
            "password": password,
            "extra": {"timeout": 5},
        },
        "zilliz": {
            "conn_type": "zilliz_cloud",
            "host": zilliz["url"],
            "password": zilliz["api_key"],
            "extra": {"cluster_id": zilliz["cluster_id"], "timeout": 5},
        },
        "egain": {
            "conn_type": "egain",
            "host": egain["url"],
            "login": egain["client_id"],
            "password": egain["client_secret"],
            "extra": {"token_url": egain["token_url"], "scope": scope, "timeout": 5},
        },
    }
    unknown = set(conn_ids) - set(fields)
    if unknown:
        raise ValueError(f"unknown backends {sorted(unknown)}; use milvus, zilliz or egain")
    for conn in fields.values():
        conn["extra"].update(extra or {})
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(fields[backend]) for backend, conn_id in conn_ids.items()}


@contextlib.contextmanager
def local_stack(
    directory: str | os.PathLike[str],
    dags_folder: str | os.PathLike[str],
    conn_ids: Mapping[str, str],
    *,
    job_duration: float = 30.0,
    conn_extra: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    admin_password: str | None = None,
) -> Iterator[tuple[SimulatorProcess, LocalAirflow]]:
    """The simulator and a LocalAirflow whose connections ``conn_ids`` point at it, all under ``directory``.

    :param job_duration: seconds a job created through the simulated APIs takes.
    :param conn_extra: extras added to every connection.
    :param env: more environment for Airflow (overrides the connections).
    """
    root = Path(directory)
    with SimulatorProcess(root / "simulator", duration=job_duration) as sim:
        # The simulator's Milvus password is Milvus's default, "Milvus": Airflow's secret masker would
        # then print every "Milvus" in a task log as "***".
        sim.configure(milvus_password=secrets.token_urlsafe(12))
        extra = {**simulator_connections(sim.info, conn_ids, conn_extra), **(env or {})}
        with LocalAirflow(
            root / "airflow", dags_folder, env=extra, port=port, admin_password=admin_password
        ) as airflow:
            yield sim, airflow
