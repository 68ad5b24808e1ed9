"""Zilliz Cloud import jobs (control plane, ``/v2/vectordb/jobs/import/*``), sans-IO.

Wire facts handled here (``shared/reference/import-job-apis.md`` §2):

* the cluster is chosen by ``clusterId`` in every body; auth is a Bearer API key;
* progress is ``/getProgress`` in the docs, ``/describe`` in the vendor SDKs: we use the
  documented one and fall back on HTTP 404;
* errors come as 200-with-code or as 4xx/5xx (``21119`` "The apikey is illegal." may come with 401);
* list pages are walked with ``pageSize``/``currentPage``; ``count`` is ambiguous, so paging
  stops on an empty or short page (or a page that repeats the previous one), never on ``count``;
* the legacy v1 API answered success with code 200 and listed ``data.tasks[]``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from airflow_import_jobs.exceptions import (
    AuthenticationError,
    ConfigurationError,
    ImportJobError,
    InvalidRequestError,
    JobNotFoundError,
    PermissionDeniedError,
    TransientServiceError,
    UnsupportedOperationError,
)
from airflow_import_jobs.models import ImportJob
from airflow_import_jobs.protocol import envelope
from airflow_import_jobs.protocol.base import (
    Call,
    EndpointMissingError,
    Flow,
    HttpRequest,
    HttpResponse,
    Listing,
    ListingProtocol,
    refuse,
)
from airflow_import_jobs.protocol.common import (
    check_file_batches,
    check_job_id,
    check_request_body,
    default_progress,
    file_list,
    optional_text,
    require_text,
)
from airflow_import_jobs.protocol.states import ZILLIZ_STATES, map_state
from airflow_import_jobs.protocol.values import opt_int, opt_str, opt_time, percent

API = "Zilliz Cloud"
PREFIX = "/v2/vectordb/jobs/import"
JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
JOB_ID_EXPECTED = "an ID such as 'job-0123456789abcdefghijk' (letters, digits, '-' and '_')"
PAGE_SIZE = 100
MAX_PAGES = 10_000

_AUTH_CODES = {21119, 80001, 80002, 1800}
_STORAGE_KEYS = {"access_key": "accessKey", "secret_key": "secretKey", "token": "token"}


class ZillizCloudProtocol(ListingProtocol):
    """Builds Zilliz Cloud requests and parses its responses for one cluster."""

    backend = "zilliz_cloud"

    def __init__(
        self,
        *,
        cluster_id: str | None,
        db_name: str | None = None,
        storage_credentials: Mapping[str, str] | None = None,
    ) -> None:
        self.cluster_id = cluster_id
        self.db_name = db_name
        # From connection extras (access_key, secret_key, token), so keys need not sit in DAG code.
        self._storage = {_STORAGE_KEYS[k]: v for k, v in (storage_credentials or {}).items() if k in _STORAGE_KEYS}
        # Learned from the first HTTP 404 on /getProgress.
        self.get_progress_missing = False

    def __repr__(self) -> str:
        return f"ZillizCloudProtocol(cluster_id={self.cluster_id!r})"

    def _cluster(self) -> str:
        if not self.cluster_id:
            raise ConfigurationError(
                "The Zilliz Cloud connection has no cluster_id extra: set it to the cluster's ID "
                "(e.g. 'in01-0123456789abcdef', shown on the cluster's page in the Zilliz Cloud console)."
            )
        return self.cluster_id

    # -- operations ------------------------------------------------------------------------

    def check_job_id(self, job_id: object) -> str:
        """``job_id`` if well formed for Zilliz Cloud, else InvalidRequestError."""
        return check_job_id(job_id, api=API, pattern=JOB_ID, expected=JOB_ID_EXPECTED)

    def get_job(self, job_id: str) -> Flow[ImportJob]:
        job_id = self.check_job_id(job_id)
        body = {"clusterId": self._cluster(), "jobId": job_id}
        if not self.get_progress_missing:
            try:
                job: ImportJob = yield self._progress_call("getProgress", body, job_id)
                return job
            except EndpointMissingError:
                self.get_progress_missing = True
        job = yield self._progress_call("describe", body, job_id)
        return job

    def scan_jobs(
        self,
        *,
        job_ids: Collection[str] | None = None,
        collection_name: str | None = None,
        db_name: str | None = None,
        unchanged: Mapping[str, Any] | None = None,
    ) -> Flow[Listing]:
        """Every list page; only the records of ``job_ids`` (all when None) become jobs.

        The list records carry no progress: their jobs come with the state only.
        """
        if db_name:
            return (
                yield from refuse(
                    InvalidRequestError(
                        "Zilliz Cloud's list endpoint cannot filter by database and its records do not name "
                        "one; leave db_name unset (filter by collection_name instead)."
                    )
                )
            )
        cluster = self._cluster()
        jobs: dict[str, ImportJob] = {}
        same: dict[str, int | None] = {}
        previous: list[str | None] | None = None
        rows = pages = 0
        for page in range(1, MAX_PAGES + 1):
            body = {"clusterId": cluster, "pageSize": PAGE_SIZE, "currentPage": page}
            records: list[dict[str, Any]] = yield Call(_request("list", body), list_records)
            pages += 1
            ids = [envelope.record_job_id(r) for r in records]
            if ids == previous:  # a server that ignores currentPage would loop forever
                break
            previous = ids
            rows += len(records)
            parse, unparsed = envelope.wanted(records, job_ids, unchanged)
            same.update(unparsed)
            for record in parse:
                job = job_from_record(record, slim=job_ids is not None)
                jobs.setdefault(job.job_id, job)
            if len(records) < PAGE_SIZE:
                break
        result = list(jobs.values())
        if collection_name:
            result = [job for job in result if job.collection_name == collection_name]
        return Listing(jobs=result, rows=rows, pages=pages, unchanged=same)

    def start_job(self, request: Mapping[str, Any], *, validate_only: bool = False) -> Flow[str]:
        if validate_only:
            return (
                yield from refuse(
                    UnsupportedOperationError(
                        "validate_only is an eGain feature; Zilliz Cloud has no validation-only import."
                    )
                )
            )
        body = check_create_body(request, cluster_id=self._cluster(), db_name=self.db_name)
        if body.get("objectUrls") or body.get("objectUrl"):
            for key, value in self._storage.items():
                if not body.get(key):
                    body[key] = value
        job_id: str = yield Call(_request("create", body, idempotent=False), parse_create)
        return job_id

    def cancel_job(self, job_id: str) -> Flow[None]:
        self.check_job_id(job_id)
        yield from refuse(
            UnsupportedOperationError(
                f"Zilliz Cloud has no API to cancel import job {job_id}; stop it from the console if needed.",
                job_id=job_id,
            )
        )

    def test_connection(self) -> Flow[str]:
        body = {"clusterId": self._cluster(), "pageSize": 1, "currentPage": 1}
        yield Call(_request("list", body), parse_list)
        return f"Connected to Zilliz Cloud: the API key is valid for cluster '{self.cluster_id}'."

    def _progress_call(self, endpoint: str, body: dict[str, Any], job_id: str) -> Call[ImportJob]:
        return Call(_request(endpoint, body), lambda r: parse_progress(r, job_id=job_id, endpoint=endpoint))


def _request(endpoint: str, body: dict[str, Any], *, idempotent: bool = True) -> HttpRequest:
    return HttpRequest(method="POST", url=f"{PREFIX}/{endpoint}", endpoint=endpoint, json=body, idempotent=idempotent)


def check_create_body(request: object, *, cluster_id: str, db_name: str | None) -> dict[str, Any]:
    """The create body checked before sending, with ``clusterId``/``dbName`` filled in.

    The file source is ``objectUrls``, the deprecated ``objectUrl`` or ``volumeName`` + ``dataPaths``;
    a field that is ``None`` or ``""`` counts as absent, as the server reads the bodies the vendor
    SDK sends (every field it knows, unused ones empty).
    """
    body = check_request_body(request, api=API)
    require_text(body, "collectionName", api=API)
    for key in ("partitionName", "dbName", "accessKey", "secretKey", "token", "volumeName", "objectUrl"):
        optional_text(body, key, api=API)
    given = {key for key in ("objectUrls", "objectUrl", "volumeName") if body.get(key) not in (None, "")}
    if "objectUrls" in given:
        check_file_batches(body, "objectUrls", api=API)
    elif "objectUrl" in given:
        require_text(body, "objectUrl", api=API)  # deprecated single-URL form, still accepted
    elif "volumeName" in given:
        check_file_batches(body, "dataPaths", api=API)
    else:
        check_file_batches(body, "objectUrls", api=API)
    body.setdefault("clusterId", cluster_id)
    if db_name:
        body.setdefault("dbName", db_name)
    return body


# -- responses -------------------------------------------------------------------------------


def classify(
    status: int, code: int | None, message: str | None, job_id: str | None
) -> tuple[type[ImportJobError] | None, str]:
    """Error class and hint for a failed Zilliz Cloud response (a None class: the status decides)."""
    lowered = (message or "").lower()
    missing = "not exist" in lowered or "not found" in lowered
    if code in _AUTH_CODES or status == 401:
        return AuthenticationError, "check the API key in the connection's password field"
    if status == 403:
        return PermissionDeniedError, "the API key's role lacks access to this cluster or project"
    if status >= 500 or status in (408, 429):
        return None, ""
    if code == 65535 or "try again later" in lowered:  # unexpected server error, busy server: may pass
        return TransientServiceError, ""
    if missing and "cluster" in lowered:
        return InvalidRequestError, "check the connection's cluster_id extra"
    if missing and job_id and "job" in lowered:
        return JobNotFoundError, "finished jobs are kept for a limited time"
    if status >= 400:
        return None, ""
    return InvalidRequestError, ""


def parse_create(response: HttpResponse) -> str:
    return envelope.created_job_id(response, api=API, classify=classify)


def parse_list(response: HttpResponse) -> list[ImportJob]:
    return [job_from_record(r) for r in list_records(response)]


def list_records(response: HttpResponse) -> list[dict[str, Any]]:
    """A list page's job records, unparsed."""
    return envelope.records(response, api=API, classify=classify, keys=("records", "tasks"))


def parse_progress(response: HttpResponse, *, job_id: str, endpoint: str = "getProgress") -> ImportJob:
    data = envelope.data_object(response, api=API, endpoint=endpoint, classify=classify, job_id=job_id)
    return job_from_record(data, job_id=job_id)


def job_from_record(record: dict[str, Any], *, job_id: str | None = None, slim: bool = False) -> ImportJob:
    """An :class:`ImportJob` from a list record or a getProgress ``data`` object (``slim``: see Milvus's)."""
    state = map_state(ZILLIZ_STATES, record.get("state"), api=API)
    files = file_list(record.get("details"), api=API)
    imported = opt_int(record.get("importedRows"))
    if imported is None and files and all(f.imported_rows is not None for f in files):
        # Zilliz reports rows per file only: the job's count is their sum.
        imported = sum(f.imported_rows or 0 for f in files)
    return ImportJob(
        job_id=envelope.record_job_id(record) or job_id or "",
        backend="zilliz_cloud",
        state=state,
        progress=default_progress(state, percent(record.get("progress"))),
        collection_name=opt_str(record.get("collectionName")),
        reason=opt_str(record.get("reason")),
        total_rows=opt_int(record.get("totalRows")),
        imported_rows=imported,
        files=files,
        created_at=opt_time(record.get("createTime")),
        completed_at=opt_time(record.get("completeTime")),
        raw=envelope.slim_raw(record) if slim else record,
    )
