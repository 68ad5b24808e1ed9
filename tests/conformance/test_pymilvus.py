"""pymilvus's import REST functions against the simulated Milvus and Zilliz Cloud, used as its docs
show them (``bulk_import`` docstring examples 1 to 3, ``get_import_progress``, ``list_import_jobs``).

pymilvus answers every refusal with one type, ``MilvusException``, whose message carries the
server's code and message; the tests check both. pymilvus has no REST function to abort an import
(nor does Zilliz Cloud have the endpoint), so cancellation is covered by the eGain SDK only.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from pymilvus.exceptions import MilvusException

from airflow_import_jobs.testing import Simulator, SimulatorServer

from .conftest import until_terminal

MILVUS_TOKEN = "root:Milvus"
TERMINAL = ("Completed", "Failed")


def _data(response: Any) -> dict[str, Any]:
    body = response.json()
    assert body["code"] == 0, body
    data: dict[str, Any] = body["data"]
    return data


# -- Milvus ----------------------------------------------------------------------------------


def test_milvus_create_progress_list(bulk_import: ModuleType, server: SimulatorServer) -> None:
    created = bulk_import.bulk_import(
        url=server.milvus_url,
        api_key=MILVUS_TOKEN,
        db_name="",
        collection_name="quick_setup",
        partition_name="",
        files=[["parquet-folder/1.parquet"], ["parquet-folder-2/1.parquet"]],
    )
    job_id = _data(created)["jobId"]
    assert isinstance(job_id, str)
    assert int(job_id) > 2**53

    def progress() -> dict[str, Any]:
        return _data(bulk_import.get_import_progress(url=server.milvus_url, job_id=job_id, api_key=MILVUS_TOKEN))

    done = until_terminal(progress, lambda data: data["state"] in TERMINAL)
    assert (done["state"], done["progress"], done["importedRows"]) == ("Completed", 100, done["totalRows"])
    assert [d["fileName"] for d in done["details"]] == ["parquet-folder/1.parquet", "parquet-folder-2/1.parquet"]

    listed = _data(bulk_import.list_import_jobs(url=server.milvus_url, api_key=MILVUS_TOKEN))
    assert [(r["jobId"], r["state"]) for r in listed["records"]] == [(job_id, "Completed")]
    only = bulk_import.list_import_jobs(url=server.milvus_url, api_key=MILVUS_TOKEN, collection_name="docs")
    assert _data(only)["records"] == []


def test_milvus_numpy_unit_and_database_header(bulk_import: ModuleType, server: SimulatorServer) -> None:
    server.sim.add_collections("milvus", ["vectors"], db_name="analytics")
    created = bulk_import.bulk_import(
        url=server.milvus_url,
        api_key=MILVUS_TOKEN,
        db_name="analytics",
        collection_name="vectors",
        files=[["numpy/id.npy", "numpy/vector.npy"]],
        options={"timeout": "300s"},
    )
    job_id = _data(created)["jobId"]
    assert server.sim.job(job_id).db_name == "analytics"  # type: ignore[attr-defined]
    listed = _data(bulk_import.list_import_jobs(url=server.milvus_url, api_key=MILVUS_TOKEN, db_name="analytics"))
    assert [r["jobId"] for r in listed["records"]] == [job_id]


#: Every create Milvus refuses before it makes a job, with the code and message the server sends.
MILVUS_REFUSALS: list[tuple[str, dict[str, Any], int, str]] = [
    ("unknown-database", {"db_name": "nodb"}, 800, "database not found"),
    ("unknown-collection", {"collection_name": "nope"}, 100, "collection not found"),
    ("unknown-partition", {"partition_name": "p9"}, 200, "partition not found"),
    ("empty-files", {"files": []}, 1100, "import request is empty"),
    ("no-files", {"files": None}, 1802, "Files"),
    ("unsupported-type", {"files": [["rows.txt"]]}, 2100, "unexpected file type"),
    ("two-parquet-in-one-unit", {"files": [["1.parquet", "2.parquet"]]}, 2100, "accepts only one file"),
    ("two-json-in-one-unit", {"files": [["1.json", "2.json"]]}, 2100, "accepts only one file"),
    ("options-not-strings", {"options": {"timeout": 300}}, 1801, "options"),
]


@pytest.mark.parametrize(("change", "code", "message"), [pytest.param(*r[1:], id=r[0]) for r in MILVUS_REFUSALS])
def test_milvus_refusals(
    bulk_import: ModuleType, server: SimulatorServer, change: dict[str, Any], code: int, message: str
) -> None:
    arguments: dict[str, Any] = {"collection_name": "quick_setup", "files": [["1.parquet"]], **change}
    with pytest.raises(MilvusException) as caught:
        bulk_import.bulk_import(url=server.milvus_url, api_key=MILVUS_TOKEN, **arguments)
    assert f"code: {code}," in str(caught.value)
    assert message in str(caught.value)
    assert server.sim.jobs("milvus") == []


def test_milvus_unknown_job_and_docs_example_id(bulk_import: ModuleType) -> None:
    # A new simulator (its first IDs are the ones a test meets) with a job, yet the docs' example ID
    # is not that job.
    with SimulatorServer(Simulator()) as fresh:
        created = bulk_import.bulk_import(
            url=fresh.milvus_url, api_key=MILVUS_TOKEN, collection_name="docs", files=[["a.json"]]
        )
        assert _data(created)["jobId"] != "448761313698322011"
        for job_id in ("448761313698322011", "448707763884413158", "1"):
            with pytest.raises(MilvusException) as caught:
                bulk_import.get_import_progress(url=fresh.milvus_url, job_id=job_id, api_key=MILVUS_TOKEN)
            assert "code: 2100," in str(caught.value)
            assert "import job does not exist" in str(caught.value)


def test_milvus_bad_credentials(bulk_import: ModuleType, server: SimulatorServer) -> None:
    with pytest.raises(MilvusException) as caught:
        bulk_import.list_import_jobs(url=server.milvus_url, api_key="root:wrong")
    assert "status code: 401" in str(caught.value)


# -- Zilliz Cloud ----------------------------------------------------------------------------


def _zilliz(server: SimulatorServer) -> dict[str, Any]:
    sim = server.sim
    return {"url": server.zilliz_url, "api_key": sim.zilliz_api_key, "cluster_id": sim.zilliz_cluster_id}


#: The three file sources of the ``bulk_import`` docstring (examples 2 and 3, and the deprecated one).
ZILLIZ_SOURCES: list[tuple[str, dict[str, Any]]] = [
    (
        "object-urls",
        {
            "object_urls": [
                ["s3://bucket-name/parquet-folder-1/1.parquet"],
                ["s3://bucket-name/parquet-folder-2/1.parquet"],
                ["s3://bucket-name/parquet-folder-3/"],
            ],
            "access_key": "your-access-key",
            "secret_key": "your-secret-key",
            "token": "your-token",
        },
    ),
    ("deprecated-object-url", {"object_url": "s3://bucket-name/parquet-folder-1/1.parquet"}),
    ("volume", {"volume_name": "my_volume", "data_paths": [["parquet-folder/1.parquet"], ["parquet-folder-2/"]]}),
]


@pytest.mark.parametrize("source", [pytest.param(r[1], id=r[0]) for r in ZILLIZ_SOURCES])
def test_zilliz_create_progress(bulk_import: ModuleType, server: SimulatorServer, source: dict[str, Any]) -> None:
    created = bulk_import.bulk_import(
        **_zilliz(server), db_name="", collection_name="medium_articles", partition_name="", **source
    )
    job_id = _data(created)["jobId"]
    assert job_id.startswith("job-")

    def progress() -> dict[str, Any]:
        sim = server.sim
        return _data(
            bulk_import.get_import_progress(
                url=server.zilliz_url, job_id=job_id, cluster_id=sim.zilliz_cluster_id, api_key=sim.zilliz_api_key
            )
        )

    done = until_terminal(progress, lambda data: data["state"] in TERMINAL)
    assert (done["state"], done["progress"], done["collectionName"]) == ("Completed", 100, "medium_articles")


def test_zilliz_list_every_page(bulk_import: ModuleType, server: SimulatorServer) -> None:
    created = [
        _data(
            bulk_import.bulk_import(
                **_zilliz(server), collection_name="medium_articles", object_urls=[[f"s3://b/{i}.parquet"]]
            )
        )["jobId"]
        for i in range(3)
    ]
    created += [server.sim.add_zilliz_job() for _ in range(20)]
    seen: list[str] = []
    for page in range(1, 100):
        data = _data(bulk_import.list_import_jobs(**_zilliz(server), page_size=10, current_page=page))
        seen += [record["jobId"] for record in data["records"]]
        if len(data["records"]) < 10:
            break
    assert seen == created
    assert page == 3


ZILLIZ_REFUSALS: list[tuple[str, dict[str, Any], int, str]] = [
    ("unknown-collection", {"collection_name": "nope"}, 100, "collection not found"),
    ("unknown-database", {"db_name": "nodb"}, 800, "database not found"),
    ("unknown-partition", {"partition_name": "p9"}, 200, "partition not found"),
    ("no-source", {"object_urls": None}, 1802, "objectUrls"),
    ("empty-source", {"object_urls": []}, 1100, "import request is empty"),
    ("two-parquet-in-one-unit", {"object_urls": [["s3://b/1.parquet", "s3://b/2.parquet"]]}, 2100, "only one file"),
    ("unknown-cluster", {"cluster_id": "in01-doesnotexist"}, 96017, "cluster does not exist"),
    ("bad-api-key", {"api_key": "wrong"}, 21119, "The apikey is illegal."),
]


@pytest.mark.parametrize(("change", "code", "message"), [pytest.param(*r[1:], id=r[0]) for r in ZILLIZ_REFUSALS])
def test_zilliz_refusals(
    bulk_import: ModuleType, server: SimulatorServer, change: dict[str, Any], code: int, message: str
) -> None:
    arguments: dict[str, Any] = {
        **_zilliz(server),
        "collection_name": "medium_articles",
        "object_urls": [["s3://b/1.parquet"]],
        **change,
    }
    with pytest.raises(MilvusException) as caught:
        bulk_import.bulk_import(**arguments)
    assert f"code: {code}," in str(caught.value)
    assert message in str(caught.value)
    assert server.sim.jobs("zilliz") == []


def test_zilliz_unknown_job(bulk_import: ModuleType, server: SimulatorServer, sim: Simulator) -> None:
    sim.add_zilliz_job()
    with pytest.raises(MilvusException) as caught:
        bulk_import.get_import_progress(
            url=server.zilliz_url,
            job_id="job-xxxxxxxxxxxxxxxxxxxxx",
            cluster_id=sim.zilliz_cluster_id,
            api_key=sim.zilliz_api_key,
        )
    assert "code: 2100," in str(caught.value)
