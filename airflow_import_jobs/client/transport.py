"""HTTP I/O: the only module that knows httpx (and aiohttp under it).

It performs the engine's two actions, ``Send`` and ``Sleep``, with a sync client (tasks) or an
async one (triggers, async hooks), and translates httpx and aiohttp errors into ours at this border.

Cost matters in a triggerer that runs thousands of waits on one event loop, so:

* one ``ssl.SSLContext`` per ``verify`` setting per process — building one loads the CA bundle
  (~30 ms, ~0.9 MB), so it is built once, and off the event loop;
* one pooled ``httpx.AsyncClient`` per event loop and TLS setting, shared by every hook and
  trigger in the process (requests carry absolute URLs, auth is per request), reference-counted
  and closed when its last user leaves;
* bodies are read with a size cap, so a runaway response cannot exhaust memory;
* the async client keeps httpx's API over an aiohttp transport (``httpx-aiohttp``): per request it
  costs about a third of the CPU of httpx's own transport at the concurrency the shared poll loop
  uses (measured by ``make bench``, BENCHMARKS.md). ``ASYNC_HTTP = "httpx"`` switches back.
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import threading
import time
import weakref
from typing import Any, TypeVar

import aiohttp
import httpx
from httpx_aiohttp import HttpxAiohttpClient

from airflow_import_jobs.client.engine import Engine, Run, Send, Sleep
from airflow_import_jobs.exceptions import ImportJobError, InvalidResponseError, TransientServiceError
from airflow_import_jobs.protocol.base import MAX_RESPONSE_BYTES, Flow, HttpRequest, HttpResponse

T = TypeVar("T")
# A small pool: httpx scans every pooled connection per request, so its CPU cost grows with the pool.
_LIMITS = httpx.Limits(max_connections=16, max_keepalive_connections=16, keepalive_expiry=60.0)
#: The async client's transport: ``"aiohttp"`` (httpx's API over aiohttp) or ``"httpx"`` (its own).
ASYNC_HTTP = "aiohttp"


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


class _AsyncClientPool:
    """One shared ``AsyncClient`` per (event loop, TLS setting), reference-counted."""

    def __init__(self) -> None:
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, list[Any]]] = (
            weakref.WeakKeyDictionary()
        )

    async def acquire(self, verify: bool | str, label: str) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        clients = self._clients.setdefault(loop, {})
        entry = clients.get(verify)
        if entry is None:
            # Building a context reads the CA bundle from disk: never on the loop.
            context = await asyncio.to_thread(_context_or_error, verify, label)
            entry = clients.get(verify)  # another task may have built it meanwhile
            if entry is None:
                client_class = HttpxAiohttpClient if ASYNC_HTTP == "aiohttp" else httpx.AsyncClient
                entry = clients[verify] = [client_class(verify=context, limits=_LIMITS, trust_env=False), 0]
        entry[1] += 1
        client: httpx.AsyncClient = entry[0]
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
            await entry[0].aclose()

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

    def __init__(self, response: httpx.Response, url: str) -> None:
        self.url = url
        self.data = bytearray()
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
            raise _too_large(int(declared), url)

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > MAX_RESPONSE_BYTES:
            raise _too_large(len(self.data), self.url)


def _too_large(size: int, url: str) -> ImportJobError:
    error = InvalidResponseError(
        f"The response from {url} is larger than {MAX_RESPONSE_BYTES} bytes (at least {size}); refusing to read it. "
        "Is the connection's host the import API?"
    )
    error.transient = False  # the same request would bring the same flood
    return error


def _response(response: httpx.Response, body: bytes) -> HttpResponse:
    headers = {k.lower(): v for k, v in response.headers.items()}
    return HttpResponse(status=response.status_code, headers=headers, body=body, received_at=time.time())


def _network_error(exc: Exception, request: HttpRequest, api: str, timeout: float) -> ImportJobError:
    where = f"{api} /{request.endpoint}"
    # httpx-aiohttp maps aiohttp's errors onto httpx's loosely (a dropped connection becomes a
    # ConnectTimeout): judge by aiohttp's own error, above all whether the request reached the server.
    cause = exc if isinstance(exc, aiohttp.ClientError) else exc.__cause__
    if isinstance(cause, aiohttp.ClientError):
        return _aiohttp_error(cause, where, timeout)
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
        self._aclient: httpx.AsyncClient | None = None
        self._aclient_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"Transport(base_url={self.base_url!r})"

    def _build(self, client: httpx.Client | httpx.AsyncClient, request: HttpRequest) -> httpx.Request:
        url = request.url if "://" in request.url else self.base_url + request.url
        return client.build_request(
            request.method,
            url,
            json=request.json,
            data=request.form,
            headers=dict(request.headers),
            timeout=self.timeout,
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
                body = _CappedBody(response, str(request.url))
                for chunk in response.iter_bytes():
                    body.add(chunk)
            finally:
                response.close()
        except httpx.HTTPError as exc:
            raise _network_error(exc, action.request, self.engine.api, self.timeout) from exc
        return _response(response, bytes(body.data))

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
        request = self._build(client, action.request)
        try:
            response = await client.send(request, stream=True)
            try:
                body = _CappedBody(response, str(request.url))
                async for chunk in response.aiter_bytes():
                    body.add(chunk)
            finally:
                await response.aclose()
        except (httpx.HTTPError, aiohttp.ClientError) as exc:
            raise _network_error(exc, action.request, self.engine.api, self.timeout) from exc
        return _response(response, bytes(body.data))

    async def _async_client(self) -> httpx.AsyncClient:
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
