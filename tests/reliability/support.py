"""Shared helpers of the reliability and security suites: one place that knows the three APIs' names."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from airflow_import_jobs.client.policy import RetryPolicy
from airflow_import_jobs.hooks import EgainImportHook, ImportJobHook, MilvusImportHook, ZillizCloudImportHook
from airflow_import_jobs.testing import Fault, Lifecycle, SimulatorServer
from airflow_import_jobs.triggers.import_job import ImportJobTrigger
from tests.conftest import EGAIN, MILVUS, ZILLIZ, RequestWatch, run_trigger

__all__ = ["RequestWatch", "run_trigger"]  # shared with tests/test_trigger.py through tests/conftest.py

Api = Literal["milvus", "zilliz", "egain"]
APIS: tuple[Api, ...] = ("milvus", "zilliz", "egain")
CONN_IDS: dict[Api, str] = {"milvus": MILVUS, "zilliz": ZILLIZ, "egain": EGAIN}
HOOK_CLASSES: dict[Api, type[ImportJobHook]] = {
    "milvus": MilvusImportHook,
    "zilliz": ZillizCloudImportHook,
    "egain": EgainImportHook,
}
#: The endpoint (last path word, as the simulator counts it) that reads one job.
STATUS_ENDPOINT: dict[Api, str] = {"milvus": "describe", "zilliz": "getProgress", "egain": "status"}
#: Fast retries for hook-level fault tests: the policy's shape, without its real pauses.
FAST_RETRY = RetryPolicy(max_retries=3, backoff=0.001)
#: Poll interval of trigger tests: fractions of a second are valid everywhere.
FAST_POLL = 0.02
#: An HTTP-date Retry-After in the past: honoured as "retry now".
PAST_HTTP_DATE = "Thu, 01 Jan 1970 00:00:00 GMT"
#: A job ID of each API that the simulator does not know (well formed).
UNKNOWN_IDS: dict[Api, str] = {
    "milvus": "448761313698399999",
    "zilliz": "job-0000000000000000000zz",
    "egain": "7a84b875-6f75-4c7b-b137-0632b62db0bd",
}


def add_job(server: SimulatorServer, api: Api, lifecycle: Lifecycle | None = None) -> str:
    """A job on ``api`` in the simulator; returns its ID."""
    sim = server.sim
    if api == "milvus":
        return sim.add_milvus_job(lifecycle=lifecycle)
    if api == "zilliz":
        return sim.add_zilliz_job(lifecycle=lifecycle)
    return sim.add_egain_job(lifecycle=lifecycle)


def hook_for(api: Api, *, retry: RetryPolicy | None = FAST_RETRY, conn_id: str | None = None) -> ImportJobHook:
    """A hook of ``api`` on the simulator connection (or ``conn_id``) with fast retries."""
    return HOOK_CLASSES[api](conn_id=conn_id or CONN_IDS[api], retry=retry)


def fault_id(fault: Fault) -> str:
    """A readable test ID for a fault: ``status-429-ra=0``."""
    parts = [fault.kind]
    if fault.status is not None:
        parts.append(str(fault.status))
    if fault.code is not None:
        parts.append(f"code={fault.code}")
    if fault.retry_after is not None:
        parts.append("ra=date" if "GMT" in fault.retry_after else f"ra={fault.retry_after}")
    return "-".join(parts)


@dataclass(frozen=True)
class Driver:
    """Runs a hook method through its sync form or its async twin (the same protocol flow)."""

    name: str

    def __call__(self, hook: ImportJobHook, method: str, *args: Any, **kwargs: Any) -> Any:
        if self.name == "sync":
            try:
                return getattr(hook, method)(*args, **kwargs)
            finally:
                hook.close()

        async def go() -> Any:
            coro: Awaitable[Any] = getattr(hook, f"a{method}")(*args, **kwargs)
            try:
                return await coro
            finally:
                await hook.aclose()

        return asyncio.run(go())


DRIVERS = (Driver("sync"), Driver("async"))


def trigger_for(conn_id: str, *job_ids: str, **kwargs: Any) -> ImportJobTrigger:
    kwargs.setdefault("poll_interval", FAST_POLL)
    return ImportJobTrigger(conn_id=conn_id, job_ids=list(job_ids), **kwargs)


def walk_exception(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception chained to it (cause and context)."""
    seen: set[int] = set()
    stack = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)
