"""The trigger that waits on import jobs in the triggerer."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_import_jobs.exceptions import ImportJobError
from airflow_import_jobs.models import ImportJob
from airflow_import_jobs.waiting.feed import Snapshot, Subscription, subscribe
from airflow_import_jobs.waiting.outcome import ErrorBudget, Outcome, ProgressTracker, job_label, outcome


def check_positive(name: str, value: Any, *, allow_none: bool = False) -> float | None:
    """``value`` as a positive number of seconds, or a ValueError naming the parameter."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
        raise ValueError(
            f"{name} must be a positive number of seconds{' or None' if allow_none else ''}; got {value!r}"
        )
    return float(value)


class ImportJobTrigger(BaseTrigger):
    """Wait in the triggerer until import jobs reach a terminal state.

    Every wait on the same connection in a triggerer shares one poll loop (see
    :mod:`airflow_import_jobs.waiting.feed`), so thousands of waits cost about as many requests as one.
    The trigger yields exactly one event::

        {"status": "success" | "failed" | "cancelled" | "timeout" | "stalled" | "error",
         "jobs": [<ImportJob json>, ...], "message": "<one sentence>"}

    Transient failures (429, 408, 5xx, timeouts, dropped connections) are logged and tolerated up to
    ``max_consecutive_errors`` in a row (a success resets the count); permanent ones (authentication,
    permission, unknown job, invalid request) end the wait at once with ``error``.

    :param conn_id: Airflow connection of type ``milvus``, ``zilliz_cloud`` or ``egain``.
    :param job_ids: The jobs to wait on: success when all completed, failure as soon as one fails.
    :param poll_interval: Seconds between polls (never faster, whatever the server answers).
    :param end_time: Wall-clock deadline (epoch seconds); reaching it yields ``timeout``. Optional.
    :param stall_timeout: Seconds without any progress change before yielding ``stalled``. Optional.
    :param max_consecutive_errors: Transient failures in a row tolerated before yielding ``error``.
    :param progress_log_interval: Log a job's progress when its state changes and otherwise at most
        this often (seconds): the progress reached, or a reminder while nothing moves.
    :param cancel_on_kill: Cancel (eGain) or abort (Milvus) the jobs when a user kills the waiting
        task (Airflow 3.3+ calls the trigger's ``on_kill``). Default False.
    """

    def __init__(
        self,
        *,
        conn_id: str,
        job_ids: Sequence[str],
        poll_interval: float = 30.0,
        end_time: float | None = None,
        stall_timeout: float | None = None,
        max_consecutive_errors: int = 10,
        progress_log_interval: float = 300.0,
        cancel_on_kill: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(conn_id, str) or not conn_id:
            raise ValueError(f"conn_id must be a non-empty string; got {conn_id!r}")
        if isinstance(job_ids, str) or not job_ids or not all(isinstance(j, str) and j for j in job_ids):
            raise ValueError(f"job_ids must be a non-empty list of job ID strings; got {job_ids!r}")
        if (
            isinstance(max_consecutive_errors, bool)
            or not isinstance(max_consecutive_errors, int)
            or (max_consecutive_errors < 1)
        ):
            raise ValueError(f"max_consecutive_errors must be an integer >= 1; got {max_consecutive_errors!r}")
        self.conn_id = conn_id
        self.job_ids = list(dict.fromkeys(job_ids))
        self.poll_interval = check_positive("poll_interval", poll_interval)
        self.end_time = None if end_time is None else float(end_time)
        self.stall_timeout = check_positive("stall_timeout", stall_timeout, allow_none=True)
        self.max_consecutive_errors = max_consecutive_errors
        self.progress_log_interval = check_positive("progress_log_interval", progress_log_interval)
        self.cancel_on_kill = bool(cancel_on_kill)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Plain JSON kwargs: IDs, numbers and the connection's ID — never a credential."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "job_ids": list(self.job_ids),
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "stall_timeout": self.stall_timeout,
                "max_consecutive_errors": self.max_consecutive_errors,
                "progress_log_interval": self.progress_log_interval,
                "cancel_on_kill": self.cancel_on_kill,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        result = await self.wait()
        level = self.log.info if result.status == "success" else self.log.warning
        level("%s", result.message)
        yield TriggerEvent(result.event())

    async def wait(self) -> Outcome:
        """Poll until the jobs end, the deadline passes, progress stalls or errors pile up."""
        if self._remaining() == 0.0:
            return Outcome("timeout", [], self._timeout_message({}))
        try:
            subscription = await subscribe(
                self.conn_id, self.job_ids, self.poll_interval or 30.0, progress_every=self._progress_every()
            )
        except ImportJobError as error:
            return Outcome("error", [], str(error))
        tracker = ProgressTracker(stall_timeout=self.stall_timeout, log_interval=self.progress_log_interval or 300.0)
        latest: dict[str, ImportJob] = {}
        errors = ErrorBudget(limit=self.max_consecutive_errors)
        try:
            # The loop awaits here and judges in a plain method: one coroutine less per wait for
            # the garbage collector to walk, at 10,000 waits.
            while True:
                snapshots = await subscription.next(timeout=self._remaining())
                if snapshots is None:
                    return Outcome("timeout", self._jobs(latest), self._timeout_message(latest))
                ended = self._judge(snapshots, subscription, latest, tracker, errors)
                if ended is not None:
                    return ended
        finally:
            await subscription.close()

    def _judge(
        self,
        snapshots: dict[str, Snapshot],
        subscription: Subscription,
        latest: dict[str, ImportJob],
        tracker: ProgressTracker,
        errors: ErrorBudget,
    ) -> Outcome | None:
        """What newly delivered snapshots mean: the outcome if the wait is over, else None."""
        failures = sorted((s for s in snapshots.values() if isinstance(s, ImportJobError)), key=lambda e: e.transient)
        if failures:
            return errors.failed(failures[0], self._jobs(latest), self.log)
        errors.succeeded()
        latest.update({job_id: s for job_id, s in snapshots.items() if isinstance(s, ImportJob)})
        if len(latest) < len(self.job_ids):
            return None
        jobs = self._jobs(latest)
        now = time.time()
        lines = tracker.observe(jobs, now)
        finished = outcome(jobs)
        if finished is None:  # when the jobs ended, the outcome's own message says it all
            for line in lines:
                self.log.info("%s", line)
        ended = finished or tracker.stalled(jobs, now)
        if ended is None:
            subscription.done_with(job.job_id for job in jobs if job.state.is_terminal)
        return ended

    async def on_kill(self) -> None:
        """A user killed the waiting task: cancel the remote jobs where asked and the API can."""
        if not self.cancel_on_kill:
            return
        from airflow_import_jobs.hooks import aget_import_hook

        try:
            hook = await aget_import_hook(self.conn_id)
        except ImportJobError as error:
            self.log.warning("Could not cancel %s: %s", ", ".join(self.job_ids), error)
            return
        try:
            for job_id in self.job_ids:
                try:
                    await hook.acancel_job(job_id)
                    self.log.info("Cancelled job %s because the task was killed.", job_id)
                except ImportJobError as error:
                    self.log.warning("Could not cancel job %s: %s", job_id, error)
        finally:
            await hook.aclose()

    def _progress_every(self) -> float:
        """How fresh progress must be: for the progress lines, and well inside the stall timeout."""
        every = self.progress_log_interval or 300.0
        if self.stall_timeout is not None:
            every = min(every, self.stall_timeout / 3)
        return every

    def _jobs(self, latest: dict[str, ImportJob]) -> list[ImportJob]:
        return [latest[job_id] for job_id in self.job_ids if job_id in latest]

    def _remaining(self) -> float | None:
        if self.end_time is None:
            return None
        return max(0.0, self.end_time - time.time())

    def _timeout_message(self, latest: dict[str, ImportJob]) -> str:
        waiting = [job for job in self._jobs(latest) if not job.state.is_terminal]
        if waiting:
            job = waiting[0]
            where = f"; {job_label(job)} was {job.state.value} at {job.progress}%"
        else:
            where = ""
        return f"Timed out waiting for {', '.join(self.job_ids)}: the deadline passed{where}."
