"""eGain Knowledge Content Manager API v4, content import and validation jobs, sans-IO.

Wire facts handled here (``shared/reference/import-job-apis.md`` §3):

* base path ``/knowledge/contentmgr/v4``; OAuth 2.0 client-credentials tokens from a per-tenant
  token URL (the token exchange is built and parsed here, driven by ``client.engine``);
* start and validate answer **202 with no body**: the job ID is the UUID inside the
  ``location`` header, which is relative in the docs and had other shapes before;
* status says ``In Progress`` with a space; ``results.succesfull`` before 2026;
* errors are ``{"code": "<http>-<n>", "developerMessage", "userMessage", "details"}``;
* there is no endpoint that lists jobs.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

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
from airflow_import_jobs.models import ImportJob, JobResults, JobState
from airflow_import_jobs.protocol.base import (
    Call,
    Flow,
    HttpRequest,
    HttpResponse,
    Listing,
    ListingProtocol,
    decode_json,
    expect_object,
    refuse,
    server_text,
    status_error,
)
from airflow_import_jobs.protocol.common import check_job_id, check_request_body
from airflow_import_jobs.protocol.states import EGAIN_STATES, map_state
from airflow_import_jobs.protocol.values import first, opt_int, opt_str, opt_time, percent

API = "eGain"
PREFIX = "/knowledge/contentmgr/v4"
UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
JOB_ID_EXPECTED = "a UUID such as '7a84b875-6f75-4c7b-b137-0632b62db0bd'"
SCHEDULE_DATE = re.compile(
    r"(?P<when>[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2})(?P<fraction>\.[0-9]{1,6})?"
    r"(?P<zone>[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
DATA_SOURCE_TYPES = ("AWS S3 bucket", "Shared file path")
OPERATIONS = ("import", "reimport")
_STORAGE_KEYS = {"access_key": "accessKeyId", "secret_key": "secretAccessKey"}

#: eGain code → error class; codes not listed fall back to their ``<http>`` prefix.
_CODE_ERRORS: dict[str, type[ImportJobError]] = {
    "400-152": InvalidRequestError,
    "401-101": AuthenticationError,
    "403-197": PermissionDeniedError,
    "404-101": JobNotFoundError,
    "429-001": RateLimitedError,
    "500-100": TransientServiceError,
}
_HINTS: dict[str, str] = {
    "401-101": "the access token expired or is invalid; check the client credentials or access_token extra",
    "403-197": "the token lacks the content-manager scope; check the connection's scope extra "
    "(spellings vary by tenant: knowledge.contentmgr.manage, app.knowledge.contentmgr.manage)",
    "404-101": "check the job ID; eGain returns it in the location header of the start call",
}


class EgainProtocol(ListingProtocol):
    """Builds eGain requests and parses its responses."""

    backend = "egain"

    def __init__(self, *, storage_credentials: Mapping[str, str] | None = None) -> None:
        # From connection extras, so keys need not sit in DAG code; filled in when absent.
        self._storage_credentials = {
            _STORAGE_KEYS[k]: v for k, v in (storage_credentials or {}).items() if k in _STORAGE_KEYS
        }

    def __repr__(self) -> str:
        return "EgainProtocol()"

    def check_job_id(self, job_id: object) -> str:
        """``job_id`` if it is a UUID (eGain job IDs are), else InvalidRequestError."""
        return _check_id(job_id)

    def get_job(self, job_id: str) -> Flow[ImportJob]:
        job_id = _check_id(job_id)
        request = HttpRequest(method="GET", url=f"{PREFIX}/import/content/{job_id}/status", endpoint="status")
        job: ImportJob = yield Call(request, lambda r: parse_status(r, job_id=job_id))
        return job

    def scan_jobs(
        self,
        *,
        job_ids: Collection[str] | None = None,
        collection_name: str | None = None,
        db_name: str | None = None,
        unchanged: Mapping[str, Any] | None = None,
    ) -> Flow[Listing]:
        """Refused: eGain cannot list jobs."""
        return (
            yield from refuse(
                UnsupportedOperationError(
                    "The eGain Content Manager API has no endpoint that lists import jobs; keep the job IDs "
                    "returned by StartImportJobOperator (XCom) and wait on them with ImportJobSensor."
                )
            )
        )

    def start_job(self, request: Mapping[str, Any], *, validate_only: bool = False) -> Flow[str]:
        body = check_start_body(request, validate_only=validate_only, credentials=self._storage_credentials)
        path = f"{PREFIX}/import/content" + ("/validate" if validate_only else "")
        call = Call(
            HttpRequest(
                method="POST",
                url=path,
                endpoint="validate" if validate_only else "import",
                json=body,
                idempotent=False,
            ),
            parse_start,
        )
        job_id: str = yield call
        return job_id

    def cancel_job(self, job_id: str) -> Flow[None]:
        job_id = _check_id(job_id)
        request = HttpRequest(method="POST", url=f"{PREFIX}/import/content/{job_id}/cancel", endpoint="cancel")
        yield Call(request, lambda r: parse_cancel(r, job_id=job_id))

    def test_connection(self) -> Flow[str]:
        # A status read of an ID no tenant has: "404-101 unknown id" proves the token and the scope work.
        probe = "00000000-0000-4000-8000-000000000000"
        with contextlib.suppress(JobNotFoundError):
            yield from self.get_job(probe)
        return "Connected to eGain: the token was accepted by the import status endpoint."


def _check_id(job_id: object) -> str:
    return check_job_id(job_id, api=API, pattern=UUID, expected=JOB_ID_EXPECTED)


def check_start_body(
    request: object, *, validate_only: bool, credentials: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The start/validate body checked before sending, field by field as the v4 spec has it.

    Required: ``dataSource.type``, ``dataSource.path`` and, for an import, ``operation`` (filled
    in as ``import`` when absent). Optional and never demanded: ``dataSource.region`` and
    ``dataSource.credentials``; storage keys from the connection extras are filled in when the body
    has none (S3 sources only). ``scheduleTime`` dates are sent in the documented exact form.
    """
    body = check_request_body(request, api=API)
    source = body.get("dataSource")
    if not isinstance(source, Mapping):
        raise InvalidRequestError(
            'request["dataSource"] is required by eGain: {"type": "AWS S3 bucket", "path": "s3://bucket/folder"} '
            '(optionally with "region" and "credentials").'
        )
    source = dict(source)
    if source.get("type") not in DATA_SOURCE_TYPES:
        raise InvalidRequestError(
            f'request["dataSource"]["type"] must be one of {", ".join(map(repr, DATA_SOURCE_TYPES))}; '
            f"got {source.get('type')!r}."
        )
    if not isinstance(source.get("path"), str) or not source["path"].strip():
        raise InvalidRequestError('request["dataSource"]["path"] is required: the S3 URL or share path.')
    if source.get("region") is not None and not isinstance(source["region"], str):
        raise InvalidRequestError(
            f'request["dataSource"]["region"] is optional but must be a string such as "us-east-1"; '
            f"got {type(source['region']).__name__}."
        )
    if credentials and source.get("credentials") is None and source["type"] == "AWS S3 bucket":
        # The extras hold S3 keys: never send them to a shared file path.
        source["credentials"] = dict(credentials)
    _check_credentials(source.get("credentials"))
    body["dataSource"] = source
    if validate_only:
        extra = sorted(set(body) - {"dataSource"})
        if extra:
            raise InvalidRequestError(
                f"A validation request takes only dataSource; remove {', '.join(map(repr, extra))}."
            )
        return body
    body.setdefault("operation", "import")
    if body["operation"] not in OPERATIONS:
        raise InvalidRequestError(f'request["operation"] must be "import" or "reimport"; got {body["operation"]!r}.')
    schedule = body.get("scheduleTime")
    if schedule is not None:
        if not isinstance(schedule, Mapping):
            raise InvalidRequestError(
                'request["scheduleTime"] must be an object such as {"date": "2026-03-01T10:00:00.000Z"}; '
                f"got {type(schedule).__name__}."
            )
        schedule = dict(schedule)
        schedule["date"] = _schedule_date(schedule.get("date"), "date")
        if schedule.get("stopDate") is not None:
            schedule["stopDate"] = _schedule_date(schedule["stopDate"], "stopDate")
        body["scheduleTime"] = schedule
    return body


_CREDENTIAL_KEYS = ("accessKeyId", "secretAccessKey", "username", "password", "accessKey", "secretKey")


def _check_credentials(value: object) -> None:
    """``dataSource.credentials`` is optional; when given, an object of strings."""
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise InvalidRequestError(
            'request["dataSource"]["credentials"] is optional but must be an object: {"accessKeyId": ..., '
            '"secretAccessKey": ...} for S3, {"username": ..., "password": ...} for a shared path; '
            f"got {type(value).__name__}."
        )
    for key in _CREDENTIAL_KEYS:
        if value.get(key) is not None and not isinstance(value[key], str):
            raise InvalidRequestError(
                f'request["dataSource"]["credentials"][{key!r}] must be a string; got {type(value[key]).__name__}.'
            )


def _schedule_date(value: object, key: str) -> str:
    """An RFC 3339 date-time with a zone (what the spec's ``date-time`` allows), in the exact form
    ``YYYY-MM-DDTHH:MM:SS.mmmZ`` the eGain docs demand."""
    match = SCHEDULE_DATE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidRequestError(
            f'request["scheduleTime"][{key!r}] must be a date-time with a time zone, sent as '
            f"YYYY-MM-DDTHH:MM:SS.mmmZ (e.g. 2026-03-01T10:00:00.000Z, at most 7 days ahead); got {value!r}."
        )
    try:
        micros = (match["fraction"] or ".")[1:].ljust(6, "0")
        moment = datetime.fromisoformat(f"{match['when'].upper()}.{micros}")
        zone = match["zone"].upper()
        if zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            moment -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    except (ValueError, OverflowError):
        raise InvalidRequestError(f'request["scheduleTime"][{key!r}] is not a valid date: {value!r}.') from None
    return f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# -- responses -------------------------------------------------------------------------------


def raise_for_error(
    response: HttpResponse, *, job_id: str | None = None, action: str = "the request", envelope: bool = False
) -> None:
    """Raise the typed error for a non-2xx eGain response (or, with ``envelope``, a 2xx error body)."""
    if response.status < 400 and not envelope:
        return
    try:
        body = decode_json(response, API)
    except InvalidResponseError:
        body = None
    body = body if isinstance(body, dict) else {}
    code = opt_str(body.get("code"))
    message = opt_str(first(body, "developerMessage", "userMessage", "message", "error_description", "error"))
    cls = _CODE_ERRORS.get(code or "")
    if cls is None and code and code[:3].isascii() and code[:3].isdigit():
        cls = _status_class(int(code[:3]))
    hint = _HINTS.get(code or "", "")
    subject = f"job {job_id}" if job_id else action
    status_part = f"HTTP {response.status}" + (f", code {code}" if code else "")
    said = server_text(message).rstrip(".") if message else "no message"
    text = f"eGain refused {subject} ({status_part}): {said}" + (f"; {hint}" if hint else "")
    raise status_error(response, API, text, code=code, cls=cls, job_id=job_id)


def _status_class(status: int) -> type[ImportJobError] | None:
    from airflow_import_jobs.protocol.base import error_class_for_status

    return error_class_for_status(status) if status >= 400 else None


def parse_start(response: HttpResponse) -> str:
    raise_for_error(response, action="the start request")
    location = response.headers.get("location", "")
    found: list[str] = UUID.findall(location)
    if not found:
        raise status_error(
            response,
            API,
            f"eGain accepted the job (HTTP {response.status}) but its location header "
            f"{server_text(location, 120)!r} holds no job UUID",
            cls=InvalidResponseError,
        )
    return found[-1]  # as the server spelled it: IDs stay opaque, case included


def parse_cancel(response: HttpResponse, *, job_id: str) -> None:
    if response.status == 409:
        raise InvalidRequestError(
            f"eGain job {job_id} has already finished (HTTP 409); there is nothing to cancel.",
            http_status=409,
            job_id=job_id,
        )
    raise_for_error(response, job_id=job_id)


_ERROR_CODE = re.compile(r"[0-9]{3}-[0-9]+")


def parse_status(response: HttpResponse, *, job_id: str) -> ImportJob:
    raise_for_error(response, job_id=job_id)
    record = expect_object(decode_json(response, API), API, "the job status", response)
    code = record.get("code")
    if "status" not in record and isinstance(code, str) and _ERROR_CODE.fullmatch(code):
        # An error envelope behind a success status (a gateway rewrote it): read it as the error.
        raise_for_error(response, job_id=job_id, envelope=True)
    return job_from_record(record, job_id=job_id)


def job_from_record(record: dict[str, Any], *, job_id: str) -> ImportJob:
    state = map_state(EGAIN_STATES, record.get("status"), api=API)
    progress: dict[str, Any] = record["progress"] if isinstance(record.get("progress"), dict) else {}
    results = record.get("results")
    job_type = opt_str(record.get("jobType"))
    reason = opt_str(record.get("error"))
    if reason is None and state in (JobState.FAILED, JobState.CANCELLED):
        reason = opt_str(record.get("currentOperation"))
    return ImportJob(
        job_id=job_id,
        backend="egain",
        state=state,
        progress=_progress(state, progress),
        reason=reason,
        total_rows=opt_int(progress.get("total")),
        imported_rows=opt_int(progress.get("processed")),
        created_at=opt_time(record.get("startTime")),
        completed_at=opt_time(first(record, "completionTime", "failureTime", "cancellationTime")),
        job_type=_JOB_TYPES.get((job_type or "").lower()),
        results=_results(results) if isinstance(results, dict) else None,
        raw=record,
    )


_JOB_TYPES: dict[str, Literal["import", "validation"]] = {"import": "import", "validation": "validation"}


def _progress(state: JobState, progress: dict[str, Any]) -> int:
    reported = percent(progress.get("percentage"))
    if reported is None:
        processed, total = opt_int(progress.get("processed")), opt_int(progress.get("total"))
        if processed is not None and total:
            reported = percent(processed * 100 // total)
    if reported is None:
        return 100 if state is JobState.COMPLETED else 0
    return reported


def _results(results: dict[str, Any]) -> JobResults:
    return JobResults(
        successful=opt_int(first(results, "successful", "succesfull", "successfull")) or 0,
        warnings=opt_int(results.get("warnings")) or 0,
        errors=opt_int(results.get("errors")) or 0,
    )


# -- OAuth 2.0 client credentials ------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    """An access token and its lifetime in seconds; the value never shows in ``repr``."""

    access_token: str = field(repr=False)
    expires_in: float


def build_token_request(token_url: str, *, client_id: str, client_secret: str, scope: str | None) -> HttpRequest:
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
    if scope:
        form["scope"] = scope
    return HttpRequest(method="POST", url=token_url, endpoint="token", form=form, authenticated=False)


def parse_token(response: HttpResponse) -> Token:
    if response.status >= 400:
        try:
            body = decode_json(response, "The eGain token endpoint")
        except InvalidResponseError:
            body = None
        body = body if isinstance(body, dict) else {}
        error = opt_str(body.get("error")) or opt_str(body.get("code"))
        detail = opt_str(first(body, "error_description", "developerMessage", "message"))
        said = ": ".join(server_text(x) for x in (error, detail) if x) or "no message"
        cls: type[ImportJobError] | None = None
        hint = ""
        if response.status in (400, 401) and error in (
            "invalid_client",
            "unauthorized_client",
            "invalid_grant",
        ):
            cls, hint = (
                AuthenticationError,
                "check the connection's login (client ID) and password (client secret)",
            )
        elif error == "invalid_scope":
            cls, hint = PermissionDeniedError, "check the scope extra; spellings vary by tenant"
        text = f"The eGain token endpoint refused the token request (HTTP {response.status}): {said}"
        raise status_error(response, API, text + (f"; {hint}" if hint else ""), code=error, cls=cls)
    body = expect_object(decode_json(response, "The eGain token endpoint"), API, "the token response", response)
    token = body.get("access_token")
    if not isinstance(token, str) or not token.strip():
        raise status_error(
            response,
            API,
            "The eGain token endpoint answered without an access_token",
            cls=InvalidResponseError,
        )
    expires_in = opt_int(body.get("expires_in"))
    return Token(access_token=token, expires_in=float(expires_in if expires_in and expires_in > 0 else 3600))
