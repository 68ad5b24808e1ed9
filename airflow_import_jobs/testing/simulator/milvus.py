"""Self-hosted Milvus REST v2 import endpoints (``/v2/vectordb/jobs/import/*``, all POST JSON).

Codes and messages follow the Milvus server (``merr``): errors are HTTP 200 with ``{"code",
"message"}`` unless noted.

======  ===========================================================================================
code    when
======  ===========================================================================================
1800    no or wrong ``Authorization`` (HTTP 401)
1401    RBAC: the database is in ``milvus_restricted_dbs`` and no ``DB-Name`` header (HTTP 403)
1801    body is not a JSON object, or a field has the wrong JSON type (``jobId`` as a number,
        ``options`` values that are not strings)
1802    ``collectionName``/``files``/``jobId`` missing
1100    ``files`` holds no file once empty inner lists are dropped; ``jobId`` is a string but not
        an int64
800     database not found (``milvus_collections`` lists the databases and their collections)
100     collection not found
200     partition not found (``milvus_partitions``; same number as the legacy success code: only
        the message differs)
2100    "import job does not exist" (unknown or past retention), too many files, an inner list
        Milvus cannot read (mixed extensions, several JSON/Parquet/CSV files, an unknown extension:
        see ``catalog``), "number of jobs has reached the limit, please try again later", commit
        of a job that is not Uncommitted, abort of a Completed or Committing job
======  ===========================================================================================

Servers without ``/describe`` (``milvus_has_describe = False``) or without ``/commit`` and
``/abort`` answer gin's plain-text ``404 page not found``, as does any other path or method.
Pending jobs report progress 10 and Failed jobs progress 0, as the server computes them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from airflow_import_jobs.testing.simulator import catalog
from airflow_import_jobs.testing.simulator.jobs import MilvusJob
from airflow_import_jobs.testing.simulator.lifecycle import Phase, percent, phase_at, spelling
from airflow_import_jobs.testing.simulator.state import Simulator
from airflow_import_jobs.testing.simulator.wire import Reply, SimRequest, go_kind, iso_seconds, json_reply, not_found

PREFIX = "/v2/vectordb/jobs/import/"
ENDPOINTS = frozenset({"create", "list", "describe", "get_progress", "commit", "abort"})
ABORT_REASON = "import job was aborted by user"
#: How long a committed job shows ``Committing`` in time mode (reads mode: one read).
COMMIT_SECONDS = 1.0
_FORMAT_ERROR = "can only accept json format request, error: "
_MISSING_ERROR = (
    "missing required parameters, error: Key: '{struct}.{field}' "
    "Error:Field validation for '{field}' failed on the 'required' tag"
)


@dataclass(frozen=True)
class View:
    """A job as the server reports it at one instant."""

    phase: Phase
    state: str
    progress: int
    reason: str
    position: float
    committing: bool = False

    @property
    def terminal(self) -> bool:
        """Finished for good (retention counts from here; the job limit no longer counts it)."""
        return self.phase in (Phase.SUCCEEDED, Phase.FAILED)


def _error(code: int, message: str, status: int = 200) -> Reply:
    return json_reply(status, {"code": code, "message": message})


def _import_failed(reason: str) -> Reply:
    return _error(*catalog.import_failed(reason))


def _ok(sim: Simulator, data: Any) -> Reply:
    return json_reply(200, {"code": sim.milvus_success_code, "data": data})


def _type_error(struct: str, field: str, value: Any, go_type: str) -> Reply:
    return _error(
        1801,
        f"{_FORMAT_ERROR}json: cannot unmarshal {go_kind(value)} "
        f"into Go struct field {struct}.{field} of type {go_type}",
    )


def _missing(struct: str, field: str) -> Reply:
    return _error(1802, _MISSING_ERROR.format(struct=struct, field=field))


def handle(sim: Simulator, endpoint: str, request: SimRequest) -> Reply:
    """Answer one request to ``PREFIX + endpoint``; the caller holds ``sim.lock``."""
    if request.method != "POST" or endpoint not in ENDPOINTS:
        return not_found()
    if endpoint == "describe" and not sim.milvus_has_describe:
        return not_found()
    if endpoint in ("commit", "abort") and not sim.milvus_has_commit_abort:
        return not_found()
    denied = _authenticate(sim, request)
    if denied is not None:
        return denied
    ok, body = request.json
    if not ok:
        detail = "EOF" if not request.body.strip() else "invalid character looking for beginning of value"
        return _error(1801, _FORMAT_ERROR + detail)
    if not isinstance(body, dict):
        return _error(1801, f"{_FORMAT_ERROR}json: cannot unmarshal {go_kind(body)} into Go value")
    if endpoint == "create":
        return _create(sim, request, body)
    if endpoint == "list":
        return _list(sim, request, body)
    if endpoint in ("describe", "get_progress"):
        return _describe(sim, request, body)
    return _commit(sim, request, body) if endpoint == "commit" else _abort(sim, request, body)


def _authenticate(sim: Simulator, request: SimRequest) -> Reply | None:
    if not sim.milvus_auth_required:
        return None
    token = request.bearer()
    if token in (f"{sim.milvus_user}:{sim.milvus_password}", sim.milvus_api_key):
        return None
    return _error(1800, "user hasn't authenticated", status=401)


def _database(sim: Simulator, request: SimRequest, body: dict[str, Any]) -> tuple[str, Reply | None]:
    """The database a request is about, and the RBAC refusal if it must be named in a header."""
    header = request.headers.get("db-name", "")
    named = body.get("dbName")
    db = named if isinstance(named, str) and named else (header or "default")
    if db in sim.milvus_restricted_dbs and not header:
        message = f"privilege not permitted: PrivilegeImport: permission deny to {sim.milvus_user} on db {db}"
        return db, _error(1401, message, status=403)
    return db, None


def _collection(
    sim: Simulator, request: SimRequest, body: dict[str, Any], collection: str | None, partition: str | None = None
) -> tuple[str, Reply | None]:
    """The database a request is about, and the refusal if it (or the named collection or partition) does not exist."""
    db, denied = _database(sim, request, body)
    if denied is not None:
        return db, denied
    refusal = catalog.check_target(sim.milvus_collections, sim.milvus_partitions, db, collection, partition)
    return db, (None if refusal is None else _error(*refusal))


def _check_strings(struct: str, body: dict[str, Any], *names: str) -> Reply | None:
    for name in names:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            return _type_error(struct, name, value, "string")
    return None


def _create(sim: Simulator, request: SimRequest, body: dict[str, Any]) -> Reply:
    # Go decodes (1801) before it validates required fields (1802).
    bad = _check_strings("ImportReq", body, "collectionName", "dbName", "partitionName")
    if bad is not None:
        return bad
    files = body.get("files")
    if files is not None:
        if not isinstance(files, list):
            return _type_error("ImportReq", "files", files, "[][]string")
        for group in files:
            if not isinstance(group, list):
                return _type_error("ImportReq", "files", group, "[]string")
            for path in group:
                if not isinstance(path, str):
                    return _type_error("ImportReq", "files", path, "string")
    options = body.get("options")
    if options is not None:
        if not isinstance(options, dict):
            return _type_error("ImportReq", "options", options, "map[string]string")
        for value in options.values():
            if not isinstance(value, str):
                return _type_error("ImportReq", "options", value, "string")
    collection = body.get("collectionName")
    if not collection:
        return _missing("ImportReq", "CollectionName")
    if files is None:
        return _missing("ImportReq", "Files")
    partition = body.get("partitionName") or None
    db, refusal = _collection(sim, request, body, collection, partition)
    if refusal is not None:
        return refusal
    bad_files = catalog.check_files(files, max_files=sim.milvus_max_files, options=options)
    if bad_files is not None:
        return _error(*bad_files)
    now = sim.now()
    active = sum(1 for job in sim.milvus_jobs.values() if not _view(sim, job, now).terminal)
    if active >= sim.milvus_job_limit:
        return _import_failed(
            "The number of jobs has reached the limit, please try again later. If your request is set to "
            "only import a single file, please consider importing multiple files in one request for "
            "better efficiency"
        )
    lifecycle = sim.lifecycle_for_created("milvus")
    opts: dict[str, str] = options or {}
    if opts.get("auto_commit", "").lower() == "false" and lifecycle.outcome == "completed":
        # A two-phase job waits for /commit, where the server supports it.
        lifecycle = replace(lifecycle, outcome="uncommitted")
    job_id = sim.add_milvus_job(
        collection,
        db,
        lifecycle,
        files=[group for group in files if group],
        partition_name=partition,
        options=opts,
        request_body=body,
    )
    return _ok(sim, {"jobId": job_id})


def _job_id(body: dict[str, Any]) -> tuple[str, Reply | None]:
    value = body.get("jobId")
    if value is None:
        return "", _missing("JobIDReq", "JobID")
    if not isinstance(value, str):
        return "", _type_error("JobIDReq", "jobId", value, "string")
    if not value.lstrip("-").isdigit():
        return "", _error(1100, f'strconv.ParseInt: parsing "{value}": invalid syntax: invalid parameter')
    return value, None


def _lookup(sim: Simulator, job_id: str, now: float) -> MilvusJob | None:
    """The job, unless it is unknown or was deleted after ``milvus_retention_s``."""
    job = sim.milvus_jobs.get(job_id)
    if job is None:
        return None
    _observe(sim, job, _view(sim, job, now), now)
    if job.finished is not None and now - job.finished >= sim.milvus_retention_s:
        del sim.milvus_jobs[job_id]
        return None
    return job


def _find_job(sim: Simulator, request: SimRequest, body: dict[str, Any]) -> tuple[MilvusJob, float] | Reply:
    """The job a describe/commit/abort request names (and the time it was read), or the error reply."""
    job_id, bad = _job_id(body)
    if bad is not None:
        return bad
    _, denied = _database(sim, request, body)
    if denied is not None:
        return denied
    now = sim.now()
    job = _lookup(sim, job_id, now)
    if job is None:
        return _not_exist(job_id)
    return job, now


def _not_exist(job_id: str) -> Reply:
    return _import_failed(f"import job does not exist, jobID={job_id}")


def _read(sim: Simulator, job: MilvusJob, now: float) -> View:
    """One read of the job: advance it, then report it."""
    job.reads += 1
    if job.committed:
        job.reads_since_commit += 1
    view = _view(sim, job, now)
    _observe(sim, job, view, now)
    return view


def _observe(sim: Simulator, job: MilvusJob, view: View, now: float) -> None:
    if view.terminal:
        job.mark_finished(now, sim.wall(now))


def _view(sim: Simulator, job: MilvusJob, now: float) -> View:
    lifecycle = job.lifecycle
    if job.aborted:
        return View(Phase.FAILED, "Failed", 0, ABORT_REASON, 1.0)
    pos = job.position(now)
    phase = phase_at(lifecycle, pos)
    if phase is Phase.UNCOMMITTED and job.committed:
        if lifecycle.advance == "reads":
            committing = job.reads_since_commit <= 1
        else:
            committing = job.committed_at is not None and now - job.committed_at < COMMIT_SECONDS
        if committing:
            return View(Phase.UNCOMMITTED, "Committing", 100, "", pos, committing=True)
        phase = Phase.SUCCEEDED
    if phase is Phase.INITIAL:
        state, progress, reason = "Pending", 10, ""
    elif phase is Phase.RUNNING:
        state, progress, reason = "Importing", percent(lifecycle, pos, 10, 90), ""
    elif phase is Phase.SUCCEEDED:
        state, progress, reason = "Completed", 100, ""
    elif phase is Phase.FAILED:
        state, progress, reason = "Failed", 0, lifecycle.reason
    else:
        state, progress, reason = "Uncommitted", 100, ""
    return View(phase, spelling(lifecycle, phase, pos, state), progress, reason, pos)


def _rows(job: MilvusJob, view: View) -> tuple[int, int]:
    """(importedRows, totalRows): rows are counted by pre-import (40) and written by import (70)."""
    total = job.lifecycle.total_rows
    if view.phase in (Phase.SUCCEEDED, Phase.UNCOMMITTED):
        return total, total
    if view.phase is Phase.FAILED:
        return 0, total
    if view.progress < 40:
        return 0, 0
    return min(total, total * (view.progress - 40) // 30), total


def _details(sim: Simulator, job: MilvusJob, view: View, now: float) -> list[dict[str, Any]]:
    done_time = iso_seconds(job.finished_wall if job.finished_wall is not None else sim.wall(now))
    count = len(job.files)
    out = []
    for i, f in enumerate(job.files):
        reason = ""
        complete = ""
        if view.phase in (Phase.SUCCEEDED, Phase.UNCOMMITTED):
            state, progress, rows, complete = "Completed", 100, f.rows, done_time
        elif view.phase is Phase.FAILED:
            state, progress, rows, reason = "Failed", 0, 0, view.reason
        elif view.phase is Phase.INITIAL:
            state, progress, rows = "Pending", 0, 0
        else:
            share = view.position * count - i
            if share >= 1:
                state, progress, rows, complete = "Completed", 100, f.rows, done_time
            elif share > 0:
                # A failing job retries its file before it gives up.
                failing = job.lifecycle.outcome == "failed" and view.position >= 0.5
                state, progress, rows = ("Retry" if failing else "InProgress"), int(share * 100), int(f.rows * share)
            else:
                state, progress, rows = "Pending", 0, 0
        out.append(
            {
                "fileName": f.name,
                "fileSize": f.size,
                "progress": progress,
                "state": state,
                "reason": reason,
                "completeTime": complete,
                "importedRows": rows,
                "totalRows": f.rows,
            }
        )
    return out


def _describe(sim: Simulator, request: SimRequest, body: dict[str, Any]) -> Reply:
    found = _find_job(sim, request, body)
    if isinstance(found, Reply):
        return found
    job, now = found
    view = _read(sim, job, now)
    imported, total = _rows(job, view)
    data: dict[str, Any] = {
        "jobId": job.job_id,
        "collectionName": job.collection_name,
        "state": view.state,
        "progress": view.progress,
        "importedRows": imported,
        "totalRows": total,
        "completeTime": iso_seconds(job.finished_wall) if view.terminal and job.finished_wall else "",
        "createTime": iso_seconds(job.created_wall),
        "fileSize": sum(f.size for f in job.files),
        "details": _details(sim, job, view, now),
    }
    if view.reason:
        data["reason"] = view.reason
    return _ok(sim, data)


def _list(sim: Simulator, request: SimRequest, body: dict[str, Any]) -> Reply:
    bad = _check_strings("ListImportReq", body, "collectionName", "dbName")
    if bad is not None:
        return bad
    collection = body.get("collectionName") or None
    db, refusal = _collection(sim, request, body, collection)
    if refusal is not None:
        return refusal
    now = sim.now()
    records = []
    for job_id in list(sim.milvus_jobs):
        job = _lookup(sim, job_id, now)
        if job is None or job.db_name != db or (collection is not None and job.collection_name != collection):
            continue
        view = _read(sim, job, now)
        record: dict[str, Any] = {
            "jobId": job.job_id,
            "collectionName": job.collection_name,
            "state": view.state,
            "progress": view.progress,
        }
        if view.reason:
            record["reason"] = view.reason
        records.append(record)
    return _ok(sim, {"records": records})


def _commit(sim: Simulator, request: SimRequest, body: dict[str, Any]) -> Reply:
    found = _find_job(sim, request, body)
    if isinstance(found, Reply):
        return found
    job, now = found
    view = _view(sim, job, now)
    if view.phase is not Phase.UNCOMMITTED or job.committed:
        return _import_failed(f"import job {job.job_id} is {view.state}, only an Uncommitted job can be committed")
    job.committed = True
    job.committed_at = now
    job.reads_since_commit = 0
    return _ok(sim, {})


def _abort(sim: Simulator, request: SimRequest, body: dict[str, Any]) -> Reply:
    found = _find_job(sim, request, body)
    if isinstance(found, Reply):
        return found
    job, now = found
    view = _view(sim, job, now)
    if view.phase is Phase.SUCCEEDED or view.committing:
        return _import_failed(f"import job {job.job_id} is {view.state} and cannot be aborted")
    if view.phase is not Phase.FAILED:
        job.aborted = True
        job.mark_finished(now, sim.wall(now))
    return _ok(sim, {})
