"""Hooks over real loopback HTTP against the simulator: every backend x every method, sync and async."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from airflow_import_jobs.client.policy import RetryPolicy
from airflow_import_jobs.exceptions import (
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    JobNotFoundError,
    UnsupportedOperationError,
)
from airflow_import_jobs.hooks import (
    EgainImportHook,
    ImportJobHook,
    MilvusImportHook,
    ZillizCloudImportHook,
    aget_import_hook,
    get_import_hook,
)
from airflow_import_jobs.models import ImportJob, JobState
from airflow_import_jobs.testing import Lifecycle, SimulatorServer
from tests.conftest import EGAIN, MILVUS, ZILLIZ, conn_env, set_connection

T = TypeVar("T")
S3_SOURCE = {
    "dataSource": {
        "type": "AWS S3 bucket",
        "path": "s3://bucket/content",
        "region": "us-east-1",
        "credentials": {"accessKeyId": "AKIA-EXAMPLE", "secretAccessKey": "example-secret"},
    }
}


@pytest.fixture(params=["sync", "async"])
def call(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Run a hook method by name through its sync form or its async twin (same protocol code)."""

    def run(hook: ImportJobHook, method: str, *args: Any, **kwargs: Any) -> Any:
        if request.param == "sync":
            return getattr(hook, method)(*args, **kwargs)
        import asyncio

        async def go() -> Any:
            coro: Awaitable[Any] = getattr(hook, f"a{method}")(*args, **kwargs)
            try:
                return await coro
            finally:
                await hook.aclose()

        return asyncio.run(go())

    return run


# -- eGain: only what the spec requires ------------------------------------------------------


@pytest.mark.parametrize("validate_only", [False, True], ids=["import", "validation"])
def test_egain_starts_with_only_type_and_path(
    sim_server: SimulatorServer, call: Callable[..., Any], validate_only: bool
) -> None:
    """ImportContent/ValidateImportContent: dataSource.region and dataSource.credentials are optional."""
    source = {"type": "AWS S3 bucket", "path": "s3://open-bucket/kb"}
    request: dict[str, Any] = {"dataSource": source} if validate_only else {"dataSource": source, "operation": "import"}
    hook = get_import_hook(EGAIN)
    job_id = call(hook, "start_job", request, validate_only=validate_only)
    job = sim_server.sim.job(job_id)
    assert job.request_body == request
    assert job.job_type == ("Validation" if validate_only else "Import")  # type: ignore[attr-defined]
    assert call(get_import_hook(EGAIN), "get_job", job_id).state in (JobState.PENDING, JobState.RUNNING)


# -- Milvus --------------------------------------------------------------------------------


def test_milvus_get_job_follows_the_lifecycle(sim_server: SimulatorServer, call: Callable[..., Any]) -> None:
    job_id = sim_server.sim.add_milvus_job(collection_name="docs", lifecycle=Lifecycle(steps=3, total_rows=500))
    hook = MilvusImportHook(conn_id=MILVUS)
    states = [call(hook, "get_job", job_id).state for _ in range(3)]
    assert states[0] is JobState.PENDING
    assert states[-1] is JobState.COMPLETED
    final: ImportJob = call(hook, "get_job", job_id)
    assert final.job_id == job_id
    assert final.backend == "milvus"
    assert final.progress == 100
    assert final.collection_name == "docs"
    assert final.imported_rows == 500
    assert final.files
    assert final.files[0].state is JobState.COMPLETED
    assert final.completed_at is not None
    assert final.completed_at.tzinfo is not None


def test_milvus_job_id_above_2_53_is_exact_and_sent_as_a_string(sim_server: SimulatorServer) -> None:
    hook = MilvusImportHook(conn_id=MILVUS)
    job_id = hook.start_job({"collectionName": "docs", "files": [["a.parquet"]]})
    assert int(job_id) > 2**53
    assert str(int(float(job_id))) != job_id  # the trap a float would fall into
    job = hook.get_job(job_id)
    assert job.job_id == job_id
    assert json.loads(json.dumps(job.model_dump(mode="json")))["job_id"] == job_id
    describe = [r for r in sim_server.sim.requests if r.endpoint == "describe"]
    assert describe
    assert describe[-1].body == {"jobId": job_id}
    assert all(r.headers.get("db-name") == "default" for r in sim_server.sim.requests)


def test_milvus_list_jobs_filters_by_collection(sim_server: SimulatorServer, call: Callable[..., Any]) -> None:
    a = sim_server.sim.add_milvus_job(collection_name="docs")
    b = sim_server.sim.add_milvus_job(collection_name="quick_setup")
    hook = MilvusImportHook(conn_id=MILVUS)
    assert {j.job_id for j in call(hook, "list_jobs")} == {a, b}
    assert [j.job_id for j in call(hook, "list_jobs", collection_name="docs")] == [a]


def test_milvus_start_fills_db_name_and_cancel_aborts(sim_server: SimulatorServer, call: Callable[..., Any]) -> None:
    hook = MilvusImportHook(conn_id=MILVUS)
    job_id = call(hook, "start_job", {"collectionName": "docs", "files": [["a.parquet"], ["b.parquet"]]})
    job = sim_server.sim.job(job_id)
    assert job.request_body is not None
    assert job.request_body["dbName"] == "default"
    call(hook, "cancel_job", job_id)
    assert sim_server.sim.job(job_id).aborted  # type: ignore[attr-defined]


def test_milvus_rejects_bad_requests_before_sending(sim_server: SimulatorServer) -> None:
    hook = MilvusImportHook(conn_id=MILVUS)
    with pytest.raises(InvalidRequestError, match=r"options.*'auto_commit'.*string"):
        hook.start_job({"collectionName": "docs", "files": [["a"]], "options": {"auto_commit": False}})
    with pytest.raises(InvalidRequestError, match="collectionName"):
        hook.start_job({"files": [["a"]]})
    with pytest.raises(InvalidRequestError, match="not a valid Milvus job ID"):
        hook.get_job("../../etc")
    assert sim_server.sim.counters()["total"] == 0


def test_milvus_file_count_limit_is_the_servers(sim_server: SimulatorServer) -> None:
    """maxImportFileNumPerReq is server configuration: the client sends, the server decides."""
    hook = MilvusImportHook(conn_id=MILVUS)
    files = [[f"part-{i}.parquet"] for i in range(1025)]
    with pytest.raises(InvalidRequestError, match="should not exceed 1024") as caught:
        hook.start_job({"collectionName": "docs", "files": files})
    assert caught.value.code == 2100
    sim_server.sim.milvus_max_files = 2048
    assert sim_server.sim.job(hook.start_job({"collectionName": "docs", "files": files})).files  # type: ignore[attr-defined]


def test_milvus_unknown_job_is_job_not_found_with_code(sim_server: SimulatorServer, call: Callable[..., Any]) -> None:
    hook = MilvusImportHook(conn_id=MILVUS)
    with pytest.raises(JobNotFoundError) as caught:
        call(hook, "get_job", "448761313698322999")
    assert caught.value.code == 2100
    assert caught.value.http_status == 200
    assert "Connection 'milvus_sim'" in str(caught.value)
    assert "448761313698322999" in str(caught.value)


def test_milvus_old_server_falls_back_to_get_progress(sim_server: SimulatorServer) -> None:
    sim_server.sim.milvus_has_describe = False
    job_id = sim_server.sim.add_milvus_job(lifecycle=Lifecycle(steps=1))
    hook = MilvusImportHook(conn_id=MILVUS)
    assert hook.get_job(job_id).state is JobState.COMPLETED
    assert hook.get_job(job_id).state is JobState.COMPLETED
    counters = sim_server.sim.counters()
    assert counters["milvus.describe"] == 1  # learned once, not asked again
    assert counters["milvus.get_progress"] == 2


def test_milvus_legacy_success_code_200(sim_server: SimulatorServer) -> None:
    sim_server.sim.milvus_success_code = 200
    job_id = sim_server.sim.add_milvus_job(lifecycle=Lifecycle(steps=1))
    hook = MilvusImportHook(conn_id=MILVUS)
    assert hook.get_job(job_id).state is JobState.COMPLETED
    assert [j.job_id for j in hook.list_jobs()] == [job_id]


def test_milvus_commit_of_two_phase_import(sim_server: SimulatorServer) -> None:
    job_id = sim_server.sim.add_milvus_job(lifecycle=Lifecycle(outcome="uncommitted", steps=1))
    hook = MilvusImportHook(conn_id=MILVUS)
    job = hook.get_job(job_id)
    assert job.state is JobState.RUNNING
    assert job.raw["state"] == "Uncommitted"
    hook.commit_job(job_id)
    assert sim_server.sim.job(job_id).committed  # type: ignore[attr-defined]


def test_milvus_wrong_password_fails_test_connection_clearly(
    sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(
        monkeypatch,
        "milvus_bad",
        conn_type="milvus",
        host=sim_server.milvus_url,
        login="root",
        password="wrong-password",
    )
    ok, message = MilvusImportHook(conn_id="milvus_bad").test_connection()
    assert not ok
    assert "HTTP 401" in message
    assert "login/password" in message
    assert "wrong-password" not in message
    ok, message = MilvusImportHook(conn_id=MILVUS).test_connection()
    assert ok, message


def test_milvus_uri_connection_with_string_extras(sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    port = sim_server.port
    monkeypatch.setenv(
        conn_env("milvus_uri"), f"milvus://root:Milvus@127.0.0.1:{port}?db_name=default&timeout=7.5&secure=false"
    )
    hook = get_import_hook("milvus_uri")
    assert isinstance(hook, MilvusImportHook)
    assert hook.settings.base_url == f"http://127.0.0.1:{port}"
    assert hook.settings.timeout == 7.5
    job_id = sim_server.sim.add_milvus_job()
    assert hook.get_job(job_id).job_id == job_id


# -- Zilliz Cloud --------------------------------------------------------------------------


def test_zilliz_list_walks_every_page(sim_server: SimulatorServer, call: Callable[..., Any]) -> None:
    ids = {sim_server.sim.add_zilliz_job() for _ in range(230)}
    hook = ZillizCloudImportHook(conn_id=ZILLIZ)
    jobs = call(hook, "list_jobs")
    assert {j.job_id for j in jobs} == ids
    assert sim_server.sim.counters()["zilliz.list"] == 3
    pages = [r.body["currentPage"] for r in sim_server.sim.requests if r.endpoint == "list"]
    assert pages == [1, 2, 3]


def test_zilliz_get_and_start_fill_cluster_and_storage(
    sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch, call: Callable[..., Any]
) -> None:
    sim = sim_server.sim
    set_connection(
        monkeypatch,
        "zilliz_keys",
        conn_type="zilliz_cloud",
        host=sim_server.zilliz_url,
        password=sim.zilliz_api_key,
        extra={
            "cluster_id": sim.zilliz_cluster_id,
            "storage_access_key": "AKIA-STORAGE",
            "storage_secret_key": "storage-secret-value",
        },
    )
    hook = ZillizCloudImportHook(conn_id="zilliz_keys")
    job_id = call(hook, "start_job", {"collectionName": "medium_articles", "objectUrls": [["s3://b/a.parquet"]]})
    assert job_id.startswith("job-")
    body = sim.job(job_id).request_body
    assert body is not None
    assert body["clusterId"] == sim.zilliz_cluster_id
    assert body["accessKey"] == "AKIA-STORAGE"
    assert body["secretKey"] == "storage-secret-value"
    job = call(hook, "get_job", job_id)
    assert job.job_id == job_id
    assert job.backend == "zilliz_cloud"
    with pytest.raises(UnsupportedOperationError):
        call(hook, "cancel_job", job_id)


def test_zilliz_bad_api_key_is_authentication_error_with_code(
    sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for status in (200, 401):
        sim_server.sim.zilliz_auth_error_status = status
        set_connection(
            monkeypatch,
            "zilliz_bad",
            conn_type="zilliz_cloud",
            host=sim_server.zilliz_url,
            password="not-the-key",
            extra={"cluster_id": sim_server.sim.zilliz_cluster_id},
        )
        with pytest.raises(AuthenticationError) as caught:
            ZillizCloudImportHook(conn_id="zilliz_bad").list_jobs()
        assert caught.value.code == 21119
        assert caught.value.http_status == status
        assert "not-the-key" not in str(caught.value)


def test_zilliz_missing_cluster_id_fails_before_any_request(
    sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(
        monkeypatch,
        "zilliz_nocluster",
        conn_type="zilliz_cloud",
        host=sim_server.zilliz_url,
        password=sim_server.sim.zilliz_api_key,
    )
    with pytest.raises(ConfigurationError, match="cluster_id"):
        ZillizCloudImportHook(conn_id="zilliz_nocluster").list_jobs()
    assert sim_server.sim.counters()["total"] == 0


# -- eGain ---------------------------------------------------------------------------------


def test_egain_start_status_and_token_reuse(sim_server: SimulatorServer, call: Callable[..., Any]) -> None:
    hook = EgainImportHook(conn_id=EGAIN)
    job_id = call(hook, "start_job", S3_SOURCE)
    for _ in range(4):
        job = call(hook, "get_job", job_id)
    assert job.job_id == job_id
    assert job.job_type == "import"
    assert sim_server.sim.counters()["egain.token"] == 1


def test_egain_validation_job_and_cancel(sim_server: SimulatorServer, call: Callable[..., Any]) -> None:
    hook = EgainImportHook(conn_id=EGAIN)
    job_id = call(hook, "start_job", S3_SOURCE, validate_only=True)
    assert call(hook, "get_job", job_id).job_type == "validation"
    call(hook, "cancel_job", job_id)
    assert sim_server.sim.job(job_id).cancelled  # type: ignore[attr-defined]


def test_egain_token_renewed_once_on_401(sim_server: SimulatorServer) -> None:
    hook = EgainImportHook(conn_id=EGAIN)
    job_id = sim_server.sim.add_egain_job()
    hook.get_job(job_id)
    sim_server.sim.expire_egain_tokens()
    assert hook.get_job(job_id).job_id == job_id
    counters = sim_server.sim.counters()
    assert counters["egain.token"] == 2
    assert counters["egain.status"] == 3  # one refused with 401-101, resent once with the new token


def test_egain_list_is_unsupported_without_a_request(sim_server: SimulatorServer, call: Callable[..., Any]) -> None:
    with pytest.raises(UnsupportedOperationError, match="no endpoint that lists"):
        call(EgainImportHook(conn_id=EGAIN), "list_jobs")
    assert sim_server.sim.counters()["total"] == 0


def test_egain_ids_must_be_uuids(sim_server: SimulatorServer) -> None:
    for bad in ("", "123", "a/b", "../status", "7a84b875-6f75-4c7b-b137-0632b62db0bd/../x"):
        with pytest.raises(InvalidRequestError, match="UUID"):
            EgainImportHook(conn_id=EGAIN).get_job(bad)
    assert sim_server.sim.counters()["total"] == 0


def test_egain_test_connection(sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = EgainImportHook(conn_id=EGAIN).test_connection()
    assert ok, message
    fields = {
        "conn_type": "egain",
        "host": sim_server.egain_url,
        "login": sim_server.sim.egain_client_id,
        "password": "wrong-secret",
        "extra": {"token_url": sim_server.egain_token_url},
    }
    set_connection(monkeypatch, "egain_bad", **fields)
    ok, message = EgainImportHook(conn_id="egain_bad").test_connection()
    assert not ok
    assert "client ID" in message
    assert "wrong-secret" not in message


def test_egain_plain_http_to_remote_host_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(
        monkeypatch,
        "egain_http",
        conn_type="egain",
        host="http://api.example.com",
        login="c",
        password="s",
        extra={"token_url": "https://auth.example.com/token"},
    )
    with pytest.raises(ConfigurationError, match="allow_insecure_http"):
        EgainImportHook(conn_id="egain_http").settings  # noqa: B018
    set_connection(
        monkeypatch,
        "egain_http_token",
        conn_type="egain",
        host="api.example.com",
        login="c",
        password="s",
        extra={"token_url": "http://auth.example.com/token"},
    )
    with pytest.raises(ConfigurationError, match="token_url"):
        EgainImportHook(conn_id="egain_http_token").settings  # noqa: B018
    set_connection(
        monkeypatch,
        "egain_optin",
        conn_type="egain",
        host="http://api.example.com",
        login="c",
        password="s",
        extra={"token_url": "http://auth.example.com/token", "allow_insecure_http": "true"},
    )
    assert EgainImportHook(conn_id="egain_optin").settings.base_url == "http://api.example.com"


# -- picking hooks, settings ---------------------------------------------------------------


def test_get_import_hook_picks_by_type(sim_server: SimulatorServer) -> None:
    assert type(get_import_hook(MILVUS)) is MilvusImportHook
    assert type(get_import_hook(ZILLIZ)) is ZillizCloudImportHook
    assert type(get_import_hook(EGAIN)) is EgainImportHook


def test_get_import_hook_rejects_other_types(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, "pg", conn_type="postgres", host="db")
    with pytest.raises(ConfigurationError, match=r"'postgres'.*egain, milvus, zilliz_cloud"):
        get_import_hook("pg")


async def test_aget_import_hook(sim_server: SimulatorServer) -> None:
    hook = await aget_import_hook(MILVUS)
    job_id = sim_server.sim.add_milvus_job()
    try:
        assert (await hook.aget_job(job_id)).job_id == job_id
    finally:
        await hook.aclose()


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"timeout": "soon"}, "'timeout'.*must be a number"),
        ({"timeout": -1}, "'timeout'.*positive"),
        ({"secure": "maybe"}, "'secure'.*true or false"),
        ({"db_name": 5}, "'db_name'.*must be a string"),
        ({"verify": 3}, "'verify'.*CA bundle"),
    ],
)
def test_wrong_extras_fail_clearly(monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], match: str) -> None:
    set_connection(monkeypatch, "m_bad", conn_type="milvus", host="127.0.0.1", extra=extra)
    with pytest.raises(ConfigurationError, match=match):
        MilvusImportHook(conn_id="m_bad").settings  # noqa: B018


def test_reprs_hide_credentials(sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    canaries = {
        "milvus": {"conn_type": "milvus", "host": "127.0.0.1", "login": "u", "password": "CANARY-milvus-pw"},
        "milvus_tok": {"conn_type": "milvus", "host": "127.0.0.1", "extra": {"token": "CANARY-milvus-token"}},
        "zilliz": {
            "conn_type": "zilliz_cloud",
            "password": "CANARY-zilliz-key",
            "extra": {"cluster_id": "c", "storage_secret_key": "CANARY-storage"},
        },
        "egain": {
            "conn_type": "egain",
            "host": "api.example.com",
            "login": "id",
            "password": "CANARY-egain-secret",
            "extra": {"token_url": "https://auth.example.com/t"},
        },
        "egain_tok": {"conn_type": "egain", "host": "api.example.com", "extra": {"access_token": "CANARY-egain-tok"}},
    }
    for conn_id, fields in canaries.items():
        set_connection(monkeypatch, conn_id, **fields)
        hook = get_import_hook(conn_id)
        transport = hook._transport
        assert transport is not None
        text = " ".join(repr(x) for x in (hook, hook.settings, transport, transport.engine.auth, hook._protocol))
        assert "CANARY" not in text, text


def test_transient_failures_are_retried_then_reported(sim_server: SimulatorServer) -> None:
    from airflow_import_jobs.testing import Fault

    sim_server.sim.inject("milvus", Fault(kind="status", status=503, retry_after="0"), count=2)
    job_id = sim_server.sim.add_milvus_job()
    hook = MilvusImportHook(conn_id=MILVUS, retry=RetryPolicy(max_retries=3, backoff=0.01))
    assert hook.get_job(job_id).job_id == job_id
    assert sim_server.sim.counters()["milvus.describe"] == 3


def test_milvus_user_without_password_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, "m_nopw", conn_type="milvus", host="127.0.0.1", login="root")
    with pytest.raises(ConfigurationError, match="no password"):
        MilvusImportHook(conn_id="m_nopw").settings  # noqa: B018


def test_zilliz_list_refuses_db_name_before_any_request(sim_server: SimulatorServer) -> None:
    with pytest.raises(InvalidRequestError, match="cannot filter by database"):
        ZillizCloudImportHook(conn_id=ZILLIZ).list_jobs(db_name="analytics")
    assert sim_server.sim.counters()["total"] == 0


def test_zilliz_job_rows_are_the_sum_of_its_files() -> None:
    from airflow_import_jobs.protocol.zilliz import job_from_record

    record = {
        "jobId": "job-1",
        "state": "Completed",
        "progress": 100,
        "details": [{"fileName": "a", "importedRows": 400}, {"fileName": "b", "importedRows": 200}],
    }
    assert job_from_record(record).imported_rows == 600
    partial = {**record, "details": [{"fileName": "a", "importedRows": 400}, {"fileName": "b"}]}
    assert job_from_record(partial).imported_rows is None  # never a guess from some of the files
    assert job_from_record({**record, "importedRows": 7}).imported_rows == 7  # the job's own count wins


def test_connections_sharing_a_credential_share_a_rate_limiter(
    sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_import_jobs.client.policy import limiter_for

    fields = {
        "conn_type": "zilliz_cloud",
        "host": sim_server.zilliz_url,
        "password": sim_server.sim.zilliz_api_key,
        "extra": {"cluster_id": sim_server.sim.zilliz_cluster_id},
    }
    set_connection(monkeypatch, "zilliz_a", **fields)
    set_connection(monkeypatch, "zilliz_b", **fields)
    hooks = [ZillizCloudImportHook(conn_id=c) for c in ("zilliz_a", "zilliz_b")]
    engines = [(h.settings, h._transport)[1] for h in hooks]
    keys = [hook_engine.engine.limiter_key for hook_engine in engines if hook_engine is not None]  # type: ignore[union-attr]
    assert keys[0] == keys[1]
    assert limiter_for((*keys[0], "list"), 20.0) is limiter_for((*keys[1], "list"), 20.0)


# -- the two HTTP clients send the same requests --------------------------------------------


@pytest.mark.parametrize("conn_id", [MILVUS, ZILLIZ, EGAIN])
def test_sync_and_async_clients_send_the_same_requests(sim_server: SimulatorServer, conn_id: str) -> None:
    """httpx (tasks) and aiohttp (triggers) carry the same bodies and headers: the body is encoded
    once for both, and neither library's own User-Agent or defaults reach one path only."""
    import asyncio

    from airflow_import_jobs.client import engine

    request: dict[str, Any] = {
        MILVUS: {"collectionName": "docs", "files": [["a.parquet"]], "options": {"timeout": "300s"}},
        ZILLIZ: {"collectionName": "docs", "objectUrls": [["https://bucket.s3.amazonaws.com/a.parquet"]]},
        EGAIN: {"dataSource": {"type": "AWS S3 bucket", "path": "s3://open-bucket/kb/é"}, "operation": "import"},
    }[conn_id]
    kept = ("user-agent", "content-type", "accept", "content-length")
    seen: dict[str, list[str]] = {}
    for mode in ("sync", "async"):
        sim_server.sim.reset()
        engine._token_cache.clear()  # eGain: both paths fetch a token
        hook = get_import_hook(conn_id)

        async def start_and_get(hook: ImportJobHook = hook) -> str:
            try:
                job_id: str = await hook.astart_job(request)
                await hook.aget_job(job_id)
                return job_id
            finally:
                await hook.aclose()

        if mode == "sync":
            job_id = hook.start_job(request)
            hook.get_job(job_id)
        else:
            job_id = asyncio.run(start_and_get())
        seen[mode] = [
            json.dumps(
                [r.endpoint, r.method, r.path, r.body, {k: v for k, v in r.headers.items() if k in kept}],
                sort_keys=True,
            ).replace(job_id, "<job id>")
            for r in sim_server.sim.requests
        ]
    assert len(seen["sync"]) >= 2
    assert seen["sync"] == seen["async"]
    assert all('"user-agent": "airflow-import-jobs/' in line for line in seen["async"])
