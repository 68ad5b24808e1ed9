"""The Airflow side of waiting on jobs, shared by ``ImportJobSensor`` and ``StartImportJobOperator``.

Both check once, wait (poking or deferred to :class:`ImportJobTrigger`) and finish through
:meth:`JobWaitMixin.finish`, so a wait ends with the same XCom, the same asset events and the
same exception messages whichever task did it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, AssetAlias

from airflow_import_jobs._compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
)
from airflow_import_jobs.assets import IMPORT_JOBS_ALIAS, asset_uri, event_extra
from airflow_import_jobs.exceptions import ImportJobError
from airflow_import_jobs.hooks import ImportJobHook, get_import_hook
from airflow_import_jobs.lineage import jobs_lineage, operator_lineage, start_lineage
from airflow_import_jobs.models import ImportJob
from airflow_import_jobs.triggers.import_job import ImportJobTrigger, check_positive
from airflow_import_jobs.waiting.outcome import ErrorBudget, Outcome, ProgressTracker, outcome, results_errors_message

if TYPE_CHECKING:
    from airflow.sdk import Context


def normalize_job_ids(job_id: object) -> list[str]:
    """``job_id`` (one ID or a list of IDs) as a list of strings, or a ValueError saying what is wrong.

    An integer is taken as its exact decimal text: DAGs rendered with ``render_template_as_native_obj``
    turn a Milvus ID into a Python int, which is exact (floats are refused: they lose digits).
    """
    ids = [job_id] if isinstance(job_id, (str, int)) and not isinstance(job_id, bool) else job_id
    if not isinstance(ids, (list, tuple)) or not ids:
        raise ValueError(
            f"job_id must be a job ID string or a non-empty list of them; got {type(job_id).__name__} {job_id!r}"
        )
    checked = []
    for item in ids:
        if isinstance(item, int) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"job_id contains {item!r}; every job ID must be a non-empty string")
        checked.append(item)
    return list(dict.fromkeys(checked))


def check_wait_arguments(*, poll_interval: float, max_consecutive_errors: int) -> None:
    """Check wait arguments when the DAG is parsed, not only when the task defers."""
    check_positive("poll_interval", poll_interval)
    if (
        isinstance(max_consecutive_errors, bool)
        or not isinstance(max_consecutive_errors, int)
        or (max_consecutive_errors < 1)
    ):
        raise ValueError(f"max_consecutive_errors must be an integer >= 1; got {max_consecutive_errors!r}")


def asset_alias() -> AssetAlias:
    return AssetAlias(name=IMPORT_JOBS_ALIAS)


def backstop(seconds: float, poll_interval: float) -> timedelta:
    """The framework timeout for ``defer()``: later than the trigger's own deadline, so the
    trigger's ``timeout`` event (with its message, and a cancel where asked) normally wins."""
    return timedelta(seconds=seconds + max(60.0, 2 * poll_interval))


class JobWaitMixin:
    """Check, defer and finish a wait on jobs; mixed into an operator that sets the attributes below."""

    conn_id: str
    stall_timeout: float | None
    fail_on_errors: bool
    max_consecutive_errors: int
    emit_asset_events: bool
    soft_fail: bool
    log: Any
    #: What a wait that ran out of time raises: the sensor's ``timeout`` is AirflowSensorTimeout.
    timeout_exception: type[BaseException] = AirflowSensorTimeout

    @cached_property
    def hook(self) -> ImportJobHook:
        """The hook for ``conn_id``, chosen by the connection's type."""
        return get_import_hook(self.conn_id)

    @cached_property
    def _tracker(self) -> ProgressTracker:
        return ProgressTracker(stall_timeout=self.stall_timeout)

    @cached_property
    def _errors(self) -> ErrorBudget:
        return ErrorBudget(limit=self.max_consecutive_errors)

    def checked_job_ids(self, job_id: object) -> list[str]:
        """Job IDs checked for this API before any request; bad input or a bad connection fails the
        task for good (a retry cannot fix them)."""
        try:
            return [self.hook.check_job_id(one) for one in normalize_job_ids(job_id)]
        except (ValueError, ImportJobError) as error:
            raise AirflowFailException(str(error)) from None

    def check_jobs(self, job_ids: Sequence[str]) -> Outcome | None:
        """Poll every job once: an Outcome when the wait is over, None to keep waiting."""
        try:
            jobs = [self.hook.get_job(job_id) for job_id in job_ids]
        except ImportJobError as error:
            return self._errors.failed(error, [], self.log)
        self._errors.succeeded()
        for line in self._tracker.observe(jobs, time.time()):
            self.log.info("%s", line)
        return outcome(jobs) or self._tracker.stalled(jobs, time.time())

    def wait_trigger(
        self, job_ids: Sequence[str], *, poll_interval: float, timeout: float | None, cancel_on_kill: bool = False
    ) -> ImportJobTrigger:
        return ImportJobTrigger(
            conn_id=self.conn_id,
            job_ids=list(job_ids),
            poll_interval=poll_interval,
            end_time=None if timeout is None else time.time() + timeout,
            stall_timeout=self.stall_timeout,
            max_consecutive_errors=self.max_consecutive_errors,
            cancel_on_kill=cancel_on_kill,
        )

    #: How the wait ended, once it has (what lineage reports about the run).
    final_outcome: Outcome | None = None

    def finish(self, context: Context, result: Outcome, *, single: bool) -> Any:
        """Turn a wait's outcome into the task's result (XCom) or the right exception."""
        self.final_outcome = result
        if result.status == "success":
            for job in result.jobs:
                problem = results_errors_message(job) if self.fail_on_errors else None
                if problem:
                    self.fail(AirflowFailException(problem))
            self.log.info("%s", result.message)
            values = [job.model_dump(mode="json") for job in result.jobs]
            self.emit_assets(context, result.jobs, values, db_name=self.target_db_name())
            return values[0] if single else values
        if result.status == "timeout":
            self.fail(self.timeout_exception(result.message))
        if result.status in ("failed", "cancelled"):
            self.fail(AirflowFailException(result.message))
        self.fail(AirflowException(result.message))

    def target_db_name(self) -> str | None:
        """The database the jobs load into, when the task knows better than the connection."""
        return None

    def lineage_facets(self, *, request: Any = None, validate_only: bool = False, job_id: str | None = None) -> Any:
        """OpenLineage facets of the task: the files read (from the create ``request``, else the job
        records), the target written, and the run facets of the jobs and of how the wait ended."""
        try:
            settings = self.hook.settings
        except Exception:  # the connection is what failed the task: there is nothing to name
            return None
        outcome = self.final_outcome
        jobs = list(outcome.jobs) if outcome else []
        found = jobs_lineage(settings, jobs, db_name=self.target_db_name())
        if isinstance(request, Mapping):
            started = start_lineage(settings, request, validate_only=validate_only)
            found = replace(started, inputs=started.inputs or found.inputs)
        failure = outcome.message if outcome is not None and outcome.status != "success" else None
        lineage = replace(found, jobs=jobs, job_ids=[job_id] if job_id else [], failure=failure)
        return operator_lineage(lineage, settings.backend)

    def fail(self, error: BaseException) -> None:
        if self.soft_fail:
            raise AirflowSkipException(f"Skipping (soft_fail): {error}") from None
        raise error

    def emit_assets(
        self, context: Context, jobs: Sequence[ImportJob], values: list[dict[str, Any]], *, db_name: str | None = None
    ) -> None:
        """One asset event per loaded collection (eGain: per knowledge base), through the alias.

        Validation jobs load nothing and emit nothing. ``db_name`` is the database the create
        request named, when it named one other than the connection's.
        """
        outlet_events = context.get("outlet_events") if hasattr(context, "get") else None
        if not self.emit_asset_events or outlet_events is None:
            return
        settings = self.hook.settings
        by_uri: dict[str, list[dict[str, Any]]] = {}
        for job, value in zip(jobs, values, strict=True):
            if job.job_type == "validation":
                continue
            uri = asset_uri(
                job.backend,
                base_url=settings.base_url,
                db_name=db_name or settings.db_name,
                cluster_id=settings.cluster_id,
                collection_name=job.collection_name,
            )
            if uri is None:
                self.log.warning("Job %s names no collection; no asset event for it.", job.job_id)
                continue
            by_uri.setdefault(uri, []).append(value)
        for uri, loaded in by_uri.items():
            outlet_events[asset_alias()].add(Asset(uri=uri), extra=event_extra(loaded))
            self.log.info("Asset event for %s (jobs %s).", uri, ", ".join(v["job_id"] for v in loaded))
