"""What the deployment tests run besides Airflow: a private PostgreSQL server and a TCP gate that
takes the import-job API down and brings it back on the same port.

Both bind 127.0.0.1 only and are stopped by their own PID / thread.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from airflow_import_jobs.testing.local_airflow import LOOPBACK, free_port

#: Where Debian's ``postgresql`` package puts the server binaries (newest version wins).
DEBIAN_BINDIRS = "/usr/lib/postgresql/*/bin"


def postgres_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``, or None when PostgreSQL is not installed."""
    candidates = sorted(glob.glob(DEBIAN_BINDIRS), key=lambda p: int(Path(p).parent.name.split(".")[0]))
    for directory in reversed(candidates):
        if (Path(directory) / "initdb").exists():
            return Path(directory)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class LocalPostgres:
    """A throwaway PostgreSQL server: private data and socket directory, 127.0.0.1 on a free port,
    password authentication, one database. PostgreSQL refuses to run as root, so under root the
    server runs as the ``postgres`` system user (Debian's package creates it).

    Durability is switched off (``fsync``, ``synchronous_commit``, ``full_page_writes``): the
    data lives for one test module, and a 2-core machine shared with others has no disk to spare.
    """

    def __init__(self, bindir: Path, *, database: str = "airflow", user: str = "airflow") -> None:
        self.bindir = bindir
        self.database = database
        self.user = user
        self.password = secrets.token_urlsafe(16)
        self.port = free_port()
        self.root: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def sync_url(self) -> str:
        """SQLAlchemy URL for Airflow (``psycopg2``; Airflow derives the ``asyncpg`` one)."""
        return f"postgresql+psycopg2://{self.user}:{self.password}@{LOOPBACK}:{self.port}/{self.database}"

    def connect(self, database: str | None = None) -> Any:
        """A psycopg2 connection (autocommit) to the database."""
        import psycopg2

        conn = psycopg2.connect(
            host=LOOPBACK,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database or self.database,
            connect_timeout=5,
        )
        conn.autocommit = True
        return conn

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run one SQL statement; its rows (empty for statements without a result)."""
        conn = self.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql, params)
                return list(cursor.fetchall()) if cursor.description else []
        finally:
            conn.close()

    def _demote(self) -> tuple[int, int] | None:
        """The (uid, gid) to run the server as: None when we are not root."""
        if os.geteuid() != 0:
            return None
        entry = pwd.getpwnam("postgres")
        return entry.pw_uid, entry.pw_gid

    def _run(self, args: list[str], ids: tuple[int, int] | None, **kwargs: Any) -> subprocess.Popen[bytes]:
        def demote() -> None:  # in the child, before exec: PostgreSQL will not run as root
            if ids is not None:
                os.setgroups([])
                os.setgid(ids[1])
                os.setuid(ids[0])

        return subprocess.Popen(  # PostgreSQL's own binaries, fixed arguments
            args,
            preexec_fn=demote,  # the one way to drop root for this child only
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "HOME": "/tmp"},
            **kwargs,
        )

    def start(self, timeout: float = 60.0) -> LocalPostgres:
        """initdb, start the server, create the database; returns once it accepts connections."""
        ids = self._demote()
        self.root = Path(tempfile.mkdtemp(prefix="aij-postgres-"))  # mode 0700: ours alone
        data, sockets, pwfile = self.root / "data", self.root / "sockets", self.root / "pwfile"
        sockets.mkdir()
        pwfile.write_text(self.password + "\n")
        if ids is not None:
            for path in (self.root, sockets, pwfile):
                os.chown(path, *ids)
        log = (self.root / "initdb.log").open("wb")
        with log:
            initdb = self._run(
                [
                    *(str(self.bindir / "initdb"), "-D", str(data), "-U", self.user, f"--pwfile={pwfile}"),
                    *("--auth=scram-sha-256", "--encoding=UTF8", "--no-sync"),
                ],
                ids,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            if initdb.wait(timeout=timeout) != 0:
                raise RuntimeError(f"initdb failed:\n{(self.root / 'initdb.log').read_text()[-2000:]}")
        settings = {
            "listen_addresses": LOOPBACK,
            "port": str(self.port),
            "unix_socket_directories": str(sockets),
            "max_connections": "300",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        args = [str(self.bindir / "postgres"), "-D", str(data)]
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        server_log = (self.root / "postgres.log").open("wb")
        with server_log:
            self.proc = self._run(args, ids, stdout=server_log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.connect("postgres").close()
                break
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("PostgreSQL did not start; see its log") from None
                time.sleep(0.1)
        conn = self.connect("postgres")
        try:
            with conn.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            conn.close()
        return self

    def stop(self, timeout: float = 20.0) -> None:
        """Fast shutdown (SIGINT to the postmaster's PID), SIGKILL after ``timeout``; removes the data."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class ApiGate:
    """A TCP forwarder on 127.0.0.1 in front of the simulator: what the Airflow connections point at.

    :meth:`down` cuts every open connection and from then on answers each new one with a TCP reset
    before any byte (the API is unreachable; :attr:`refused` counts the attempts, so a client that
    hammers a dead API shows). :meth:`up` forwards again, on the same port, to the same simulator
    (its jobs and counters untouched).
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream = (LOOPBACK, upstream_port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((LOOPBACK, 0))
        self.listener.listen(512)
        self.port: int = self.listener.getsockname()[1]
        self.refused = 0
        self.is_up = True
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._accept, name="api-gate", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the simulator's root, through the gate."""
        return f"http://{LOOPBACK}:{self.port}"

    def down(self) -> None:
        """Take the API down: cut open connections, reset new ones."""
        with self._lock:
            self.is_up = False
            self.refused = 0
            for sock in list(self._open):
                _reset(sock)
            self._open.clear()

    def up(self) -> None:
        """Bring the API back (same port, same simulator)."""
        with self._lock:
            self.is_up = True

    def close(self) -> None:
        """Stop the gate (its thread ends, every connection is cut)."""
        self._stopping = True
        self.listener.close()
        self.down()
        self._thread.join(5)

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                if not self.is_up:
                    self.refused += 1
                    _reset(client)
                    continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._open |= {client, server}
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(source)
                self._open.discard(target)
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a host whose service is gone answers."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
