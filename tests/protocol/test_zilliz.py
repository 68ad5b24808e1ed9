"""Zilliz Cloud import jobs: recorded responses → ImportJob / typed errors; paging; create bodies."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_import_jobs.exceptions import (
    AuthenticationError,
    ConfigurationError,
    ImportJobError,
    InvalidRequestError,
    InvalidResponseError,
    JobNotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    TransientServiceError,
    UnsupportedOperationError,
)
from airflow_import_jobs.models import JobState
from airflow_import_jobs.protocol import zilliz
from airflow_import_jobs.protocol.base import Flow, HttpResponse
from airflow_import_jobs.protocol.zilliz import PAGE_SIZE, ZillizCloudProtocol

from .conftest import drive, drive_raises, envelope_error, envelope_ok, raw, reply, seed

CLUSTER = "in01-0123456789abcdef"
JOB = "job-0123456789abcdefghijk"
PREFIX = "/v2/vectordb/jobs/import"
UTC = timezone.utc
STORAGE = {"access_key": "AKIAEXAMPLE", "secret_key": "s3cr3t/KEY+value", "token": "session-token-xyz"}


def protocol(**kwargs: Any) -> ZillizCloudProtocol:
    options: dict[str, Any] = {"cluster_id": CLUSTER}
    options.update(kwargs)
    return ZillizCloudProtocol(**options)


# -- 1. getProgress ---------------------------------------------------------------------------

PROGRESS_CASES: list[tuple[str, Any, dict[str, Any]]] = [
    (
        "seed-completed",
        seed("zilliz-progress"),
        {
            "job_id": "448761313698322011",
            "backend": "zilliz_cloud",
            "state": JobState.COMPLETED,
            "progress": 100,
            "collection_name": "medium_articles",
            "reason": None,  # "" means no reason
            "total_rows": 100000,
            "imported_rows": None,
            "completed_at": datetime(2024, 4, 1, 6, 17, 55, tzinfo=UTC),
            "created_at": None,
        },
    ),
    (
        "importing",
        envelope_ok({"jobId": JOB, "state": "Importing", "progress": 30}),
        {"job_id": JOB, "state": JobState.RUNNING, "progress": 30},
    ),
    (
        "inprogress-spelling",
        envelope_ok({"jobId": JOB, "state": "InProgress", "progress": 31}),
        {"state": JobState.RUNNING, "progress": 31},
    ),
    (
        "pending",
        envelope_ok({"jobId": JOB, "state": "Pending"}),
        {"state": JobState.PENDING, "progress": 0},
    ),
    (
        "failed-with-reason",
        envelope_ok({"jobId": JOB, "state": "Failed", "progress": 0, "reason": "no such object"}),
        {"state": JobState.FAILED, "reason": "no such object"},
    ),
    (
        "legacy-v1-code-200",
        {"code": 200, "data": {"jobId": JOB, "state": "ImportRunning", "progress": 50}},
        {"state": JobState.RUNNING, "progress": 50},
    ),
    (
        "jobId-missing-uses-requested",
        envelope_ok({"state": "Completed"}),
        {"job_id": JOB, "progress": 100},
    ),
    (
        "details-importedRows",
        envelope_ok({"jobId": JOB, "state": "Importing", "details": [{"fileName": "a", "importedRows": 5}]}),
        {"state": JobState.RUNNING},
    ),
]


@pytest.mark.parametrize(("body", "expected"), [pytest.param(*r[1:], id=r[0]) for r in PROGRESS_CASES])
def test_progress_shapes(body: Any, expected: dict[str, Any]) -> None:
    job = zilliz.parse_progress(reply(body), job_id=JOB)
    for name, value in expected.items():
        assert getattr(job, name) == value, name


def test_progress_seed_file_details() -> None:
    job = zilliz.parse_progress(reply(seed("zilliz-progress")), job_id=JOB)
    [f] = job.files
    assert (f.file_name, f.file_size, f.state, f.progress, f.reason) == (
        "medium_articles_2020_dpr.json",
        3279917,
        JobState.COMPLETED,
        100,
        None,
    )
    assert f.completed_at == datetime(2024, 4, 1, 6, 17, 53, tzinfo=UTC)
    assert job.raw == seed("zilliz-progress")["data"]


def test_get_job_request() -> None:
    job, sent = drive(protocol().get_job(JOB), [reply(seed("zilliz-progress"))])
    [request] = sent
    assert (request.method, request.url, request.endpoint) == ("POST", f"{PREFIX}/getProgress", "getProgress")
    assert request.json == {"clusterId": CLUSTER, "jobId": JOB}
    assert request.idempotent
    assert job.state is JobState.COMPLETED


ROUTE_404 = raw(404, b"404 page not found", {"content-type": "text/plain"})


def test_get_progress_404_falls_back_to_describe_and_remembers() -> None:
    p = protocol()
    ok = reply(envelope_ok({"jobId": JOB, "state": "Importing", "progress": 10}))
    job, sent = drive(p.get_job(JOB), [ROUTE_404, ok])
    assert [r.endpoint for r in sent] == ["getProgress", "describe"]
    assert sent[1].url == f"{PREFIX}/describe"
    assert sent[1].json == {"clusterId": CLUSTER, "jobId": JOB}
    assert job.progress == 10
    assert p.get_progress_missing

    _, again = drive(p.get_job(JOB), [ok])
    assert [r.endpoint for r in again] == ["describe"]


def test_both_progress_routes_missing_is_unsupported() -> None:
    _, sent = drive_raises(protocol().get_job(JOB), [ROUTE_404, ROUTE_404], UnsupportedOperationError)
    assert len(sent) == 2


# -- 2. list and paging -----------------------------------------------------------------------


def page(ids: list[str], state: str = "Importing", collection: str = "quick_setup") -> HttpResponse:
    records = [{"collectionName": collection, "jobId": i, "state": state} for i in ids]
    return reply(envelope_ok({"count": 1000, "currentPage": 1, "pageSize": PAGE_SIZE, "records": records}))


def ids(prefix: str, n: int, start: int = 0) -> list[str]:
    return [f"{prefix}-{i:05d}" for i in range(start, start + n)]


FULL_A = ids("job-a", PAGE_SIZE)
FULL_B = ids("job-b", PAGE_SIZE)

PAGING_CASES: list[tuple[str, list[HttpResponse], list[str]]] = [
    # (id, pages served in order, expected job IDs)
    ("seed-single-short-page", [reply(seed("zilliz-list"))], ["448761313698322011"]),
    ("empty-first-page", [page([])], []),
    ("full-then-short", [page(FULL_A), page(ids("job-b", 3))], [*FULL_A, *ids("job-b", 3)]),
    ("full-then-empty", [page(FULL_A), page([])], FULL_A),
    ("full-full-short", [page(FULL_A), page(FULL_B), page(["job-c"])], [*FULL_A, *FULL_B, "job-c"]),
    ("server-ignores-currentPage", [page(FULL_A), page(FULL_A)], FULL_A),
    (
        "duplicates-across-pages-deduped",
        [page(FULL_A), page([*FULL_A[-5:], *ids("job-b", 5)])],
        [*FULL_A, *ids("job-b", 5)],
    ),
    ("data-null", [reply({"code": 0, "data": None})], []),
    ("legacy-v1-tasks-code-200", [reply(seed("zilliz-v1-list"))],
     ["9d0bc230-6b99-4739-a872-0b91cfe2515a", "53632e6c-c078-4476-b840-10c4793d9c08"]),
]  # fmt: skip


@pytest.mark.parametrize(("pages", "expected"), [pytest.param(*r[1:], id=r[0]) for r in PAGING_CASES])
def test_list_paging(pages: list[HttpResponse], expected: list[str]) -> None:
    jobs, sent = drive(protocol().list_jobs(), pages)
    assert [j.job_id for j in jobs] == expected
    assert len(sent) == len(pages)
    for number, request in enumerate(sent, start=1):
        assert request.url == f"{PREFIX}/list"
        assert request.json == {"clusterId": CLUSTER, "pageSize": PAGE_SIZE, "currentPage": number}


def test_list_legacy_v1_states() -> None:
    jobs, _ = drive(protocol().list_jobs(), [reply(seed("zilliz-v1-list"))])
    assert [(j.state, j.progress, j.collection_name) for j in jobs] == [
        (JobState.COMPLETED, 100, "medium_articles")
    ] * 2


def test_list_seed_fields() -> None:
    [job] = zilliz.parse_list(reply(seed("zilliz-list")))
    assert (job.job_id, job.state, job.progress, job.collection_name) == (
        "448761313698322011",
        JobState.RUNNING,
        0,  # the list has no progress
        "quick_setup",
    )


def test_list_filters_collection_client_side() -> None:
    mixed = reply(
        envelope_ok(
            {
                "records": [
                    {"collectionName": "a", "jobId": "job-1", "state": "Completed"},
                    {"collectionName": "b", "jobId": "job-2", "state": "Completed"},
                ]
            }
        )
    )
    jobs, sent = drive(protocol().list_jobs(collection_name="b"), [mixed])
    assert [j.job_id for j in jobs] == ["job-2"]
    assert "collectionName" not in sent[0].json


def test_test_connection_asks_for_one_record() -> None:
    message, sent = drive(protocol().test_connection(), [reply(seed("zilliz-list"))])
    assert sent[0].json == {"clusterId": CLUSTER, "pageSize": 1, "currentPage": 1}
    assert CLUSTER in message


def test_list_error_mid_paging_propagates() -> None:
    error, sent = drive_raises(
        protocol().list_jobs(), [page(FULL_A), reply(envelope_error(21119, "The apikey is illegal."))], ImportJobError
    )
    assert isinstance(error, AuthenticationError)
    assert len(sent) == 2


# -- 3. errors --------------------------------------------------------------------------------

ERROR_CASES: list[tuple[str, HttpResponse, type[ImportJobError], Any, float | None]] = [
    # (id, response, class, .code, .retry_after)
    ("21119-http-200", reply(envelope_error(21119, "The apikey is illegal.")), AuthenticationError, 21119, None),
    ("21119-http-401", reply(envelope_error(21119, "The apikey is illegal."), 401), AuthenticationError, 21119,
     None),
    ("401-without-code", raw(401, b"Unauthorized"), AuthenticationError, None, None),
    ("403", reply(envelope_error(80010, "permission denied"), 403), PermissionDeniedError, 80010, None),
    ("429-retry-after-json", reply(envelope_error(429, "Too many requests"), 429, {"Retry-After": "2"}),
     RateLimitedError, 429, 2.0),
    ("429-retry-after-plain", raw(429, b"Too Many Requests", {"Retry-After": "5"}), RateLimitedError, None, 5.0),
    ("429-no-retry-after", reply(envelope_error(429, "Too many requests"), 429), RateLimitedError, 429, None),
    ("500", raw(500, b"<html>oops</html>", {"content-type": "text/html"}), TransientServiceError, None, None),
    ("503-json", reply(envelope_error(503, "unavailable"), 503, {"Retry-After": "1"}), TransientServiceError, 503,
     1.0),
    ("cluster-not-exist", reply(envelope_error(80020, f"Cluster {CLUSTER} does not exist.")), InvalidRequestError,
     80020, None),
    ("job-not-exist", reply(envelope_error(80030, f"The job {JOB} does not exist.")), JobNotFoundError, 80030, None),
    ("other-200-code", reply(envelope_error(80000, "invalid parameter")), InvalidRequestError, 80000, None),
    ("no-code", reply({"data": {}}), InvalidResponseError, None, None),
    ("html-200", raw(200, b"<html>login</html>", {"content-type": "text/html"}), InvalidResponseError, None, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("response", "cls", "code", "retry_after"), [pytest.param(*r[1:], id=r[0]) for r in ERROR_CASES]
)
def test_progress_errors(
    response: HttpResponse, cls: type[ImportJobError], code: Any, retry_after: float | None
) -> None:
    error, sent = drive_raises(protocol().get_job(JOB), [response], ImportJobError)
    assert type(error) is cls
    assert error.code == code
    assert error.http_status == response.status
    assert error.retry_after == retry_after
    assert len(sent) == 1  # no fallback: only a bare 404 means the route is missing


@pytest.mark.parametrize(
    "parser",
    [zilliz.parse_list, zilliz.parse_create],
    ids=["list", "create"],
)
@pytest.mark.parametrize(
    ("status", "cls"),
    [(200, AuthenticationError), (401, AuthenticationError)],
)
def test_21119_on_every_endpoint(
    parser: Callable[[HttpResponse], object], status: int, cls: type[ImportJobError]
) -> None:
    with pytest.raises(cls) as info:
        parser(reply(envelope_error(21119, "The apikey is illegal."), status))
    assert info.value.code == 21119
    assert info.value.http_status == status
    assert "apikey is illegal" in info.value.message


# -- 4. create --------------------------------------------------------------------------------

URLS: list[list[str]] = [["s3://bucket/folder/part-1.parquet"], ["s3://bucket/folder/part-2.parquet"]]
CREATED = reply(envelope_ok({"jobId": JOB}))

CREATE_CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    # (id, protocol kwargs, request, expected json body)
    ("clusterId-filled", {}, {"collectionName": "c", "objectUrls": URLS},
     {"clusterId": CLUSTER, "collectionName": "c", "objectUrls": URLS}),
    ("explicit-clusterId-kept", {}, {"clusterId": "in02-x", "collectionName": "c", "objectUrls": URLS},
     {"clusterId": "in02-x", "collectionName": "c", "objectUrls": URLS}),
    ("dbName-filled", {"db_name": "analytics"}, {"collectionName": "c", "objectUrls": URLS},
     {"clusterId": CLUSTER, "dbName": "analytics", "collectionName": "c", "objectUrls": URLS}),
    ("storage-credentials-filled", {"storage_credentials": STORAGE}, {"collectionName": "c", "objectUrls": URLS},
     {"clusterId": CLUSTER, "collectionName": "c", "objectUrls": URLS, "accessKey": STORAGE["access_key"],
      "secretKey": STORAGE["secret_key"], "token": STORAGE["token"]}),
    ("storage-credentials-not-overriding", {"storage_credentials": STORAGE},
     {"collectionName": "c", "objectUrls": URLS, "accessKey": "MINE", "secretKey": "MINE-SECRET"},
     {"clusterId": CLUSTER, "collectionName": "c", "objectUrls": URLS, "accessKey": "MINE",
      "secretKey": "MINE-SECRET", "token": STORAGE["token"]}),
    ("partial-storage-credentials", {"storage_credentials": {"access_key": "AK", "secret_key": "SK"}},
     {"collectionName": "c", "objectUrls": URLS},
     {"clusterId": CLUSTER, "collectionName": "c", "objectUrls": URLS, "accessKey": "AK", "secretKey": "SK"}),
    ("unknown-credential-keys-ignored", {"storage_credentials": {"region": "x", "access_key": "AK"}},
     {"collectionName": "c", "objectUrls": URLS},
     {"clusterId": CLUSTER, "collectionName": "c", "objectUrls": URLS, "accessKey": "AK"}),
    ("deprecated-objectUrl", {"storage_credentials": STORAGE},
     {"collectionName": "c", "objectUrl": "s3://bucket/a.parquet"},
     {"clusterId": CLUSTER, "collectionName": "c", "objectUrl": "s3://bucket/a.parquet",
      "accessKey": STORAGE["access_key"], "secretKey": STORAGE["secret_key"], "token": STORAGE["token"]}),
    ("volume-form-gets-no-keys", {"storage_credentials": STORAGE},
     {"collectionName": "c", "volumeName": "vol", "dataPaths": [["a/b.parquet"]]},
     {"clusterId": CLUSTER, "collectionName": "c", "volumeName": "vol", "dataPaths": [["a/b.parquet"]]}),
    # The vendor SDK's shape: every field, unused ones empty; the server reads "" and null as absent.
    ("sdk-shape-objectUrls", {"storage_credentials": STORAGE},
     {"collectionName": "c", "objectUrls": URLS, "objectUrl": "", "volumeName": "", "dataPaths": None,
      "accessKey": "", "secretKey": "", "token": ""},
     {"clusterId": CLUSTER, "collectionName": "c", "objectUrls": URLS, "objectUrl": "", "volumeName": "",
      "dataPaths": None, "accessKey": STORAGE["access_key"], "secretKey": STORAGE["secret_key"],
      "token": STORAGE["token"]}),
    ("sdk-shape-volume", {}, {"collectionName": "c", "volumeName": "vol", "dataPaths": [["a/"]], "objectUrls": None,
                              "objectUrl": ""},
     {"clusterId": CLUSTER, "collectionName": "c", "volumeName": "vol", "dataPaths": [["a/"]], "objectUrls": None,
      "objectUrl": ""}),
    ("many-groups-are-the-servers-to-limit", {}, {"collectionName": "c", "objectUrls": [["s3://a"]] * 2000},
     {"clusterId": CLUSTER, "collectionName": "c", "objectUrls": [["s3://a"]] * 2000}),
]  # fmt: skip


@pytest.mark.parametrize(("kwargs", "request_body", "expected"), [pytest.param(*r[1:], id=r[0]) for r in CREATE_CASES])
def test_create_body(kwargs: dict[str, Any], request_body: dict[str, Any], expected: dict[str, Any]) -> None:
    before = json.dumps(request_body)
    job_id, sent = drive(protocol(**kwargs).start_job(request_body), [CREATED])
    assert job_id == JOB
    [request] = sent
    assert request.url == f"{PREFIX}/create"
    assert request.json == expected
    assert request.idempotent is False
    assert json.dumps(request_body) == before
    for secret in (STORAGE["secret_key"], STORAGE["token"]):
        assert secret not in repr(request)


def test_protocol_repr_hides_storage_credentials() -> None:
    text = repr(protocol(storage_credentials=STORAGE))
    assert STORAGE["secret_key"] not in text
    assert STORAGE["access_key"] not in text


BAD_CREATE: list[tuple[str, Any, str]] = [
    ("not-a-dict", "c", "dict"),
    ("missing-collectionName", {"objectUrls": URLS}, "collectionName"),
    ("missing-objectUrls", {"collectionName": "c"}, "objectUrls"),
    ("objectUrls-flat", {"collectionName": "c", "objectUrls": ["s3://a"]}, "objectUrls"),
    ("volume-paths-without-volume", {"collectionName": "c", "dataPaths": [["f/1.parquet"]]}, "objectUrls"),
    ("objectUrl-blank", {"collectionName": "c", "objectUrl": " "}, "objectUrl"),
    ("volume-without-dataPaths", {"collectionName": "c", "volumeName": "v"}, "dataPaths"),
    ("accessKey-not-text", {"collectionName": "c", "objectUrls": URLS, "accessKey": 1}, "accessKey"),
]


@pytest.mark.parametrize(("request_body", "fragment"), [pytest.param(*r[1:], id=r[0]) for r in BAD_CREATE])
def test_create_body_refused_before_any_request(request_body: Any, fragment: str) -> None:
    error, sent = drive_raises(protocol().start_job(request_body), [], InvalidRequestError)
    assert sent == []
    assert fragment in error.message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(envelope_ok({"jobId": JOB}), JOB, id="v2"),
        pytest.param({"code": 200, "data": {"jobId": "9d0bc230-6b99-4739-a872-0b91cfe2515a"}},
                     "9d0bc230-6b99-4739-a872-0b91cfe2515a", id="v1-code-200"),
    ],
)  # fmt: skip
def test_parse_create(body: Any, expected: str) -> None:
    assert zilliz.parse_create(reply(body)) == expected


# -- 5. refused operations and configuration --------------------------------------------------

Op = Callable[[ZillizCloudProtocol], Flow[Any]]

REFUSED: list[tuple[str, Op, type[ImportJobError]]] = [
    ("cancel", lambda p: p.cancel_job(JOB), UnsupportedOperationError),
    ("validate_only", lambda p: p.start_job({"collectionName": "c", "objectUrls": URLS}, validate_only=True),
     UnsupportedOperationError),
    ("get_job-bad-id", lambda p: p.get_job("../x"), InvalidRequestError),
    ("get_job-int-id", lambda p: p.get_job(448761313698322011), InvalidRequestError),  # type: ignore[arg-type]
    ("get_job-empty-id", lambda p: p.get_job(""), InvalidRequestError),
    ("cancel-bad-id", lambda p: p.cancel_job("a/b"), InvalidRequestError),
]  # fmt: skip


@pytest.mark.parametrize(("op", "cls"), [pytest.param(*r[1:], id=r[0]) for r in REFUSED])
def test_refused_before_any_request(op: Op, cls: type[ImportJobError]) -> None:
    error, sent = drive_raises(op(protocol()), [], cls)
    assert type(error) is cls
    assert sent == []


NEEDS_CLUSTER: list[tuple[str, Op]] = [
    ("get_job", lambda p: p.get_job(JOB)),
    ("list_jobs", lambda p: p.list_jobs()),
    ("start_job", lambda p: p.start_job({"collectionName": "c", "objectUrls": URLS})),
    ("test_connection", lambda p: p.test_connection()),
]


@pytest.mark.parametrize("cluster_id", [None, ""])
@pytest.mark.parametrize("op", [pytest.param(op, id=name) for name, op in NEEDS_CLUSTER])
def test_missing_cluster_id_is_configuration_error(op: Op, cluster_id: str | None) -> None:
    error, sent = drive_raises(op(ZillizCloudProtocol(cluster_id=cluster_id)), [], ConfigurationError)
    assert sent == []
    assert "cluster_id" in error.message


def test_list_record_with_null_job_id_and_task_id() -> None:
    body = envelope_ok({"tasks": [{"jobId": None, "taskId": "9d0bc230", "state": "ImportCompleted"}]})
    [job] = zilliz.parse_list(reply(body))
    assert job.job_id == "9d0bc230"
