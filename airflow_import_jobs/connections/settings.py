"""Reading an Airflow connection into checked :class:`ConnectionSettings`.

The field names and types come from ``connections.types``; every problem is a
:class:`ConfigurationError` naming the connection, the field and what would be valid — raised
before any request.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_import_jobs.connections.types import (
    CONNECTION_TYPES,
    EGAIN,
    MILVUS,
    ZILLIZ_CLOUD,
    ConnectionType,
    ExtraField,
)
from airflow_import_jobs.exceptions import ConfigurationError
from airflow_import_jobs.models import Backend

__all__ = [
    "CONNECTION_TYPES",
    "EGAIN",
    "MILVUS",
    "ZILLIZ_CLOUD",
    "ConnectionSettings",
    "ConnectionType",
    "read_settings",
]

DEFAULT_ZILLIZ_URL = "https://api.cloud.zilliz.com"
MILVUS_PORT = 19530


@dataclass(frozen=True)
class ConnectionSettings:
    """What a hook needs from an Airflow connection, read and checked once.

    Credentials are held out of ``repr`` so that a settings object in a log line or traceback
    shows no secret.
    """

    conn_id: str
    backend: Backend
    base_url: str
    timeout: float = 30.0
    verify: bool | str = True
    max_requests_per_second: float | None = None
    db_name: str = "default"
    cluster_id: str | None = None
    token_url: str | None = None
    scope: str | None = None
    client_id: str | None = None
    #: Bearer token sent as is (Milvus user:password or token, Zilliz API key, eGain access token).
    bearer: str | None = field(default=None, repr=False)
    client_secret: str | None = field(default=None, repr=False)
    storage_credentials: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: Where the server's own bucket is (Milvus ``storage_uri`` extra), for lineage names only.
    storage_uri: str | None = None
    #: Every secret value this connection holds, for Airflow's secrets masker.
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def label(self) -> str:
        """How errors name the connection: ``connection 'milvus_default'``."""
        return f"connection {self.conn_id!r}"


def read_extras(conn: Any) -> dict[str, Any]:
    """The connection's extras, parsed without side effects (safe inside an event loop).

    Both ``name`` and the legacy ``extra__<conn_type>__name`` keys are accepted.
    """
    raw = conn.extra
    if not raw:
        return {}
    try:
        extras = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except ValueError:
        raise ConfigurationError(
            f"The extra field of connection {conn.conn_id!r} is not valid JSON; fix it in the connection form."
        ) from None
    if not isinstance(extras, dict):
        raise ConfigurationError(f"The extra field of connection {conn.conn_id!r} must be a JSON object.")
    prefix = f"extra__{conn.conn_type}__"
    return {(k[len(prefix) :] if k.startswith(prefix) else k): v for k, v in extras.items()}


def coerce(extra: ExtraField, value: Any, conn_id: str) -> Any:
    """``value`` as the field's type; URI extras arrive as strings."""
    if value is None or value == "":
        return extra.default
    where = f"Extra {extra.name!r} of connection {conn_id!r}"
    if extra.type == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise ConfigurationError(f"{where} must be true or false; got {value!r}.")
    if extra.type in ("number", "integer"):
        if isinstance(value, bool):
            raise ConfigurationError(f"{where} must be a number; got {value!r}.")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigurationError(f"{where} must be a number; got {value!r}.") from None
        if not number > 0 or number == float("inf"):
            raise ConfigurationError(f"{where} must be a positive number of seconds or requests; got {value!r}.")
        return number
    if not isinstance(value, str):
        if extra.secret:
            raise ConfigurationError(f"{where} must be a string.")
        raise ConfigurationError(f"{where} must be a string; got {type(value).__name__} {value!r}.")
    return value.strip()


def _verify(value: Any, conn_id: str) -> bool | str:
    if value is None or value == "" or isinstance(value, bool):
        return True if value in (None, "") else bool(value)
    if not isinstance(value, str):
        raise ConfigurationError(
            f"Extra 'verify' of connection {conn_id!r} must be true, false or a CA bundle path; got {value!r}."
        )
    text = value.strip()
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    return text


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, what: str, conn_id: str, allow_http: bool) -> str:
    """``url`` without a trailing slash, refusing schemes other than http(s) and remote plain http."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        # Never echo it: the URL itself holds a secret.
        raise ConfigurationError(
            f"The {what} of connection {conn_id!r} carries credentials (user:password@host); remove them from "
            "the URL and use the connection's credential fields instead."
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"The {what} of connection {conn_id!r} must be an http(s) URL or a host name; got {url!r}."
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(f"The {what} of connection {conn_id!r} must not carry a query or fragment.")
    if parts.scheme == "http" and not allow_http and not is_loopback(parts.hostname):
        raise ConfigurationError(
            f"The {what} of connection {conn_id!r} uses plain http to {parts.hostname}, which would send credentials "
            "unencrypted; use https, or set the extra allow_insecure_http to true if you really mean it."
        )
    return url.rstrip("/")


def read_settings(conn: Any, connection_type: ConnectionType) -> ConnectionSettings:
    """Read and check an Airflow connection for ``connection_type`` (pure: no masking, no I/O).

    Raises :class:`ConfigurationError`, naming the field and what would be valid, before any request.
    """
    conn_id = conn.conn_id
    if conn.conn_type and conn.conn_type != connection_type.conn_type:
        raise ConfigurationError(
            f"Connection {conn_id!r} has type {conn.conn_type!r}, but this hook needs a "
            f"{connection_type.conn_type!r} connection."
        )
    raw = read_extras(conn)
    known = {e.name: e for e in connection_type.extras}
    extras = {name: coerce(e, raw.get(name), conn_id) for name, e in known.items() if name != "verify"}
    verify = _verify(raw.get("verify"), conn_id)
    secrets = tuple(s for s in [conn.password, *(extras[e.name] for e in connection_type.extras if e.secret)] if s)
    host = (conn.host or "").strip()
    backend = connection_type.backend
    common: dict[str, Any] = {
        "conn_id": conn_id,
        "backend": backend,
        "timeout": extras["timeout"],
        "verify": verify,
        "max_requests_per_second": extras.get("max_requests_per_second"),
        "secrets": secrets,
    }
    if backend == "milvus":
        return _milvus(conn, host, extras, common)
    storage = {
        key: extras[name]
        for name, key in (
            ("storage_access_key", "access_key"),
            ("storage_secret_key", "secret_key"),
            ("storage_token", "token"),
        )
        if extras.get(name)
    }
    allow_http = bool(extras.get("allow_insecure_http"))
    if backend == "zilliz_cloud":
        base = host if "://" in host else (f"https://{host}" if host else DEFAULT_ZILLIZ_URL)
        if conn.port and "://" not in host and host:
            base = f"{base}:{conn.port}"
        if not conn.password:
            raise ConfigurationError(
                f"Connection {conn_id!r} has no API key: put the Zilliz Cloud API key in the password (API Key) field."
            )
        if not extras.get("cluster_id"):
            raise ConfigurationError(
                f"Connection {conn_id!r} has no cluster_id extra: set it to the cluster's ID "
                "(e.g. 'in01-0123456789abcdef', shown on the cluster's page in the Zilliz Cloud console)."
            )
        return ConnectionSettings(
            **common,
            base_url=check_url(base, what="host", conn_id=conn_id, allow_http=allow_http),
            cluster_id=extras.get("cluster_id") or None,
            db_name=extras.get("db_name") or "",
            bearer=conn.password,
            storage_credentials=storage,
        )
    # eGain
    if not host:
        raise ConfigurationError(
            f"Connection {conn_id!r} has no host: set it to your eGain API domain, e.g. api.ai.egain.cloud."
        )
    base = host if "://" in host else f"https://{host}"
    base = base.rstrip("/").removesuffix("/knowledge/contentmgr/v4")
    access_token = extras.get("access_token")
    token_url = extras.get("token_url")
    if not access_token:
        if not (conn.login and conn.password):
            raise ConfigurationError(
                f"Connection {conn_id!r} needs OAuth client credentials (Client ID and Client Secret fields) "
                "or an access_token extra."
            )
        if not token_url:
            raise ConfigurationError(
                f"Connection {conn_id!r} has no token_url extra: set it to your tenant's OAuth token URL, e.g. "
                "https://ai.egain.cloud/system/auth/TENANT-U/oauth2/token (shown on the client app's page)."
            )
        token_url = check_url(token_url, what="token_url", conn_id=conn_id, allow_http=allow_http)
    return ConnectionSettings(
        **common,
        base_url=check_url(base, what="host", conn_id=conn_id, allow_http=allow_http),
        token_url=token_url,
        scope=extras.get("scope"),
        client_id=conn.login or None,
        client_secret=None if access_token else conn.password,
        bearer=access_token or None,
        storage_credentials=storage,
    )


def _milvus(conn: Any, host: str, extras: dict[str, Any], common: dict[str, Any]) -> ConnectionSettings:
    conn_id = conn.conn_id
    if not host:
        raise ConfigurationError(
            f"Connection {conn_id!r} has no host: set it to the Milvus server name or URL, e.g. "
            "milvus.example.com or http://127.0.0.1:19530."
        )
    if "://" in host:
        base = host
    else:
        scheme = "https" if extras.get("secure") else "http"
        base = f"{scheme}://{host}:{conn.port or MILVUS_PORT}"
    # Milvus is commonly reached over plain http inside a private network: allowed, as its docs do.
    base = check_url(base, what="host", conn_id=conn_id, allow_http=True)
    token = extras.get("token")
    if conn.login and not conn.password and not token:
        raise ConfigurationError(
            f"Connection {conn_id!r} has a user ({conn.login!r}) but no password: Milvus authenticates "
            "user:password. Set the password, or use the token extra instead."
        )
    bearer = token or (f"{conn.login}:{conn.password}" if conn.login else None)
    if bearer and not token:
        common["secrets"] = (*common["secrets"], bearer)
    return ConnectionSettings(
        **common,
        base_url=base,
        db_name=extras.get("db_name") or "default",
        bearer=bearer,
        storage_uri=_storage_uri(extras.get("storage_uri"), conn_id),
    )


def _storage_uri(value: str | None, conn_id: str) -> str | None:
    """The ``storage_uri`` extra: a location with a scheme and a host, and nothing secret in it."""
    if not value:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - a malformed port raises here
    except ValueError:
        parts = None
    if parts is None or len(parts.scheme) < 2 or not parts.hostname:
        raise ConfigurationError(
            f"Extra 'storage_uri' of connection {conn_id!r} must be a storage location such as s3://bucket, "
            f"gs://bucket/prefix or wasbs://container@account.blob.core.windows.net; got {value!r}."
        )
    if parts.password or parts.query or parts.fragment:
        # Never echo it: the value itself may hold a key or a signature.
        raise ConfigurationError(
            f"Extra 'storage_uri' of connection {conn_id!r} must name a location only: remove the password, "
            "query or fragment (keys belong in the connection's credential fields)."
        )
    return value.rstrip("/")
