"""The ``{"code": n, "data": ..., "message": ...}`` envelope Milvus and Zilliz Cloud share.

Success is decided on the body, not the status: both APIs send errors as HTTP 200 with a
non-zero code, and older servers send ``code: 200`` on success (told apart from Milvus's code
200 "partition not found" by the absence of a ``message``). Each API supplies a classifier that
turns a failed response into an error class and a hint for the DAG author.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from airflow_import_jobs.exceptions import ImportJobError, InvalidResponseError
from airflow_import_jobs.protocol.base import (
    EndpointMissingError,
    HttpResponse,
    decode_json,
    expect_object,
    server_text,
    status_error,
)
from airflow_import_jobs.protocol.values import opt_int, opt_str, percent

#: (HTTP status, API code or None, server message or None, job ID or None) → (class, hint);
#: a None class lets the HTTP status decide (5xx and 408 transient, 429 rate limited...).
Classifier = Callable[[int, "int | None", "str | None", "str | None"], "tuple[type[ImportJobError] | None, str]"]


def unwrap(response: HttpResponse, *, api: str, endpoint: str, classify: Classifier, job_id: str | None = None) -> Any:
    """``data`` of a successful envelope, or the typed error the response stands for."""
    if response.status == 404 and b'"code"' not in response.body[:4096]:
        # A 404 without an API envelope is the router's: this server has no such path.
        raise EndpointMissingError(f"{api} answered HTTP 404 for /{endpoint}: no such route.", http_status=404)
    body = decode_json(response, api)
    if not isinstance(body, dict):
        if response.status >= 400:
            raise status_error(response, api, f"{api} answered HTTP {response.status}", job_id=job_id)
        expect_object(body, api, "the response", response)
    code = body.get("code")
    message = opt_str(body.get("message"))
    if response.status < 400 and (code == 0 or (code == 200 and "data" in body and message is None)):
        return body.get("data")
    number = opt_int(code)
    if number is None and response.status < 400:
        # A 2xx without a usable code is not this API's envelope at all.
        cls: type[ImportJobError] | None
        cls, hint = InvalidResponseError, "the URL may not point at the API"
    else:
        cls, hint = classify(response.status, number, message, job_id)
    subject = f"job {job_id}" if job_id else f"/{endpoint}"
    status_part = f"HTTP {response.status}" + (f", code {code}" if code is not None else "")
    said = server_text(message).rstrip(".") if message else "no message"
    text = f"{api} refused {subject} ({status_part}): {said}" + (f"; {hint}" if hint else "")
    raise status_error(response, api, text, code=code, cls=cls, job_id=job_id)


def data_object(
    response: HttpResponse, *, api: str, endpoint: str, classify: Classifier, job_id: str | None = None
) -> dict[str, Any]:
    """``data`` that must be an object (describe, create)."""
    data = unwrap(response, api=api, endpoint=endpoint, classify=classify, job_id=job_id)
    return expect_object(data, api, f"the {endpoint} data", response)


def records(
    response: HttpResponse, *, api: str, classify: Classifier, keys: tuple[str, ...] = ("records",)
) -> list[dict[str, Any]]:
    """The list endpoint's records that are objects carrying a job ID."""
    data = unwrap(response, api=api, endpoint="list", classify=classify)
    if data is None:
        return []
    data = expect_object(data, api, "the list data", response)
    found: Any = next((data[k] for k in keys if k in data), None) or []
    if not isinstance(found, list):
        expect_object(found, api, "the list records", response)
    return [r for r in found if isinstance(r, dict) and record_job_id(r)]


def wanted(
    records: list[dict[str, Any]], job_ids: Collection[str] | None, unchanged: Mapping[str, Any] | None = None
) -> tuple[list[dict[str, Any]], dict[str, int | None]]:
    """The records to parse: those whose job ID is in ``job_ids`` (all when it is None).

    A record whose ``state`` spelling is the one ``unchanged`` gives for its job is not parsed: it
    comes back in the second value, as its job ID and reported progress (None where it has none).
    """
    if job_ids is None:
        return records, {}
    parse: list[dict[str, Any]] = []
    same: dict[str, int | None] = {}
    for record in records:
        job_id = record_job_id(record)
        if job_id is None or job_id not in job_ids:
            continue
        if unchanged and job_id in unchanged and record.get("state") == unchanged[job_id]:
            same[job_id] = percent(record.get("progress"))
        else:
            parse.append(record)
    return parse, same


def slim_raw(record: dict[str, Any]) -> dict[str, Any]:
    """What a waited job's list row keeps of its record: the API's own state spelling only.

    The shared poll loop holds one snapshot per wait; the normalized fields carry the rest, and
    the job's own endpoint answers with the whole record once it finishes.
    """
    return {"state": record["state"]} if "state" in record else {}


def record_job_id(record: dict[str, Any]) -> str | None:
    """A record's job ID (``taskId`` in the legacy v1 API), as text."""
    return opt_str(record.get("jobId")) or opt_str(record.get("taskId"))


def created_job_id(response: HttpResponse, *, api: str, classify: Classifier) -> str:
    """``data.jobId`` of a create response."""
    data = data_object(response, api=api, endpoint="create", classify=classify)
    job_id = opt_str(data.get("jobId"))
    if job_id is None:
        raise status_error(
            response,
            api,
            f"{api} accepted the import but sent no jobId; check the server logs",
            cls=InvalidResponseError,
        )
    return job_id
