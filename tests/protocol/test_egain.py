"""eGain Knowledge import/validation jobs: status bodies, 202 + location, error codes, OAuth token."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
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
from airflow_import_jobs.models import JobResults, JobState
from airflow_import_jobs.protocol import egain
from airflow_import_jobs.protocol.base import Flow, HttpResponse
from airflow_import_jobs.protocol.egain import EgainProtocol, Token

from .conftest import EGAIN_JOB_ID, EGAIN_TOKEN_SEED, drive, drive_raises, raw, reply, seed

PREFIX = "/knowledge/contentmgr/v4"
UPPER_ID = EGAIN_JOB_ID.upper()
UTC = timezone.utc
CLIENT_SECRET = "cl13nt-S3CRET-value"
STORAGE = {"access_key": "AKIAEXAMPLE", "secret_key": "s3cr3t/KEY+value"}
SOURCE: dict[str, Any] = {
    "type": "AWS S3 bucket",
    "path": "s3://mybucket/content",
    "region": "us-east-1",
    "credentials": {"accessKeyId": "AK", "secretAccessKey": "SK"},
}


def status(body: Any, code: int = 200) -> HttpResponse:
    return reply(body, code)


def egain_error(code: str, message: str = "something went wrong") -> dict[str, Any]:
    return {"code": code, "developerMessage": message, "details": [], "userMessage": message}


# -- 1. status bodies -------------------------------------------------------------------------

STATUS_CASES: list[tuple[str, Any, dict[str, Any]]] = [
    (
        "seed-in-progress",
        seed("egain-in-progress"),
        {
            "job_id": EGAIN_JOB_ID,
            "backend": "egain",
            "state": JobState.RUNNING,
            "progress": 25,
            "job_type": "import",
            "imported_rows": 1250,
            "total_rows": 5000,
            "created_at": datetime(2024, 3, 1, 10, 0, tzinfo=UTC),
            "completed_at": None,
            "reason": None,
            "results": None,
        },
    ),
    (
        "seed-validation-successful",
        seed("egain-validation-done"),
        {
            "state": JobState.COMPLETED,
            "progress": 100,
            "job_type": "validation",
            "completed_at": datetime(2024, 3, 1, 11, 15, tzinfo=UTC),
            "results": JobResults(successful=4985, warnings=10, errors=5),
        },
    ),
    (
        "seed-failed",
        seed("egain-failed"),
        {
            "state": JobState.FAILED,
            "progress": 25,
            "job_type": "import",
            "reason": "Database connection timeout after processing 1250 items",
            "completed_at": datetime(2024, 3, 1, 10, 45, tzinfo=UTC),
        },
    ),
    ("completed-prose-spelling", {"status": "Completed", "jobType": "Import"},
     {"state": JobState.COMPLETED, "progress": 100}),
    ("scheduled", {"status": "Scheduled", "jobType": "Import"}, {"state": JobState.PENDING, "progress": 0}),
    ("cancelled", {"status": "Cancelled", "jobType": "Import", "currentOperation": "Cancelled by user"},
     {"state": JobState.CANCELLED, "reason": "Cancelled by user"}),
    ("in-progress-without-space", {"status": "InProgress"}, {"state": JobState.RUNNING}),
    ("in-progress-lowercase", {"status": "in progress"}, {"state": JobState.RUNNING}),
    ("results-misspelled-succesfull",
     {"status": "Successful", "results": {"succesfull": 4985, "warnings": 10, "errors": 5}},
     {"results": JobResults(successful=4985, warnings=10, errors=5)}),
    ("results-partial", {"status": "Successful", "results": {"successful": 3}},
     {"results": JobResults(successful=3, warnings=0, errors=0)}),
    ("jobType-upper", {"status": "Successful", "jobType": "IMPORT"}, {"job_type": "import"}),
    ("jobType-lower-validation", {"status": "Successful", "jobType": "validation"}, {"job_type": "validation"}),
    ("jobType-unknown", {"status": "Successful", "jobType": "Export"}, {"job_type": None}),
    ("jobType-missing", {"status": "Successful"}, {"job_type": None}),
    ("progress-from-counts", {"status": "In Progress", "progress": {"processed": 1, "total": 3}},
     {"progress": 33}),
    ("progress-total-zero", {"status": "In Progress", "progress": {"processed": 1, "total": 0}},
     {"progress": 0}),
    ("progress-not-object", {"status": "In Progress", "progress": 40}, {"progress": 0}),
]  # fmt: skip


@pytest.mark.parametrize(("body", "expected"), [pytest.param(*r[1:], id=r[0]) for r in STATUS_CASES])
def test_status_shapes(body: Any, expected: dict[str, Any]) -> None:
    job = egain.parse_status(status(body), job_id=EGAIN_JOB_ID)
    for name, value in expected.items():
        assert getattr(job, name) == value, name
    assert job.raw == body


def test_misspelled_and_correct_results_read_the_same() -> None:
    old = {"status": "Successful", "results": {"succesfull": 7, "warnings": 1, "errors": 2}}
    new = {"status": "Successful", "results": {"successful": 7, "warnings": 1, "errors": 2}}
    parsed = [egain.parse_status(status(b), job_id=EGAIN_JOB_ID).results for b in (old, new)]
    assert parsed[0] == parsed[1] == JobResults(successful=7, warnings=1, errors=2)


def test_get_job_request() -> None:
    job, sent = drive(EgainProtocol().get_job(EGAIN_JOB_ID), [status(seed("egain-in-progress"))])
    [request] = sent
    assert request.method == "GET"
    assert request.url == f"{PREFIX}/import/content/{EGAIN_JOB_ID}/status"
    assert request.json is None
    assert job.job_id == EGAIN_JOB_ID


def test_get_job_keeps_id_case() -> None:
    """IDs are opaque: an upper-case UUID is sent and reported exactly as given."""
    job, sent = drive(EgainProtocol().get_job(UPPER_ID), [status(seed("egain-in-progress"))])
    assert sent[0].url == f"{PREFIX}/import/content/{UPPER_ID}/status"
    assert job.job_id == UPPER_ID


# -- 2. errors --------------------------------------------------------------------------------

ERROR_CASES: list[tuple[str, int, dict[str, Any], type[ImportJobError], str]] = [
    ("404-101", 404, egain_error("404-101", "Job not found"), JobNotFoundError, "job ID"),
    ("401-101", 401, egain_error("401-101", "Token expired"), AuthenticationError, "token"),
    ("403-197", 403, egain_error("403-197", "Insufficient scope"), PermissionDeniedError, "scope extra"),
    ("400-152", 400, egain_error("400-152", "Invalid value"), InvalidRequestError, "Invalid value"),
    ("429-001", 429, egain_error("429-001", "Too many requests"), RateLimitedError, "Too many requests"),
    ("500-100", 500, egain_error("500-100", "Internal error"), TransientServiceError, "Internal error"),
    ("unlisted-code-uses-prefix", 400, egain_error("404-999", "odd"), JobNotFoundError, "odd"),
    ("unlisted-5xx-code", 503, egain_error("503-001", "maintenance"), TransientServiceError, "maintenance"),
]


@pytest.mark.parametrize(("http", "body", "cls", "fragment"), [pytest.param(*r[1:], id=r[0]) for r in ERROR_CASES])
def test_status_errors(http: int, body: dict[str, Any], cls: type[ImportJobError], fragment: str) -> None:
    error, sent = drive_raises(EgainProtocol().get_job(EGAIN_JOB_ID), [status(body, http)], ImportJobError)
    assert type(error) is cls
    assert error.code == body["code"]
    assert type(error.code) is str
    assert error.http_status == http
    assert error.job_id == EGAIN_JOB_ID
    assert fragment in error.message
    assert len(sent) == 1


@pytest.mark.parametrize(
    ("response", "cls"),
    [
        pytest.param(raw(401, b""), AuthenticationError, id="401-empty"),
        pytest.param(raw(403, b"<html>denied</html>"), PermissionDeniedError, id="403-html"),
        pytest.param(raw(404, b"Not Found"), JobNotFoundError, id="404-plain"),
        pytest.param(raw(502, b"<html>Bad Gateway</html>"), TransientServiceError, id="502-html"),
        pytest.param(raw(200, b"<html>login</html>"), InvalidResponseError, id="200-html"),
        pytest.param(raw(200, b""), InvalidResponseError, id="200-empty"),
        pytest.param(reply([]), InvalidResponseError, id="200-list"),
        pytest.param(reply({"code": 404}, 404), JobNotFoundError, id="numeric-code"),
    ],
)
def test_status_unreadable(response: HttpResponse, cls: type[ImportJobError]) -> None:
    with pytest.raises(ImportJobError) as info:
        egain.parse_status(response, job_id=EGAIN_JOB_ID)
    assert type(info.value) is cls


def test_429_retry_after_honoured_if_present() -> None:
    with pytest.raises(RateLimitedError) as info:
        egain.parse_status(reply(egain_error("429-001"), 429, {"Retry-After": "12"}), job_id=EGAIN_JOB_ID)
    assert info.value.retry_after == 12.0


def test_error_code_with_non_decimal_digits_does_not_crash() -> None:
    with pytest.raises(ImportJobError):
        egain.parse_status(reply({"code": "²²²-1"}, 400), job_id=EGAIN_JOB_ID)


# -- 3. start: 202 + location -----------------------------------------------------------------

LOCATIONS: list[tuple[str, str, str]] = [
    # (id, location header, job ID taken from it)
    ("documented-relative", f"knowledge/contentmgr/v4/import/content/{EGAIN_JOB_ID}/status", EGAIN_JOB_ID),
    ("legacy-leading-slash-no-status", f"/knowledge/contentmgr/v4/import/content/{EGAIN_JOB_ID}", EGAIN_JOB_ID),
    ("absolute-url", f"https://api.ai.egain.cloud/knowledge/contentmgr/v4/import/content/{EGAIN_JOB_ID}/status",
     EGAIN_JOB_ID),
    ("absolute-url-with-query", f"https://api.egain.cloud/knowledge/contentmgr/v4/import/content/{EGAIN_JOB_ID}"
     "/status?tenant=x", EGAIN_JOB_ID),
    ("uppercase-uuid-kept-as-sent", f"knowledge/contentmgr/v4/import/content/{UPPER_ID}/status", UPPER_ID),
    ("surrounding-whitespace", f"  /knowledge/contentmgr/v4/import/content/{EGAIN_JOB_ID}/status  ", EGAIN_JOB_ID),
]  # fmt: skip


@pytest.mark.parametrize("validate_only", [False, True], ids=["import", "validate"])
@pytest.mark.parametrize(("location", "expected"), [pytest.param(*r[1:], id=r[0]) for r in LOCATIONS])
def test_start_location_forms(location: str, expected: str, validate_only: bool) -> None:
    body = {"dataSource": SOURCE} if validate_only else {"dataSource": SOURCE, "operation": "import"}
    job_id, sent = drive(
        EgainProtocol().start_job(body, validate_only=validate_only), [raw(202, b"", {"Location": location})]
    )
    assert job_id == expected
    [request] = sent
    assert request.method == "POST"
    assert request.url == f"{PREFIX}/import/content" + ("/validate" if validate_only else "")
    assert request.idempotent is False
    assert request.json == body


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-location"),
        pytest.param({"Location": ""}, id="empty-location"),
        pytest.param({"Location": "/knowledge/contentmgr/v4/import/content/12345/status"}, id="not-a-uuid"),
    ],
)
def test_start_202_without_job_uuid_is_invalid_response(headers: dict[str, str]) -> None:
    with pytest.raises(InvalidResponseError) as info:
        egain.parse_start(raw(202, b"", headers))
    assert info.value.http_status == 202


START_ERRORS: list[tuple[str, int, str, type[ImportJobError]]] = [
    ("400-152", 400, "400-152", InvalidRequestError),
    ("401-101", 401, "401-101", AuthenticationError),
    ("403-197", 403, "403-197", PermissionDeniedError),
    ("429-001", 429, "429-001", RateLimitedError),
    ("500-100", 500, "500-100", TransientServiceError),
]


@pytest.mark.parametrize(("http", "code", "cls"), [pytest.param(*r[1:], id=r[0]) for r in START_ERRORS])
def test_start_errors(http: int, code: str, cls: type[ImportJobError]) -> None:
    with pytest.raises(ImportJobError) as info:
        egain.parse_start(reply(egain_error(code), http))
    assert type(info.value) is cls
    assert info.value.code == code
    assert info.value.http_status == http


# -- 4. cancel --------------------------------------------------------------------------------

CANCEL_CASES: list[tuple[str, HttpResponse, type[ImportJobError] | None]] = [
    ("204-ok", raw(204, b""), None),
    ("200-ok", reply({}), None),
    ("409-already-finished", raw(409, b""), InvalidRequestError),
    ("409-with-body", reply(egain_error("409-001", "finished"), 409), InvalidRequestError),
    ("404-101", reply(egain_error("404-101"), 404), JobNotFoundError),
    ("401-101", reply(egain_error("401-101"), 401), AuthenticationError),
    ("500-100", reply(egain_error("500-100"), 500), TransientServiceError),
]


@pytest.mark.parametrize(("response", "cls"), [pytest.param(*r[1:], id=r[0]) for r in CANCEL_CASES])
def test_cancel(response: HttpResponse, cls: type[ImportJobError] | None) -> None:
    flow = EgainProtocol().cancel_job(EGAIN_JOB_ID)
    if cls is None:
        result, sent = drive(flow, [response])
        assert result is None
    else:
        error, sent = drive_raises(flow, [response], ImportJobError)
        assert type(error) is cls
        assert error.job_id == EGAIN_JOB_ID
        assert error.http_status == response.status
    [request] = sent
    assert (request.method, request.url) == ("POST", f"{PREFIX}/import/content/{EGAIN_JOB_ID}/cancel")


# -- 5. refused before any request ------------------------------------------------------------

BAD_IDS: list[object] = [
    "",
    "448761313698322011",
    "job-0123",
    EGAIN_JOB_ID + "/../x",
    EGAIN_JOB_ID[:-1],
    EGAIN_JOB_ID + "0",
    EGAIN_JOB_ID.replace("-", ""),
    "{" + EGAIN_JOB_ID + "}",
    f" {EGAIN_JOB_ID}",
    f"{EGAIN_JOB_ID}\n",
    "7a84b875-6f75-4c7b-b137-0632b62db0bg",
    None,
    123,
]

Op = Callable[[EgainProtocol, Any], Flow[Any]]
ID_OPS: dict[str, Op] = {"get_job": EgainProtocol.get_job, "cancel_job": EgainProtocol.cancel_job}


@pytest.mark.parametrize("op", list(ID_OPS))
@pytest.mark.parametrize("job_id", BAD_IDS, ids=repr)
def test_non_uuid_ids_refused_before_any_request(op: str, job_id: object) -> None:
    _, sent = drive_raises(ID_OPS[op](EgainProtocol(), job_id), [], InvalidRequestError)
    assert sent == []


def test_list_jobs_unsupported_before_any_request() -> None:
    error, sent = drive_raises(EgainProtocol().list_jobs(), [], UnsupportedOperationError)
    assert sent == []
    assert "XCom" in error.message


def test_test_connection_treats_unknown_probe_as_success() -> None:
    message, sent = drive(EgainProtocol().test_connection(), [reply(egain_error("404-101"), 404)])
    assert "Connected to eGain" in message
    assert sent[0].url.endswith("/status")


def test_test_connection_reports_missing_scope() -> None:
    drive_raises(EgainProtocol().test_connection(), [reply(egain_error("403-197"), 403)], PermissionDeniedError)


# -- 6. start body validation -----------------------------------------------------------------

BAD_START: list[tuple[str, Any, bool, str]] = [
    # (id, request, validate_only, message fragment)
    ("not-a-dict", "s3://bucket", False, "dict"),
    ("missing-dataSource", {"operation": "import"}, False, "dataSource"),
    ("dataSource-not-object", {"dataSource": "s3://bucket"}, False, "dataSource"),
    ("wrong-type", {"dataSource": {**SOURCE, "type": "S3"}}, False, "AWS S3 bucket"),
    ("type-missing", {"dataSource": {"path": "s3://b"}}, False, "type"),
    ("path-missing", {"dataSource": {"type": "AWS S3 bucket"}}, False, "path"),
    ("path-blank", {"dataSource": {"type": "Shared file path", "path": " "}}, False, "path"),
    ("region-not-text", {"dataSource": {**SOURCE, "region": 1}}, False, "region"),
    ("credentials-not-object", {"dataSource": {**SOURCE, "credentials": "AK:SK"}}, False, "credentials"),
    ("credential-not-text", {"dataSource": {**SOURCE, "credentials": {"accessKeyId": 1}}}, False, "accessKeyId"),
    ("bad-operation", {"dataSource": SOURCE, "operation": "delete"}, False, "reimport"),
    ("schedule-no-zone", {"dataSource": SOURCE, "scheduleTime": {"date": "2026-03-01T10:00:00.000"}}, False,
     "YYYY-MM-DDTHH:MM:SS.mmmZ"),
    ("schedule-space", {"dataSource": SOURCE, "scheduleTime": {"date": "2026-03-01 10:00:00.000Z"}}, False,
     "YYYY-MM-DDTHH:MM:SS.mmmZ"),
    ("schedule-nanos", {"dataSource": SOURCE, "scheduleTime": {"date": "2026-03-01T10:00:00.000000000Z"}}, False,
     "YYYY-MM-DDTHH:MM:SS.mmmZ"),
    ("schedule-trailing-newline", {"dataSource": SOURCE, "scheduleTime": {"date": "2026-03-01T10:00:00.000Z\n"}},
     False, "YYYY-MM-DDTHH:MM:SS.mmmZ"),
    ("schedule-month-13", {"dataSource": SOURCE, "scheduleTime": {"date": "2026-13-01T10:00:00.000Z"}}, False,
     "not a valid date"),
    ("schedule-bad-stop", {"dataSource": SOURCE, "scheduleTime": {"date": "2026-03-01T10:00:00.000Z",
                                                                  "stopDate": "tomorrow"}}, False, "stopDate"),
    ("schedule-epoch", {"dataSource": SOURCE, "scheduleTime": {"date": 1772359200000}}, False, "YYYY"),
    ("schedule-not-object", {"dataSource": SOURCE, "scheduleTime": "2026-03-01T10:00:00.000Z"}, False, "object"),
    ("schedule-no-date", {"dataSource": SOURCE, "scheduleTime": {}}, False, "YYYY"),
    ("validation-with-operation", {"dataSource": SOURCE, "operation": "import"}, True, "operation"),
    ("validation-with-schedule",
     {"dataSource": SOURCE, "scheduleTime": {"date": "2026-03-01T10:00:00.000Z"}}, True, "scheduleTime"),
    ("validation-missing-dataSource", {}, True, "dataSource"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("request_body", "validate_only", "fragment"), [pytest.param(*r[1:], id=r[0]) for r in BAD_START]
)
def test_start_body_refused_before_any_request(request_body: Any, validate_only: bool, fragment: str) -> None:
    error, sent = drive_raises(
        EgainProtocol().start_job(request_body, validate_only=validate_only), [], InvalidRequestError
    )
    assert sent == []
    assert fragment in error.message


NO_CREDS = {k: v for k, v in SOURCE.items() if k != "credentials"}
MINIMAL: dict[str, Any] = {"type": "AWS S3 bucket", "path": "s3://mybucket/content"}
SHARE: dict[str, Any] = {"type": "Shared file path", "path": "\\\\srv\\share"}

GOOD_START: list[tuple[str, Any, bool, dict[str, Any]]] = [
    ("operation-defaults-to-import", {"dataSource": SOURCE}, False, {"dataSource": SOURCE, "operation": "import"}),
    ("reimport", {"dataSource": SOURCE, "operation": "reimport"}, False,
     {"dataSource": SOURCE, "operation": "reimport"}),
    ("schedule-exact-format",
     {"dataSource": SOURCE, "scheduleTime": {"date": "2026-03-01T10:00:00.000Z"}}, False,
     {"dataSource": SOURCE, "scheduleTime": {"date": "2026-03-01T10:00:00.000Z"}, "operation": "import"}),
    ("validation", {"dataSource": SOURCE}, True, {"dataSource": SOURCE}),
    ("credentials-filled-from-connection", {"dataSource": NO_CREDS}, False,
     {"dataSource": {**NO_CREDS, "credentials": {"accessKeyId": STORAGE["access_key"],
                                                 "secretAccessKey": STORAGE["secret_key"]}},
      "operation": "import"}),
    ("credentials-filled-for-validation", {"dataSource": NO_CREDS}, True,
     {"dataSource": {**NO_CREDS, "credentials": {"accessKeyId": STORAGE["access_key"],
                                                 "secretAccessKey": STORAGE["secret_key"]}}}),
    ("explicit-credentials-kept", {"dataSource": SOURCE}, False, {"dataSource": SOURCE, "operation": "import"}),
    # The spec's date-time is RFC 3339; the docs demand exactly YYYY-MM-DDTHH:MM:SS.mmmZ: sent in that form.
    ("schedule-no-millis", {"dataSource": SOURCE, "scheduleTime": {"date": "2026-03-01T10:00:00Z"}}, False,
     {"dataSource": SOURCE, "scheduleTime": {"date": "2026-03-01T10:00:00.000Z"}, "operation": "import"}),
    ("schedule-offset", {"dataSource": SOURCE, "scheduleTime": {"date": "2026-03-01T12:00:00.250+02:00"}}, False,
     {"dataSource": SOURCE, "scheduleTime": {"date": "2026-03-01T10:00:00.250Z"}, "operation": "import"}),
    ("schedule-micros-and-stop", {"dataSource": SOURCE, "scheduleTime": {"date": "2026-03-01T10:00:00.123456z",
                                                                         "stopDate": "2026-03-01T17:00:00Z"}},
     False, {"dataSource": SOURCE, "operation": "import",
             "scheduleTime": {"date": "2026-03-01T10:00:00.123Z", "stopDate": "2026-03-01T17:00:00.000Z"}}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("request_body", "validate_only", "expected"), [pytest.param(*r[1:], id=r[0]) for r in GOOD_START]
)
def test_start_body_sent(request_body: Any, validate_only: bool, expected: dict[str, Any]) -> None:
    before = json.dumps(request_body)
    location = {"location": f"knowledge/contentmgr/v4/import/content/{EGAIN_JOB_ID}/status"}
    _, sent = drive(
        EgainProtocol(storage_credentials=STORAGE).start_job(request_body, validate_only=validate_only),
        [raw(202, b"", location)],
    )
    assert sent[0].json == expected
    assert json.dumps(request_body) == before
    assert STORAGE["secret_key"] not in repr(sent[0])


# The v4 spec (ImportContent, ValidateImportContent): only dataSource.type, dataSource.path and, for an
# import, operation are required; region and credentials are optional.
OPTIONAL_OMITTED: list[tuple[str, dict[str, Any], bool]] = [
    ("only-type-and-path", {"dataSource": MINIMAL, "operation": "import"}, False),
    ("only-type-and-path-validation", {"dataSource": MINIMAL}, True),
    ("share-without-credentials", {"dataSource": SHARE, "operation": "reimport"}, False),
    ("region-without-credentials", {"dataSource": {**MINIMAL, "region": "eu-west-1"}}, True),
    ("credentials-without-region", {"dataSource": {**MINIMAL, "credentials": SOURCE["credentials"]}}, True),
]


@pytest.mark.parametrize(("request_body", "validate_only"), [pytest.param(*r[1:], id=r[0]) for r in OPTIONAL_OMITTED])
def test_optional_data_source_fields_never_demanded(request_body: dict[str, Any], validate_only: bool) -> None:
    _, sent = drive(EgainProtocol().start_job(request_body, validate_only=validate_only), [LOCATION])
    assert sent[0].json == request_body
    assert sent[0].url == PREFIX + "/import/content" + ("/validate" if validate_only else "")


def test_protocol_repr_hides_storage_credentials() -> None:
    assert STORAGE["secret_key"] not in repr(EgainProtocol(storage_credentials=STORAGE))


LOCATION = raw(202, b"", {"location": f"knowledge/contentmgr/v4/import/content/{EGAIN_JOB_ID}/status"})


def test_shared_file_path_source() -> None:
    creds = {"username": "svc", "password": "pw"}
    _, sent = drive(EgainProtocol().start_job({"dataSource": {**SHARE, "credentials": creds}}), [LOCATION])
    assert sent[0].json == {"dataSource": {**SHARE, "credentials": creds}, "operation": "import"}


def test_s3_keys_not_filled_into_shared_file_path_source() -> None:
    # The connection's S3 keys are never sent to a shared path; it goes without credentials.
    _, sent = drive(EgainProtocol(storage_credentials=STORAGE).start_job({"dataSource": SHARE}), [LOCATION])
    assert sent[0].json == {"dataSource": SHARE, "operation": "import"}


def test_schedule_date_rejects_non_ascii_digits() -> None:
    arabic_indic = "\u0662\u0660\u0662\u0666-\u0660\u0663-\u0660\u0661"  # 2026-03-01
    body = {"dataSource": SOURCE, "scheduleTime": {"date": f"{arabic_indic}T10:00:00.000Z"}}
    _, sent = drive_raises(EgainProtocol().start_job(body), [], InvalidRequestError)
    assert sent == []


# -- 7. OAuth token ---------------------------------------------------------------------------

TOKEN_URL = "https://ai.egain.cloud/system/auth/TENANT-U/oauth2/token"


@pytest.mark.parametrize("scope", ["knowledge.contentmgr.manage", "app.knowledge.contentmgr.manage", None])
def test_token_request(scope: str | None) -> None:
    request = egain.build_token_request(TOKEN_URL, client_id="client-1", client_secret=CLIENT_SECRET, scope=scope)
    assert (request.method, request.url, request.endpoint) == ("POST", TOKEN_URL, "token")
    assert request.authenticated is False
    assert request.json is None
    expected = {"grant_type": "client_credentials", "client_id": "client-1", "client_secret": CLIENT_SECRET}
    if scope:
        expected["scope"] = scope
    assert dict(request.form or {}) == expected
    assert CLIENT_SECRET not in repr(request)
    assert CLIENT_SECRET not in str(request)


TOKEN_OK: list[tuple[str, Any, float]] = [
    ("seed", EGAIN_TOKEN_SEED, 3599.0),
    ("expires_in-string", {"access_token": "abc", "expires_in": "1800"}, 1800.0),
    ("expires_in-missing", {"access_token": "abc"}, 3600.0),
    ("expires_in-zero", {"access_token": "abc", "expires_in": 0}, 3600.0),
    ("expires_in-garbage", {"access_token": "abc", "expires_in": "soon"}, 3600.0),
]


@pytest.mark.parametrize(("body", "expires_in"), [pytest.param(*r[1:], id=r[0]) for r in TOKEN_OK])
def test_parse_token(body: dict[str, Any], expires_in: float) -> None:
    token = egain.parse_token(reply(body))
    assert token == Token(access_token=body["access_token"], expires_in=expires_in)
    assert body["access_token"] not in repr(token)
    assert body["access_token"] not in str(token)


TOKEN_ERRORS: list[tuple[str, HttpResponse, type[ImportJobError], Any]] = [
    ("invalid_client-401", reply({"error": "invalid_client", "error_description": "Client authentication failed"},
                                 401), AuthenticationError, "invalid_client"),
    ("invalid_client-400", reply({"error": "invalid_client"}, 400), AuthenticationError, "invalid_client"),
    ("unauthorized_client", reply({"error": "unauthorized_client"}, 400), AuthenticationError,
     "unauthorized_client"),
    ("invalid_grant", reply({"error": "invalid_grant"}, 400), AuthenticationError, "invalid_grant"),
    ("invalid_scope", reply({"error": "invalid_scope", "error_description": "scope not allowed"}, 400),
     PermissionDeniedError, "invalid_scope"),
    ("401-no-body", raw(401, b""), AuthenticationError, None),
    ("500", raw(500, b"<html>err</html>"), TransientServiceError, None),
    ("429", reply({"error": "slow_down"}, 429, {"Retry-After": "3"}), RateLimitedError, "slow_down"),
    ("200-without-token", reply({"token_type": "Bearer"}), InvalidResponseError, None),
    ("200-html", raw(200, b"<html>sign in</html>", {"content-type": "text/html"}), InvalidResponseError, None),
    ("200-list", reply(["abc"]), InvalidResponseError, None),
]  # fmt: skip


@pytest.mark.parametrize(("response", "cls", "code"), [pytest.param(*r[1:], id=r[0]) for r in TOKEN_ERRORS])
def test_parse_token_errors(response: HttpResponse, cls: type[ImportJobError], code: Any) -> None:
    with pytest.raises(ImportJobError) as info:
        egain.parse_token(response)
    assert type(info.value) is cls
    assert info.value.code == code
    assert CLIENT_SECRET not in info.value.message


def test_invalid_scope_hints_at_scope_extra() -> None:
    with pytest.raises(PermissionDeniedError) as info:
        egain.parse_token(reply({"error": "invalid_scope"}, 400))
    assert "scope" in info.value.message


def test_authorized_request_repr_hides_bearer_token() -> None:
    request = egain.build_token_request(TOKEN_URL, client_id="c", client_secret=CLIENT_SECRET, scope=None)
    token = str(EGAIN_TOKEN_SEED["access_token"])
    authorized = replace(request, headers=(*request.headers, ("Authorization", f"Bearer {token}")))
    assert token not in repr(authorized)
