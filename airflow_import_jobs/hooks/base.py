"""What the three import-job hooks share: read the connection once, then build → send → parse.

Each hook is a thin adapter: ``connections.settings`` reads the Airflow connection, a protocol object
(``protocol/``) builds requests and parses responses, and a :class:`~airflow_import_jobs.client.transport.Transport`
moves the bytes. Every method has an async twin for triggers and async tasks; both run the very
same protocol flow.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping
from typing import Any, ClassVar, TypeVar

from airflow.sdk import BaseHook

from airflow_import_jobs._compat import amask_secrets, mask_secrets
from airflow_import_jobs.client.engine import Auth, BearerAuth, ClientCredentialsAuth, Engine
from airflow_import_jobs.client.policy import RetryPolicy
from airflow_import_jobs.client.transport import Transport
from airflow_import_jobs.connections.settings import ConnectionSettings, ConnectionType, read_settings
from airflow_import_jobs.exceptions import ImportJobError
from airflow_import_jobs.lineage import report_hook_lineage
from airflow_import_jobs.models import ImportJob
from airflow_import_jobs.protocol.base import Flow, Listing
from airflow_import_jobs.protocol.common import request_secrets
from airflow_import_jobs.protocol.egain import EgainProtocol
from airflow_import_jobs.protocol.milvus import MilvusProtocol
from airflow_import_jobs.protocol.zilliz import ZillizCloudProtocol

T = TypeVar("T")
Protocol = MilvusProtocol | ZillizCloudProtocol | EgainProtocol


class ImportJobHook(BaseHook):
    """Base class of the import-job hooks; use a subclass or :func:`~airflow_import_jobs.hooks.get_import_hook`.

    :param conn_id: The Airflow connection to use; defaults to the type's default connection ID.
    :param retry: Retry policy for transient failures of idempotent calls
        (default: 3 retries, exponential backoff with jitter, ``Retry-After`` honoured).
    """

    conn_name_attr = "conn_id"
    default_conn_name: ClassVar[str]
    connection_type: ClassVar[ConnectionType]
    api: ClassVar[str]

    def __init__(self, conn_id: str | None = None, *, retry: RetryPolicy | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id or self.default_conn_name
        self.retry = retry or RetryPolicy()
        self._settings: ConnectionSettings | None = None
        self._protocol: Protocol | None = None
        self._transport: Transport | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(conn_id={self.conn_id!r})"

    # -- connection -----------------------------------------------------------------------

    @property
    def settings(self) -> ConnectionSettings:
        """The connection, read and checked on first use (sync)."""
        if self._settings is None:
            self._configure(read_settings(self.get_connection(self.conn_id), self.connection_type))
            assert self._settings is not None
            mask_secrets(self._settings.secrets)
        assert self._settings is not None
        return self._settings

    async def asettings(self) -> ConnectionSettings:
        """The connection, read asynchronously on first use (one lookup per hook, as triggers need)."""
        if self._settings is None:
            conn = await self.aget_connection(self.conn_id)
            self._configure(read_settings(conn, self.connection_type))
            assert self._settings is not None
            await amask_secrets(self._settings.secrets)
        assert self._settings is not None
        return self._settings

    def use_connection(self, conn: Any) -> None:
        """Configure from an already fetched Airflow connection (saves a second lookup)."""
        self._configure(read_settings(conn, self.connection_type))
        assert self._settings is not None
        mask_secrets(self._settings.secrets)

    async def ause_connection(self, conn: Any) -> None:
        """Async twin of :meth:`use_connection`."""
        self._configure(read_settings(conn, self.connection_type))
        assert self._settings is not None
        await amask_secrets(self._settings.secrets)

    def _configure(self, settings: ConnectionSettings) -> None:
        self._settings = settings
        self._protocol = self.build_protocol(settings)
        engine = Engine(
            api=self.api,
            label=f"Connection {settings.conn_id!r}",
            auth=_auth(settings),
            retry=self.retry,
            rate=settings.max_requests_per_second,
            # Vendors limit per credential: connections sharing a key share one limiter.
            limiter_key=(settings.backend, settings.base_url, _credential_digest(settings)),
        )
        self._transport = Transport(
            base_url=settings.base_url, engine=engine, timeout=settings.timeout, verify=settings.verify
        )

    def build_protocol(self, settings: ConnectionSettings) -> Protocol:
        """The sans-IO protocol object for this API."""
        raise NotImplementedError

    # -- running flows --------------------------------------------------------------------

    def _run(self, operation: Callable[[Protocol], Flow[T]]) -> T:
        self.settings  # noqa: B018 - reads the connection on first use
        assert self._transport is not None
        assert self._protocol is not None
        try:
            return self._transport.run(operation(self._protocol))
        except ImportJobError as error:
            raise error.add_context(f"Connection {self.conn_id!r}") from error.__cause__

    async def _arun(self, operation: Callable[[Protocol], Flow[T]]) -> T:
        await self.asettings()
        assert self._transport is not None
        assert self._protocol is not None
        try:
            return await self._transport.arun(operation(self._protocol))
        except ImportJobError as error:
            raise error.add_context(f"Connection {self.conn_id!r}") from error.__cause__

    # -- the contract ---------------------------------------------------------------------

    def check_job_id(self, job_id: object) -> str:
        """``job_id`` if it is well formed for this API; InvalidRequestError (no request made) if not."""
        self.settings  # noqa: B018 - the protocol comes with the connection
        assert self._protocol is not None
        return self._protocol.check_job_id(job_id)

    def get_job(self, job_id: str) -> ImportJob:
        """The job's current state and progress.

        :raises JobNotFoundError: the server does not know the job (or it expired after retention).
        """
        return self._run(lambda p: p.get_job(job_id))

    async def aget_job(self, job_id: str) -> ImportJob:
        """Async twin of :meth:`get_job`."""
        return await self._arun(lambda p: p.get_job(job_id))

    def list_jobs(self, *, collection_name: str | None = None, db_name: str | None = None) -> list[ImportJob]:
        """Jobs known to the server, optionally for one collection (and Milvus database).

        :raises UnsupportedOperationError: for eGain, whose API has no list endpoint.
        """
        return self._run(lambda p: p.list_jobs(collection_name=collection_name, db_name=db_name))

    async def alist_jobs(self, *, collection_name: str | None = None, db_name: str | None = None) -> list[ImportJob]:
        """Async twin of :meth:`list_jobs`."""
        return await self._arun(lambda p: p.list_jobs(collection_name=collection_name, db_name=db_name))

    async def ascan_jobs(
        self,
        job_ids: Collection[str],
        *,
        collection_name: str | None = None,
        unchanged: Mapping[str, str] | None = None,
    ) -> Listing:
        """One walk of the list endpoint for the shared poll loop: only ``job_ids`` are parsed.

        ``unchanged`` maps job IDs to the state spelling the caller already has: rows still in it
        are not parsed (``Listing.unchanged`` names them, with their reported progress).

        :returns: the listed jobs among ``job_ids`` and what the walk cost (rows returned, pages).
        :raises UnsupportedOperationError: for eGain, whose API has no list endpoint.
        """
        return await self._arun(
            lambda p: p.scan_jobs(job_ids=job_ids, collection_name=collection_name, unchanged=unchanged)
        )

    def start_job(self, request: Mapping[str, Any], *, validate_only: bool = False) -> str:
        """Start a job with the API's own create body; returns the new job's ID.

        The request is checked before sending; ``clusterId``/``dbName`` and storage credentials are
        filled in from the connection where absent. A start is never re-sent once it may have
        reached the server.

        :param request: The create body as in the API's docs (camelCase keys).
        :param validate_only: eGain only: start a validation job instead of an import.
        """
        mask_secrets(request_secrets(request))  # before anything can log or echo them
        job_id = self._run(lambda p: p.start_job(request, validate_only=validate_only))
        self._report_lineage(request, validate_only=validate_only)
        return job_id

    async def astart_job(self, request: Mapping[str, Any], *, validate_only: bool = False) -> str:
        """Async twin of :meth:`start_job`."""
        await amask_secrets(request_secrets(request))
        job_id = await self._arun(lambda p: p.start_job(request, validate_only=validate_only))
        self._report_lineage(request, validate_only=validate_only)
        return job_id

    def _report_lineage(self, request: Mapping[str, Any], *, validate_only: bool) -> None:
        """Hook lineage: the started job's files in, its collection (or knowledge base) out."""
        assert self._settings is not None
        report_hook_lineage(self, self._settings, request, validate_only=validate_only)

    def cancel_job(self, job_id: str) -> None:
        """Cancel (eGain) or abort (Milvus) a job.

        :raises UnsupportedOperationError: where the API or server has no way to stop a job.
        """
        self._run(lambda p: p.cancel_job(job_id))

    async def acancel_job(self, job_id: str) -> None:
        """Async twin of :meth:`cancel_job`."""
        await self._arun(lambda p: p.cancel_job(job_id))

    def test_connection(self) -> tuple[bool, str]:
        """Make one cheap, real call, so the UI's Test button tells the truth."""
        try:
            self.settings  # noqa: B018 - reads and checks the connection
            assert self._transport is not None
            assert self._protocol is not None
            # Not through _run: the UI tests under a random temporary connection ID, which would
            # only confuse the message.
            return True, self._transport.run(self._protocol.test_connection())
        except ImportJobError as error:
            return False, str(error)

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the sync HTTP client (the async one is shared; see :meth:`aclose`)."""
        if self._transport is not None:
            self._transport.close()

    async def aclose(self) -> None:
        """Hand back this hook's share of the loop's pooled async client."""
        if self._transport is not None:
            await self._transport.aclose()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "connection_type" in cls.__dict__ and CLASSIC_FORM_METHODS:
            # Airflow 3.1 builds the connection form from these classmethods, looked up in each hook
            # class's own __dict__; 3.2+ reads the declarative provider metadata instead.
            for name, method in (
                ("get_ui_field_behaviour", _classic_field_behaviour),
                ("get_connection_form_widgets", _classic_form_widgets),
            ):
                setattr(cls, name, classmethod(method))


def _airflow_before_3_2() -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        major, minor = (int(part) for part in version("apache-airflow-core").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return False
    return (major, minor) < (3, 2)


CLASSIC_FORM_METHODS = _airflow_before_3_2()


def _classic_field_behaviour(cls: type[ImportJobHook]) -> dict[str, Any]:
    spec = cls.connection_type
    return {
        "hidden_fields": list(spec.hidden_fields),
        "relabeling": dict(spec.relabeling),
        "placeholders": dict(spec.placeholders),
    }


def _classic_form_widgets(cls: type[ImportJobHook]) -> dict[str, Any]:
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, PasswordField, StringField

    widgets: dict[str, Any] = {}
    for extra in cls.connection_type.extras:
        label = lazy_gettext(extra.label)
        if extra.type == "boolean":
            widgets[extra.name] = BooleanField(label, description=extra.description, default=bool(extra.default))
        elif extra.secret:
            widgets[extra.name] = PasswordField(label, widget=BS3PasswordFieldWidget(), description=extra.description)
        else:
            default = None if extra.default is None else str(extra.default)
            widgets[extra.name] = StringField(
                label, widget=BS3TextFieldWidget(), description=extra.description, default=default
            )
    return widgets


def _credential_digest(settings: ConnectionSettings) -> str:
    secret = settings.bearer or f"{settings.client_id}:{settings.client_secret}"
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def _auth(settings: ConnectionSettings) -> Auth | None:
    if settings.client_secret and settings.token_url and settings.client_id:
        return ClientCredentialsAuth(
            token_url=settings.token_url,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            scope=settings.scope,
        )
    return BearerAuth(settings.bearer) if settings.bearer else None
