"""The simulator as one ASGI app: the three APIs, and a control API under ``/_sim`` for a
simulator running in another process (demo, benchmarks).

Control API (JSON; errors are ``400 {"error": "..."}``):

* ``GET /_sim/health`` → ``{"status": "ok", "jobs": n}``
* ``POST /_sim/reset``
* ``GET /_sim/counters`` → ``Simulator.counters()``
* ``GET /_sim/requests?limit=N`` → the last N recorded requests (secrets masked)
* ``POST /_sim/jobs`` ``{"backend", "collection_name"?, "db_name"?, "cluster_id"?, "job_type"?,
  "files"?, "count"?, "lifecycle"?: {Lifecycle fields}}`` → ``{"job_ids": [...]}``
* ``GET /_sim/jobs/{job_id}`` → the job's fields (without advancing it)
* ``POST /_sim/collections`` ``{"backend": "milvus"|"zilliz", "collections": [...], "db_name"?,
  "partitions"?: [...]}``: make collections (and their database and partitions) exist
* ``POST /_sim/faults`` ``{"backend", "fault": {Fault fields}, "count"?, "endpoint"?}``
* ``GET /_sim/config``; ``POST /_sim/config`` ``{name: value}`` (``Simulator.configure``)

Control requests are neither counted nor logged.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, fields
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from airflow_import_jobs.testing.simulator import dispatch, faults
from airflow_import_jobs.testing.simulator.faults import Fault
from airflow_import_jobs.testing.simulator.jobs import Job
from airflow_import_jobs.testing.simulator.lifecycle import Lifecycle
from airflow_import_jobs.testing.simulator.state import Simulator
from airflow_import_jobs.testing.simulator.wire import Reply, SimRequest, redact

MAX_BULK_JOBS = 100_000


class ApiApp:
    """ASGI app answering the Milvus, Zilliz Cloud and eGain paths from a :class:`Simulator`."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request = SimRequest(scope["method"], scope["path"], headers, bytes(body))
        exchange = dispatch.begin(self.sim, request)
        if exchange.fault is not None and exchange.fault.delay > 0:
            await asyncio.sleep(exchange.fault.delay)
        await send_reply(send, dispatch.finish(self.sim, exchange))


async def send_reply(send: Send, reply: Reply) -> None:
    """Send a reply, acting out the transport faults it carries."""
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
    if reply.stream_size is not None:
        # No Content-Length: the client has to cap what it reads by itself.
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        for chunk in faults.oversized_chunks(reply.stream_size):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    if reply.status not in (204, 304):
        headers.append((b"content-length", str(len(reply.body)).encode()))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    if reply.drop_after is not None:
        # Returning with the response unfinished makes uvicorn close the connection.
        await send({"type": "http.response.body", "body": reply.body[: reply.drop_after], "more_body": True})
        return
    await send({"type": "http.response.body", "body": reply.body})


def _sim(request: Request) -> Simulator:
    sim: Simulator = request.app.state.sim
    return sim


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    payload = json.loads(raw)
    if not isinstance(payload, dict):
        raise ValueError("expected a JSON object")
    return payload


def job_snapshot(job: Job) -> dict[str, Any]:
    """A job's fields as JSON (request body secrets masked)."""
    out: dict[str, Any] = {"type": type(job).__name__}
    for f in fields(job):
        value = getattr(job, f.name)
        if f.name == "lifecycle":
            value = asdict(value)
        elif f.name == "files":
            value = [asdict(x) for x in value]
        elif f.name == "request_body":
            value = redact(value)
        out[f.name] = value
    return out


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "jobs": len(_sim(request).jobs())})


async def _reset(request: Request) -> Response:
    _sim(request).reset()
    return JSONResponse({"status": "reset"})


async def _counters(request: Request) -> Response:
    return JSONResponse(_sim(request).counters())


async def _requests(request: Request) -> Response:
    try:
        limit = int(request.query_params.get("limit", "100"))
    except ValueError:
        return _bad("limit must be an integer")
    recent = _sim(request).requests[-limit:] if limit > 0 else []
    return JSONResponse([r._asdict() for r in recent])


def _add_jobs(sim: Simulator, payload: dict[str, Any]) -> list[str]:
    backend = payload.get("backend")
    count = payload.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_BULK_JOBS:
        raise ValueError(f"count must be an integer in 1..{MAX_BULK_JOBS}")
    raw_lifecycle = payload.get("lifecycle")
    lifecycle = Lifecycle.from_dict(raw_lifecycle) if isinstance(raw_lifecycle, dict) else None
    files = payload.get("files")
    with sim.lock:
        if backend == "milvus":
            return [
                sim.add_milvus_job(
                    payload.get("collection_name", "quick_setup"),
                    payload.get("db_name", "default"),
                    lifecycle,
                    files=files,
                )
                for _ in range(count)
            ]
        if backend == "zilliz":
            collection = payload.get("collection_name", "medium_articles")
            cluster = payload.get("cluster_id")
            return [sim.add_zilliz_job(collection, lifecycle, cluster, files=files) for _ in range(count)]
        if backend == "egain":
            job_type = payload.get("job_type", "Import")
            return [sim.add_egain_job(job_type, lifecycle) for _ in range(count)]
    raise ValueError("backend must be milvus, zilliz or egain")


async def _jobs(request: Request) -> Response:
    try:
        ids = _add_jobs(_sim(request), await _json_object(request))
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))
    return JSONResponse({"job_ids": ids})


async def _job(request: Request) -> Response:
    try:
        job = _sim(request).job(request.path_params["job_id"])
    except KeyError:
        return JSONResponse({"error": "no such job"}, status_code=404)
    with _sim(request).lock:
        return JSONResponse(job_snapshot(job))


async def _collections(request: Request) -> Response:
    sim = _sim(request)
    try:
        payload = await _json_object(request)
        sim.add_collections(
            str(payload.get("backend")),
            payload.get("collections", []),
            db_name=str(payload.get("db_name", "default")),
            partitions=payload.get("partitions", []),
        )
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))
    return JSONResponse(sim.config())


async def _faults(request: Request) -> Response:
    try:
        payload = await _json_object(request)
        fault = payload.get("fault")
        if not isinstance(fault, dict):
            raise ValueError("fault must be an object of Fault fields")
        _sim(request).inject(
            str(payload.get("backend")),
            Fault.from_dict(fault),
            count=int(payload.get("count", 1)),
            endpoint=payload.get("endpoint"),
        )
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))
    return JSONResponse({"queued": len(_sim(request).faults)})


async def _config(request: Request) -> Response:
    sim = _sim(request)
    if request.method == "POST":
        try:
            sim.configure(**await _json_object(request))
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
    return JSONResponse(sim.config())


class SimulatorApp:
    """The ASGI app serving a :class:`Simulator`: ``/_sim/*`` to the Starlette control app, every
    other path straight to :class:`ApiApp` (skipping the router keeps the hot path cheap)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.api = ApiApp(sim)
        self.control = Starlette(
            routes=[
                Route("/_sim/health", _health, methods=["GET"]),
                Route("/_sim/reset", _reset, methods=["POST"]),
                Route("/_sim/counters", _counters, methods=["GET"]),
                Route("/_sim/requests", _requests, methods=["GET"]),
                Route("/_sim/jobs", _jobs, methods=["POST"]),
                Route("/_sim/jobs/{job_id}", _job, methods=["GET"]),
                Route("/_sim/collections", _collections, methods=["POST"]),
                Route("/_sim/faults", _faults, methods=["POST"]),
                Route("/_sim/config", _config, methods=["GET", "POST"]),
            ]
        )
        self.control.state.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/_sim/"):
            await self.api(scope, receive, send)
        else:
            await self.control(scope, receive, send)


def create_app(sim: Simulator) -> SimulatorApp:
    """The ASGI app serving ``sim``."""
    return SimulatorApp(sim)
