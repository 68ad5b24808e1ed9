"""Runs protocol flows with authentication, rate limits and retries — written once, sans-IO.

:func:`execute` turns a protocol flow into a generator of two I/O actions, :class:`Send` and
:class:`Sleep`; ``client.transport`` performs them with a sync client or an async one. Everything
that decides — when to retry, how long to back off, when to fetch or renew an OAuth token,
how long to queue for the rate limiter — lives here, so both drivers behave identically.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from airflow_import_jobs._compat import mask_locally
from airflow_import_jobs.client.policy import RateLimiter, RetryPolicy, limiter_for
from airflow_import_jobs.exceptions import AuthenticationError, ImportJobError
from airflow_import_jobs.protocol.base import Call, Flow, HttpRequest
from airflow_import_jobs.protocol.egain import Token, build_token_request, parse_token

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``request``; the driver answers with an ``HttpResponse`` or throws an ImportJobError."""

    request: HttpRequest


@dataclass(frozen=True, slots=True)
class Sleep:
    """Pause for ``seconds`` (backoff, rate limit)."""

    seconds: float


Action = Send | Sleep
Run = Generator[Action, Any, T]


# -- authentication -----------------------------------------------------------------------


class BearerAuth:
    """A fixed bearer token (Milvus ``user:password`` or token, Zilliz API key, eGain access token)."""

    renewable = False

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "BearerAuth(token=***)"

    def header(self, engine: Engine) -> Run[str]:
        return f"Bearer {self._token}"
        yield  # pragma: no cover - a generator like the renewable kind

    def invalidate(self, rejected: str | None = None) -> None:
        """A fixed token cannot be renewed."""


@dataclass
class _CachedToken:
    token: Token | None = None
    expires_at: float = 0.0
    #: One fetch at a time: the others wait for its token instead of fetching their own.
    fetching: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


_token_cache: dict[tuple[str, str, str, str], _CachedToken] = {}
_token_cache_lock = threading.Lock()

#: Renew this long before the server's expiry, so a token never expires in flight.
TOKEN_EXPIRY_MARGIN = 60.0
#: While another request fetches the token, look for it this often, for at most this long.
TOKEN_WAIT_STEP = 0.05
TOKEN_WAIT_MAX = 30.0


class ClientCredentialsAuth:
    """OAuth 2.0 client credentials: one token per (token URL, client, scope) in the process,
    fetched on first use, reused until shortly before it expires, renewed once on a 401."""

    renewable = True

    def __init__(self, *, token_url: str, client_id: str, client_secret: str, scope: str | None) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.scope = scope
        # The secret is part of the identity: a connection with a wrong secret must never reuse a
        # token fetched with the right one. Only a digest is kept as the key.
        digest = hashlib.sha256(client_secret.encode()).hexdigest()
        key = (token_url, client_id, scope or "", digest)
        with _token_cache_lock:
            self._cache = _token_cache.setdefault(key, _CachedToken())

    def __repr__(self) -> str:
        return f"ClientCredentialsAuth(token_url={self.token_url!r}, client_id={self.client_id!r}, client_secret=***)"

    def header(self, engine: Engine) -> Run[str]:
        cached = self._cache
        waited = 0.0
        while True:
            with cached.lock:
                token = cached.token
                if token is not None and time.monotonic() < cached.expires_at:
                    return f"Bearer {token.access_token}"
                if not cached.fetching or waited >= TOKEN_WAIT_MAX:
                    cached.fetching = True
                    break
            # Single flight: a thousand waits starting at once (or renewing after a 401) share one fetch.
            yield Sleep(TOKEN_WAIT_STEP)
            waited += TOKEN_WAIT_STEP
        try:
            request = build_token_request(
                self.token_url, client_id=self.client_id, client_secret=self._client_secret, scope=self.scope
            )
            token = yield from engine.call(Call(request, parse_token))
            margin = min(TOKEN_EXPIRY_MARGIN, token.expires_in / 10)
            mask_locally(token.access_token)
            with cached.lock:
                cached.token, cached.expires_at = token, time.monotonic() + token.expires_in - margin
        finally:
            with cached.lock:
                cached.fetching = False
        return f"Bearer {token.access_token}"

    def invalidate(self, rejected: str | None = None) -> None:
        """Forget the token — only the one the server rejected, not a newer one another request fetched."""
        with self._cache.lock:
            token = self._cache.token
            if token is not None and (rejected is None or rejected == f"Bearer {token.access_token}"):
                self._cache.token = None


Auth = BearerAuth | ClientCredentialsAuth


# -- the engine ---------------------------------------------------------------------------


class Engine:
    """Runs calls for one connection: auth header, rate limit, send, parse, retry.

    :param api: The API's name for log lines ("Milvus").
    :param label: How log lines name the connection.
    :param limiter_key: Identifies the connection for the process-wide rate limiters.
    """

    def __init__(
        self,
        *,
        api: str,
        label: str,
        auth: Auth | None,
        retry: RetryPolicy,
        rate: float | None = None,
        limiter_key: tuple[str, ...] = (),
    ) -> None:
        self.api = api
        self.label = label
        self.auth = auth
        self.retry = retry
        self.rate = rate
        self.limiter_key = limiter_key

    def _limiter(self, endpoint: str) -> RateLimiter | None:
        return limiter_for((*self.limiter_key, endpoint), self.rate)

    def execute(self, flow: Flow[T]) -> Run[T]:
        """Drive ``flow``: each call it yields is run with :meth:`call`; errors go back into it."""
        try:
            call = next(flow)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        while True:
            try:
                result = yield from self.call(call)
            except ImportJobError as error:
                try:
                    call = flow.throw(error)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]
            else:
                try:
                    call = flow.send(result)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]

    def call(self, call: Call[T]) -> Run[T]:
        """One exchange, retried per the policy; an expired token is renewed once."""
        attempt = 0
        renewed = False
        while True:
            limiter = self._limiter(call.request.endpoint)
            if limiter is not None:
                wait = limiter.reserve()
                if wait > 0:
                    yield Sleep(wait)
            request = call.request
            header = None
            if request.authenticated and self.auth is not None:
                header = yield from self.auth.header(self)
                request = replace(request, headers=(*request.headers, ("Authorization", header)))
            try:
                response = yield Send(request)
                return call.parse(response)
            except AuthenticationError:
                if self.auth is None or not self.auth.renewable or renewed or not request.authenticated:
                    raise
                # The server refused the token before doing anything: renewing and resending is
                # safe even for a start request.
                renewed = True
                self.auth.invalidate(header)
                log.info("%s: %s rejected the access token; fetching a new one.", self.label, self.api)
            except ImportJobError as error:
                delay = self.retry.delay(attempt, error, request)
                if delay is None:
                    raise
                attempt += 1
                log.warning(
                    "%s: %s /%s failed (%s); retrying in %.1f s (retry %d of %d).",
                    self.label,
                    self.api,
                    request.endpoint,
                    error,
                    delay,
                    attempt,
                    self.retry.max_retries,
                )
                yield Sleep(delay)
