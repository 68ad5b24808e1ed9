"""HTTP I/O: the only module that knows httpx (sync) and aiohttp (async).

It performs the engine's two actions, ``Send`` and ``Sleep``, with a sync client (tasks: httpx) or
an async one (triggers, async hooks: aiohttp), and translates their errors into ours at this border.
Both send the same bytes: the body is encoded here once (:func:`_payload`), and both hand the
protocol the same :class:`HttpResponse`.

Cost matters in a triggerer that runs thousands of waits on one event loop, so:

* one ``ssl.SSLContext`` per ``verify`` setting per process — building one loads the CA bundle
  (~30 ms, ~0.9 MB), so it is built once, and off the event loop;
* one pooled ``aiohttp.ClientSession`` per event loop and TLS setting, shared by every hook and
  trigger in the process (requests carry absolute URLs, auth is per request), reference-counted
  and closed when its last user leaves;
* bodies are read with a size cap, so a runaway response cannot exhaust memory;
* the async path drives aiohttp directly: per request it costs about a seventh of the CPU of
  httpx's own async transport, and a quarter of httpx's API over aiohttp (``httpx-aiohttp``), at
  the concurrency the shared poll loop uses (measured by ``make bench``, BENCHMARKS.md).
  ``ASYNC_HTTP = "httpx"`` switches to httpx's own async client (the benchmark's comparison).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import ssl
import threading
import time
import urllib.parse
import weakref
from collections.abc import Iterable
from typing import Any, TypeVar

import aiohttp
import httpx

from airflow_import_jobs import __version__
from airflow_import_jobs.client.engine import Engine, Run, Send, Sleep
from airflow_import_jobs.exceptions import ImportJobError, ResponseTooLargeError, TransientServiceError
from airflow_import_jobs.protocol.base import MAX_RESPONSE_BYTES, Flow, HttpRequest, HttpResponse

T = TypeVar("T")
# A small pool: httpx scans every pooled connection per request, so its CPU cost grows with the pool.
_LIMITS = httpx.Limits(max_connections=16, max_keepalive_connections=16, keepalive_expiry=60.0)
#: The async client: ``"aiohttp"`` or ``"httpx"`` (httpx's own async client, for comparison).
ASYNC_HTTP = "aiohttp"
#: Sent with every request on both paths (httpx and aiohttp would each name themselves).
USER_AGENT = f"airflow-import-jobs/{__version__}"

AsyncClient = aiohttp.ClientSession | httpx.AsyncClient


@functools.lru_cache(maxsize=16)
def ssl_context(verify: bool | str) -> ssl.SSLContext:
    """The process's TLS context for a ``verify`` setting (True, False or a CA bundle path)."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if isinstance(verify, str):
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _context_or_error(verify: bool | str, label: str) -> ssl.SSLContext:
    try:
        return ssl_context(verify)
    except (OSError, ssl.SSLError) as exc:
        from airflow_import_jobs.exceptions import ConfigurationError

        raise ConfigurationError(
            f"The verify extra of {label} names a CA bundle that cannot be loaded ({verify!r}): {exc.strerror or exc}."
        ) from None


def _new_async_client(context: ssl.SSLContext) -> AsyncClient:
    if ASYNC_HTTP == "httpx":
        return httpx.AsyncClient(verify=context, limits=_LIMITS, trust_env=False)
    connector = aiohttp.TCPConnector(
        ssl=context, limit=_LIMITS.max_connections or 16, keepalive_timeout=_LIMITS.keepalive_expiry or 60.0
    )
    # No cookie jar: no API here uses cookies, and a jar costs a parse and a lookup per request.
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False)


class _AsyncClientPool:
    """One shared async client per (event loop, TLS setting), reference-counted."""

    def __init__(self) -> None:
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, list[Any]]] = (
            weakref.WeakKeyDictionary()
        )

    async def acquire(self, verify: bool | str, label: str) -> AsyncClient:
        loop = asyncio.get_running_loop()
        clients = self._clients.setdefault(loop, {})
        entry = clients.get(verify)
        if entry is None:
            # Building a context reads the CA bundle from disk: never on the loop.
            context = await asyncio.to_thread(_context_or_error, verify, label)
            entry = clients.get(verify)  # another task may have built it meanwhile
            if entry is None:
                entry = clients[verify] = [_new_async_client(context), 0]
        entry[1] += 1
        client: AsyncClient = entry[0]
        return client

    async def release(self, verify: bool | str) -> None:
        loop = asyncio.get_running_loop()
        clients = self._clients.get(loop, {})
        entry = clients.get(verify)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del clients[verify]
            client = entry[0]
            await (client.close() if isinstance(client, aiohttp.ClientSession) else client.aclose())

    def users(self) -> int:
        """How many transports hold a client on the running loop (for tests and benchmarks)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return 0
        return sum(entry[1] for entry in self._clients.get(loop, {}).values())


async_clients = _AsyncClientPool()


class _CappedBody:
    """Collects a streamed body, refusing one over ``MAX_RESPONSE_BYTES`` as early as it can tell."""

    def __init__(self, declared: str, url: str) -> None:
        self.url = url
        self.data = bytearray()
        if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
            raise _too_large(int(declared), url)

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > MAX_RESPONSE_BYTES:
            raise _too_large(len(self.data), self.url)


def _too_large(size: int, url: str) -> ImportJobError:
    return ResponseTooLargeError(
        f"The response from {url} is larger than {MAX_RESPONSE_BYTES} bytes (at least {size}); refusing to read it. "
        "Is the connection's host the import API?"
    )


def _payload(request: HttpRequest) -> tuple[bytes | None, dict[str, str]]:
    """The body's bytes and the request's headers, the same for both clients."""
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **dict(request.headers)}
    if request.json is not None:
        headers["Content-Type"] = "application/json"
        # httpx's own encoding: compact, UTF-8, no NaN (which no JSON parser on the server accepts)
        body = json.dumps(request.json, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return body.encode(), headers
    if request.form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return urllib.parse.urlencode(request.form).encode(), headers
    return None, headers


def _response(status: int, header_items: Iterable[tuple[str, str]], body: bytes) -> HttpResponse:
    headers: dict[str, str] = {}
    for name, value in header_items:  # lower-cased; a repeated header's values joined, as httpx does
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return HttpResponse(status=status, headers=headers, body=body, received_at=time.time())


def _network_error(exc: Exception, request: HttpRequest, api: str, timeout: float) -> ImportJobError:
    where = f"{api} /{request.endpoint}"
    if isinstance(exc, aiohttp.ClientError):
        return _aiohttp_error(exc, where, timeout)
    if isinstance(exc, asyncio.TimeoutError):  # an aiohttp timeout that is not a ClientError
        return TransientServiceError(f"{where} sent no response within the {timeout:g} s timeout.")
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return TransientServiceError(
            f"Could not connect to {where}: {type(exc).__name__} ({exc}); is the host reachable?",
            reached_server=False,
        )
    if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout)):
        return TransientServiceError(f"{where} sent no response within the {timeout:g} s timeout.")
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return TransientServiceError(f"{where} dropped the connection mid-response ({type(exc).__name__}).")
    return TransientServiceError(f"{where} failed: {type(exc).__name__} ({exc}).")


def _aiohttp_error(exc: aiohttp.ClientError, where: str, timeout: float) -> ImportJobError:
    if isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)):
        return TransientServiceError(
            f"Could not connect to {where}: {type(exc).__name__} ({exc}); is the host reachable?",
            reached_server=False,
        )
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return TransientServiceError(f"{where} sent no response within the {timeout:g} s timeout.")
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientOSError)):
        return TransientServiceError(f"{where} dropped the connection mid-response ({type(exc).__name__}).")
    return TransientServiceError(f"{where} failed: {type(exc).__name__} ({exc}).")


class Transport:
    """Moves bytes for one connection: runs flows through the engine over httpx.

    :param base_url: Joined with relative request paths (absolute ones, like a token URL, go as is).
    :param engine: Decides retries, auth and rate limits.
    """

    def __init__(self, *, base_url: str, engine: Engine, timeout: float = 30.0, verify: bool | str = True) -> None:
        self.base_url = base_url.rstrip("/")
        self.engine = engine
        self.timeout = timeout
        self.verify = verify
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()
        self._aclient: AsyncClient | None = None
        self._aclient_loop: asyncio.AbstractEventLoop | None = None
        # Connecting (incl. waiting for a pooled connection) and each read: as httpx's timeout does.
        self._atimeout = aiohttp.ClientTimeout(total=None, connect=timeout, sock_connect=timeout, sock_read=timeout)

    def __repr__(self) -> str:
        return f"Transport(base_url={self.base_url!r})"

    def _url(self, request: HttpRequest) -> str:
        return request.url if "://" in request.url else self.base_url + request.url

    def _build(self, client: httpx.Client | httpx.AsyncClient, request: HttpRequest) -> httpx.Request:
        body, headers = _payload(request)
        return client.build_request(
            request.method, self._url(request), content=body, headers=headers, timeout=self.timeout
        )

    # -- sync -----------------------------------------------------------------------------

    def run(self, flow: Flow[T]) -> T:
        """Run a protocol flow to its result with the sync client."""
        return self._drive(self.engine.execute(flow))

    def _drive(self, run: Run[T]) -> T:
        value: Any = None
        error: ImportJobError | None = None
        while True:
            try:
                action = run.throw(error) if error is not None else run.send(value)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            value, error = None, None
            if isinstance(action, Sleep):
                time.sleep(action.seconds)
                continue
            try:
                value = self._send(action)
            except ImportJobError as exc:
                error = exc

    def _send(self, action: Send) -> HttpResponse:
        client = self._sync_client()
        request = self._build(client, action.request)
        try:
            response = client.send(request, stream=True)
            try:
                body = _CappedBody(response.headers.get("content-length", ""), str(request.url))
                for chunk in response.iter_bytes():
                    body.add(chunk)
            finally:
                response.close()
        except httpx.HTTPError as exc:
            raise _network_error(exc, action.request, self.engine.api, self.timeout) from exc
        return _response(response.status_code, response.headers.multi_items(), bytes(body.data))

    def _sync_client(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                context = _context_or_error(self.verify, self.engine.label)
                self._client = httpx.Client(verify=context, limits=_LIMITS, trust_env=False)
            return self._client

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- async ----------------------------------------------------------------------------

    async def arun(self, flow: Flow[T]) -> T:
        """Run a protocol flow to its result with the shared async client of the running loop."""
        run = self.engine.execute(flow)
        value: Any = None
        error: ImportJobError | None = None
        while True:
            try:
                action = run.throw(error) if error is not None else run.send(value)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            value, error = None, None
            if isinstance(action, Sleep):
                await asyncio.sleep(action.seconds)
                continue
            try:
                value = await self._asend(action)
            except ImportJobError as exc:
                error = exc

    async def _asend(self, action: Send) -> HttpResponse:
        client = await self._async_client()
        try:
            if isinstance(client, httpx.AsyncClient):
                return await self._asend_httpx(client, action.request)
            return await self._asend_aiohttp(client, action.request)
        except (httpx.HTTPError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise _network_error(exc, action.request, self.engine.api, self.timeout) from exc

    async def _asend_aiohttp(self, session: aiohttp.ClientSession, request: HttpRequest) -> HttpResponse:
        url = self._url(request)
        body, headers = _payload(request)
        async with session.request(
            request.method, url, data=body, headers=headers, timeout=self._atimeout, allow_redirects=False
        ) as response:
            capped = _CappedBody(response.headers.get("Content-Length", ""), url)
            async for chunk in response.content.iter_any():
                capped.add(chunk)
            return _response(response.status, response.headers.items(), bytes(capped.data))

    async def _asend_httpx(self, client: httpx.AsyncClient, request: HttpRequest) -> HttpResponse:
        built = self._build(client, request)
        response = await client.send(built, stream=True)
        try:
            capped = _CappedBody(response.headers.get("content-length", ""), str(built.url))
            async for chunk in response.aiter_bytes():
                capped.add(chunk)
        finally:
            await response.aclose()
        return _response(response.status_code, response.headers.multi_items(), bytes(capped.data))

    async def _async_client(self) -> AsyncClient:
        loop = asyncio.get_running_loop()
        if self._aclient is None or self._aclient_loop is not loop:
            self._aclient = await async_clients.acquire(self.verify, self.engine.label)
            self._aclient_loop = loop
        return self._aclient

    async def aclose(self) -> None:
        """Give the shared async client back; the last user closes it."""
        if self._aclient is not None and self._aclient_loop is asyncio.get_running_loop():
            self._aclient = None
            self._aclient_loop = None
            await async_clients.release(self.verify)
