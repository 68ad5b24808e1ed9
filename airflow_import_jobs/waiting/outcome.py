"""Deciding a wait: when it is over, what to say, and what progress to report — no I/O.

The sensor's ``poke``, the trigger's loop and ``execute_complete`` all decide through
:func:`outcome` and word failures through :func:`failure_message`, so a job that fails reads
the same in every mode. :class:`ProgressTracker` decides which progress lines to log and when a
wait has stalled; it takes the time as an argument, so tests drive it with plain numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from airflow_import_jobs.exceptions import ImportJobError
from airflow_import_jobs.models import ImportJob, JobState

Status = Literal["success", "failed", "cancelled", "timeout", "stalled", "error"]
STATUSES: tuple[Status, ...] = ("success", "failed", "cancelled", "timeout", "stalled", "error")

_API_NAMES = {"milvus": "Milvus", "zilliz_cloud": "Zilliz Cloud", "egain": "eGain"}


@dataclass(frozen=True)
class Outcome:
    """How a wait ended: the trigger event's payload, minus serialization."""

    status: Status
    jobs: Sequence[ImportJob]
    message: str

    def event(self) -> dict[str, Any]:
        """The trigger event payload: plain JSON, no secrets (job records carry none)."""
        return {
            "status": self.status,
            "jobs": [job.model_dump(mode="json") for job in self.jobs],
            "message": self.message,
        }

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Outcome:
        """Validate an event payload again on the worker side."""
        status = event.get("status")
        if status not in STATUSES:
            raise ValueError(f"unexpected trigger event status {status!r}; expected one of {STATUSES}")
        jobs = [ImportJob.model_validate(job) for job in event.get("jobs") or []]
        return cls(status=status, jobs=jobs, message=str(event.get("message") or ""))


@dataclass
class ErrorBudget:
    """Counts failed polls in a row: transient ones are tolerated up to ``limit``, then the wait ends.

    A successful poll resets the count, so a passing 503 never ends a long wait.
    """

    limit: int = 10
    count: int = 0

    def failed(self, error: ImportJobError, jobs: Sequence[ImportJob], log: Any) -> Outcome | None:
        """An ``error`` outcome if ``error`` is permanent or the budget is spent; None to keep waiting."""
        if not error.transient:
            return Outcome("error", jobs, str(error))
        self.count += 1
        log.warning("Polling failed (%d of %d tolerated in a row): %s", self.count, self.limit, error)
        if self.count >= self.limit:
            return Outcome("error", jobs, f"Gave up after {self.count} consecutive failed polls; the last: {error}")
        return None

    def succeeded(self) -> None:
        self.count = 0


def job_label(job: ImportJob) -> str:
    """``Milvus import job 4487… (collection 'docs')``."""
    kind = f"{job.job_type} job" if job.job_type else "import job"
    where = f" (collection {job.collection_name!r})" if job.collection_name else ""
    return f"{_API_NAMES[job.backend]} {kind} {job.job_id}{where}"


def failure_message(job: ImportJob) -> str:
    """One sentence with everything a DAG author needs: job, state, reason, files, eGain details."""
    verb = "was cancelled" if job.state is JobState.CANCELLED else "failed"
    parts = [f"{job_label(job)} {verb} at {job.progress}%"]
    parts.append(f"reason: {job.reason.rstrip('.')}" if job.reason else "the server gave no reason")
    failing = job.failing_file_reasons()
    if failing:
        shown = "; ".join(failing[:5]) + (f"; and {len(failing) - 5} more" if len(failing) > 5 else "")
        parts.append(f"failing files: {shown}")
    if job.backend == "egain":
        retryable = job.raw.get("retryable")
        if retryable is not None:
            parts.append(f"retryable: {str(bool(retryable)).lower()}")
        log_file = job.raw.get("logFileLocation")
        if log_file:
            parts.append(f"log file: {log_file}")
    return "; ".join(parts) + "."


def outcome(jobs: Sequence[ImportJob]) -> Outcome | None:
    """The end of a wait on ``jobs``, or None while it goes on.

    Several jobs: success when all completed; failed or cancelled as soon as one is.
    """
    for job in jobs:
        if job.state is JobState.FAILED:
            return Outcome("failed", jobs, failure_message(job))
    for job in jobs:
        if job.state is JobState.CANCELLED:
            return Outcome("cancelled", jobs, failure_message(job))
    if jobs and all(job.state is JobState.COMPLETED for job in jobs):
        return Outcome("success", jobs, success_message(jobs))
    return None


def success_message(jobs: Sequence[ImportJob]) -> str:
    if len(jobs) == 1:
        job = jobs[0]
        rows = (
            f", {job.imported_rows if job.imported_rows is not None else job.total_rows} rows"
            if (job.imported_rows is not None or job.total_rows is not None)
            else ""
        )
        return f"{job_label(job)} completed{rows}."
    return f"All {len(jobs)} jobs completed: {', '.join(job.job_id for job in jobs)}."


def results_errors_message(job: ImportJob) -> str | None:
    """For ``fail_on_errors``: a message when a 'successful' eGain job still counted errors."""
    if job.results is None or job.results.errors == 0:
        return None
    log_file = job.raw.get("logFileLocation")
    return (
        f"{job_label(job)} finished with {job.results.errors} error(s) and {job.results.warnings} warning(s) "
        f"({job.results.successful} item(s) succeeded)" + (f"; see {log_file}" if log_file else "") + "."
    )


def describe_progress(job: ImportJob, eta: datetime | None = None) -> str:
    """``<job>: running 45%, rows 450/1000, files 1/3, ETA 10:42:00Z``."""
    parts = [f"{job_label(job)}: {job.state.value} {job.progress}%"]
    if job.imported_rows is not None or job.total_rows is not None:
        parts.append(f"rows {_n(job.imported_rows)}/{_n(job.total_rows)}")
    if job.files:
        parts.append(f"files {job.files_done}/{len(job.files)}")
    if eta is not None:
        parts.append(f"ETA {eta.astimezone(timezone.utc):%Y-%m-%d %H:%M:%SZ}")
    return ", ".join(parts)


def _n(value: int | None) -> str:
    return "?" if value is None else str(value)


def _signature(job: ImportJob) -> tuple[Any, ...]:
    return (job.state, job.progress, job.imported_rows, job.files_done)


@dataclass
class _Seen:
    signature: tuple[Any, ...]
    changed_at: float
    first_progress: tuple[float, int]
    logged_at: float


@dataclass
class ProgressTracker:
    """Remembers what each job looked like, to log changes and detect stalls.

    :param stall_timeout: Seconds without any change in any job before the wait is stalled.
    :param log_interval: A job's progress line is logged when its state changes and otherwise at most
        this often: with the progress reached, or, while nothing changes, as a reminder.
    """

    stall_timeout: float | None = None
    log_interval: float = 300.0
    _seen: dict[str, _Seen] = field(default_factory=dict)
    _notes: set[tuple[str, str]] = field(default_factory=set)
    last_change: float | None = None

    def observe(self, jobs: Sequence[ImportJob], now: float) -> list[str]:
        """Lines worth logging for this poll (changes, periodic reminders, one-time notes)."""
        lines: list[str] = []
        for job in jobs:
            seen = self._seen.get(job.job_id)
            signature = _signature(job)
            if seen is None or seen.signature != signature:
                # A new state is logged at once; progress within a state every ``log_interval``
                # (a line per progress change would be a line per poll for every running job).
                new_state = seen is None or seen.signature[0] is not job.state
                if seen is None:
                    seen = _Seen(signature, now, (now, job.progress), now)
                    self._seen[job.job_id] = seen
                seen.signature, seen.changed_at = signature, now
                self.last_change = now
                if new_state or now - seen.logged_at >= self.log_interval:
                    seen.logged_at = now
                    lines.append(describe_progress(job, self.eta(job, now)))
            elif now - seen.logged_at >= self.log_interval:
                seen.logged_at = now
                lines.append(
                    describe_progress(job, self.eta(job, now)) + f" (unchanged for {now - seen.changed_at:.0f} s)"
                )
            note = _note(job)
            if note and (job.job_id, note) not in self._notes:
                self._notes.add((job.job_id, note))
                lines.append(note)
        if self.last_change is None:
            self.last_change = now
        return lines

    def eta(self, job: ImportJob, now: float) -> datetime | None:
        """eGain's ``estimatedCompletion``, or a linear estimate from the progress seen so far."""
        from airflow_import_jobs.protocol.values import opt_time

        if job.state.is_terminal:
            return None
        estimated = opt_time(job.raw.get("estimatedCompletion"))
        if estimated is not None:
            return estimated
        seen = self._seen.get(job.job_id)
        if seen is None:
            return None
        started, first = seen.first_progress
        elapsed, done = now - started, job.progress - first
        if elapsed <= 0 or done <= 0 or job.progress >= 100:
            return None
        remaining = (100 - job.progress) * elapsed / done
        return datetime.fromtimestamp(now + remaining, tz=timezone.utc)

    def stalled(self, jobs: Sequence[ImportJob], now: float) -> Outcome | None:
        """A ``stalled`` outcome once nothing has changed for ``stall_timeout`` seconds."""
        if self.stall_timeout is None or self.last_change is None:
            return None
        idle = now - self.last_change
        if idle < self.stall_timeout:
            return None
        waiting = [job for job in jobs if not job.state.is_terminal] or list(jobs)
        job = waiting[0]
        message = (
            f"{job_label(job)} made no progress for {idle:.0f} s (stall_timeout {self.stall_timeout:g} s): "
            f"it stayed {job.state.value} at {job.progress}%"
        )
        hint = stall_hint(job)
        return Outcome("stalled", jobs, message + (f"; {hint}" if hint else "") + ".")


def stall_hint(job: ImportJob) -> str:
    """Where a job that stopped moving is most likely stuck."""
    raw_state = str(job.raw.get("state", ""))
    if job.backend == "milvus" and raw_state in ("Uncommitted", "Committing"):
        return "the job is a two-phase import waiting for an explicit commit (MilvusImportHook.commit_job)"
    if job.backend in ("milvus", "zilliz_cloud") and 80 <= job.progress < 90:
        return "at 80% Milvus is usually waiting for an index build; check the index nodes and their queue"
    if job.state is JobState.PENDING:
        return "the job has not started; the server may be at its limit of running jobs"
    if job.state is JobState.UNKNOWN:
        return f"the server reports a state this provider does not know ({raw_state or job.raw.get('status')!r})"
    return ""


def _note(job: ImportJob) -> str | None:
    if job.backend == "milvus" and job.raw.get("state") == "Uncommitted":
        return (
            f"{job_label(job)} is Uncommitted: it was created with auto_commit=false and needs an explicit "
            "commit (MilvusImportHook.commit_job) before it can complete; still waiting."
        )
    return None
