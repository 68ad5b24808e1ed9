"""The shared poll loop (waiting/feed.py) over the loopback simulator: how it asks, and what waits get."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from structlog.testing import capture_logs

from airflow_import_jobs.testing import Fault, Lifecycle, SimulatorServer
from airflow_import_jobs.waiting import feed as feed_module
from airflow_import_jobs.waiting.feed import LISTS, JobFeed, Subscription, active_feeds, use_list
from tests.conftest import MILVUS, ZILLIZ, RequestWatch, run_trigger
from tests.test_trigger import trigger

MILVUS_LIST = LISTS["milvus"]
ZILLIZ_LIST = LISTS["zilliz_cloud"]


@pytest.fixture(autouse=True)
async def _no_leftover_feeds() -> Any:
    yield
    assert not active_feeds()


class _FeedRecorder:
    """Keeps the feeds the waits create, to read how each tick asked (``JobFeed.modes``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.feeds: list[JobFeed] = []
        original = JobFeed.__init__

        def init(feed: JobFeed, *args: Any, **kwargs: Any) -> None:
            original(feed, *args, **kwargs)
            self.feeds.append(feed)

        monkeypatch.setattr(JobFeed, "__init__", init)

    def modes(self) -> list[str]:
        assert len(self.feeds) == 1, self.feeds
        return self.feeds[0].modes


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> _FeedRecorder:
    return _FeedRecorder(monkeypatch)


# -- the choice, without I/O -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "waited", "rows", "pages", "expected"),
    [
        (MILVUS_LIST, 1, None, None, True),  # not measured yet: one list tells the size
        (MILVUS_LIST, 1, 5, 1, True),  # a small database: one list as cheap as one describe
        (MILVUS_LIST, 1, 50_000, 1, False),  # one wait, 50,000 retained jobs: describe instead
        (MILVUS_LIST, 10_000, 10_000, 1, True),  # 10,000 waits on one database: one list per tick
        (MILVUS_LIST, 10, 1_000, 1, True),
        (MILVUS_LIST, 10, 1_001, 1, False),
        (ZILLIZ_LIST, 1, None, None, False),  # one page can never beat one getProgress
        (ZILLIZ_LIST, 2, None, None, True),
        (ZILLIZ_LIST, 1_000, 1_000, 10, True),  # 10 pages answer 1,000 waits
        (ZILLIZ_LIST, 5, 1_000, 10, False),  # 5 getProgress beat 10 pages
        (ZILLIZ_LIST, 0, None, None, False),
    ],
)
def test_use_list_weighs_the_last_walk_against_one_request_per_job(
    shape: Any, waited: int, rows: int | None, pages: int | None, expected: bool
) -> None:
    assert use_list(shape, waited=waited, rows=rows, pages=pages) is expected


async def test_subscription_merges_answers_delivered_apart() -> None:
    feed: Any = object()
    subscription = Subscription(feed=feed, job_ids=frozenset({"a", "b"}), interval=1.0)
    subscription.deliver({"a": "first"})  # type: ignore[dict-item]
    subscription.deliver({"c": "not mine"})  # type: ignore[dict-item]
    subscription.deliver({"b": "second"})  # type: ignore[dict-item]
    assert await subscription.next() == {"a": "first", "b": "second"}
    subscription.deliver({"c": "not mine"})  # type: ignore[dict-item]
    assert not subscription.ready  # nothing of its own: the wait is not woken


async def test_subscription_next_gives_none_after_its_timeout_and_keeps_later_answers() -> None:
    feed: Any = object()
    subscription = Subscription(feed=feed, job_ids=frozenset({"a"}), interval=1.0)
    assert await subscription.next(timeout=0.01) is None  # nothing came: the deadline passed
    subscription.deliver({"a": "late"})  # type: ignore[dict-item]
    assert await subscription.next(timeout=0.0) == {"a": "late"}  # an answer waiting wins over the timeout


async def test_subscription_next_wakes_on_delivery_before_its_timeout() -> None:
    feed: Any = object()
    subscription = Subscription(feed=feed, job_ids=frozenset({"a"}), interval=1.0)
    waiting = asyncio.ensure_future(subscription.next(timeout=3600))
    await asyncio.sleep(0)  # let it start waiting
    subscription.deliver({"a": "answer"})  # type: ignore[dict-item]
    assert await waiting == {"a": "answer"}


# -- Milvus: list or describe, per tick ----------------------------------------------------------


async def test_one_wait_on_a_large_database_lists_once_then_describes(
    sim_server: SimulatorServer, recorder: _FeedRecorder
) -> None:
    sim = sim_server.sim
    for _ in range(3_000):  # retained history in the same collection
        sim.add_milvus_job(lifecycle=Lifecycle(steps=0))
    job_id = sim.add_milvus_job(lifecycle=Lifecycle(steps=5, total_rows=900))
    event = await run_trigger(trigger(MILVUS, job_id))
    assert event["status"] == "success", event
    assert event["jobs"][0]["imported_rows"] == 900
    counters = sim.counters()
    assert counters["milvus.list"] == 1  # the walk that measured the database, never again
    assert counters["milvus.describe"] >= 3
    modes = recorder.modes()
    assert modes[0] == "list"
    assert set(modes[1:]) == {"each"}


async def test_a_list_too_large_to_read_is_answered_job_by_job(
    sim_server: SimulatorServer, recorder: _FeedRecorder
) -> None:
    sim = sim_server.sim
    job_id = sim.add_milvus_job(lifecycle=Lifecycle(steps=3, total_rows=300))
    sim.inject("milvus", Fault(kind="oversized"), count=1000, endpoint="list")  # every list: over 16 MiB
    event = await run_trigger(trigger(MILVUS, job_id))
    assert event["status"] == "success", event  # not ended by the list: the job's own answers did
    assert event["jobs"][0]["imported_rows"] == 300
    counters = sim.counters()
    assert counters["milvus.list"] == 1  # tried once, then left alone
    assert counters["milvus.describe"] >= 3
    assert set(recorder.modes()[1:]) == {"each"}


async def test_many_waits_on_one_database_stay_at_one_list_per_tick(
    sim_server: SimulatorServer, recorder: _FeedRecorder
) -> None:
    sim = sim_server.sim
    for _ in range(300):
        sim.add_milvus_job(lifecycle=Lifecycle(steps=0))
    job_ids = [sim.add_milvus_job(lifecycle=Lifecycle(steps=4)) for _ in range(30)]
    events = await asyncio.gather(*(run_trigger(trigger(MILVUS, job_id)) for job_id in job_ids))
    assert Counter(e["status"] for e in events) == {"success": 30}
    counters = sim.counters()
    assert set(recorder.modes()) == {"list"}
    assert counters["milvus.list"] == len(recorder.modes())
    assert counters["milvus.describe"] == 30  # once per job, for its details when it finished


async def test_the_list_is_filtered_by_the_collection_all_waits_share(sim_server: SimulatorServer) -> None:
    sim = sim_server.sim
    for _ in range(50):
        sim.add_milvus_job("other_collection", lifecycle=Lifecycle(steps=0))
    job_ids = [sim.add_milvus_job("docs", lifecycle=Lifecycle(steps=4)) for _ in range(3)]
    events = await asyncio.gather(*(run_trigger(trigger(MILVUS, job_id)) for job_id in job_ids))
    assert all(e["status"] == "success" for e in events)
    lists = [r.body for r in sim.requests if r.endpoint == "list"]
    assert lists[0].get("collectionName") is None  # the collections are not known before the first answer
    assert len(lists) >= 2
    assert all(body.get("collectionName") == "docs" for body in lists[1:])


# -- Zilliz Cloud: by list pages ---------------------------------------------------------------


async def _zilliz_events(sim_server: SimulatorServer, count: int, **kwargs: Any) -> list[dict[str, Any]]:
    job_ids = [sim_server.sim.add_zilliz_job(lifecycle=Lifecycle(steps=4, total_rows=100 + i)) for i in range(count)]
    return list(await asyncio.gather(*(run_trigger(trigger(ZILLIZ, job_id, **kwargs)) for job_id in job_ids)))


def _comparable(event: dict[str, Any]) -> dict[str, Any]:
    """An event without the completion times (each run completes its jobs at its own moment)."""
    jobs = [
        {
            **{k: v for k, v in job.items() if k not in ("completed_at", "created_at", "raw", "job_id", "files")},
            "raw": {k: v for k, v in job["raw"].items() if k not in ("completeTime", "jobId", "details")},
        }
        for job in event["jobs"]
    ]
    return {"status": event["status"], "jobs": jobs, "message_tail": event["message"].split(" completed")[-1]}


async def test_zilliz_waits_by_list_end_with_the_same_events_as_one_by_one(
    sim_server: SimulatorServer, recorder: _FeedRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    by_list = await _zilliz_events(sim_server, 12, max_consecutive_errors=1)
    assert "list" in recorder.feeds[0].modes
    listed = sim_server.sim.counters()
    monkeypatch.setattr(feed_module, "use_list", lambda *args, **kwargs: False)
    one_by_one = await _zilliz_events(sim_server, 12, max_consecutive_errors=1)
    assert [_comparable(e) for e in by_list] == [_comparable(e) for e in one_by_one]
    assert all(e["status"] == "success" and e["jobs"][0]["files"] for e in by_list)
    # By list, getProgress only where the list cannot answer: about one per job (when it finished)
    # plus the first detailed read of each running job, not one per job per tick.
    assert listed["zilliz.list"] >= 1
    assert listed["zilliz.getProgress"] <= 2 * 12
    assert sim_server.sim.counters()["zilliz.getProgress"] - listed["zilliz.getProgress"] >= 12 * 3


async def test_zilliz_by_list_stays_under_the_rate_limit(sim_server: SimulatorServer) -> None:
    # The simulator answers 429 past 20 requests/s per endpoint; one error ends a wait here.
    events = await _zilliz_events(sim_server, 150, max_consecutive_errors=1)
    assert Counter(e["status"] for e in events) == {"success": 150}, [e["message"] for e in events][:3]
    counters = sim_server.sim.counters()
    assert counters["zilliz.list"] >= 2 * 2  # two pages per tick (150 jobs, 100 a page)


async def test_zilliz_running_jobs_get_progress_at_the_cadence_the_waits_need(
    sim_server: SimulatorServer, watch: RequestWatch
) -> None:
    sim = sim_server.sim
    job_ids = [sim.add_zilliz_job(lifecycle=Lifecycle(outcome="stall", stall_at=50, steps=2)) for _ in range(3)]
    with capture_logs() as logs:
        events = await asyncio.gather(*(run_trigger(trigger(ZILLIZ, j, stall_timeout=0.3)) for j in job_ids))
    # The stall clock ran on progress read from getProgress: the list alone carries none.
    assert [e["status"] for e in events] == ["stalled"] * 3
    assert all("50%" in e["message"] for e in events)
    assert sim.counters()["zilliz.list"] >= 1
    lines = [str(entry.get("event")) for entry in logs]
    assert not any("running 0%" in line for line in lines if any(j in line for j in job_ids)), lines


async def test_one_zilliz_wait_polls_getprogress_as_before(
    sim_server: SimulatorServer, recorder: _FeedRecorder
) -> None:
    job_id = sim_server.sim.add_zilliz_job(lifecycle=Lifecycle(steps=3))
    event = await run_trigger(trigger(ZILLIZ, job_id))
    assert event["status"] == "success"
    assert set(recorder.modes()) == {"each"}
    assert "zilliz.list" not in sim_server.sim.counters()


# -- what reaches the waits, tick by tick ------------------------------------------------------


async def _feed_for(conn_id: str) -> JobFeed:
    from airflow_import_jobs.client.policy import RetryPolicy
    from airflow_import_jobs.hooks import aget_import_hook

    return JobFeed(conn_id, await aget_import_hook(conn_id, retry=RetryPolicy(max_retries=0)))


async def test_running_jobs_reach_their_waits_on_a_new_state_and_when_progress_is_due(
    sim_server: SimulatorServer,
) -> None:
    from airflow_import_jobs.testing import Fault

    sim = sim_server.sim
    job_id = sim.add_milvus_job(lifecycle=Lifecycle(advance="time", duration=3600.0))
    feed = await _feed_for(MILVUS)
    subscription = feed.subscribe([job_id], interval=3600.0, progress_every=3600.0)  # the feed's own loop sleeps
    try:
        await feed.tick()
        first = (await subscription.next())[job_id]
        assert first.state.value in ("pending", "running")
        await feed.tick()  # same state, progress not due: the wait is not woken
        assert not subscription.ready
        sim.inject("milvus", Fault(kind="status", status=503), count=1, endpoint="list")
        await feed.tick()  # a failed poll reaches the wait ...
        assert isinstance((await subscription.next())[job_id], Exception)
        await feed.tick()  # ... and so does the next answer, which resets its error count
        assert (await subscription.next())[job_id].job_id == job_id
        subscription.progress_every = 1e-9
        await feed.tick()  # progress due: handed over
        assert subscription.ready
        assert feed.modes == ["list"] * 5
    finally:
        feed.subscriptions.clear()
        await feed.stop()


def test_list_rows_in_an_unchanged_state_are_not_parsed() -> None:
    from airflow_import_jobs.protocol import envelope

    records = [
        {"jobId": "1", "state": "Importing", "progress": 40},
        {"jobId": "2", "state": "Completed", "progress": 100},
        {"jobId": "3", "state": "Importing"},
        {"jobId": "4", "state": "Importing", "progress": 10},
    ]
    parse, same = envelope.wanted(records, {"1", "2", "3"}, {"1": "Importing", "2": "Importing", "3": "Importing"})
    assert [r["jobId"] for r in parse] == ["2"]  # a new state is parsed; job 4 is nobody's
    assert same == {"1": 40, "3": None}
    assert envelope.wanted(records, None) == (records, {})
