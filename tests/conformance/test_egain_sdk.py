"""egain-api-python 0.3.0 against the simulated eGain v4 API, used as its README shows
(``Egain(access_token=...)``, ``content.import_`` operations with a per-operation ``server_url``).

The SDK's typed answers: ``WSErrorCommon`` (``data.code``, ``data.developer_message``) for the
JSON errors each operation declares (400/401/403/404/500), ``EgainDefaultError`` for any other
4XX/5XX (a cancel of a finished job is 409), ``ResponseValidationError`` when a body does not fit
its model: an answer the SDK cannot read is a simulator bug.
"""

from __future__ import annotations

from typing import Any

import pytest
from egain_api_python import Egain, errors, models

from airflow_import_jobs.testing import Fault, Lifecycle, Simulator, SimulatorServer

from .conftest import egain_access_token, job_id_from_location, until_terminal

TERMINAL = ("Successful", "Failed", "Cancelled")
#: Only what the spec requires: no region, no credentials (a bucket readable without keys in the body).
MINIMAL_SOURCE = {"type": "AWS S3 bucket", "path": "s3://open-bucket/knowledge/2026-01"}
UNKNOWN_ID = "11111111-2222-4333-8444-555555555555"


def test_import_to_success_with_only_the_required_fields(egain: Egain, egain_server_url: str, sim: Simulator) -> None:
    started = egain.content.import_.create_import_job(
        data_source=MINIMAL_SOURCE, operation="import", server_url=egain_server_url
    )
    job_id = job_id_from_location(started.headers)

    def status() -> models.ImportStatus:
        return egain.content.import_.get_import_status(job_id=job_id, server_url=egain_server_url)

    done = until_terminal(status, lambda answer: answer.status in TERMINAL)
    assert (done.status, done.job_type) == ("Successful", "Import")
    assert done.progress is not None
    assert done.progress.percentage == 100
    assert done.results is not None
    assert done.results.successful == 1000
    assert done.completion_time is not None
    assert sim.job(job_id).request_body == {"dataSource": MINIMAL_SOURCE, "operation": "import"}


def test_validation_with_region_and_credentials(egain: Egain, egain_server_url: str) -> None:
    source = {
        **MINIMAL_SOURCE,
        "region": "us-east-1",
        "credentials": {"access_key_id": "AKIA-EXAMPLE", "secret_access_key": "example-secret"},
    }
    started = egain.content.import_.create_import_validation_job(data_source=source, server_url=egain_server_url)
    job_id = job_id_from_location(started.headers)
    done = until_terminal(
        lambda: egain.content.import_.get_import_status(job_id=job_id, server_url=egain_server_url),
        lambda answer: answer.status in TERMINAL,
    )
    assert (done.status, done.job_type) == ("Successful", "Validation")


def test_shared_path_reimport_fails_with_reason(egain: Egain, egain_server_url: str, sim: Simulator) -> None:
    sim.queue_lifecycle("egain", Lifecycle(outcome="failed", reason="Folder not found", retryable=True))
    started = egain.content.import_.create_import_job(
        data_source={"type": "Shared file path", "path": "/mnt/share/kb"},
        operation="reimport",
        server_url=egain_server_url,
    )
    job_id = job_id_from_location(started.headers)
    done = until_terminal(
        lambda: egain.content.import_.get_import_status(job_id=job_id, server_url=egain_server_url),
        lambda answer: answer.status in TERMINAL,
    )
    assert (done.status, done.error, done.retryable) == ("Failed", "Folder not found", True)
    assert done.failure_time is not None


def test_cancel_then_cancel_again(egain: Egain, egain_server_url: str) -> None:
    started = egain.content.import_.create_import_job(
        data_source=MINIMAL_SOURCE, operation="import", server_url=egain_server_url
    )
    job_id = job_id_from_location(started.headers)
    assert egain.content.import_.cancel_import(job_id=job_id, server_url=egain_server_url) is None
    status = egain.content.import_.get_import_status(job_id=job_id, server_url=egain_server_url)
    assert status.status == "Cancelled"
    with pytest.raises(errors.EgainDefaultError) as caught:  # the SDK declares no body for 409
        egain.content.import_.cancel_import(job_id=job_id, server_url=egain_server_url)
    assert caught.value.status_code == 409


async def test_async_flow(egain: Egain, egain_server_url: str) -> None:
    started = await egain.content.import_.create_import_job_async(
        data_source=MINIMAL_SOURCE, operation="import", server_url=egain_server_url
    )
    job_id = job_id_from_location(started.headers)
    for _ in range(20):
        status = await egain.content.import_.get_import_status_async(job_id=job_id, server_url=egain_server_url)
        if status.status in TERMINAL:
            break
    assert status.status == "Successful"
    validation = await egain.content.import_.create_import_validation_job_async(
        data_source=MINIMAL_SOURCE, server_url=egain_server_url
    )
    await egain.content.import_.cancel_import_async(
        job_id=job_id_from_location(validation.headers), server_url=egain_server_url
    )


@pytest.mark.parametrize("operation", ["status", "cancel"])
def test_unknown_job_is_a_typed_404(egain: Egain, egain_server_url: str, sim: Simulator, operation: str) -> None:
    sim.add_egain_job()
    call = egain.content.import_.get_import_status if operation == "status" else egain.content.import_.cancel_import
    for job_id in (UNKNOWN_ID, "7A84B875-6F75-4C7B-B137-0632B62DB0BD"):  # the second: the docs' example ID
        with pytest.raises(errors.WSErrorCommon) as caught:
            call(job_id=job_id, server_url=egain_server_url)
        assert (caught.value.status_code, caught.value.data.code) == (404, "404-101")
        assert caught.value.data.developer_message
        assert [d.key for d in caught.value.data.details or []] == ["job_id"]


def test_bad_body_is_a_typed_400(egain: Egain, egain_server_url: str, sim: Simulator) -> None:
    # The SDK's model lets half a key pair through ("provide along with" is prose); the server refuses it.
    source = {**MINIMAL_SOURCE, "credentials": {"access_key_id": "AKIA-EXAMPLE"}}
    with pytest.raises(errors.WSErrorCommon) as caught:
        egain.content.import_.create_import_job(data_source=source, operation="import", server_url=egain_server_url)
    assert (caught.value.status_code, caught.value.data.code) == (400, "400-152")
    assert caught.value.data.details
    assert caught.value.data.details[0].key == "dataSource.credentials.secretAccessKey"
    with pytest.raises(errors.WSErrorCommon) as caught:
        egain.content.import_.get_import_status(job_id="not-a-uuid", server_url=egain_server_url)
    assert (caught.value.status_code, caught.value.data.code) == (400, "400-152")
    assert sim.jobs("egain") == []


def test_token_problems_are_typed(server: SimulatorServer, egain_server_url: str, sim: Simulator) -> None:
    job_id = sim.add_egain_job()
    cases: list[tuple[Any, int, str]] = [("not-a-token", 401, "401-101")]
    sim.egain_scopes = {"knowledge.contentmgr.manage"}
    token = egain_access_token(server)
    sim.egain_scopes = {"app.knowledge.contentmgr.manage"}  # the tenant's scope changed under the token
    cases.append((token, 403, "403-197"))
    for access_token, status, code in cases:
        with Egain(access_token=access_token) as client, pytest.raises(errors.WSErrorCommon) as caught:
            client.content.import_.get_import_status(job_id=job_id, server_url=egain_server_url)
        assert (caught.value.status_code, caught.value.data.code) == (status, code)


def test_status_of_every_phase_fits_the_sdk_model(egain: Egain, egain_server_url: str, sim: Simulator) -> None:
    """Scheduled, In Progress, each terminal status, both results spellings: no ResponseValidationError."""
    sim.egain_results_spelling = "succesfull"
    jobs = [
        sim.add_egain_job(lifecycle=Lifecycle(steps=4)),
        sim.add_egain_job("Validation", lifecycle=Lifecycle(outcome="failed", steps=2)),
        sim.add_egain_job(lifecycle=Lifecycle(outcome="cancelled", steps=2)),
        sim.add_egain_job(lifecycle=Lifecycle(advance="time", duration=60.0), start_delay=3600.0),
    ]
    seen: set[str] = set()
    for job_id in jobs:
        for _ in range(6):
            seen.add(egain.content.import_.get_import_status(job_id=job_id, server_url=egain_server_url).status)
    assert seen == {"Scheduled", "In Progress", "Successful", "Failed", "Cancelled"}


def test_server_errors_are_typed(egain: Egain, egain_server_url: str, sim: Simulator) -> None:
    """A 500 carries the spec's error body (typed); any other 5XX or a 429 is the SDK's default error."""
    job_id = sim.add_egain_job()
    sim.inject("egain", Fault("status", status=500, message="database unavailable"), endpoint="status")
    with pytest.raises(errors.WSErrorCommon) as typed:
        egain.content.import_.get_import_status(job_id=job_id, server_url=egain_server_url)
    assert (typed.value.status_code, typed.value.data.code) == (500, "500-100")
    assert typed.value.data.developer_message == "database unavailable"
    for status in (503, 429):
        sim.inject("egain", Fault("status", status=status), endpoint="status")
        with pytest.raises(errors.EgainDefaultError) as default:
            egain.content.import_.get_import_status(job_id=job_id, server_url=egain_server_url)
        assert default.value.status_code == status
    assert egain.content.import_.get_import_status(job_id=job_id, server_url=egain_server_url).status
