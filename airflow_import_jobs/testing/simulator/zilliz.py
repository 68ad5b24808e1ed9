"""Zilliz Cloud control-plane import endpoints, served under ``/zilliz`` (all POST JSON).

The vendor documents only 21119 and the 96xxx parameter codes; where it is silent the simulator
borrows the Milvus numbers, since the control plane fronts Milvus clusters:

======  ===========================================================================================
code    when
======  ===========================================================================================
21119   bad API key: "The apikey is illegal." (HTTP ``zilliz_auth_error_status``, 200 by default)
429     more than ``zilliz_rate_limit`` requests in one second on one endpoint (HTTP 429)
1801    body is not a JSON object, or a field has the wrong JSON type
1802    ``clusterId``, ``collectionName``, ``jobId`` or the file source missing (a field sent as
        ``""`` or ``null`` counts as missing: the vendor SDK sends every field it knows)
96017   unknown ``clusterId``: "The specified cluster does not exist."
800     unknown ``dbName`` (``zilliz_collections`` lists the databases and their collections)
100     unknown ``collectionName``
200     unknown ``partitionName`` (``zilliz_partitions``)
1100    no file to import once empty inner lists are dropped
2100    too many inner lists, or one Milvus cannot read (see ``catalog``; a folder is accepted)
96008   ``pageSize`` not an integer in 1..100
96009   ``currentPage`` not an integer >= 1
2100    "import job does not exist" (unknown ID, or a job of another cluster)
======  ===========================================================================================

The file source is ``objectUrls`` (a list of lists of URLs), the deprecated ``objectUrl`` (one
URL), or ``volumeName`` + ``dataPaths``. ``getProgress`` (documented) and ``describe`` (what the
vendor SDKs call) answer alike. ``jobId``
may come as a number (the vendor's own curl example sends one); it is looked up as a string.
"""

from __future__ import annotations

from typing import Any

from airflow_import_jobs.testing.simulator import catalog
from airflow_import_jobs.testing.simulator.jobs import ZillizJob
from airflow_import_jobs.testing.simulator.lifecycle import Phase, percent, spelling
from airflow_import_jobs.testing.simulator.state import Simulator
from airflow_import_jobs.testing.simulator.wire import Reply, SimRequest, go_kind, iso_seconds, json_reply, not_found

PREFIX = "/zilliz/v2/vectordb/jobs/import/"
ENDPOINTS = frozenset({"create", "list", "getProgress", "describe"})
MAX_PAGE_SIZE = 100


def _error(code: int, message: str, status: int = 200) -> Reply:
    return json_reply(status, {"code": code, "message": message})


def _ok(data: Any) -> Reply:
    return json_reply(200, {"code": 0, "data": data})


def _type_error(field: str, value: Any, expected: str) -> Reply:
    return _error(1801, f"can only accept json format request: {field} must be {expected}, got {go_kind(value)}")


def _missing(field: str) -> Reply:
    return _error(1802, f"missing required parameters: {field}")


def handle(sim: Simulator, endpoint: str, request: SimRequest) -> Reply:
    """Answer one request to ``PREFIX + endpoint``; the caller holds ``sim.lock``."""
    if request.method != "POST" or endpoint not in ENDPOINTS:
        return not_found()
    if not sim.zilliz_allow(endpoint):
        return _error(429, "Too many requests, please slow down and try again later.", status=429)
    if request.bearer() != sim.zilliz_api_key:
        return _error(21119, "The apikey is illegal.", status=sim.zilliz_auth_error_status)
    ok, body = request.json
    if not ok or not isinstance(body, dict):
        return _error(1801, "can only accept json format request")
    cluster = body.get("clusterId")
    if cluster is None or cluster == "":
        return _missing("clusterId")
    if not isinstance(cluster, str):
        return _type_error("clusterId", cluster, "a string")
    if cluster != sim.zilliz_cluster_id and cluster not in sim.zilliz_clusters:
        return _error(96017, "The specified cluster does not exist.")
    if endpoint == "create":
        return _create(sim, cluster, body)
    if endpoint == "list":
        return _list(sim, cluster, body)
    return _progress(sim, cluster, body)


def _given(body: dict[str, Any], name: str) -> Any:
    """A field's value, or None when it is absent, null or empty: the vendor SDK (pymilvus
    ``bulk_import``) sends every field it knows, unused ones as ``""`` or ``null``."""
    value = body.get(name)
    return None if value is None or value == "" else value


def _file_groups(body: dict[str, Any]) -> tuple[list[list[str]] | None, Reply | None]:
    """The files to import, from ``objectUrls``, the deprecated ``objectUrl``, or a volume."""
    if _given(body, "objectUrls") is not None:
        return _groups("objectUrls", body["objectUrls"])
    url = _given(body, "objectUrl")
    if url is not None:
        if not isinstance(url, str):
            return None, _type_error("objectUrl", url, "a string")
        return [[url]], None
    volume, paths = _given(body, "volumeName"), _given(body, "dataPaths")
    if volume is not None or paths is not None:
        if volume is None:
            return None, _missing("volumeName")
        if not isinstance(volume, str):
            return None, _type_error("volumeName", volume, "a string")
        if paths is None:
            return None, _missing("dataPaths")
        return _groups("dataPaths", paths)
    return None, _missing("objectUrls, or volumeName and dataPaths")


def _groups(field: str, value: Any) -> tuple[list[list[str]] | None, Reply | None]:
    """``value`` if it is a list of lists of strings (emptiness is the catalogue's to refuse)."""
    if not isinstance(value, list):
        return None, _type_error(field, value, "a list of lists of strings")
    for group in value:
        if not isinstance(group, list) or not all(isinstance(p, str) for p in group):
            return None, _type_error(field, group, "a list of strings")
    return value, None


def _create(sim: Simulator, cluster: str, body: dict[str, Any]) -> Reply:
    collection = _given(body, "collectionName")
    if collection is None:
        return _missing("collectionName")
    if not isinstance(collection, str):
        return _type_error("collectionName", collection, "a string")
    for name in ("dbName", "partitionName", "accessKey", "secretKey", "token"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            return _type_error(name, value, "a string")
    groups, bad = _file_groups(body)
    if bad is not None or groups is None:
        return bad or _missing("objectUrls")
    db = _given(body, "dbName") or "default"
    partition = _given(body, "partitionName")
    refusal = catalog.check_target(sim.zilliz_collections, sim.zilliz_partitions, db, collection, partition)
    if refusal is None:
        refusal = catalog.check_files(groups, max_files=sim.milvus_max_files, folders=True)
    if refusal is not None:
        return _error(*refusal)
    job_id = sim.add_zilliz_job(
        collection,
        sim.lifecycle_for_created("zilliz"),
        cluster,
        files=[group for group in groups if group],
        request_body=body,
        db_name=db,
        partition_name=partition,
    )
    return _ok({"jobId": job_id})


def _page_arg(body: dict[str, Any], name: str, default: int, low: int, high: int | None) -> int | None:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        return None
    return value


def _list(sim: Simulator, cluster: str, body: dict[str, Any]) -> Reply:
    size = _page_arg(body, "pageSize", 10, 1, MAX_PAGE_SIZE)
    if size is None:
        return _error(96008, "The parameter value for pageSize should be between 1 and 100.")
    page = _page_arg(body, "currentPage", 1, 1, None)
    if page is None:
        return _error(96009, "The parameter currentPage should have a value between 1 and the maximum value of Int.")
    mine = [job for job in sim.zilliz_jobs.values() if job.cluster_id == cluster]
    chosen = mine[(page - 1) * size : page * size]
    now = sim.now()
    records = []
    for job in chosen:
        state, _, _, _ = _read(sim, job, now)
        records.append({"collectionName": job.collection_name, "jobId": job.job_id, "state": state})
    count = len(mine) if sim.zilliz_count_is_total else len(records)
    return _ok({"count": count, "currentPage": page, "pageSize": size, "records": records})


def _read(sim: Simulator, job: ZillizJob, now: float) -> tuple[str, int, str, Phase]:
    """Advance the job one read; (state, progress, reason, phase)."""
    job.reads += 1
    lifecycle = job.lifecycle
    pos = job.position(now)
    phase = job.phase(now)
    if phase is Phase.INITIAL:
        state, progress, reason = "Pending", 10, ""
    elif phase is Phase.RUNNING:
        state, progress, reason = sim.zilliz_running_state, percent(lifecycle, pos, 10, 90), ""
    elif phase is Phase.SUCCEEDED:
        state, progress, reason = "Completed", 100, ""
    else:
        state, progress, reason = "Failed", 0, lifecycle.reason
    if phase in (Phase.SUCCEEDED, Phase.FAILED):
        job.mark_finished(now, sim.wall(now))
    return spelling(lifecycle, phase, pos, state), progress, reason, phase


def _progress(sim: Simulator, cluster: str, body: dict[str, Any]) -> Reply:
    raw = body.get("jobId")
    if raw is None or raw == "":
        return _missing("jobId")
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        return _type_error("jobId", raw, "a string")
    job_id = str(raw)
    job = sim.zilliz_jobs.get(job_id)
    if job is None or job.cluster_id != cluster:
        return _error(2100, f"import job does not exist, jobID={job_id}: importing data failed")
    now = sim.now()
    state, progress, reason, phase = _read(sim, job, now)
    finished = phase in (Phase.SUCCEEDED, Phase.FAILED)
    done = iso_seconds(job.finished_wall) if finished and job.finished_wall is not None else ""
    pos = job.position(now)
    file_done = done or iso_seconds(sim.wall(now))
    details = []
    for i, f in enumerate(job.files):
        share = 1.0 if phase is Phase.SUCCEEDED else 0.0 if phase is not Phase.RUNNING else pos * len(job.files) - i
        detail: dict[str, Any] = {"fileName": f.name, "fileSize": f.size}
        if phase is Phase.FAILED:
            detail.update(state="Failed", progress=0, completeTime="", reason=reason)
        elif share >= 1:
            # Only finished files carry importedRows ("sometimes", per the vendor docs).
            detail.update(state="Completed", progress=100, completeTime=file_done, reason="", importedRows=f.rows)
        elif share > 0:
            detail.update(state=sim.zilliz_running_state, progress=int(share * 100), completeTime="", reason="")
        else:
            detail.update(state="Pending", progress=0, completeTime="", reason="")
        details.append(detail)
    first = job.files[0] if job.files else None
    return _ok(
        {
            "jobId": job.job_id,
            "collectionName": job.collection_name,
            "fileName": first.name if first else "",
            "fileSize": sum(f.size for f in job.files),
            "state": state,
            "progress": progress,
            "completeTime": done,
            "reason": reason,
            "totalRows": job.lifecycle.total_rows,
            "details": details,
        }
    )
