"""ListImportJobsOperator and StartImportJobOperator against the simulator, for all three APIs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from airflow_import_jobs._compat import AirflowFailException, AirflowTaskTimeout
from airflow_import_jobs.models import JobState
from airflow_import_jobs.operators.import_job import (
    ListImportJobsOperator,
    StartImportJobOperator,
    jobs_table,
    normalize_states,
)
from airflow_import_jobs.testing import Fault, Lifecycle, SimulatorServer
from tests.conftest import DAGS_FOLDER, EGAIN, MILVUS, ZILLIZ
from tests.test_example_dags import load_dag_module, task_states

MILVUS_REQUEST = {"collectionName": "medium_articles", "files": [["a.parquet"]]}
EGAIN_SOURCE = {
    "type": "AWS S3 bucket",
    "path": "s3://bucket/kb",
    "region": "us-east-1",
    "credentials": {"accessKeyId": "AKIA-TEST", "secretAccessKey": "CANARY-storage-secret"},
}


def run_dag(dag_id: str, **conf: Any) -> Any:
    dag = getattr(load_dag_module(Path(DAGS_FOLDER) / "operator_dags.py"), dag_id)
    return dag.test(run_conf=conf)


# -- ListImportJobsOperator ----------------------------------------------------------------


def test_list_filters_by_state(sim_server: SimulatorServer) -> None:
    done = sim_server.sim.add_milvus_job(lifecycle=Lifecycle(steps=0))
    running = sim_server.sim.add_milvus_job(lifecycle=Lifecycle(steps=50))
    sim_server.sim.add_milvus_job(lifecycle=Lifecycle(steps=50))  # first read: pending
    op = ListImportJobsOperator(task_id="list", conn_id=MILVUS, states=["completed", JobState.RUNNING])
    result = op.execute({})  # type: ignore[arg-type]
    assert {job["job_id"] for job in result} <= {done, running}
    assert done in {job["job_id"] for job in result}
    assert all(job["state"] in ("completed", "running") for job in result)


def test_list_zilliz_walks_every_page(sim_server: SimulatorServer) -> None:
    ids = {sim_server.sim.add_zilliz_job(collection_name="medium_articles") for _ in range(120)}
    result = ListImportJobsOperator(task_id="list", conn_id=ZILLIZ, collection_name="medium_articles").execute({})  # type: ignore[arg-type]
    assert {job["job_id"] for job in result} == ids


def test_list_egain_fails_clearly_without_a_request(sim_server: SimulatorServer) -> None:
    with pytest.raises(AirflowFailException, match="no endpoint that lists import jobs"):
        ListImportJobsOperator(task_id="list", conn_id=EGAIN).execute({})  # type: ignore[arg-type]
    assert sim_server.sim.counters()["total"] == 0


def test_list_rejects_unknown_states_at_parse_time() -> None:
    with pytest.raises(ValueError, match=r"'runing'.*valid states: pending, running, completed"):
        ListImportJobsOperator(task_id="list", conn_id=MILVUS, states=["runing"])
    assert normalize_states("Running") == {JobState.RUNNING}
    assert normalize_states(None) is None


def test_jobs_table_is_aligned(sim_server: SimulatorServer) -> None:
    from airflow_import_jobs.hooks import MilvusImportHook

    sim_server.sim.add_milvus_job(collection_name="docs")
    lines = jobs_table(MilvusImportHook(conn_id=MILVUS).list_jobs()).splitlines()
    assert lines[0].split() == ["job_id", "state", "progress", "collection", "rows"]
    assert len({line.index("state") if i == 0 else len(line.split()[0]) for i, line in enumerate(lines)}) >= 1


# -- StartImportJobOperator ----------------------------------------------------------------


def test_start_without_waiting_returns_the_job_id(sim_server: SimulatorServer) -> None:
    op = StartImportJobOperator(task_id="start", conn_id=MILVUS, request=MILVUS_REQUEST, wait_for_completion=False)
    job_id = op.execute({})  # type: ignore[arg-type]
    assert sim_server.sim.job(job_id).request_body is not None
    assert sim_server.sim.counters()["milvus.create"] == 1


@pytest.mark.parametrize(
    ("conn_id", "request_body", "match"),
    [
        (MILVUS, {"files": [["a.parquet"]]}, "collectionName"),
        (MILVUS, {"collectionName": "c"}, "files"),
        (MILVUS, {"collectionName": "c", "files": [["a"]], "options": {"timeout": 300}}, "only string"),
        (ZILLIZ, {"collectionName": "c"}, "objectUrls"),
        (
            EGAIN,
            {"dataSource": {**EGAIN_SOURCE}, "scheduleTime": {"date": "2026-03-01 10:00"}},
            "YYYY-MM-DDTHH:MM:SS.mmmZ",
        ),
        (EGAIN, {"dataSource": {"type": "FTP", "path": "x"}}, "must be one of"),
        (MILVUS, "not a dict", "must be a dict"),
    ],
)
def test_start_validates_before_sending(
    sim_server: SimulatorServer, conn_id: str, request_body: Any, match: str
) -> None:
    op = StartImportJobOperator(task_id="start", conn_id=conn_id, request=request_body, wait_for_completion=False)
    with pytest.raises(AirflowFailException, match=match):
        op.execute({})  # type: ignore[arg-type]
    assert sim_server.sim.counters()["total"] == 0


#: All the eGain v4 spec requires: dataSource.type and dataSource.path (region and credentials optional).
EGAIN_MINIMAL_SOURCE = {"type": "AWS S3 bucket", "path": "s3://open-bucket/kb"}


@pytest.mark.parametrize("validate_only", [False, True], ids=["import", "validation"])
def test_minimal_egain_body_starts_and_completes(sim_server: SimulatorServer, validate_only: bool) -> None:
    request: dict[str, Any] = {"dataSource": EGAIN_MINIMAL_SOURCE}
    if not validate_only:
        request["operation"] = "import"
    op = StartImportJobOperator(
        task_id="start", conn_id=EGAIN, request=request, validate_only=validate_only, poll_interval=0.05
    )
    result = op.execute({})  # type: ignore[arg-type]
    assert result["state"] == "completed"
    [job] = sim_server.sim.jobs("egain")
    assert job.request_body == request
    assert job.job_type == ("Validation" if validate_only else "Import")  # type: ignore[attr-defined]


@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize(
    ("dag_id", "job_type"), [("op_start_deferrable", "Import"), ("op_validate_deferrable", "Validation")]
)
def test_minimal_egain_body_deferrable(sim_server: SimulatorServer, dag_id: str, job_type: str) -> None:
    run = run_dag(dag_id, conn_id=EGAIN, request={"dataSource": EGAIN_MINIMAL_SOURCE})
    assert str(run.state) == "success", task_states(run)
    [job] = sim_server.sim.jobs("egain")
    assert job.job_type == job_type  # type: ignore[attr-defined]
    assert job.request_body["dataSource"] == EGAIN_MINIMAL_SOURCE  # type: ignore[index]


def test_start_and_wait_returns_final_job(sim_server: SimulatorServer) -> None:
    op = StartImportJobOperator(
        task_id="start", conn_id=EGAIN, request={"dataSource": EGAIN_SOURCE}, poll_interval=0.05
    )
    result = op.execute({})  # type: ignore[arg-type]
    assert result["state"] == "completed"
    assert result["backend"] == "egain"


def test_validation_with_errors_is_a_gate(sim_server: SimulatorServer) -> None:
    sim_server.sim.queue_lifecycle("egain", Lifecycle(steps=1, errors=3))
    op = StartImportJobOperator(
        task_id="validate",
        conn_id=EGAIN,
        request={"dataSource": EGAIN_SOURCE},
        validate_only=True,
        fail_on_errors=True,
        poll_interval=0.05,
    )
    with pytest.raises(AirflowFailException, match=r"validation job .* finished with 3 error\(s\)"):
        op.execute({})  # type: ignore[arg-type]


def test_validate_only_is_refused_outside_egain(sim_server: SimulatorServer) -> None:
    op = StartImportJobOperator(task_id="start", conn_id=MILVUS, request=MILVUS_REQUEST, validate_only=True)
    with pytest.raises(AirflowFailException, match="validate_only is an eGain feature"):
        op.execute({})  # type: ignore[arg-type]


@pytest.mark.parametrize(("conn_id", "flag"), [(MILVUS, "aborted"), (EGAIN, "cancelled")])
def test_on_kill_cancels_the_remote_job(sim_server: SimulatorServer, conn_id: str, flag: str) -> None:
    request = MILVUS_REQUEST if conn_id == MILVUS else {"dataSource": EGAIN_SOURCE}
    op = StartImportJobOperator(task_id="start", conn_id=conn_id, request=request, wait_for_completion=False)
    job_id = op.execute({})  # type: ignore[arg-type]
    op.on_kill()
    assert getattr(sim_server.sim.job(job_id), flag)


def test_on_kill_respects_cancel_on_kill_false(sim_server: SimulatorServer) -> None:
    op = StartImportJobOperator(
        task_id="start", conn_id=MILVUS, request=MILVUS_REQUEST, wait_for_completion=False, cancel_on_kill=False
    )
    job_id = op.execute({})  # type: ignore[arg-type]
    op.on_kill()
    assert not sim_server.sim.job(job_id).aborted  # type: ignore[attr-defined]


def test_trigger_timeout_cancels_then_raises(sim_server: SimulatorServer) -> None:
    job_id = sim_server.sim.add_milvus_job(lifecycle=Lifecycle(outcome="stall"))
    op = StartImportJobOperator(task_id="start", conn_id=MILVUS, request=MILVUS_REQUEST)
    event = {"status": "timeout", "jobs": [], "message": "Timed out waiting for it."}
    with pytest.raises(AirflowTaskTimeout, match="Timed out"):  # execution_timeout: a task timeout in every mode
        op.execute_complete({}, event, job_id=job_id)  # type: ignore[arg-type]
    assert sim_server.sim.job(job_id).aborted  # type: ignore[attr-defined]


@pytest.mark.usefixtures("airflow_db")
def test_a_retry_reuses_the_job_the_first_try_started(sim_server: SimulatorServer) -> None:
    sim = sim_server.sim
    sim.queue_lifecycle("milvus", Lifecycle(steps=4))
    # The first try's first poll is refused for good (HTTP 401): that try fails after the start.
    sim.inject("milvus", Fault(kind="status", status=401, code=1800, message="auth"), count=1, endpoint="describe")
    run = run_dag("op_start_retry", conn_id=MILVUS, request=MILVUS_REQUEST)
    assert str(run.state) == "success", task_states(run)
    assert sim.counters()["milvus.create"] == 1  # no second job
    from airflow.sdk import Variable

    assert not [k for k in _variable_keys() if k.startswith("airflow_import_jobs.start.")]  # cleaned up
    assert Variable  # imported for the cleanup check above


def _variable_keys() -> list[str]:
    from airflow.models import Variable as VariableModel
    from airflow.utils.session import create_session

    with create_session() as session:
        return [v.key for v in session.query(VariableModel).all()]


@pytest.mark.usefixtures("airflow_db")
def test_deferrable_start_emits_an_asset_event(sim_server: SimulatorServer) -> None:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    run = run_dag("op_start_deferrable", conn_id=MILVUS, request=MILVUS_REQUEST)
    assert str(run.state) == "success", task_states(run)
    uri = f"milvus://127.0.0.1:{sim_server.port}/default/medium_articles"
    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.uri == uri, AssetEvent.source_run_id == run.run_id)
            .all()
        )
        assert len(events) == 1
        extra = events[0].extra
    assert extra["backend"] == "milvus"
    assert len(extra["job_ids"]) == 1
    assert extra["imported_rows"] == 1000


@pytest.mark.usefixtures("airflow_db")
def test_execution_timeout_cancels_the_job(sim_server: SimulatorServer) -> None:
    sim_server.sim.queue_lifecycle("milvus", Lifecycle(outcome="stall"))
    with capture_logs():
        run = run_dag("op_start_timeout", conn_id=MILVUS, request=MILVUS_REQUEST)
    assert str(run.state) == "failed"
    jobs = sim_server.sim.jobs("milvus")
    assert len(jobs) == 1
    assert jobs[0].aborted  # type: ignore[attr-defined]


class _Events:
    """Stands in for Airflow's outlet_events accessor (which does not hash its keys: AssetAlias is
    unhashable on Airflow 3.1): records what is added through any alias."""

    def __init__(self) -> None:
        self.added: list[tuple[str, dict[str, Any]]] = []

    def __getitem__(self, key: Any) -> Any:
        events = self

        class _Alias:
            def add(self, asset: Any, extra: dict[str, Any]) -> None:
                events.added.append((asset.uri, extra))

        return _Alias()


def test_asset_uri_uses_the_requests_database_and_skips_validations(sim_server: SimulatorServer) -> None:
    events = _Events()
    op = StartImportJobOperator(
        task_id="start", conn_id=MILVUS, request={**MILVUS_REQUEST, "dbName": "default"}, poll_interval=0.05
    )
    op.execute({"outlet_events": events})  # type: ignore[arg-type]
    assert [uri for uri, _ in events.added] == [f"milvus://127.0.0.1:{sim_server.port}/default/medium_articles"]
    events = _Events()
    validate = StartImportJobOperator(
        task_id="v", conn_id=EGAIN, request={"dataSource": EGAIN_SOURCE}, validate_only=True, poll_interval=0.05
    )
    validate.execute({"outlet_events": events})  # type: ignore[arg-type]
    assert events.added == []  # a validation loads nothing


def test_bad_wait_arguments_fail_at_parse_time() -> None:
    from airflow_import_jobs.sensors.import_job import ImportJobSensor

    with pytest.raises(ValueError, match="max_consecutive_errors"):
        ImportJobSensor(task_id="s", conn_id=MILVUS, job_id="1", max_consecutive_errors=0)
    with pytest.raises(ValueError, match="poll_interval"):
        StartImportJobOperator(task_id="o", conn_id=MILVUS, request=MILVUS_REQUEST, poll_interval=0)


def test_missing_connection_fails_for_good(sim_server: SimulatorServer) -> None:
    op = StartImportJobOperator(task_id="o", conn_id="nope", request=MILVUS_REQUEST)
    with pytest.raises(AirflowFailException, match="'nope' is not defined"):
        op.execute({})  # type: ignore[arg-type]
    with pytest.raises(AirflowFailException, match="'nope' is not defined"):
        ListImportJobsOperator(task_id="l", conn_id="nope").execute({})  # type: ignore[arg-type]


# -- the start record: the start never fails once the job exists ------------------------------


class _FakeTI:
    """A task instance as a DAG's own unit test builds one: no task runner behind it."""

    def __init__(self, try_number: int = 1, max_tries: int = 0) -> None:
        self.dag_id, self.task_id, self.run_id, self.map_index = "users_dag", "start", "manual__1", -1
        self.try_number, self.max_tries = try_number, max_tries
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


class _Variables:
    """Stands in for ``airflow.sdk.Variable`` (get/set/delete on a dict); ``fail_set`` breaks writes."""

    def __init__(self, fail_set: bool = False) -> None:
        self.store: dict[str, Any] = {}
        self.fail_set = fail_set

    def get(self, key: str, default: Any = None, deserialize_json: bool = False) -> Any:
        return self.store.get(key, default)

    def set(self, key: str, value: Any, description: str | None = None, serialize_json: bool = False) -> None:
        if self.fail_set:
            raise RuntimeError("Execution API unavailable (simulated)")
        self.store[key] = value

    def delete(self, key: str) -> None:
        self.store.pop(key, None)


@pytest.fixture
def variables(monkeypatch: pytest.MonkeyPatch) -> _Variables:
    """A dict-backed Variable store, and a task runner that looks active, so the record is on."""
    import airflow.sdk

    from airflow_import_jobs.operators import import_job

    store = _Variables()
    for name in ("get", "set", "delete"):
        monkeypatch.setattr(airflow.sdk.Variable, name, getattr(store, name))
    monkeypatch.setattr(import_job, "_task_runner_active", lambda: True)
    return store


def _warnings(logs: list[dict[str, Any]]) -> list[str]:
    return [str(entry["event"]) for entry in logs if entry.get("log_level") == "warning"]


def test_execute_outside_a_task_runner_returns_the_job_id(sim_server: SimulatorServer) -> None:
    ti = _FakeTI()
    op = StartImportJobOperator(task_id="start", conn_id=MILVUS, request=MILVUS_REQUEST, wait_for_completion=False)
    with capture_logs() as logs:
        job_id = op.execute({"ti": ti})  # type: ignore[arg-type]
    assert job_id == sim_server.sim.jobs("milvus")[0].job_id
    assert ti.xcom == {"job_id": job_id}
    warnings = _warnings(logs)
    assert len(warnings) == 1, warnings
    assert "duplicate-start guard is off" in warnings[0]
    assert "not running in an Airflow task runner" in warnings[0]
    assert sim_server.sim.counters()["milvus.create"] == 1


def test_a_failing_record_write_after_the_create_does_not_fail_the_task(
    sim_server: SimulatorServer, variables: _Variables
) -> None:
    variables.fail_set = True
    sim_server.sim.queue_lifecycle("milvus", Lifecycle(steps=2))
    op = StartImportJobOperator(task_id="start", conn_id=MILVUS, request=MILVUS_REQUEST, poll_interval=0.05)
    with capture_logs() as logs:
        job = op.execute({"ti": _FakeTI()})  # type: ignore[arg-type]
    (created,) = sim_server.sim.jobs("milvus")
    assert job["job_id"] == created.job_id
    assert job["state"] == "completed"
    warnings = _warnings(logs)
    (warning,) = [w for w in warnings if "start record" in w]
    assert created.job_id in warning
    assert "could not write the start record" in warning
    assert "Execution API unavailable" in warning


def test_a_failing_asset_event_or_xcom_push_after_the_create_does_not_fail_the_task(
    sim_server: SimulatorServer,
) -> None:
    class _BrokenTI(_FakeTI):
        def xcom_push(self, key: str, value: Any) -> None:
            raise RuntimeError("XCom backend down")

    class _BrokenEvents:
        def __getitem__(self, key: Any) -> Any:
            raise RuntimeError("outlet events unavailable")

    op = StartImportJobOperator(task_id="start", conn_id=MILVUS, request=MILVUS_REQUEST, poll_interval=0.05)
    with capture_logs() as logs:
        job = op.execute({"ti": _BrokenTI(), "outlet_events": _BrokenEvents()})  # type: ignore[arg-type]
    assert job["state"] == "completed"
    warnings = [w for w in _warnings(logs) if "duplicate-start guard" not in w]
    assert len(warnings) == 2, warnings
    assert all(job["job_id"] in w for w in warnings)
    assert any("XCom backend down" in w for w in warnings)
    assert any("outlet events unavailable" in w for w in warnings)


def test_a_retry_resumes_only_its_own_runs_job(
    sim_server: SimulatorServer, variables: _Variables, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim_server.sim.queue_lifecycle("milvus", Lifecycle(steps=50), count=10)
    import airflow.sdk

    monkeypatch.setattr(airflow.sdk.Variable, "delete", lambda key: None)  # every try is killed: records stay

    def start(try_number: int, request: dict[str, Any] = MILVUS_REQUEST, clear_number: int = 0) -> str:
        op = StartImportJobOperator(task_id="start", conn_id=MILVUS, request=request, wait_for_completion=False)
        run = type("DagRun", (), {"clear_number": clear_number})()
        job_id: str = op.execute({"ti": _FakeTI(try_number=try_number), "dag_run": run})  # type: ignore[arg-type]
        return job_id

    first = start(1)
    (key,) = variables.store
    left = dict(variables.store[key])  # what try 1 leaves behind when it is killed
    assert start(2) == first  # a retry of the same run and request: the same job
    assert start(3) == first
    assert start(1) != first  # a run made again under the same run ID: never the old job
    variables.store[key] = left
    assert start(2, clear_number=1) != first  # the run was cleared since: a fresh start
    variables.store[key] = left
    assert start(2, request={**MILVUS_REQUEST, "files": [["b.parquet"]]}) != first  # another request
    assert sim_server.sim.counters()["milvus.create"] == 4


def test_the_record_is_deleted_when_the_task_ends(sim_server: SimulatorServer, variables: _Variables) -> None:
    sim_server.sim.queue_lifecycle("milvus", Lifecycle(outcome="failed", steps=2))
    op = StartImportJobOperator(task_id="start", conn_id=MILVUS, request=MILVUS_REQUEST, poll_interval=0.05)
    with pytest.raises(AirflowFailException):
        op.execute({"ti": _FakeTI(try_number=1, max_tries=3)})  # type: ignore[arg-type]
    assert variables.store == {}
    skipping = StartImportJobOperator(
        task_id="start", conn_id=MILVUS, request=MILVUS_REQUEST, poll_interval=0.05, soft_fail=True
    )
    sim_server.sim.queue_lifecycle("milvus", Lifecycle(outcome="failed", steps=2))
    from airflow_import_jobs._compat import AirflowSkipException

    with pytest.raises(AirflowSkipException):
        skipping.execute({"ti": _FakeTI(try_number=1, max_tries=3)})  # type: ignore[arg-type]
    assert variables.store == {}


def test_a_retry_after_on_kill_cancelled_the_job_starts_a_new_one(
    sim_server: SimulatorServer, variables: _Variables, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim_server.sim.queue_lifecycle("milvus", Lifecycle(steps=50), count=2)
    import airflow.sdk

    monkeypatch.setattr(airflow.sdk.Variable, "delete", lambda key: None)  # the try is killed: its record stays
    first_try = StartImportJobOperator(
        task_id="start", conn_id=MILVUS, request=MILVUS_REQUEST, wait_for_completion=False, cancel_on_kill=True
    )
    first = first_try.execute({"ti": _FakeTI(try_number=1, max_tries=1)})  # type: ignore[arg-type]
    assert len(variables.store) == 1
    first_try.on_kill()
    retry = StartImportJobOperator(task_id="start", conn_id=MILVUS, request=MILVUS_REQUEST, wait_for_completion=False)
    second = retry.execute({"ti": _FakeTI(try_number=2, max_tries=1)})  # type: ignore[arg-type]
    assert second != first  # waiting on the cancelled job could only fail the retry
    assert sim_server.sim.job(first).aborted  # type: ignore[attr-defined]
    assert sim_server.sim.counters()["milvus.create"] == 2
