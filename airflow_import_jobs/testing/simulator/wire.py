"""Transport-neutral request and reply values, shared by the API handlers and the two adapters
(the ASGI app on a socket, the ``httpx.MockTransport`` handler without one)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

#: Keys whose values never reach ``Simulator.requests`` (compared lower-case).
SECRET_KEYS = frozenset(
    {
        "accesskey",
        "accesskeyid",
        "secretkey",
        "secretaccesskey",
        "token",
        "password",
        "client_secret",
        "access_token",
    }
)
REDACTED = "***"


@dataclass(frozen=True)
class SimRequest:
    """One HTTP request as the handlers see it; header names are lower-case."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes = b""

    @cached_property
    def json(self) -> tuple[bool, Any]:
        """``(True, value)`` when the body is JSON, else ``(False, None)``; parsed once per request."""
        try:
            return True, json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return False, None

    def form(self) -> dict[str, str]:
        """The body as ``application/x-www-form-urlencoded`` fields (last value wins)."""
        try:
            return dict(parse_qsl(self.body.decode(), keep_blank_values=True))
        except UnicodeDecodeError:
            return {}

    def bearer(self) -> str | None:
        """The bearer token of the ``Authorization`` header, if any."""
        scheme, _, value = self.headers.get("authorization", "").partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else None

    def recorded_body(self) -> Any:
        """The body for ``Simulator.requests``: JSON or form fields, secrets masked."""
        ok, value = self.json
        if ok:
            return redact(value)
        if "x-www-form-urlencoded" in self.headers.get("content-type", ""):
            return redact(self.form())
        return None


@dataclass(frozen=True)
class Reply:
    """What to answer. ``drop_after`` and ``stream_size`` are transport faults the adapters act out:
    close the connection after that many body bytes, or stream that many bytes of never-ending
    JSON (``faults.oversized_chunks``) instead of ``body``."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    drop_after: int | None = None
    stream_size: int | None = None

    def with_header(self, name: str, value: str) -> Reply:
        """A copy with one more header."""
        return Reply(self.status, (*self.headers, (name, value)), self.body, self.drop_after, self.stream_size)


class RecordedRequest(NamedTuple):
    """One received API request, secrets removed (``Simulator.requests``)."""

    backend: str
    endpoint: str
    method: str
    path: str
    headers: dict[str, str]
    body: Any


def dumps(payload: Any) -> bytes:
    """Compact JSON, as the real servers send it."""
    return json.dumps(payload, separators=(",", ":")).encode()


def json_reply(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    """A JSON answer."""
    return Reply(status, (("content-type", "application/json"), *headers), dumps(payload))


def text_reply(status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> Reply:
    """A text answer (gin's 404 page, proxy error pages, garbage)."""
    return Reply(status, (("content-type", content_type),), text.encode())


def not_found() -> Reply:
    """What gin answers for a route it does not know: Milvus servers too old for an endpoint."""
    return text_reply(404, "404 page not found")


def redact(value: Any) -> Any:
    """A deep copy of a JSON value with secret-looking fields masked."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if isinstance(k, str) and k.lower() in SECRET_KEYS else redact(v)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def go_kind(value: Any) -> str:
    """The JSON kind as Go's decoder names it in its error messages."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "object"


def iso_seconds(wall: float) -> str:
    """Milvus and Zilliz timestamps: ``2024-04-01T06:17:55Z``."""
    return datetime.fromtimestamp(wall, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_millis(wall: float) -> str:
    """eGain timestamps: ``2024-03-01T10:00:00.000Z``."""
    moment = datetime.fromtimestamp(wall, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
