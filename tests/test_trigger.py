"""ImportJobTrigger against the simulator: every event status, faults survived, bounded requests."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from structlog.testing import capture_logs

from airflow_import_jobs.testing import Fault, Lifecycle, SimulatorServer
from airflow_import_jobs.triggers.import_job import ImportJobTrigger
from airflow_import_jobs.waiting.feed import active_feeds
from tests.conftest import EGAIN, MILVUS, ZILLIZ, RequestWatch, run_trigger, set_connection

FAST = 0.02  # poll interval for tests: fractions of a second are valid everywhere


def trigger(conn_id: str, *job_ids: str, **kwargs: Any) -> ImportJobTrigger:
    kwargs.setdefault("poll_interval", FAST)
    return ImportJobTrigger(conn_id=conn_id, job_ids=list(job_ids), **kwargs)


@pytest.fixture(autouse=True)
async def _no_leftover_feeds() -> Any:
    yield
    assert not active_feeds()  # every wait released its feed and HTTP client


async def test_success_for_each_backend(sim_server: SimulatorServer) -> None:
    sim = sim_server.sim
    cases = [
        (MILVUS, sim.add_milvus_job(lifecycle=Lifecycle(steps=3, total_rows=700))),
        (ZILLIZ, sim.add_zilliz_job(lifecycle=Lifecycle(steps=3))),
        (EGAIN, sim.add_egain_job(lifecycle=Lifecycle(steps=3))),
    ]
    for conn_id, job_id in cases:
        event = await run_trigger(trigger(conn_id, job_id))
        assert event["status"] == "success", event
        assert event["jobs"][0]["job_id"] == job_id
        assert event["jobs"][0]["state"] == "completed"
        assert job_id in event["message"]
        assert "completed" in event["message"]


async def test_failed_job_says_why(sim_server: SimulatorServer) -> None:
    job_id = sim_server.sim.add_milvus_job(
        lifecycle=Lifecycle(outcome="failed", steps=2, reason="file a.parquet: column 'vec' has dim 64, expected 128")
    )
    event = await run_trigger(trigger(MILVUS, job_id))
    assert event["status"] == "failed"
    assert job_id in event["message"]
    assert "dim 64, expected 128" in event["message"]
    assert event["jobs"][0]["state"] == "failed"


async def test_egain_failure_and_cancellation_carry_egain_details(sim_server: SimulatorServer) -> None:
    failed = sim_server.sim.add_egain_job(
        lifecycle=Lifecycle(outcome="failed", steps=2, reason="DB timeout", retryable=True)
    )
    event = await run_trigger(trigger(EGAIN, failed))
    assert event["status"] == "failed"
    assert "DB timeout" in event["message"]
    assert "retryable: true" in event["message"]
    assert "log file: " in event["message"]
    cancelled = sim_server.sim.add_egain_job(lifecycle=Lifecycle(outcome="cancelled", steps=2))
    event = await run_trigger(trigger(EGAIN, cancelled))
    assert event["status"] == "cancelled"
    assert "was cancelled" in event["message"]


async def test_timeout_at_end_time(sim_server: SimulatorServer) -> None:
    import time

    job_id = sim_server.sim.add_milvus_job(lifecycle=Lifecycle(outcome="stall"))
    event = await run_trigger(trigger(MILVUS, job_id, end_time=time.time() + 0.3))
    assert event["status"] == "timeout"
    assert "deadline passed" in event["message"]
    assert job_id in event["message"]


async def test_end_time_already_passed_makes_no_request(sim_server: SimulatorServer) -> None:
    job_id = sim_server.sim.add_milvus_job()
    event = await run_trigger(trigger(MILVUS, job_id, end_time=1.0))
    assert event["status"] == "timeout"
    assert sim_server.sim.counters()["total"] == 0


async def test_stall_at_80_percent_points_at_the_index_build(sim_server: SimulatorServer) -> None:
    job_id = sim_server.sim.add_milvus_job(lifecycle=Lifecycle(outcome="stall", stall_at=80, steps=2))
    event = await run_trigger(trigger(MILVUS, job_id, stall_timeout=0.2))
    assert event["status"] == "stalled"
    assert "80%" in event["message"]
    assert "index build" in event["message"]


async def test_authentication_failure_ends_at_once(
    sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(
        monkeypatch, "milvus_badpw", conn_type="milvus", host=sim_server.milvus_url, login="root", password="nope"
    )
    job_id = sim_server.sim.add_milvus_job()
    event = await run_trigger(trigger("milvus_badpw", job_id, max_consecutive_errors=10))
    assert event["status"] == "error"
    assert "HTTP 401" in event["message"]
    assert sim_server.sim.counters()["total"] == 1


async def test_unknown_job_ends_at_once(sim_server: SimulatorServer) -> None:
    event = await run_trigger(trigger(EGAIN, "7a84b875-6f75-4c7b-b137-0632b62db0bd"))
    assert event["status"] == "error"
    assert "404-101" in event["message"]
    assert sim_server.sim.counters()["egain.status"] == 1


async def test_missing_connection_is_an_error_event() -> None:
    event = await run_trigger(trigger("no_such_connection", "448761313698322011"))
    assert event["status"] == "error"
    assert "no_such_connection" in event["message"]


@pytest.mark.parametrize(
    "fault",
    [
        Fault(kind="status", status=503),
        Fault(kind="status", status=429, retry_after="0"),
        Fault(kind="status", status=429, retry_after="Thu, 01 Jan 1970 00:00:00 GMT"),
        Fault(kind="status", status=502),
        Fault(kind="status", status=504),
        Fault(kind="html", status=502),
        Fault(kind="drop"),
        Fault(kind="truncated"),
        Fault(kind="non_json"),
        Fault(kind="empty"),
    ],
    ids=lambda f: f"{f.kind}-{f.status}-{f.retry_after}",
)
async def test_transient_bursts_are_survived_with_bounded_requests(sim_server: SimulatorServer, fault: Fault) -> None:
    job_id = sim_server.sim.add_milvus_job(lifecycle=Lifecycle(steps=2))
    sim_server.sim.inject("milvus", fault, count=4)
    event = await run_trigger(trigger(MILVUS, job_id, max_consecutive_errors=5))
    assert event["status"] == "success", event
    counters = sim_server.sim.counters()
    # At most 4 faulted polls + 2 list polls + 1 describe of the completed job: no hidden retries.
    # (drop and truncated faults still let the server read the job, so they may save a poll.)
    assert counters["total"] <= 4 + 2 + 1, counters
    assert counters["milvus.list"] >= 4


async def test_too_many_consecutive_errors_end_with_error_and_no_hot_loop(sim_server: SimulatorServer) -> None:
    job_id = sim_server.sim.add_milvus_job()
    sim_server.sim.inject("milvus", Fault(kind="status", status=503), count=1000)
    event = await run_trigger(trigger(MILVUS, job_id, max_consecutive_errors=3))
    assert event["status"] == "error"
    assert "Gave up after 3 consecutive failed polls" in event["message"]
    assert "HTTP 503" in event["message"]
    assert sim_server.sim.counters()["total"] == 3


async def test_a_success_resets_the_error_count(sim_server: SimulatorServer, watch: RequestWatch) -> None:
    sim = sim_server.sim
    job_id = sim.add_milvus_job(lifecycle=Lifecycle(steps=8))
    task = asyncio.ensure_future(run_trigger(trigger(MILVUS, job_id, max_consecutive_errors=3)))
    # Two failures, a success, two failures, a success...: never three in a row.
    for burst in range(3):
        sim.inject("milvus", Fault(kind="status", status=503), count=2, endpoint="list")
        await watch.until(lambda counts, burst=burst: counts.get("milvus.list", 0) >= 3 * (burst + 1))
    event = await task
    assert event["status"] == "success", event


def test_error_budget_counts_in_a_row_only() -> None:
    from airflow_import_jobs.exceptions import AuthenticationError, TransientServiceError
    from airflow_import_jobs.waiting.outcome import ErrorBudget

    log = logging.getLogger("test")
    budget = ErrorBudget(limit=2)
    assert budget.failed(TransientServiceError("503"), [], log) is None
    budget.succeeded()
    assert budget.failed(TransientServiceError("503"), [], log) is None
    ended = budget.failed(TransientServiceError("503 again"), [], log)
    assert ended is not None
    assert ended.status == "error"
    assert "Gave up after 2" in ended.message
    permanent = ErrorBudget(limit=10).failed(AuthenticationError("HTTP 401"), [], log)
    assert permanent is not None
    assert permanent.message == "HTTP 401"


async def test_several_jobs_success_needs_all(sim_server: SimulatorServer) -> None:
    a = sim_server.sim.add_milvus_job(lifecycle=Lifecycle(steps=2))
    b = sim_server.sim.add_milvus_job(lifecycle=Lifecycle(steps=5))
    event = await run_trigger(trigger(MILVUS, a, b))
    assert event["status"] == "success"
    assert [j["job_id"] for j in event["jobs"]] == [a, b]
    assert all(j["state"] == "completed" for j in event["jobs"])


async def test_several_jobs_fail_as_soon_as_one_fails(sim_server: SimulatorServer) -> None:
    ok = sim_server.sim.add_egain_job(lifecycle=Lifecycle(outcome="stall"))
    bad = sim_server.sim.add_egain_job(lifecycle=Lifecycle(outcome="failed", steps=2, reason="bad file"))
    event = await run_trigger(trigger(EGAIN, ok, bad))
    assert event["status"] == "failed"
    assert bad in event["message"]


async def test_milvus_waits_share_one_list_call_per_tick(sim_server: SimulatorServer) -> None:
    job_ids = [sim_server.sim.add_milvus_job(lifecycle=Lifecycle(steps=3)) for _ in range(25)]
    events = await asyncio.gather(*(run_trigger(trigger(MILVUS, job_id)) for job_id in job_ids))
    assert [e["status"] for e in events] == ["success"] * 25
    counters = sim_server.sim.counters()
    assert counters["milvus.describe"] == 25  # once per job, for its final details
    assert counters["milvus.list"] <= 4  # one per tick for all 25 waits


async def test_waits_on_the_same_job_share_polls(sim_server: SimulatorServer) -> None:
    job_id = sim_server.sim.add_egain_job(lifecycle=Lifecycle(steps=3))
    events = await asyncio.gather(*(run_trigger(trigger(EGAIN, job_id)) for _ in range(10)))
    assert {e["status"] for e in events} == {"success"}
    assert sim_server.sim.counters()["egain.status"] == 3


def test_serialize_round_trip_has_no_secrets(sim_server: SimulatorServer) -> None:
    original = ImportJobTrigger(
        conn_id=EGAIN,
        job_ids=["7a84b875-6f75-4c7b-b137-0632b62db0bd"],
        poll_interval=0.5,
        end_time=1_900_000_000.0,
        stall_timeout=60,
        max_consecutive_errors=4,
    )
    classpath, kwargs = original.serialize()
    assert classpath == "airflow_import_jobs.triggers.import_job.ImportJobTrigger"
    assert kwargs == {
        "conn_id": EGAIN,
        "job_ids": ["7a84b875-6f75-4c7b-b137-0632b62db0bd"],
        "poll_interval": 0.5,
        "end_time": 1_900_000_000.0,
        "stall_timeout": 60.0,
        "max_consecutive_errors": 4,
        "progress_log_interval": 300.0,
        "cancel_on_kill": False,
    }
    assert ImportJobTrigger(**kwargs).serialize() == (classpath, kwargs)
    text = json.dumps(kwargs)
    for secret in (sim_server.sim.egain_client_secret, sim_server.sim.milvus_password, sim_server.sim.zilliz_api_key):
        assert secret not in text


async def test_restart_from_kwargs_loses_nothing(sim_server: SimulatorServer, watch: RequestWatch) -> None:
    job_id = sim_server.sim.add_milvus_job(lifecycle=Lifecycle(steps=6))
    first = trigger(MILVUS, job_id)
    task = asyncio.ensure_future(run_trigger(first))
    await watch.until(lambda counts: counts.get("milvus.list", 0) >= 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not active_feeds()  # the stopped trigger left nothing behind
    _, kwargs = first.serialize()
    event = await run_trigger(ImportJobTrigger(**kwargs))
    assert event["status"] == "success"


def messages(logs: list[dict[str, Any]]) -> list[str]:
    """The rendered messages of captured structlog entries (the trigger logs through structlog)."""
    out = []
    for entry in logs:
        text = str(entry.get("event", ""))
        args = entry.get("positional_args")
        out.append(text % args if args else text)
    return out


async def test_uncommitted_is_explained_once(sim_server: SimulatorServer) -> None:
    job_id = sim_server.sim.add_milvus_job(lifecycle=Lifecycle(outcome="uncommitted", steps=1))
    with capture_logs() as logs:
        event = await run_trigger(trigger(MILVUS, job_id, stall_timeout=0.3))
    assert event["status"] == "stalled"
    assert "explicit commit" in event["message"]
    notes = [m for m in messages(logs) if "needs an explicit commit" in m]
    assert len(notes) == 1


async def test_progress_is_logged_when_it_changes(sim_server: SimulatorServer) -> None:
    job_id = sim_server.sim.add_milvus_job(lifecycle=Lifecycle(steps=4, total_rows=800))
    with capture_logs() as logs:
        event = await run_trigger(trigger(MILVUS, job_id))
    assert event["status"] == "success"
    lines = [m for m in messages(logs) if job_id in m and "%" in m]
    assert any("pending" in line for line in lines)
    assert any("running" in line for line in lines)
    assert len(lines) == len(set(lines))  # a line per change, not per poll


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"job_ids": []}, "job_ids"),
        ({"job_ids": "448761313698322011"}, "job_ids"),
        ({"job_ids": ["a"], "poll_interval": 0}, "poll_interval"),
        ({"job_ids": ["a"], "stall_timeout": -5}, "stall_timeout"),
        ({"job_ids": ["a"], "max_consecutive_errors": 0}, "max_consecutive_errors"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ImportJobTrigger(conn_id=MILVUS, **kwargs)
