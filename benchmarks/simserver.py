"""The simulator in its own process, with a request log the benchmark reads.

``python -m benchmarks.simserver --port 0`` serves the bundled simulator app (the same one
``python -m airflow_import_jobs.testing.simulator`` serves) on loopback, wrapped in a thin ASGI
layer that records, for every API request, its arrival time, ``backend.endpoint`` and reply status.
The simulator's own counters give totals; this log gives per-window and per-second counts and the
429s. Control routes (``/_sim/*``, ``/_bench/*``) are not recorded:

* ``GET /_bench/log?since=I`` → ``{"t": [...], "k": [...], "s": [...], "next": J}``
* ``POST /_bench/reset`` → clears the log.

Prints one JSON line (the simulator CLI's ``--json`` description) once listening; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import time
from types import FrameType
from typing import Any

import uvicorn
from starlette.types import Message, Receive, Scope, Send

from airflow_import_jobs.testing.simulator.app import create_app
from airflow_import_jobs.testing.simulator.cli import describe
from airflow_import_jobs.testing.simulator.dispatch import resolve
from airflow_import_jobs.testing.simulator.state import Simulator


class RequestLog:
    """Arrival time, ``backend.endpoint`` and status of each API request, in arrival order."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.keys: list[str] = []
        self.statuses: list[int] = []

    def clear(self) -> None:
        self.times.clear()
        self.keys.clear()
        self.statuses.clear()

    def add(self, at: float, key: str) -> int:
        self.times.append(at)
        self.keys.append(key)
        self.statuses.append(0)
        return len(self.times) - 1

    def since(self, start: int) -> dict[str, Any]:
        end = len(self.times)
        return {
            "t": self.times[start:end],
            "k": self.keys[start:end],
            "s": self.statuses[start:end],
            "next": end,
        }


class LoggedApp:
    """ASGI wrapper: records API requests, serves ``/_bench/*``, passes everything to the simulator."""

    def __init__(self, sim: Simulator) -> None:
        self.inner = create_app(sim)
        self.log = RequestLog()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith("/_bench/"):
            await self._control(scope, receive, send)
            return
        if path.startswith("/_sim/"):
            await self.inner(scope, receive, send)
            return
        route = resolve(path)
        index = self.log.add(time.time(), f"{route.backend}.{route.endpoint}")

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.log.statuses[index] = int(message["status"])
            await send(message)

        await self.inner(scope, receive, send_logged)

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        while True:  # drain the body
            message = await receive()
            if not message.get("more_body", False):
                break
        path = scope["path"]
        if path == "/_bench/log":
            query = dict(
                part.split("=", 1) for part in scope.get("query_string", b"").decode().split("&") if "=" in part
            )
            start = int(query.get("since", "0") or 0)
            payload: Any = self.log.since(max(0, start))
            status = 200
        elif path == "/_bench/reset" and scope["method"] == "POST":
            self.log.clear()
            payload, status = {"status": "reset"}, 200
        else:
            payload, status = {"error": "unknown"}, 404
        body = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _Bound:
    """What ``describe`` needs of a server: its simulator and URLs."""

    def __init__(self, sim: Simulator, host: str, port: int) -> None:
        self.sim = sim
        self.url = f"http://{host}:{port}"
        self.milvus_url = self.url
        self.zilliz_url = self.url + "/zilliz"
        self.egain_url = self.url + "/egain"
        self.egain_token_url = f"{self.url}/egain/system/auth/{sim.egain_tenant}/oauth2/token"


def _exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.simserver")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    host = "127.0.0.1"  # loopback only: the simulator has no real security
    sim = Simulator(seed=args.seed, config={"default_lifecycle": {"advance": "time", "duration": 30.0}})
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, args.port))
    sock.listen(4096)  # peers open thousands of connections at once
    port = sock.getsockname()[1]
    app = LoggedApp(sim)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=1,
        backlog=4096,
        timeout_keep_alive=65,
    )
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _exit)
    print(json.dumps(describe(_Bound(sim, host, port))), flush=True)  # type: ignore[arg-type]
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
