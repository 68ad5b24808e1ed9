"""Shared pieces: Retry-After, JSON decoding, lenient value readers, state tables, retry/rate policy."""

from __future__ import annotations

import calendar
import itertools
import logging
import math
import pickle
import re
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_import_jobs.client import policy
from airflow_import_jobs.client.engine import Engine, Send
from airflow_import_jobs.client.policy import RateLimiter, RetryPolicy, limiter_for
from airflow_import_jobs.exceptions import (
    AuthenticationError,
    ImportJobError,
    InvalidRequestError,
    InvalidResponseError,
    JobNotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    TransientServiceError,
    UnsupportedOperationError,
)
from airflow_import_jobs.models import JobState
from airflow_import_jobs.protocol import base, states, values
from airflow_import_jobs.protocol.base import EndpointMissingError, HttpRequest, HttpResponse
from airflow_import_jobs.protocol.milvus import MilvusProtocol

from .conftest import drive, envelope_ok, raw, reply

UTC = timezone.utc
P, R, C, F, X, U = (
    JobState.PENDING,
    JobState.RUNNING,
    JobState.COMPLETED,
    JobState.FAILED,
    JobState.CANCELLED,
    JobState.UNKNOWN,
)

# -- 1. Retry-After ---------------------------------------------------------------------------

#: 2015-10-21 07:28:00 UTC, the RFC 9110 example date.
DATE_EPOCH = float(calendar.timegm((2015, 10, 21, 7, 28, 0, 0, 0, 0)))

RETRY_AFTER_CASES: list[tuple[str, dict[str, str], float, float | None]] = [
    # (id, headers, received_at, expected seconds)
    ("delta-3", {"Retry-After": "3"}, 0.0, 3.0),
    ("delta-0", {"Retry-After": "0"}, 0.0, 0.0),
    ("delta-padded", {"Retry-After": " 5 "}, 0.0, 5.0),
    ("delta-fraction", {"Retry-After": "1.5"}, 0.0, 1.5),
    ("delta-negative-floored", {"Retry-After": "-4"}, 0.0, 0.0),
    ("http-date-30s-ahead", {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, DATE_EPOCH - 30, 30.0),
    ("http-date-rfc850", {"Retry-After": "Wednesday, 21-Oct-15 07:28:00 GMT"}, DATE_EPOCH - 30, 30.0),
    ("http-date-in-the-past", {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, DATE_EPOCH + 600, 0.0),
    ("http-date-exactly-now", {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, DATE_EPOCH, 0.0),
    ("garbage", {"Retry-After": "soon"}, 0.0, None),
    ("empty", {"Retry-After": ""}, 0.0, None),
    ("date-out-of-range", {"Retry-After": "Wed, 21 Oct 99999 07:28:00 GMT"}, 0.0, None),
    ("absent", {}, 0.0, None),
]


@pytest.mark.parametrize(
    ("headers", "received_at", "expected"), [pytest.param(*r[1:], id=r[0]) for r in RETRY_AFTER_CASES]
)
def test_retry_after_seconds(headers: dict[str, str], received_at: float, expected: float | None) -> None:
    assert base.retry_after_seconds(raw(429, b"", headers, received_at=received_at)) == expected


@pytest.mark.parametrize("value", ["nan", "NaN", "-inf"])
def test_retry_after_never_nan_or_negative(value: str) -> None:
    seconds = base.retry_after_seconds(raw(429, b"", {"Retry-After": value}))
    assert seconds is None or (not math.isnan(seconds) and seconds >= 0)


@pytest.fixture
def east_coast_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The host's local time zone is not UTC (a worker in New York)."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("east_coast_clock")
def test_retry_after_imf_date_independent_of_local_zone() -> None:
    response = raw(429, b"", {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, received_at=DATE_EPOCH - 30)
    assert base.retry_after_seconds(response) == 30.0


@pytest.mark.usefixtures("east_coast_clock")
def test_retry_after_asctime_date_is_gmt() -> None:
    response = raw(429, b"", {"Retry-After": "Wed Oct 21 07:28:00 2015"}, received_at=DATE_EPOCH - 30)
    assert base.retry_after_seconds(response) == 30.0


# -- 2. decode_json ---------------------------------------------------------------------------

HTML_PAGE = b"<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>"

UNREADABLE: list[tuple[str, HttpResponse, type[ImportJobError], str]] = [
    # (id, response, class, what the message must say came instead)
    ("html-proxy-page-200", raw(200, HTML_PAGE, {"content-type": "text/html"}), InvalidResponseError, "HTML page"),
    ("html-without-content-type", raw(200, b"  <!DOCTYPE html><p>hi</p>"), InvalidResponseError, "HTML page"),
    ("empty-body-200", raw(200, b""), InvalidResponseError, "empty body"),
    ("truncated-json-200", raw(200, b'{"code": 0, "data": {"jobId": "44876'), InvalidResponseError, "not JSON"),
    ("not-utf8-200", raw(200, b"\xff\xfe\xfd"), InvalidResponseError, "not JSON"),
    ("plain-text-200", raw(200, b"OK"), InvalidResponseError, "not JSON"),
    ("html-proxy-page-502", raw(502, HTML_PAGE, {"content-type": "text/html"}), TransientServiceError, "HTML page"),
    ("empty-body-503", raw(503, b""), TransientServiceError, "empty body"),
]


@pytest.mark.parametrize(("response", "cls", "said"), [pytest.param(*r[1:], id=r[0]) for r in UNREADABLE])
def test_decode_json_unreadable(response: HttpResponse, cls: type[ImportJobError], said: str) -> None:
    with pytest.raises(ImportJobError) as info:
        base.decode_json(response, "Milvus")
    error = info.value
    assert type(error) is cls
    assert error.transient
    assert error.http_status == response.status
    assert said in error.message
    assert f"HTTP {response.status}" in error.message


def test_decode_json_refuses_oversized_body() -> None:
    body = b" " * (base.MAX_RESPONSE_BYTES + 1)
    with pytest.raises(InvalidResponseError) as info:
        base.decode_json(raw(200, body), "Milvus")
    assert "limit" in info.value.message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"jobId": 448761313698322011}', {"jobId": 448761313698322011}),
        (b'{"jobId": 9007199254740993}', {"jobId": 2**53 + 1}),
        (b"\xef\xbb\xbf{}", {}),
        (b"null", None),
        (b"[]", []),
    ],
)
def test_decode_json_values(body: bytes, expected: Any) -> None:
    assert base.decode_json(raw(200, body), "Milvus") == expected


def test_decode_json_deep_nesting_is_invalid_response() -> None:
    with pytest.raises(InvalidResponseError):
        base.decode_json(raw(200, b"[" * 100_000 + b"]" * 100_000), "Milvus")


STATUS_CLASSES: list[tuple[int, type[ImportJobError]]] = [
    (200, InvalidResponseError),
    (400, InvalidRequestError),
    (401, AuthenticationError),
    (403, PermissionDeniedError),
    (404, JobNotFoundError),
    (408, TransientServiceError),
    (409, InvalidRequestError),
    (418, ImportJobError),
    (429, RateLimitedError),
    (500, TransientServiceError),
    (502, TransientServiceError),
    (503, TransientServiceError),
    (504, TransientServiceError),
]


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
def test_error_class_for_status(status: int, cls: type[ImportJobError]) -> None:
    assert base.error_class_for_status(status) is cls


def test_endpoint_missing_is_unsupported() -> None:
    assert issubclass(EndpointMissingError, UnsupportedOperationError)


def test_errors_survive_pickling() -> None:
    error = RateLimitedError("slow down.", code="429-001", http_status=429, job_id="j", retry_after=3.0)
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert type(copy) is RateLimitedError
    assert (copy.message, copy.code, copy.http_status, copy.job_id, copy.retry_after, copy.transient) == (
        "slow down.",
        "429-001",
        429,
        "j",
        3.0,
        True,
    )


def test_server_text_single_line_and_bounded() -> None:
    text = base.server_text("line one\nline\ttwo " + "x" * 1000)
    assert "\n" not in text
    assert len(text) == 300


# -- 3. values --------------------------------------------------------------------------------

OPT_INT: list[tuple[Any, int | None]] = [
    (5, 5),
    (0, 0),
    (-3, -3),
    (2**70, 2**70),
    (True, None),
    (False, None),
    (5.0, 5),
    (5.9, 5),
    (float("nan"), None),
    (float("inf"), None),
    (" 42 ", 42),
    ("+7", 7),
    ("-7", -7),
    ("448761313698322011", 448761313698322011),
    ("4.0", None),
    ("1e3", None),
    ("abc", None),
    ("", None),
    (None, None),
    ([1], None),
    ({"v": 1}, None),
]


@pytest.mark.parametrize(("value", "expected"), OPT_INT, ids=repr)
def test_opt_int(value: Any, expected: int | None) -> None:
    result = values.opt_int(value)
    assert result == expected
    assert result is None or type(result) is int


PERCENT: list[tuple[Any, int | None]] = [
    (50, 50),
    (0, 0),
    (100, 100),
    (-1, 0),
    (101, 100),
    (10**30, 100),
    (99.9, 99),
    ("99.9", 99),
    ("45", 45),
    ("-5", 0),
    ("abc", None),
    ("50%", None),
    ("nan", None),
    ("1e400", None),
    ("inf", None),
    (None, None),
    (True, None),
    ([50], None),
]


@pytest.mark.parametrize(("value", "expected"), PERCENT, ids=repr)
def test_percent(value: Any, expected: int | None) -> None:
    assert values.percent(value) == expected


APRIL = datetime(2024, 4, 1, 6, 10, tzinfo=UTC)

OPT_TIME: list[tuple[Any, datetime | None]] = [
    (None, None),
    (True, None),
    (0, None),
    (-5, None),
    (1711951800, APRIL),
    (1711951800000, APRIL),
    (1711951800.0, APRIL),
    ("1711951800", APRIL),
    ("1711951800000", APRIL),
    ("2024-04-01T06:10:00Z", APRIL),
    ("2024-04-01T06:10:00z", APRIL),
    ("2024-04-01T06:10:00.000Z", APRIL),
    ("2024-04-01T08:10:00+02:00", APRIL),
    ("2024-04-01T06:10:00", APRIL),  # naive: read as UTC
    (" 2024-04-01T06:10:00Z ", APRIL),
    ("", None),
    ("   ", None),
    ("garbage", None),
    ("2024-13-01T00:00:00Z", None),
    (float("nan"), None),
    (float("inf"), None),
    (1e30, None),
    (10**20, None),
    ([1711951800], None),
]


@pytest.mark.parametrize(("value", "expected"), OPT_TIME, ids=repr)
def test_opt_time(value: Any, expected: datetime | None) -> None:
    result = values.opt_time(value)
    assert result == expected
    if result is not None:
        assert result.utcoffset() == timedelta(0)


#: Inputs that once made the lenient readers raise instead of answering None (regressions).
CRASHING_VALUES: list[tuple[str, Any, str]] = [
    ("opt_time", 10**400, "BUG: values.opt_time(int too large for float): math.isfinite raises OverflowError"),
    ("opt_time", "9" * 400, "BUG: values.opt_time('9'*400): digit text → int → math.isfinite OverflowError"),
    ("opt_time", "²", "BUG: values.opt_time('²'): str.isdigit() is true, int('²') raises ValueError"),
    ("opt_time", "0001-01-01T00:00:00+01:00",
     "BUG: values.opt_time: astimezone(UTC) of a year-1 time with a positive offset raises OverflowError"),
    ("opt_time", "9999-12-31T23:59:59-01:00",
     "BUG: values.opt_time: astimezone(UTC) past year 9999 raises OverflowError"),
    ("opt_int", "1" * 5000, "BUG: values.opt_int: int() of > 4300 digits raises ValueError (int_max_str_digits)"),
    ("percent", "1" * 5000, "BUG: values.percent → opt_int: int() of > 4300 digits raises ValueError"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("reader", "value"),
    [pytest.param(r, v, id=f"{r}-{str(v)[:20]}") for r, v, _why in CRASHING_VALUES],
)
def test_lenient_readers_never_raise(reader: str, value: Any) -> None:
    assert getattr(values, reader)(value) is None


def test_out_of_range_time_does_not_escape_parse_functions() -> None:
    """A timestamp beyond float range once escaped parse_describe as OverflowError; now it reads as None."""
    from airflow_import_jobs.protocol import milvus

    job = milvus.parse_describe(reply(envelope_ok({"completeTime": 10**400})), job_id="1")
    assert job.completed_at is None


OPT_STR: list[tuple[Any, str | None]] = [
    ("x", "x"),
    (" x ", " x "),
    ("", None),
    ("  ", None),
    (0, "0"),
    (448761313698322011, "448761313698322011"),
    (True, None),
    (1.5, None),
    (None, None),
    (["x"], None),
]


@pytest.mark.parametrize(("value", "expected"), OPT_STR, ids=repr)
def test_opt_str(value: Any, expected: str | None) -> None:
    assert values.opt_str(value) == expected


def test_first_takes_the_first_present_key() -> None:
    assert values.first({"succesfull": 3}, "successful", "succesfull") == 3
    assert values.first({"successful": 1, "succesfull": 3}, "successful", "succesfull") == 1
    assert values.first({}, "a", "b") is None


# -- 4. states --------------------------------------------------------------------------------

#: Every spelling the reference lists, per vocabulary, with the state it must mean.
SPELLINGS: list[tuple[str, dict[str, JobState], str, JobState]] = [
    *[("milvus-job", states.MILVUS_STATES, s, e) for s, e in [
        ("Pending", P), ("Importing", R), ("Completed", C), ("Failed", F), ("None", U),
        ("Uncommitted", R), ("Committing", R),
    ]],
    *[("milvus-legacy", states.MILVUS_STATES, s, e) for s, e in [
        ("InProgress", R), ("ImportPending", P), ("ImportStarted", R), ("ImportPersisted", R),
        ("ImportFlushed", R), ("ImportCompleted", C), ("ImportFailed", F), ("ImportFailedAndCleaned", F),
    ]],
    *[("file", states.FILE_STATES, s, e) for s, e in [
        ("Pending", P), ("InProgress", R), ("Importing", R), ("Completed", C), ("Failed", F), ("Retry", R),
    ]],
    *[("zilliz-v2", states.ZILLIZ_STATES, s, e) for s, e in [
        ("Pending", P), ("Importing", R), ("InProgress", R), ("Completed", C), ("Failed", F),
    ]],
    *[("zilliz-v1", states.ZILLIZ_STATES, s, e) for s, e in [
        ("ImportRunning", R), ("ImportCompleted", C), ("ImportFailed", F),
    ]],
    *[("egain", states.EGAIN_STATES, s, e) for s, e in [
        ("Scheduled", P), ("In Progress", R), ("Successful", C), ("Completed", C), ("Failed", F),
        ("Cancelled", X),
    ]],
]  # fmt: skip


def _variants(spelling: str) -> list[str]:
    """The same spelling differing only in case, spaces, hyphens and underscores."""
    words = re.findall(r"[A-Z][a-z]*|[a-z]+", spelling)
    return [
        spelling,
        spelling.lower(),
        spelling.upper(),
        " ".join(words),
        "_".join(w.upper() for w in words),
        "-".join(w.lower() for w in words),
        "".join(words).lower(),
        f"  {spelling} ",
    ]


@pytest.mark.parametrize(
    ("table", "spelling", "expected"), [pytest.param(t, s, e, id=f"{v}-{s}") for v, t, s, e in SPELLINGS]
)
def test_every_reference_spelling(
    table: dict[str, JobState], spelling: str, expected: JobState, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=states.__name__):
        for variant in _variants(spelling):
            assert states.map_state(table, variant, api="test") is expected, variant
    assert caplog.records == []  # known spellings are never reported as unknown


def test_state_tables_hold_only_the_reference_spellings() -> None:
    """A spelling added to a table without a row above would map without a test saying what it means."""
    listed = {(id(t), states._fold(s)) for _, t, s, _ in SPELLINGS}
    extra = {
        name: sorted(s for s in table if (id(table), states._fold(s)) not in listed)
        for name, table in {
            "milvus": states.MILVUS_STATES,
            "file": states.FILE_STATES,
            "zilliz": states.ZILLIZ_STATES,
            "egain": states.EGAIN_STATES,
        }.items()
    }
    # Tolerated extras beyond the reference (documented here so a change is noticed):
    assert extra == {
        "milvus": ["IndexBuilding", "PreImporting", "Sorting"],
        "file": [],
        "zilliz": ["IndexBuilding", "PreImporting", "Sorting"],
        "egain": ["Canceled", "Pending"],
    }


def test_milvus_and_zilliz_share_one_vocabulary() -> None:
    """Zilliz Cloud runs Milvus: a spelling either API has ever sent maps the same on both."""
    from airflow_import_jobs.protocol import milvus, zilliz

    assert states.MILVUS_STATES is states.ZILLIZ_STATES
    for spelling, expected in states.MILVUS_STATES.items():
        record = {"jobId": "1", "state": spelling}
        assert milvus.job_from_record(dict(record)).state is expected, spelling
        assert zilliz.job_from_record(dict(record)).state is expected, spelling
    # The case that failed before: Zilliz's legacy spelling on a Milvus record.
    assert milvus.job_from_record({"jobId": "1", "state": "ImportRunning"}).state is JobState.RUNNING


@pytest.mark.parametrize(
    "table",
    [states.MILVUS_STATES, states.FILE_STATES, states.ZILLIZ_STATES, states.EGAIN_STATES],
    ids=["milvus", "file", "zilliz", "egain"],
)
def test_unknown_spelling_is_unknown_and_logged_once(
    table: dict[str, JobState], caplog: pytest.LogCaptureFixture
) -> None:
    spelling = f"Reticulating{uuid.uuid4().hex}"
    with caplog.at_level(logging.WARNING, logger=states.__name__):
        assert states.map_state(table, spelling, api="Test API") is JobState.UNKNOWN
        assert states.map_state(table, spelling, api="Test API") is JobState.UNKNOWN
        assert states.map_state(table, spelling.lower(), api="Test API") is JobState.UNKNOWN
    reports = [r for r in caplog.records if spelling in r.getMessage()]
    assert len(reports) == 1
    assert "Test API" in reports[0].getMessage()
    assert reports[0].levelno == logging.WARNING


def test_unknown_state_log_line_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    spelling = uuid.uuid4().hex + "X" * 100_000
    with caplog.at_level(logging.WARNING, logger=states.__name__):
        states.map_state(states.ZILLIZ_STATES, spelling, api="Zilliz Cloud")
    [record] = caplog.records
    assert len(record.getMessage()) < 2_000


@pytest.mark.parametrize("spelling", [None, 3, 2.5, True, [], {}, "", " "], ids=repr)
def test_non_text_or_empty_state_is_unknown(spelling: object) -> None:
    assert states.map_state(states.MILVUS_STATES, spelling, api="Milvus") is JobState.UNKNOWN


@pytest.mark.parametrize(
    ("state", "terminal"),
    [(P, False), (R, False), (C, True), (F, True), (X, True), (U, False)],
)
def test_is_terminal(state: JobState, terminal: bool) -> None:
    assert state.is_terminal is terminal
    assert str(state) == state.value


# -- 5. retry policy --------------------------------------------------------------------------

GET = HttpRequest(method="POST", url="/v2/vectordb/jobs/import/describe", endpoint="describe")
CREATE = HttpRequest(method="POST", url="/v2/vectordb/jobs/import/create", endpoint="create", idempotent=False)
POLICY = RetryPolicy(max_retries=3, backoff=0.5, backoff_max=30.0, retry_after_max=300.0)

DELAY_CASES: list[tuple[str, int, ImportJobError, HttpRequest, tuple[float, float] | None]] = [
    # (id, attempt, error, request, (low, high) bounds of the delay or None for "give up")
    ("not-transient", 0, InvalidRequestError("bad"), GET, None),
    ("auth-not-transient", 0, AuthenticationError("who"), GET, None),
    ("not-found-not-transient", 0, JobNotFoundError("gone"), GET, None),
    ("transient-first-retry", 0, TransientServiceError("503"), GET, (0.25, 0.5)),
    ("transient-second-retry", 1, TransientServiceError("503"), GET, (0.5, 1.0)),
    ("transient-third-retry", 2, TransientServiceError("503"), GET, (1.0, 2.0)),
    ("attempts-exhausted", 3, TransientServiceError("503"), GET, None),
    ("create-reached-server", 0, TransientServiceError("503"), CREATE, None),
    ("create-rate-limited-reached-server", 0, RateLimitedError("429", retry_after=1.0), CREATE, None),
    ("create-never-reached-server", 0, TransientServiceError("connect", reached_server=False), CREATE, (0.25, 0.5)),
    ("retry-after-honoured", 0, RateLimitedError("429", retry_after=7.0), GET, (7.0, 7.0)),
    ("retry-after-zero", 0, RateLimitedError("429", retry_after=0.0), GET, (0.0, 0.0)),
    ("retry-after-capped", 0, RateLimitedError("429", retry_after=86400.0), GET, (300.0, 300.0)),
    ("retry-after-on-5xx", 1, TransientServiceError("503", retry_after=2.0), GET, (2.0, 2.0)),
    ("retry-after-but-exhausted", 3, RateLimitedError("429", retry_after=1.0), GET, None),
    ("invalid-response-transient", 0, InvalidResponseError("html"), GET, (0.25, 0.5)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("attempt", "error", "request_", "bounds"), [pytest.param(*r[1:], id=r[0]) for r in DELAY_CASES]
)
def test_retry_delay(
    attempt: int, error: ImportJobError, request_: HttpRequest, bounds: tuple[float, float] | None
) -> None:
    for _ in range(20):  # jitter: every draw must respect the bounds
        delay = POLICY.delay(attempt, error, request_)
        if bounds is None:
            assert delay is None
        else:
            assert delay is not None
            assert bounds[0] <= delay <= bounds[1]


def test_backoff_ceiling() -> None:
    many = RetryPolicy(max_retries=50, backoff=0.5, backoff_max=30.0)
    for _ in range(20):
        delay = many.delay(40, TransientServiceError("503"), GET)
        assert delay is not None
        assert 15.0 <= delay <= 30.0


def test_no_retries_configured() -> None:
    assert RetryPolicy(max_retries=0).delay(0, TransientServiceError("503"), GET) is None


# -- 6. rate limiter --------------------------------------------------------------------------


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(policy, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


@pytest.mark.parametrize("rate", [20.0, 1.0, 0.03, 0.17])
def test_reservations_spaced_by_interval(clock: FakeClock, rate: float) -> None:
    limiter = RateLimiter(rate)
    waits = [limiter.reserve() for _ in range(5)]
    # Spaced for 90% of the rate: headroom against jitter at a server counting a sliding second.
    assert waits == pytest.approx([i / (rate * policy.RATE_HEADROOM) for i in range(5)])
    assert all(b - a > 1 / rate for a, b in itertools.pairwise(waits))


def test_reservations_after_time_passes(clock: FakeClock) -> None:
    limiter = RateLimiter(20.0)
    step = limiter.interval  # 1 / (20 * headroom)
    assert [limiter.reserve() for _ in range(4)] == pytest.approx([0.0, step, 2 * step, 3 * step])
    clock.now += 0.12
    assert limiter.reserve() == pytest.approx(4 * step - 0.12)
    clock.now += 10.0  # idle: the queue has drained, no credit is banked
    assert limiter.reserve() == 0.0
    assert limiter.reserve() == pytest.approx(step)


@pytest.mark.parametrize("rate", [0.0, -1.0, float("nan")])
def test_rate_must_be_positive(rate: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(rate)


def test_limiter_for() -> None:
    key = ("test_limiter_for", uuid.uuid4().hex, "describe")
    assert limiter_for(key, None) is None
    first = limiter_for(key, 20.0)
    assert first is not None
    assert limiter_for(key, 20.0) is first
    changed = limiter_for(key, 10.0)
    assert changed is not first
    assert changed is not None
    assert changed.interval == pytest.approx(1 / (10.0 * policy.RATE_HEADROOM))


# -- 7. the test driver agrees with the engine ------------------------------------------------


def test_drive_matches_engine_execute() -> None:
    """``conftest.drive`` stands in for Engine.execute: both run the Milvus fallback flow the same way."""
    responses = [raw(404, b"404 page not found"), reply(envelope_ok({"jobId": "1", "state": "Completed"}))]

    driven, sent = drive(MilvusProtocol().get_job("1"), responses)

    engine = Engine(api="Milvus", label="test", auth=None, retry=RetryPolicy(max_retries=0))
    run = engine.execute(MilvusProtocol().get_job("1"))
    pending = list(responses)
    engine_sent: list[HttpRequest] = []
    action = next(run)
    try:
        while True:
            assert isinstance(action, Send)
            engine_sent.append(action.request)
            action = run.send(pending.pop(0))
    except StopIteration as stop:
        executed = stop.value
    assert executed == driven
    assert engine_sent == sent
