"""ImportJobTrigger under injected faults, for each API: the wait survives with the right event, or
ends at once with one clear message, and the number of requests stays bounded."""

from __future__ import annotations

import asyncio
import types
from typing import Any

import pytest

from airflow_import_jobs.connections.settings import ZILLIZ_CLOUD
from airflow_import_jobs.exceptions import ImportJobError, RateLimitedError
from airflow_import_jobs.testing import Fault, Lifecycle, SimulatorServer
from airflow_import_jobs.waiting import feed as feed_module
from airflow_import_jobs.waiting.feed import JobFeed, active_feeds
from tests.conftest import set_connection, simulator_connections
from tests.reliability.support import (
    APIS,
    CONN_IDS,
    FAST_POLL,
    PAST_HTTP_DATE,
    STATUS_ENDPOINT,
    Api,
    RequestWatch,
    add_job,
    fault_id,
    run_trigger,
    trigger_for,
)

STEPS = 2
BURST = 3

#: Faults a wait must outlive, with a fragment of the message it gives up with when they persist.
TRANSIENT: list[tuple[Fault, str]] = [
    (Fault(kind="status", status=429, retry_after="0"), "HTTP 429"),
    (Fault(kind="status", status=429, retry_after=PAST_HTTP_DATE), "HTTP 429"),
    (Fault(kind="status", status=429), "HTTP 429"),
    (Fault(kind="status", status=503), "HTTP 503"),
    (Fault(kind="status", status=502), "HTTP 502"),
    (Fault(kind="status", status=504), "HTTP 504"),
    (Fault(kind="html", status=502), "HTML page"),
    (Fault(kind="drop"), "dropped the connection mid-response"),
    (Fault(kind="truncated"), "not JSON"),
    (Fault(kind="non_json"), "not JSON"),
    (Fault(kind="wrong_shape"), "where an object was expected"),
    (Fault(kind="empty"), "empty body"),
]
TRANSIENT_BY_API: list[tuple[Api, Fault, str]] = [
    ("milvus", Fault(kind="error200"), "code 65535"),
    ("milvus", Fault(kind="error200", code=2100, message="number of jobs has reached the limit"), "job limit"),
    ("egain", Fault(kind="error200"), "500-100"),  # an error envelope behind HTTP 200: transient
]
#: Answers that end a wait at once: (api, fault, message fragment).
PERMANENT: list[tuple[Api, Fault, str]] = [
    *((api, Fault(kind="oversized"), "larger than 16777216 bytes") for api in APIS),
    ("milvus", Fault(kind="error200", code=1100, message="invalid parameter"), "code 1100"),
    ("milvus", Fault(kind="status", status=401, code=1800, message="not authenticated"), "HTTP 401"),
    ("zilliz", Fault(kind="error200", code=21119, message="The apikey is illegal."), "21119"),
    ("zilliz", Fault(kind="error200", code=1100, message="invalid parameter"), "code 1100"),
    ("egain", Fault(kind="status", status=403, code="403-197", message="Missing scope"), "403-197"),
    ("egain", Fault(kind="status", status=404, code="404-101", message="not found"), "404-101"),
]


@pytest.fixture(autouse=True)
async def _no_leftover_feeds() -> Any:
    yield
    assert not active_feeds()  # every wait released its feed and HTTP client


def _polls(api: Api, counters: dict[str, int]) -> int:
    """Requests that poll the job (Milvus polls by list, then describes the finished job)."""
    if api == "milvus":
        return counters.get("milvus.list", 0)
    return counters.get(f"{api}.{STATUS_ENDPOINT[api]}", 0)


def _transient_cases() -> list[Any]:
    cases = [pytest.param(api, fault, text, id=f"{api}-{fault_id(fault)}") for api in APIS for fault, text in TRANSIENT]
    cases += [pytest.param(api, fault, text, id=f"{api}-{fault_id(fault)}") for api, fault, text in TRANSIENT_BY_API]
    return cases


@pytest.mark.parametrize(("api", "fault", "text"), _transient_cases())
async def test_wait_survives_a_burst_with_bounded_requests(
    sim_server: SimulatorServer, api: Api, fault: Fault, text: str
) -> None:
    sim = sim_server.sim
    job_id = add_job(sim_server, api, Lifecycle(steps=STEPS))
    sim.inject(api, fault, count=BURST)
    event = await run_trigger(trigger_for(CONN_IDS[api], job_id, max_consecutive_errors=BURST + 1))
    assert event["status"] == "success", event
    assert [job["job_id"] for job in event["jobs"]] == [job_id]
    assert job_id in event["message"]
    assert len(sim.faults) == 0  # the wait really went through every fault
    counters = sim.counters()
    # Each faulted request costs one poll, each good one moves the job a step; Milvus adds one
    # describe of the finished job, eGain one token: nothing else (no hidden retries, no hot loop).
    extra = {"milvus": 1, "zilliz": 0, "egain": 1}[api]
    assert counters["total"] <= BURST + STEPS + extra, counters


GIVE_UP = [
    (Fault(kind="status", status=503), "HTTP 503"),
    (Fault(kind="status", status=429, retry_after="0"), "HTTP 429"),
    (Fault(kind="html", status=504), "HTML page"),
    (Fault(kind="drop"), "dropped the connection"),
    (Fault(kind="non_json"), "not JSON"),
]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(("fault", "text"), GIVE_UP, ids=[fault_id(f) for f, _ in GIVE_UP])
async def test_persistent_fault_ends_the_wait_after_the_error_budget(
    sim_server: SimulatorServer, api: Api, fault: Fault, text: str
) -> None:
    sim = sim_server.sim
    job_id = add_job(sim_server, api)
    sim.inject(api, fault, count=1000)
    event = await run_trigger(trigger_for(CONN_IDS[api], job_id, max_consecutive_errors=3))
    assert event["status"] == "error"
    assert event["message"].startswith("Gave up after 3 consecutive failed polls; the last: ")
    assert text in event["message"]
    assert "\n" not in event["message"]
    counters = sim.counters()
    assert _polls(api, counters) == 3  # exactly one request per tolerated failure
    assert counters["total"] == 3 + (1 if api == "egain" else 0)


@pytest.mark.parametrize(
    ("api", "fault", "text"), [pytest.param(a, f, t, id=f"{a}-{fault_id(f)}") for a, f, t in PERMANENT]
)
async def test_permanent_answer_ends_the_wait_at_once(
    sim_server: SimulatorServer, api: Api, fault: Fault, text: str
) -> None:
    sim = sim_server.sim
    job_id = add_job(sim_server, api)
    sim.inject(api, fault, count=1000)
    event = await run_trigger(trigger_for(CONN_IDS[api], job_id, max_consecutive_errors=10))
    assert event["status"] == "error"
    assert text in event["message"]
    assert not event["message"].startswith("Gave up")  # not counted down: ended by the first answer
    assert _polls(api, sim.counters()) == 1


# -- responses slower than the read timeout ---------------------------------------------------

SLOW_TIMEOUT = 0.3


@pytest.mark.parametrize("api", APIS)
async def test_wait_survives_responses_slower_than_the_timeout(
    sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch, api: Api
) -> None:
    fields = simulator_connections(sim_server)[CONN_IDS[api]]
    extra = {**fields["extra"], "timeout": SLOW_TIMEOUT, "max_requests_per_second": 10_000}
    set_connection(monkeypatch, CONN_IDS[api], **{**fields, "extra": extra})
    sim = sim_server.sim
    job_id = add_job(sim_server, api, Lifecycle(steps=STEPS))
    sim.inject(api, Fault(kind="slow", delay=SLOW_TIMEOUT * 10), count=2)
    event = await run_trigger(trigger_for(CONN_IDS[api], job_id, max_consecutive_errors=3))
    assert event["status"] == "success", event
    assert sim.counters()["total"] <= 2 + STEPS + 1


# -- eGain tokens ------------------------------------------------------------------------------


TOKEN_TRANSIENT = [
    Fault(kind="status", status=503),
    Fault(kind="status", status=429, retry_after="0"),
    Fault(kind="html", status=502),
    Fault(kind="drop"),
    Fault(kind="truncated"),
    Fault(kind="empty"),
    Fault(kind="error200"),
]


@pytest.mark.parametrize("fault", TOKEN_TRANSIENT, ids=fault_id)
async def test_wait_survives_a_failing_token_endpoint(sim_server: SimulatorServer, fault: Fault) -> None:
    sim = sim_server.sim
    job_id = add_job(sim_server, "egain", Lifecycle(steps=STEPS))
    sim.inject("egain_token", fault, count=BURST)
    event = await run_trigger(trigger_for(CONN_IDS["egain"], job_id, max_consecutive_errors=BURST + 1))
    assert event["status"] == "success", event
    counters = sim.counters()
    assert counters["egain.token"] == BURST + 1
    assert counters["egain.status"] == STEPS


async def test_token_endpoint_failing_for_good_ends_the_wait(sim_server: SimulatorServer) -> None:
    sim = sim_server.sim
    job_id = add_job(sim_server, "egain")
    sim.inject("egain_token", Fault(kind="status", status=503), count=1000)
    event = await run_trigger(trigger_for(CONN_IDS["egain"], job_id, max_consecutive_errors=3))
    assert event["status"] == "error"
    assert "Gave up after 3" in event["message"]
    assert "token endpoint" in event["message"]
    assert sim.counters() == {"egain.token": 3, "total": 3}


async def test_token_endpoint_refusing_the_client_ends_the_wait_at_once(sim_server: SimulatorServer) -> None:
    sim = sim_server.sim
    job_id = add_job(sim_server, "egain")
    sim.inject("egain_token", Fault(kind="status", status=401, code="invalid_client", message="bad"), count=1000)
    event = await run_trigger(trigger_for(CONN_IDS["egain"], job_id, max_consecutive_errors=10))
    assert event["status"] == "error"
    assert "client ID" in event["message"]
    assert sim.counters() == {"egain.token": 1, "total": 1}


async def test_token_expiring_mid_wait_is_renewed_once(sim_server: SimulatorServer, watch: RequestWatch) -> None:
    sim = sim_server.sim
    job_id = add_job(sim_server, "egain", Lifecycle(steps=5))
    task = asyncio.ensure_future(run_trigger(trigger_for(CONN_IDS["egain"], job_id)))
    await watch.until(lambda counts: counts.get("egain.status", 0) >= 2)
    sim.expire_egain_tokens()
    event = await task
    assert event["status"] == "success", event
    counters = sim.counters()
    assert counters["egain.token"] == 2
    assert counters["egain.status"] <= 5 + 1  # the one refused with 401-101, resent once


async def test_token_expiring_mid_wait_while_the_token_endpoint_stumbles(
    sim_server: SimulatorServer, watch: RequestWatch
) -> None:
    sim = sim_server.sim
    job_id = add_job(sim_server, "egain", Lifecycle(steps=5))
    task = asyncio.ensure_future(run_trigger(trigger_for(CONN_IDS["egain"], job_id, max_consecutive_errors=4)))
    await watch.until(lambda counts: counts.get("egain.status", 0) >= 2)
    sim.inject("egain_token", Fault(kind="status", status=503), count=2)
    sim.expire_egain_tokens()
    event = await task
    assert event["status"] == "success", event
    counters = sim.counters()
    assert counters["egain.token"] == 1 + 2 + 1
    assert counters["egain.status"] <= 5 + 1


async def _twenty_waits_with_an_expiry(server: SimulatorServer, watch: RequestWatch) -> dict[str, int]:
    sim = server.sim
    job_ids = [add_job(server, "egain", Lifecycle(steps=4)) for _ in range(20)]
    tasks = [asyncio.ensure_future(run_trigger(trigger_for(CONN_IDS["egain"], job_id))) for job_id in job_ids]
    await watch.until(lambda counts: counts.get("egain.status", 0) >= 20)
    sim.expire_egain_tokens()
    events = await asyncio.gather(*tasks)
    assert [e["status"] for e in events] == ["success"] * 20
    assert [e["jobs"][0]["job_id"] for e in events] == job_ids
    return sim.counters()


async def test_many_waits_renew_an_expired_token_with_bounded_requests(
    sim_server: SimulatorServer, watch: RequestWatch
) -> None:
    counters = await _twenty_waits_with_an_expiry(sim_server, watch)
    # At most one fetch per concurrent first request and one renewal per refused one: never a loop.
    assert counters["egain.token"] <= 2 * 20


async def test_many_waits_share_one_token_and_one_renewal(sim_server: SimulatorServer, watch: RequestWatch) -> None:
    counters = await _twenty_waits_with_an_expiry(sim_server, watch)
    assert counters["egain.token"] <= 2  # one at start, one renewal after the expiry


async def test_many_waits_on_a_refused_client_end_at_once_with_bounded_requests(sim_server: SimulatorServer) -> None:
    sim = sim_server.sim
    job_ids = [add_job(sim_server, "egain") for _ in range(20)]
    sim.inject("egain_token", Fault(kind="status", status=401, code="invalid_client", message="bad"), count=1000)
    events = await asyncio.gather(*(run_trigger(trigger_for(CONN_IDS["egain"], job_id)) for job_id in job_ids))
    assert [e["status"] for e in events] == ["error"] * 20
    assert all("client ID" in e["message"] for e in events)
    counters = sim.counters()
    assert counters["egain.token"] <= 20  # at most one attempt per wait, then each ends: no retry storm
    assert "egain.status" not in counters


# -- Retry-After in the future: the feed's pause, without waiting it out -------------------------


class _PauseRecorder:
    """Stands in for ``asyncio.sleep`` inside ``waiting.feed``: records the pauses the feed asks for."""

    def __init__(self, hook: _FailingHook) -> None:
        self.hook = hook
        self.pauses: list[float] = []
        self.paused = asyncio.Event()
        self._forever = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        if not self.hook.polls:  # the feed's first pause, before it polled: nothing to check yet
            await asyncio.sleep(0)
            return
        self.pauses.append(seconds)
        self.paused.set()
        await self._forever.wait()  # the test stops the feed here


class _FailingHook:
    """A hook whose every poll is refused with ``error``."""

    connection_type = ZILLIZ_CLOUD

    def __init__(self, error: ImportJobError) -> None:
        self.error = error
        self.polls = 0

    async def aget_job(self, job_id: str) -> Any:
        self.polls += 1
        raise self.error

    async def aclose(self) -> None:
        return None


@pytest.mark.parametrize(
    ("retry_after", "interval", "low", "high"),
    [
        (120.0, FAST_POLL, 119.0, 120.0),  # honoured
        (86_400.0, FAST_POLL, 299.0, 300.0),  # capped: a broken server cannot park the wait for a day
        (0.0, 5.0, 4.9, 5.0),  # never faster than the poll interval, whatever the server says
    ],
    ids=["future", "capped", "never-faster"],
)
async def test_feed_honours_retry_after_between_polls(
    monkeypatch: pytest.MonkeyPatch, retry_after: float, interval: float, low: float, high: float
) -> None:
    hook = _FailingHook(RateLimitedError("HTTP 429", http_status=429, retry_after=retry_after))
    recorder = _PauseRecorder(hook)
    monkeypatch.setattr(feed_module, "asyncio", types.SimpleNamespace(**{**vars(asyncio), "sleep": recorder.sleep}))
    feed = JobFeed("zilliz_fake", hook)  # type: ignore[arg-type]
    subscription = feed.subscribe(["job-1"], interval)
    snapshots = await subscription.next()
    assert isinstance(snapshots["job-1"], RateLimitedError)
    await recorder.paused.wait()
    await feed.stop()
    assert hook.polls == 1
    assert len(recorder.pauses) == 1
    assert low <= recorder.pauses[0] <= high
