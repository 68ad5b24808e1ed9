"""Self-hosted Milvus REST API v2, import jobs (``/v2/vectordb/jobs/import/*``), sans-IO.

Wire facts this module handles (``shared/reference/import-job-apis.md`` §1):

* every endpoint is POST with a JSON body; ``DB-Name`` header on every call;
* errors usually arrive as **HTTP 200** with ``{"code": n, "message": ...}``; 2.4-era servers
  answer ``code: 200`` on success (told apart from code 200 "partition not found" by ``message``);
* job IDs are int64 above 2**53: kept as strings, always sent as JSON strings;
* ``/describe`` is the current progress path; servers older than late 2024 route only
  ``/get_progress`` — on HTTP 404 we fall back once and remember it;
* ``/commit`` and ``/abort`` exist only on the newest servers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from airflow_import_jobs.exceptions import (
    AuthenticationError,
    ImportJobError,
    InvalidRequestError,
    JobNotFoundError,
    PermissionDeniedError,
    TransientServiceError,
    UnsupportedOperationError,
)
from airflow_import_jobs.models import ImportJob
from airflow_import_jobs.protocol import envelope
from airflow_import_jobs.protocol.base import (
    Call,
    EndpointMissingError,
    Flow,
    HttpRequest,
    HttpResponse,
    Listing,
    ListingProtocol,
    refuse,
)
from airflow_import_jobs.protocol.common import (
    check_file_batches,
    check_job_id,
    check_request_body,
    default_progress,
    file_list,
    optional_text,
    require_text,
)
from airflow_import_jobs.protocol.states import MILVUS_STATES, map_state
from airflow_import_jobs.protocol.values import opt_int, opt_str, opt_time, percent

API = "Milvus"
PREFIX = "/v2/vectordb/jobs/import"
JOB_ID = re.compile(r"[0-9]{1,19}")
JOB_ID_EXPECTED = "a decimal int64 such as '448761313698322011'"
_INT64_MAX = 2**63 - 1

#: Milvus codes on the import endpoints → error class (2100 is decided by its message).
_CODE_ERRORS: dict[int, type[ImportJobError]] = {
    100: InvalidRequestError,  # collection not found
    200: InvalidRequestError,  # partition not found (only when a message comes with it)
    800: InvalidRequestError,  # database not found
    1100: InvalidRequestError,  # invalid parameter
    1800: AuthenticationError,
    1801: InvalidRequestError,  # body not valid for the request
    1802: InvalidRequestError,  # required parameter missing
    10001: TransientServiceError,  # server-side Request-Timeout expired (HTTP 408)
    65535: TransientServiceError,  # unexpected server error
}

_HINTS: dict[int, str] = {
    100: "check the collection name and the connection's db_name",
    800: "check the db_name (connection extra or request dbName)",
    1800: "check the connection's login/password or token extra",
    1801: "jobId must be a string and options a map of strings to strings",
}


class MilvusProtocol(ListingProtocol):
    """Builds Milvus requests and parses its responses for one connection's settings."""

    backend = "milvus"

    def __init__(self, *, db_name: str = "default") -> None:
        self.db_name = db_name
        # Learned from the first HTTP 404 on /describe: this server predates it.
        self.describe_missing = False

    # -- operations ------------------------------------------------------------------------

    def check_job_id(self, job_id: object) -> str:
        """``job_id`` if well formed for Milvus (a decimal int64), else InvalidRequestError."""
        return _check_id(job_id)

    def get_job(self, job_id: str) -> Flow[ImportJob]:
        job_id = _check_id(job_id)
        if not self.describe_missing:
            try:
                job: ImportJob = yield self._describe_call("describe", job_id)
                return job
            except EndpointMissingError:
                self.describe_missing = True
        job = yield self._describe_call("get_progress", job_id)
        return job

    def scan_jobs(
        self,
        *,
        job_ids: Collection[str] | None = None,
        collection_name: str | None = None,
        db_name: str | None = None,
        unchanged: Mapping[str, Any] | None = None,
    ) -> Flow[Listing]:
        """One ``list`` call; only the records of ``job_ids`` (all when None) become jobs.

        ``unchanged``: job ID → the state spelling the caller has; such rows are not parsed
        (see :func:`envelope.wanted`).
        """
        body: dict[str, Any] = {"dbName": db_name or self.db_name}
        if collection_name:
            body["collectionName"] = collection_name
        request = self._request("list", body, db_name=db_name)
        records: list[dict[str, Any]] = yield Call(request, list_records)
        parse, same = envelope.wanted(records, job_ids, unchanged)
        jobs = [job_from_record(r, slim=job_ids is not None) for r in parse]
        return Listing(jobs=jobs, rows=len(records), pages=1, unchanged=same)

    def start_job(self, request: Mapping[str, Any], *, validate_only: bool = False) -> Flow[str]:
        if validate_only:
            return (
                yield from refuse(
                    UnsupportedOperationError(
                        "validate_only is an eGain feature; Milvus has no validation-only import."
                    )
                )
            )
        body = check_create_body(request, default_db=self.db_name)
        job_id: str = yield Call(self._request("create", body, db_name=body["dbName"], idempotent=False), parse_create)
        return job_id

    def cancel_job(self, job_id: str) -> Flow[None]:
        job_id = _check_id(job_id)
        yield Call(self._request("abort", {"jobId": job_id}), _parse_ack("abort", job_id))

    def commit_job(self, job_id: str) -> Flow[None]:
        """Commit a two-phase (``auto_commit = "false"``) import; newest servers only."""
        job_id = _check_id(job_id)
        yield Call(self._request("commit", {"jobId": job_id}), _parse_ack("commit", job_id))

    def test_connection(self) -> Flow[str]:
        jobs = yield from self.list_jobs()
        return f"Connected to Milvus: {len(jobs)} import job(s) visible in database '{self.db_name}'."

    # -- requests ----------------------------------------------------------------------------

    def _request(
        self, endpoint: str, body: dict[str, Any], *, db_name: str | None = None, idempotent: bool = True
    ) -> HttpRequest:
        return HttpRequest(
            method="POST",
            url=f"{PREFIX}/{endpoint}",
            endpoint=endpoint,
            json=body,
            headers=(("DB-Name", db_name or self.db_name),),
            idempotent=idempotent,
        )

    def _describe_call(self, endpoint: str, job_id: str) -> Call[ImportJob]:
        request = self._request(endpoint, {"jobId": job_id})
        return Call(request, lambda response: parse_describe(response, job_id=job_id, endpoint=endpoint))


def _check_id(job_id: object) -> str:
    checked = check_job_id(job_id, api=API, pattern=JOB_ID, expected=JOB_ID_EXPECTED)
    if int(checked) > _INT64_MAX:
        raise InvalidRequestError(f"job_id {checked!r} is not a valid Milvus job ID: it exceeds int64.")
    return checked


def check_create_body(request: object, *, default_db: str) -> dict[str, Any]:
    """The create body, checked as the server would, with ``dbName`` filled in."""
    body = check_request_body(request, api=API)
    require_text(body, "collectionName", api=API)
    check_file_batches(body, "files", api=API)
    optional_text(body, "partitionName", api=API)
    optional_text(body, "dbName", api=API)
    options = body.get("options")
    if options is not None:
        if not isinstance(options, Mapping):
            raise InvalidRequestError('request["options"] must be an object of strings, e.g. {"timeout": "300s"}.')
        bad = {k: v for k, v in options.items() if not isinstance(k, str) or not isinstance(v, str)}
        if bad:
            key, value = next(iter(bad.items()))
            raise InvalidRequestError(
                f'request["options"][{key!r}] is {type(value).__name__} {value!r}; Milvus accepts only string '
                f'values (e.g. {{"{key}": "{_as_option_text(value)}"}}).'
            )
    body.setdefault("dbName", default_db)
    return body


def _as_option_text(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return "..." if value is None or isinstance(value, (dict, list)) else str(value)


# -- responses -------------------------------------------------------------------------------


def classify(
    status: int, code: int | None, message: str | None, job_id: str | None
) -> tuple[type[ImportJobError] | None, str]:
    """Error class and hint for a failed Milvus response (a None class: the HTTP status decides)."""
    if status == 401:
        return AuthenticationError, _HINTS[1800]
    if status == 403:
        return PermissionDeniedError, (
            "the user lacks a privilege; on a non-default database the DB-Name header and role grants matter"
        )
    if status >= 500 or status in (408, 429):
        return None, ""
    if code == 2100:
        lowered = (message or "").lower()
        if "job" in lowered and ("not exist" in lowered or "not found" in lowered):
            return JobNotFoundError, "finished jobs are deleted after their retention period (3 h by default)"
        if "limit" in lowered:
            return (
                TransientServiceError,
                "the server's pending+running job limit is reached; it clears as jobs finish",
            )
        return InvalidRequestError, ""
    if code is not None and code in _CODE_ERRORS:
        return _CODE_ERRORS[code], _HINTS.get(code, "")
    if status >= 400:
        return None, ""
    return ImportJobError, ""  # a code we do not know: surfaced as is, not retried


def parse_create(response: HttpResponse) -> str:
    return envelope.created_job_id(response, api=API, classify=classify)


def parse_list(response: HttpResponse) -> list[ImportJob]:
    return [job_from_record(r) for r in list_records(response)]


def list_records(response: HttpResponse) -> list[dict[str, Any]]:
    """The list response's job records, unparsed."""
    return envelope.records(response, api=API, classify=classify)


def parse_describe(response: HttpResponse, *, job_id: str, endpoint: str = "describe") -> ImportJob:
    data = envelope.data_object(response, api=API, endpoint=endpoint, classify=classify, job_id=job_id)
    return job_from_record(data, job_id=job_id)


def _parse_ack(endpoint: str, job_id: str) -> Callable[[HttpResponse], None]:
    def parse(response: HttpResponse) -> None:
        try:
            envelope.unwrap(response, api=API, endpoint=endpoint, classify=classify, job_id=job_id)
        except EndpointMissingError:
            raise UnsupportedOperationError(
                f"This Milvus server has no /{endpoint} endpoint (HTTP 404): {endpoint} of job {job_id} "
                "needs a Milvus release with two-phase import (2.6 or later).",
                http_status=404,
                job_id=job_id,
            ) from None

    return parse


def job_from_record(record: dict[str, Any], *, job_id: str | None = None, slim: bool = False) -> ImportJob:
    """An :class:`ImportJob` from a list record or a describe ``data`` object.

    ``slim``: keep only the state spelling as ``raw`` (list rows held by the shared poll loop).
    """
    state = map_state(MILVUS_STATES, record.get("state"), api=API)
    files = file_list(record.get("details"), api=API)
    return ImportJob(
        job_id=opt_str(record.get("jobId")) or job_id or "",
        backend="milvus",
        state=state,
        progress=default_progress(state, percent(record.get("progress"))),
        collection_name=opt_str(record.get("collectionName")),
        reason=opt_str(record.get("reason")),
        total_rows=opt_int(record.get("totalRows")),
        imported_rows=opt_int(record.get("importedRows")),
        files=files,
        created_at=opt_time(record.get("createTime")),
        completed_at=opt_time(record.get("completeTime")),
        raw=envelope.slim_raw(record) if slim else record,
    )
