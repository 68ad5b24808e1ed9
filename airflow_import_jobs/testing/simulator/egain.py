"""eGain Knowledge Content Manager v4 import endpoints and the tenant's OAuth token endpoint,
served under ``/egain``.

Every error of the API is the spec's ``WSErrorCommon``: ``{"code": "<http>-<n>", "developerMessage",
"details": [{"key", "value"}], "userMessage"}``:

=======  ==========================================================================================
code     when
=======  ==========================================================================================
401-101  no token, an unknown token, or an expired one (the vendor documents it for expiry)
403-197  the token holds none of ``egain_scopes`` (checked per request, so a test can revoke)
400-152  bad body (``dataSource.type``/``path`` missing or wrong, ``region`` not a string,
         ``credentials`` not an object or half a pair, ``operation``), ``scheduleTime.date`` not exactly
         ``YYYY-MM-DDTHH:MM:SS.mmmZ`` or more than 7 days ahead, or a job ID that is not a UUID
404-101  no job with that ID
409-101  cancel of a job that has already finished (the vendor documents the 409, not the code)
404-100  unknown path; 405-100 known path, wrong method
=======  ==========================================================================================

The token endpoint speaks OAuth 2.0 (RFC 6749): form-encoded ``grant_type=client_credentials``,
client credentials in the form or in HTTP Basic; ``400 invalid_request`` (not form-encoded, unknown
tenant), ``400 unsupported_grant_type``, ``401 invalid_client``. Requested scopes the tenant does
not know are dropped rather than refused, so a misconfigured scope shows up as 403-197 on the API,
where the vendor documents it; no ``scope`` grants them all.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

from airflow_import_jobs.testing.simulator.jobs import EgainJob
from airflow_import_jobs.testing.simulator.lifecycle import Phase, percent, spelling
from airflow_import_jobs.testing.simulator.state import Simulator
from airflow_import_jobs.testing.simulator.wire import Reply, SimRequest, iso_millis, json_reply

Handler = Callable[[Simulator, SimRequest], Reply]

CONTENT = "/egain/knowledge/contentmgr/v4/import/content"
TOKEN_PATH = re.compile(r"/egain/system/auth/([^/]+)/oauth2/token")
JOB_PATH = re.compile(re.escape(CONTENT) + r"/([^/]+)/(status|cancel)")
UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
SCHEDULE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
MAX_SCHEDULE_AHEAD_S = 7 * 24 * 3600.0
DATA_SOURCE_TYPES = ("AWS S3 bucket", "Shared file path")
OPERATIONS = ("import", "reimport")
#: eGain reports a job's progress when it failed or was cancelled by someone else at this point.
_STOPPED_PERCENT = 50


def route(path: str) -> tuple[str, str, Handler]:
    """(endpoint, fault backend, handler) for a path under ``/egain``."""
    token = TOKEN_PATH.fullmatch(path)
    if token is not None:
        tenant = token.group(1)
        return "token", "egain_token", lambda sim, request: _token(sim, tenant, request)
    if path == CONTENT:
        return "content", "egain", lambda sim, request: _start(sim, request, "Import")
    if path == CONTENT + "/validate":
        return "validate", "egain", lambda sim, request: _start(sim, request, "Validation")
    job = JOB_PATH.fullmatch(path)
    if job is not None:
        job_id, action = job.group(1), job.group(2)
        if action == "status":
            return "status", "egain", lambda sim, request: _status(sim, job_id, request)
        return "cancel", "egain", lambda sim, request: _cancel(sim, job_id, request)
    return path.rstrip("/").rsplit("/", 1)[-1] or "unknown", "egain", _unknown


def _error(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> Reply:
    headers: tuple[tuple[str, str], ...] = ()
    if status == 401:
        headers = (("www-authenticate", 'Bearer error="invalid_token"'),)
    body = {"code": code, "developerMessage": message, "details": details or [], "userMessage": message}
    return json_reply(status, body, headers)


def _invalid(name: str, value: Any, message: str) -> Reply:
    return _error(400, "400-152", message, [{"key": name, "value": "" if value is None else str(value)}])


def _unknown(sim: Simulator, request: SimRequest) -> Reply:
    return _error(404, "404-100", "Resource not found.")


def _wrong_method() -> Reply:
    return _error(405, "405-100", "Method not allowed.")


def _oauth_error(status: int, error: str, description: str) -> Reply:
    headers: tuple[tuple[str, str], ...] = (("cache-control", "no-store"),)
    if status == 401:
        headers = (*headers, ("www-authenticate", 'Basic realm="eGain"'))
    return json_reply(status, {"error": error, "error_description": description}, headers)


def _basic_credentials(request: SimRequest) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (unquote(client_id), unquote(secret)) if sep else None


def _token(sim: Simulator, tenant: str, request: SimRequest) -> Reply:
    if request.method != "POST":
        return _oauth_error(405, "invalid_request", "Use POST.")
    if tenant.upper() != sim.egain_tenant.upper():
        return _oauth_error(400, "invalid_request", f"Unknown tenant '{tenant}'.")
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        return _oauth_error(400, "invalid_request", "The body must be application/x-www-form-urlencoded.")
    form = request.form()
    grant = form.get("grant_type")
    if not grant:
        return _oauth_error(400, "invalid_request", "grant_type is required.")
    if grant != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", f"Grant type '{grant}' is not supported.")
    basic = _basic_credentials(request)
    client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
    if client_id != sim.egain_client_id or secret != sim.egain_client_secret:
        return _oauth_error(401, "invalid_client", "Client authentication failed.")
    requested = set(form.get("scope", "").split())
    granted = frozenset(requested & sim.egain_scopes if requested else sim.egain_scopes)
    token = sim.issue_egain_token(granted)
    body = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": max(0, int(sim.egain_token_ttl)),
        "scope": " ".join(sorted(granted)),
    }
    return json_reply(200, body, (("cache-control", "no-store"), ("pragma", "no-cache")))


def _authorize(sim: Simulator, request: SimRequest) -> Reply | None:
    token = request.bearer()
    if token is None:
        return _error(401, "401-101", "Access token is missing.")
    info = sim.egain_token(token)
    if info is None:
        return _error(401, "401-101", "Access token is invalid.")
    if sim.now() >= info.expires:
        return _error(401, "401-101", "Access token has expired.")
    if not info.scopes & sim.egain_scopes:
        wanted = " or ".join(sorted(sim.egain_scopes)) or "knowledge.contentmgr.manage"
        return _error(403, "403-197", f"Missing required scope: {wanted}.")
    return None


#: Credential keys that go in pairs ("provide along with", says the spec); accessKey/secretKey are the
#: older spec's names for the S3 pair.
_CREDENTIAL_PAIRS = (("accessKeyId", "secretAccessKey"), ("accessKey", "secretKey"), ("username", "password"))


def _check_data_source(body: dict[str, Any]) -> Reply | None:
    """The v4 spec's ``dataSource``: ``type`` and ``path`` required, ``region`` and ``credentials``
    optional (a tenant whose bucket needs no keys in the body sends neither)."""
    source = body.get("dataSource")
    if not isinstance(source, dict):
        return _invalid("dataSource", source, "dataSource is required and must be an object.")
    kind = source.get("type")
    if kind not in DATA_SOURCE_TYPES:
        return _invalid("dataSource.type", kind, f"dataSource.type must be one of {', '.join(DATA_SOURCE_TYPES)}.")
    path = source.get("path")
    if not isinstance(path, str) or not path:
        return _invalid("dataSource.path", path, "dataSource.path is required.")
    region = source.get("region")
    if region is not None and not isinstance(region, str):
        return _invalid("dataSource.region", region, "dataSource.region must be a string.")
    credentials = source.get("credentials")
    if credentials is None:
        return None
    if not isinstance(credentials, dict):
        return _invalid("dataSource.credentials", None, "dataSource.credentials must be an object.")
    for first, second in _CREDENTIAL_PAIRS:
        for name, partner in ((first, second), (second, first)):
            value = credentials.get(name)
            if value is not None and not isinstance(value, str):
                return _invalid(
                    f"dataSource.credentials.{name}", None, f"dataSource.credentials.{name} must be a string."
                )
            if value is not None and credentials.get(partner) is None:
                return _invalid(
                    f"dataSource.credentials.{partner}",
                    None,
                    f"dataSource.credentials.{name} must be provided along with {partner}.",
                )
    return None


def _schedule_delay(sim: Simulator, body: dict[str, Any]) -> tuple[float, Reply | None]:
    """Seconds until ``scheduleTime.date`` (0 when absent or past)."""
    schedule = body.get("scheduleTime")
    if schedule is None:
        return 0.0, None
    date = schedule.get("date") if isinstance(schedule, dict) else None
    if not isinstance(date, str) or not SCHEDULE_DATE.fullmatch(date):
        return 0.0, _invalid("scheduleTime.date", date, "scheduleTime.date must be YYYY-MM-DDTHH:MM:SS.mmmZ.")
    try:
        moment = datetime.strptime(date, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return 0.0, _invalid("scheduleTime.date", date, "scheduleTime.date is not a valid date.")
    ahead = moment.timestamp() - sim.wall()
    if ahead > MAX_SCHEDULE_AHEAD_S:
        return 0.0, _invalid("scheduleTime.date", date, "scheduleTime.date must be at most 7 days ahead.")
    return max(0.0, ahead), None


def _log_location(body: dict[str, Any], job_id: str) -> str:
    path = str(body["dataSource"]["path"])
    if body["dataSource"]["type"] == "AWS S3 bucket":
        bucket = path.removeprefix("s3://").split("/", 1)[0]
        return f"s3://{bucket}/logs/import-logs-{job_id}.txt"
    return f"{path.rstrip('/')}/logs/import-logs-{job_id}.txt"


def _start(sim: Simulator, request: SimRequest, job_type: str) -> Reply:
    if request.method != "POST":
        return _wrong_method()
    denied = _authorize(sim, request)
    if denied is not None:
        return denied
    ok, body = request.json
    if not ok or not isinstance(body, dict):
        return _invalid("body", None, "The request body must be a JSON object.")
    bad = _check_data_source(body)
    if bad is not None:
        return bad
    if job_type == "Import" and body.get("operation") not in OPERATIONS:
        return _invalid("operation", body.get("operation"), "operation must be import or reimport.")
    delay, bad = _schedule_delay(sim, body)
    if bad is not None:
        return bad
    job_id = sim.add_egain_job(job_type, sim.lifecycle_for_created("egain"), request_body=body, start_delay=delay)
    job = sim.egain_jobs[job_id]
    job.log_location = _log_location(body, job_id)
    if sim.egain_location_style == "legacy":
        location = f"/knowledge/contentmgr/v4/import/content/{job_id}"
    else:
        location = f"knowledge/contentmgr/v4/import/content/{job_id}/status"
    return Reply(202, (("location", location),))


def _find(sim: Simulator, job_id: str, request: SimRequest, method: str) -> tuple[EgainJob | None, Reply | None]:
    """The job a status or cancel request names, or the reply refusing it (method, auth, ID, unknown)."""
    if request.method != method:
        return None, _wrong_method()
    denied = _authorize(sim, request)
    if denied is not None:
        return None, denied
    if not UUID.fullmatch(job_id):
        return None, _invalid("job_id", job_id, "job_id must be a UUID.")
    job = sim.egain_jobs.get(job_id.upper())
    if job is None:
        return None, _error(404, "404-101", f"Job {job_id} was not found.", [{"key": "job_id", "value": job_id}])
    return job, None


def _view(job: EgainJob, now: float) -> tuple[Phase, str, int]:
    """(phase, status, percentage) without advancing."""
    if job.cancelled:
        return Phase.CANCELLED, "Cancelled", job.cancelled_percent
    lifecycle = job.lifecycle
    pos = job.position(now)
    phase = job.phase(now)
    if phase is Phase.INITIAL:
        status, pct = "Scheduled", 0
    elif phase is Phase.RUNNING:
        status, pct = "In Progress", percent(lifecycle, pos, 0, 100)
    elif phase is Phase.SUCCEEDED:
        status, pct = "Successful", 100
    elif phase is Phase.FAILED:
        status, pct = "Failed", _STOPPED_PERCENT
    else:
        status, pct = "Cancelled", _STOPPED_PERCENT
    return phase, spelling(lifecycle, phase, pos, status), pct


_FINISHED = (Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED)


def _status(sim: Simulator, job_id: str, request: SimRequest) -> Reply:
    job, refusal = _find(sim, job_id, request, "GET")
    if job is None:
        return refusal or _unknown(sim, request)
    now = sim.now()
    job.reads += 1
    phase, status, pct = _view(job, now)
    if phase in _FINISHED:
        job.mark_finished(now, sim.wall(now))
    lifecycle = job.lifecycle
    total = lifecycle.total_rows
    body: dict[str, Any] = {
        "status": status,
        "jobType": job.job_type,
        "progress": {"processed": total * pct // 100, "total": total, "percentage": pct},
        "logFileLocation": job.log_location,
    }
    start = sim.wall(job.started)
    if phase is not Phase.INITIAL:
        body["startTime"] = iso_millis(start)
    ended = iso_millis(job.finished_wall if job.finished_wall is not None else sim.wall(now))
    if phase is Phase.RUNNING:
        body["estimatedCompletion"] = iso_millis(start + lifecycle.duration)
        verb = "Validating" if job.job_type == "Validation" else "Processing"
        body["currentOperation"] = f"{verb} content items"
    elif phase is Phase.SUCCEEDED:
        body["completionTime"] = ended
        body["results"] = {
            sim.egain_results_spelling: total - lifecycle.errors - lifecycle.warnings,
            "warnings": lifecycle.warnings,
            "errors": lifecycle.errors,
        }
    elif phase is Phase.FAILED:
        body["failureTime"] = ended
        body["error"] = lifecycle.reason
        body["retryable"] = lifecycle.retryable
    return json_reply(200, body)


def _cancel(sim: Simulator, job_id: str, request: SimRequest) -> Reply:
    job, refusal = _find(sim, job_id, request, "POST")
    if job is None:
        return refusal or _unknown(sim, request)
    now = sim.now()
    phase, status, pct = _view(job, now)
    if phase in _FINISHED:
        return _error(409, "409-101", f"Job {job.job_id} has already finished ({status}) and cannot be cancelled.")
    job.cancelled = True
    job.cancelled_percent = pct
    job.mark_finished(now, sim.wall(now))
    return Reply(204)
