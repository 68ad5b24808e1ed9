"""Errors raised by the provider.

One tree, so callers can catch as broadly or narrowly as they need::

    ImportJobError (AirflowException)
    ├── ConfigurationError          the Airflow connection is incomplete or wrong (before any request)
    ├── InvalidRequestError         we were asked to send something invalid, or the server said so
    ├── AuthenticationError         credentials missing, wrong or expired (HTTP 401, Milvus 1800, Zilliz 21119)
    ├── PermissionDeniedError       authenticated, but not allowed (HTTP 403, eGain 403-197)
    ├── JobNotFoundError            the server does not know the job (eGain 404-101, Milvus 2100 "does not exist")
    ├── UnsupportedOperationError   the API has no such operation (eGain list, Zilliz cancel)
    └── TransientServiceError       worth retrying: 5xx, 408, network errors, Milvus "job limit reached"
        ├── RateLimitedError        HTTP 429 (honours ``retry_after``)
        └── InvalidResponseError    the server sent something we cannot read (HTML page, cut JSON)

Every error carries the API's own ``code`` exactly as sent (``2100``, ``21119``, ``"404-101"``) or
None, the ``http_status`` or None, the ``job_id`` concerned, and ``retry_after`` seconds where the
server asked for a pause. ``transient`` tells retry loops whether trying again can help.
Messages never contain credentials: they are built from codes, statuses and server messages only.
"""

from __future__ import annotations

from airflow_import_jobs._compat import AirflowException


class ImportJobError(AirflowException):
    """Base class: something about an import job request did not work."""

    transient: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: int | str | None = None,
        http_status: int | None = None,
        job_id: str | None = None,
        retry_after: float | None = None,
        reached_server: bool = True,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.job_id = job_id
        self.retry_after = retry_after
        #: False only when the request certainly never reached the server (connect failure),
        #: which makes even a non-idempotent create safe to send again.
        self.reached_server = reached_server

    def __str__(self) -> str:
        return self.message

    def add_context(self, where: str) -> ImportJobError:
        """Prefix the message with where it happened (``"Connection 'milvus_default'"``), once."""
        prefix = f"{where}: "
        if not self.message.startswith(prefix):
            self.message = prefix + self.message
            self.args = (self.message,)
        return self

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, code={self.code!r}, "
            f"http_status={self.http_status!r}, job_id={self.job_id!r})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        # Keep keyword attributes across pickling (Airflow ships exceptions between processes).
        return (_rebuild, (type(self), self.message, self.__dict__.copy()))


def _rebuild(cls: type[ImportJobError], message: str, state: dict[str, object]) -> ImportJobError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class ConfigurationError(ImportJobError):
    """The Airflow connection is missing a field or has one of the wrong type."""


class InvalidRequestError(ImportJobError):
    """The request is invalid: rejected before sending, or refused by the server as malformed."""


class AuthenticationError(ImportJobError):
    """The server did not accept the credentials (missing, wrong or expired)."""


class PermissionDeniedError(ImportJobError):
    """The credentials are valid but lack a permission (RBAC role, OAuth scope)."""


class JobNotFoundError(ImportJobError):
    """The server does not know the job: wrong ID, or the record expired after retention."""


class UnsupportedOperationError(ImportJobError):
    """The API has no endpoint for this operation."""


class TransientServiceError(ImportJobError):
    """A failure that may pass: server errors, timeouts, dropped connections, busy servers."""

    transient = True


class RateLimitedError(TransientServiceError):
    """The server asked us to slow down (HTTP 429)."""


class InvalidResponseError(TransientServiceError):
    """The server answered with something that is not the API's format (proxy page, cut body)."""


class ResponseTooLargeError(InvalidResponseError):
    """The answer is larger than the client reads (16 MiB): the same request would bring the same flood."""

    transient = False


__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "ImportJobError",
    "InvalidRequestError",
    "InvalidResponseError",
    "JobNotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ResponseTooLargeError",
    "TransientServiceError",
    "UnsupportedOperationError",
]
