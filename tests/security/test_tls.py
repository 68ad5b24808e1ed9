"""TLS verification is on by default; the ``verify`` extra names a CA bundle (or, explicitly, turns it off).

The simulator is served over HTTPS with a certificate from a private CA, for ``localhost`` only:
without the CA the handshake fails before any request (no credential leaves the client); with the
CA bundle in ``verify`` it works; the host name is checked too.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from airflow_import_jobs.client.policy import RetryPolicy
from airflow_import_jobs.client.transport import ssl_context
from airflow_import_jobs.exceptions import ConfigurationError, TransientServiceError
from airflow_import_jobs.hooks import get_import_hook
from airflow_import_jobs.testing import SimulatorServer
from airflow_import_jobs.testing.simulator.app import create_app
from tests.conftest import set_connection, simulator_connections
from tests.reliability.support import APIS, CONN_IDS, Api, add_job

NO_RETRY = RetryPolicy(max_retries=0)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_pki(folder: Path) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for ``localhost`` (DNS only: not 127.0.0.1)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("airflow-import-jobs test CA"))
        .issuer_name(_name("airflow-import-jobs test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, cert_path, key_path


class TlsSimulator:
    """The session's simulator state, also served over HTTPS on its own port."""

    def __init__(self, server: SimulatorServer, folder: Path) -> None:
        self.sim = server.sim
        self.ca, cert, key = _write_pki(folder)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)  # listening before uvicorn runs: early clients wait in the backlog
        self.port: int = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(server.sim),
            log_level="error",
            access_log=False,
            lifespan="off",
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._socket = sock
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()

    def url(self, host: str, path: str = "") -> str:
        return f"https://{host}:{self.port}{path}"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()


@pytest.fixture(scope="module")
def tls_server(
    import_job_simulator_server: SimulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsSimulator]:
    server = TlsSimulator(import_job_simulator_server, tmp_path_factory.mktemp("pki"))
    yield server
    server.stop()


def _https_connection(
    server: SimulatorServer, tls: TlsSimulator, api: Api, host: str, verify: Any = None
) -> dict[str, Any]:
    """The simulator connection of ``api``, over HTTPS to ``host``, with ``verify`` when given."""
    fields = simulator_connections(server)[CONN_IDS[api]]
    extra = dict(fields["extra"])
    if verify is not None:
        extra["verify"] = verify
    prefix = {"milvus": "", "zilliz": "/zilliz", "egain": "/egain"}[api]
    if api == "egain":
        extra["token_url"] = tls.url(host, f"/egain/system/auth/{server.sim.egain_tenant}/oauth2/token")
    return {**fields, "host": tls.url(host, prefix), "extra": extra}


@pytest.mark.parametrize("api", APIS)
def test_verification_is_on_by_default_and_nothing_is_sent_to_an_untrusted_server(
    sim_server: SimulatorServer, tls_server: TlsSimulator, monkeypatch: pytest.MonkeyPatch, api: Api
) -> None:
    set_connection(monkeypatch, "tls", **_https_connection(sim_server, tls_server, api, "localhost"))
    hook = get_import_hook("tls", retry=NO_RETRY)
    assert hook.settings.verify is True
    job_id = add_job(sim_server, api)
    with pytest.raises(TransientServiceError, match="CERTIFICATE_VERIFY_FAILED") as caught:
        hook.get_job(job_id)
    assert "Could not connect" in str(caught.value)
    assert sim_server.sim.counters()["total"] == 0  # the handshake failed: no request, no credential sent


@pytest.mark.parametrize("api", APIS)
def test_ca_bundle_in_the_verify_extra_is_trusted(
    sim_server: SimulatorServer, tls_server: TlsSimulator, monkeypatch: pytest.MonkeyPatch, api: Api
) -> None:
    fields = _https_connection(sim_server, tls_server, api, "localhost", verify=str(tls_server.ca))
    set_connection(monkeypatch, "tls", **fields)
    job_id = add_job(sim_server, api)
    hook = get_import_hook("tls", retry=NO_RETRY)
    assert hook.get_job(job_id).job_id == job_id


async def test_ca_bundle_is_trusted_by_the_async_client_too(
    sim_server: SimulatorServer, tls_server: TlsSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(monkeypatch, "tls", **_https_connection(sim_server, tls_server, "egain", "localhost"))
    job_id = add_job(sim_server, "egain")
    hook = get_import_hook("tls", retry=NO_RETRY)
    try:
        with pytest.raises(TransientServiceError, match="CERTIFICATE_VERIFY_FAILED"):
            await hook.aget_job(job_id)
    finally:
        await hook.aclose()
    fields = _https_connection(sim_server, tls_server, "egain", "localhost", verify=str(tls_server.ca))
    set_connection(monkeypatch, "tls", **fields)
    hook = get_import_hook("tls", retry=NO_RETRY)
    try:
        assert (await hook.aget_job(job_id)).job_id == job_id
    finally:
        await hook.aclose()
    assert sim_server.sim.counters() == {"egain.token": 1, "egain.status": 1, "total": 2}


def test_host_name_is_checked_even_with_a_trusted_ca(
    sim_server: SimulatorServer, tls_server: TlsSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = _https_connection(sim_server, tls_server, "milvus", "127.0.0.1", verify=str(tls_server.ca))
    set_connection(monkeypatch, "tls", **fields)
    with pytest.raises(TransientServiceError, match="CERTIFICATE_VERIFY_FAILED"):
        get_import_hook("tls", retry=NO_RETRY).get_job(add_job(sim_server, "milvus"))
    assert sim_server.sim.counters()["total"] == 0


def test_verification_is_off_only_when_asked(
    sim_server: SimulatorServer, tls_server: TlsSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(monkeypatch, "tls", **_https_connection(sim_server, tls_server, "zilliz", "127.0.0.1", "false"))
    hook = get_import_hook("tls", retry=NO_RETRY)
    assert hook.settings.verify is False
    job_id = add_job(sim_server, "zilliz")
    assert hook.get_job(job_id).job_id == job_id


@pytest.mark.parametrize("api", APIS)
def test_default_tls_context_verifies_certificates_and_host_names(sim_server: SimulatorServer, api: Api) -> None:
    hook = get_import_hook(CONN_IDS[api])
    assert hook.settings.verify is True
    context = ssl_context(hook.settings.verify)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True


def test_unreadable_ca_bundle_fails_before_any_request(
    sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fields = simulator_connections(sim_server)[CONN_IDS["milvus"]]
    missing = tmp_path / "no-such-ca.pem"
    set_connection(monkeypatch, "tls", **{**fields, "extra": {**fields["extra"], "verify": str(missing)}})
    with pytest.raises(ConfigurationError, match="CA bundle that cannot be loaded"):
        get_import_hook("tls").get_job(add_job(sim_server, "milvus"))
    assert sim_server.sim.counters()["total"] == 0
