"""Property tests: no response can make a parser raise anything but ImportJobError; IDs survive intact.

The generators include the inputs that once crashed the lenient readers (numbers too large for a
float, non-decimal digit characters such as ``"²"``); each of those crashes also has a regression
test of its own in ``test_common.py`` and ``test_egain.py``.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_import_jobs.exceptions import ImportJobError, InvalidRequestError
from airflow_import_jobs.models import ImportJob
from airflow_import_jobs.protocol import egain, milvus, zilliz
from airflow_import_jobs.protocol.base import Flow, HttpResponse
from airflow_import_jobs.protocol.egain import EgainProtocol, Token
from airflow_import_jobs.protocol.milvus import MilvusProtocol
from airflow_import_jobs.protocol.zilliz import ZillizCloudProtocol

from .conftest import ALL_SEEDS, drive, drive_raises, envelope_ok, raw

PROPERTY = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

MILVUS_ID = "448761313698322011"
ZILLIZ_ID = "job-0123456789abcdefghijk"
EGAIN_ID = "7a84b875-6f75-4c7b-b137-0632b62db0bd"

# -- strategies -------------------------------------------------------------------------------

text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=30)

#: Values real servers send in these fields, so generated bodies reach the deep parsing paths.
INTERESTING: list[Any] = [
    "",
    " ",
    "0",
    "100",
    "-1",
    "45.5",
    "NaN",
    "n/a",
    "448761313698322011",
    "9007199254740993",
    "job-abc",
    EGAIN_ID,
    "2024-04-01T06:17:55Z",
    "2024-03-01T10:00:00.000Z",
    "2024-04-01T06:17:55+02:00",
    "2024-04-01T06:17:55",
    "1711951800000",
    "Pending",
    "Importing",
    "InProgress",
    "In Progress",
    "Completed",
    "Failed",
    "None",
    "Uncommitted",
    "ImportFailedAndCleaned",
    "Scheduled",
    "Successful",
    "Cancelled",
    "Import",
    "Validation",
    "404-101",
    "403-197",
    "invalid_client",
    "invalid_scope",
]

KEYS: list[str] = [
    "code",
    "data",
    "message",
    "records",
    "tasks",
    "jobId",
    "taskId",
    "collectionName",
    "state",
    "progress",
    "reason",
    "details",
    "fileName",
    "fileSize",
    "importedRows",
    "totalRows",
    "completeTime",
    "createTime",
    "status",
    "jobType",
    "results",
    "successful",
    "succesfull",
    "warnings",
    "errors",
    "processed",
    "total",
    "percentage",
    "startTime",
    "completionTime",
    "failureTime",
    "error",
    "developerMessage",
    "access_token",
    "expires_in",
    "error_description",
]

integers = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**1100), max_value=2**1100),  # beyond float range on purpose
    st.sampled_from([0, 1, 200, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63), 1711951800, 1711951800000]),
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    integers,
    st.floats(allow_nan=True, allow_infinity=True),
    text,
    st.sampled_from(INTERESTING),
)
keys = st.one_of(st.sampled_from(KEYS), text)
json_values = st.recursive(
    leaves,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=6),
    max_leaves=25,
)

#: An envelope-ish object around arbitrary JSON, so the generated bodies are not all rejected at the top.
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "code": st.one_of(st.sampled_from([0, 200, 100, 1800, 2100, 65535, 21119, "0", "404-101"]), json_values),
        "data": json_values,
        "message": st.one_of(st.sampled_from(["", "import job does not exist", "limit"]), json_values),
    },
)

bodies = st.one_of(json_values, envelopes)
statuses = st.one_of(st.just(200), st.sampled_from([202, 204, 400, 401, 403, 404, 408, 409, 429, 500, 503]),
                     st.integers(min_value=100, max_value=599))  # fmt: skip
headers = st.fixed_dictionaries(
    {},
    optional={
        "retry-after": st.one_of(text, st.sampled_from(["3", "0", "Wed, 21 Oct 2015 07:28:00 GMT"])),
        "location": st.one_of(
            text, st.just(f"knowledge/contentmgr/v4/import/content/{EGAIN_ID}/status"), st.uuids().map(str)
        ),
        "content-type": st.sampled_from(["application/json", "text/html", "text/plain"]),
    },
)


def encode(value: Any) -> bytes:
    return json.dumps(value).encode()  # allow_nan: Python's decoder reads NaN/Infinity back


# -- the parsers and what each may return -----------------------------------------------------


def _ack_parser(endpoint: str) -> Callable[[HttpResponse], object]:
    flow = MilvusProtocol().cancel_job(MILVUS_ID) if endpoint == "abort" else MilvusProtocol().commit_job(MILVUS_ID)
    call = next(flow)
    flow.close()
    return call.parse


def _is_job(value: object) -> bool:
    return isinstance(value, ImportJob)


def _is_jobs(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(j, ImportJob) for j in value)


def _is_id(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_none(value: object) -> bool:
    return value is None


def _is_token(value: object) -> bool:
    return isinstance(value, Token) and isinstance(value.access_token, str) and value.expires_in > 0


PARSERS: dict[str, tuple[Callable[[HttpResponse], object], Callable[[object], bool]]] = {
    "milvus.describe": (lambda r: milvus.parse_describe(r, job_id=MILVUS_ID), _is_job),
    "milvus.get_progress": (lambda r: milvus.parse_describe(r, job_id=MILVUS_ID, endpoint="get_progress"), _is_job),
    "milvus.list": (milvus.parse_list, _is_jobs),
    "milvus.create": (milvus.parse_create, _is_id),
    "milvus.abort": (_ack_parser("abort"), _is_none),
    "milvus.commit": (_ack_parser("commit"), _is_none),
    "zilliz.progress": (lambda r: zilliz.parse_progress(r, job_id=ZILLIZ_ID), _is_job),
    "zilliz.list": (zilliz.parse_list, _is_jobs),
    "zilliz.create": (zilliz.parse_create, _is_id),
    "egain.status": (lambda r: egain.parse_status(r, job_id=EGAIN_ID), _is_job),
    "egain.start": (egain.parse_start, _is_id),
    "egain.cancel": (lambda r: egain.parse_cancel(r, job_id=EGAIN_ID), _is_none),
    "egain.token": (egain.parse_token, _is_token),
}


def check_parse(name: str, response: HttpResponse) -> None:
    """The property: a valid result of the right type, or an ImportJobError; nothing else."""
    parse, valid = PARSERS[name]
    error: ImportJobError | None = None
    result: object = None
    try:
        result = parse(response)
    except ImportJobError as caught:
        error = caught
    if error is not None:
        assert isinstance(error.message, str)
        assert error.message
        assert isinstance(error.transient, bool)
        assert error.http_status in (None, response.status)
        return
    assert valid(result), f"{name} returned {result!r}"
    for job in result if isinstance(result, list) else [result]:
        if isinstance(job, ImportJob):
            _check_job(job)


def _check_job(job: ImportJob) -> None:
    assert 0 <= job.progress <= 100
    assert all(f.progress is None or 0 <= f.progress <= 100 for f in job.files)
    for moment in (job.created_at, job.completed_at, *(f.completed_at for f in job.files)):
        assert moment is None or moment.tzinfo is not None
    # A valid model: its XCom form validates back to an equal job.
    again = ImportJob.model_validate(json.loads(json.dumps(job.model_dump(mode="json"))))
    assert again.job_id == job.job_id
    assert again.state is job.state
    assert again.progress == job.progress


# -- (a) any JSON body ------------------------------------------------------------------------


@PROPERTY
@given(body=bodies)
def test_any_json_body_with_status_200(body: Any) -> None:
    response = raw(200, encode(body), {"content-type": "application/json"})
    for name in PARSERS:
        check_parse(name, response)


@PROPERTY
@given(body=bodies, status=statuses, response_headers=headers)
def test_any_json_body_any_status(body: Any, status: int, response_headers: dict[str, str]) -> None:
    response = raw(status, encode(body), response_headers)
    for name in PARSERS:
        check_parse(name, response)


@PROPERTY
@given(body=st.binary(max_size=200), status=statuses, response_headers=headers)
def test_any_bytes(body: bytes, status: int, response_headers: dict[str, str]) -> None:
    response = raw(status, body, response_headers)
    for name in PARSERS:
        check_parse(name, response)


# -- (b) mutations of the recorded seeds ------------------------------------------------------


def retyped(value: Any) -> st.SearchStrategy[Any]:
    """The same information in another JSON type (number as text, text as number, wrapped...)."""
    options: list[Any] = [None, [value], {"value": value}, json.dumps(value), True]
    if isinstance(value, bool):
        options += [int(value), str(value).lower()]
    elif isinstance(value, (int, float)):
        options += [str(value), float(value), -value, str(value) + ".5"]
    elif isinstance(value, str):
        options += [value.upper(), value.lower(), value + " ", len(value)]
        if re.fullmatch(r"-?\d{1,30}", value):
            options.append(int(value))
    return st.sampled_from(options)


def mutated(value: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """``value`` with keys dropped, values replaced by arbitrary JSON, or types changed, at any depth."""
    change = st.one_of(json_values, retyped(value))
    if isinstance(value, dict) and value:
        return st.one_of(_mutated_dict(value, depth), change) if depth else _mutated_dict(value, depth)
    if isinstance(value, list) and value:
        items = st.tuples(*(mutated(v, depth + 1) for v in value)).map(list)
        return st.one_of(items, st.just([]), items.map(lambda xs: xs + xs), change)
    return st.one_of(st.just(value), change)


def _mutated_dict(value: dict[str, Any], depth: int) -> st.SearchStrategy[dict[str, Any]]:
    fate = st.sampled_from(["keep", "keep", "keep", "drop", "change"])

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in value.items():
            what = draw(fate)
            if what == "keep":
                out[key] = item
            elif what == "change":
                out[key] = draw(mutated(item, depth + 1))
        if draw(st.booleans()):
            out.update(draw(st.dictionaries(keys, json_values, max_size=2)))
        return out

    return build()


SEED_PARSERS: list[tuple[str, str]] = [
    ("milvus-describe", "milvus.describe"),
    ("milvus-describe", "milvus.get_progress"),
    ("milvus-list", "milvus.list"),
    ("pymilvus-list", "milvus.list"),
    ("milvus-create", "milvus.create"),
    ("milvus-create", "milvus.abort"),
    ("zilliz-progress", "zilliz.progress"),
    ("zilliz-list", "zilliz.list"),
    ("zilliz-v1-list", "zilliz.list"),
    ("milvus-create", "zilliz.create"),
    ("egain-in-progress", "egain.status"),
    ("egain-validation-done", "egain.status"),
    ("egain-failed", "egain.status"),
    ("egain-token", "egain.token"),
]


@pytest.mark.parametrize(("seed_name", "name"), SEED_PARSERS, ids=[f"{s}->{p}" for s, p in SEED_PARSERS])
def test_seeds_parse_as_recorded(seed_name: str, name: str) -> None:
    parse, valid = PARSERS[name]
    assert valid(parse(raw(200, encode(ALL_SEEDS[seed_name]))))


@pytest.mark.parametrize("seed_name", list(ALL_SEEDS))
@PROPERTY
@given(data=st.data())
def test_mutated_seeds(seed_name: str, data: st.DataObject) -> None:
    """Every mutation of every seed goes to every parser (its own and the others')."""
    body = data.draw(mutated(ALL_SEEDS[seed_name]), label="body")
    status = data.draw(st.one_of(st.just(200), statuses), label="status")
    response = raw(status, encode(body), {"content-type": "application/json"})
    for name in PARSERS:
        check_parse(name, response)


# -- (c) job IDs survive every hop ------------------------------------------------------------

int64_ids = st.integers(min_value=0, max_value=2**63 - 1).map(str)
zilliz_ids = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=40).map(lambda s: "job-" + s)
uuid_ids = st.uuids().map(str)


def _through_xcom(job: ImportJob) -> ImportJob:
    return ImportJob.model_validate(json.loads(json.dumps(job.model_dump(mode="json"))))


def _first_request_json(flow: Flow[Any]) -> Any:
    call = next(flow)
    flow.close()
    return call.request


@PROPERTY
@given(job_id=int64_ids, as_number=st.booleans())
def test_milvus_ids_round_trip(job_id: str, as_number: bool) -> None:
    wire_id: Any = int(job_id) if as_number else job_id
    assert milvus.parse_create(raw(200, encode(envelope_ok({"jobId": wire_id})))) == job_id
    [listed] = milvus.parse_list(raw(200, encode(envelope_ok({"records": [{"jobId": wire_id, "state": "Pending"}]}))))
    described = milvus.parse_describe(
        raw(200, encode(envelope_ok({"jobId": wire_id, "state": "Importing"}))), job_id=job_id
    )
    for job in (listed, described):
        assert job.job_id == job_id
        restored = _through_xcom(job)
        assert restored.job_id == job_id
        request = _first_request_json(MilvusProtocol().get_job(restored.job_id))
        assert request.json == {"jobId": job_id}
        assert f'"jobId": "{job_id}"' in json.dumps(request.json)


@PROPERTY
@given(job_id=zilliz_ids)
def test_zilliz_ids_round_trip(job_id: str) -> None:
    assert zilliz.parse_create(raw(200, encode(envelope_ok({"jobId": job_id})))) == job_id
    [listed] = zilliz.parse_list(raw(200, encode(envelope_ok({"records": [{"jobId": job_id, "state": "Pending"}]}))))
    progress = zilliz.parse_progress(raw(200, encode(envelope_ok({"jobId": job_id, "state": "Pending"}))), job_id="x")
    for job in (listed, progress):
        restored = _through_xcom(job)
        assert restored.job_id == job_id
        request = _first_request_json(ZillizCloudProtocol(cluster_id="in01-x").get_job(restored.job_id))
        assert request.json == {"clusterId": "in01-x", "jobId": job_id}


@PROPERTY
@given(job_id=uuid_ids, upper=st.booleans())
def test_egain_ids_round_trip(job_id: str, upper: bool) -> None:
    sent_id = job_id.upper() if upper else job_id  # kept exactly as the server spelled it
    location = f"knowledge/contentmgr/v4/import/content/{sent_id}/status"
    started = egain.parse_start(raw(202, b"", {"location": location}))
    assert started == sent_id
    job = egain.parse_status(raw(200, encode({"status": "In Progress"})), job_id=started)
    restored = _through_xcom(job)
    assert restored.job_id == sent_id
    request = _first_request_json(EgainProtocol().get_job(restored.job_id))
    assert request.url == f"/knowledge/contentmgr/v4/import/content/{sent_id}/status"


# -- (d) hostile job IDs ----------------------------------------------------------------------

HOSTILE: list[object] = [
    "",
    " ",
    "\t",
    "1.5",
    "1e5",
    1,
    1.5,
    448761313698322011,
    None,
    "../x",
    "a/b",
    "?x",
    "#x",
    "%2F",
    "1%2F2",
    "1\n",
    "\n1",
    "1\r\nX-Injected: yes",
    "１２３",  # noqa: RUF001 - full-width digits
    "٤٤٨",
    "ジョブ",
    "x" * 10_000,
    "1" * 10_000,
    f"{EGAIN_ID}/../{EGAIN_ID}",
    f"{EGAIN_ID}?x=1",
    f"{EGAIN_ID}#x",
    f"{EGAIN_ID}\n",
    "job-abc/../def",
]

Op = Callable[[Any], Flow[Any]]
ID_OPERATIONS: dict[str, Op] = {
    "milvus.get_job": lambda i: MilvusProtocol().get_job(i),
    "milvus.cancel_job": lambda i: MilvusProtocol().cancel_job(i),
    "milvus.commit_job": lambda i: MilvusProtocol().commit_job(i),
    "egain.get_job": lambda i: EgainProtocol().get_job(i),
    "egain.cancel_job": lambda i: EgainProtocol().cancel_job(i),
    "zilliz.get_job": lambda i: ZillizCloudProtocol(cluster_id="in01-x").get_job(i),
}

UUID_TEXT = r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"

#: What a request may look like when an ID is accepted: the URL path and the jobId in the body.
URL_SHAPES: dict[str, re.Pattern[str]] = {
    "milvus": re.compile(r"/v2/vectordb/jobs/import/(describe|abort|commit)"),
    "egain": re.compile(r"/knowledge/contentmgr/v4/import/content/" + UUID_TEXT + r"/(status|cancel)"),
    "zilliz": re.compile(r"/v2/vectordb/jobs/import/getProgress"),
}  # fmt: skip
BODY_IDS: dict[str, re.Pattern[str]] = {
    "milvus": re.compile(r"[0-9]{1,19}"),
    "zilliz": re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}"),
}


#: Alphanumeric, so a well-formed Zilliz Cloud ID (still refused by Milvus and eGain).
ZILLIZ_SHAPED = {"1e5"}


@pytest.mark.parametrize(
    ("op", "job_id"),
    [
        pytest.param(op, job_id, id=f"{op}-{repr(job_id)[:30]}")
        for op in ID_OPERATIONS
        for job_id in HOSTILE
        if not (op.startswith("zilliz") and job_id in ZILLIZ_SHAPED)
    ],
)
def test_hostile_ids_refused_before_any_request(op: str, job_id: object) -> None:
    _, sent = drive_raises(ID_OPERATIONS[op](job_id), [], InvalidRequestError)
    assert sent == []


def check_accepted_request(op: str, job_id: object) -> None:
    """Either refused before any request, or the request it builds stays within the safe shapes."""
    flow = ID_OPERATIONS[op](job_id)
    try:
        call = next(flow)
    except InvalidRequestError:
        return
    flow.close()
    api = op.split(".")[0]
    url = call.request.url
    assert URL_SHAPES[api].fullmatch(url), url
    assert all(ch in string.ascii_letters + string.digits + "/-_" for ch in url)
    if api in BODY_IDS:
        assert BODY_IDS[api].fullmatch(call.request.json["jobId"])
    assert isinstance(job_id, str)


hostile_ids = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=string.hexdigits + "-/.%?#\n ", max_size=40),
    uuid_ids.flatmap(lambda u: st.sampled_from([u, u.upper(), u + "/x", "/" + u, u[:-1], u.replace("-", "")])),
    st.integers().map(str),
    st.integers(),
    st.floats(),
    st.none(),
    st.sampled_from(HOSTILE),
)


@PROPERTY
@given(job_id=hostile_ids)
def test_accepted_ids_build_safe_requests(job_id: object) -> None:
    for op in ID_OPERATIONS:
        check_accepted_request(op, job_id)


def test_drive_with_accepted_hostile_looking_id() -> None:
    """An upper-case UUID is accepted and kept exactly; nothing else about it reaches the URL."""
    upper = EGAIN_ID.upper()
    job, sent = drive(EgainProtocol().get_job(upper), [raw(200, encode({"status": "Failed"}))])
    assert job.job_id == upper
    assert sent[0].url == f"/knowledge/contentmgr/v4/import/content/{upper}/status"
