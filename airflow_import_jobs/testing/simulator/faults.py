"""Injectable faults: what they are, which request takes them, and the reply each one makes.

A fault is queued for a backend (``milvus``, ``zilliz``, ``egain``, ``egain_token``) and
optionally one endpoint (the last path word: ``describe``, ``getProgress``, ``status``, ``token``,
``content`` for eGain's start, ...). Each matching request takes the oldest matching entry.

Whether the server did the work matters to a client deciding whether to resend a create:

* ``slow``, ``drop`` and ``truncated`` run the real handler (the job is created, read, advanced)
  and then delay, cut or break the answer;
* every other kind replaces the answer and leaves the state untouched.

``delay`` applies to every kind (sleep first, then answer); ``retry_after`` adds that exact
``Retry-After`` header to every kind.
"""

from __future__ import annotations

import http
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

from airflow_import_jobs.testing.simulator.wire import Reply, dumps, json_reply, text_reply

KINDS = frozenset(
    {"status", "html", "drop", "slow", "truncated", "non_json", "wrong_shape", "empty", "error200", "oversized"}
)
BACKENDS = frozenset({"milvus", "zilliz", "egain", "egain_token"})
#: Kinds after which the request has still been processed.
PROCESSED_KINDS = frozenset({"slow", "drop", "truncated"})

_HTML_PAGE = (
    "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_GARBAGE = "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
_WRONG_SHAPES: dict[str, Any] = {
    "milvus": {"code": 0, "data": [1, 2, 3]},
    "zilliz": {"code": 0, "data": [1, 2, 3]},
    "egain": [{"status": 42, "progress": "half"}],
    "egain_token": {"access_token": 12345, "expires_in": "soon"},
}
#: Cut instead when the real answer has no body (eGain's 202).
_TRUNCATED_STANDINS: dict[str, Any] = {
    "milvus": {"code": 0, "data": {"jobId": "448761313698322011"}},
    "zilliz": {"code": 0, "data": {"jobId": "job-0000000000000000000000"}},
    "egain": {"status": "In Progress", "jobType": "Import", "progress": {"processed": 1250, "total": 5000}},
    "egain_token": {"access_token": "x" * 40, "token_type": "Bearer", "expires_in": 3600},
}
#: Start of an oversized body: valid JSON that never closes.
_OVERSIZED_PREFIX = b'{"code":0,"data":{"records":['
_OVERSIZED_ITEM = b'{"jobId":"448761313698322011","collectionName":"quick_setup","state":"Pending","progress":10},'
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour.

    :param kind: ``status`` (HTTP ``status`` with a JSON error body, or ``body``), ``html`` (proxy
        HTML error page, 502 unless ``status``), ``drop`` (headers, half the body, then the
        connection closes), ``slow`` (wait ``delay`` s, then answer normally), ``truncated`` (the
        real body cut in half, 200 unless the real answer had another status), ``non_json`` (200
        text/plain garbage), ``wrong_shape`` (200 JSON of the wrong shape), ``empty`` (200 with no
        body), ``error200`` (HTTP 200 with an API error ``code``/``message``), ``oversized`` (200,
        ``size`` bytes streamed chunked, a valid JSON prefix that never ends).
    :param status: HTTP status for ``status`` (default 503) and ``html`` (default 502).
    :param retry_after: exact ``Retry-After`` value ("2", or an HTTP date); None sends none.
    :param code: API error code for ``status`` and ``error200`` (an int, or eGain's "500-100").
    :param message: API error message for ``status`` and ``error200``.
    :param delay: seconds to wait before answering (any kind).
    :param size: body size of ``oversized``.
    :param body: exact body for ``status``/``html`` instead of the generated one.
    """

    kind: str
    status: int | None = None
    retry_after: str | None = None
    code: int | str | None = None
    message: str | None = None
    delay: float = 0.0
    size: int = 64 * 1024 * 1024
    body: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"fault kind must be one of {sorted(KINDS)}, not {self.kind!r}")
        if self.delay < 0 or self.size < len(_OVERSIZED_PREFIX):
            raise ValueError("delay must be >= 0 and size must hold the JSON prefix")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Fault:
        """Build from JSON (the control API); unknown keys are refused."""
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown Fault fields: {sorted(unknown)}")
        return cls(**values)


@dataclass
class _Entry:
    backend: str
    endpoint: str | None
    fault: Fault
    remaining: int


class FaultQueue:
    """Queued faults in injection order; not thread-safe (the simulator's lock guards it)."""

    def __init__(self) -> None:
        self._entries: list[_Entry] = []

    def add(self, backend: str, fault: Fault, count: int, endpoint: str | None) -> None:
        """Queue ``fault`` for the next ``count`` matching requests."""
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {sorted(BACKENDS)}, not {backend!r}")
        if count < 1:
            raise ValueError("count must be >= 1")
        self._entries.append(_Entry(backend, endpoint, fault, count))

    def take(self, backend: str, endpoint: str) -> Fault | None:
        """The fault for this request, if one is queued; uses it up."""
        for i, entry in enumerate(self._entries):
            if entry.backend == backend and entry.endpoint in (None, endpoint):
                entry.remaining -= 1
                if entry.remaining == 0:
                    del self._entries[i]
                return entry.fault
        return None

    def clear(self) -> None:
        """Drop every queued fault."""
        self._entries.clear()

    def __len__(self) -> int:
        return sum(e.remaining for e in self._entries)


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _error_body(backend: str, status: int, code: int | str | None, message: str | None) -> Any:
    """An API-shaped error body for this backend."""
    text = message or _phrase(status)
    if backend == "egain_token":
        return {"error": str(code) if code is not None else "temporarily_unavailable", "error_description": text}
    if backend == "egain":
        default = {429: "429-001", 500: "500-100"}.get(status, f"{status}-100")
        return {
            "code": str(code) if code is not None else default,
            "developerMessage": text,
            "details": [],
            "userMessage": text,
        }
    return {"code": code if code is not None else status, "message": text}


def apply(fault: Fault | None, backend: str, real: Reply | None) -> Reply:
    """The reply for a request that took ``fault``; ``real`` is the handler's answer when the kind
    lets the request be processed (see the module docstring)."""
    reply = _shape(fault, backend, real) if fault is not None else real
    assert reply is not None, "the handler must run when there is no fault"
    if fault is not None and fault.retry_after is not None:
        reply = reply.with_header("retry-after", fault.retry_after)
    return reply


def _shape(fault: Fault, backend: str, real: Reply | None) -> Reply:
    kind = fault.kind
    if kind in PROCESSED_KINDS:
        assert real is not None
        if kind == "slow":
            return real
        if kind == "drop":
            # The full length is announced so the client sees a short read, not a short message;
            # a bodiless answer gets a body to break (204 cannot have one: only the close shows).
            body = real.body or (b"" if real.status in (204, 304) else b"{}")
            return Reply(real.status, real.headers, body, drop_after=len(body) // 2)
        body = real.body or dumps(_TRUNCATED_STANDINS[backend])
        headers = tuple((k, v) for k, v in real.headers if k != "location") or (("content-type", "application/json"),)
        return Reply(real.status if real.body else 200, headers, body[: max(1, len(body) // 2)])
    if kind == "status":
        status = fault.status or 503
        if fault.body is not None:
            return _exact_body(status, fault.body)
        return json_reply(status, _error_body(backend, status, fault.code, fault.message))
    if kind == "html":
        status = fault.status or 502
        if fault.body is not None:
            return text_reply(status, fault.body, "text/html")
        return text_reply(status, _HTML_PAGE.format(status=status, phrase=_phrase(status)), "text/html")
    if kind == "non_json":
        return text_reply(200, _GARBAGE)
    if kind == "wrong_shape":
        return json_reply(200, _WRONG_SHAPES[backend])
    if kind == "empty":
        return Reply(200, (("content-type", "application/json"),), b"")
    if kind == "error200":
        default: int | str = {"egain": "500-100", "egain_token": "server_error"}.get(backend, 65535)
        code = fault.code if fault.code is not None else default
        return json_reply(200, _error_body(backend, 500, code, fault.message or "unexpected error"))
    # oversized
    return Reply(200, (("content-type", "application/json"),), b"", stream_size=fault.size)


def _exact_body(status: int, body: str) -> Reply:
    stripped = body.lstrip()
    json_like = stripped.startswith(("{", "["))
    return text_reply(status, body, "application/json" if json_like else "text/plain; charset=utf-8")


def oversized_chunks(size: int) -> Iterator[bytes]:
    """``size`` bytes of a JSON list that never closes, in 64 KiB chunks."""
    items_per_chunk = max(1, _CHUNK // len(_OVERSIZED_ITEM))
    block = _OVERSIZED_ITEM * items_per_chunk
    sent = 0
    first = _OVERSIZED_PREFIX
    while sent < size:
        chunk = (first + block)[: size - sent]
        first = b""
        sent += len(chunk)
        yield chunk
