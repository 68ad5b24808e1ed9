"""Broken connections fail with a clear error naming the field — before any request.

Every connection below points at the running simulator where it has a host at all, so a request
that slipped out would be counted.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_import_jobs._compat import AirflowFailException
from airflow_import_jobs.exceptions import ConfigurationError
from airflow_import_jobs.hooks import EgainImportHook, MilvusImportHook, ZillizCloudImportHook, get_import_hook
from airflow_import_jobs.sensors.import_job import ImportJobSensor
from airflow_import_jobs.testing import SimulatorServer
from tests.conftest import conn_env, set_connection, simulator_connections
from tests.reliability.support import APIS, CONN_IDS, FAST_RETRY, UNKNOWN_IDS, Api, run_trigger, trigger_for

SECRET = "CANARY-misplaced-secret-3b1d"


def _broken(server: SimulatorServer, api: Api, *, drop: tuple[str, ...] = (), **changes: Any) -> dict[str, Any]:
    """The simulator connection of ``api`` with fields and extras changed (``None`` removes one)."""
    fields = simulator_connections(server)[CONN_IDS[api]]
    extra = dict(fields["extra"])
    for key, value in changes.pop("extra", {}).items():
        if value is None:
            extra.pop(key, None)
        else:
            extra[key] = value
    fields = {**fields, **changes, "extra": extra}
    for key in drop:
        fields.pop(key, None)
    return fields


#: (test id, api, connection changes, message fragment)
BROKEN: list[tuple[str, Api, dict[str, Any], str]] = [
    # Extras of the wrong type or value.
    ("timeout-text", "milvus", {"extra": {"timeout": "soon"}}, "'timeout' of connection 'bad' must be a number"),
    ("timeout-bool", "zilliz", {"extra": {"timeout": True}}, "'timeout' of connection 'bad' must be a number"),
    ("timeout-list", "egain", {"extra": {"timeout": [5]}}, "'timeout' of connection 'bad' must be a number"),
    ("timeout-negative", "milvus", {"extra": {"timeout": -1}}, "must be a positive number"),
    ("timeout-nan", "milvus", {"extra": {"timeout": "nan"}}, "must be a positive number"),
    ("timeout-inf", "egain", {"extra": {"timeout": "inf"}}, "must be a positive number"),
    ("rps-zero", "zilliz", {"extra": {"max_requests_per_second": 0}}, "'max_requests_per_second'"),
    ("rps-text", "egain", {"extra": {"max_requests_per_second": "fast"}}, "'max_requests_per_second'"),
    ("db-name-int", "milvus", {"extra": {"db_name": 5}}, "'db_name' of connection 'bad' must be a string"),
    ("secure-maybe", "milvus", {"extra": {"secure": "maybe"}}, "'secure' of connection 'bad' must be true or false"),
    ("verify-int", "zilliz", {"extra": {"verify": 3}}, "'verify' of connection 'bad' must be true, false"),
    ("verify-list", "egain", {"extra": {"verify": ["a"]}}, "'verify'"),
    ("cluster-id-int", "zilliz", {"extra": {"cluster_id": 5}}, "'cluster_id' of connection 'bad' must be a string"),
    ("token-url-int", "egain", {"extra": {"token_url": 5}}, "'token_url' of connection 'bad' must be a string"),
    ("scope-list", "egain", {"extra": {"scope": ["a", "b"]}}, "'scope' of connection 'bad' must be a string"),
    ("insecure-maybe", "zilliz", {"extra": {"allow_insecure_http": "maybe"}}, "'allow_insecure_http'"),
    # Secrets of the wrong type: the error never echoes them.
    ("token-int", "milvus", {"extra": {"token": {"value": SECRET}}}, "'token' of connection 'bad' must be a string."),
    (
        "storage-key-list",
        "zilliz",
        {"extra": {"storage_secret_key": [SECRET]}},
        "'storage_secret_key' of connection 'bad' must be a string.",
    ),
    (
        "access-token-dict",
        "egain",
        {"extra": {"access_token": {"t": SECRET}}},
        "'access_token' of connection 'bad' must be a string.",
    ),
    # Missing pieces.
    ("no-cluster-id", "zilliz", {"extra": {"cluster_id": None}}, "cluster_id"),
    ("no-token-url", "egain", {"extra": {"token_url": None}}, "no token_url extra"),
    ("no-api-key", "zilliz", {"password": None}, "has no API key"),
    ("no-client-secret", "egain", {"password": None}, "needs OAuth client credentials"),
    ("no-client-id", "egain", {"login": None}, "needs OAuth client credentials"),
    ("no-milvus-host", "milvus", {"host": None}, "has no host"),
    ("no-egain-host", "egain", {"host": ""}, "has no host"),
    ("milvus-user-no-password", "milvus", {"password": None}, "no password"),
    # URLs that must not be used.
    ("ftp-host", "milvus", {"host": "ftp://127.0.0.1/"}, "must be an http(s) URL"),
    ("host-with-query", "zilliz", {"host": "https://api.example.com/?x=1"}, "must not carry a query or fragment"),
    ("host-with-fragment", "egain", {"host": "https://api.example.com/#x"}, "must not carry a query or fragment"),
    ("zilliz-remote-http", "zilliz", {"host": "http://api.example.com"}, "allow_insecure_http"),
    ("egain-remote-http", "egain", {"host": "http://api.example.com"}, "allow_insecure_http"),
    (
        "egain-remote-http-token-url",
        "egain",
        {"extra": {"token_url": "http://auth.example.com/oauth2/token"}},
        "token_url",
    ),
    ("token-url-ftp", "egain", {"extra": {"token_url": "ftp://auth.example.com/t"}}, "must be an http(s) URL"),
]


@pytest.mark.parametrize(
    ("api", "changes", "text"), [pytest.param(api, ch, text, id=name) for name, api, ch, text in BROKEN]
)
def test_broken_connection_fails_clearly_before_any_request(
    sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch, api: Api, changes: dict[str, Any], text: str
) -> None:
    set_connection(monkeypatch, "bad", **_broken(sim_server, api, **changes))
    with pytest.raises(ConfigurationError) as caught:
        get_import_hook("bad").get_job(UNKNOWN_IDS[api])
    message = str(caught.value)
    assert text in message
    assert "'bad'" in message  # names the connection
    assert "\n" not in message
    assert SECRET not in message
    assert SECRET not in repr(caught.value)
    assert sim_server.sim.counters()["total"] == 0


@pytest.mark.parametrize(
    ("api", "changes", "text"),
    [pytest.param(api, ch, text, id=name) for name, api, ch, text in BROKEN if name.startswith(("no-", "timeout-t"))],
)
async def test_broken_connection_ends_a_wait_at_once(
    sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch, api: Api, changes: dict[str, Any], text: str
) -> None:
    set_connection(monkeypatch, "bad", **_broken(sim_server, api, **changes))
    event = await run_trigger(trigger_for("bad", UNKNOWN_IDS[api]))
    assert event["status"] == "error"
    assert text in event["message"]
    assert sim_server.sim.counters()["total"] == 0


@pytest.mark.parametrize(
    ("api", "changes", "text"),
    [
        pytest.param(api, ch, text, id=name, marks=[])
        for name, api, ch, text in BROKEN
        if name.startswith(("no-", "verify-"))
    ],
)
@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_broken_connection_fails_the_sensor_for_good(
    sim_server: SimulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    api: Api,
    changes: dict[str, Any],
    text: str,
    deferrable: bool,
) -> None:
    set_connection(monkeypatch, "bad", **_broken(sim_server, api, **changes))
    sensor = ImportJobSensor(task_id="wait", conn_id="bad", job_id=UNKNOWN_IDS[api], deferrable=deferrable)
    with pytest.raises(AirflowFailException, match=text):
        sensor.execute({})  # type: ignore[arg-type]
    assert sim_server.sim.counters()["total"] == 0


def test_extra_that_is_not_json_fails_clearly(sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    fields = simulator_connections(sim_server)[CONN_IDS["milvus"]]
    # Airflow 3.1 refuses to load such a connection at all ("is not defined"); newer ones hand it over.
    monkeypatch.setenv(conn_env("bad"), json.dumps({**fields, "extra": "{not json"}))
    with pytest.raises(ConfigurationError, match=r"not valid JSON|is not defined"):
        get_import_hook("bad").get_job(UNKNOWN_IDS["milvus"])
    monkeypatch.setenv(conn_env("bad"), json.dumps({**fields, "extra": "[1, 2]"}))
    with pytest.raises(ConfigurationError, match=r"must be a JSON object|is not defined"):
        get_import_hook("bad").get_job(UNKNOWN_IDS["milvus"])
    assert sim_server.sim.counters()["total"] == 0


# -- connection types ----------------------------------------------------------------------------


@pytest.mark.parametrize("conn_type", ["postgres", "http", "milvusx", "", "Milvus"])
def test_unknown_connection_type_fails_before_any_request(
    sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch, conn_type: str
) -> None:
    set_connection(monkeypatch, "other", conn_type=conn_type, host=sim_server.milvus_url, login="root", password="x")
    with pytest.raises(ConfigurationError, match=r"import jobs need one of: egain, milvus, zilliz_cloud"):
        get_import_hook("other")
    assert sim_server.sim.counters()["total"] == 0


@pytest.mark.parametrize(
    ("hook_class", "conn_api"),
    [(MilvusImportHook, "zilliz"), (ZillizCloudImportHook, "egain"), (EgainImportHook, "milvus")],
    ids=["milvus-hook-on-zilliz", "zilliz-hook-on-egain", "egain-hook-on-milvus"],
)
def test_hook_on_a_connection_of_another_api_fails_before_any_request(
    sim_server: SimulatorServer, hook_class: type[Any], conn_api: Api
) -> None:
    with pytest.raises(ConfigurationError, match=r"has type '[a-z_]+', but this hook needs a '[a-z_]+' connection"):
        hook_class(conn_id=CONN_IDS[conn_api]).get_job(UNKNOWN_IDS["milvus"])
    assert sim_server.sim.counters()["total"] == 0


async def test_unknown_connection_type_ends_a_wait_at_once(
    sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(monkeypatch, "other", conn_type="postgres", host=sim_server.milvus_url)
    event = await run_trigger(trigger_for("other", UNKNOWN_IDS["milvus"]))
    assert event["status"] == "error"
    assert "'postgres'" in event["message"]
    assert sim_server.sim.counters()["total"] == 0


@pytest.mark.parametrize("api", APIS)
async def test_missing_connection_ends_a_wait_at_once(sim_server: SimulatorServer, api: Api) -> None:
    event = await run_trigger(trigger_for("no_such_conn", UNKNOWN_IDS[api]))
    assert event["status"] == "error"
    assert "AIRFLOW_CONN_NO_SUCH_CONN" in event["message"]
    assert sim_server.sim.counters()["total"] == 0


def test_plain_http_is_allowed_to_loopback_and_on_opt_in_only(
    sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Loopback (the simulator) over http: allowed, it never leaves the machine.
    assert ZillizCloudImportHook(conn_id=CONN_IDS["zilliz"]).settings.base_url.startswith("http://127.0.0.1")
    # A remote host over http: only with allow_insecure_http.
    set_connection(
        monkeypatch,
        "optin",
        **_broken(sim_server, "zilliz", host="http://api.example.com", extra={"allow_insecure_http": True}),
    )
    assert ZillizCloudImportHook(conn_id="optin").settings.base_url == "http://api.example.com"
    # Milvus is self-hosted, often on a private network: http is its documented default.
    set_connection(monkeypatch, "mv", **_broken(sim_server, "milvus", host="milvus.internal"))
    assert MilvusImportHook(conn_id="mv").settings.base_url == "http://milvus.internal:19530"
    set_connection(monkeypatch, "mvs", **_broken(sim_server, "milvus", host="milvus.internal", extra={"secure": True}))
    assert MilvusImportHook(conn_id="mvs").settings.base_url == "https://milvus.internal:19530"


# -- credentials written into a URL ------------------------------------------------------------

URL_SECRET = "CANARY-url-userinfo-9e4c"


@pytest.mark.parametrize(
    ("api", "where"),
    [("milvus", "host"), ("zilliz", "host"), ("egain", "host"), ("egain", "token_url"), ("milvus", "ftp")],
    ids=["milvus-host", "zilliz-host", "egain-host", "egain-token-url", "bad-scheme-echo"],
)
def test_credentials_in_a_url_are_refused_without_being_echoed(
    sim_server: SimulatorServer, monkeypatch: pytest.MonkeyPatch, api: Api, where: str
) -> None:
    fields = simulator_connections(sim_server)[CONN_IDS[api]]
    userinfo = f"://user:{URL_SECRET}@"
    if where == "token_url":
        changes: dict[str, Any] = {"extra": {"token_url": sim_server.egain_token_url.replace("://", userinfo)}}
    elif where == "ftp":
        changes = {"host": f"ftp{userinfo}127.0.0.1"}
    else:
        changes = {"host": fields["host"].replace("://", userinfo)}
    set_connection(monkeypatch, "bad", **_broken(sim_server, api, **changes))
    with pytest.raises(ConfigurationError) as caught:
        get_import_hook("bad", retry=FAST_RETRY).get_job(UNKNOWN_IDS[api])
    assert URL_SECRET not in str(caught.value)
    assert "credentials" in str(caught.value) or "password" in str(caught.value)
    assert sim_server.sim.counters()["total"] == 0
