"""Sans-IO building blocks shared by the three API modules.

An operation (get a job, list jobs, start one) is a *flow*: a generator that yields
:class:`Call` objects — a request to send and the function that parses its response — and is
sent back each parsed result, or has the parse error thrown into it. Multi-step exchanges
(Milvus ``describe`` falling back to ``get_progress``, Zilliz paging) are written once as plain
generator code; ``client.transport`` drives flows with a sync client and with an async one, and
tests drive them with recorded responses. Nothing here opens a socket, reads a clock or the
environment.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Generator, Mapping
from dataclasses import dataclass, field
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Any, Generic, NoReturn, TypeVar

from airflow_import_jobs.exceptions import (
    AuthenticationError,
    ImportJobError,
    InvalidRequestError,
    InvalidResponseError,
    JobNotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ResponseTooLargeError,
    TransientServiceError,
    UnsupportedOperationError,
)
from airflow_import_jobs.models import ImportJob

T = TypeVar("T")

#: Bodies larger than this are refused: no job record comes near it, and a runaway
#: response must not exhaust a triggerer's memory.
MAX_RESPONSE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A request to send, relative to the connection's base URL unless ``url`` is absolute.

    ``json`` and ``form`` may hold credentials (storage keys, client secrets): they are kept
    out of ``repr`` so a request never leaks through a log line or a traceback.
    """

    method: str
    url: str
    endpoint: str
    json: Any = field(default=None, repr=False)
    form: Mapping[str, str] | None = field(default=None, repr=False)
    #: Out of ``repr``: the engine adds the Authorization header here.
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    #: Safe to send again after it may have reached the server. Creates and starts are not.
    idempotent: bool = True
    #: Whether the connection's credentials go with it (the OAuth token request carries its own).
    authenticated: bool = True


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A response as the protocol sees it: status, lower-cased headers, the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes = field(repr=False)
    #: Wall-clock time (epoch seconds) the response arrived; turns an HTTP-date
    #: ``Retry-After`` into seconds without the parser reading a clock.
    received_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One exchange of a flow: send ``request``, turn the response into ``T`` with ``parse``."""

    request: HttpRequest
    parse: Callable[[HttpResponse], T]


Flow = Generator[Call[Any], Any, T]


@dataclass(frozen=True, slots=True)
class Listing:
    """One walk of a list endpoint: the jobs asked for, and what the walk cost.

    ``rows`` counts every record the server returned (all pages), parsed or not: the cost a
    caller weighs against asking for each job on its own.
    """

    jobs: list[ImportJob]
    rows: int
    pages: int
    #: Jobs asked for whose state spelling was the one the caller already had: not parsed, only
    #: their reported progress (None where the list has none).
    unchanged: dict[str, int | None] = field(default_factory=dict)


class ListingProtocol:
    """What the three API protocols share about listing: ``list_jobs`` is ``scan_jobs`` leaving nothing out."""

    def scan_jobs(
        self,
        *,
        job_ids: Collection[str] | None = None,
        collection_name: str | None = None,
        db_name: str | None = None,
        unchanged: Mapping[str, Any] | None = None,
    ) -> Flow[Listing]:
        """The listed jobs among ``job_ids`` (all when None), and what the walk cost."""
        raise NotImplementedError

    def list_jobs(self, *, collection_name: str | None = None, db_name: str | None = None) -> Flow[list[ImportJob]]:
        """Every listed job, optionally of one collection (and Milvus database)."""
        listing = yield from self.scan_jobs(collection_name=collection_name, db_name=db_name)
        return listing.jobs


def single(call: Call[T]) -> Flow[T]:
    """A flow of one exchange."""
    result: T = yield call
    return result


def refuse(error: ImportJobError) -> Generator[Call[Any], Any, NoReturn]:
    """A flow that fails before sending anything (an unsupported operation, bad input)."""
    raise error
    yield  # pragma: no cover - makes this function a generator


class EndpointMissingError(UnsupportedOperationError):
    """HTTP 404 on a route: the server is older (or newer) than the path we asked for."""


# -- reading responses -------------------------------------------------------------------


def retry_after_seconds(response: HttpResponse) -> float | None:
    """``Retry-After`` in seconds, from delta-seconds or an HTTP date; None when absent or garbled."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # the asctime form carries no zone; HTTP dates are always GMT
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - response.received_at)


def _describe_body(response: HttpResponse) -> str:
    content_type = response.headers.get("content-type", "")
    if not response.body:
        return "an empty body"
    if "html" in content_type or response.body.lstrip()[:1] == b"<":
        return "an HTML page (likely from a proxy or load balancer, not the API)"
    return f"{len(response.body)} bytes that are not JSON"


def decode_json(response: HttpResponse, api: str) -> Any:
    """The JSON body, or :class:`InvalidResponseError` (transient) saying what came instead.

    A body over ``MAX_RESPONSE_BYTES`` (which the transports already refuse to read) is
    :class:`ResponseTooLargeError`, not transient: the same request would bring it again.
    """
    if len(response.body) > MAX_RESPONSE_BYTES:
        raise ResponseTooLargeError(
            f"{api} sent a response of {len(response.body)} bytes, over the "
            f"{MAX_RESPONSE_BYTES}-byte limit; refusing to parse it.",
            http_status=response.status,
        )
    try:
        return json.loads(response.body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: absurdly nested JSON
        raise status_error(
            response, api, f"{api} answered HTTP {response.status} with {_describe_body(response)}"
        ) from None


_STATUS_ERRORS: dict[int, type[ImportJobError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: JobNotFoundError,
    405: InvalidRequestError,
    408: TransientServiceError,
    409: InvalidRequestError,
    413: InvalidRequestError,
    415: InvalidRequestError,
    422: InvalidRequestError,
    425: TransientServiceError,
    429: RateLimitedError,
}


def error_class_for_status(status: int) -> type[ImportJobError]:
    """The error class an HTTP status implies when the body says nothing more specific."""
    if status >= 500:
        return TransientServiceError
    if status in _STATUS_ERRORS:
        return _STATUS_ERRORS[status]
    if 200 <= status < 300:
        # A success status with an unreadable body: a cut or garbled response.
        return InvalidResponseError
    return ImportJobError


def status_error(
    response: HttpResponse,
    api: str,
    message: str,
    *,
    code: int | str | None = None,
    cls: type[ImportJobError] | None = None,
    job_id: str | None = None,
) -> ImportJobError:
    """Build the error for a failed response, with ``retry_after`` from its headers."""
    error_cls = cls or error_class_for_status(response.status)
    if error_cls is InvalidResponseError or (cls is None and response.status < 300 and not response.body):
        error_cls = InvalidResponseError
    return error_cls(
        message.rstrip(".") + ".",
        code=code,
        http_status=response.status,
        job_id=job_id,
        retry_after=retry_after_seconds(response),
    )


def expect_object(value: Any, api: str, what: str, response: HttpResponse) -> dict[str, Any]:
    """``value`` as a JSON object, or :class:`InvalidResponseError` naming what was expected."""
    if isinstance(value, dict):
        return value
    raise InvalidResponseError(
        f"{api} sent {what} as {_json_kind(value)} where an object was expected; "
        "the server may not be the API this connection is for.",
        http_status=response.status,
    )


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def server_text(value: Any, limit: int = 300) -> str:
    """A server-provided message made safe for one log line: single line, bounded length."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
