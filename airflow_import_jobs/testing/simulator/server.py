"""Serve a :class:`Simulator` with uvicorn on loopback: in a background thread for tests
(:meth:`SimulatorServer.start`/:meth:`~SimulatorServer.stop`, or ``with``), or in the foreground
for a separate process (:meth:`SimulatorServer.run`, used by the CLI)."""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

import uvicorn

from airflow_import_jobs.testing.simulator.app import create_app
from airflow_import_jobs.testing.simulator.state import Simulator

START_TIMEOUT_S = 10.0
_UNFINISHED = "ASGI callable returned without completing response."


class _HideDroppedResponses(logging.Filter):
    """uvicorn logs an error for every response the ``drop`` fault cuts on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _UNFINISHED


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SimulatorServer:
    """A :class:`Simulator` served over HTTP.

    :param sim: the state to serve; a new :class:`Simulator` when None.
    :param host: interface to bind; loopback only unless ``allow_remote``.
    :param port: port to bind; 0 picks a free one (see :attr:`port` once started).
    :param allow_remote: permit a non-loopback ``host`` (the simulator has no real security).
    """

    def __init__(
        self,
        sim: Simulator | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        allow_remote: bool = False,
    ) -> None:
        if not allow_remote and not is_loopback(host):
            raise ValueError(f"refusing to serve on non-loopback host {host!r} without allow_remote=True")
        self.sim = sim if sim is not None else Simulator()
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None

    # -- addresses -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("the simulator server is not running")
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port``, the Milvus base URL and the control API's root."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def milvus_url(self) -> str:
        """Base URL of the Milvus REST API (``/v2/vectordb/...`` follows)."""
        return self.url

    @property
    def zilliz_url(self) -> str:
        """Base URL of the Zilliz Cloud control plane (``/v2/vectordb/...`` follows)."""
        return self.url + "/zilliz"

    @property
    def egain_url(self) -> str:
        """Base URL of the eGain API domain (``/knowledge/contentmgr/v4`` follows)."""
        return self.url + "/egain"

    @property
    def egain_token_url(self) -> str:
        """The tenant's OAuth token URL."""
        return f"{self.url}/egain/system/auth/{self.sim.egain_tenant}/oauth2/token"

    # -- lifecycle -----------------------------------------------------------------------------

    def _prepare(self) -> tuple[uvicorn.Server, socket.socket]:
        family, kind, proto, _, address = socket.getaddrinfo(self.host, self._requested_port, type=socket.SOCK_STREAM)[
            0
        ]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Bound and listening before uvicorn runs: the port is known at once even for port 0,
            # and a client that connects as soon as the URL is printed waits in the backlog.
            sock.bind(address)
            sock.listen(2048)
        except OSError:
            sock.close()
            raise
        config = uvicorn.Config(
            create_app(self.sim),
            log_level="warning",
            access_log=False,
            lifespan="off",
            server_header=False,
            # A "slow" fault must not hold up stop().
            timeout_graceful_shutdown=1,
        )
        error_log = logging.getLogger("uvicorn.error")
        if not any(isinstance(f, _HideDroppedResponses) for f in error_log.filters):
            error_log.addFilter(_HideDroppedResponses())
        self._port = sock.getsockname()[1]
        return uvicorn.Server(config), sock

    def start(self, timeout: float = START_TIMEOUT_S) -> SimulatorServer:
        """Serve in a daemon thread; returns once the socket accepts connections."""
        if self._thread is not None:
            raise RuntimeError("the simulator server is already running")
        server, sock = self._prepare()
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="import-job-simulator", daemon=True
        )
        self._server, self._socket, self._thread = server, sock, thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive():
                self._cleanup()
                raise RuntimeError("the simulator server stopped while starting; see the uvicorn log")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the simulator server did not start within {timeout} s")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = START_TIMEOUT_S) -> None:
        """Stop serving and wait for the thread to end (idempotent)."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self._server = self._socket = self._thread = None
        self._port = None

    def run(self, ready: Callable[[SimulatorServer], None] | None = None) -> None:
        """Serve in this thread until SIGINT/SIGTERM (uvicorn's handlers); ``ready`` is called
        with the bound server first (to print its URLs)."""
        server, sock = self._prepare()
        self._server, self._socket = server, sock
        try:
            if ready is not None:
                ready(self)
            server.run(sockets=[sock])
        finally:
            self._cleanup()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
