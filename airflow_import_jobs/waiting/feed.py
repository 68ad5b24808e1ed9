"""Shared polling for waits: one poll loop per connection serves every wait in the process.

A triggerer may run thousands of waits on one event loop. Polling once per wait per interval
makes the request count grow with the number of waits (and a Zilliz Cloud org is limited to 20
requests/s per endpoint). Instead, every wait on a connection subscribes to that connection's
:class:`JobFeed`, which polls on a single loop and hands each subscriber the snapshots of the
jobs it waits on. Each tick it chooses between two ways of asking (:func:`use_list`):

* **by list** (Milvus, Zilliz Cloud): one walk of the ``list`` endpoint answers the state of every
  job of the database or cluster (Milvus: filtered by collection when all waits share one);
  the job's own endpoint (``describe``, ``getProgress``) is called only where the list cannot
  answer — a job that reached a terminal state (for its row counts and file details), a job
  missing from the list, and, on Zilliz Cloud, whose list carries no progress, a running job
  whose progress a wait needs refreshed (for its progress lines and stall clock), at the
  slower cadence the waits ask for and within a share of the rate limit;
* **one by one**: each distinct job is read once per tick, however many waits share it (eGain,
  which cannot list, and wherever the last list cost more than asking for each job: one wait
  on a database with 50,000 retained jobs does not download them every interval).

Answers reach the waits as they come: the list's answers first, then each job's own answer as
soon as it returns. A feed reads the connection once, polls at the shortest interval its
subscribers ask for, backs off after transient failures (honouring ``Retry-After``) and stops —
releasing its HTTP client — when its last subscriber leaves. Subscribers keep their own error
counts, deadlines and stall clocks, so the event a wait ends with is the same as if it polled alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from airflow_import_jobs.client.policy import RetryPolicy
from airflow_import_jobs.exceptions import ImportJobError, JobNotFoundError, ResponseTooLargeError
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
#: A list row costs about this fraction of one request to the job's own endpoint (parse, wake-up):
#: a Milvus list answers cheaper than one describe per job while it returns at most this many rows
#: per job waited on.
ROWS_PER_REQUEST = 100
#: After this many ticks asking job by job, the feed lists once more: the database may have shrunk.
RELIST_AFTER_TICKS = 20
#: The cost recorded for a list too large to read: every later choice asks job by job instead.
UNREADABLE = 2**62
#: Share of a tick's rate budget (rate limit x interval) that progress refreshes may use.
REFRESH_SHARE = 0.25


@dataclass(frozen=True)
class ListShape:
    """What a backend's list endpoint gives: pages (requests under a rate limit) and progress or not."""

    paged: bool
    has_progress: bool


#: Backends whose list endpoint can answer for many jobs (eGain has none).
LISTS: dict[str, ListShape] = {
    "milvus": ListShape(paged=False, has_progress=True),
    "zilliz_cloud": ListShape(paged=True, has_progress=False),
}


def use_list(shape: ListShape, *, waited: int, rows: int | None, pages: int | None) -> bool:
    """Whether one list walk answers ``waited`` jobs cheaper than asking for each (no I/O).

    ``rows`` and ``pages`` are what the last list walk returned (None: not measured yet).

    * Unpaged (Milvus): the list is one request either way, so it wins while its rows cost less
      than a request per job: at most ``ROWS_PER_REQUEST`` rows per job waited on.
    * Paged (Zilliz Cloud): each page is a request under the rate limit, so the walk must take
      fewer requests than there are jobs.
    """
    if waited <= 0:
        return False
    if not shape.paged:
        return rows is None or rows <= waited * ROWS_PER_REQUEST
    return waited > (pages if pages is not None else 1)


@dataclass(eq=False, slots=True)
class Subscription:
    """One wait's view of a feed: the latest snapshots of its jobs, delivered as they come.

    ``progress_every``: how often the wait needs a running job's progress (seconds; its progress
    lines and stall clock). The feed hands a running job over on a new state and then this often;
    None: every tick. Slots and one future while waiting keep it small at 10,000 waits (an
    ``asyncio.Event`` alone holds a 600-byte deque).
    """

    feed: JobFeed
    job_ids: frozenset[str]
    interval: float
    progress_every: float | None = None
    _latest: dict[str, Snapshot] | None = None
    _waiter: asyncio.Future[None] | None = field(default=None, repr=False)

    @property
    def ready(self) -> bool:
        """Whether snapshots are waiting to be read."""
        return self._latest is not None

    def deliver(self, snapshots: Mapping[str, Snapshot]) -> None:
        """Hand over the snapshots of this wait's jobs among ``snapshots`` (merged until read)."""
        found = {job_id: snapshots[job_id] for job_id in self.job_ids if job_id in snapshots}
        if not found:
            return
        if self._latest is None:
            self._latest = found
        else:
            self._latest.update(found)
        if self._waiter is not None:
            _wake(self._waiter)

    async def next(self, timeout: float | None = None) -> dict[str, Snapshot] | None:
        """The snapshots delivered since the last call: waits until there are some, or None once
        ``timeout`` seconds passed without any.

        The timeout is a timer on the one future, not ``asyncio.wait_for``, which (up to Python
        3.11) keeps a second task, its context, a timer and their callbacks alive per waiting call:
        a waiting trigger with a deadline held 33 objects for the garbage collector to walk, 22 now.
        """
        if self._latest is None:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = None if timeout is None else loop.call_later(timeout, _wake, waiter)
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
            if self._latest is None:
                return None
        latest, self._latest = self._latest, None
        return latest

    def done_with(self, job_ids: Iterable[str]) -> None:
        """Stop polling jobs this wait no longer needs (they reached a terminal state)."""
        self.job_ids = self.job_ids - frozenset(job_ids)

    async def close(self) -> None:
        await self.feed.unsubscribe(self)


def _wake(waiter: asyncio.Future[None]) -> None:
    """Wake a waiting ``Subscription.next`` (a delivery or its timer, whichever comes first)."""
    if not waiter.done():
        waiter.set_result(None)


@dataclass
class _Tick:
    """One poll's bookkeeping: who waits on what, and how the answers went."""

    waiting: dict[str, list[Subscription]]
    answered: int = 0
    transient: list[ImportJobError] = field(default_factory=list)

    def deliver(self, job_id: str, snapshot: Snapshot) -> None:
        self.answered += 1
        if isinstance(snapshot, ImportJobError) and snapshot.transient:
            self.transient.append(snapshot)
        for subscription in self.waiting.get(job_id, ()):
            subscription.deliver({job_id: snapshot})


class JobFeed:
    """Polls one connection's jobs for all subscribed waits (see the module docstring)."""

    def __init__(self, conn_id: str, hook: ImportJobHook) -> None:
        self.conn_id = conn_id
        self.hook = hook
        self.subscriptions: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._errors = 0
        self.ticks = 0
        #: How each tick asked: ``"list"`` or ``"each"`` (for tests and benchmarks).
        self.modes: list[str] = []
        # What the last list walk cost, per collection filter: (rows, pages).
        self._list_cost: dict[str | None, tuple[int, int]] = {}
        self._ticks_each = 0
        # The last snapshot of each job the feed handed out (reused while the job is unchanged, so
        # waits keep one long-lived object instead of a new one per tick), when its progress was
        # last handed out, and the progress the last list showed (to order the finished jobs).
        self._last: dict[str, ImportJob] = {}
        self._fresh_at: dict[str, float] = {}
        self._progress_seen: dict[str, int] = {}

    @property
    def interval(self) -> float:
        return min((s.interval for s in self.subscriptions), default=30.0)

    def wanted(self) -> set[str]:
        return {job_id for s in self.subscriptions for job_id in s.job_ids}

    def subscribe(self, job_ids: Iterable[str], interval: float, progress_every: float | None = None) -> Subscription:
        subscription = Subscription(
            feed=self, job_ids=frozenset(job_ids), interval=interval, progress_every=progress_every
        )
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
            tick = await self.tick()
            self.ticks += 1
            pause = self.interval
            if tick.transient and len(tick.transient) == tick.answered:
                # The server is struggling: never poll faster than the interval, and back off
                # exponentially from it (capped at 5 minutes) or as long as Retry-After asks.
                backoff = RetryPolicy(backoff=pause, backoff_max=max(pause, MAX_BACKOFF))
                pause = max(pause, backoff.pause(self._errors, tick.transient[0]))
                self._errors += 1
            else:
                self._errors = 0
            await asyncio.sleep(max(0.0, pause - (loop.time() - started)))

    async def tick(self) -> _Tick:
        """One poll: every wanted job's snapshot (or the error met) delivered to its waits."""
        waiting: dict[str, list[Subscription]] = {}
        for subscription in list(self.subscriptions):
            for job_id in subscription.job_ids:
                waiting.setdefault(job_id, []).append(subscription)
        tick = _Tick(waiting)
        for known in (self._last, self._fresh_at, self._progress_seen):
            for gone in [j for j in known if j not in waiting]:
                del known[gone]
        if not waiting:
            return tick
        shape = LISTS.get(self.hook.connection_type.backend)
        collection = self._shared_collection(waiting)
        # Unmeasured with this filter: the unfiltered walk bounds it (one wait on a database of
        # 50,000 jobs must not download them a second time just because its collection is known now).
        rows, pages = self._list_cost.get(collection) or self._list_cost.get(None) or (None, None)
        if shape is not None and self._ticks_each >= RELIST_AFTER_TICKS:
            rows = pages = None  # measure the list again
        if shape is not None and use_list(shape, waited=len(waiting), rows=rows, pages=pages):
            self.modes.append("list")
            self._ticks_each = 0
            await self._by_list(tick, shape, collection)
        else:
            self.modes.append("each")
            self._ticks_each += 1
            await self._each(tick, list(waiting))
        return tick

    def _shared_collection(self, waiting: Mapping[str, object]) -> str | None:
        """The one collection every waited job belongs to (as last seen), if there is one."""
        if self.hook.connection_type.backend != "milvus":
            return None  # Zilliz Cloud filters by collection on the client side only: no saving
        shared: str | None = None
        for job_id in waiting:
            last = self._last.get(job_id)
            name = last.collection_name if last is not None else None
            if name is None or (shared is not None and name != shared):
                return None
            shared = name
        return shared

    async def _each(self, tick: _Tick, job_ids: list[str], *, listed: Mapping[str, ImportJob] | None = None) -> None:
        """Ask each job's own endpoint, handing each answer over as soon as it returns."""
        now = asyncio.get_running_loop().time
        queue = iter(job_ids)

        async def worker() -> None:  # a few workers over one queue: no task per job
            for job_id in queue:
                try:
                    snapshot: Snapshot = await self.hook.aget_job(job_id)
                except ImportJobError as error:
                    snapshot = error
                    self._fresh_at.pop(job_id, None)  # the next answer goes out (it resets error counts)
                if isinstance(snapshot, ImportJob):
                    snapshot = self._keep(snapshot)
                    self._fresh_at[job_id] = now()
                    self._progress_seen[job_id] = snapshot.progress
                elif listed is not None and isinstance(snapshot, JobNotFoundError) and job_id in listed:
                    snapshot = listed[job_id]  # listed, but gone since: keep what we know
                tick.deliver(job_id, snapshot)

        await asyncio.gather(*(worker() for _ in range(min(MAX_CONCURRENT_REQUESTS, len(job_ids)))))

    async def _by_list(self, tick: _Tick, shape: ListShape, collection: str | None) -> None:
        waiting = tick.waiting
        now = asyncio.get_running_loop().time()
        needs = {job_id: self._need(subscribers) for job_id, subscribers in waiting.items()}
        # Jobs whose progress is not due: their rows are not even parsed while their state holds.
        unchanged: dict[str, str] = {}
        for job_id, need in needs.items():
            last, fresh = self._last.get(job_id), self._fresh_at.get(job_id)
            if last is None or fresh is None or need is None or last.state.is_terminal or now - fresh >= need:
                continue
            spelling = last.raw.get("state")
            if isinstance(spelling, str):
                unchanged[job_id] = spelling
        try:
            listing = await self.hook.ascan_jobs(waiting.keys(), collection_name=collection, unchanged=unchanged)
        except ResponseTooLargeError:
            # More retained jobs than the client reads in one body (some 140,000 Milvus rows): the
            # list cannot answer, each job's own endpoint can. Not walked again for RELIST_AFTER_TICKS.
            self._list_cost[collection] = (UNREADABLE, UNREADABLE)
            await self._each(tick, list(waiting))
            return
        except ImportJobError as error:
            self._fresh_at.clear()  # the next answers go out (they reset the waits' error counts)
            await self._deliver_all(tick, dict.fromkeys(waiting, error))
            return
        self._list_cost[collection] = (listing.rows, listing.pages)
        listed = {job.job_id: job for job in listing.jobs}
        same = listing.unchanged
        answers: dict[str, Snapshot] = {}
        # A terminal state needs the job's own answer for its details; a job missing from the list
        # may be from another database or gone after retention — its own endpoint tells which.
        details: list[str] = []
        refresh: list[tuple[float, str]] = []  # (how overdue, job)
        for job_id in waiting:
            if job_id in same:  # listed in the state its waits have, progress not due yet
                progress = same[job_id]
                if shape.has_progress and progress is not None:
                    self._progress_seen[job_id] = progress
                continue
            row = listed.get(job_id)
            if row is None or row.state.is_terminal:
                details.append(job_id)
                continue
            if shape.has_progress:
                self._progress_seen[job_id] = row.progress
            overdue = self._overdue(row, needs[job_id], now)
            if overdue is None:
                continue  # nothing its waits need yet: they are not woken
            if shape.has_progress:
                answers[job_id] = self._keep(row)
                self._fresh_at[job_id] = now
            else:
                refresh.append((overdue, job_id))
        await self._deliver_all(tick, answers)
        # The job closest to done at the last look most likely finished first, so it has waited
        # longest for its event: ask for those first (jobs never seen before, first of all).
        seen = self._progress_seen
        details.sort(key=lambda job_id: -seen[job_id] if job_id in seen else -101)
        await self._each(tick, details, listed=listed)
        if refresh:  # Zilliz Cloud: progress from getProgress, within a share of the rate budget
            refresh.sort(reverse=True)
            await self._each(tick, [job_id for _, job_id in refresh[: self._refresh_budget()]])

    @staticmethod
    def _need(subscribers: Iterable[Subscription]) -> float | None:
        """How often the waits on a job need its progress (None: every tick)."""
        return min((s.progress_every for s in subscribers if s.progress_every), default=None)

    def _overdue(self, row: ImportJob, need: float | None, now: float) -> float | None:
        """How overdue a running job's progress is for its waits (None: not due, inf: new state).

        A job in a new state (or new state spelling) is due at once; otherwise its progress goes
        out every ``progress_every`` its waits ask for (their progress lines and stall clocks need
        no more), and every tick when none asks. Between two, the waits keep what they had and are
        not woken. Where the list carries no progress (Zilliz Cloud), due means read with
        ``getProgress``: a list row would say 0%.
        """
        last = self._last.get(row.job_id)
        fresh = self._fresh_at.get(row.job_id)
        if (
            last is None
            or fresh is None
            or last.state is not row.state
            or last.raw.get("state") != row.raw.get("state")
        ):
            return math.inf
        if need is None:
            return 0.0
        overdue = now - fresh - need
        return overdue if overdue >= 0 else None

    def _refresh_budget(self) -> int:
        """Progress refreshes one tick may send: a share of what the rate limit allows per interval."""
        rate = self.hook.settings.max_requests_per_second  # read by the list walk just before
        if not rate:
            return MAX_CONCURRENT_REQUESTS * 8
        return max(1, int(REFRESH_SHARE * rate * self.interval))

    def _keep(self, job: ImportJob) -> ImportJob:
        """``job``, or the snapshot already handed out for it when nothing in it changed."""
        last = self._last.get(job.job_id)
        if last is not None and last == job:
            return last
        self._last[job.job_id] = job
        return job

    async def _deliver_all(self, tick: _Tick, snapshots: dict[str, Snapshot]) -> None:
        """Hand ``snapshots`` to their waits, yielding to the loop every ``DELIVERY_BATCH`` jobs."""
        for count, (job_id, snapshot) in enumerate(snapshots.items(), start=1):
            tick.deliver(job_id, snapshot)
            if count % DELIVERY_BATCH == 0:
                await asyncio.sleep(0)  # let the woken waits (and the triggerer's watchdog) run


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


async def subscribe(
    conn_id: str, job_ids: Iterable[str], interval: float, progress_every: float | None = None
) -> Subscription:
    """Join (or start) the feed of ``conn_id`` for ``job_ids``, polled every ``interval`` seconds.

    ``progress_every``: read a running job's progress at least this often where the list
    carries none (see :class:`Subscription`).
    """
    feed = await _registry.feed(conn_id)
    return feed.subscribe(job_ids, interval, progress_every)


def active_feeds() -> dict[str, JobFeed]:
    """The running loop's feeds by connection ID (for tests and benchmarks)."""
    return dict(_registry.feeds())


__all__ = [
    "LISTS",
    "JobFeed",
    "JobState",
    "ListShape",
    "Snapshot",
    "Subscription",
    "active_feeds",
    "subscribe",
    "use_list",
]
