"""A tiny driver for protocol flows, response builders, and the recorded seed bodies.

``drive`` does what ``engine.Engine.execute`` does, minus retries, auth and rate limits: each
:class:`Call` a flow yields gets the next recorded response; the parsed value is sent back, or
the :class:`ImportJobError` the parser raised is thrown back into the flow.

Test modules import these helpers with ``from .conftest import ...`` (relative, so it works
whether or not ``tests/`` itself becomes a package).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from airflow_import_jobs.exceptions import ImportJobError
from airflow_import_jobs.protocol.base import Flow, HttpRequest, HttpResponse

T = TypeVar("T")
E = TypeVar("E", bound=ImportJobError)


class UnexpectedRequestError(AssertionError):
    """The flow sent a request the test recorded no response for."""


@dataclass
class Exchange:
    """What a driven flow did: every request it sent, in order."""

    sent: list[HttpRequest] = field(default_factory=list)


def _run(flow: Flow[T], responses: Sequence[HttpResponse], exchange: Exchange) -> T:
    pending = list(responses)
    try:
        call = next(flow)
        while True:
            exchange.sent.append(call.request)
            if not pending:
                raise UnexpectedRequestError(
                    f"flow sent request #{len(exchange.sent)} ({call.request!r}) but no recorded response is left"
                )
            response = pending.pop(0)
            try:
                parsed = call.parse(response)
            except ImportJobError as error:
                call = flow.throw(error)  # the flow may handle it (a fallback) or let it propagate
            else:
                call = flow.send(parsed)
    except StopIteration as stop:
        result: T = stop.value
    return _finish(result, pending)


def _finish(result: T, pending: list[HttpResponse]) -> T:
    if pending:
        raise AssertionError(f"flow finished with {len(pending)} recorded response(s) unused")
    return result


def drive(flow: Flow[T], responses: Sequence[HttpResponse] = ()) -> tuple[T, list[HttpRequest]]:
    """Run ``flow`` against recorded ``responses``; return its result and the requests it sent."""
    exchange = Exchange()
    result = _run(flow, responses, exchange)
    return result, exchange.sent


def drive_raises(flow: Flow[Any], responses: Sequence[HttpResponse], expected: type[E]) -> tuple[E, list[HttpRequest]]:
    """Run ``flow``, which must end in ``expected``; return the error and the requests sent before it."""
    exchange = Exchange()
    with pytest.raises(expected) as info:
        _run(flow, responses, exchange)
    return info.value, exchange.sent


# -- responses --------------------------------------------------------------------------------


def raw(
    status: int = 200,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    *,
    received_at: float = 0.0,
) -> HttpResponse:
    """A response with an exact body; header names lower-cased as the transport does."""
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    return HttpResponse(status=status, headers=lowered, body=body, received_at=received_at)


def reply(
    body: Any,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    *,
    received_at: float = 0.0,
) -> HttpResponse:
    """A JSON response (``json.dumps`` keeps big ints exact, as a real server's text would)."""
    all_headers = {"content-type": "application/json", **(headers or {})}
    return raw(status, json.dumps(body).encode(), all_headers, received_at=received_at)


def envelope_ok(data: Any, code: int = 0) -> dict[str, Any]:
    """The Milvus / Zilliz Cloud success envelope."""
    return {"code": code, "data": data}


def envelope_error(code: Any, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


# -- recorded bodies (shared/seeds/*.md and the reference) ------------------------------------

#: shared/seeds/milvus-list-import-jobs.md (note: code 200, the 2.4-era success code).
MILVUS_LIST_SEED: dict[str, Any] = {
    "code": 200,
    "data": {
        "records": [
            {"collectionName": "quick_setup", "jobId": "448761313698322011", "progress": 50, "state": "Importing"}
        ]
    },
}

#: shared/seeds/pymilvus-list-import-jobs.md, "Response syntax" (the v2 shape, code 0).
PYMILVUS_LIST_SEED: dict[str, Any] = {
    "code": 0,
    "data": {
        "records": [
            {"collectionName": "quick_setup", "jobId": "453240863839750922", "progress": 100, "state": "Completed"}
        ]
    },
}

#: shared/seeds/pymilvus-list-import-jobs.md, "Output" (legacy v1 Zilliz Cloud: code 200, data.tasks[]).
ZILLIZ_V1_LIST_SEED: dict[str, Any] = {
    "code": 200,
    "data": {
        "tasks": [
            {
                "collectionName": "medium_articles",
                "jobId": "9d0bc230-6b99-4739-a872-0b91cfe2515a",
                "state": "ImportCompleted",
            },
            {
                "collectionName": "medium_articles",
                "jobId": "53632e6c-c078-4476-b840-10c4793d9c08",
                "state": "ImportCompleted",
            },
        ],
        "count": 2,
        "currentPage": 1,
        "pageSize": 10,
    },
}

#: shared/seeds/zilliz-cloud-get-import-job-progress.md.
ZILLIZ_PROGRESS_SEED: dict[str, Any] = {
    "code": 0,
    "data": {
        "jobId": "448761313698322011",
        "collectionName": "medium_articles",
        "fileName": "medium_articles_2020_dpr.json",
        "fileSize": 3279917,
        "state": "Completed",
        "progress": 100,
        "completeTime": "2024-04-01T06:17:55Z",
        "reason": "",
        "totalRows": 100000,
        "details": [
            {
                "fileName": "medium_articles_2020_dpr.json",
                "fileSize": 3279917,
                "state": "Completed",
                "progress": 100,
                "completeTime": "2024-04-01T06:17:53Z",
                "reason": "",
            }
        ],
    },
}

#: shared/seeds/zilliz-cloud-list-import-jobs.md.
ZILLIZ_LIST_SEED: dict[str, Any] = {
    "code": 0,
    "data": {
        "count": 1000,
        "currentPage": 1,
        "pageSize": 10,
        "records": [{"collectionName": "quick_setup", "jobId": "448761313698322011", "state": "Importing"}],
    },
}

#: Reference §1, the describe shape of a current Milvus server (createTime, importedRows, details[]).
MILVUS_DESCRIBE_SEED: dict[str, Any] = {
    "code": 0,
    "data": {
        "jobId": "448761313698322011",
        "collectionName": "quick_setup",
        "state": "Importing",
        "progress": 80,
        "importedRows": 600,
        "totalRows": 1000,
        "completeTime": "",
        "createTime": "2024-04-01T06:10:00Z",
        "fileSize": 3279917,
        "details": [
            {
                "fileName": "part-1.parquet",
                "fileSize": 1639958,
                "progress": 100,
                "state": "Completed",
                "reason": "",
                "completeTime": "2024-04-01T06:15:00Z",
                "importedRows": 500,
                "totalRows": 500,
            },
            {
                "fileName": "part-2.parquet",
                "fileSize": 1639959,
                "progress": 20,
                "state": "InProgress",
                "reason": "",
                "completeTime": "",
                "importedRows": 100,
                "totalRows": 500,
            },
        ],
    },
}

#: Reference §1, the create answer.
MILVUS_CREATE_SEED: dict[str, Any] = {"code": 0, "data": {"jobId": "448707763884413158"}}

EGAIN_JOB_ID = "7a84b875-6f75-4c7b-b137-0632b62db0bd"
EGAIN_LOG = "s3://mybucket/logs/import-logs-7A84B875-6F75-4C7B-B137-0632B62DB0BD.txt"

#: shared/seeds/egain-import-job-status.md, the three example responses.
EGAIN_IN_PROGRESS_SEED: dict[str, Any] = {
    "status": "In Progress",
    "jobType": "Import",
    "progress": {"processed": 1250, "total": 5000, "percentage": 25},
    "logFileLocation": EGAIN_LOG,
    "startTime": "2024-03-01T10:00:00.000Z",
    "estimatedCompletion": "2024-03-01T11:30:00.000Z",
    "currentOperation": "Processing content items",
}
EGAIN_VALIDATION_DONE_SEED: dict[str, Any] = {
    "status": "Successful",
    "jobType": "Validation",
    "progress": {"processed": 5000, "total": 5000, "percentage": 100},
    "logFileLocation": EGAIN_LOG,
    "startTime": "2024-03-01T10:00:00.000Z",
    "completionTime": "2024-03-01T11:15:00.000Z",
    "results": {"successful": 4985, "warnings": 10, "errors": 5},
}
EGAIN_FAILED_SEED: dict[str, Any] = {
    "status": "Failed",
    "jobType": "Import",
    "progress": {"processed": 1250, "total": 5000, "percentage": 25},
    "logFileLocation": EGAIN_LOG,
    "startTime": "2024-03-01T10:00:00.000Z",
    "failureTime": "2024-03-01T10:45:00.000Z",
    "error": "Database connection timeout after processing 1250 items",
    "retryable": True,
}

EGAIN_TOKEN_SEED: dict[str, Any] = {
    "access_token": "eyJhbGciOiJSUzI1NiJ9.tok.sig",
    "token_type": "Bearer",
    "expires_in": 3599,
}

ALL_SEEDS: dict[str, dict[str, Any]] = {
    "milvus-list": MILVUS_LIST_SEED,
    "pymilvus-list": PYMILVUS_LIST_SEED,
    "zilliz-v1-list": ZILLIZ_V1_LIST_SEED,
    "zilliz-progress": ZILLIZ_PROGRESS_SEED,
    "zilliz-list": ZILLIZ_LIST_SEED,
    "milvus-describe": MILVUS_DESCRIBE_SEED,
    "milvus-create": MILVUS_CREATE_SEED,
    "egain-in-progress": EGAIN_IN_PROGRESS_SEED,
    "egain-validation-done": EGAIN_VALIDATION_DONE_SEED,
    "egain-failed": EGAIN_FAILED_SEED,
    "egain-token": EGAIN_TOKEN_SEED,
}


def seed(name: str) -> dict[str, Any]:
    """A deep copy of a recorded body, safe to modify in a test."""
    return copy.deepcopy(ALL_SEEDS[name])
