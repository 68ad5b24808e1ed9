"""Milvus REST v2 import jobs: recorded responses → ImportJob / typed errors, and the requests sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_import_jobs.exceptions import (
    AuthenticationError,
    ImportJobError,
    InvalidRequestError,
    InvalidResponseError,
    JobNotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    TransientServiceError,
    UnsupportedOperationError,
)
from airflow_import_jobs.models import ImportJob, JobState
from airflow_import_jobs.protocol import milvus
from airflow_import_jobs.protocol.base import EndpointMissingError, Flow, HttpRequest, HttpResponse
from airflow_import_jobs.protocol.milvus import MilvusProtocol

from .conftest import (
    MILVUS_CREATE_SEED,
    drive,
    drive_raises,
    envelope_error,
    envelope_ok,
    raw,
    reply,
    seed,
)

BIG_ID = "448761313698322011"
ABOVE_2_53 = "9007199254740993"  # 2**53 + 1: the first integer a float cannot hold
PREFIX = "/v2/vectordb/jobs/import"
UTC = timezone.utc


def describe(response: HttpResponse, job_id: str = BIG_ID) -> ImportJob:
    return milvus.parse_describe(response, job_id=job_id)


# -- 1. response shapes → ImportJob -----------------------------------------------------------

_DESCRIBE_SEED_DATA: dict[str, Any] = seed("milvus-describe")["data"]

DESCRIBE_CASES: list[tuple[str, Any, str, dict[str, Any]]] = [
    # (id, response body, requested job id, expected ImportJob fields)
    (
        "describe-seed-importing-at-80",
        seed("milvus-describe"),
        BIG_ID,
        {
            "job_id": BIG_ID,
            "backend": "milvus",
            "state": JobState.RUNNING,
            "progress": 80,
            "collection_name": "quick_setup",
            "imported_rows": 600,
            "total_rows": 1000,
            "reason": None,
            "created_at": datetime(2024, 4, 1, 6, 10, tzinfo=UTC),
            "completed_at": None,  # "" until done
            "raw": _DESCRIBE_SEED_DATA,
        },
    ),
    (
        "legacy-code-200-with-data-no-message",
        {"code": 200, "data": {"jobId": BIG_ID, "state": "Completed", "progress": 100}},
        BIG_ID,
        {"job_id": BIG_ID, "state": JobState.COMPLETED, "progress": 100},
    ),
    (
        "code-200-with-empty-message-is-success",
        {"code": 200, "data": {"jobId": BIG_ID, "state": "Pending", "progress": 0}, "message": ""},
        BIG_ID,
        {"state": JobState.PENDING, "progress": 0},
    ),
    (
        "failed-with-reason",
        envelope_ok(
            {
                "jobId": BIG_ID,
                "collectionName": "c",
                "state": "Failed",
                "progress": 10,
                "reason": "the field 'vec' is missing in part-1.parquet",
                "completeTime": "2024-04-01T06:17:55Z",
            }
        ),
        BIG_ID,
        {
            "state": JobState.FAILED,
            "progress": 10,
            "reason": "the field 'vec' is missing in part-1.parquet",
            "completed_at": datetime(2024, 4, 1, 6, 17, 55, tzinfo=UTC),
        },
    ),
    (
        "completed-without-progress-shows-100",
        envelope_ok({"jobId": BIG_ID, "state": "Completed"}),
        BIG_ID,
        {"state": JobState.COMPLETED, "progress": 100},
    ),
    (
        "pending-without-progress-shows-0",
        envelope_ok({"jobId": BIG_ID, "state": "Pending"}),
        BIG_ID,
        {"state": JobState.PENDING, "progress": 0},
    ),
    (
        "state-None-is-unknown",
        envelope_ok({"jobId": BIG_ID, "state": "None", "progress": 0}),
        BIG_ID,
        {"state": JobState.UNKNOWN},
    ),
    (
        "two-phase-uncommitted-is-running",
        envelope_ok({"jobId": BIG_ID, "state": "Uncommitted", "progress": 100}),
        BIG_ID,
        {"state": JobState.RUNNING, "progress": 100},
    ),
    (
        "two-phase-committing-is-running",
        envelope_ok({"jobId": BIG_ID, "state": "Committing", "progress": 100}),
        BIG_ID,
        {"state": JobState.RUNNING},
    ),
    (
        "legacy-ImportCompleted",
        envelope_ok({"jobId": BIG_ID, "state": "ImportCompleted"}),
        BIG_ID,
        {"state": JobState.COMPLETED, "progress": 100},
    ),
    (
        "legacy-ImportFailedAndCleaned",
        envelope_ok({"jobId": BIG_ID, "state": "ImportFailedAndCleaned", "reason": "bad row"}),
        BIG_ID,
        {"state": JobState.FAILED, "reason": "bad row"},
    ),
    (
        "jobId-as-json-number-kept-exact",
        envelope_ok({"jobId": int(BIG_ID), "state": "Importing", "progress": 40}),
        BIG_ID,
        {"job_id": BIG_ID, "progress": 40},
    ),
    (
        "jobId-above-2**53-as-string",
        envelope_ok({"jobId": ABOVE_2_53, "state": "Importing"}),
        ABOVE_2_53,
        {"job_id": ABOVE_2_53},
    ),
    (
        "jobId-above-2**53-as-json-number",
        envelope_ok({"jobId": 2**53 + 1, "state": "Importing"}),
        ABOVE_2_53,
        {"job_id": ABOVE_2_53},
    ),
    (
        "jobId-missing-uses-requested",
        envelope_ok({"state": "Importing", "progress": 55}),
        ABOVE_2_53,
        {"job_id": ABOVE_2_53, "progress": 55},
    ),
    (
        "docs-example-top-level-fileName-tolerated",
        envelope_ok({"jobId": BIG_ID, "fileName": "x.json", "state": "Completed", "progress": 100}),
        BIG_ID,
        {"state": JobState.COMPLETED, "files": []},
    ),
    (
        "sizes-and-rows-as-strings",
        envelope_ok({"jobId": BIG_ID, "state": "Importing", "progress": "45", "importedRows": "7", "totalRows": "9"}),
        BIG_ID,
        {"progress": 45, "imported_rows": 7, "total_rows": 9},
    ),
    (
        "progress-out-of-range-clamped",
        envelope_ok({"jobId": BIG_ID, "state": "Importing", "progress": 250}),
        BIG_ID,
        {"progress": 100},
    ),
    (
        "epoch-millisecond-createTime",
        envelope_ok({"jobId": BIG_ID, "state": "Importing", "createTime": 1711951800000}),
        BIG_ID,
        {"created_at": datetime(2024, 4, 1, 6, 10, tzinfo=UTC)},
    ),
]


@pytest.mark.parametrize(("body", "job_id", "expected"), [pytest.param(*row[1:], id=row[0]) for row in DESCRIBE_CASES])
def test_describe_shapes(body: Any, job_id: str, expected: dict[str, Any]) -> None:
    job = describe(reply(body), job_id=job_id)
    for name, value in expected.items():
        assert getattr(job, name) == value, name


def test_describe_seed_file_details() -> None:
    job = describe(reply(seed("milvus-describe")))
    assert [(f.file_name, f.state, f.progress, f.imported_rows, f.total_rows) for f in job.files] == [
        ("part-1.parquet", JobState.COMPLETED, 100, 500, 500),
        ("part-2.parquet", JobState.RUNNING, 20, 100, 500),
    ]
    assert job.files[0].completed_at == datetime(2024, 4, 1, 6, 15, tzinfo=UTC)
    assert job.files[1].completed_at is None
    assert job.files[0].file_size == 1639958
    assert job.files_done == 1


LIST_CASES: list[tuple[str, Any, list[tuple[str, JobState, int, str | None]]]] = [
    (
        "seed-milvus-docs-code-200",
        seed("milvus-list"),
        [(BIG_ID, JobState.RUNNING, 50, "quick_setup")],
    ),
    (
        "seed-pymilvus-code-0",
        seed("pymilvus-list"),
        [("453240863839750922", JobState.COMPLETED, 100, "quick_setup")],
    ),
    ("empty-records", envelope_ok({"records": []}), []),
    ("no-records-key", envelope_ok({}), []),
    ("data-null", {"code": 0, "data": None}, []),
    ("no-data-at-all", {"code": 0}, []),
    (
        "docs-schema-jobId-integer",
        envelope_ok({"records": [{"jobId": 2**53 + 1, "state": "InProgress", "progress": 3}]}),
        [(ABOVE_2_53, JobState.RUNNING, 3, None)],
    ),
    (
        "record-without-jobId-skipped",
        envelope_ok({"records": [{"state": "Completed"}, "junk", {"jobId": "1", "state": "Failed", "reason": "x"}]}),
        [("1", JobState.FAILED, 0, None)],
    ),
]


@pytest.mark.parametrize(("body", "expected"), [pytest.param(*row[1:], id=row[0]) for row in LIST_CASES])
def test_list_shapes(body: Any, expected: list[tuple[str, JobState, int, str | None]]) -> None:
    jobs = milvus.parse_list(reply(body))
    assert [(j.job_id, j.state, j.progress, j.collection_name) for j in jobs] == expected
    assert all(j.backend == "milvus" for j in jobs)


def test_list_record_reason_kept() -> None:
    body = envelope_ok({"records": [{"jobId": "5", "state": "Failed", "progress": 0, "reason": "no such file"}]})
    [job] = milvus.parse_list(reply(body))
    assert job.reason == "no such file"


CREATE_CASES: list[tuple[str, Any, str]] = [
    ("reference-seed", MILVUS_CREATE_SEED, "448707763884413158"),
    ("legacy-code-200", {"code": 200, "data": {"jobId": "448707763884413158"}}, "448707763884413158"),
    ("jobId-as-number-above-2**53", envelope_ok({"jobId": 2**53 + 1}), ABOVE_2_53),
    ("jobId-int64-max", envelope_ok({"jobId": str(2**63 - 1)}), str(2**63 - 1)),
]


@pytest.mark.parametrize(("body", "expected"), [pytest.param(*row[1:], id=row[0]) for row in CREATE_CASES])
def test_create_shapes(body: Any, expected: str) -> None:
    assert milvus.parse_create(reply(body)) == expected


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(envelope_ok({}), id="no-jobId"),
        pytest.param(envelope_ok({"jobId": ""}), id="empty-jobId"),
        pytest.param({"code": 0}, id="no-data"),
        pytest.param(envelope_ok(["448707763884413158"]), id="data-is-a-list"),
    ],
)
def test_create_without_job_id_is_invalid_response(body: Any) -> None:
    with pytest.raises(InvalidResponseError) as info:
        milvus.parse_create(reply(body))
    assert info.value.transient


# -- 2. error codes → exception class, .code, .http_status -----------------------------------

JOB_LIMIT = (
    "import failed: The number of jobs has reached the limit, please try again later. If your request is set "
    "to only import a single file, please consider importing multiple files in one request for better efficiency."
)
TOO_MANY_FILES = "import failed: The max number of import files should not exceed 1024, but got 1025"

ERROR_CASES: list[tuple[str, int, Any, type[ImportJobError], Any, bool]] = [
    # (id, HTTP status, body, class, .code, transient)
    ("200-with-message-partition-not-found", 200, envelope_error(200, "partition not found[partition=p1]"),
     InvalidRequestError, 200, False),
    ("100-collection-not-found", 200, envelope_error(100, "collection not found[collection=quick_setup]"),
     InvalidRequestError, 100, False),
    ("800-database-not-found", 200, envelope_error(800, "database not found[database=analytics]"),
     InvalidRequestError, 800, False),
    ("1100-invalid-parameter", 200, envelope_error(1100, "invalid parameter[expected=valid file]"),
     InvalidRequestError, 1100, False),
    ("1800-http-401", 401, envelope_error(1800, "user hasn't authenticated"), AuthenticationError, 1800, False),
    ("1800-http-200", 200, envelope_error(1800, "user hasn't authenticated"), AuthenticationError, 1800, False),
    ("1801-jobId-as-number", 200,
     envelope_error(1801, "can only accept json format request, error: json: cannot unmarshal number into "
                          "Go struct field .jobId of type string"),
     InvalidRequestError, 1801, False),
    ("1802-missing-param", 200, envelope_error(1802, "missing required parameters, error: Key: 'jobId'"),
     InvalidRequestError, 1802, False),
    ("2100-job-does-not-exist", 200,
     envelope_error(2100, f"import failed: import job does not exist, jobID={BIG_ID}"),
     JobNotFoundError, 2100, False),
    ("2100-too-many-files", 200, envelope_error(2100, TOO_MANY_FILES), InvalidRequestError, 2100, False),
    ("2100-job-limit-is-transient", 200, envelope_error(2100, JOB_LIMIT), TransientServiceError, 2100, True),
    ("65535-unexpected", 200, envelope_error(65535, "rpc error: code = Unavailable"), TransientServiceError,
     65535, True),
    ("http-408-code-10001", 408, envelope_error(10001, "request timeout"), TransientServiceError, 10001, True),
    ("http-500-json", 500, envelope_error(65535, "internal error"), TransientServiceError, 65535, True),
    ("http-403-rbac", 403, envelope_error(65535, "PrivilegeLoad: permission deny to root in the `default` db"),
     PermissionDeniedError, 65535, False),
    ("unknown-code-surfaced-not-retried", 200, envelope_error(99999, "something new"), ImportJobError, 99999,
     False),
    ("code-as-numeric-string", 200, envelope_error("1100", "invalid parameter"), InvalidRequestError, "1100",
     False),
    ("200-without-code", 200, {"data": {"jobId": BIG_ID}}, InvalidResponseError, None, True),
    ("http-429", 429, envelope_error(8, "rate limit exceeded"), RateLimitedError, 8, True),
]  # fmt: skip

RAW_ERROR_CASES: list[tuple[str, HttpResponse, type[ImportJobError], bool]] = [
    ("http-500-empty", raw(500, b""), TransientServiceError, True),
    ("http-500-html", raw(500, b"<html><body>500 Internal Server Error</body></html>", {"content-type": "text/html"}),
     TransientServiceError, True),
    ("http-502-proxy-page", raw(502, b"<html>Bad Gateway</html>", {"content-type": "text/html"}),
     TransientServiceError, True),
    ("http-403-plain", raw(403, b"Forbidden"), PermissionDeniedError, False),
    ("http-401-plain", raw(401, b"Unauthorized"), AuthenticationError, False),
    ("http-200-html", raw(200, b"<!doctype html><title>login</title>", {"content-type": "text/html"}),
     InvalidResponseError, True),
    ("http-200-empty", raw(200, b""), InvalidResponseError, True),
    ("http-200-truncated", raw(200, b'{"code": 0, "data": {"jobId": "4487'), InvalidResponseError, True),
    ("http-200-json-list", reply([1, 2]), InvalidResponseError, True),
    ("http-200-json-string", reply("ok"), InvalidResponseError, True),
]  # fmt: skip

PARSERS: dict[str, Callable[[HttpResponse], object]] = {
    "describe": describe,
    "list": milvus.parse_list,
    "create": milvus.parse_create,
}


@pytest.mark.parametrize("parser", list(PARSERS), ids=list(PARSERS))
@pytest.mark.parametrize(
    ("status", "body", "cls", "code", "transient"), [pytest.param(*row[1:], id=row[0]) for row in ERROR_CASES]
)
def test_error_codes(
    parser: str, status: int, body: Any, cls: type[ImportJobError], code: Any, transient: bool
) -> None:
    with pytest.raises(ImportJobError) as info:
        PARSERS[parser](reply(body, status))
    error = info.value
    assert type(error) is cls
    assert error.code == code
    assert type(error.code) is type(code)
    assert error.http_status == status
    assert error.transient is transient
    message = body.get("message") if isinstance(body, dict) else None
    if message:
        assert message[:40] in error.message  # the server's own words reach the DAG author


@pytest.mark.parametrize("parser", list(PARSERS), ids=list(PARSERS))
@pytest.mark.parametrize(
    ("response", "cls", "transient"), [pytest.param(*row[1:], id=row[0]) for row in RAW_ERROR_CASES]
)
def test_unreadable_responses(parser: str, response: HttpResponse, cls: type[ImportJobError], transient: bool) -> None:
    with pytest.raises(ImportJobError) as info:
        PARSERS[parser](response)
    assert type(info.value) is cls
    assert info.value.http_status == response.status
    assert info.value.transient is transient


def test_describe_error_names_the_job() -> None:
    with pytest.raises(JobNotFoundError) as info:
        describe(reply(envelope_error(2100, "import failed: import job does not exist")), job_id=ABOVE_2_53)
    assert info.value.job_id == ABOVE_2_53
    assert ABOVE_2_53 in info.value.message


def test_429_retry_after_is_read() -> None:
    with pytest.raises(RateLimitedError) as info:
        milvus.parse_list(reply(envelope_error(8, "slow down"), 429, {"Retry-After": "7"}))
    assert info.value.retry_after == 7.0


# -- 3. requests: paths, jobId as a JSON string, DB-Name on every call ------------------------

OK_JOB = reply(envelope_ok({"jobId": BIG_ID, "state": "Importing", "progress": 50}))
OK_LIST = reply(envelope_ok({"records": []}))
OK_ACK = reply({"code": 0, "data": {}})
CREATE_BODY: dict[str, Any] = {"collectionName": "quick_setup", "files": [["folder/part-1.parquet"]]}

Op = Callable[[MilvusProtocol], Flow[Any]]

REQUEST_CASES: list[tuple[str, Op, HttpResponse, str, dict[str, Any], bool]] = [
    # (id, operation, response, endpoint, json body, idempotent)
    ("get_job", lambda p: p.get_job(BIG_ID), OK_JOB, "describe", {"jobId": BIG_ID}, True),
    ("get_job-above-2**53", lambda p: p.get_job(ABOVE_2_53), OK_JOB, "describe", {"jobId": ABOVE_2_53}, True),
    ("get_job-int64-max", lambda p: p.get_job(str(2**63 - 1)), OK_JOB, "describe", {"jobId": str(2**63 - 1)}, True),
    ("list_jobs", lambda p: p.list_jobs(), OK_LIST, "list", {"dbName": "analytics"}, True),
    ("list_jobs-collection", lambda p: p.list_jobs(collection_name="quick_setup"), OK_LIST, "list",
     {"dbName": "analytics", "collectionName": "quick_setup"}, True),
    ("start_job", lambda p: p.start_job(CREATE_BODY), reply(MILVUS_CREATE_SEED), "create",
     {**CREATE_BODY, "dbName": "analytics"}, False),
    ("cancel_job", lambda p: p.cancel_job(BIG_ID), OK_ACK, "abort", {"jobId": BIG_ID}, True),
    ("commit_job", lambda p: p.commit_job(ABOVE_2_53), OK_ACK, "commit", {"jobId": ABOVE_2_53}, True),
    ("test_connection", lambda p: p.test_connection(), OK_LIST, "list", {"dbName": "analytics"}, True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("op", "response", "endpoint", "body", "idempotent"), [pytest.param(*row[1:], id=row[0]) for row in REQUEST_CASES]
)
def test_requests(op: Op, response: HttpResponse, endpoint: str, body: dict[str, Any], idempotent: bool) -> None:
    _, sent = drive(op(MilvusProtocol(db_name="analytics")), [response])
    [request] = sent
    assert request.method == "POST"
    assert request.url == f"{PREFIX}/{endpoint}"
    assert request.endpoint == endpoint
    assert request.json == body
    assert dict(request.headers)["DB-Name"] == "analytics"
    assert request.idempotent is idempotent
    assert request.authenticated
    if "jobId" in body:
        assert type(request.json["jobId"]) is str
        assert f'"jobId": "{body["jobId"]}"' in json.dumps(request.json)  # a JSON string, never a number


def test_get_job_returns_parsed_job() -> None:
    job, _ = drive(MilvusProtocol().get_job(BIG_ID), [reply(seed("milvus-describe"))])
    assert job.job_id == BIG_ID
    assert job.state is JobState.RUNNING


def test_default_db_name_header() -> None:
    _, sent = drive(MilvusProtocol().get_job(BIG_ID), [OK_JOB])
    assert sent[0].headers == (("DB-Name", "default"),)


def test_list_jobs_db_name_override_goes_in_body_and_header() -> None:
    _, sent = drive(MilvusProtocol(db_name="analytics").list_jobs(db_name="other"), [OK_LIST])
    assert sent[0].json == {"dbName": "other"}
    assert dict(sent[0].headers)["DB-Name"] == "other"


def test_test_connection_counts_jobs() -> None:
    message, _ = drive(MilvusProtocol(db_name="analytics").test_connection(), [reply(seed("milvus-list"))])
    assert "1 import job" in message
    assert "analytics" in message


# -- 4. /describe 404 → /get_progress, remembered ---------------------------------------------

ROUTE_404_BODIES: list[tuple[str, HttpResponse]] = [
    ("go-default-404", raw(404, b"404 page not found", {"content-type": "text/plain"})),
    ("empty-404", raw(404, b"")),
    ("gin-json-404", raw(404, b'{"error": "not found"}', {"content-type": "application/json"})),
]


@pytest.mark.parametrize("missing", [pytest.param(r, id=i) for i, r in ROUTE_404_BODIES])
def test_describe_404_falls_back_to_get_progress_and_remembers(missing: HttpResponse) -> None:
    protocol = MilvusProtocol(db_name="analytics")
    job, sent = drive(protocol.get_job(BIG_ID), [missing, OK_JOB])
    assert [r.endpoint for r in sent] == ["describe", "get_progress"]
    assert sent[1].json == {"jobId": BIG_ID}
    assert dict(sent[1].headers)["DB-Name"] == "analytics"
    assert job.job_id == BIG_ID
    assert job.progress == 50
    assert protocol.describe_missing

    _, again = drive(protocol.get_job(ABOVE_2_53), [OK_JOB])
    assert [r.endpoint for r in again] == ["get_progress"]
    assert again[0].url == f"{PREFIX}/get_progress"


def test_describe_fallback_is_per_protocol_instance() -> None:
    old = MilvusProtocol()
    drive(old.get_job(BIG_ID), [raw(404, b"404 page not found"), OK_JOB])
    _, sent = drive(MilvusProtocol().get_job(BIG_ID), [OK_JOB])
    assert [r.endpoint for r in sent] == ["describe"]


def test_get_progress_also_missing_is_unsupported() -> None:
    error, sent = drive_raises(
        MilvusProtocol().get_job(BIG_ID), [raw(404, b"404 page not found")] * 2, UnsupportedOperationError
    )
    assert isinstance(error, EndpointMissingError)
    assert [r.endpoint for r in sent] == ["describe", "get_progress"]


def test_fallback_answer_errors_are_typed() -> None:
    error, sent = drive_raises(
        MilvusProtocol().get_job(BIG_ID),
        [raw(404, b"404 page not found"), reply(envelope_error(2100, "import failed: import job does not exist"))],
        JobNotFoundError,
    )
    assert error.code == 2100
    assert len(sent) == 2


def test_404_with_api_envelope_is_the_apis_answer_not_a_missing_route() -> None:
    protocol = MilvusProtocol()
    error, sent = drive_raises(
        protocol.get_job(BIG_ID), [reply(envelope_error(2100, "import job does not exist"), 404)], JobNotFoundError
    )
    assert len(sent) == 1
    assert not protocol.describe_missing
    assert error.http_status == 404


@pytest.mark.parametrize(
    ("response", "cls"),
    [
        pytest.param(reply(envelope_error(1800, "user hasn't authenticated"), 401), AuthenticationError, id="401"),
        pytest.param(raw(500, b""), TransientServiceError, id="500"),
        pytest.param(reply(envelope_error(65535, "boom")), TransientServiceError, id="65535"),
    ],
)
def test_describe_other_errors_do_not_fall_back(response: HttpResponse, cls: type[ImportJobError]) -> None:
    protocol = MilvusProtocol()
    _, sent = drive_raises(protocol.get_job(BIG_ID), [response], cls)
    assert [r.endpoint for r in sent] == ["describe"]
    assert not protocol.describe_missing


# -- 5. abort / commit ------------------------------------------------------------------------

ACK_OPS: dict[str, Callable[[MilvusProtocol, str], Flow[None]]] = {
    "abort": MilvusProtocol.cancel_job,
    "commit": MilvusProtocol.commit_job,
}


@pytest.mark.parametrize("endpoint", list(ACK_OPS))
def test_abort_commit_404_is_unsupported(endpoint: str) -> None:
    error, sent = drive_raises(
        ACK_OPS[endpoint](MilvusProtocol(), BIG_ID), [raw(404, b"404 page not found")], UnsupportedOperationError
    )
    assert [r.endpoint for r in sent] == [endpoint]
    assert error.http_status == 404
    assert error.job_id == BIG_ID
    assert f"/{endpoint}" in error.message


@pytest.mark.parametrize("endpoint", list(ACK_OPS))
@pytest.mark.parametrize(
    ("response", "cls"),
    [
        pytest.param(reply(envelope_error(2100, "import job does not exist")), JobNotFoundError, id="2100"),
        pytest.param(reply(envelope_error(1100, "job is not in Uncommitted state")), InvalidRequestError, id="1100"),
        pytest.param(raw(503, b""), TransientServiceError, id="503"),
    ],
)
def test_abort_commit_errors(endpoint: str, response: HttpResponse, cls: type[ImportJobError]) -> None:
    error, _ = drive_raises(ACK_OPS[endpoint](MilvusProtocol(), BIG_ID), [response], cls)
    assert type(error) is cls


@pytest.mark.parametrize("endpoint", list(ACK_OPS))
@pytest.mark.parametrize("body", [{"code": 0}, {"code": 0, "data": {}}, {"code": 200, "data": {}}])
def test_abort_commit_success(endpoint: str, body: dict[str, Any]) -> None:
    result, sent = drive(ACK_OPS[endpoint](MilvusProtocol(), BIG_ID), [reply(body)])
    assert result is None
    assert sent[0].json == {"jobId": BIG_ID}


# -- 6. create body validation: refused before any request ------------------------------------

FILES: list[list[str]] = [["folder/part-1.parquet"], ["folder/part-2.parquet"]]

BAD_CREATE_BODIES: list[tuple[str, Any, tuple[str, ...]]] = [
    # (id, request, fragments the message must contain)
    ("not-a-dict", [["a.parquet"]], ("dict",)),
    ("missing-collectionName", {"files": FILES}, ("collectionName", "required")),
    ("blank-collectionName", {"collectionName": "  ", "files": FILES}, ("collectionName",)),
    ("collectionName-not-text", {"collectionName": 7, "files": FILES}, ("collectionName",)),
    ("missing-files", {"collectionName": "c"}, ("files", "list of lists")),
    ("files-a-string", {"collectionName": "c", "files": "a.parquet"}, ("files", "list of lists")),
    ("files-empty", {"collectionName": "c", "files": []}, ("files",)),
    ("files-flat-list", {"collectionName": "c", "files": ["a.parquet", "b.parquet"]}, ("files", "[0]")),
    ("files-only-empty-groups", {"collectionName": "c", "files": [[], []]}, ("files", "no file")),
    ("files-non-string-path", {"collectionName": "c", "files": [["a.parquet", 3]]}, ("files", "[0]")),
    ("files-blank-path", {"collectionName": "c", "files": [[" "]]}, ("files", "[0]")),
    ("options-bool", {"collectionName": "c", "files": FILES, "options": {"auto_commit": False}},
     ("auto_commit", "string", '"false"')),
    ("options-int", {"collectionName": "c", "files": FILES, "options": {"timeout": 300}},
     ("timeout", "string", '"300"')),
    ("options-float", {"collectionName": "c", "files": FILES, "options": {"sep": 1.5}}, ("sep", "string")),
    ("options-null-value", {"collectionName": "c", "files": FILES, "options": {"timeout": None}},
     ("timeout", "string")),
    ("options-not-object", {"collectionName": "c", "files": FILES, "options": "timeout=300s"}, ("options",)),
    ("options-list", {"collectionName": "c", "files": FILES, "options": [["timeout", "300s"]]}, ("options",)),
    ("partitionName-not-text", {"collectionName": "c", "files": FILES, "partitionName": 1}, ("partitionName",)),
    ("dbName-not-text", {"collectionName": "c", "files": FILES, "dbName": ["a"]}, ("dbName",)),
]  # fmt: skip


@pytest.mark.parametrize(("request_body", "fragments"), [pytest.param(*r[1:], id=r[0]) for r in BAD_CREATE_BODIES])
def test_create_body_refused_before_any_request(request_body: Any, fragments: tuple[str, ...]) -> None:
    error, sent = drive_raises(MilvusProtocol().start_job(request_body), [], InvalidRequestError)
    assert sent == []
    for fragment in fragments:
        assert fragment in error.message


def test_validate_only_unsupported_before_any_request() -> None:
    _, sent = drive_raises(MilvusProtocol().start_job(CREATE_BODY, validate_only=True), [], UnsupportedOperationError)
    assert sent == []


GOOD_CREATE_BODIES: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
    # (id, request, connection db_name, expected json body)
    ("dbName-from-connection", {"collectionName": "c", "files": FILES}, "analytics",
     {"collectionName": "c", "files": FILES, "dbName": "analytics"}),
    ("dbName-default", {"collectionName": "c", "files": FILES}, "default",
     {"collectionName": "c", "files": FILES, "dbName": "default"}),
    ("explicit-dbName-kept", {"collectionName": "c", "files": FILES, "dbName": "other"}, "analytics",
     {"collectionName": "c", "files": FILES, "dbName": "other"}),
    ("exactly-1024-groups", {"collectionName": "c", "files": [[f"p{i}"] for i in range(1024)]}, "default",
     {"collectionName": "c", "files": [[f"p{i}"] for i in range(1024)], "dbName": "default"}),
    ("string-options-and-partition",
     {"collectionName": "c", "files": FILES, "partitionName": "p", "options": {"auto_commit": "false"}}, "default",
     {"collectionName": "c", "files": FILES, "partitionName": "p", "options": {"auto_commit": "false"},
      "dbName": "default"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("request_body", "db_name", "expected"), [pytest.param(*r[1:], id=r[0]) for r in GOOD_CREATE_BODIES]
)
def test_create_body_sent(request_body: dict[str, Any], db_name: str, expected: dict[str, Any]) -> None:
    before = json.dumps(request_body)
    job_id, sent = drive(MilvusProtocol(db_name=db_name).start_job(request_body), [reply(MILVUS_CREATE_SEED)])
    assert job_id == "448707763884413158"
    [request] = sent
    assert request.json == expected
    assert dict(request.headers)["DB-Name"] == expected["dbName"]
    assert request.idempotent is False
    assert json.dumps(request_body) == before  # the caller's dict is not modified


# -- 7. job IDs checked before any request ----------------------------------------------------

BAD_IDS: list[object] = [
    "",
    " ",
    "abc",
    "1.5",
    "-1",
    " 448761313698322011",
    "448761313698322011\n",
    "4487613136983220１１",  # full-width digits  # noqa: RUF001
    "9223372036854775808",  # int64 max + 1
    "12345678901234567890",  # 20 digits
    448761313698322011,
    4.48761313698322e17,
    None,
]

ID_OPS: dict[str, Callable[[MilvusProtocol, Any], Flow[Any]]] = {
    "get_job": MilvusProtocol.get_job,
    "cancel_job": MilvusProtocol.cancel_job,
    "commit_job": MilvusProtocol.commit_job,
}


@pytest.mark.parametrize("op", list(ID_OPS))
@pytest.mark.parametrize("job_id", BAD_IDS, ids=repr)
def test_bad_job_ids_refused_before_any_request(op: str, job_id: object) -> None:
    _, sent = drive_raises(ID_OPS[op](MilvusProtocol(), job_id), [], InvalidRequestError)
    assert sent == []


def test_sent_requests_are_http_requests() -> None:
    _, sent = drive(MilvusProtocol().get_job("0"), [OK_JOB])
    assert isinstance(sent[0], HttpRequest)
    assert sent[0].json == {"jobId": "0"}


def test_list_keeps_numeric_zero_job_id() -> None:
    jobs = milvus.parse_list(reply(envelope_ok({"records": [{"jobId": 0, "state": "Completed"}]})))
    assert [j.job_id for j in jobs] == ["0"]
