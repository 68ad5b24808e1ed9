"""A real Airflow api-server on loopback, the simulator, and a logged-in headless Chromium, once per module.

The browser is Debian's ``chromium`` at ``/usr/bin/chromium`` (``scripts/install-browser.sh`` installs
it when it is missing and we are root); Playwright drives it through ``executable_path`` and never
downloads a browser of its own. Where no browser can be installed the tests skip, saying why.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, Route, expect, sync_playwright

from airflow_import_jobs.testing import SimulatorServer

REPO = Path(__file__).resolve().parents[2]
INSTALL_BROWSER = REPO / "scripts" / "install-browser.sh"
CHROMIUM = "/usr/bin/chromium"
# headless=True adds --headless; the rest keep Chromium off the (closed) network and out of the
# sandbox, which needs user namespaces we do not have as root in a container.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN = "admin"
START_TIMEOUT_S = 60
# Tall enough that the longest form (Zilliz Cloud's extras) fits without scrolling inside the dialog.
VIEWPORT = {"width": 1280, "height": 2000}


@dataclass
class ApiServer:
    """A running ``airflow api-server`` and what a test needs to talk to it."""

    url: str
    home: Path
    password: str
    fernet_key: str
    log: Path

    def token(self) -> str:
        body = json.dumps({"username": ADMIN, "password": self.password}).encode()
        request = urllib.request.Request(
            f"{self.url}/auth/token", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            token: str = json.load(response)["access_token"]
        return token

    def get(self, path: str) -> Any:
        """``GET`` a REST API path with a fresh token; the parsed JSON body."""
        request = urllib.request.Request(f"{self.url}{path}", headers={"Authorization": f"Bearer {self.token()}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def stored_password(self, conn_id: str) -> str | None:
        """The connection's password as stored in the metadata DB (the REST API only shows ``***``)."""
        from cryptography.fernet import Fernet

        with sqlite3.connect(self.home / "airflow.db") as db:
            row = db.execute("SELECT password, is_encrypted FROM connection WHERE conn_id = ?", (conn_id,)).fetchone()
        if row is None:
            raise LookupError(f"no connection {conn_id!r} in the metadata DB")
        password, encrypted = row
        if password is None or not encrypted:
            return password  # type: ignore[no-any-return]
        return Fernet(self.fernet_key.encode()).decrypt(password.encode()).decode()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environment(home: Path, port: int, password_file: Path, fernet_key: str) -> dict[str, str]:
    # Nothing of the test process's Airflow setup (unit-test mode, its home, AIRFLOW_CONN_*) leaks in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__FERNET_KEY": fernet_key,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__API__SECRET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "AIRFLOW__API_AUTH__JWT_SECRET": base64.urlsafe_b64encode(os.urandom(48)).decode(),
            "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
        }
    )
    return env


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the api-server exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2) as response:
                if json.load(response)["metadatabase"]["status"] == "healthy":
                    return
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            pass
        time.sleep(0.25)
    raise TimeoutError(f"the api-server was not healthy within {START_TIMEOUT_S} s:\n{log.read_text(errors='replace')}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the api-server (it stops its own workers), then its process group if it lingers."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def chromium() -> str:
    """The path of a headless-capable Chromium, installed with apt if missing (skips if impossible)."""
    try:
        result = subprocess.run(
            ["bash", str(INSTALL_BROWSER)], capture_output=True, text=True, timeout=240, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"no browser: {INSTALL_BROWSER.name} could not run ({error})")
    if result.returncode != 0 or not os.access(CHROMIUM, os.X_OK):
        reason = (result.stderr or result.stdout).strip().splitlines()
        pytest.skip(f"no browser: {CHROMIUM} is missing and could not be installed ({' / '.join(reason[-2:])})")
    return CHROMIUM


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    """The import-job simulator on loopback, in this process (the api-server reaches it over HTTP)."""
    with SimulatorServer() as server:
        yield server


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """``airflow db migrate`` then ``airflow api-server`` on 127.0.0.1, in a fresh AIRFLOW_HOME."""
    home = tmp_path_factory.mktemp("browser-airflow-home")
    (home / "dags").mkdir()
    port = _free_port()
    password = base64.urlsafe_b64encode(os.urandom(12)).decode()
    password_file = home / "simple_auth_passwords.json"
    password_file.write_text(json.dumps({ADMIN: password}))
    fernet_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    env = _environment(home, port, password_file, fernet_key)
    airflow = str(Path(sys.executable).parent / "airflow")
    log = home / "api-server.log"

    migrate = subprocess.run(
        [airflow, "db", "migrate"], env=env, cwd=home, capture_output=True, text=True, timeout=120, check=False
    )
    assert migrate.returncode == 0, f"airflow db migrate failed:\n{migrate.stdout}\n{migrate.stderr}"

    with log.open("wb") as out:
        process = subprocess.Popen(
            [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env,
            cwd=home,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = ApiServer(f"http://127.0.0.1:{port}", home, password, fernet_key, log)
    try:
        _wait_healthy(server.url, process, log)
        yield server
    finally:
        _stop(process)


def _portless_test_request(route: Route) -> None:
    """Apply the fix of apache/airflow#73298 in the browser, for Airflow 3.3.1 and 3.3.2.

    The connection list's Test button posts ``port: Number(connection.port)``, which is ``0`` for a
    connection without a port, and those Airflow versions then answer every Test of such a connection
    with ``400 Bad Request`` ("The host or port to test differs from the stored connection") before any
    hook runs. Zilliz Cloud and eGain hide the port field, so their Test button could never work there.
    Port 0 addresses nothing: sending ``null`` instead is what the upstream fix treats it as.
    """
    body = route.request.post_data_json
    if isinstance(body, dict) and body.get("port") == 0:
        body["port"] = None
        route.continue_(post_data=json.dumps(body))
    else:
        route.continue_()


@pytest.fixture(scope="module")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(chromium: str, playwright_instance: Playwright) -> Iterator[Browser]:
    browser = playwright_instance.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def page(browser: Browser, api_server: ApiServer, simulator: SimulatorServer) -> Iterator[Page]:
    """A page logged in as admin through the real login form, on Admin > Connections."""
    context = browser.new_context(viewport=VIEWPORT, base_url=api_server.url)  # type: ignore[arg-type]
    context.set_default_timeout(15_000)
    expect.set_options(timeout=15_000)  # a first Test call may import a hook in the api-server
    page = context.new_page()
    page.route("**/api/v2/connections/test", _portless_test_request)
    page.goto("/")
    page.get_by_label("Username").fill(ADMIN)
    page.get_by_label("Password").fill(api_server.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{api_server.url}/")
    try:
        yield page
    finally:
        context.close()
