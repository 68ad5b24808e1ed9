"""Load: 200 concurrent waits across the three APIs while the server injects faults throughout.

Every wait must end with exactly one ``success`` event naming its own job: zero completions lost,
zero duplicated, and the request count stays within what the jobs and the faults explain.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from typing import Any

import pytest

from airflow_import_jobs.testing import Fault, Lifecycle, SimulatorServer
from airflow_import_jobs.waiting.feed import active_feeds
from tests.reliability.support import (
    APIS,
    CONN_IDS,
    PAST_HTTP_DATE,
    Api,
    RequestWatch,
    add_job,
    run_trigger,
    trigger_for,
)

WAITS_PER_API = {"milvus": 67, "zilliz": 67, "egain": 66}
STEPS = 3
PASS = Fault(kind="slow", delay=0.0)  # takes a FIFO slot and answers normally: spaces the faults out
#: One round of the FIFO every backend serves, over and over: a fault, then one or two normal answers.
ROUND: list[Fault] = [
    Fault(kind="status", status=503),
    PASS,
    Fault(kind="html", status=502),
    PASS,
    PASS,
    Fault(kind="drop"),
    PASS,
    Fault(kind="status", status=429, retry_after="0"),
    PASS,
    Fault(kind="truncated"),
    PASS,
    PASS,
    Fault(kind="non_json"),
    PASS,
    Fault(kind="status", status=504),
    PASS,
    Fault(kind="empty"),
    PASS,
    PASS,
    Fault(kind="wrong_shape"),
    PASS,
    Fault(kind="status", status=429, retry_after=PAST_HTTP_DATE),
    PASS,
    Fault(kind="status", status=429),
    PASS,
    PASS,
    Fault(kind="status", status=502),
    PASS,
]
EXTRA: dict[Api, list[Fault]] = {
    "milvus": [Fault(kind="error200"), PASS, Fault(kind="error200", code=2100, message="job limit reached"), PASS],
    "zilliz": [Fault(kind="status", status=500, code=65535, message="internal"), PASS],
    "egain": [Fault(kind="status", status=500, code="500-100", message="internal"), PASS],
}
TOKEN_ROUND: list[Fault] = [Fault(kind="status", status=503), PASS, Fault(kind="drop"), PASS, PASS]
FIFO_LENGTH = 1500  # per backend: longer than any run needs, so faults last until the end


@pytest.fixture(autouse=True)
async def _no_leftover_feeds() -> Any:
    yield
    assert not active_feeds()


def _inject_fifo(server: SimulatorServer) -> dict[str, int]:
    """Queue each backend's FIFO; returns the entries queued per backend."""
    sim = server.sim
    queued: dict[str, int] = {}
    for api in APIS:
        pattern = itertools.cycle(ROUND + EXTRA[api])
        for fault in itertools.islice(pattern, FIFO_LENGTH):
            sim.inject(api, fault, count=1)
        queued[api] = FIFO_LENGTH
    for fault in itertools.islice(itertools.cycle(TOKEN_ROUND), 200):
        sim.inject("egain_token", fault, count=1)
    queued["egain_token"] = 200
    return queued


async def test_many_concurrent_waits_lose_and_duplicate_no_completion(
    sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = sim_server.sim
    watch = RequestWatch(sim_server, monkeypatch)
    waits: list[tuple[Api, str]] = [
        (api, add_job(sim_server, api, Lifecycle(steps=STEPS))) for api in APIS for _ in range(WAITS_PER_API[api])
    ]
    assert len(waits) == 200
    queued = _inject_fifo(sim_server)

    async def wait(api: Api, job_id: str) -> tuple[str, dict[str, Any]]:
        # A generous budget: the FIFO never fails one request twice in a row, but concurrency decides
        # which wait gets which answer; the point here is that no completion is lost.
        event = await run_trigger(trigger_for(CONN_IDS[api], job_id, max_consecutive_errors=30))
        return job_id, event

    tasks = [asyncio.ensure_future(wait(api, job_id)) for api, job_id in waits]
    # Mid-load, every eGain token expires: the waits renew it while the faults go on. (Should the
    # eGain waits all end first, the assertions below say why; the test must not hang on it.)
    midway = asyncio.ensure_future(watch.until(lambda counts: counts.get("egain.status", 0) >= 100))
    egain_waits = asyncio.gather(*(t for t, (api, _) in zip(tasks, waits, strict=True) if api == "egain"))
    first: set[asyncio.Future[Any]] = {midway, egain_waits}
    await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
    expired_midway = midway.done()
    if expired_midway:
        sim.expire_egain_tokens()
    else:
        midway.cancel()
    results = await asyncio.gather(*tasks)

    statuses = Counter(event["status"] for _, event in results)
    assert statuses == {"success": 200}, [e["message"] for _, e in results if e["status"] != "success"][:5]
    completions = Counter(job["job_id"] for _, event in results for job in event["jobs"])
    expected = Counter(job_id for _, job_id in waits)
    lost = expected - completions
    duplicated = completions - expected
    assert not lost, f"{len(lost)} completions lost"
    assert not duplicated, f"{len(duplicated)} completions duplicated"
    for job_id, event in results:
        assert [job["job_id"] for job in event["jobs"]] == [job_id]  # each wait got its own job
        assert event["jobs"][0]["state"] == "completed"
    assert expired_midway  # the tokens really expired while eGain waits were still going

    counters = sim.counters()
    served: dict[str, int] = {api: sum(n for k, n in counters.items() if k.startswith(f"{api}.")) for api in APIS}
    served["egain_token"] = counters.get("egain.token", 0)
    served["egain"] -= served["egain_token"]
    for backend, count in served.items():
        assert 0 < count < queued[backend], (backend, count)  # faults were still queued at the very end
    # Bounded: every request took the next FIFO entry, so at most ``faults/len`` of any run of requests
    # was spoiled; the rest are the good answers the jobs need. No request is unexplained.
    lists = counters["milvus.list"]
    assert lists <= 40  # one per tick: 3 steps, then retries of the finished jobs' describes
    good_answers = {
        "milvus": lists + WAITS_PER_API["milvus"],  # one list per tick, one good describe per job
        "zilliz": STEPS * WAITS_PER_API["zilliz"],  # one read per step
        "egain": STEPS * WAITS_PER_API["egain"] + 32,  # + refused at the expiry (at most 32 in flight), resent once
    }
    for api in APIS:
        pattern = ROUND + EXTRA[api]
        passes = sum(1 for fault in pattern if fault is PASS)
        assert served[api] <= (good_answers[api] + 1) * len(pattern) / passes, (api, served[api])
    # One token fetch at the start and one after the expiry, shared by all 66 waits (single flight),
    # plus the attempts the token FIFO spoiled.
    token_passes = sum(1 for fault in TOKEN_ROUND if fault is PASS)
    assert served["egain_token"] <= (2 + 1) * len(TOKEN_ROUND) / token_passes, served["egain_token"]
