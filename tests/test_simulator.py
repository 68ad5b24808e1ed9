"""The import-job API simulator, exercised with plain httpx over loopback."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_import_jobs.testing import Fault, Lifecycle, Simulator, SimulatorServer, mock_transport
from airflow_import_jobs.testing.simulator import dispatch
from airflow_import_jobs.testing.simulator.jobs import EgainJob, MilvusJob, ZillizJob
from airflow_import_jobs.testing.simulator.wire import SimRequest

pytest_plugins = ["airflow_import_jobs.testing.pytest_plugin"]

MILVUS = "/v2/vectordb/jobs/import"
ZILLIZ = "/v2/vectordb/jobs/import"
EGAIN_BASE = "/knowledge/contentmgr/v4"
EGAIN = "/import/content"
S3_SOURCE = {
    "type": "AWS S3 bucket",
    "path": "s3://mybucket/content",
    "region": "us-east-1",
    "credentials": {"accessKeyId": "AKIA-SIM", "secretAccessKey": "s3-secret"},
}


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def server(import_job_simulator: SimulatorServer) -> SimulatorServer:
    return import_job_simulator


@pytest.fixture
def sim(server: SimulatorServer) -> Simulator:
    return server.sim


@pytest.fixture
def milvus(server: SimulatorServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": "Bearer root:Milvus", "DB-Name": "default"}
    with httpx.Client(base_url=server.milvus_url + MILVUS, headers=headers, timeout=5) as client:
        yield client


@pytest.fixture
def zilliz(server: SimulatorServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": "Bearer zilliz-api-key"}
    with httpx.Client(base_url=server.zilliz_url + ZILLIZ, headers=headers, timeout=5) as client:
        yield client


def egain_token(server: SimulatorServer, **form: str) -> httpx.Response:
    data = {
        "grant_type": "client_credentials",
        "client_id": "egain-client",
        "client_secret": "egain-secret",
        "scope": "knowledge.contentmgr.manage",
        **form,
    }
    return httpx.post(server.egain_token_url, data=data, timeout=5)


@pytest.fixture
def egain(server: SimulatorServer) -> Iterator[httpx.Client]:
    token = egain_token(server).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.egain_url + EGAIN_BASE, headers=headers, timeout=5) as client:
        yield client


def cluster(sim: Simulator, **body: Any) -> dict[str, Any]:
    return {"clusterId": sim.zilliz_cluster_id, **body}


def states(client: httpx.Client, path: str, body: dict[str, Any], reads: int) -> list[str]:
    return [client.post(path, json=body).json()["data"]["state"] for _ in range(reads)]


# -- Milvus -----------------------------------------------------------------------------------


def test_milvus_create_then_describe_walks_to_completed(milvus: httpx.Client, sim: Simulator) -> None:
    created = milvus.post("/create", json={"collectionName": "quick_setup", "files": [["a.parquet"], ["b.parquet"]]})
    assert created.status_code == 200
    job_id = created.json()["data"]["jobId"]
    assert isinstance(job_id, str)
    assert int(job_id) > 2**53
    first, second, third = (milvus.post("/describe", json={"jobId": job_id}).json() for _ in range(3))

    assert first["code"] == 0
    assert (first["data"]["state"], first["data"]["progress"]) == ("Pending", 10)
    assert first["data"]["completeTime"] == ""
    assert "reason" not in first["data"]
    assert first["data"]["createTime"]
    assert second["data"]["state"] == "Importing"
    assert 10 < second["data"]["progress"] < 90
    done = third["data"]
    assert (done["state"], done["progress"], done["importedRows"]) == ("Completed", 100, 1000)
    assert done["completeTime"]
    assert [d["fileName"] for d in done["details"]] == ["a.parquet", "b.parquet"]
    assert set(done["details"][0]) == {
        "fileName",
        "fileSize",
        "progress",
        "state",
        "reason",
        "completeTime",
        "importedRows",
        "totalRows",
    }
    assert {d["state"] for d in done["details"]} == {"Completed"}
    job = sim.job(job_id)
    assert isinstance(job, MilvusJob)
    assert job.request_body == {"collectionName": "quick_setup", "files": [["a.parquet"], ["b.parquet"]]}


def test_milvus_failed_job_reports_reason_in_describe_and_list(milvus: httpx.Client, sim: Simulator) -> None:
    job_id = sim.add_milvus_job(lifecycle=Lifecycle(outcome="failed", steps=1, reason="bad parquet"))
    data = milvus.post("/describe", json={"jobId": job_id}).json()["data"]
    assert (data["state"], data["progress"], data["reason"]) == ("Failed", 0, "bad parquet")
    assert data["details"][0]["state"] == "Failed"
    assert data["details"][0]["reason"] == "bad parquet"
    record = milvus.post("/list", json={"collectionName": "quick_setup"}).json()["data"]["records"][0]
    assert record == {
        "jobId": job_id,
        "collectionName": "quick_setup",
        "state": "Failed",
        "progress": 0,
        "reason": "bad parquet",
    }


def test_milvus_failing_file_retries_before_the_job_fails(milvus: httpx.Client, sim: Simulator) -> None:
    job_id = sim.add_milvus_job(lifecycle=Lifecycle(outcome="failed", steps=5))
    files = [milvus.post("/describe", json={"jobId": job_id}).json()["data"]["details"][0]["state"] for _ in range(5)]
    assert "Retry" in files
    assert files[-1] == "Failed"


def test_milvus_stall_sits_at_stall_at_forever(milvus: httpx.Client, sim: Simulator) -> None:
    job_id = sim.add_milvus_job(lifecycle=Lifecycle(outcome="stall", steps=3, stall_at=80))
    reads = [milvus.post("/describe", json={"jobId": job_id}).json()["data"] for _ in range(8)]
    assert [r["progress"] for r in reads[-5:]] == [80] * 5
    assert {r["state"] for r in reads[1:]} == {"Importing"}


def test_milvus_two_phase_job_waits_for_commit(milvus: httpx.Client, sim: Simulator) -> None:
    created = milvus.post(
        "/create",
        json={"collectionName": "docs", "files": [["a.parquet"]], "options": {"auto_commit": "false"}},
    )
    job_id = created.json()["data"]["jobId"]
    assert states(milvus, "/describe", {"jobId": job_id}, 5)[2:] == ["Uncommitted"] * 3

    assert milvus.post("/commit", json={"jobId": job_id}).json() == {"code": 0, "data": {}}
    assert states(milvus, "/describe", {"jobId": job_id}, 2) == ["Committing", "Completed"]
    job = sim.job(job_id)
    assert isinstance(job, MilvusJob)
    assert job.committed


def test_milvus_commit_refused_unless_uncommitted(milvus: httpx.Client, sim: Simulator) -> None:
    job_id = sim.add_milvus_job(lifecycle=Lifecycle(steps=5))
    body = milvus.post("/commit", json={"jobId": job_id}).json()
    assert body["code"] == 2100


def test_milvus_abort_fails_the_job(milvus: httpx.Client, sim: Simulator) -> None:
    job_id = sim.add_milvus_job(lifecycle=Lifecycle(steps=10))
    assert milvus.post("/abort", json={"jobId": job_id}).json()["code"] == 0
    data = milvus.post("/describe", json={"jobId": job_id}).json()["data"]
    assert data["state"] == "Failed"
    assert "abort" in data["reason"]
    job = sim.job(job_id)
    assert isinstance(job, MilvusJob)
    assert job.aborted
    done = sim.add_milvus_job(lifecycle=Lifecycle(steps=0))
    assert milvus.post("/abort", json={"jobId": done}).json()["code"] == 2100


def test_milvus_old_server_has_only_get_progress(milvus: httpx.Client, sim: Simulator) -> None:
    sim.milvus_has_describe = False
    sim.milvus_has_commit_abort = False
    job_id = sim.add_milvus_job()
    missing = milvus.post("/describe", json={"jobId": job_id})
    assert (missing.status_code, missing.text) == (404, "404 page not found")
    assert milvus.post("/commit", json={"jobId": job_id}).status_code == 404
    assert milvus.post("/abort", json={"jobId": job_id}).status_code == 404
    assert milvus.post("/get_progress", json={"jobId": job_id}).json()["data"]["state"] == "Pending"
    assert milvus.post("/getProgress", json={"jobId": job_id}).status_code == 404


def test_milvus_legacy_success_code_and_state_spellings(milvus: httpx.Client, sim: Simulator) -> None:
    sim.milvus_success_code = 200
    lifecycle = Lifecycle(steps=4, raw_states=("ImportPending", "ImportStarted", "ImportPersisted", "ImportCompleted"))
    job_id = sim.add_milvus_job(lifecycle=lifecycle)
    bodies = [milvus.post("/describe", json={"jobId": job_id}).json() for _ in range(4)]
    assert {b["code"] for b in bodies} == {200}
    assert [b["data"]["state"] for b in bodies] == [
        "ImportPending",
        "ImportStarted",
        "ImportPersisted",
        "ImportCompleted",
    ]


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/describe", {"jobId": 448761313698322011}, 1801),
        ("/describe", {}, 1802),
        ("/describe", {"jobId": "abc"}, 1100),
        ("/describe", {"jobId": "1"}, 2100),
        ("/create", {"collectionName": "quick_setup", "files": [["a.parquet"]], "options": {"timeout": 300}}, 1801),
        (
            "/create",
            {"collectionName": "quick_setup", "files": [["a.parquet"]], "options": {"auto_commit": False}},
            1801,
        ),
        ("/create", {"collectionName": "quick_setup", "files": "a.parquet"}, 1801),
        ("/create", {"files": [["a.parquet"]]}, 1802),
        ("/create", {"collectionName": "quick_setup"}, 1802),
        ("/create", {"collectionName": "quick_setup", "files": []}, 1100),
        ("/create", {"collectionName": "nope", "files": [["a.parquet"]]}, 100),
        ("/create", {"collectionName": "quick_setup", "dbName": "nodb", "files": [["a.parquet"]]}, 800),
        ("/create", {"collectionName": "quick_setup", "partitionName": "p9", "files": [["a.parquet"]]}, 200),
        ("/create", {"collectionName": "quick_setup", "files": [[f"{i}.parquet"] for i in range(1025)]}, 2100),
        ("/list", {"collectionName": "nope"}, 100),
    ],
)
def test_milvus_wire_errors_come_as_http_200(milvus: httpx.Client, path: str, body: dict[str, Any], code: int) -> None:
    response = milvus.post(path, json=body)
    assert response.status_code == 200
    assert response.json()["code"] == code
    assert response.json()["message"]


#: Create bodies Milvus refuses for their files (proxy import task, importutilv2.GetFileType).
MILVUS_FILE_REFUSALS: list[tuple[str, list[list[str]], int, str]] = [
    ("empty", [], 1100, "import request is empty"),
    ("only-empty-inner-lists", [[], []], 1100, "import request is empty"),
    ("unsupported-type", [["data/rows.txt"]], 2100, "unexpected file type, files=[data/rows.txt]"),
    ("no-extension", [["data/folder/"]], 2100, "unexpected file type"),
    ("two-parquet-in-one-unit", [["a.parquet", "b.parquet"]], 2100, "for Parquet import, accepts only one file"),
    ("two-json-in-one-unit", [["a.json", "b.json"]], 2100, "for JSON import, accepts only one file"),
    ("two-csv-in-one-unit", [["a.csv", "b.csv"]], 2100, "for CSV import, accepts only one file"),
    ("mixed-types", [["id.npy", "vector.parquet"]], 2100, "inconsistency in file types, (id.npy) vs (vector.parquet)"),
]


@pytest.mark.parametrize(("files", "code", "message"), [pytest.param(*r[1:], id=r[0]) for r in MILVUS_FILE_REFUSALS])
def test_milvus_create_refuses_files_as_the_server_does(
    milvus: httpx.Client, sim: Simulator, files: list[list[str]], code: int, message: str
) -> None:
    body = milvus.post("/create", json={"collectionName": "quick_setup", "files": files}).json()
    assert body["code"] == code
    assert message in body["message"]
    assert sim.jobs("milvus") == []


@pytest.mark.parametrize(
    "files",
    [
        [["a.parquet"], ["b.parquet"]],
        [["rows.json"]],
        [["rows.jsonl"]],
        [["rows.csv"]],
        [["id.npy", "vector.npy", "title.npy"]],  # NumPy: one file per field in one unit
        [["a.parquet"], [], ["b.parquet"]],  # empty inner lists are dropped, not refused
    ],
    ids=["parquet-units", "json", "json-lines", "csv", "numpy-unit", "empty-unit-dropped"],
)
def test_milvus_create_accepts_readable_units(milvus: httpx.Client, sim: Simulator, files: list[list[str]]) -> None:
    body = milvus.post("/create", json={"collectionName": "quick_setup", "files": files}).json()
    assert body["code"] == 0, body
    assert len(sim.jobs("milvus")[0].files) == len([unit for unit in files if unit])  # type: ignore[attr-defined]


def test_milvus_backup_restore_names_folders(milvus: httpx.Client) -> None:
    """Backup and L0 imports name binlog folders: Milvus skips the file-type check for them."""
    body = {"collectionName": "quick_setup", "files": [["backup/insert_log/1/", "backup/delta_log/1/"]]}
    assert milvus.post("/create", json=body).json()["code"] == 2100
    for flag in ("backup", "l0_import"):
        assert milvus.post("/create", json={**body, "options": {flag: "True"}}).json()["code"] == 0


def test_simulator_generates_no_docs_example_id() -> None:
    """A test that asks for "a job that does not exist" with an ID from the docs must not find one."""
    # The vendors' recorded answers (tests/protocol/conftest.py) and the examples of their docs and of
    # the API reference (this repository's own docs print the simulator's output, so they do not count).
    recorded = (Path(__file__).resolve().parent / "protocol" / "conftest.py").read_text(encoding="utf-8")
    pattern = re.compile(r"\b[0-9]{17,19}\b|job-[A-Za-z0-9]{15,}|[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}")
    documented = {m.lower() for m in pattern.findall(recorded)} | {
        "448761313698322011",
        "448707763884413158",
        "453240863839750922",
        "job-xxxxxxxxxxxxxxxxxxxxx",
        "7a84b875-6f75-4c7b-b137-0632b62db0bd",
    }
    fresh = Simulator(seed=0)  # the first IDs a new simulator hands out are the ones tests meet
    generated = [fresh.add_milvus_job() for _ in range(50)]
    generated += [fresh.add_zilliz_job() for _ in range(50)] + [fresh.add_egain_job() for _ in range(50)]
    assert not {job_id.lower() for job_id in generated} & documented
    assert generated[0] != "448761313698322011"  # what the first Milvus ID used to be
    assert all(int(job_id) > 2**53 for job_id in generated[:50])


def test_collections_can_be_added_by_api_and_control(
    server: SimulatorServer, milvus: httpx.Client, zilliz: httpx.Client, sim: Simulator
) -> None:
    body = {"collectionName": "books", "dbName": "library", "partitionName": "2026", "files": [["b.parquet"]]}
    assert milvus.post("/create", json=body).json()["code"] == 800
    sim.add_collections("milvus", ["books"], db_name="library", partitions=["2026"])
    assert milvus.post("/create", json=body).json()["code"] == 0
    zbody = cluster(sim, collectionName="books", objectUrls=[["s3://b/b.parquet"]])
    assert zilliz.post("/create", json=zbody).json()["code"] == 100
    added = httpx.post(f"{server.url}/_sim/collections", json={"backend": "zilliz", "collections": ["books"]})
    assert added.status_code == 200
    assert "books" in added.json()["zilliz_collections"]["default"]
    assert zilliz.post("/create", json=zbody).json()["code"] == 0
    refused = httpx.post(f"{server.url}/_sim/collections", json={"backend": "egain", "collections": ["x"]})
    assert refused.status_code == 400


def test_milvus_unknown_job_and_partition_messages(milvus: httpx.Client) -> None:
    assert "import job does not exist" in milvus.post("/describe", json={"jobId": "42"}).json()["message"]
    body = {"collectionName": "quick_setup", "partitionName": "p9", "files": [["a.parquet"]]}
    assert "partition not found" in milvus.post("/create", json=body).json()["message"]


def test_milvus_non_json_body_is_1801(milvus: httpx.Client) -> None:
    response = milvus.post("/list", content=b"", headers={"Content-Type": "application/json"})
    assert response.json()["code"] == 1801


def test_milvus_auth(server: SimulatorServer, sim: Simulator) -> None:
    url = server.milvus_url + MILVUS + "/list"
    missing = httpx.post(url, json={})
    assert (missing.status_code, missing.json()["code"]) == (401, 1800)
    wrong = httpx.post(url, json={}, headers={"Authorization": "Bearer root:wrong"})
    assert wrong.status_code == 401
    assert httpx.post(url, json={}, headers={"Authorization": "Bearer milvus-api-key"}).json()["code"] == 0
    sim.milvus_auth_required = False
    assert httpx.post(url, json={}).json()["code"] == 0


def test_milvus_rbac_needs_db_name_header(server: SimulatorServer, sim: Simulator) -> None:
    sim.milvus_collections["restricted"] = {"quick_setup"}
    sim.milvus_restricted_dbs = {"restricted"}
    url = server.milvus_url + MILVUS + "/list"
    auth = {"Authorization": "Bearer root:Milvus"}
    denied = httpx.post(url, json={"dbName": "restricted"}, headers=auth)
    assert denied.status_code == 403
    allowed = httpx.post(url, json={"dbName": "restricted"}, headers={**auth, "DB-Name": "restricted"})
    assert allowed.json()["code"] == 0


def test_milvus_job_limit_is_a_2100(milvus: httpx.Client, sim: Simulator) -> None:
    sim.milvus_job_limit = 1
    sim.add_milvus_job(lifecycle=Lifecycle(steps=10))
    body = milvus.post("/create", json={"collectionName": "quick_setup", "files": [["a.parquet"]]}).json()
    assert body["code"] == 2100
    assert "number of jobs has reached the limit, please try again later" in body["message"]


def test_milvus_finished_jobs_vanish_after_retention(milvus: httpx.Client, sim: Simulator) -> None:
    sim.milvus_retention_s = 0
    job_id = sim.add_milvus_job(lifecycle=Lifecycle(steps=1))
    assert milvus.post("/describe", json={"jobId": job_id}).json()["data"]["state"] == "Completed"
    gone = milvus.post("/describe", json={"jobId": job_id})
    assert gone.status_code == 200
    assert gone.json()["code"] == 2100
    assert "import job does not exist" in gone.json()["message"]
    with pytest.raises(KeyError):
        sim.job(job_id)


def test_milvus_list_filters_and_advances_every_listed_job(milvus: httpx.Client, sim: Simulator) -> None:
    a = sim.add_milvus_job("quick_setup", lifecycle=Lifecycle(steps=2))
    b = sim.add_milvus_job("docs", lifecycle=Lifecycle(steps=2))
    listed = milvus.post("/list", json={"collectionName": "quick_setup"}).json()["data"]["records"]
    assert [r["jobId"] for r in listed] == [a]
    assert sim.job(a).reads == 1
    assert sim.job(b).reads == 0
    everything = milvus.post("/list", json={}).json()["data"]["records"]
    assert [(r["jobId"], r["state"]) for r in everything] == [(a, "Completed"), (b, "Pending")]


# -- Zilliz -----------------------------------------------------------------------------------


def test_zilliz_create_and_get_progress(zilliz: httpx.Client, sim: Simulator) -> None:
    body = cluster(
        sim,
        collectionName="medium_articles",
        objectUrls=[["s3://bucket/a.parquet"]],
        accessKey="AK",
        secretKey="SK",
        token="STS",
    )
    job_id = zilliz.post("/create", json=body).json()["data"]["jobId"]
    assert job_id.startswith("job-")
    assert len(job_id) == 25
    job = sim.job(job_id)
    assert isinstance(job, ZillizJob)
    assert job.request_body is not None
    assert (job.request_body["accessKey"], job.request_body["secretKey"], job.request_body["token"]) == (
        "AK",
        "SK",
        "STS",
    )
    logged = sim.requests[-1].body
    assert (logged["accessKey"], logged["secretKey"], logged["token"]) == ("***", "***", "***")

    progress = [zilliz.post("/getProgress", json=cluster(sim, jobId=job_id)).json()["data"] for _ in range(3)]
    assert [p["state"] for p in progress] == ["Pending", "Importing", "Completed"]
    done = progress[-1]
    assert (done["fileName"], done["totalRows"], done["reason"]) == ("s3://bucket/a.parquet", 1000, "")
    assert done["details"][0]["importedRows"] == 1000
    assert done["completeTime"]


def test_zilliz_describe_alias_and_in_progress_spelling(zilliz: httpx.Client, sim: Simulator) -> None:
    sim.zilliz_running_state = "InProgress"
    job_id = sim.add_zilliz_job(lifecycle=Lifecycle(steps=3))
    assert states(zilliz, "/describe", cluster(sim, jobId=job_id), 2) == ["Pending", "InProgress"]


def test_zilliz_volume_source_and_failed_job(zilliz: httpx.Client, sim: Simulator) -> None:
    sim.queue_lifecycle("zilliz", Lifecycle(outcome="failed", steps=1, reason="no such key"))
    body = cluster(sim, collectionName="docs", volumeName="vol", dataPaths=[["folder/1.parquet"]])
    job_id = zilliz.post("/create", json=body).json()["data"]["jobId"]
    data = zilliz.post("/getProgress", json=cluster(sim, jobId=job_id)).json()["data"]
    assert (data["state"], data["reason"]) == ("Failed", "no such key")


ZILLIZ_TARGET_REFUSALS: list[tuple[str, dict[str, Any], int, str]] = [
    ("unknown-collection", {"collectionName": "nope"}, 100, "collection not found"),
    ("unknown-database", {"collectionName": "docs", "dbName": "nodb"}, 800, "database not found"),
    ("unknown-partition", {"collectionName": "docs", "partitionName": "p9"}, 200, "partition not found"),
    ("empty-files", {"collectionName": "docs", "objectUrls": []}, 1100, "import request is empty"),
    ("two-parquet", {"collectionName": "docs", "objectUrls": [["s3://b/1.parquet", "s3://b/2.parquet"]]}, 2100,
     "for Parquet import, accepts only one file"),
    ("unsupported-type", {"collectionName": "docs", "objectUrls": [["s3://b/rows.xml"]]}, 2100,
     "unexpected file type"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "code", "message"), [pytest.param(*r[1:], id=r[0]) for r in ZILLIZ_TARGET_REFUSALS])
def test_zilliz_create_refuses_what_the_cluster_would(
    zilliz: httpx.Client, sim: Simulator, body: dict[str, Any], code: int, message: str
) -> None:
    request = {"objectUrls": [["s3://b/1.parquet"]], **body}
    answer = zilliz.post("/create", json=cluster(sim, **request)).json()
    assert (answer["code"], message in answer["message"]) == (code, True), answer
    assert sim.jobs("zilliz") == []


#: Every file source Zilliz Cloud documents, as the vendor SDK sends it (all fields, unused ones empty).
ZILLIZ_SOURCES: list[tuple[str, dict[str, Any]]] = [
    ("objectUrls", {"objectUrls": [["s3://b/1.parquet"], ["s3://b/folder/"]]}),
    ("deprecated-objectUrl", {"objectUrl": "s3://b/1.parquet"}),
    ("volume", {"volumeName": "vol", "dataPaths": [["folder/1.parquet"]]}),
    ("sdk-shape-objectUrls", {"objectUrls": [["s3://b/1.parquet"]], "objectUrl": "", "files": None,
                              "volumeName": "", "dataPaths": None, "projectId": "", "regionId": "",
                              "accessKey": "", "secretKey": "", "token": "", "dbName": "", "partitionName": ""}),
    ("sdk-shape-objectUrl", {"objectUrl": "s3://b/1.parquet", "objectUrls": None, "files": None,
                             "volumeName": "", "dataPaths": None, "dbName": "", "partitionName": ""}),
    ("sdk-shape-volume", {"volumeName": "vol", "dataPaths": [["f/1.parquet"]], "objectUrl": "", "objectUrls": None,
                          "files": None, "dbName": "", "partitionName": ""}),
]  # fmt: skip


@pytest.mark.parametrize("source", [pytest.param(r[1], id=r[0]) for r in ZILLIZ_SOURCES])
def test_zilliz_create_accepts_every_documented_source(
    zilliz: httpx.Client, sim: Simulator, source: dict[str, Any]
) -> None:
    answer = zilliz.post("/create", json=cluster(sim, collectionName="docs", **source)).json()
    assert answer["code"] == 0, answer
    assert sim.job(answer["data"]["jobId"]).collection_name == "docs"  # type: ignore[attr-defined]


def test_zilliz_list_pages(zilliz: httpx.Client, sim: Simulator) -> None:
    ids = [sim.add_zilliz_job() for _ in range(25)]
    pages = [zilliz.post("/list", json=cluster(sim, pageSize=10, currentPage=p)).json()["data"] for p in (1, 2, 3, 4)]
    assert [len(p["records"]) for p in pages] == [10, 10, 5, 0]
    assert [r["jobId"] for p in pages for r in p["records"]] == ids
    assert {p["count"] for p in pages} == {25}
    assert set(pages[0]["records"][0]) == {"collectionName", "jobId", "state"}
    sim.zilliz_count_is_total = False
    page = zilliz.post("/list", json=cluster(sim, pageSize=10, currentPage=3)).json()["data"]
    assert (page["count"], page["pageSize"], page["currentPage"]) == (5, 10, 3)
    default = zilliz.post("/list", json=cluster(sim)).json()["data"]
    assert (default["pageSize"], default["currentPage"]) == (10, 1)


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/list", {"pageSize": 101}, 96008),
        ("/list", {"currentPage": 0}, 96009),
        ("/getProgress", {"jobId": "job-doesnotexist"}, 2100),
        ("/getProgress", {}, 1802),
        ("/create", {"collectionName": "c"}, 1802),
        ("/create", {"objectUrls": [["a"]]}, 1802),
    ],
)
def test_zilliz_errors(zilliz: httpx.Client, sim: Simulator, path: str, body: dict[str, Any], code: int) -> None:
    response = zilliz.post(path, json=cluster(sim, **body))
    assert (response.status_code, response.json()["code"]) == (200, code)


def test_zilliz_cluster_id_required_and_known(zilliz: httpx.Client) -> None:
    assert zilliz.post("/list", json={}).json()["code"] == 1802
    assert zilliz.post("/list", json={"clusterId": "in01-unknown"}).json()["code"] == 96017


def test_zilliz_bad_api_key(server: SimulatorServer, sim: Simulator) -> None:
    url = server.zilliz_url + ZILLIZ + "/list"
    bad = httpx.post(url, json=cluster(sim), headers={"Authorization": "Bearer nope"})
    assert (bad.status_code, bad.json()) == (200, {"code": 21119, "message": "The apikey is illegal."})
    sim.zilliz_auth_error_status = 401
    assert httpx.post(url, json=cluster(sim)).status_code == 401


def test_zilliz_rate_limit_per_endpoint(zilliz: httpx.Client, sim: Simulator) -> None:
    sim.zilliz_rate_limit = 3
    codes = [zilliz.post("/list", json=cluster(sim)).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert zilliz.post("/list", json=cluster(sim)).json()["code"] == 429
    job_id = sim.add_zilliz_job()
    assert zilliz.post("/getProgress", json=cluster(sim, jobId=job_id)).status_code == 200
    sim.zilliz_rate_limit = None
    assert zilliz.post("/list", json=cluster(sim)).status_code == 200


# -- eGain ------------------------------------------------------------------------------------


def test_egain_token_endpoint(server: SimulatorServer, sim: Simulator) -> None:
    good = egain_token(server)
    assert good.status_code == 200
    assert good.json()["token_type"] == "Bearer"
    assert good.json()["expires_in"] == 3600
    assert egain_token(server, client_secret="wrong").status_code == 401
    assert egain_token(server, client_secret="wrong").json()["error"] == "invalid_client"
    assert egain_token(server, grant_type="password").json()["error"] == "unsupported_grant_type"
    as_json = httpx.post(server.egain_token_url, json={"grant_type": "client_credentials"})
    assert as_json.status_code == 400
    basic = httpx.post(
        server.egain_token_url, data={"grant_type": "client_credentials"}, auth=("egain-client", "egain-secret")
    )
    assert basic.status_code == 200
    assert sim.counters()["egain.token"] == 6
    assert all(r.body.get("client_secret") in (None, "***") for r in sim.requests)


def test_egain_start_then_status_walks_to_successful(egain: httpx.Client, sim: Simulator) -> None:
    started = egain.post(EGAIN, json={"dataSource": S3_SOURCE, "operation": "import"})
    assert (started.status_code, started.content) == (202, b"")
    location = started.headers["location"]
    assert location.startswith("knowledge/contentmgr/v4/import/content/")
    assert location.endswith("/status")
    job_id = location.split("/")[-2]
    bodies = [egain.get(f"{EGAIN}/{job_id.lower()}/status").json() for _ in range(3)]
    assert [b["status"] for b in bodies] == ["Scheduled", "In Progress", "Successful"]
    assert bodies[1]["currentOperation"]
    assert bodies[1]["estimatedCompletion"]
    done = bodies[2]
    assert done["jobType"] == "Import"
    assert done["progress"] == {"processed": 1000, "total": 1000, "percentage": 100}
    assert done["results"] == {"successful": 1000, "warnings": 0, "errors": 0}
    assert done["logFileLocation"] == f"s3://mybucket/logs/import-logs-{job_id}.txt"
    assert done["completionTime"].endswith("Z")
    job = sim.job(job_id)
    assert isinstance(job, EgainJob)
    assert job.request_body is not None
    assert job.request_body["dataSource"]["credentials"]["secretAccessKey"] == "s3-secret"


def test_egain_validation_with_findings_and_legacy_quirks(egain: httpx.Client, sim: Simulator) -> None:
    sim.egain_location_style = "legacy"
    sim.egain_results_spelling = "succesfull"
    sim.queue_lifecycle("egain", Lifecycle(steps=1, total_rows=5000, errors=5, warnings=10))
    started = egain.post(EGAIN + "/validate", json={"dataSource": S3_SOURCE})
    location = started.headers["location"]
    assert location.startswith("/knowledge/contentmgr/v4/import/content/")
    job_id = location.rsplit("/", 1)[-1]
    body = egain.get(f"{EGAIN}/{job_id}/status").json()
    assert (body["status"], body["jobType"]) == ("Successful", "Validation")
    assert body["results"] == {"succesfull": 4985, "warnings": 10, "errors": 5}


def test_egain_failed_and_cancelled_outcomes(egain: httpx.Client, sim: Simulator) -> None:
    failed = sim.add_egain_job(lifecycle=Lifecycle(outcome="failed", steps=1, reason="db timeout", retryable=True))
    body = egain.get(f"{EGAIN}/{failed}/status").json()
    assert (body["status"], body["error"], body["retryable"]) == ("Failed", "db timeout", True)
    assert body["failureTime"]
    gone = sim.add_egain_job(lifecycle=Lifecycle(outcome="cancelled", steps=2))
    assert [egain.get(f"{EGAIN}/{gone}/status").json()["status"] for _ in range(2)] == ["Scheduled", "Cancelled"]
    legacy = sim.add_egain_job(lifecycle=Lifecycle(steps=2, raw_states=("Scheduled", "In Progress", "Completed")))
    assert [egain.get(f"{EGAIN}/{legacy}/status").json()["status"] for _ in range(2)] == ["Scheduled", "Completed"]


def test_egain_cancel(egain: httpx.Client, sim: Simulator) -> None:
    job_id = sim.add_egain_job(lifecycle=Lifecycle(steps=10))
    egain.get(f"{EGAIN}/{job_id}/status")
    cancelled = egain.post(f"{EGAIN}/{job_id}/cancel")
    assert (cancelled.status_code, cancelled.content) == (204, b"")
    job = sim.job(job_id)
    assert isinstance(job, EgainJob)
    assert job.cancelled
    assert egain.get(f"{EGAIN}/{job_id}/status").json()["status"] == "Cancelled"
    again = egain.post(f"{EGAIN}/{job_id}/cancel")
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("job_id", "status", "code"),
    [("not-a-uuid", 400, "400-152"), ("7A84B875-6F75-4C7B-B137-0632B62DB0BD", 404, "404-101")],
)
def test_egain_status_errors(egain: httpx.Client, job_id: str, status: int, code: str) -> None:
    response = egain.get(f"{EGAIN}/{job_id}/status")
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert set(response.json()) == {"code", "developerMessage", "details", "userMessage"}


def test_egain_schedule_time(egain: httpx.Client) -> None:
    def start(date: str) -> httpx.Response:
        return egain.post(EGAIN, json={"dataSource": S3_SOURCE, "operation": "import", "scheduleTime": {"date": date}})

    soon = datetime.now(timezone.utc) + timedelta(days=1)
    assert start(soon.strftime("%Y-%m-%dT%H:%M:%S.000Z")).status_code == 202
    assert start(soon.strftime("%Y-%m-%dT%H:%M:%SZ")).json()["code"] == "400-152"
    later = datetime.now(timezone.utc) + timedelta(days=8)
    assert start(later.strftime("%Y-%m-%dT%H:%M:%S.000Z")).json()["code"] == "400-152"


@pytest.mark.parametrize(
    "body",
    [
        {"operation": "import"},
        {"dataSource": {**S3_SOURCE, "type": "FTP"}, "operation": "import"},
        {"dataSource": {**S3_SOURCE, "path": ""}, "operation": "import"},
        {"dataSource": {**S3_SOURCE, "region": 7}, "operation": "import"},
        {"dataSource": {**S3_SOURCE, "credentials": "key:secret"}, "operation": "import"},
        {"dataSource": {**S3_SOURCE, "credentials": {"accessKeyId": "a"}}, "operation": "import"},
        {"dataSource": {**S3_SOURCE, "credentials": {"password": "p"}}, "operation": "import"},
        {"dataSource": S3_SOURCE, "operation": "merge"},
        {"dataSource": S3_SOURCE},
    ],
    ids=["no-source", "bad-type", "no-path", "region-not-text", "credentials-not-object", "half-s3-pair",
         "half-share-pair", "bad-operation", "no-operation"],
)  # fmt: skip
def test_egain_start_body_checks(egain: httpx.Client, body: dict[str, Any]) -> None:
    response = egain.post(EGAIN, json=body)
    assert (response.status_code, response.json()["code"]) == (400, "400-152")
    assert all(set(detail) <= {"key", "value"} and "key" in detail for detail in response.json()["details"])


@pytest.mark.parametrize("path", [EGAIN, EGAIN + "/validate"], ids=["import", "validate"])
@pytest.mark.parametrize(
    "source",
    [
        {"type": "AWS S3 bucket", "path": "s3://open-bucket/kb"},
        {"type": "AWS S3 bucket", "path": "s3://open-bucket/kb", "region": "eu-west-1"},
        {"type": "Shared file path", "path": "/mnt/share/kb"},
    ],
    ids=["s3-no-region-no-credentials", "s3-no-credentials", "share-no-credentials"],
)
def test_egain_region_and_credentials_are_optional(
    egain: httpx.Client, sim: Simulator, path: str, source: dict[str, Any]
) -> None:
    body: dict[str, Any] = {"dataSource": source}
    if path == EGAIN:
        body["operation"] = "import"
    response = egain.post(path, json=body)
    assert response.status_code == 202, response.text
    assert len(sim.jobs("egain")) == 1


def test_egain_errors_have_the_spec_shape(server: SimulatorServer, egain: httpx.Client) -> None:
    """WSErrorCommon: code, developerMessage, details [{key, value}], userMessage, on every error."""
    unknown = "11111111-2222-4333-8444-555555555555"
    answers = [
        egain.get(f"{EGAIN}/{unknown}/status"),
        egain.post(f"{EGAIN}/{unknown}/cancel"),
        egain.get(f"{EGAIN}/not-a-uuid/status"),
        egain.post(EGAIN, json={"dataSource": {}}),
        egain.get(EGAIN),
        egain.get("/no/such/path"),
        httpx.get(f"{server.egain_url}{EGAIN_BASE}{EGAIN}/{unknown}/status"),
    ]
    assert [a.status_code for a in answers] == [404, 404, 400, 400, 405, 404, 401]
    for answer in answers:
        body = answer.json()
        assert set(body) == {"code", "developerMessage", "details", "userMessage"}
        assert re.fullmatch(r"[0-9]{3}-[0-9]+", body["code"])
        assert body["code"][:3] == str(answer.status_code)
        assert all(isinstance(d.get("key"), str) and set(d) <= {"key", "value"} for d in body["details"])


def test_egain_legacy_credential_names_accepted(egain: httpx.Client) -> None:
    source = {**S3_SOURCE, "credentials": {"accessKey": "a", "secretKey": "b"}}
    assert egain.post(EGAIN, json={"dataSource": source, "operation": "reimport"}).status_code == 202


def test_egain_auth_failures(server: SimulatorServer, sim: Simulator) -> None:
    job_id = sim.add_egain_job()
    url = f"{server.egain_url}{EGAIN_BASE}{EGAIN}/{job_id}/status"
    missing = httpx.get(url)
    assert (missing.status_code, missing.json()["code"]) == (401, "401-101")

    sim.egain_token_ttl = 0  # issued already expired: no sleeping needed
    stale = egain_token(server).json()["access_token"]
    expired = httpx.get(url, headers={"Authorization": f"Bearer {stale}"})
    assert (expired.status_code, expired.json()["code"]) == (401, "401-101")

    sim.egain_token_ttl = 3600
    fresh = egain_token(server).json()["access_token"]
    assert httpx.get(url, headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    sim.expire_egain_tokens()
    assert httpx.get(url, headers={"Authorization": f"Bearer {fresh}"}).status_code == 401

    unscoped = egain_token(server, scope="something.else").json()["access_token"]
    denied = httpx.get(url, headers={"Authorization": f"Bearer {unscoped}"})
    assert (denied.status_code, denied.json()["code"]) == (403, "403-197")


# -- faults -----------------------------------------------------------------------------------


def test_fault_status_with_retry_after(milvus: httpx.Client, sim: Simulator) -> None:
    sim.inject("milvus", Fault("status", status=503, retry_after="2"), count=2)
    for _ in range(2):
        response = milvus.post("/list", json={})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "2"
        assert response.json()["code"] == 503
    assert milvus.post("/list", json={}).status_code == 200


def test_fault_html_page(milvus: httpx.Client, sim: Simulator) -> None:
    sim.inject("milvus", Fault("html"))
    response = milvus.post("/list", json={})
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "<html>" in response.text


def test_fault_drop_after_the_server_did_the_work(milvus: httpx.Client, sim: Simulator) -> None:
    sim.inject("milvus", Fault("drop"), endpoint="create")
    with pytest.raises(httpx.RemoteProtocolError):
        milvus.post("/create", json={"collectionName": "quick_setup", "files": [["a.parquet"]]})
    assert len(sim.jobs("milvus")) == 1


def test_fault_slow_times_out_the_client(server: SimulatorServer, sim: Simulator) -> None:
    sim.inject("egain_token", Fault("slow", delay=1.0))
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(server.egain_token_url, data={"grant_type": "client_credentials"}, timeout=0.2)


@pytest.mark.parametrize("kind", ["truncated", "non_json", "empty"])
def test_faults_that_are_not_json(milvus: httpx.Client, sim: Simulator, kind: str) -> None:
    job_id = sim.add_milvus_job()
    sim.inject("milvus", Fault(kind), endpoint="describe")
    response = milvus.post("/describe", json={"jobId": job_id})
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_fault_wrong_shape_and_error200(zilliz: httpx.Client, sim: Simulator) -> None:
    sim.inject("zilliz", Fault("wrong_shape"))
    sim.inject("zilliz", Fault("error200", code=65535, message="boom"))
    assert zilliz.post("/list", json=cluster(sim)).json() == {"code": 0, "data": [1, 2, 3]}
    assert zilliz.post("/list", json=cluster(sim)).json() == {"code": 65535, "message": "boom"}


def test_fault_oversized_streams_its_size(egain: httpx.Client, sim: Simulator) -> None:
    job_id = sim.add_egain_job()
    sim.inject("egain", Fault("oversized", size=300_000), endpoint="status")
    response = egain.get(f"{EGAIN}/{job_id}/status")
    assert len(response.content) == 300_000
    assert response.content.startswith(b'{"code":0,"data":{"records":[')
    assert "content-length" not in response.headers


def test_faults_match_endpoint_in_order(milvus: httpx.Client, sim: Simulator) -> None:
    job_id = sim.add_milvus_job(lifecycle=Lifecycle(steps=2))
    sim.inject("milvus", Fault("status", status=500), endpoint="describe")
    sim.inject("milvus", Fault("status", status=429, retry_after="1"), endpoint="describe")
    assert milvus.post("/list", json={}).status_code == 200
    assert [milvus.post("/describe", json={"jobId": job_id}).status_code for _ in range(3)] == [500, 429, 200]
    # Replaced answers leave the job untouched: this read was its first of two.
    assert sim.job(job_id).reads == 2
    assert sim.counters()["milvus.describe"] == 3


# -- counters, request log --------------------------------------------------------------------


def test_counters_and_request_log(milvus: httpx.Client, sim: Simulator) -> None:
    job_id = sim.add_milvus_job()
    sim.inject("milvus", Fault("status"))
    milvus.post("/describe", json={"jobId": job_id})
    milvus.post("/describe", json={"jobId": job_id})
    milvus.post("/list", json={})
    counters = sim.counters()
    assert (counters["milvus.describe"], counters["milvus.list"], counters["total"]) == (2, 1, 3)
    backend, endpoint, method, path, headers, body = sim.requests[0]
    assert (backend, endpoint, method, path) == ("milvus", "describe", "POST", MILVUS + "/describe")
    assert "authorization" not in headers
    assert headers["db-name"] == "default"
    assert body == {"jobId": job_id}


# -- control API ------------------------------------------------------------------------------


def test_control_api(server: SimulatorServer, sim: Simulator, milvus: httpx.Client) -> None:
    with httpx.Client(base_url=server.url + "/_sim", timeout=5) as control:
        assert control.get("/health").json()["status"] == "ok"
        made = control.post("/jobs", json={"backend": "milvus", "count": 200, "lifecycle": {"steps": 1}})
        ids = made.json()["job_ids"]
        assert len(ids) == 200
        assert len(set(ids)) == 200
        egain_ids = control.post("/jobs", json={"backend": "egain", "job_type": "Validation"}).json()["job_ids"]
        assert control.get(f"/jobs/{egain_ids[0]}").json()["job_type"] == "Validation"

        assert control.post("/config", json={"milvus_success_code": 200}).json()["milvus_success_code"] == 200
        assert control.post("/config", json={"no_such_switch": 1}).status_code == 400
        assert control.post("/config", json={"milvus_restricted_dbs": ["x"]}).status_code == 200
        assert sim.milvus_restricted_dbs == {"x"}
        fault = {"backend": "milvus", "fault": {"kind": "status", "status": 500}, "endpoint": "list"}
        assert control.post("/faults", json=fault).json() == {"queued": 1}
        assert control.post("/faults", json={"backend": "milvus", "fault": {"kind": "nope"}}).status_code == 400

        assert milvus.post("/list", json={}).status_code == 500
        records = milvus.post("/list", json={}).json()
        assert records["code"] == 200
        assert {r["state"] for r in records["data"]["records"]} == {"Completed"}
        assert control.get("/counters").json()["milvus.list"] == 2
        assert control.get("/requests", params={"limit": 1}).json()[0]["endpoint"] == "list"

        assert control.post("/reset").status_code == 200
        assert control.get("/health").json()["jobs"] == 0
        assert sim.milvus_success_code == 0
        assert control.get("/counters").json() == {"total": 0}


# -- time-driven lifecycles, mock transport, server, CLI --------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_time_driven_lifecycle_through_the_mock_transport() -> None:
    clock = FakeClock()
    sim = Simulator(clock=clock, seed=1)
    job_id = sim.add_zilliz_job(lifecycle=Lifecycle(advance="time", duration=10.0))
    body = {"clusterId": sim.zilliz_cluster_id, "jobId": job_id}
    headers = {"Authorization": "Bearer zilliz-api-key"}
    with httpx.Client(transport=mock_transport(sim), base_url="http://sim/zilliz", headers=headers) as client:

        def state() -> tuple[str, int]:
            data = client.post(ZILLIZ + "/getProgress", json=body).json()["data"]
            return data["state"], data["progress"]

        assert state() == ("Pending", 10)
        clock.now += 5
        assert state() == ("Importing", 50)
        clock.now += 5
        assert state() == ("Completed", 100)


def test_mock_transport_acts_out_faults() -> None:
    sim = Simulator()
    sim.milvus_auth_required = False
    with httpx.Client(transport=mock_transport(sim), base_url="http://sim", timeout=0.5) as client:
        sim.inject("milvus", Fault("drop"))
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(MILVUS + "/list", json={})
        sim.inject("milvus", Fault("slow", delay=5))
        with pytest.raises(httpx.ReadTimeout):
            client.post(MILVUS + "/list", json={})
        assert client.post(MILVUS + "/list", json={}).json() == {"code": 0, "data": {"records": []}}


def test_egain_token_expiry_with_a_test_clock() -> None:
    clock = FakeClock()
    sim = Simulator(clock=clock)
    sim.egain_token_ttl = 60
    job_id = sim.add_egain_job()
    with httpx.Client(transport=mock_transport(sim), base_url="http://sim/egain") as client:
        form = {"grant_type": "client_credentials", "client_id": "egain-client", "client_secret": "egain-secret"}
        token = client.post(f"/system/auth/{sim.egain_tenant}/oauth2/token", data=form).json()["access_token"]
        status = f"{EGAIN_BASE}{EGAIN}/{job_id}/status"
        assert client.get(status, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        clock.now += 61
        assert client.get(status, headers={"Authorization": f"Bearer {token}"}).json()["code"] == "401-101"


def test_server_lifecycle_and_urls() -> None:
    with SimulatorServer() as server:
        assert server.port > 0
        assert server.zilliz_url == server.url + "/zilliz"
        assert server.egain_url == server.url + "/egain"
        assert server.egain_token_url.endswith("/egain/system/auth/SIMTENANT-U/oauth2/token")
        assert httpx.get(server.url + "/_sim/health").status_code == 200
    with pytest.raises(RuntimeError):
        _ = server.url
    with pytest.raises(ValueError, match="loopback"):
        SimulatorServer(host="192.0.2.10")


def test_lifecycle_checks_outcome_per_api(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="outcome"):
        Lifecycle(outcome="exploded")
    with pytest.raises(ValueError, match="does not exist on milvus"):
        sim.add_milvus_job(lifecycle=Lifecycle(outcome="cancelled"))
    with pytest.raises(ValueError, match="does not exist on egain"):
        sim.add_egain_job(lifecycle=Lifecycle(outcome="uncommitted"))


def test_cli_serves_until_sigterm() -> None:
    command = [sys.executable, "-m", "airflow_import_jobs.testing.simulator", "--port", "0", "--json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert httpx.get(info["control"] + "/health", timeout=5).json()["status"] == "ok"
        assert info["egain"]["client_id"] == "egain-client"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_cli_refuses_remote_host() -> None:
    command = [sys.executable, "-m", "airflow_import_jobs.testing.simulator", "--host", "192.0.2.10"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert "--allow-remote" in result.stderr


def test_reset_while_a_slow_request_waits_leaves_new_state_alone() -> None:
    sim = Simulator()
    sim.milvus_auth_required = False
    sim.inject("milvus", Fault("slow", delay=30))
    body = json.dumps({"collectionName": "docs", "files": [["a.parquet"]]}).encode()
    waiting = dispatch.begin(sim, SimRequest("POST", MILVUS + "/create", {}, body))
    sim.reset()  # the next test starts while that request still sleeps
    reply = dispatch.finish(sim, waiting)
    assert reply.status == 503
    assert sim.jobs() == []
