"""One API request from arrival to reply, the same for the socket and the mock transport.

:func:`begin` routes, counts, logs and picks a queued fault; the adapter then waits out the
fault's ``delay`` (asynchronously, outside the lock); :func:`finish` runs the handler when the
fault lets the request be processed, and shapes the reply.

Backends by path: ``/zilliz/...`` is Zilliz Cloud, ``/egain/...`` eGain (and its token endpoint),
everything else Milvus. The endpoint is the last path word (``describe``, ``getProgress``,
``content`` for eGain's start, ``token``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from airflow_import_jobs.testing.simulator import egain, faults, milvus, zilliz
from airflow_import_jobs.testing.simulator.faults import Fault
from airflow_import_jobs.testing.simulator.state import Simulator
from airflow_import_jobs.testing.simulator.wire import Reply, SimRequest, not_found

Handler = Callable[[Simulator, SimRequest], Reply]


@dataclass(frozen=True)
class Route:
    """Where a request goes: counter/log names, the fault queue's backend name, the handler."""

    backend: str
    endpoint: str
    fault_backend: str
    handler: Handler


@dataclass(frozen=True)
class Exchange:
    """A request between :func:`begin` and :func:`finish`."""

    request: SimRequest
    route: Route
    fault: Fault | None
    generation: int


def _last_word(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1] or "unknown"


def _not_found(sim: Simulator, request: SimRequest) -> Reply:
    return not_found()


def resolve(path: str) -> Route:
    """The route for a path (unknown paths get a 404 handler, still counted)."""
    if path.startswith("/egain/"):
        endpoint, fault_backend, handler = egain.route(path)
        return Route("egain", endpoint, fault_backend, handler)
    if path.startswith(zilliz.PREFIX):
        endpoint = path[len(zilliz.PREFIX) :]
        return Route("zilliz", endpoint, "zilliz", lambda sim, request: zilliz.handle(sim, endpoint, request))
    if path.startswith("/zilliz/"):
        return Route("zilliz", _last_word(path), "zilliz", _not_found)
    if path.startswith(milvus.PREFIX):
        endpoint = path[len(milvus.PREFIX) :]
        return Route("milvus", endpoint, "milvus", lambda sim, request: milvus.handle(sim, endpoint, request))
    return Route("milvus", _last_word(path), "milvus", _not_found)


def begin(sim: Simulator, request: SimRequest) -> Exchange:
    """Route, count and log the request, and take the fault queued for it, if any."""
    route = resolve(request.path)
    with sim.lock:
        sim.record(route.backend, route.endpoint, request)
        fault = sim.faults.take(route.fault_backend, route.endpoint)
        return Exchange(request, route, fault, sim.generation)


def finish(sim: Simulator, exchange: Exchange) -> Reply:
    """The reply: the handler's, the fault's, or the handler's shaped by the fault."""
    fault = exchange.fault
    real = None
    if fault is None or fault.kind in faults.PROCESSED_KINDS:
        with sim.lock:
            if sim.generation != exchange.generation:
                # Reset while this request waited: like a server restart, it dies unprocessed.
                return faults.apply(Fault("status", status=503), exchange.route.fault_backend, None)
            real = exchange.route.handler(sim, exchange.request)
    return faults.apply(fault, exchange.route.fault_backend, real)
