"""Request checks and record readers that more than one API shares."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from airflow_import_jobs.exceptions import InvalidRequestError
from airflow_import_jobs.models import FileProgress, JobState
from airflow_import_jobs.protocol.states import FILE_STATES, map_state
from airflow_import_jobs.protocol.values import first, opt_int, opt_str, opt_time, percent


def check_job_id(job_id: object, *, api: str, pattern: re.Pattern[str], expected: str) -> str:
    """``job_id`` if it is a well-formed ID for ``api``; otherwise a clear InvalidRequestError.

    IDs are checked before any request so that nothing a caller passes can change a URL path or
    query: only characters an ID of that API can contain are let through.
    """
    if not isinstance(job_id, str):
        raise InvalidRequestError(
            f"job_id must be a string ({expected}); got {type(job_id).__name__} {job_id!r}. "
            "Pass IDs as text: large numeric IDs lose digits when treated as numbers."
        )
    if not pattern.fullmatch(job_id):
        shown = job_id if len(job_id) <= 80 else job_id[:77] + "..."
        raise InvalidRequestError(f"job_id {shown!r} is not a valid {api} job ID: expected {expected}.")
    return job_id


def check_request_body(request: object, *, api: str) -> dict[str, Any]:
    """A shallow copy of the create body, which must be a JSON object."""
    if not isinstance(request, Mapping):
        raise InvalidRequestError(f"request must be a dict with the {api} create body; got {type(request).__name__}.")
    return dict(request)


def require_text(body: Mapping[str, Any], key: str, *, api: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequestError(f"request[{key!r}] is required by {api} and must be a non-empty string.")
    return value


def optional_text(body: Mapping[str, Any], key: str, *, api: str) -> None:
    if key in body and body[key] is not None and not isinstance(body[key], str):
        raise InvalidRequestError(f"request[{key!r}] must be a string for {api}; got {type(body[key]).__name__}.")


def check_file_batches(body: Mapping[str, Any], key: str, *, api: str, required: bool = True) -> None:
    """``body[key]`` must be a list of lists of path strings holding at least one path.

    As permissive as the server: an empty inner list is dropped there, not refused, and the number
    of lists is the server's to limit (Milvus's ``maxImportFileNumPerReq`` is configuration, 1024 by
    default), so neither is refused here.
    """
    if key not in body and not required:
        return
    batches = body.get(key)
    example = '[["folder/part-1.parquet"], ["folder/part-2.parquet"]]'
    if not isinstance(batches, list) or not batches:
        raise InvalidRequestError(
            f"request[{key!r}] is required by {api}: a list of lists of file paths, e.g. {example}."
        )
    for index, batch in enumerate(batches):
        if not isinstance(batch, list) or not all(isinstance(p, str) and p.strip() for p in batch):
            raise InvalidRequestError(
                f"request[{key!r}][{index}] must be a list of path strings, e.g. {example}; got {batch!r}."
            )
    if not any(batches):
        raise InvalidRequestError(f"request[{key!r}] names no file: every inner list is empty; e.g. {example}.")


def file_progress(record: Mapping[str, Any], *, api: str) -> FileProgress:
    """One ``details[]`` entry of Milvus or Zilliz Cloud."""
    return FileProgress(
        file_name=opt_str(record.get("fileName")),
        file_size=opt_int(record.get("fileSize")),
        state=map_state(FILE_STATES, record.get("state"), api=f"{api} (file)"),
        progress=percent(record.get("progress")),
        reason=opt_str(record.get("reason")),
        imported_rows=opt_int(record.get("importedRows")),
        total_rows=opt_int(record.get("totalRows")),
        completed_at=opt_time(first(dict(record), "completeTime", "completedTime")),
    )


def file_list(value: Any, *, api: str) -> list[FileProgress]:
    if not isinstance(value, list):
        return []
    return [file_progress(item, api=api) for item in value if isinstance(item, Mapping)]


def default_progress(state: JobState, reported: int | None) -> int:
    """Progress to show when the API leaves it out: 100 once completed, else what was sent or 0."""
    if reported is not None:
        return reported
    return 100 if state is JobState.COMPLETED else 0


#: Create-body keys whose values are credentials (any API, any depth).
SECRET_KEYS = frozenset({"accessKey", "secretKey", "token", "secretAccessKey", "accessKeyId", "password"})
#: Query parameters that carry the credential of a pre-signed URL (S3 SigV4/SigV2, GCS V4, Azure SAS).
URL_SECRET_PARAMS = frozenset(
    {"x-amz-signature", "x-amz-security-token", "signature", "x-goog-signature", "sig", "x-goog-credential"}
)


def request_secrets(value: Any) -> list[str]:
    """Values under credential keys anywhere in a create body, and the signatures of pre-signed URLs."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in SECRET_KEYS and isinstance(item, str):
                found.append(item)
            else:
                found.extend(request_secrets(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(request_secrets(item))
    elif isinstance(value, str) and "?" in value:
        # A pre-signed URL (S3, GCS, an Azure SAS) carries its credential in the query; a server may
        # echo the URL back as a file name, in progress lines and failure reasons.
        found.extend(
            item
            for key, item in parse_qsl(value.split("?", 1)[1], keep_blank_values=False)
            if key.lower() in URL_SECRET_PARAMS
        )
    return found
