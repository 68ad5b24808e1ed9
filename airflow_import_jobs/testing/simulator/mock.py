"""The simulator behind ``httpx.MockTransport``: the same handlers, no socket.

For narrow unit tests; base URLs are those of :class:`SimulatorServer` on any host
(``http://sim``, ``http://sim/zilliz``, ``http://sim/egain``). Faults act out without waiting:
a ``delay`` longer than the request's read timeout raises ``httpx.ReadTimeout``, a shorter one is
skipped; ``drop`` raises ``httpx.RemoteProtocolError``; ``oversized`` streams its bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import httpx

from airflow_import_jobs.testing.simulator import dispatch, faults
from airflow_import_jobs.testing.simulator.state import Simulator
from airflow_import_jobs.testing.simulator.wire import SimRequest


class _Oversized(httpx.SyncByteStream, httpx.AsyncByteStream):
    def __init__(self, size: int) -> None:
        self._size = size

    def __iter__(self) -> Iterator[bytes]:
        yield from faults.oversized_chunks(self._size)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in faults.oversized_chunks(self._size):
            yield chunk


def mock_handler(sim: Simulator) -> Callable[[httpx.Request], httpx.Response]:
    """A ``handler(request) -> response`` serving ``sim``."""

    def handle(request: httpx.Request) -> httpx.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        exchange = dispatch.begin(sim, SimRequest(request.method, request.url.path, headers, request.read()))
        # The server does the work even when the client gives up waiting for the answer.
        reply = dispatch.finish(sim, exchange)
        fault = exchange.fault
        if fault is not None and fault.delay > 0:
            read_timeout = request.extensions.get("timeout", {}).get("read")
            if read_timeout is not None and fault.delay > read_timeout:
                raise httpx.ReadTimeout("simulated slow response", request=request)
        if reply.drop_after is not None:
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body", request=request
            )
        if reply.stream_size is not None:
            return httpx.Response(reply.status, headers=list(reply.headers), stream=_Oversized(reply.stream_size))
        return httpx.Response(reply.status, headers=list(reply.headers), content=reply.body)

    return handle


def mock_transport(sim: Simulator) -> httpx.MockTransport:
    """An httpx transport (sync and async clients alike) answering from ``sim``."""
    return httpx.MockTransport(mock_handler(sim))
