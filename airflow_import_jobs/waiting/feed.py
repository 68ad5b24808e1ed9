"""Shared polling for waits: one poll loop per connection serves every wait in the process.

A triggerer may run thousands of waits on one event loop. Polling once per wait per interval
makes the request count grow with the number of waits (and a Zilliz Cloud org is limited to 20
requests/s per endpoint). Instead, every wait on a connection subscribes to that connection's
:class:`JobFeed`, which polls on a single loop and hands each subscriber the snapshots of the
jobs it waits on:

* Milvus: one ``list`` call per tick answers state, progress and reason for every job of the
  database; ``describe`` is called only where the list cannot answer — a job that reached a
  terminal state (for its row counts and file details) or that is missing from the list.
* Zilliz Cloud and eGain: each distinct job is polled once per tick, however many waits share it.

A feed reads the connection once, polls at the shortest interval its subscribers ask for, backs
off after transient failures (honouring ``Retry-After``) and stops — releasing its HTTP client —
when its last subscriber leaves. Subscribers keep their own error counts, deadlines and
stall clocks, so the event a wait ends with is the same as if it polled alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field

from airflow_import_jobs.client.policy import RetryPolicy
from airflow_import_jobs.exceptions import ImportJobError, JobNotFoundError
from airflow_import_jobs.hooks import ImportJobHook, aget_import_hook
from airflow_import_jobs.models import ImportJob, JobState

log = logging.getLogger(__name__)

Snapshot = ImportJob | ImportJobError

#: Per-job requests in flight at once for one feed (the rate limiter still applies on top). Small on
#: purpose: httpx's pool checks every pooled connection on each request, so a wide pool costs more
#: CPU per request than the concurrency saves (measured in BENCHMARKS.md).
MAX_CONCURRENT_REQUESTS = 8
#: Deliveries between two yields to the event loop, so a tick for 10,000 waits never blocks it whole.
DELIVERY_BATCH = 200
#: Longest pause between polls while the server keeps failing (unless Retry-After asks for more).
MAX_BACKOFF = 300.0


@dataclass(eq=False)
class Subscription:
    """One wait's view of a feed: the latest snapshots of its jobs, delivered each tick."""

    feed: JobFeed
    job_ids: frozenset[str]
    interval: float
    _latest: dict[str, Snapshot] | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    def deliver(self, snapshots: dict[str, Snapshot]) -> None:
        self._latest = {job_id: snapshots[job_id] for job_id in self.job_ids if job_id in snapshots}
        self._ready.set()

    async def next(self) -> dict[str, Snapshot]:
        """The next tick's snapshots for this wait's (unfinished) jobs."""
        await self._ready.wait()
        self._ready.clear()
        latest, self._latest = self._latest or {}, None
        return latest

    def done_with(self, job_ids: Iterable[str]) -> None:
        """Stop polling jobs this wait no longer needs (they reached a terminal state)."""
        self.job_ids = self.job_ids - frozenset(job_ids)

    async def close(self) -> None:
        await self.feed.unsubscribe(self)


class JobFeed:
    """Polls one connection's jobs for all subscribed waits (see the module docstring)."""

    def __init__(self, conn_id: str, hook: ImportJobHook) -> None:
        self.conn_id = conn_id
        self.hook = hook
        self.subscriptions: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._errors = 0
        self.ticks = 0

    @property
    def interval(self) -> float:
        return min((s.interval for s in self.subscriptions), default=30.0)

    def wanted(self) -> set[str]:
        return {job_id for s in self.subscriptions for job_id in s.job_ids}

    def subscribe(self, job_ids: Iterable[str], interval: float) -> Subscription:
        subscription = Subscription(feed=self, job_ids=frozenset(job_ids), interval=interval)
        self.subscriptions.add(subscription)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"import-job-feed:{self.conn_id}")
        return subscription

    async def unsubscribe(self, subscription: Subscription) -> None:
        self.subscriptions.discard(subscription)
        if not self.subscriptions:
            await _registry.retire(self)

    async def stop(self) -> None:
        if self._task is not None and not self._task.done() and self._task is not asyncio.current_task():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.hook.aclose()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        # Waits defer right after their task checked the jobs: the first poll comes one interval
        # later. (An event fired within a second of deferral can also race the scheduler's
        # bookkeeping of the deferred try in Airflow 3.3 and fail the resumed task.)
        await asyncio.sleep(self.interval)
        while self.subscriptions:
            started = loop.time()
            snapshots = await self.poll(self.wanted())
            self.ticks += 1
            for count, subscription in enumerate(list(self.subscriptions), start=1):
                subscription.deliver(snapshots)
                if count % DELIVERY_BATCH == 0:
                    await asyncio.sleep(0)  # let the woken waits (and the triggerer's watchdog) run
            pause = self.interval
            transient = [s for s in snapshots.values() if isinstance(s, ImportJobError) and s.transient]
            if transient and len(transient) == len(snapshots):
                # The server is struggling: never poll faster than the interval, and back off
                # exponentially from it (capped at 5 minutes) or as long as Retry-After asks.
                backoff = RetryPolicy(backoff=pause, backoff_max=max(pause, MAX_BACKOFF))
                pause = max(pause, backoff.pause(self._errors, transient[0]))
                self._errors += 1
            else:
                self._errors = 0
            await asyncio.sleep(max(0.0, pause - (loop.time() - started)))

    async def poll(self, job_ids: set[str]) -> dict[str, Snapshot]:
        """One tick: a snapshot (or the error met) for each job in ``job_ids``."""
        if not job_ids:
            return {}
        if self.hook.connection_type.backend == "milvus":
            return await self._poll_by_list(job_ids)
        return await self._poll_each(job_ids)

    async def _poll_each(self, job_ids: Iterable[str]) -> dict[str, Snapshot]:
        semaphore = asyncio.Semaphore(MAX_CONCURRENT_REQUESTS)

        async def one(job_id: str) -> tuple[str, Snapshot]:
            async with semaphore:
                try:
                    return job_id, await self.hook.aget_job(job_id)
                except ImportJobError as error:
                    return job_id, error

        return dict(await asyncio.gather(*(one(job_id) for job_id in job_ids)))

    async def _poll_by_list(self, job_ids: set[str]) -> dict[str, Snapshot]:
        try:
            listed = {job.job_id: job for job in await self.hook.alist_jobs() if job.job_id in job_ids}
        except ImportJobError as error:
            return dict.fromkeys(job_ids, error)
        # A terminal state needs describe for its details; a job missing from the list may be
        # from another database or gone after retention — describe tells which.
        need_details = [j for j in job_ids if j not in listed or listed[j].state.is_terminal]
        snapshots: dict[str, Snapshot] = {j: job for j, job in listed.items() if not job.state.is_terminal}
        snapshots.update(await self._poll_each(need_details))
        for job_id in need_details:
            found = snapshots[job_id]
            if isinstance(found, JobNotFoundError) and job_id in listed:
                snapshots[job_id] = listed[job_id]  # listed as terminal but gone since: keep what we know
        return snapshots


class _Registry:
    """The feeds of the running event loops, keyed by connection ID."""

    def __init__(self) -> None:
        self._feeds: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, JobFeed]] = (
            weakref.WeakKeyDictionary()
        )
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()

    def feeds(self) -> dict[str, JobFeed]:
        return self._feeds.setdefault(asyncio.get_running_loop(), {})

    async def feed(self, conn_id: str) -> JobFeed:
        feeds = self.feeds()
        existing = feeds.get(conn_id)
        if existing is not None:
            return existing
        lock = self._locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        async with lock:  # a thousand waits starting at once read the connection once
            existing = feeds.get(conn_id)
            if existing is not None:
                return existing
            # No retries inside a tick: the waits count consecutive failures themselves.
            hook = await aget_import_hook(conn_id, retry=RetryPolicy(max_retries=0))
            feeds[conn_id] = created = JobFeed(conn_id, hook)
            return created

    async def retire(self, feed: JobFeed) -> None:
        feeds = self.feeds()
        if feeds.get(feed.conn_id) is feed and not feed.subscriptions:
            del feeds[feed.conn_id]
            await feed.stop()


_registry = _Registry()


async def subscribe(conn_id: str, job_ids: Iterable[str], interval: float) -> Subscription:
    """Join (or start) the feed of ``conn_id`` for ``job_ids``, polled every ``interval`` seconds."""
    feed = await _registry.feed(conn_id)
    return feed.subscribe(job_ids, interval)


def active_feeds() -> dict[str, JobFeed]:
    """The running loop's feeds by connection ID (for tests and benchmarks)."""
    return dict(_registry.feeds())


__all__ = ["JobFeed", "JobState", "Snapshot", "Subscription", "active_feeds", "subscribe"]
