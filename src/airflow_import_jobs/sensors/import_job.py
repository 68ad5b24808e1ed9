"""A sensor that waits on import jobs: poke, reschedule or deferrable."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout, AirflowSkipException

from airflow_import_jobs.exceptions import ImportJobError
from airflow_import_jobs.hooks import ImportJobHook, get_import_hook
from airflow_import_jobs.models import ImportJob
from airflow_import_jobs.triggers.import_job import ImportJobTrigger, check_positive
from airflow_import_jobs.waiting import ErrorBudget, Outcome, ProgressTracker, outcome, results_errors_message

if TYPE_CHECKING:
    from airflow.sdk import Context


def normalize_job_ids(job_id: object) -> list[str]:
    """``job_id`` (one ID or a list of IDs) as a list, or a ValueError saying what is wrong."""
    ids = [job_id] if isinstance(job_id, str) else job_id
    if not isinstance(ids, (list, tuple)) or not ids:
        raise ValueError(
            f"job_id must be a job ID string or a non-empty list of them; got {type(job_id).__name__} {job_id!r}"
        )
    for item in ids:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"job_id contains {item!r}; every job ID must be a non-empty string")
    return list(dict.fromkeys(ids))


class ImportJobSensor(BaseSensorOperator):
    """Wait until Milvus, Zilliz Cloud or eGain import jobs finish.

    Succeeds when every job completed and returns the final job as XCom (a list for several jobs),
    in the normalized :class:`~airflow_import_jobs.models.ImportJob` JSON form. Fails as soon as one
    job fails or is cancelled, with the job, its state, the server's reason, the failing files and,
    for eGain, the error, ``retryable`` and ``logFileLocation``. A sensor ``timeout`` raises
    ``AirflowSensorTimeout``; with ``soft_fail`` every failure skips the task instead.

    .. seealso:: ``docs/operators.md`` for examples and the XCom shape.

    :param conn_id: Airflow connection of type ``milvus``, ``zilliz_cloud`` or ``egain``. Templated.
    :param job_id: One job ID or a list of them (e.g. from an upstream XCom). Templated.
    :param poke_interval: Seconds between polls, in every mode. Default 30.
    :param deferrable: Wait in the triggerer, freeing the worker slot. Defaults to
        ``[operators] default_deferrable``.
    :param stall_timeout: Fail if no job's progress changes for this many seconds. Optional.
    :param fail_on_errors: Fail when a "successful" eGain job still counted errors — the signal that a
        validation found problems. Default False.
    :param max_consecutive_errors: Transient polling failures tolerated in a row. Default 10.
    """

    template_fields: Sequence[str] = ("conn_id", "job_id")
    ui_color = "#d7ecf7"

    def __init__(
        self,
        *,
        conn_id: str,
        job_id: str | list[str],
        poke_interval: float = 30,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        stall_timeout: float | None = None,
        fail_on_errors: bool = False,
        max_consecutive_errors: int = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.conn_id = conn_id
        self.job_id = job_id
        self.deferrable = deferrable
        self.stall_timeout = check_positive("stall_timeout", stall_timeout, allow_none=True)
        self.fail_on_errors = fail_on_errors
        self.max_consecutive_errors = max_consecutive_errors
        self._tracker = ProgressTracker(stall_timeout=self.stall_timeout)
        self._errors = ErrorBudget(limit=max_consecutive_errors)

    @cached_property
    def hook(self) -> ImportJobHook:
        return get_import_hook(self.conn_id)

    @property
    def job_ids(self) -> list[str]:
        """The rendered ``job_id`` as a checked list."""
        return normalize_job_ids(self.job_id)

    def execute(self, context: Context) -> Any:
        try:
            job_ids = [self.hook.check_job_id(job_id) for job_id in self.job_ids]
        except (ValueError, ImportJobError) as error:
            # Bad input cannot get better with retries: fail now, before any request.
            raise AirflowFailException(str(error)) from None
        if not self.deferrable:
            return super().execute(context)
        done = self._check(job_ids)
        if done is not None:
            return self.finish(context, done)
        self.defer(
            trigger=ImportJobTrigger(
                conn_id=self.conn_id,
                job_ids=job_ids,
                poll_interval=self.poke_interval,
                end_time=time.time() + self.timeout,
                stall_timeout=self.stall_timeout,
                max_consecutive_errors=self.max_consecutive_errors,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        done = self._check(self.job_ids)
        if done is None:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self.finish(context, done))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger fired: validate its event and finish like a poke would."""
        return self.finish(context, Outcome.from_event(event))

    def _check(self, job_ids: list[str]) -> Outcome | None:
        """Poll every job once; an Outcome when the wait is over, None to keep waiting."""
        try:
            jobs = [self.hook.get_job(job_id) for job_id in job_ids]
        except ImportJobError as error:
            return self._errors.failed(error, [], self.log)
        self._errors.succeeded()
        for line in self._tracker.observe(jobs, time.time()):
            self.log.info("%s", line)
        return outcome(jobs) or self._tracker.stalled(jobs, time.time())

    def finish(self, context: Context, result: Outcome) -> Any:
        """Turn a wait's outcome into the task's result (XCom) or the right exception."""
        if result.status == "success":
            for job in result.jobs:
                problem = results_errors_message(job) if self.fail_on_errors else None
                if problem:
                    self._fail(AirflowFailException(problem))
            self.log.info("%s", result.message)
            return self.xcom_value(result.jobs)
        if result.status == "timeout":
            self._fail(AirflowSensorTimeout(result.message))
        if result.status in ("failed", "cancelled"):
            self._fail(AirflowFailException(result.message))
        self._fail(AirflowException(result.message))

    def xcom_value(self, jobs: Sequence[ImportJob]) -> Any:
        """One job's JSON for a single ``job_id`` string, a list for a list of IDs."""
        values = [job.model_dump(mode="json") for job in jobs]
        return values[0] if isinstance(self.job_id, str) else values

    def _fail(self, error: Exception) -> None:
        if self.soft_fail:
            raise AirflowSkipException(f"Skipping (soft_fail): {error}") from None
        raise error
