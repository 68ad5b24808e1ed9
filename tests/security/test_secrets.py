"""No secret ever shows: canary values for every secret, every code path, every place a value can surface.

Every secret the provider handles gets a canary value (all carrying :data:`TAG`): the Milvus
password and token, the Zilliz API key, the eGain client secret and access tokens (a static one
and every token the simulator issues), and storage keys — in connection extras and in create
requests. The simulator accepts exactly these credentials, so every call really uses them.

Then every hook method (sync and async), the trigger, the operators and the sensor in all modes
run, failure paths included, and the canaries are looked for in: stdlib and structlog log records
(captured *before* Airflow's masker, so the provider must not even try to log them), stdout and
stderr, exception messages, reprs and tracebacks, return values and models, trigger kwargs and
events, the XCom and trigger tables, and every file under ``AIRFLOW_HOME``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
import os
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from airflow_import_jobs.client.engine import Send
from airflow_import_jobs.hooks import ImportJobHook, aget_import_hook, get_import_hook
from airflow_import_jobs.models import ImportJob
from airflow_import_jobs.protocol.base import HttpResponse
from airflow_import_jobs.protocol.egain import build_token_request, parse_token
from airflow_import_jobs.testing import Fault, Lifecycle, SimulatorServer
from airflow_import_jobs.testing.simulator.state import EgainToken, Simulator
from airflow_import_jobs.triggers.import_job import ImportJobTrigger
from tests.conftest import DAGS_FOLDER, set_connection
from tests.reliability.support import FAST_RETRY, UNKNOWN_IDS, run_trigger, walk_exception

TAG = "7f3a9c"
CANARY = {
    "milvus_password": f"CANARY-{TAG}-milvus-password",
    "milvus_token": f"CANARY-{TAG}-milvus-token",
    "zilliz_api_key": f"CANARY-{TAG}-zilliz-api-key",
    "egain_client_secret": f"CANARY-{TAG}-egain-client-secret",
    "egain_access_token": f"CANARY-{TAG}-egain-static-access-token",
    "storage_access_key": f"CANARY-{TAG}-storage-access-key",
    "storage_secret_key": f"CANARY-{TAG}-storage-secret-key",
    "storage_token": f"CANARY-{TAG}-storage-session-token",
    "request_access_key": f"CANARY-{TAG}-request-access-key",
    "request_secret_key": f"CANARY-{TAG}-request-secret-key",
    "request_token": f"CANARY-{TAG}-request-session-token",
    # Wrong credentials are secrets too: a refused password must not be echoed either.
    "wrong_password": f"CANARY-{TAG}-wrong-milvus-password",
    "wrong_api_key": f"CANARY-{TAG}-wrong-zilliz-api-key",
    "wrong_client_secret": f"CANARY-{TAG}-wrong-egain-client-secret",
}
ISSUED_TOKEN_PREFIX = f"CANARY-{TAG}-egain-issued-token-"
STORAGE_EXTRAS = {
    "storage_access_key": CANARY["storage_access_key"],
    "storage_secret_key": CANARY["storage_secret_key"],
    "storage_token": CANARY["storage_token"],
}
MILVUS_REQUEST = {"collectionName": "docs", "files": [["a.parquet"]]}
ZILLIZ_REQUEST = {"collectionName": "medium_articles", "objectUrls": [["s3://bucket/a.parquet"]]}
ZILLIZ_REQUEST_WITH_KEYS = {
    **ZILLIZ_REQUEST,
    "accessKey": CANARY["request_access_key"],
    "secretKey": CANARY["request_secret_key"],
    "token": CANARY["request_token"],
}
EGAIN_SOURCE = {"type": "AWS S3 bucket", "path": "s3://bucket/kb", "region": "us-east-1"}
EGAIN_REQUEST = {"dataSource": EGAIN_SOURCE}  # credentials filled in from the connection's extras
EGAIN_REQUEST_WITH_KEYS = {
    "dataSource": {
        **EGAIN_SOURCE,
        "credentials": {"accessKeyId": CANARY["request_access_key"], "secretAccessKey": CANARY["request_secret_key"]},
    }
}

CONNECTIONS = ("sec_milvus", "sec_milvus_token", "sec_zilliz", "sec_egain", "sec_egain_token")
WRONG_CONNECTIONS = ("sec_milvus_wrong", "sec_zilliz_wrong", "sec_egain_wrong")


def captured_logs() -> Any:
    """structlog entries, with any exception logged alongside rendered into the entry (tracebacks too)."""
    return capture_logs(processors=[structlog.processors.format_exc_info])


class Evidence:
    """Everything a run let out, to be searched for canaries."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, where: str, value: Any) -> None:
        if isinstance(value, str):
            text = value
        elif isinstance(value, bytes):
            text = value.decode("utf-8", "replace")
        elif isinstance(value, BaseException):
            self.exception(where, value)
            return
        elif isinstance(value, ImportJob):
            text = f"{value!r} {value.model_dump_json()}"
        else:
            try:
                text = f"{value!r} {json.dumps(value, default=repr)}"
            except (TypeError, ValueError):
                text = repr(value)
        self.items.append((where, text))

    def exception(self, where: str, error: BaseException) -> None:
        for linked in walk_exception(error):
            self.items.append((f"{where}: str({type(linked).__name__})", str(linked)))
            self.items.append((f"{where}: repr({type(linked).__name__})", repr(linked)))
            self.items.append((f"{where}: args", repr(linked.args)))
        self.items.append((f"{where}: traceback", "".join(traceback.format_exception(error))))

    def attempt(self, where: str, action: Callable[[], Any]) -> Any:
        """Run ``action``; record what it returned or raised."""
        from airflow_import_jobs._compat import TaskDeferred

        try:
            result = action()
        except (Exception, TaskDeferred) as error:
            self.exception(where, error)
            return error
        self.add(where, result)
        return result

    def logs(self, caplog: pytest.LogCaptureFixture, structlog_entries: list[dict[str, Any]]) -> None:
        for record in caplog.records:
            self.items.append((f"log {record.name}", record.getMessage()))
            if record.exc_info and record.exc_info[1] is not None:
                self.exception(f"log {record.name} exc_info", record.exc_info[1])
        for entry in structlog_entries:
            self.items.append(("structlog", repr(entry)))
            args = entry.get("positional_args")
            if args:
                with contextlib.suppress(TypeError, ValueError):
                    self.items.append(("structlog rendered", str(entry.get("event", "")) % args))

    def assert_clean(self, minimum: int) -> None:
        assert len(self.items) >= minimum, f"only {len(self.items)} pieces of evidence: the run did too little"
        leaks = [(where, text) for where, text in self.items if TAG in text]
        assert not leaks, "canary leaked:\n" + "\n".join(f"- {where}: {text[:400]!r}" for where, text in leaks[:10])


@pytest.fixture
def canaries(sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> SimulatorServer:
    """The simulator expecting the canary credentials, and connections that hold them."""
    sim = sim_server.sim
    sim.milvus_password = CANARY["milvus_password"]
    sim.milvus_api_key = CANARY["milvus_token"]
    sim.zilliz_api_key = CANARY["zilliz_api_key"]
    sim.egain_client_secret = CANARY["egain_client_secret"]
    sim.zilliz_rate_limit = None
    issued = itertools.count()

    def issue_egain_token(scopes: frozenset[str]) -> str:
        with sim.lock:
            token = f"{ISSUED_TOKEN_PREFIX}{next(issued)}"
            sim._tokens[token] = EgainToken(sim.now() + sim.egain_token_ttl, scopes)
            return token

    monkeypatch.setattr(sim, "issue_egain_token", issue_egain_token)
    with sim.lock:
        sim._tokens[CANARY["egain_access_token"]] = EgainToken(sim.now() + 3600, frozenset(sim.egain_scopes))
    fast = {"timeout": 5, "max_requests_per_second": 10_000}
    egain_oauth = {"token_url": sim_server.egain_token_url, "scope": "knowledge.contentmgr.manage"}
    milvus = {"conn_type": "milvus", "host": sim_server.milvus_url, "extra": fast}
    zilliz = {"conn_type": "zilliz_cloud", "host": sim_server.zilliz_url}
    zilliz_extra = {**fast, "cluster_id": sim.zilliz_cluster_id, **STORAGE_EXTRAS}
    egain = {"conn_type": "egain", "host": sim_server.egain_url, "login": sim.egain_client_id}
    egain_extra = {**fast, **egain_oauth, **STORAGE_EXTRAS}
    set_connection(monkeypatch, "sec_milvus", **milvus, login="root", password=CANARY["milvus_password"])
    set_connection(monkeypatch, "sec_milvus_token", **{**milvus, "extra": {**fast, "token": CANARY["milvus_token"]}})
    set_connection(monkeypatch, "sec_zilliz", **zilliz, password=CANARY["zilliz_api_key"], extra=zilliz_extra)
    set_connection(monkeypatch, "sec_egain", **egain, password=CANARY["egain_client_secret"], extra=egain_extra)
    set_connection(
        monkeypatch,
        "sec_egain_token",
        conn_type="egain",
        host=sim_server.egain_url,
        extra={**fast, **STORAGE_EXTRAS, "access_token": CANARY["egain_access_token"]},
    )
    set_connection(monkeypatch, "sec_milvus_wrong", **milvus, login="root", password=CANARY["wrong_password"])
    set_connection(monkeypatch, "sec_zilliz_wrong", **zilliz, password=CANARY["wrong_api_key"], extra=zilliz_extra)
    set_connection(monkeypatch, "sec_egain_wrong", **egain, password=CANARY["wrong_client_secret"], extra=egain_extra)
    return sim_server


def _every_hook_call(server: SimulatorServer, conn_id: str) -> list[tuple[str, str, tuple[Any, ...], dict[str, Any]]]:
    """(label, method, args, kwargs) for every method of the connection's hook, good and bad input."""
    sim = server.sim
    calls: list[tuple[str, str, tuple[Any, ...], dict[str, Any]]] = [("test_connection", "test_connection", (), {})]
    if conn_id.startswith("sec_milvus"):
        uncommitted = sim.add_milvus_job(lifecycle=Lifecycle(outcome="uncommitted", steps=1))
        calls += [
            ("get", "get_job", (sim.add_milvus_job(lifecycle=Lifecycle(steps=1)),), {}),
            ("get unknown", "get_job", (UNKNOWN_IDS["milvus"],), {}),
            ("get hostile", "get_job", ("1/../abort",), {}),
            ("list", "list_jobs", (), {}),
            ("list bad db", "list_jobs", (), {"db_name": "nope"}),
            ("start", "start_job", (MILVUS_REQUEST,), {}),
            ("start invalid", "start_job", ({"collectionName": "docs", "files": [["a"]], "options": {"x": 1}},), {}),
            ("start validate_only", "start_job", (MILVUS_REQUEST,), {"validate_only": True}),
            ("cancel", "cancel_job", (sim.add_milvus_job(),), {}),
            ("commit", "commit_job", (uncommitted,), {}),
            ("commit again", "commit_job", (sim.add_milvus_job(),), {}),
        ]
    elif conn_id.startswith("sec_zilliz"):
        calls += [
            ("get", "get_job", (sim.add_zilliz_job(lifecycle=Lifecycle(steps=1)),), {}),
            ("get unknown", "get_job", (UNKNOWN_IDS["zilliz"],), {}),
            ("list", "list_jobs", (), {}),
            ("list db", "list_jobs", (), {"db_name": "x"}),
            ("start extras", "start_job", (ZILLIZ_REQUEST,), {}),
            ("start request keys", "start_job", (ZILLIZ_REQUEST_WITH_KEYS,), {}),
            (
                "start secret of wrong type",
                "start_job",
                ({**ZILLIZ_REQUEST, "secretKey": [CANARY["request_secret_key"]]},),
                {},
            ),
            ("cancel", "cancel_job", (sim.add_zilliz_job(),), {}),
        ]
    else:
        calls += [
            ("get", "get_job", (sim.add_egain_job(lifecycle=Lifecycle(steps=1)),), {}),
            ("get unknown", "get_job", (UNKNOWN_IDS["egain"],), {}),
            ("list", "list_jobs", (), {}),
            ("start extras", "start_job", (EGAIN_REQUEST,), {}),
            ("start request keys", "start_job", (EGAIN_REQUEST_WITH_KEYS,), {}),
            ("validate", "start_job", (EGAIN_REQUEST,), {"validate_only": True}),
            ("start bad schedule", "start_job", ({**EGAIN_REQUEST_WITH_KEYS, "scheduleTime": {"date": "soon"}},), {}),
            ("cancel", "cancel_job", (sim.add_egain_job(lifecycle=Lifecycle(outcome="stall")),), {}),
            ("cancel finished", "cancel_job", (sim.add_egain_job(lifecycle=Lifecycle(steps=0)),), {}),
        ]
    return calls


#: Faults that send each API down its failure paths: (backend, fault, endpoint or None).
FAILURES: dict[str, list[tuple[str, Fault, str | None]]] = {
    "milvus": [
        ("milvus", Fault(kind="status", status=401, code=1800, message="user hasn't authenticated"), None),
        ("milvus", Fault(kind="status", status=503), None),
        ("milvus", Fault(kind="drop"), None),
        ("milvus", Fault(kind="html", status=502), None),
        ("milvus", Fault(kind="oversized", size=17 * 1024 * 1024), None),
        ("milvus", Fault(kind="error200", code=1100, message="invalid parameter"), None),
    ],
    "zilliz": [
        ("zilliz", Fault(kind="error200", code=21119, message="The apikey is illegal."), None),
        ("zilliz", Fault(kind="status", status=503), None),
        ("zilliz", Fault(kind="truncated"), None),
        ("zilliz", Fault(kind="oversized", size=17 * 1024 * 1024), None),
    ],
    "egain": [
        ("egain_token", Fault(kind="status", status=401, code="invalid_client", message="bad client"), None),
        ("egain_token", Fault(kind="status", status=503), None),
        ("egain_token", Fault(kind="wrong_shape"), None),
        ("egain", Fault(kind="status", status=401, code="401-101", message="expired"), None),
        ("egain", Fault(kind="status", status=500, code="500-100", message="boom"), None),
        ("egain", Fault(kind="non_json"), None),
    ],
}


def _api(conn_id: str) -> str:
    return conn_id.split("_")[1]


def _job_adders(sim: Simulator) -> dict[str, Callable[..., str]]:
    """Each API's "add a job" of the simulator, by API name."""
    return {"milvus": sim.add_milvus_job, "zilliz": sim.add_zilliz_job, "egain": sim.add_egain_job}


def _collect_reprs(evidence: Evidence, hook: ImportJobHook) -> None:
    transport = hook._transport
    assert transport is not None
    evidence.add("repr(hook)", repr(hook))
    evidence.add("repr(settings)", repr(hook.settings))
    evidence.add("str(settings)", str(hook.settings))
    evidence.add("repr(transport)", repr(transport))
    evidence.add("repr(engine)", repr(transport.engine))
    evidence.add("repr(auth)", repr(transport.engine.auth))
    evidence.add("repr(protocol)", repr(hook._protocol))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_hooks_leak_no_canary(
    canaries: SimulatorServer, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str], mode: str
) -> None:
    sim = canaries.sim
    evidence = Evidence()
    caplog.set_level(logging.DEBUG)
    with captured_logs() as entries:
        for conn_id in (*CONNECTIONS, *WRONG_CONNECTIONS):
            for label, method, args, kwargs in _every_hook_call(canaries, conn_id):
                evidence.attempt(f"{conn_id} {label}", functools.partial(_call, conn_id, mode, method, args, kwargs))
            new_job = _job_adders(sim)
            for backend, fault, endpoint in FAILURES[_api(conn_id)]:
                sim.inject(backend, fault, count=20, endpoint=endpoint)
                job_id = new_job[_api(conn_id)]()
                evidence.attempt(
                    f"{conn_id} {fault.kind}", functools.partial(_call, conn_id, mode, "get_job", (job_id,), {})
                )
                evidence.attempt(
                    f"{conn_id} {fault.kind} test", functools.partial(_call, conn_id, mode, "test_connection", (), {})
                )
                sim.faults.clear()
            hook = get_import_hook(conn_id)
            _collect_reprs(evidence, hook)
            hook.close()
    evidence.logs(caplog, entries)
    out, err = capfd.readouterr()
    evidence.add("stdout", out)
    evidence.add("stderr", err)
    evidence.assert_clean(minimum=300)
    # The canaries were really in play: the simulator authenticated them and got the storage keys.
    bodies = [job.request_body for job in sim.jobs() if job.request_body]
    assert any(body.get("secretKey") == CANARY["storage_secret_key"] for body in bodies)  # from the extras
    assert any(body.get("secretKey") == CANARY["request_secret_key"] for body in bodies)  # from the request
    assert any(
        body.get("dataSource", {}).get("credentials", {}).get("secretAccessKey") == CANARY["storage_secret_key"]
        for body in bodies
    )
    assert sim.counters().get("egain.token", 0) >= 1


def _call(conn_id: str, mode: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if mode == "sync":
        hook = get_import_hook(conn_id, retry=FAST_RETRY)
        try:
            return getattr(hook, method)(*args, **kwargs)
        finally:
            hook.close()

    async def go() -> Any:
        hook = await aget_import_hook(conn_id, retry=FAST_RETRY)
        try:
            if method == "test_connection":
                return hook.test_connection()  # sync only: the UI's Test button
            return await getattr(hook, f"a{method}")(*args, **kwargs)
        finally:
            await hook.aclose()

    return asyncio.run(go())


def test_secret_values_are_registered_with_the_masker(canaries: SimulatorServer) -> None:
    from airflow.sdk.log import redact

    for conn_id in CONNECTIONS:
        get_import_hook(conn_id).settings  # noqa: B018 - reading the connection registers its secrets
    for name in ("milvus_password", "milvus_token", "zilliz_api_key", "egain_client_secret", "egain_access_token"):
        assert redact(f"x {CANARY[name]} y") == "x *** y", name
    for name in ("storage_access_key", "storage_secret_key", "storage_token"):
        assert redact(CANARY[name]) == "***", name
    assert redact(f"root:{CANARY['milvus_password']}") == "***"  # the bearer Milvus is sent


async def test_trigger_leaks_no_canary(canaries: SimulatorServer, caplog: pytest.LogCaptureFixture) -> None:
    sim = canaries.sim
    evidence = Evidence()
    caplog.set_level(logging.DEBUG)
    new_job = _job_adders(sim)
    with captured_logs() as entries:
        triggers: list[ImportJobTrigger] = []
        for conn_id in (*CONNECTIONS, *WRONG_CONNECTIONS):
            api = _api(conn_id)
            good = ImportJobTrigger(
                conn_id=conn_id, job_ids=[new_job[api](lifecycle=Lifecycle(steps=2))], poll_interval=0.02
            )
            failing = ImportJobTrigger(
                conn_id=conn_id,
                job_ids=[new_job[api](lifecycle=Lifecycle(outcome="failed", steps=1, reason="bad file"))],
                poll_interval=0.02,
            )
            timing_out = ImportJobTrigger(
                conn_id=conn_id,
                job_ids=[new_job[api](lifecycle=Lifecycle(outcome="stall"))],
                poll_interval=0.02,
                end_time=1.0,
            )
            for trigger in (good, failing, timing_out):
                triggers.append(trigger)
                evidence.add(f"{conn_id} event", await run_trigger(trigger))
            for backend, fault, endpoint in FAILURES[api]:
                sim.inject(backend, fault, count=50, endpoint=endpoint)
                trigger = ImportJobTrigger(
                    conn_id=conn_id, job_ids=[new_job[api]()], poll_interval=0.02, max_consecutive_errors=2
                )
                triggers.append(trigger)
                evidence.add(f"{conn_id} {fault.kind} event", await run_trigger(trigger))
                sim.faults.clear()
            killed = ImportJobTrigger(
                conn_id=conn_id, job_ids=[new_job[api](lifecycle=Lifecycle(outcome="stall"))], cancel_on_kill=True
            )
            await killed.on_kill()
            triggers.append(killed)
        for trigger in triggers:
            evidence.add("trigger kwargs", trigger.serialize())
            evidence.add("repr(trigger)", repr(trigger))
    evidence.logs(caplog, entries)
    evidence.assert_clean(minimum=100)


def test_operators_and_sensor_leak_no_canary(
    canaries: SimulatorServer, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    from airflow.sdk.log import redact

    from airflow_import_jobs._compat import TaskDeferred
    from airflow_import_jobs.operators.import_job import ListImportJobsOperator, StartImportJobOperator
    from airflow_import_jobs.sensors.import_job import ImportJobSensor

    sim = canaries.sim
    evidence = Evidence()
    caplog.set_level(logging.DEBUG)
    new_job = _job_adders(sim)
    requests: dict[str, dict[str, Any]] = {
        "sec_milvus": MILVUS_REQUEST,
        "sec_milvus_token": MILVUS_REQUEST,
        "sec_zilliz": ZILLIZ_REQUEST_WITH_KEYS,
        "sec_egain": EGAIN_REQUEST_WITH_KEYS,
        "sec_egain_token": EGAIN_REQUEST,
    }
    with captured_logs() as entries:
        for conn_id in (*CONNECTIONS, *WRONG_CONNECTIONS):
            request = requests.get(conn_id, requests[conn_id.replace("_wrong", "")])
            for kwargs in (
                {"wait_for_completion": False},
                {"poll_interval": 0.02},
                {"deferrable": True, "poll_interval": 0.02},
            ):
                sim.queue_lifecycle(_api(conn_id), Lifecycle(steps=3))
                op = StartImportJobOperator(task_id="start", conn_id=conn_id, request=request, **kwargs)
                result = evidence.attempt(f"{conn_id} start {kwargs}", functools.partial(op.execute, {}))
                if isinstance(result, TaskDeferred):
                    evidence.add("deferred trigger kwargs", result.trigger.serialize())
                    evidence.add("deferred kwargs", result.kwargs)
                op.on_kill()
            op = StartImportJobOperator(task_id="start", conn_id=conn_id, request={"not": "a create body"})
            evidence.attempt(f"{conn_id} start invalid", functools.partial(op.execute, {}))
            lister = ListImportJobsOperator(task_id="list", conn_id=conn_id, states=["completed"])
            evidence.attempt(f"{conn_id} list", functools.partial(lister.execute, {}))
            for deferrable in (False, True):
                for outcome in ("completed", "failed"):
                    job_id = new_job[_api(conn_id)](lifecycle=Lifecycle(outcome=outcome, steps=2))
                    sensor = ImportJobSensor(
                        task_id="wait", conn_id=conn_id, job_id=job_id, poke_interval=0.02, deferrable=deferrable
                    )
                    result = evidence.attempt(f"{conn_id} sensor {outcome}", functools.partial(sensor.execute, {}))
                    if isinstance(result, TaskDeferred):
                        evidence.add("sensor trigger kwargs", result.trigger.serialize())
    evidence.logs(caplog, entries)
    out, err = capfd.readouterr()
    evidence.add("stdout", out)
    evidence.add("stderr", err)
    evidence.assert_clean(minimum=100)
    # Credentials written into a create request are registered with the masker before use.
    for name in ("request_access_key", "request_secret_key", "request_token"):
        assert redact(CANARY[name]) == "***", name


def test_reprs_of_requests_tokens_and_actions_hide_secrets(canaries: SimulatorServer) -> None:
    request = build_token_request(
        canaries.egain_token_url, client_id="client", client_secret=CANARY["egain_client_secret"], scope="s"
    )
    body = json.dumps({"access_token": CANARY["egain_access_token"], "expires_in": 3600}).encode()
    token = parse_token(HttpResponse(200, {"content-type": "application/json"}, body))
    hook = get_import_hook("sec_zilliz")
    create = next(hook._protocol.start_job(ZILLIZ_REQUEST_WITH_KEYS))  # type: ignore[union-attr]
    for value in (request, Send(request), token, create, create.request, Send(create.request)):
        assert TAG not in repr(value), repr(value)
        assert TAG not in str(value), str(value)
    assert token.access_token == CANARY["egain_access_token"]  # the value is there, just never shown
    assert create.request.json["secretKey"] == CANARY["request_secret_key"]


# -- real task runs: dag.test(), the metadata database, AIRFLOW_HOME -------------------------------


def _dag(file: str, dag_id: str) -> Any:
    from tests.test_example_dags import load_dag_module

    return getattr(load_dag_module(Path(DAGS_FOLDER) / file), dag_id)


@pytest.mark.usefixtures("airflow_db")
def test_task_runs_leak_no_canary(
    canaries: SimulatorServer, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    from airflow.models.trigger import Trigger
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    sim = canaries.sim
    evidence = Evidence()
    caplog.set_level(logging.DEBUG)
    runs: list[Any] = []
    with captured_logs() as entries:
        # The sensor in all three modes, each on another API and credential kind; failures too.
        for dag_id, conn_id, add, outcome in (
            ("sensor_poke", "sec_milvus", sim.add_milvus_job, "completed"),
            ("sensor_reschedule", "sec_zilliz", sim.add_zilliz_job, "completed"),
            ("sensor_deferrable", "sec_egain", sim.add_egain_job, "failed"),
            ("sensor_poke", "sec_egain_token", sim.add_egain_job, "failed"),
        ):
            job_id = add(lifecycle=Lifecycle(outcome=outcome, steps=2))
            run = _dag("sensor_dags.py", dag_id).test(run_conf={"conn_id": conn_id, "job_id": job_id})
            runs.append(run)
            assert str(run.state) == ("success" if outcome == "completed" else "failed")
        # StartImportJobOperator deferring, its storage keys taken from the connection's extras; and a
        # start refused for a wrong client secret, whose failure and traceback get logged.
        for conn_id, request, state in (
            ("sec_zilliz", ZILLIZ_REQUEST, "success"),
            ("sec_egain_wrong", EGAIN_REQUEST, "failed"),
        ):
            run = _dag("operator_dags.py", "op_start_deferrable").test(
                run_conf={"conn_id": conn_id, "request": request}
            )
            runs.append(run)
            assert str(run.state) == state
    evidence.logs(caplog, entries)
    out, err = capfd.readouterr()
    evidence.add("stdout", out)
    evidence.add("stderr", err)
    run_ids = [run.run_id for run in runs]
    with create_session() as session:
        xcoms = session.query(XComModel).filter(XComModel.run_id.in_(run_ids)).all()
        assert xcoms  # the runs pushed their results
        for row in xcoms:
            evidence.add(f"xcom {row.dag_id}.{row.task_id}.{row.key}", str(row.value))
        for trigger in session.query(Trigger).all():
            evidence.add(f"trigger row {trigger.classpath}", trigger.kwargs)
    # Storage keys from the extras really went to the simulator with the deferred starts.
    bodies = [job.request_body for job in sim.jobs() if job.request_body]
    assert any(body.get("secretKey") == CANARY["storage_secret_key"] for body in bodies)
    home = Path(os.environ["AIRFLOW_HOME"])
    for path in home.rglob("*"):
        if path.is_file():
            evidence.add(f"file {path.relative_to(home)}", path.read_bytes())
    evidence.assert_clean(minimum=50)


def test_pre_signed_url_signatures_in_a_request_are_masked(sim_server: SimulatorServer) -> None:
    """A server may echo a pre-signed URL back (file names, reasons): its signature is masked first."""
    from airflow.sdk.log import redact

    from airflow_import_jobs.operators.import_job import StartImportJobOperator
    from tests.conftest import ZILLIZ

    s3_sig, gcs_sig, sas_sig = (f"CANARY-{TAG}-{kind}-signature" for kind in ("s3", "gcs", "sas"))
    urls = [
        f"https://bucket.s3.amazonaws.com/a.parquet?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature={s3_sig}",
        f"https://storage.googleapis.com/bucket/b.parquet?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Signature={gcs_sig}",
        f"https://account.blob.core.windows.net/container/c.parquet?sv=2024-11-04&sp=r&sig={sas_sig}",
    ]
    request = {"collectionName": "medium_articles", "objectUrls": [[url] for url in urls]}
    op = StartImportJobOperator(task_id="start", conn_id=ZILLIZ, request=request, wait_for_completion=False)
    op.execute({})  # type: ignore[arg-type]
    for signature, url in zip((s3_sig, gcs_sig, sas_sig), urls, strict=True):
        assert redact(signature) == "***"
        assert signature not in str(redact(f"failed to read {url}"))
    assert redact("2024-11-04") == "2024-11-04"  # the rest of the query is not a secret
