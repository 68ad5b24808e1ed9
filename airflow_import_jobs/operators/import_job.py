"""Operators that list import jobs and start them (optionally waiting for them to finish)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_import_jobs._compat import AirflowException, AirflowFailException, AirflowTaskTimeout, conf
from airflow_import_jobs.exceptions import (
    ConfigurationError,
    ImportJobError,
    InvalidRequestError,
    JobNotFoundError,
    UnsupportedOperationError,
)
from airflow_import_jobs.hooks import ImportJobHook, get_import_hook
from airflow_import_jobs.models import ImportJob, JobState
from airflow_import_jobs.triggers.import_job import check_positive
from airflow_import_jobs.waiting.outcome import Outcome
from airflow_import_jobs.waiting.task import JobWaitMixin, asset_alias, backstop, check_wait_arguments

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Keys of create bodies whose values are credentials: registered with the masker before use.


def normalize_states(states: object) -> frozenset[JobState] | None:
    """``states`` (a name, a JobState, or a list of them) as JobStates; ValueError naming valid ones."""
    if states is None:
        return None
    items: Iterable[object] = [states] if isinstance(states, (str, JobState)) else states  # type: ignore[assignment]
    if not isinstance(items, (list, tuple, set, frozenset)):
        raise ValueError(f"states must be a state name or a list of them; got {type(states).__name__}")
    valid = ", ".join(s.value for s in JobState)
    result = set()
    for item in items:
        try:
            result.add(JobState(item.strip().lower() if isinstance(item, str) else item))
        except ValueError:
            raise ValueError(f"states contains {item!r}, which is not a job state; valid states: {valid}") from None
    return frozenset(result)


def jobs_table(jobs: Sequence[ImportJob]) -> str:
    """A compact, aligned table of jobs for the task log."""
    rows = [("job_id", "state", "progress", "collection", "rows")]
    for job in jobs:
        rows.append(
            (
                job.job_id,
                job.state.value,
                f"{job.progress}%",
                job.collection_name or "-",
                f"{'?' if job.imported_rows is None else job.imported_rows}/"
                f"{'?' if job.total_rows is None else job.total_rows}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)


class ListImportJobsOperator(BaseOperator):
    """List import jobs (Milvus; Zilliz Cloud walking every page), optionally filtered by state.

    Returns (XCom) the list of jobs in the normalized JSON form, and logs them as a table. eGain has
    no endpoint that lists jobs: for an eGain connection the task fails with a message saying so.

    :param conn_id: Airflow connection of type ``milvus`` or ``zilliz_cloud``. Templated.
    :param collection_name: Only jobs loading this collection. Optional. Templated.
    :param db_name: Milvus database (default: the connection's ``db_name``). Optional. Templated.
    :param states: Only jobs in these normalized states, e.g. ``["pending", "running"]`` or
        ``[JobState.RUNNING]``. Optional. Templated.
    """

    template_fields: Sequence[str] = ("conn_id", "collection_name", "db_name", "states")
    ui_color = "#e8f4ea"

    def __init__(
        self,
        *,
        conn_id: str,
        collection_name: str | None = None,
        db_name: str | None = None,
        states: str | JobState | Sequence[str | JobState] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not (isinstance(states, str) and "{{" in states):
            normalize_states(states)  # fail at parse time where the value is already known
        self.conn_id = conn_id
        self.collection_name = collection_name
        self.db_name = db_name
        self.states = states

    def execute(self, context: Context) -> list[dict[str, Any]]:
        try:
            wanted = normalize_states(self.states)
            hook = get_import_hook(self.conn_id)
            jobs = hook.list_jobs(collection_name=self.collection_name or None, db_name=self.db_name or None)
        except (ValueError, ConfigurationError, UnsupportedOperationError, InvalidRequestError) as error:
            raise AirflowFailException(str(error)) from None
        if wanted is not None:
            jobs = [job for job in jobs if job.state in wanted]
        self.log.info("%d import job(s)%s:\n%s", len(jobs), _filter_text(wanted), jobs_table(jobs))
        return [job.model_dump(mode="json") for job in jobs]


def _filter_text(wanted: frozenset[JobState] | None) -> str:
    return "" if wanted is None else " in state " + "/".join(sorted(s.value for s in wanted))


class StartImportJobOperator(JobWaitMixin, BaseOperator):
    """Start an import (or eGain validation) job and, by default, wait for it to finish.

    ``request`` is the API's own create body, as in its docs (camelCase): the hook fills in
    ``clusterId``/``dbName`` and storage credentials from the connection when absent, and checks
    the body before sending (missing ``collectionName``/``files``, Milvus options that are not
    strings, eGain schedule dates not in ``YYYY-MM-DDTHH:MM:SS.mmmZ``, more than 1024 files...).

    The job ID is pushed to XCom (key ``job_id``) as soon as the job is accepted. Without waiting,
    the task returns the job ID; waiting, it waits exactly like
    :class:`~airflow_import_jobs.sensors.import_job.ImportJobSensor` (same trigger, same messages,
    same asset events) and returns the final job JSON.

    A retried task does not start a second job when the first one was accepted: the start is
    recorded (job ID and a digest of the request, no credentials) in an Airflow Variable for this
    task instance, and a retry with the same request reuses that job. When the task is killed, or
    its ``execution_timeout`` passes, the remote job is cancelled where the API can (eGain cancel,
    Milvus abort).

    :param conn_id: Airflow connection of type ``milvus``, ``zilliz_cloud`` or ``egain``. Templated.
    :param request: The create body. Templated.
    :param validate_only: eGain only: start a validation job instead of an import. Default False.
    :param wait_for_completion: Wait for the job to finish. Default True.
    :param deferrable: Wait in the triggerer. Defaults to ``[operators] default_deferrable``.
    :param poll_interval: Seconds between polls while waiting. Default 30.
    :param stall_timeout: Fail if the job's progress does not change for this many seconds. Optional.
    :param cancel_on_kill: Cancel the remote job on kill and on timeout. Default True.
    :param fail_on_errors: Fail when a "successful" eGain job still counted errors (a validation
        that found problems). Default False.
    :param max_consecutive_errors: Transient polling failures tolerated in a row. Default 10.
    :param emit_asset_events: Emit an asset event for what was loaded on success. Default True.
    """

    template_fields: Sequence[str] = ("conn_id", "request")
    template_fields_renderers = {"request": "json"}
    ui_color = "#d7ecf7"

    def __init__(
        self,
        *,
        conn_id: str,
        request: dict[str, Any],
        validate_only: bool = False,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30,
        stall_timeout: float | None = None,
        cancel_on_kill: bool = True,
        fail_on_errors: bool = False,
        max_consecutive_errors: int = 10,
        emit_asset_events: bool = True,
        soft_fail: bool = False,
        **kwargs: Any,
    ) -> None:
        if emit_asset_events and wait_for_completion:
            kwargs["outlets"] = [*(kwargs.get("outlets") or []), asset_alias()]
        check_wait_arguments(poll_interval=poll_interval, max_consecutive_errors=max_consecutive_errors)
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.request = request
        self.validate_only = validate_only
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = check_positive("poll_interval", poll_interval) or 30.0
        self.stall_timeout = check_positive("stall_timeout", stall_timeout, allow_none=True)
        self.cancel_on_kill = cancel_on_kill
        self.fail_on_errors = fail_on_errors
        self.max_consecutive_errors = max_consecutive_errors
        self.emit_asset_events = emit_asset_events
        self.soft_fail = soft_fail
        self.job_id: str | None = None
        self._cancelled = False

    #: The operator's deadline is its ``execution_timeout``: running out is a task timeout,
    #: in deferrable mode as in the worker.
    timeout_exception = AirflowTaskTimeout

    @cached_property
    def hook(self) -> ImportJobHook:
        try:
            return get_import_hook(self.conn_id)
        except ConfigurationError as error:
            raise AirflowFailException(str(error)) from None  # as the sensor: fix the connection, rerun

    def emit_assets(
        self, context: Context, jobs: Sequence[ImportJob], values: list[dict[str, Any]], *, db_name: str | None = None
    ) -> None:
        """As the sensor's, but the job is done by now: a failure to record the event is a warning."""
        emit = super().emit_assets
        self._bookkeep("emit its asset event", lambda: emit(context, jobs, values, db_name=db_name))

    def target_db_name(self) -> str | None:
        db_name = self.request.get("dbName") if isinstance(self.request, Mapping) else None
        return db_name if isinstance(db_name, str) and db_name else None

    # -- execution ------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        if not isinstance(self.request, Mapping):
            raise AirflowFailException(
                f"request must be a dict (the API's create body); got {type(self.request).__name__}"
            )
        record = StartRecord.for_task(context, self.conn_id, self.request)
        if record.off_reason:
            self.log.warning(
                "The duplicate-start guard is off (%s): a retry of this task could start a second job.",
                record.off_reason,
            )
        self.job_id = self._resume(record) or self._start(record)
        # From here on the job exists: bookkeeping that fails is a warning, never the task's end.
        self._bookkeep("push its ID to XCom", _push_job_id, context, self.job_id)
        if not self.wait_for_completion:
            self._bookkeep("delete the start record", record.clear)
            return self.job_id
        done = self.check_jobs([self.job_id])
        if done is None and self.deferrable:
            timeout = self._timeout_seconds()
            self.defer(
                trigger=self.wait_trigger(
                    [self.job_id], poll_interval=self.poll_interval, timeout=timeout, cancel_on_kill=self.cancel_on_kill
                ),
                method_name="execute_complete",
                kwargs={"job_id": self.job_id},
                timeout=None if timeout is None else backstop(timeout, self.poll_interval),
            )
        try:
            while done is None:
                time.sleep(self.poll_interval)
                done = self.check_jobs([self.job_id])
        except AirflowTaskTimeout:
            self._cancel("the task's execution_timeout passed")
            self._bookkeep("delete the start record", record.clear)
            raise
        return self._complete(context, done, record)

    def execute_complete(self, context: Context, event: dict[str, Any], job_id: str | None = None) -> Any:
        """Resume after the trigger fired; cancels the job on ``timeout`` when ``cancel_on_kill``."""
        self.job_id = job_id or self.job_id
        result = Outcome.from_event(event)
        if result.status == "timeout":
            self._cancel("the task's execution_timeout passed")
        return self._complete(context, result, StartRecord.for_task(context, self.conn_id, self.request))

    def on_kill(self) -> None:
        self._cancel("the task was killed")

    # -- lineage (OpenLineage, when its provider is installed) ----------------------------

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The files the request imports, the collection (or knowledge base) it loads, the job's run facets."""
        return self.lineage_facets(request=self.request, validate_only=self.validate_only, job_id=self.job_id)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """As on completion, with the job's final state and the failure reason."""
        return self.get_openlineage_facets_on_complete(task_instance)

    # -- helpers --------------------------------------------------------------------------

    def _complete(self, context: Context, result: Outcome, record: StartRecord) -> Any:
        if result.status not in ("error", "stalled") or not _retry_follows(context):
            # After an error or a stall the job may still finish: a retry waits on it again. Without
            # a retry to come, the task ends here and so does its record.
            self._bookkeep("delete the start record", record.clear)
        return self.finish(context, result, single=True)

    def _start(self, record: StartRecord) -> str:
        try:
            job_id = self.hook.start_job(self.request, validate_only=self.validate_only)
        except (InvalidRequestError, UnsupportedOperationError) as error:
            raise AirflowFailException(str(error)) from None
        except ImportJobError as error:
            raise AirflowException(str(error)) from None
        self.job_id = job_id
        self._bookkeep(
            "log the start",
            self.log.info,
            "Started %s job %s.",
            "validation" if self.validate_only else "import",
            job_id,
        )
        self._bookkeep("write the start record (a retry may start a second job)", record.save, job_id)
        return job_id

    def _bookkeep(self, what: str, action: Callable[..., object], *args: Any) -> None:
        """Run our own bookkeeping after the job exists: a failure is logged, naming the job, and ignored."""
        try:
            action(*args)
        except Exception as error:
            with contextlib.suppress(Exception):
                self.log.warning(
                    "Job %s was started, but could not %s: %s: %s", self.job_id, what, type(error).__name__, error
                )

    def _resume(self, record: StartRecord) -> str | None:
        """The job an earlier try of this task started with the same request, if it still exists."""
        try:
            job_id = record.load()
        except Exception as error:
            # No job of this try exists yet: failing is safe, starting blind could start a second one.
            raise AirflowException(
                f"Could not read this task's start record ({type(error).__name__}: {error}); not starting a job "
                "that an earlier try may have started already."
            ) from None
        if job_id is None:
            return None
        try:
            job = self.hook.get_job(job_id)
        except JobNotFoundError:
            self.log.info("Job %s from an earlier try is gone; starting a new one.", job_id)
            return None
        if job.state in (JobState.FAILED, JobState.CANCELLED):
            # It can never succeed (on_kill cancels the job of a killed try; Milvus reports an aborted
            # job as Failed): waiting on it could only fail this retry. A retry after a failed wait
            # starts again the same way, since that wait deletes the record.
            self.log.info("Job %s from an earlier try is %s; starting a new one.", job_id, job.state.value)
            return None
        self.log.info(
            "An earlier try of this task started job %s (now %s at %d%%): waiting on it instead of starting a "
            "second one.",
            job_id,
            job.state.value,
            job.progress,
        )
        return job_id

    def _timeout_seconds(self) -> float | None:
        return None if self.execution_timeout is None else self.execution_timeout.total_seconds()

    def _cancel(self, why: str) -> None:
        if not self.cancel_on_kill or self.job_id is None or self._cancelled:
            return
        self._cancelled = True  # on_kill and the timeout handler may both get here
        try:
            self.hook.cancel_job(self.job_id)
            self.log.warning("Cancelled job %s because %s.", self.job_id, why)
        except ImportJobError as error:
            self.log.warning("Could not cancel job %s (%s): %s", self.job_id, why, error)


def _push_job_id(context: Context, job_id: str) -> None:
    ti = context.get("ti") if hasattr(context, "get") else None
    if ti is not None:
        ti.xcom_push(key="job_id", value=job_id)


def _retry_follows(context: Context) -> bool:
    """Whether Airflow will run this task again if this try fails (tries left)."""
    ti = context.get("ti") if hasattr(context, "get") else None
    try_number, max_tries = getattr(ti, "try_number", None), getattr(ti, "max_tries", None)
    return isinstance(try_number, int) and isinstance(max_tries, int) and try_number <= max_tries


def _task_runner_active() -> bool:
    """Whether this process is an Airflow task runner talking to its supervisor (Variables work)."""
    try:
        from airflow.sdk.execution_time import task_runner
    except ImportError:  # pragma: no cover - every supported Airflow has it
        return False
    return getattr(task_runner, "SUPERVISOR_COMMS", None) is not None


class StartRecord:
    """Remembers, across tries of one task instance, which job its start request created.

    Stored in an Airflow Variable keyed by the task instance (DAG, task, run and map index): the
    job ID, the connection ID, a SHA-256 digest of the request, the try that started it, the DAG
    run's clear number and the time — never the request itself (it may hold keys). A later try
    resumes the recorded job only when all of these hold: same connection and request digest, same
    clear number (clearing the run asks for a fresh start), and the record comes from an *earlier*
    try (a run deleted and created again under the same run ID starts over at try 1, so an old
    record never matches it). Anything else starts a new job and overwrites the record.

    The record is deleted when the task ends: success, failure, skip, timeout. Only a try that was
    killed (SIGKILL, a lost worker) and then never retried leaves it behind: it stays in the
    Variables list (description "airflow-import-jobs: ...") until that task instance runs again,
    and can be deleted by hand; by the rules above it can never make another run resume its job.

    Outside a task runner (``execute()`` called directly, as in a unit test of a DAG) there is no
    Variable store: the record is off (:attr:`off_reason` says why) and remembers nothing.
    """

    PREFIX = "airflow_import_jobs.start"

    def __init__(
        self,
        key: str | None,
        conn_id: str,
        digest: str,
        *,
        try_number: int = 1,
        clear_number: int = 0,
        off_reason: str | None = None,
    ) -> None:
        self.key = key
        self.conn_id = conn_id
        self.digest = digest
        self.try_number = try_number
        self.clear_number = clear_number
        self.off_reason = off_reason

    @classmethod
    def for_task(cls, context: Context, conn_id: str, request: Any) -> StartRecord:
        ti = context.get("ti") if hasattr(context, "get") else None
        digest = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
        if ti is None:
            return cls(None, conn_id, digest, off_reason="no task instance in the context")
        if not _task_runner_active():
            return cls(None, conn_id, digest, off_reason="not running in an Airflow task runner, no Variable store")
        identity = f"{ti.dag_id}/{ti.task_id}/{ti.run_id}/{getattr(ti, 'map_index', -1)}"
        dag_run = context.get("dag_run")
        try_number = getattr(ti, "try_number", None)
        clear_number = getattr(dag_run, "clear_number", None)
        return cls(
            f"{cls.PREFIX}.{hashlib.sha256(identity.encode()).hexdigest()[:32]}",
            conn_id,
            digest,
            try_number=try_number if isinstance(try_number, int) else 1,
            clear_number=clear_number if isinstance(clear_number, int) else 0,
        )

    def load(self) -> str | None:
        """The job ID an earlier try of this task instance recorded for the same request, or None."""
        if self.key is None:
            return None
        from airflow.sdk import Variable

        stored = Variable.get(self.key, default=None, deserialize_json=True)
        if not isinstance(stored, dict):
            return None
        if stored.get("conn_id") != self.conn_id or stored.get("request_sha256") != self.digest:
            return None  # the request changed between tries: a different job is wanted
        if stored.get("clear_number", 0) != self.clear_number:
            return None  # the run was cleared since: the user asked for the task to run afresh
        started_by = stored.get("try_number")
        if not isinstance(started_by, int) or started_by >= self.try_number:
            return None  # not an earlier try of this run (a run made again under the same ID)
        job_id = stored.get("job_id")
        return job_id if isinstance(job_id, str) else None

    def save(self, job_id: str) -> None:
        if self.key is None:
            return
        from airflow.sdk import Variable

        Variable.set(
            self.key,
            {
                "job_id": job_id,
                "conn_id": self.conn_id,
                "request_sha256": self.digest,
                "try_number": self.try_number,
                "clear_number": self.clear_number,
                "started_at": datetime.now(timezone.utc).isoformat(),
            },
            description="airflow-import-jobs: the job a StartImportJobOperator try started (deleted when it ends)",
            serialize_json=True,
        )

    def clear(self) -> None:
        if self.key is None:
            return
        from airflow.sdk import Variable

        Variable.delete(self.key)
