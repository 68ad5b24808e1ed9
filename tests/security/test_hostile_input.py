"""Hostile job IDs: they never change a request's path or query.

Each one is rejected with a clear error before any request (eGain IDs must be UUIDs, Milvus IDs
decimal int64s, Zilliz IDs letters, digits, ``-`` and ``_``), and an ID that is accepted travels in
a JSON body (Milvus, Zilliz) or as a path segment that can only be a UUID (eGain).
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_import_jobs._compat import AirflowFailException
from airflow_import_jobs.exceptions import InvalidRequestError, JobNotFoundError
from airflow_import_jobs.sensors.import_job import ImportJobSensor
from airflow_import_jobs.testing import SimulatorServer
from airflow_import_jobs.waiting.feed import active_feeds
from tests.reliability.support import (
    APIS,
    CONN_IDS,
    DRIVERS,
    Api,
    Driver,
    hook_for,
    run_trigger,
    trigger_for,
)

VALID_MILVUS = "448761313698322011"
VALID_EGAIN = "7a84b875-6f75-4c7b-b137-0632b62db0bd"

#: Rejected by every API: (test id, value).
HOSTILE: list[tuple[str, Any]] = [
    ("empty", ""),
    ("space", " "),
    ("spaces", "   "),
    ("tab", "\t"),
    ("newline", "\n"),
    ("int", 448761313698322011),
    ("zero", 0),
    ("float", 1.5),
    ("float-id", 4.48761313698322e17),
    ("exp-text", "1.5e18"),
    ("huge", "9" * 5000),
    ("slash", f"{VALID_MILVUS}/abort"),
    ("dotdot", ".."),
    ("traversal", f"../../{VALID_EGAIN}"),
    ("traversal-tail", f"{VALID_EGAIN}/../../cancel"),
    ("query", f"{VALID_MILVUS}?dbName=admin"),
    ("fragment", f"{VALID_MILVUS}#x"),
    ("pct-2f", f"{VALID_MILVUS}%2Fabort"),
    ("pct-dotdot", "%2e%2e"),
    ("trailing-newline", f"{VALID_MILVUS}\n"),
    ("crlf-header", f"{VALID_EGAIN}\r\nX-Injected: 1"),
    ("inner-newline", "job-1\njob-2"),
    ("non-ascii", "jöb-ünicode"),
    ("arabic-digits", "٤٤٨٧٦١٣١٣٦٩٨٣٢٢٠١١"),
    ("fullwidth-digits", "\uff14\uff14\uff18\uff17\uff16\uff11"),
    ("leading-space", f" {VALID_MILVUS}"),
    ("trailing-space", f"{VALID_MILVUS} "),
    ("none", None),
    ("bool", True),
    ("list", [VALID_MILVUS]),
    ("dict", {"jobId": VALID_MILVUS}),
    ("bytes", VALID_MILVUS.encode()),
]
#: Well formed for some APIs only: rejected by the others.
API_SPECIFIC: dict[Api, list[tuple[str, Any]]] = {
    "milvus": [
        ("int64-overflow", "9223372036854775808"),
        ("20-digits", "9" * 20),
        ("negative", "-1"),
        ("zilliz-id", "job-0123456789abcdefghijk"),
        ("uuid", VALID_EGAIN),
    ],
    "zilliz": [("underscore-start", "_job"), ("dash-start", "-job"), ("129-chars", "j" * 129), ("uuid-braces", "{x}")],
    "egain": [
        ("milvus-id", VALID_MILVUS),
        ("zilliz-id", "job-0123456789abcdefghijk"),
        ("uuid-no-dashes", VALID_EGAIN.replace("-", "")),
        ("uuid-braces", "{" + VALID_EGAIN + "}"),
        ("uuid-urn", "urn:uuid:" + VALID_EGAIN),
        ("uuid-short", VALID_EGAIN[:-1]),
    ],
}
METHODS: dict[Api, tuple[str, ...]] = {
    "milvus": ("get_job", "cancel_job", "commit_job"),
    "zilliz": ("get_job", "cancel_job"),
    "egain": ("get_job", "cancel_job"),
}


def _cases() -> list[Any]:
    return [
        pytest.param(api, value, id=f"{api}-{name}") for api in APIS for name, value in [*HOSTILE, *API_SPECIFIC[api]]
    ]


def _assert_clear(error: BaseException) -> None:
    message = str(error)
    assert "job_id" in message
    assert "\n" not in message  # one line, whatever the ID held
    assert "\r" not in message
    assert len(message) < 600  # a 5,000-character ID is shown shortened


@pytest.mark.parametrize(("api", "value"), _cases())
def test_hostile_id_is_refused_before_any_request(sim_server: SimulatorServer, api: Api, value: Any) -> None:
    for method in METHODS[api]:
        hook = hook_for(api)
        with pytest.raises(InvalidRequestError) as caught:
            getattr(hook, method)(value)
        _assert_clear(caught.value)
    with pytest.raises(InvalidRequestError):
        hook_for(api).check_job_id(value)
    assert sim_server.sim.counters()["total"] == 0


@pytest.mark.parametrize(
    ("api", "value"),
    [pytest.param(api, value, id=f"{api}-{name}") for api in APIS for name, value in HOSTILE[::3]],
)
def test_hostile_id_is_refused_by_the_async_twins(sim_server: SimulatorServer, api: Api, value: Any) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        DRIVERS[1](hook_for(api), "get_job", value)
    _assert_clear(caught.value)
    assert sim_server.sim.counters()["total"] == 0


@pytest.mark.parametrize("api", APIS)
async def test_trigger_with_hostile_ids_ends_at_once_and_never_sends_them(
    sim_server: SimulatorServer, api: Api
) -> None:
    hostile = [v for _, v in [*HOSTILE, *API_SPECIFIC[api]] if isinstance(v, str) and v]
    for value in hostile:
        event = await run_trigger(trigger_for(CONN_IDS[api], value))
        assert event["status"] == "error", (value, event)
        assert "not a valid" in event["message"], event["message"]
        assert "\n" not in event["message"]
    assert not active_feeds()
    # Milvus polls by listing first (a fixed path, no ID in it); nothing else may have gone out.
    for request in sim_server.sim.requests:
        assert (request.backend, request.endpoint) == ("milvus", "list"), request
        assert request.path == "/v2/vectordb/jobs/import/list"
        assert "jobId" not in (request.body or {})


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_sensor_with_hostile_ids_fails_before_any_request(
    sim_server: SimulatorServer, api: Api, deferrable: bool
) -> None:
    # Sensors take an int as its exact decimal text (native-object templates render Milvus IDs as
    # ints): that is an ID, not hostile input. Lists are lists of IDs.
    hostile = [
        v for _, v in [*HOSTILE, *API_SPECIFIC[api]] if not isinstance(v, (list, bytes, int)) or isinstance(v, bool)
    ]
    for value in hostile:
        sensor = ImportJobSensor(
            task_id="wait",
            conn_id=CONN_IDS[api],
            job_id=value,
            poke_interval=0.05,
            deferrable=deferrable,  # type: ignore[arg-type]
        )
        with pytest.raises(AirflowFailException) as caught:
            sensor.execute({})  # type: ignore[arg-type]
        assert "\n" not in str(caught.value), value
    assert sim_server.sim.counters()["total"] == 0


# -- IDs that are accepted travel safely -------------------------------------------------------


@pytest.mark.parametrize(
    ("api", "value", "path", "body"),
    [
        ("milvus", "0", "/v2/vectordb/jobs/import/describe", {"jobId": "0"}),
        (
            "milvus",
            "9223372036854775807",
            "/v2/vectordb/jobs/import/describe",
            {"jobId": "9223372036854775807"},
        ),
        (
            "zilliz",
            "99999999999999999999",
            "/zilliz/v2/vectordb/jobs/import/getProgress",
            {"jobId": "99999999999999999999"},
        ),
        ("zilliz", "job-A_b-9", "/zilliz/v2/vectordb/jobs/import/getProgress", {"jobId": "job-A_b-9"}),
        ("egain", VALID_EGAIN, f"/egain/knowledge/contentmgr/v4/import/content/{VALID_EGAIN}/status", None),
        (
            "egain",
            VALID_EGAIN.upper(),
            f"/egain/knowledge/contentmgr/v4/import/content/{VALID_EGAIN.upper()}/status",
            None,
        ),
    ],
    ids=["milvus-zero", "milvus-int64-max", "zilliz-digits", "zilliz-mixed", "egain-lower", "egain-upper"],
)
@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_accepted_id_goes_only_where_it_belongs(
    sim_server: SimulatorServer, driver: Driver, api: Api, value: str, path: str, body: dict[str, Any] | None
) -> None:
    with pytest.raises(JobNotFoundError):  # well formed, sent, and unknown to the simulator
        driver(hook_for(api), "get_job", value)
    requests = [r for r in sim_server.sim.requests if r.endpoint != "token"]
    assert len(requests) == 1
    assert requests[0].path == path  # the exact path: nothing appended, nothing escaped out
    if body is not None:
        assert {k: v for k, v in requests[0].body.items() if k == "jobId"} == body
        assert isinstance(requests[0].body["jobId"], str)  # a string on the wire: never a number
