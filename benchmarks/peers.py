"""The peers the benchmark compares against, polling the same simulator.

* ``http_event`` — the http provider's :class:`~airflow.providers.http.triggers.http.HttpEventTrigger`
  with a response check (``benchmarks.peer_checks``). ``HttpSensorTrigger`` fires on the first
  2xx, so it cannot express "wait until the job is done": the Milvus and eGain status calls answer
  200 for a running job. One trigger per wait, one request per wait per poll, a new
  ``aiohttp.ClientSession`` per poll, and the check module re-imported per poll — as shipped.
* ``per_poll_session`` — a trigger in the style of the dbt-cloud provider's: the connection read
  once, then a new ``aiohttp.ClientSession`` per poll (``async with ClientSession() ...``), one
  request per wait per poll. Unlike dbt-cloud it keeps polling after an error instead of ending
  the wait, so a benchmark hiccup cannot end waits early.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

MILVUS_DESCRIBE = "v2/vectordb/jobs/import/describe"
EGAIN_STATUS = "knowledge/contentmgr/v4/import/content/{job_id}/status"
TERMINAL = {
    "milvus": frozenset({"Completed", "Failed"}),
    "egain": frozenset({"Successful", "Failed", "Cancelled"}),
}


def http_event_trigger(backend: str, conn_id: str, job_id: str, poll_interval: float) -> BaseTrigger:
    """The http provider's ``HttpEventTrigger`` waiting for one job."""
    from airflow.providers.http.triggers.http import HttpEventTrigger

    if backend == "milvus":
        return HttpEventTrigger(
            response_check_path="benchmarks.peer_checks.milvus_job_done",
            http_conn_id=conn_id,
            method="POST",
            endpoint=MILVUS_DESCRIBE,
            data=json.dumps({"jobId": job_id}),
            poll_interval=poll_interval,
        )
    if backend == "egain":
        return HttpEventTrigger(
            response_check_path="benchmarks.peer_checks.egain_job_done",
            http_conn_id=conn_id,
            method="GET",
            endpoint=EGAIN_STATUS.format(job_id=job_id),
            poll_interval=poll_interval,
        )
    raise ValueError(f"no http_event peer for {backend}")


class PerPollSessionTrigger(BaseTrigger):
    """dbt-cloud style: a new HTTP session for every poll of one job."""

    def __init__(self, *, backend: str, conn_id: str, job_id: str, poll_interval: float) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.backend = backend
        self.conn_id = conn_id
        self.job_id = job_id
        self.poll_interval = poll_interval
        self.errors = 0

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "backend": self.backend,
                "conn_id": self.conn_id,
                "job_id": self.job_id,
                "poll_interval": self.poll_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import aiohttp
        from airflow.sdk import BaseHook

        conn = await BaseHook.aget_connection(self.conn_id)
        base = (conn.host or "").rstrip("/")
        headers = {str(k): str(v) for k, v in conn.extra_dejson.items()}
        if self.backend == "milvus":
            method, url, body = "POST", f"{base}/{MILVUS_DESCRIBE}", json.dumps({"jobId": self.job_id})
        else:
            method, url, body = "GET", f"{base}/{EGAIN_STATUS.format(job_id=self.job_id)}", None
        terminal = TERMINAL[self.backend]
        while True:
            try:
                async with (
                    aiohttp.ClientSession(headers=headers) as session,
                    session.request(method, url, data=body) as response,
                ):
                    response.raise_for_status()
                    payload = await response.json(content_type=None)
                state = (payload.get("data") or {}).get("state") if self.backend == "milvus" else payload.get("status")
                if state in terminal:
                    status = "success" if state in ("Completed", "Successful") else "failed"
                    yield TriggerEvent({"status": status})  # type: ignore[no-untyped-call]
                    return
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                self.errors += 1
                self.log.warning("Poll of %s failed: %r", self.job_id, exc)
            await asyncio.sleep(self.poll_interval)
