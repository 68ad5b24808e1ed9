"""Every eGain body our client would send fits the vendor's own request models (egain-api-python's
``ImportContent`` and ``ValidateImportContent``, generated from the v4 spec): a body the vendor's
schema refuses cannot leave our client.

Milvus and Zilliz Cloud have no request models in pymilvus (``bulk_import`` builds a plain dict);
their bodies are checked against the servers' rules by the simulator (see test_pymilvus.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from egain_api_python import models
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from airflow_import_jobs.exceptions import InvalidRequestError
from airflow_import_jobs.hooks import get_import_hook
from airflow_import_jobs.protocol.egain import check_start_body
from airflow_import_jobs.testing import SimulatorServer
from tests.conftest import EGAIN

STORAGE = {"access_key": "AKIA-STORAGE", "secret_key": "storage-secret"}
S3 = {"type": "AWS S3 bucket", "path": "s3://bucket/kb"}
SHARE = {"type": "Shared file path", "path": "/mnt/share/kb"}


def _vendor_model(validate_only: bool) -> Any:
    return models.ValidateImportContent if validate_only else models.ImportContent


def _in_a_day(offset: str = "Z") -> str:
    moment = datetime.now(timezone.utc) + timedelta(days=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + offset


#: Bodies as a DAG author writes them; each is started through the hook and checked as it arrived.
HOOK_BODIES: list[tuple[str, dict[str, Any], bool]] = [
    ("minimal-import", {"dataSource": S3, "operation": "import"}, False),
    ("minimal-validation", {"dataSource": S3}, True),
    ("operation-filled-in", {"dataSource": {**S3, "region": "us-east-1"}}, False),
    ("explicit-keys", {"dataSource": {**S3, "credentials": {"accessKeyId": "AK", "secretAccessKey": "SK"}}}, False),
    ("share-reimport", {"dataSource": {**SHARE, "credentials": {"username": "u", "password": "p"}},
                        "operation": "reimport"}, False),
    ("schedule-rfc3339", {"dataSource": S3, "scheduleTime": {"date": _in_a_day()}}, False),
]  # fmt: skip


@pytest.mark.parametrize(("request_body", "validate_only"), [pytest.param(*r[1:], id=r[0]) for r in HOOK_BODIES])
def test_bodies_the_hook_sends_fit_the_vendor_models(
    sim_server: SimulatorServer, request_body: dict[str, Any], validate_only: bool
) -> None:
    job_id = get_import_hook(EGAIN).start_job(request_body, validate_only=validate_only)
    sent = sim_server.sim.job(job_id).request_body
    parsed = _vendor_model(validate_only).model_validate(sent)
    assert parsed.data_source.type == request_body["dataSource"]["type"]
    assert parsed.data_source.path == request_body["dataSource"]["path"]


@pytest.mark.parametrize("validate_only", [False, True], ids=["import", "validation"])
def test_connection_storage_keys_fit_the_vendor_model(validate_only: bool) -> None:
    body = check_start_body({"dataSource": S3}, validate_only=validate_only, credentials={
        "accessKeyId": STORAGE["access_key"], "secretAccessKey": STORAGE["secret_key"]})  # fmt: skip
    parsed = _vendor_model(validate_only).model_validate(body)
    assert parsed.data_source.credentials is not None
    assert parsed.data_source.credentials.secret_access_key == STORAGE["secret_key"]


# -- any body: refused by our client, or accepted by the vendor's schema ------------------------

_ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=6),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
)


def _mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` three times in four, anything else otherwise: many bodies get past every check."""
    return st.integers(0, 3).flatmap(lambda draw: valid if draw else _ANY)


_DATES = st.one_of(
    st.datetimes(timezones=st.just(timezone.utc)).map(lambda d: d.isoformat().replace("+00:00", "Z")),
    st.datetimes(timezones=st.just(timezone(timedelta(hours=-5)))).map(datetime.isoformat),
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.000Z")),
    _ANY,
)
_CREDENTIALS = st.fixed_dictionaries(
    {},
    optional={
        key: _mostly(st.text(max_size=6))
        for key in ("accessKeyId", "secretAccessKey", "username", "password", "accessKey", "secretKey")
    },
)


_SOURCES = st.fixed_dictionaries(
    {
        "type": _mostly(st.sampled_from(["AWS S3 bucket", "Shared file path"])),
        "path": _mostly(st.text(min_size=1, max_size=12)),
    },
    optional={
        "region": _mostly(st.text(max_size=10)),
        "credentials": _mostly(_CREDENTIALS),
    },
)
_BODIES = st.fixed_dictionaries(
    {"dataSource": _mostly(_SOURCES)},
    optional={
        "operation": _mostly(st.sampled_from(["import", "reimport"])),
        "scheduleTime": _mostly(st.fixed_dictionaries({"date": _DATES}, optional={"stopDate": _DATES})),
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=_BODIES,
    validate_only=st.booleans(),
    storage=st.sampled_from([None, {"access_key": "AK", "secret_key": "SK"}]),
)
def test_no_body_the_vendor_schema_refuses_leaves_the_client(
    body: dict[str, Any], validate_only: bool, storage: dict[str, str] | None
) -> None:
    from airflow_import_jobs.protocol.egain import EgainProtocol

    protocol = EgainProtocol(storage_credentials=storage)
    try:
        request = next(protocol.start_job(body, validate_only=validate_only)).request
    except InvalidRequestError:
        event("refused by the client")
        return
    event("sent")
    _vendor_model(validate_only).model_validate(request.json)
