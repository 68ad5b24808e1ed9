"""Hooks under injected faults, for each API, through the sync client and the async one.

Every case asserts the outcome and the request count: a burst shorter than the retry budget is
retried through (exactly one request per attempt), a persistent fault gives up after exactly
``1 + max_retries`` requests with one clear message, and a permanent one ends after one request.
"""

from __future__ import annotations

import email.utils
from typing import Any

import pytest

from airflow_import_jobs.client.engine import Engine, Send, Sleep
from airflow_import_jobs.client.policy import RetryPolicy
from airflow_import_jobs.exceptions import (
    AuthenticationError,
    ImportJobError,
    InvalidRequestError,
    InvalidResponseError,
    JobNotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    TransientServiceError,
)
from airflow_import_jobs.models import JobState
from airflow_import_jobs.protocol.base import Call, HttpRequest, HttpResponse
from airflow_import_jobs.protocol.milvus import parse_describe
from airflow_import_jobs.testing import Fault, Lifecycle, SimulatorServer
from tests.conftest import set_connection, simulator_connections
from tests.reliability.support import (
    APIS,
    CONN_IDS,
    DRIVERS,
    FAST_RETRY,
    PAST_HTTP_DATE,
    STATUS_ENDPOINT,
    Api,
    Driver,
    add_job,
    fault_id,
    hook_for,
)

BACKEND_COUNTER = {"milvus": "milvus", "zilliz": "zilliz", "egain": "egain"}

#: Transient faults every API must retry through: (fault, error class on giving up, message fragment).
TRANSIENT: list[tuple[Fault, type[ImportJobError], str]] = [
    (Fault(kind="status", status=429, retry_after="0"), RateLimitedError, "HTTP 429"),
    (Fault(kind="status", status=429, retry_after=PAST_HTTP_DATE), RateLimitedError, "HTTP 429"),
    (Fault(kind="status", status=429), RateLimitedError, "HTTP 429"),
    (Fault(kind="status", status=503), TransientServiceError, "HTTP 503"),
    (Fault(kind="status", status=502), TransientServiceError, "HTTP 502"),
    (Fault(kind="status", status=504), TransientServiceError, "HTTP 504"),
    (Fault(kind="html", status=502), TransientServiceError, "HTML page"),
    (Fault(kind="html", status=503), TransientServiceError, "HTML page"),
    (Fault(kind="drop"), TransientServiceError, "dropped the connection mid-response"),
    (Fault(kind="truncated"), InvalidResponseError, "not JSON"),
    (Fault(kind="non_json"), InvalidResponseError, "not JSON"),
    (Fault(kind="wrong_shape"), InvalidResponseError, "where an object was expected"),
    (Fault(kind="empty"), InvalidResponseError, "empty body"),
]

#: API-specific transient faults (HTTP 200 bodies with a transient error code).
TRANSIENT_BY_API: list[tuple[Api, Fault, type[ImportJobError], str]] = [
    ("milvus", Fault(kind="error200"), TransientServiceError, "code 65535"),
    (
        "milvus",
        Fault(kind="error200", code=2100, message="number of jobs has reached the limit, please try again later"),
        TransientServiceError,
        "job limit",
    ),
    ("milvus", Fault(kind="status", status=408, code=10001, message="request timeout"), TransientServiceError, "408"),
    ("zilliz", Fault(kind="status", status=500, code=65535, message="internal"), TransientServiceError, "HTTP 500"),
    ("egain", Fault(kind="status", status=500, code="500-100", message="boom"), TransientServiceError, "500-100"),
    ("egain", Fault(kind="status", status=429, code="429-001", retry_after="0"), RateLimitedError, "429-001"),
]

#: Permanent answers: one request, one clear error, no retry.
PERMANENT: list[tuple[Api, Fault, type[ImportJobError], str]] = [
    *((api, Fault(kind="oversized"), InvalidResponseError, "larger than 16777216 bytes") for api in APIS),
    ("milvus", Fault(kind="error200", code=1100, message="invalid parameter"), InvalidRequestError, "code 1100"),
    ("milvus", Fault(kind="status", status=401, code=1800, message="auth"), AuthenticationError, "login/password"),
    ("milvus", Fault(kind="status", status=403, code=65535, message="denied"), PermissionDeniedError, "HTTP 403"),
    ("zilliz", Fault(kind="error200", code=21119, message="The apikey is illegal."), AuthenticationError, "21119"),
    ("zilliz", Fault(kind="error200", code=1100, message="invalid parameter"), InvalidRequestError, "code 1100"),
    ("zilliz", Fault(kind="status", status=403, code=80002, message="denied"), AuthenticationError, "API key"),
    ("egain", Fault(kind="status", status=403, code="403-197", message="scope"), PermissionDeniedError, "scope"),
    ("egain", Fault(kind="status", status=404, code="404-101", message="nope"), JobNotFoundError, "404-101"),
    ("egain", Fault(kind="status", status=400, code="400-152", message="bad id"), InvalidRequestError, "400-152"),
]


def _counter(api: Api) -> str:
    return f"{BACKEND_COUNTER[api]}.{STATUS_ENDPOINT[api]}"


def _all_transient() -> list[Any]:
    cases = [
        pytest.param(api, fault, cls, text, id=f"{api}-{fault_id(fault)}")
        for api in APIS
        for fault, cls, text in TRANSIENT
    ]
    cases += [pytest.param(api, f, cls, text, id=f"{api}-{fault_id(f)}") for api, f, cls, text in TRANSIENT_BY_API]
    return cases


@pytest.fixture(params=DRIVERS, ids=lambda d: d.name)
def driver(request: pytest.FixtureRequest) -> Driver:
    driver: Driver = request.param
    return driver


@pytest.mark.parametrize(("api", "fault", "error_class", "text"), _all_transient())
def test_transient_burst_is_retried_through(
    sim_server: SimulatorServer,
    driver: Driver,
    api: Api,
    fault: Fault,
    error_class: type[ImportJobError],
    text: str,
) -> None:
    sim = sim_server.sim
    job_id = add_job(sim_server, api, Lifecycle(steps=1))
    sim.inject(api, fault, count=2, endpoint=STATUS_ENDPOINT[api])
    job = driver(hook_for(api), "get_job", job_id)
    assert job.job_id == job_id
    assert job.state is JobState.COMPLETED
    assert sim.counters()[_counter(api)] == 3  # two faulted attempts, one good: nothing more
    assert len(sim.faults) == 0


@pytest.mark.parametrize(("api", "fault", "error_class", "text"), _all_transient())
def test_persistent_transient_fault_gives_up_after_the_retry_budget(
    sim_server: SimulatorServer,
    driver: Driver,
    api: Api,
    fault: Fault,
    error_class: type[ImportJobError],
    text: str,
) -> None:
    sim = sim_server.sim
    job_id = add_job(sim_server, api)
    sim.inject(api, fault, count=50, endpoint=STATUS_ENDPOINT[api])
    with pytest.raises(error_class) as caught:
        driver(hook_for(api), "get_job", job_id)
    error = caught.value
    assert error.transient
    assert text in str(error)
    assert str(error).startswith(f"Connection {CONN_IDS[api]!r}: ")
    assert "\n" not in str(error)  # one line
    assert sim.counters()[_counter(api)] == 1 + FAST_RETRY.max_retries  # bounded: no hot loop
    assert len(sim.faults) == 50 - (1 + FAST_RETRY.max_retries)


@pytest.mark.parametrize(
    ("api", "fault", "error_class", "text"),
    [pytest.param(api, f, cls, text, id=f"{api}-{fault_id(f)}") for api, f, cls, text in PERMANENT],
)
def test_permanent_answer_ends_after_one_request(
    sim_server: SimulatorServer,
    driver: Driver,
    api: Api,
    fault: Fault,
    error_class: type[ImportJobError],
    text: str,
) -> None:
    sim = sim_server.sim
    job_id = add_job(sim_server, api)
    sim.inject(api, fault, count=50, endpoint=STATUS_ENDPOINT[api])
    with pytest.raises(error_class) as caught:
        driver(hook_for(api), "get_job", job_id)
    assert not caught.value.transient
    assert text in str(caught.value)
    assert "\n" not in str(caught.value)
    assert sim.counters()[_counter(api)] == 1


def test_egain_http_200_error_body_is_an_error_not_a_job(sim_server: SimulatorServer) -> None:
    sim = sim_server.sim
    job_id = add_job(sim_server, "egain")
    sim.inject("egain", Fault(kind="error200", code="500-100", message="unexpected error"), count=50)
    with pytest.raises(TransientServiceError, match="500-100"):
        hook_for("egain").get_job(job_id)
    assert sim.counters()["egain.status"] == 1 + FAST_RETRY.max_retries


# -- responses slower than the read timeout ---------------------------------------------------

SLOW_TIMEOUT = 0.3
SLOW = Fault(kind="slow", delay=SLOW_TIMEOUT * 6)


@pytest.fixture
def short_timeout(sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> SimulatorServer:
    """The simulator connections with a read timeout of 0.3 s."""
    for conn_id, fields in simulator_connections(sim_server).items():
        set_connection(monkeypatch, conn_id, **{**fields, "extra": {**fields["extra"], "timeout": SLOW_TIMEOUT}})
    return sim_server


@pytest.mark.parametrize("api", APIS)
def test_response_slower_than_the_timeout_is_retried(short_timeout: SimulatorServer, driver: Driver, api: Api) -> None:
    sim = short_timeout.sim
    job_id = add_job(short_timeout, api, Lifecycle(steps=1))
    sim.inject(api, SLOW, count=1, endpoint=STATUS_ENDPOINT[api])
    job = driver(hook_for(api, retry=RetryPolicy(max_retries=1, backoff=0.001)), "get_job", job_id)
    assert job.job_id == job_id
    assert sim.counters()[_counter(api)] == 2


@pytest.mark.parametrize("api", APIS)
def test_responses_always_slower_than_the_timeout_give_up_clearly(
    short_timeout: SimulatorServer, driver: Driver, api: Api
) -> None:
    sim = short_timeout.sim
    job_id = add_job(short_timeout, api)
    sim.inject(api, SLOW, count=2, endpoint=STATUS_ENDPOINT[api])
    with pytest.raises(TransientServiceError, match=r"sent no response within the 0\.3 s timeout"):
        driver(hook_for(api, retry=RetryPolicy(max_retries=1, backoff=0.001)), "get_job", job_id)
    assert sim.counters()[_counter(api)] == 2


# -- the eGain token endpoint --------------------------------------------------------------------

TOKEN_TRANSIENT: list[tuple[Fault, type[ImportJobError], str]] = [
    (Fault(kind="status", status=429, retry_after="0"), RateLimitedError, "HTTP 429"),
    (Fault(kind="status", status=429, retry_after=PAST_HTTP_DATE), RateLimitedError, "HTTP 429"),
    (Fault(kind="status", status=429), RateLimitedError, "HTTP 429"),
    (Fault(kind="status", status=503), TransientServiceError, "HTTP 503"),
    (Fault(kind="status", status=502), TransientServiceError, "HTTP 502"),
    (Fault(kind="status", status=504), TransientServiceError, "HTTP 504"),
    (Fault(kind="html", status=502), TransientServiceError, "HTML page"),
    (Fault(kind="drop"), TransientServiceError, "dropped the connection mid-response"),
    (Fault(kind="truncated"), InvalidResponseError, "not JSON"),
    (Fault(kind="non_json"), InvalidResponseError, "not JSON"),
    (Fault(kind="empty"), InvalidResponseError, "empty body"),
    (Fault(kind="error200"), InvalidResponseError, "without an access_token"),
]


@pytest.mark.parametrize(
    ("fault", "error_class", "text"), TOKEN_TRANSIENT, ids=[fault_id(f) for f, _, _ in TOKEN_TRANSIENT]
)
def test_token_endpoint_burst_is_retried_through(
    sim_server: SimulatorServer, driver: Driver, fault: Fault, error_class: type[ImportJobError], text: str
) -> None:
    sim = sim_server.sim
    job_id = add_job(sim_server, "egain", Lifecycle(steps=1))
    sim.inject("egain_token", fault, count=2)
    assert driver(hook_for("egain"), "get_job", job_id).state is JobState.COMPLETED
    counters = sim.counters()
    assert counters["egain.token"] == 3
    assert counters["egain.status"] == 1


@pytest.mark.parametrize(
    ("fault", "error_class", "text"), TOKEN_TRANSIENT, ids=[fault_id(f) for f, _, _ in TOKEN_TRANSIENT]
)
def test_token_endpoint_failing_for_good_gives_up_before_any_api_call(
    sim_server: SimulatorServer, driver: Driver, fault: Fault, error_class: type[ImportJobError], text: str
) -> None:
    sim = sim_server.sim
    job_id = add_job(sim_server, "egain")
    sim.inject("egain_token", fault, count=50)
    with pytest.raises(error_class) as caught:
        driver(hook_for("egain"), "get_job", job_id)
    assert text in str(caught.value)
    counters = sim.counters()
    assert counters["egain.token"] == 1 + FAST_RETRY.max_retries
    assert "egain.status" not in counters  # no API call without a token


@pytest.mark.parametrize(
    ("fault", "error_class", "text"),
    [
        (Fault(kind="status", status=401, code="invalid_client", message="bad"), AuthenticationError, "client ID"),
        (Fault(kind="status", status=400, code="invalid_scope", message="scope"), PermissionDeniedError, "scope"),
        (Fault(kind="oversized"), InvalidResponseError, "larger than 16777216 bytes"),
    ],
    ids=["invalid_client", "invalid_scope", "oversized"],
)
def test_token_endpoint_refusal_ends_after_one_request(
    sim_server: SimulatorServer, driver: Driver, fault: Fault, error_class: type[ImportJobError], text: str
) -> None:
    sim = sim_server.sim
    job_id = add_job(sim_server, "egain")
    sim.inject("egain_token", fault, count=50)
    with pytest.raises(error_class, match=text):
        driver(hook_for("egain"), "get_job", job_id)
    assert sim.counters() == {"egain.token": 1, "total": 1}


def test_token_endpoint_wrong_shape_is_an_invalid_response(sim_server: SimulatorServer) -> None:
    sim = sim_server.sim
    job_id = add_job(sim_server, "egain")
    sim.inject("egain_token", Fault(kind="wrong_shape"), count=50)
    with pytest.raises(InvalidResponseError, match="access_token"):
        hook_for("egain").get_job(job_id)
    counters = sim.counters()
    assert counters["egain.token"] == 1 + FAST_RETRY.max_retries
    assert "egain.status" not in counters


def test_token_endpoint_wrong_shape_stays_bounded(sim_server: SimulatorServer) -> None:
    """A token endpoint that sends ``access_token`` as a number: one clear error, and bounded requests."""
    sim = sim_server.sim
    job_id = add_job(sim_server, "egain")
    sim.inject("egain_token", Fault(kind="wrong_shape"), count=50)
    with pytest.raises(ImportJobError, match="eGain"):
        hook_for("egain").get_job(job_id)
    counters = sim.counters()
    assert counters["egain.token"] <= 1 + FAST_RETRY.max_retries
    assert counters["total"] <= 2 * (1 + FAST_RETRY.max_retries)


def test_token_expiring_between_calls_is_renewed_once(sim_server: SimulatorServer, driver: Driver) -> None:
    sim = sim_server.sim
    job_id = add_job(sim_server, "egain", Lifecycle(steps=3))
    hook = hook_for("egain")
    driver(hook, "get_job", job_id)
    sim.expire_egain_tokens()
    assert driver(hook, "get_job", job_id).job_id == job_id
    assert sim.counters() == {"egain.token": 2, "egain.status": 3, "total": 5}


def test_token_expiring_while_the_token_endpoint_stumbles(sim_server: SimulatorServer, driver: Driver) -> None:
    sim = sim_server.sim
    job_id = add_job(sim_server, "egain", Lifecycle(steps=3))
    hook = hook_for("egain")
    driver(hook, "get_job", job_id)
    sim.expire_egain_tokens()
    sim.inject("egain_token", Fault(kind="status", status=503), count=2)
    assert driver(hook, "get_job", job_id).job_id == job_id
    # 1 + (1 refused + 1 resent) status calls; 1 + (2 failed + 1 good) token calls.
    assert sim.counters() == {"egain.token": 4, "egain.status": 3, "total": 7}


def test_token_expiring_and_renewal_refused_ends_clearly(sim_server: SimulatorServer, driver: Driver) -> None:
    sim = sim_server.sim
    job_id = add_job(sim_server, "egain", Lifecycle(steps=3))
    hook = hook_for("egain")
    driver(hook, "get_job", job_id)
    sim.expire_egain_tokens()
    sim.inject("egain_token", Fault(kind="status", status=401, code="invalid_client", message="revoked"), count=50)
    with pytest.raises(AuthenticationError, match="token endpoint refused"):
        driver(hook, "get_job", job_id)
    assert sim.counters() == {"egain.token": 2, "egain.status": 2, "total": 4}


def test_api_refusing_every_token_is_renewed_only_once(sim_server: SimulatorServer, driver: Driver) -> None:
    sim = sim_server.sim
    job_id = add_job(sim_server, "egain")
    sim.inject("egain", Fault(kind="status", status=401, code="401-101", message="expired"), count=50)
    with pytest.raises(AuthenticationError, match="401-101"):
        driver(hook_for("egain"), "get_job", job_id)
    assert sim.counters() == {"egain.token": 2, "egain.status": 2, "total": 4}


# -- job integrity: starts are never sent twice ------------------------------------------------

START_ENDPOINT: dict[Api, str] = {"milvus": "create", "zilliz": "create", "egain": "content"}
START_REQUEST: dict[Api, dict[str, Any]] = {
    "milvus": {"collectionName": "docs", "files": [["a.parquet"]]},
    "zilliz": {"collectionName": "medium_articles", "objectUrls": [["s3://bucket/a.parquet"]]},
    "egain": {
        "dataSource": {
            "type": "AWS S3 bucket",
            "path": "s3://bucket/kb",
            "region": "us-east-1",
            "credentials": {"accessKeyId": "AKIA-TEST", "secretAccessKey": "not-a-real-secret"},
        }
    },
}


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("fault", "processed"),
    [
        (Fault(kind="drop"), True),
        (Fault(kind="truncated"), True),
        (Fault(kind="status", status=503), False),
        (Fault(kind="status", status=429, retry_after="0"), False),
        (Fault(kind="html", status=502), False),
    ],
    ids=lambda v: fault_id(v) if isinstance(v, Fault) else ("processed" if v else "refused"),
)
def test_start_is_never_sent_twice(
    sim_server: SimulatorServer, driver: Driver, api: Api, fault: Fault, processed: bool
) -> None:
    sim = sim_server.sim
    sim.inject(api, fault, count=50, endpoint=START_ENDPOINT[api])
    with pytest.raises(TransientServiceError) as caught:
        driver(hook_for(api), "start_job", START_REQUEST[api])
    assert caught.value.transient
    assert sim.counters()[f"{api}.{START_ENDPOINT[api]}"] == 1  # a start that may have landed is not re-sent
    assert len(sim.jobs(api)) == (1 if processed else 0)  # never a duplicate job


def test_zilliz_paging_survives_a_fault_mid_walk_without_losing_or_repeating_jobs(
    sim_server: SimulatorServer, driver: Driver
) -> None:
    sim = sim_server.sim
    ids = {sim.add_zilliz_job() for _ in range(230)}
    sim.inject("zilliz", Fault(kind="slow", delay=0.0), count=1, endpoint="list")  # page 1 passes
    sim.inject("zilliz", Fault(kind="status", status=503), count=2, endpoint="list")  # page 2 fails twice
    jobs = driver(hook_for("zilliz"), "list_jobs")
    assert sorted(j.job_id for j in jobs) == sorted(ids)
    assert sim.counters()["zilliz.list"] == 5
    pages = [r.body["currentPage"] for r in sim.requests if r.endpoint == "list"]
    assert pages == [1, 2, 2, 2, 3]


def test_milvus_list_survives_a_burst(sim_server: SimulatorServer, driver: Driver) -> None:
    sim = sim_server.sim
    ids = {sim.add_milvus_job() for _ in range(5)}
    sim.inject("milvus", Fault(kind="html", status=504), count=3, endpoint="list")
    assert {j.job_id for j in driver(hook_for("milvus"), "list_jobs")} == ids
    assert sim.counters()["milvus.list"] == 4


# -- Retry-After in the future: the arithmetic, without waiting it out ---------------------------

RECEIVED_AT = 1_900_000_000.0
RATE_LIMITED_BODY = b'{"code": 429, "message": "slow down"}'


def _first_pause_after(headers: dict[str, str], retry: RetryPolicy = FAST_RETRY) -> float:
    """Drive the engine by hand: answer its first Send with a 429 and return the Sleep it asks for."""
    engine = Engine(api="Milvus", label="test", auth=None, retry=retry)
    request = HttpRequest(method="POST", url="/v2/vectordb/jobs/import/describe", endpoint="describe")
    run = engine.call(Call(request, lambda response: parse_describe(response, job_id="1")))
    assert isinstance(next(run), Send)
    action = run.send(HttpResponse(429, headers, RATE_LIMITED_BODY, received_at=RECEIVED_AT))
    assert isinstance(action, Sleep)
    return action.seconds


@pytest.mark.parametrize(
    ("retry_after", "pause"),
    [
        ("7", 7.0),
        (email.utils.formatdate(RECEIVED_AT + 120, usegmt=True), 120.0),
        (email.utils.formatdate(RECEIVED_AT - 120, usegmt=True), 0.0),
        ("86400", 300.0),  # capped by retry_after_max: a broken server cannot park a task for a day
        (email.utils.formatdate(RECEIVED_AT + 10 * 86400, usegmt=True), 300.0),
    ],
    ids=["seconds", "future-date", "past-date", "huge-seconds", "far-date"],
)
def test_hook_retry_honours_a_future_retry_after(retry_after: str, pause: float) -> None:
    assert _first_pause_after({"retry-after": retry_after}) == pause


def test_hook_retry_without_retry_after_backs_off_exponentially() -> None:
    policy = RetryPolicy(max_retries=3, backoff=2.0)
    first = _first_pause_after({}, policy)
    assert 1.0 <= first <= 2.0
    garbled = _first_pause_after({"retry-after": "soon, maybe"}, policy)
    assert 1.0 <= garbled <= 2.0  # unreadable Retry-After: the policy's own backoff
