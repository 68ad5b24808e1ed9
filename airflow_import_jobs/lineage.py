"""Lineage: what an import reads and what it writes, named by the OpenLineage conventions.

An import job is one lineage edge: object-store files in, a collection (or an eGain knowledge base)
out. This module names both ends once, for every API, and serves three readers:

- ``StartImportJobOperator`` and ``ImportJobSensor`` (their ``get_openlineage_facets_on_*`` methods
  call :func:`operator_lineage`), so the OpenLineage listener reports inputs, outputs and run facets;
- the hooks (:func:`report_hook_lineage`), so a ``@task`` that calls ``hook.start_job`` reports the
  same inputs and outputs to Airflow's hook lineage collector;
- the provider metadata (:func:`convert_asset_to_openlineage`, registered for our asset schemes).

Inputs are named as the OpenLineage naming conventions say: ``s3://<bucket>`` + key,
``gs://<bucket>`` + key, ``wasbs://<container>@<account>`` / ``abfss://<container>@<account>`` + path,
``sftp://<host>`` / ``file://<host>`` + path. HTTPS object URLs of S3, GCS and Azure are named as the
object they address. Paths that only mean something to the server (Milvus ``files``, relative to
the Milvus server's bucket) are named under the connection's ``storage_uri`` extra when it is set,
else under the server itself; Zilliz Cloud volume paths under ``zilliz-volume://<volume>``.
Outputs have the identity of the asset events (:mod:`airflow_import_jobs.assets`): namespace
``milvus://<host>:<port>`` / ``zilliz://<cluster>`` / ``egain://<api domain>``, name
``<database>/<collection>`` (eGain: ``knowledge``).

Nothing here reads a credential: credential keys of create bodies are never looked at, and every
location loses its user info, query and fragment (pre-signed URLs and SAS tokens live there).

The OpenLineage provider is optional. The naming is pure Python; the OpenLineage client and the
provider are imported inside the functions that build their objects, which only the OpenLineage
listener (or a configured hook lineage reader) calls. This module must not import Airflow at
module level: the provider metadata registers :func:`convert_asset_to_openlineage`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import SplitResult, quote, urlsplit

from airflow_import_jobs.assets import asset_namespace, asset_uri

if TYPE_CHECKING:
    from airflow_import_jobs.connections.settings import ConnectionSettings
    from airflow_import_jobs.models import Backend, ImportJob

log = logging.getLogger(__name__)

#: Our asset schemes for what lives inside a server's own storage (converted by this module).
VOLUME_SCHEME = "zilliz-volume"
#: The asset ``extra`` keys that carry the OpenLineage naming of a hook-lineage asset of ours.
_NS_KEY, _NAME_KEY = "openlineage_namespace", "openlineage_name"
#: Hook lineage reports at most this many inputs per start (Airflow's collector keeps 100 by default).
MAX_HOOK_INPUTS = 50

# -- naming (pure) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LineageDataset:
    """One end of the edge: its OpenLineage ``namespace`` and ``name``, and the asset URI that hook
    lineage reports it under (``extra`` carries the naming where the URI alone cannot)."""

    namespace: str
    name: str
    uri: str
    extra: Mapping[str, str] | None = None


def _ours(namespace: str, name: str) -> LineageDataset:
    """A dataset under one of our schemes: the asset carries its naming in ``extra``."""
    return LineageDataset(
        namespace, name, f"{namespace}/{quote(name.lstrip('/'), safe='/')}", {_NS_KEY: namespace, _NAME_KEY: name}
    )


def _object(scheme: str, authority: str, key: str, uri_authority: str | None = None) -> LineageDataset:
    """An object-store object: ``<scheme>://<authority>`` + key (no leading slash; ``/`` for the root)."""
    key = key.strip("/")
    return LineageDataset(f"{scheme}://{authority}", key or "/", f"{scheme}://{uri_authority or authority}/{key}")


def _file(scheme: str, authority: str, path: str) -> LineageDataset:
    """A file-system path: ``<scheme>://<host>`` + absolute path."""
    path = "/" + path.strip("/")
    namespace = f"{scheme}://{authority}" if authority else scheme
    return LineageDataset(namespace, path, f"{scheme}://{authority}{path}")


_S3_ALIASES = frozenset({"s3", "s3a", "s3n"})
_GCS_HOSTS = frozenset({"storage.googleapis.com", "storage.cloud.google.com"})
_AZURE = {"blob": "wasbs", "dfs": "abfss"}
_AZURE_SCHEMES = {"wasbs": "blob", "wasb": "blob", "abfss": "dfs", "abfs": "dfs"}
_S3_HOST = re.compile(r"^(?:(?P<bucket>.+)\.)?s3[.-](?:[a-z0-9-]+\.)*amazonaws\.com$")
_AZURE_HOST = re.compile(r"^(?P<account>[^.]+)\.(?P<kind>blob|dfs)\.core\.windows\.net$")


def _azure(kind: str, container: str, account: str, key: str) -> LineageDataset:
    scheme = _AZURE[kind]
    return _object(scheme, f"{container}@{account}", key, f"{container}@{account}.{kind}.core.windows.net")


def storage_dataset(location: str) -> LineageDataset | None:
    """The dataset a storage location names, or None when it is not a location with a host.

    ``s3://b/k``, ``s3a://``, ``https://b.s3.<region>.amazonaws.com/k`` and path-style S3 URLs give
    ``s3://b`` + ``k``; ``gs://``, ``gcs://`` and ``https://storage.googleapis.com/b/k`` give
    ``gs://b``; ``wasbs://c@a.blob.core.windows.net/k`` and ``https://a.blob.core.windows.net/c/k``
    give ``wasbs://c@a`` (``dfs`` hosts and ``abfss://``: ``abfss://c@a``); ``sftp://h/p`` gives
    ``sftp://h`` + ``/p``; a UNC path ``\\\\h\\share\\p`` gives ``file://h`` + ``/share/p``. User info,
    query and fragment are dropped.
    """
    text = location.strip()
    if text.startswith("\\\\"):
        host, _, rest = text[2:].replace("\\", "/").partition("/")
        return _file("file", host.lower(), rest) if host else None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if len(scheme) < 2 or not host:  # no scheme, or a Windows drive letter
        return None
    if scheme in _S3_ALIASES:
        return _object("s3", host, parts.path)
    if scheme in ("gs", "gcs"):
        return _object("gs", host, parts.path)
    if scheme in _AZURE_SCHEMES:
        match = _AZURE_HOST.match(host)
        account = match["account"] if match else host.split(".")[0]
        return _azure(_AZURE_SCHEMES[scheme], parts.username or "", account, parts.path) if parts.username else None
    if scheme in ("http", "https"):
        return _web_object(scheme, host, port, parts)
    authority = f"{host}:{port}" if port else host
    return _file(scheme, authority, parts.path)


def _web_object(scheme: str, host: str, port: int | None, parts: SplitResult) -> LineageDataset:
    """An HTTP(S) URL of a cloud object, named as that object; any other URL as itself."""
    first, _, rest = parts.path.lstrip("/").partition("/")
    if match := _S3_HOST.match(host):
        return _object("s3", match["bucket"], parts.path) if match["bucket"] else _object("s3", first, rest)
    if host in _GCS_HOSTS:
        return _object("gs", first, rest)
    if host.endswith(".storage.googleapis.com"):
        return _object("gs", host.removesuffix(".storage.googleapis.com"), parts.path)
    if match := _AZURE_HOST.match(host):
        return _azure(match["kind"], first, match["account"], rest)
    return _object(scheme, f"{host}:{port}" if port else host, parts.path)


def _join(base: str, path: str) -> str:
    return f"{base.rstrip('/')}/{path.lstrip('/')}"


# -- what a request or a job record names, per API: one table ------------------------------

Kind = Literal["stored", "url", "volume", "data_source"]

#: Where each API's create body names its files, and how those paths are named:
#: ``stored`` paths live in the server's own bucket (under ``storage_uri``, else the server);
#: ``url`` values are full object URLs; ``volume`` paths live in the body's ``volumeName``;
#: ``data_source`` is eGain's ``dataSource`` (its ``path``, typed S3 bucket or shared file path).
REQUEST_FILES: dict[Backend, tuple[tuple[str, Kind], ...]] = {
    "milvus": (("files", "stored"),),
    "zilliz_cloud": (("objectUrls", "url"), ("objectUrl", "url"), ("dataPaths", "volume")),
    "egain": (("dataSource", "data_source"),),
}
#: How the file names of a job record (``details[].fileName``) are named; eGain reports none.
RECORD_FILES: dict[Backend, Kind | None] = {"milvus": "stored", "zilliz_cloud": "url", "egain": None}


@dataclass(frozen=True)
class Where:
    """What naming a path or a target needs besides itself: the connection's server and storage."""

    backend: Backend
    base_url: str
    cluster_id: str | None = None
    storage_uri: str | None = None
    volume: str | None = None

    @classmethod
    def of(cls, settings: ConnectionSettings, request: Mapping[str, Any] | None = None) -> Where:
        volume = request.get("volumeName") if request else None
        return cls(
            settings.backend,
            settings.base_url,
            settings.cluster_id,
            settings.storage_uri,
            volume if isinstance(volume, str) and volume else None,
        )

    @property
    def server(self) -> str:
        """The namespace of the server itself: the scheme and authority of its asset URIs."""
        return asset_namespace(self.backend, base_url=self.base_url, cluster_id=self.cluster_id)


def name_path(kind: Kind, path: str, where: Where) -> LineageDataset | None:
    """The dataset ``path`` names, read as ``kind`` says (see :data:`REQUEST_FILES`)."""
    if kind == "stored":
        if where.storage_uri:
            return storage_dataset(_join(where.storage_uri, path))
        return _ours(where.server, "/" + path.strip("/"))
    if kind == "volume":
        return _ours(f"{VOLUME_SCHEME}://{where.volume}", path.strip("/")) if where.volume else None
    found = storage_dataset(path)
    if found is None and kind == "data_source":
        if path.strip().startswith(("/", "\\")):  # a share path with no host: the eGain server's
            return _ours(where.server, "/" + path.strip().replace("\\", "/").strip("/"))
        return storage_dataset("s3://" + path.strip().lstrip("/"))  # an S3 path written without its scheme
    return found


def _paths(value: Any) -> Iterable[str]:
    """Every string in a value that is a path, a list of them, or a list of lists."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _paths(item)


def _unique(datasets: Iterable[LineageDataset | None]) -> list[LineageDataset]:
    seen: dict[tuple[str, str], LineageDataset] = {}
    for dataset in datasets:
        if dataset is not None:
            seen.setdefault((dataset.namespace, dataset.name), dataset)
    return list(seen.values())


def request_inputs(request: Mapping[str, Any], where: Where) -> list[LineageDataset]:
    """The files a create body imports (never reading its credential keys)."""
    found: list[LineageDataset | None] = []
    for key, kind in REQUEST_FILES[where.backend]:
        value = request.get(key)
        if kind == "data_source":
            value = value.get("path") if isinstance(value, Mapping) else None
        found.extend(name_path(kind, path, where) for path in _paths(value) if path.strip())
    return _unique(found)


def record_inputs(jobs: Sequence[ImportJob], where: Where) -> list[LineageDataset]:
    """The files job records report (Milvus joins the paths of one row with commas)."""
    kind = RECORD_FILES[where.backend]
    if kind is None:
        return []
    names: list[str] = []
    for file in (file for job in jobs for file in job.files):
        text = file.file_name or ""
        names.extend(text.split(",") if kind == "stored" else [text])
    return _unique(name_path(kind, name.strip(), where) for name in names if name.strip())


def target_dataset(where: Where, *, db_name: str | None, collection: str | None) -> LineageDataset | None:
    """The collection (eGain: knowledge base) a job loads, with its asset event's identity."""
    uri = asset_uri(
        where.backend, base_url=where.base_url, db_name=db_name, cluster_id=where.cluster_id, collection_name=collection
    )
    return None if uri is None else _split(uri)


def _split(uri: str) -> LineageDataset:
    parts = urlsplit(uri)
    return LineageDataset(f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/") or "/", uri)


def clean_location(value: object) -> str | None:
    """A location without user info, query or fragment (where credentials and signatures travel)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return value.split("?", 1)[0]
    user, _, host = parts.netloc.rpartition("@")
    if parts.scheme.lower() in _AZURE_SCHEMES and user and ":" not in user:
        host = f"{user}@{host}"  # container@account, not user info
    return parts._replace(netloc=host, query="", fragment="").geturl()


@dataclass(frozen=True)
class ImportLineage:
    """Both ends of an import and what is known about its run."""

    server: str
    inputs: list[LineageDataset]
    outputs: list[LineageDataset]
    jobs: Sequence[ImportJob] = ()
    job_ids: Sequence[str] = ()
    failure: str | None = None

    def run_facet(self, backend: Backend) -> dict[str, Any]:
        """The ``importJobs`` run facet's fields: per job its ID, state, rows, files and eGain results."""
        records = {job.job_id: job for job in self.jobs}
        jobs = [_job_fields(records.get(job_id), job_id) for job_id in dict.fromkeys([*self.job_ids, *records])]
        return {"backend": backend, "jobs": jobs, "failureReason": self.failure}


def _job_fields(job: ImportJob | None, job_id: str) -> dict[str, Any]:
    if job is None:
        return {"jobId": job_id}
    fields: dict[str, Any] = {
        "jobId": job.job_id,
        "jobType": job.job_type,
        "state": job.state.value,
        "progress": job.progress,
        "collectionName": job.collection_name,
        "importedRows": job.imported_rows,
        "totalRows": job.total_rows,
        "files": [clean_location(f.file_name) for f in job.files if f.file_name],
        "reason": job.reason,
    }
    if job.results is not None:
        fields["results"] = job.results.model_dump()
    if location := clean_location(job.raw.get("logFileLocation")):
        fields["logFileLocation"] = location
    return {key: value for key, value in fields.items() if value not in (None, [])}


def start_lineage(settings: ConnectionSettings, request: Mapping[str, Any], *, validate_only: bool) -> ImportLineage:
    """What a create body will read and write: the hooks and ``StartImportJobOperator`` name it so."""
    where = Where.of(settings, request)
    output = None
    if not validate_only:
        db_name = request.get("dbName")
        collection = request.get("collectionName")
        output = target_dataset(
            where,
            db_name=db_name if isinstance(db_name, str) and db_name else settings.db_name,
            collection=collection if isinstance(collection, str) else None,
        )
    return ImportLineage(where.server, request_inputs(request, where), [output] if output else [])


def jobs_lineage(
    settings: ConnectionSettings, jobs: Sequence[ImportJob], *, db_name: str | None = None
) -> ImportLineage:
    """What finished job records say was read and written: the sensor names it so."""
    where = Where.of(settings)
    outputs = [
        target_dataset(where, db_name=db_name or settings.db_name, collection=job.collection_name)
        for job in jobs
        if job.job_type != "validation"
    ]
    return ImportLineage(where.server, record_inputs(jobs, where), _unique(outputs), jobs=jobs)


# -- OpenLineage objects (the provider is imported only here) --------------------------------


@cache
def _run_facet_class() -> type[Any]:
    import attr
    from openlineage.client.facet_v2 import RunFacet

    @attr.define
    class ImportJobsRunFacet(RunFacet):
        """The import jobs behind an Airflow task: IDs, backend, final states, rows, files, results."""

        backend: str
        jobs: list[dict[str, Any]]
        failureReason: str | None = None  # camelCase, as OpenLineage facets are

    return ImportJobsRunFacet


def operator_lineage(lineage: ImportLineage, backend: Backend) -> Any:
    """The ``OperatorLineage`` the OpenLineage listener reads: inputs, outputs and run facets."""
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import Dataset
    from openlineage.client.facet_v2 import external_query_run, output_statistics_output_dataset

    rows = [job.imported_rows for job in lineage.jobs if job.imported_rows is not None]
    outputs = []
    for out in lineage.outputs:
        facets: dict[str, Any] = {}
        if rows and len(lineage.outputs) == 1:
            facets["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=sum(rows)
            )
        outputs.append(Dataset(namespace=out.namespace, name=out.name, facets=facets))
    run_facets: dict[str, Any] = {"importJobs": _run_facet_class()(**lineage.run_facet(backend))}
    job_ids = list(dict.fromkeys([*lineage.job_ids, *(job.job_id for job in lineage.jobs)]))
    if len(job_ids) == 1:
        run_facets["externalQuery"] = external_query_run.ExternalQueryRunFacet(
            externalQueryId=job_ids[0], source=lineage.server
        )
    return OperatorLineage(
        inputs=[Dataset(namespace=d.namespace, name=d.name) for d in lineage.inputs],
        outputs=outputs,
        run_facets=run_facets,
    )


def report_hook_lineage(
    hook: object, settings: ConnectionSettings, request: Mapping[str, Any], *, validate_only: bool
) -> None:
    """Report a started job's inputs and outputs to Airflow's hook lineage collector.

    The collector does nothing unless a hook lineage reader (the OpenLineage provider) is
    registered; lineage never fails a start, so a problem here is logged at debug level only.
    """
    try:
        from airflow.providers.common.compat.lineage.hook import get_hook_lineage_collector

        lineage = start_lineage(settings, request, validate_only=validate_only)
        collector = get_hook_lineage_collector()  # type: ignore[no-untyped-call]
        for dataset in lineage.inputs[:MAX_HOOK_INPUTS]:
            collector.add_input_asset(context=hook, uri=dataset.uri, asset_extra=dict(dataset.extra or {}) or None)
        for dataset in lineage.outputs:
            collector.add_output_asset(context=hook, uri=dataset.uri, asset_extra=dict(dataset.extra or {}) or None)
    except Exception:  # lineage is best effort: never let it fail an import that has started
        log.debug("Could not report hook lineage.", exc_info=True)


def convert_asset_to_openlineage(asset: Any, lineage_context: Any) -> Any:
    """Registered for our asset schemes: an asset of ours as an OpenLineage dataset."""
    from openlineage.client.event_v2 import Dataset

    extra = getattr(asset, "extra", None) or {}
    if isinstance(extra.get(_NS_KEY), str) and isinstance(extra.get(_NAME_KEY), str):
        return Dataset(namespace=extra[_NS_KEY], name=extra[_NAME_KEY])
    found = _split(asset.uri)
    return Dataset(namespace=found.namespace, name=found.name)
