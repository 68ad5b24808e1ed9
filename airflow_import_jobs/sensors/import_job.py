"""A sensor that waits on import jobs: poke, reschedule or deferrable."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_import_jobs._compat import conf
from airflow_import_jobs.triggers.import_job import check_positive
from airflow_import_jobs.waiting.outcome import Outcome
from airflow_import_jobs.waiting.task import (
    JobWaitMixin,
    asset_alias,
    backstop,
    check_wait_arguments,
    normalize_job_ids,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["ImportJobSensor", "normalize_job_ids"]


class ImportJobSensor(JobWaitMixin, BaseSensorOperator):
    """Wait until Milvus, Zilliz Cloud or eGain import jobs finish.

    Succeeds when every job completed and returns the final job as XCom (a list for several jobs),
    in the normalized :class:`~airflow_import_jobs.models.ImportJob` JSON form, and emits an asset
    event for each loaded collection (``milvus://host:port/db/collection``, ``zilliz://cluster/db/collection``,
    ``egain://domain/knowledge``) through the ``airflow-import-jobs`` asset alias. Fails as soon as one
    job fails or is cancelled, naming the job, its state, the server's reason, the failing files and,
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
    :param emit_asset_events: Emit asset events on success. Default True.

    In ``reschedule`` mode each poke runs in a fresh task process: ``stall_timeout`` and the
    consecutive-error count only see one poke, so use poke or deferrable mode to rely on them.
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
        emit_asset_events: bool = True,
        **kwargs: Any,
    ) -> None:
        if emit_asset_events:
            kwargs["outlets"] = [*(kwargs.get("outlets") or []), asset_alias()]
        check_wait_arguments(poll_interval=poke_interval, max_consecutive_errors=max_consecutive_errors)
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.conn_id = conn_id
        self.job_id = job_id
        self.deferrable = deferrable
        self.stall_timeout = check_positive("stall_timeout", stall_timeout, allow_none=True)
        self.fail_on_errors = fail_on_errors
        self.max_consecutive_errors = max_consecutive_errors
        self.emit_asset_events = emit_asset_events

    @property
    def job_ids(self) -> list[str]:
        """The rendered ``job_id`` as a checked list."""
        return normalize_job_ids(self.job_id)

    @property
    def single_job(self) -> bool:
        """One ID was given (not a list): the XCom is one job, not a list of one."""
        return not isinstance(self.job_id, (list, tuple))

    def execute(self, context: Context) -> Any:
        job_ids = self.checked_job_ids(self.job_id)
        if not self.deferrable:
            return super().execute(context)
        done = self.check_jobs(job_ids)
        if done is not None:
            return self.finish(context, done, single=self.single_job)
        self.defer(
            trigger=self.wait_trigger(job_ids, poll_interval=self.poke_interval, timeout=self.timeout),
            method_name="execute_complete",
            timeout=backstop(self.timeout, self.poke_interval),
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        done = self.check_jobs(self.checked_job_ids(self.job_id))
        if done is None:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self.finish(context, done, single=self.single_job))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger fired: validate its event and finish like a poke would."""
        return self.finish(context, Outcome.from_event(event), single=self.single_job)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the files the job records report, the collections loaded, the jobs' run facets."""
        return self.lineage_facets()
