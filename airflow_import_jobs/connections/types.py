"""The three connection types as data: registration, form layout and extras.

One table per type serves two readers — ``get_provider_info`` renders it as the declarative
``conn-fields`` / ``ui-field-behaviour`` metadata the Airflow 3 UI builds its form from, and
``connections.settings.read_settings`` uses it to read and coerce a connection's extras — so the form and
the reader cannot disagree about a field's name or type.

This module must not import Airflow: Airflow imports ``get_provider_info`` (and so this module)
while it is still initializing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

FieldType = Literal["string", "boolean", "number", "integer"]
Backend = Literal["milvus", "zilliz_cloud", "egain"]


@dataclass(frozen=True)
class ExtraField:
    """One extra of a connection type, as the form shows it and the reader coerces it."""

    name: str
    label: str
    description: str
    type: FieldType = "string"
    default: Any = None
    secret: bool = False
    enum: tuple[str, ...] | None = None

    def form_metadata(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": [self.type, "null"]}
        if self.default is not None:
            schema["default"] = self.default
        if self.enum:
            schema["enum"] = list(self.enum)
        if self.secret:
            schema["format"] = "password"
        return {"label": self.label, "description": self.description, "schema": schema}


@dataclass(frozen=True)
class ConnectionType:
    """A connection type's registration, form layout and extras."""

    conn_type: str
    backend: Backend
    hook_class_name: str
    hook_name: str
    default_conn_id: str
    hidden_fields: tuple[str, ...]
    relabeling: Mapping[str, str]
    placeholders: Mapping[str, str]
    extras: tuple[ExtraField, ...]

    def provider_info(self) -> dict[str, Any]:
        """The ``connection-types`` entry for ``get_provider_info``."""
        return {
            "connection-type": self.conn_type,
            "hook-class-name": self.hook_class_name,
            "hook-name": self.hook_name,
            "ui-field-behaviour": {
                "hidden-fields": list(self.hidden_fields),
                "relabeling": dict(self.relabeling),
                "placeholders": dict(self.placeholders),
            },
            "conn-fields": {extra.name: extra.form_metadata() for extra in self.extras},
        }


_TIMEOUT = ExtraField(
    "timeout", "Timeout (seconds)", "Per-request timeout in seconds (default 30).", "number", default=30
)
_VERIFY = ExtraField(
    "verify",
    "Verify TLS",
    "true (default) to verify the server certificate, false to skip (not recommended), or the path of a CA bundle.",
)
_ALLOW_HTTP = ExtraField(
    "allow_insecure_http",
    "Allow plain HTTP",
    "Allow an http:// URL to a host other than this machine. Credentials would travel unencrypted.",
    "boolean",
    default=False,
)
_RPS = ExtraField(
    "max_requests_per_second",
    "Max requests per second",
    "Client-side rate limit per endpoint, shared by every task and trigger in a process.",
    "number",
)
_STORAGE_ACCESS_KEY = ExtraField(
    "storage_access_key",
    "Storage access key",
    "Object-storage access key added to create requests that carry none, so keys stay out of DAG code.",
    secret=True,
)
_STORAGE_SECRET_KEY = ExtraField(
    "storage_secret_key", "Storage secret key", "Object-storage secret key for create requests.", secret=True
)

MILVUS = ConnectionType(
    conn_type="milvus",
    backend="milvus",
    hook_class_name="airflow_import_jobs.hooks.milvus.MilvusImportHook",
    hook_name="Milvus (import jobs)",
    default_conn_id="milvus_default",
    hidden_fields=("schema",),
    relabeling={"host": "Host or URL", "login": "User", "password": "Password"},
    placeholders={
        "host": "milvus.example.com or https://milvus.example.com:19530",
        "port": "19530",
        "login": "root",
        "password": "password (leave empty when using a token)",
    },
    extras=(
        ExtraField("token", "API token", "Use this token instead of user and password.", secret=True),
        ExtraField("db_name", "Database", "Database the jobs belong to (sent as DB-Name).", default="default"),
        ExtraField("secure", "Use HTTPS", "Connect with https when Host is a bare name.", "boolean", default=False),
        ExtraField(
            "storage_uri",
            "Storage URI (lineage)",
            "Where the server's bucket is, e.g. s3://milvus-bucket or gs://bucket/prefix: lineage names the "
            "imported files under it (without it, under the Milvus server). No keys: a location only.",
        ),
        _VERIFY,
        _TIMEOUT,
        _RPS,
    ),
)

ZILLIZ_CLOUD = ConnectionType(
    conn_type="zilliz_cloud",
    backend="zilliz_cloud",
    hook_class_name="airflow_import_jobs.hooks.zilliz.ZillizCloudImportHook",
    hook_name="Zilliz Cloud (import jobs)",
    default_conn_id="zilliz_cloud_default",
    hidden_fields=("schema", "login", "port"),
    relabeling={"host": "Control plane URL", "password": "API Key"},
    placeholders={"host": "https://api.cloud.zilliz.com", "password": "Zilliz Cloud API key"},
    extras=(
        ExtraField("cluster_id", "Cluster ID", "The cluster the imports load into, e.g. in01-0123456789abcdef."),
        ExtraField("db_name", "Database", "Database name filled into create requests that name none."),
        _TIMEOUT,
        _VERIFY,
        ExtraField(
            "max_requests_per_second",
            "Max requests per second",
            "Client-side rate limit per endpoint (Zilliz Cloud allows 20 per second per user).",
            "number",
            default=20,
        ),
        _STORAGE_ACCESS_KEY,
        _STORAGE_SECRET_KEY,
        ExtraField("storage_token", "Storage session token", "Temporary session token for storage.", secret=True),
        _ALLOW_HTTP,
    ),
)

EGAIN = ConnectionType(
    conn_type="egain",
    backend="egain",
    hook_class_name="airflow_import_jobs.hooks.egain.EgainImportHook",
    hook_name="eGain Knowledge (import jobs)",
    default_conn_id="egain_default",
    hidden_fields=("schema", "port"),
    relabeling={"host": "API domain", "login": "Client ID", "password": "Client Secret"},
    placeholders={
        "host": "api.ai.egain.cloud",
        "login": "OAuth client ID",
        "password": "OAuth client secret",
    },
    extras=(
        ExtraField(
            "token_url",
            "Token URL",
            "Your tenant's OAuth token URL, e.g. https://ai.egain.cloud/system/auth/TENANT-U/oauth2/token.",
        ),
        ExtraField(
            "scope",
            "Scope",
            "OAuth scope; its spelling varies by tenant "
            "(knowledge.contentmgr.manage, app.knowledge.contentmgr.manage).",
            default="knowledge.contentmgr.manage",
        ),
        ExtraField("access_token", "Access token", "A static bearer token instead of client credentials.", secret=True),
        _TIMEOUT,
        _VERIFY,
        _RPS,
        _STORAGE_ACCESS_KEY,
        _STORAGE_SECRET_KEY,
        _ALLOW_HTTP,
    ),
)

CONNECTION_TYPES: dict[str, ConnectionType] = {t.conn_type: t for t in (MILVUS, ZILLIZ_CLOUD, EGAIN)}
