"""Lineage: naming (pure, table-driven), and the events the real OpenLineage listener emits.

The listener tests run the example DAGs and a few test DAGs through ``dag.test()`` in a separate
process with the OpenLineage file transport on (``tests/lineage_run.py``), once per session, and
assert the COMPLETE / FAIL events of every API: inputs, outputs, run facets, and no secret
anywhere. Another process runs with the OpenLineage packages made uninstalled.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_import_jobs.connections.settings import ConnectionSettings
from airflow_import_jobs.exceptions import ConfigurationError
from airflow_import_jobs.lineage import (
    Where,
    clean_location,
    convert_asset_to_openlineage,
    jobs_lineage,
    start_lineage,
    storage_dataset,
)
from airflow_import_jobs.models import FileProgress, ImportJob, JobResults, JobState
from tests.dags.lineage_dags import INLINE_SECRET
from tests.lineage_run import MILVUS_FILES, SECRETS

REPO = Path(__file__).resolve().parent.parent

# -- naming ---------------------------------------------------------------------------------

STORAGE = [
    ("s3://bucket/a/b.parquet", "s3://bucket", "a/b.parquet"),
    ("s3a://bucket/a/", "s3://bucket", "a"),
    ("s3://bucket", "s3://bucket", "/"),
    ("https://bucket.s3.us-east-1.amazonaws.com/a/b.json", "s3://bucket", "a/b.json"),
    ("https://bucket.s3.amazonaws.com/a/b.json", "s3://bucket", "a/b.json"),
    ("https://s3.us-west-2.amazonaws.com/bucket/a/b.json", "s3://bucket", "a/b.json"),
    ("gs://bucket/a/b.npy", "gs://bucket", "a/b.npy"),
    ("gcs://bucket/a", "gs://bucket", "a"),
    ("https://storage.googleapis.com/bucket/a/b.npy", "gs://bucket", "a/b.npy"),
    ("wasbs://box@acct.blob.core.windows.net/a/b", "wasbs://box@acct", "a/b"),
    ("https://acct.blob.core.windows.net/box/a/b", "wasbs://box@acct", "a/b"),
    ("abfss://box@acct.dfs.core.windows.net/a/b", "abfss://box@acct", "a/b"),
    ("https://acct.dfs.core.windows.net/box/a/b", "abfss://box@acct", "a/b"),
    ("sftp://files.example.com/exports/kb/", "sftp://files.example.com", "/exports/kb"),
    ("sftp://files.example.com:2222/kb", "sftp://files.example.com:2222", "/kb"),
    ("\\\\fileserver\\share\\kb", "file://fileserver", "/share/kb"),
    ("https://minio.local:9000/bucket/a", "https://minio.local:9000", "bucket/a"),
]


@pytest.mark.parametrize(("location", "namespace", "name"), STORAGE)
def test_storage_locations_are_named_by_the_openlineage_conventions(location: str, namespace: str, name: str) -> None:
    found = storage_dataset(location)
    assert found is not None
    assert (found.namespace, found.name) == (namespace, name)


@pytest.mark.parametrize(
    "location",
    [
        "https://user:pa55@acct.blob.core.windows.net/box/a?sv=2024&sig=S3CRET",
        "https://bucket.s3.amazonaws.com/a?X-Amz-Credential=AK&X-Amz-Signature=S3CRET",
        "sftp://user:S3CRET@host/a#S3CRET",
    ],
)
def test_no_credential_survives_naming(location: str) -> None:
    found = storage_dataset(location)
    assert found is not None
    assert "S3CRET" not in repr(found)
    assert "S3CRET" not in (clean_location(location) or "")


def test_cleaning_keeps_an_azure_container() -> None:
    location = "wasbs://box@acct.blob.core.windows.net/a/b.parquet"
    assert clean_location(location) == location
    assert clean_location("wasbs://box:S3CRET@acct.blob.core.windows.net/a") == "wasbs://acct.blob.core.windows.net/a"


@pytest.mark.parametrize("location", ["relative/path.parquet", "/absolute/path", "C:\\data\\x", "", "s3://"])
def test_paths_without_a_host_name_nothing(location: str) -> None:
    assert storage_dataset(location) is None


def settings(backend: Any, **values: Any) -> ConnectionSettings:
    base = {"milvus": "http://milvus.local:19530", "zilliz_cloud": "https://api.cloud.zilliz.com"}
    return ConnectionSettings(
        conn_id="c",
        backend=backend,
        base_url=base.get(backend, "https://api.ai.egain.cloud"),
        cluster_id="in01-abc" if backend == "zilliz_cloud" else None,
        **values,
    )


def names(datasets: Any) -> list[tuple[str, str]]:
    return [(d.namespace, d.name) for d in datasets]


REQUESTS = [
    (
        "milvus-storage-uri",
        settings("milvus", storage_uri="gs://milvus-data/prod"),
        {"collectionName": "docs", "dbName": "shop", "files": [["a/1.parquet"], ["b/x.npy", "b/y.npy"]]},
        [
            ("gs://milvus-data", "prod/a/1.parquet"),
            ("gs://milvus-data", "prod/b/x.npy"),
            ("gs://milvus-data", "prod/b/y.npy"),
        ],
        [("milvus://milvus.local:19530", "shop/docs")],
    ),
    (
        "milvus-under-the-server",
        settings("milvus"),
        {"collectionName": "docs", "files": [["a/1.parquet"]]},
        [("milvus://milvus.local:19530", "/a/1.parquet")],
        [("milvus://milvus.local:19530", "default/docs")],
    ),
    (
        "zilliz-object-urls",
        settings("zilliz_cloud", db_name="prod"),
        {
            "collectionName": "docs",
            "objectUrls": [["s3://b/1.parquet"], ["https://acct.blob.core.windows.net/box/2.parquet"]],
            "secretKey": "never-read",
        },
        [("s3://b", "1.parquet"), ("wasbs://box@acct", "2.parquet")],
        [("zilliz://in01-abc", "prod/docs")],
    ),
    (
        "zilliz-object-url",
        settings("zilliz_cloud"),
        {"collectionName": "docs", "objectUrl": "gs://b/one.json"},
        [("gs://b", "one.json")],
        [("zilliz://in01-abc", "default/docs")],
    ),
    (
        "zilliz-volume",
        settings("zilliz_cloud"),
        {"collectionName": "docs", "volumeName": "stage", "dataPaths": [["d/1.parquet"]]},
        [("zilliz-volume://stage", "d/1.parquet")],
        [("zilliz://in01-abc", "default/docs")],
    ),
    (
        "egain-s3",
        settings("egain"),
        {"dataSource": {"type": "AWS S3 bucket", "path": "s3://kb-bucket/2026/", "credentials": {"x": "y"}}},
        [("s3://kb-bucket", "2026")],
        [("egain://api.ai.egain.cloud", "knowledge")],
    ),
    (
        "egain-s3-without-scheme",
        settings("egain"),
        {"dataSource": {"type": "AWS S3 bucket", "path": "kb-bucket/2026"}},
        [("s3://kb-bucket", "2026")],
        [("egain://api.ai.egain.cloud", "knowledge")],
    ),
    (
        "egain-share-on-the-server",
        settings("egain"),
        {"dataSource": {"type": "Shared file path", "path": "/exports/kb"}},
        [("egain://api.ai.egain.cloud", "/exports/kb")],
        [("egain://api.ai.egain.cloud", "knowledge")],
    ),
]


@pytest.mark.parametrize(
    ("settings_", "request_", "inputs", "outputs"), [r[1:] for r in REQUESTS], ids=[r[0] for r in REQUESTS]
)
def test_a_create_body_names_its_files_and_target(
    settings_: ConnectionSettings, request_: dict[str, Any], inputs: list[Any], outputs: list[Any]
) -> None:
    lineage = start_lineage(settings_, request_, validate_only=False)
    assert names(lineage.inputs) == inputs
    assert names(lineage.outputs) == outputs


def test_a_validation_reads_but_writes_nothing() -> None:
    request = {"dataSource": {"type": "AWS S3 bucket", "path": "s3://kb/x"}}
    lineage = start_lineage(settings("egain"), request, validate_only=True)
    assert names(lineage.inputs) == [("s3://kb", "x")]
    assert lineage.outputs == []


def job(backend: Any, files: list[str], **values: Any) -> ImportJob:
    fields = {"job_id": "1", "backend": backend, "state": JobState.COMPLETED, "collection_name": "docs", **values}
    return ImportJob(files=[FileProgress(file_name=f) for f in files], **fields)


def test_job_records_name_their_files_where_the_api_reports_them() -> None:
    milvus = jobs_lineage(settings("milvus", storage_uri="s3://m"), [job("milvus", ["a/1.npy,a/2.npy"])])
    assert names(milvus.inputs) == [("s3://m", "a/1.npy"), ("s3://m", "a/2.npy")]  # one row, two column files
    zilliz = jobs_lineage(settings("zilliz_cloud"), [job("zilliz_cloud", ["s3://b/1.json", "bare-name.json"])])
    assert names(zilliz.inputs) == [("s3://b", "1.json")]  # a bare name has no bucket: not named
    assert names(zilliz.outputs) == [("zilliz://in01-abc", "default/docs")]
    validation = job("egain", [], job_type="validation")
    assert jobs_lineage(settings("egain"), [validation]).outputs == []


def test_the_run_facet_carries_the_jobs_and_no_credential() -> None:
    record = job(
        "egain",
        [],
        job_type="import",
        state=JobState.FAILED,
        reason="bad item",
        results=JobResults(successful=3, warnings=1, errors=2),
        raw={"logFileLocation": "https://logs.example.com/job.txt?sig=S3CRET"},
    )
    lineage = jobs_lineage(settings("egain"), [record])
    facet = lineage.run_facet("egain")
    assert facet["backend"] == "egain"
    (fields,) = facet["jobs"]
    assert fields["state"] == "failed"
    assert fields["results"] == {"successful": 3, "warnings": 1, "errors": 2}
    assert fields["logFileLocation"] == "https://logs.example.com/job.txt"
    assert "S3CRET" not in json.dumps(facet)


def test_where_reads_the_volume_from_the_request_only() -> None:
    assert Where.of(settings("zilliz_cloud"), {"volumeName": "v"}).volume == "v"
    assert Where.of(settings("zilliz_cloud"), {"volumeName": ""}).volume is None


def test_our_assets_convert_to_the_same_datasets() -> None:
    pytest.importorskip("openlineage.client")
    from airflow.sdk import Asset

    lineage = start_lineage(
        settings("milvus"), {"collectionName": "docs", "files": [["a.parquet"]]}, validate_only=False
    )
    for dataset in [*lineage.inputs, *lineage.outputs]:
        converted = convert_asset_to_openlineage(Asset(uri=dataset.uri, extra=dict(dataset.extra or {})), None)
        assert (converted.namespace, converted.name) == (dataset.namespace, dataset.name)


# -- the storage_uri extra ------------------------------------------------------------------


def read_milvus(extra: dict[str, Any]) -> ConnectionSettings:
    from airflow.sdk import Connection

    from airflow_import_jobs.connections.settings import MILVUS, read_settings

    conn = Connection(conn_id="m", conn_type="milvus", host="milvus.local", extra=json.dumps(extra))
    return read_settings(conn, MILVUS)


def test_storage_uri_extra_is_read() -> None:
    assert read_milvus({"storage_uri": "s3://bucket/prefix/"}).storage_uri == "s3://bucket/prefix"
    assert read_milvus({}).storage_uri is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("bucket/prefix", "storage location"),
        ("s3://user:S3CRET@bucket", "location only"),
        ("https://acct.blob.core.windows.net/box?sig=S3CRET", "location only"),
    ],
)
def test_a_bad_storage_uri_fails_naming_the_extra_without_echoing_secrets(value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match="storage_uri") as caught:
        read_milvus({"storage_uri": value})
    assert message in str(caught.value)
    assert "S3CRET" not in str(caught.value)


# -- the real listener ----------------------------------------------------------------------


def run_scenarios(tmp_path_factory: pytest.TempPathFactory, mode: str) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp(f"lineage-{mode}") / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "tests.lineage_run", str(out), mode],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text()), done.stdout + done.stderr


@pytest.fixture(scope="module")
def emitted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    pytest.importorskip("airflow.providers.openlineage")
    return run_scenarios(tmp_path_factory, "openlineage")[0]


def task_event(emitted: dict[str, Any], scenario: str, task_id: str, event_type: str) -> list[dict[str, Any]]:
    """The ``event_type`` events of one task of a scenario's DAG (DAG-level events are not ours)."""
    result = emitted[scenario]
    job_name = f"{result['dag_id']}.{task_id}"
    events = [e for e in result["events"] if e["job"]["name"] == job_name and e["eventType"] == event_type]
    assert events, (scenario, job_name, [(e["eventType"], e["job"]["name"]) for e in result["events"]])
    return events


def datasets(event: dict[str, Any], key: str) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in event[key]]


def milvus_namespace(result: dict[str, Any]) -> str:
    return "milvus://" + result["milvus_url"].split("://", 1)[1]


def import_jobs(event: dict[str, Any]) -> dict[str, Any]:
    return event["run"]["facets"]["importJobs"]


def test_milvus_import_completes_with_files_in_and_collection_out(emitted: dict[str, Any]) -> None:
    result = emitted["milvus_success"]
    assert result["state"] == "success"
    (event,) = task_event(emitted, "milvus_success", "load_articles", "COMPLETE")
    assert datasets(event, "inputs") == [
        ("s3://milvus-bucket", "articles/2024/part-0001.parquet"),  # under the connection's storage_uri
        ("s3://milvus-bucket", "articles/2024/part-0002.parquet"),
    ]
    assert datasets(event, "outputs") == [(milvus_namespace(result), "default/medium_articles")]
    assert event["outputs"][0]["facets"]["outputStatistics"]["rowCount"] == 1000
    facet = import_jobs(event)
    (record,) = facet["jobs"]
    assert facet["backend"] == "milvus"
    assert record["state"] == "completed"
    assert (record["importedRows"], record["totalRows"]) == (1000, 1000)
    assert record["files"] == ["articles/2024/part-0001.parquet", "articles/2024/part-0002.parquet"]
    assert event["run"]["facets"]["externalQuery"]["externalQueryId"] == record["jobId"]


def test_zilliz_starts_and_the_sensor_report_object_urls_and_the_collection(emitted: dict[str, Any]) -> None:
    result = emitted["zilliz_success"]
    assert result["state"] == "success"
    target = [(f"zilliz://{result['cluster_id']}", "default/medium_articles")]
    starts = task_event(emitted, "zilliz_success", "start_import", "COMPLETE")
    assert sorted(datasets(e, "inputs")[0] for e in starts) == [
        ("s3://my-bucket", "articles/part-1.parquet"),
        ("s3://my-bucket", "articles/part-2.parquet"),
    ]
    assert all(datasets(e, "outputs") == target for e in starts)
    (wait,) = task_event(emitted, "zilliz_success", "wait_for_running", "COMPLETE")
    assert sorted(datasets(wait, "inputs")) == [  # from the job records' files
        ("s3://my-bucket", "articles/part-1.parquet"),
        ("s3://my-bucket", "articles/part-2.parquet"),
    ]
    assert datasets(wait, "outputs") == target
    assert {job["state"] for job in import_jobs(wait)["jobs"]} == {"completed"}
    assert len(import_jobs(wait)["jobs"]) == 2


def test_egain_validation_import_and_wait(emitted: dict[str, Any]) -> None:
    result = emitted["egain_success"]
    assert result["state"] == "success"
    host = result["egain_url"].split("://", 1)[1].split(":")[0]
    knowledge = [(f"egain://{host}", "knowledge")]
    (validate,) = task_event(emitted, "egain_success", "validate", "COMPLETE")
    assert datasets(validate, "inputs") == [("s3://my-bucket", "knowledge/2026-01")]
    assert datasets(validate, "outputs") == []  # a validation loads nothing
    (record,) = import_jobs(validate)["jobs"]
    assert record["jobType"] == "validation"
    assert record["results"] == {"successful": 1000, "warnings": 0, "errors": 0}
    assert record["logFileLocation"].startswith("s3://my-bucket/logs/")
    (start,) = task_event(emitted, "egain_success", "start_import", "COMPLETE")
    assert datasets(start, "outputs") == knowledge
    (wait,) = task_event(emitted, "egain_success", "wait_for_import", "COMPLETE")
    assert datasets(wait, "outputs") == knowledge
    (record,) = import_jobs(wait)["jobs"]
    assert (record["jobType"], record["state"]) == ("import", "completed")
    assert record["results"]["successful"] == 1000


@pytest.mark.parametrize(
    ("scenario", "inputs"),
    [
        (
            "milvus_failure",
            [
                ("s3://milvus-bucket", "articles/2024/part-0001.parquet"),
                ("s3://milvus-bucket", "articles/2024/part-0002.parquet"),
            ],
        ),
        ("zilliz_failure", [("s3://my-bucket", "articles/part-9.parquet")]),
        ("egain_failure", [("sftp://files.example.com", "/exports/kb")]),
    ],
)
def test_a_failed_import_emits_fail_with_its_lineage_and_reason(
    emitted: dict[str, Any], scenario: str, inputs: list[tuple[str, str]]
) -> None:
    assert emitted[scenario]["state"] == "failed"
    (event,) = task_event(emitted, scenario, "start", "FAIL")
    assert datasets(event, "inputs") == inputs
    assert len(event["outputs"]) == 1
    facet = import_jobs(event)
    (record,) = facet["jobs"]
    assert record["state"] == "failed"
    assert record["reason"] == "failed to read import file: no such key"
    assert "failed to read import file: no such key" in facet["failureReason"]
    assert record["jobId"] in facet["failureReason"]


def test_a_task_calling_the_hook_gets_hook_lineage(emitted: dict[str, Any]) -> None:
    result = emitted["hook_milvus"]
    (event,) = task_event(emitted, "hook_milvus", "start_with_hook", "COMPLETE")
    server = milvus_namespace(result)
    assert datasets(event, "inputs") == [(server, "/" + group[0]) for group in MILVUS_FILES]  # no storage_uri
    assert datasets(event, "outputs") == [(server, "default/docs")]
    (event,) = task_event(emitted, "hook_zilliz_volume", "start_with_hook", "COMPLETE")
    assert datasets(event, "inputs") == [("zilliz-volume://stage-1", "batch/1.parquet")]
    assert datasets(event, "outputs") == [(f"zilliz://{result['cluster_id']}", "default/docs")]


def test_no_event_carries_a_secret(emitted: dict[str, Any]) -> None:
    text = json.dumps(emitted)
    assert sum(len(r["events"]) for r in emitted.values()) >= 20
    for name, secret in {**SECRETS, "inline_secret": INLINE_SECRET}.items():
        assert secret not in text, name


WARNING_LINE = re.compile(r"\[(warning|error|critical)\s*\]", re.IGNORECASE)


def test_without_the_openlineage_provider_nothing_changes(tmp_path_factory: pytest.TempPathFactory) -> None:
    results, output = run_scenarios(tmp_path_factory, "without")
    run = results["milvus_success"]
    assert run["state"] == "success"
    assert run["tasks"] == {"load_articles": "success"}
    assert run["events"] == []
    # No warning about lineage, from our provider's loggers, or about a plugin that failed to load
    # (Airflow's own notices, such as dag.test()'s unregistered assets, are not ours to judge).
    warnings = [line for line in output.splitlines() if WARNING_LINE.search(line)]
    assert [line for line in warnings if re.search(r"lineage|plugin|\[airflow_import_jobs", line, re.IGNORECASE)] == []


def test_a_lineage_problem_never_fails_a_start(sim_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_import_jobs import lineage
    from airflow_import_jobs.hooks import get_import_hook
    from tests.conftest import MILVUS

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("lineage is broken")

    monkeypatch.setattr(lineage, "start_lineage", broken)
    job_id = get_import_hook(MILVUS).start_job({"collectionName": "docs", "files": MILVUS_FILES})
    assert job_id in sim_server.sim.milvus_jobs
