"""Retry and rate-limit policy: pure decisions, shared by every driver.

Retries follow the reference's rule: only what is transient (429, 408, 5xx, network errors,
Milvus "job limit reached") is tried again, with exponential backoff and jitter, honouring
``Retry-After``; a create or start that may have reached the server is never sent again.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

from airflow_import_jobs.exceptions import ImportJobError
from airflow_import_jobs.protocol.base import HttpRequest


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before sending a failed request again.

    :param max_retries: Retries after the first attempt; 0 leaves retrying to the caller
        (the trigger counts consecutive failures itself).
    :param backoff: First backoff in seconds; doubled each retry, with full jitter over its upper half.
    :param backoff_max: Ceiling for one backoff.
    :param retry_after_max: Ceiling for a server's ``Retry-After`` (a broken server must not park us for a day).
    """

    max_retries: int = 3
    backoff: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 300.0

    def delay(self, attempt: int, error: ImportJobError, request: HttpRequest) -> float | None:
        """Seconds to wait before retry number ``attempt + 1``, or None to give up and raise."""
        if attempt >= self.max_retries or not error.transient:
            return None
        if error.reached_server and not request.idempotent:
            return None
        return self.pause(attempt, error)

    def pause(self, attempt: int, error: ImportJobError | None = None) -> float:
        """The backoff for ``attempt`` (0-based), or the server's ``Retry-After`` when it gave one."""
        if error is not None and error.retry_after is not None:
            return min(error.retry_after, self.retry_after_max)
        ceiling = min(self.backoff_max, self.backoff * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)


#: Requests are spaced for this share of the allowed rate: network jitter can bunch evenly spaced
#: requests, and a server counting a sliding second would then see one too many (measured: 21-22
#: in a window at exactly 20/s).
RATE_HEADROOM = 0.9


class RateLimiter:
    """At most ``rate`` requests per second, spaced evenly; thread- and task-safe.

    A caller reserves the next free slot and sleeps until it, so waiting callers queue in order
    instead of collecting 429s. Reservation is atomic and never awaits, so one limiter serves
    threads and event loops alike.
    """

    def __init__(self, rate: float) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be a positive number of requests per second; got {rate!r}")
        self.interval = 1.0 / (rate * RATE_HEADROOM)
        self._next = 0.0
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Reserve a slot; returns the seconds to wait before using it."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
            return slot - now


_limiters: dict[tuple[str, ...], RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(key: tuple[str, ...], rate: float | None) -> RateLimiter | None:
    """The process-wide limiter for ``key`` (connection and endpoint), created on first use."""
    if rate is None:
        return None
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None or abs(limiter.interval - 1.0 / (rate * RATE_HEADROOM)) > 1e-12:
            limiter = _limiters[key] = RateLimiter(rate)
        return limiter
