"""Asset URIs for what an import loaded, so downstream DAGs can be scheduled on data arrival.

==========  =====================================================
backend     asset URI
==========  =====================================================
Milvus      ``milvus://<host>:<port>/<database>/<collection>``
Zilliz      ``zilliz://<cluster id>/<database>/<collection>``
eGain       ``egain://<api domain>/knowledge``
==========  =====================================================

The sensor and ``StartImportJobOperator`` emit one event per asset through the
:data:`IMPORT_JOBS_ALIAS` asset alias, with the job IDs and row counts in the event's ``extra``.
This module must stay importable without Airflow: the URI normalizer is registered in the
provider metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import SplitResult, quote, urlsplit

from airflow_import_jobs.connections.types import Backend

#: The asset alias the provider's tasks emit their events through.
IMPORT_JOBS_ALIAS = "airflow-import-jobs"
SCHEMES = ("milvus", "zilliz", "egain")
_MILVUS_PORT = 19530


def normalize_uri(parts: SplitResult) -> SplitResult:
    """Asset URI normalizer registered for our schemes: lower-case host, Milvus default port."""
    host = (parts.hostname or "").lower()
    netloc = host
    if parts.scheme == "milvus":
        netloc = f"{host}:{parts.port or _MILVUS_PORT}"
    elif parts.port:
        netloc = f"{host}:{parts.port}"
    return parts._replace(netloc=netloc)


def asset_namespace(backend: Backend, *, base_url: str, cluster_id: str | None) -> str:
    """The scheme and authority of a backend's asset URIs: the server (Zilliz: the cluster)."""
    host = (urlsplit(base_url).hostname or "").lower()
    if backend == "egain":
        return f"egain://{host}"
    if backend == "milvus":
        parts = urlsplit(base_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)  # a URL without a port means its scheme's
        return f"milvus://{host}:{port}"
    return f"zilliz://{quote(cluster_id or 'unknown', safe='')}"


def asset_uri(
    backend: Backend, *, base_url: str, db_name: str | None, cluster_id: str | None, collection_name: str | None
) -> str | None:
    """The asset a job loads into, or None when the job does not say (no collection)."""
    namespace = asset_namespace(backend, base_url=base_url, cluster_id=cluster_id)
    if backend == "egain":
        return f"{namespace}/knowledge"
    if not collection_name:
        return None
    return f"{namespace}/{quote(db_name or 'default', safe='')}/{quote(collection_name, safe='')}"


def event_extra(jobs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The event's ``extra``: job IDs, rows imported and total, per job and summed."""
    imported = [j.get("imported_rows") for j in jobs]
    return {
        "job_ids": [j["job_id"] for j in jobs],
        "backend": jobs[0]["backend"] if jobs else None,
        "imported_rows": sum(r for r in imported if isinstance(r, int))
        if any(isinstance(r, int) for r in imported)
        else None,
        "jobs": [
            {
                "job_id": j["job_id"],
                "collection_name": j.get("collection_name"),
                "imported_rows": j.get("imported_rows"),
                "total_rows": j.get("total_rows"),
                "completed_at": j.get("completed_at"),
            }
            for j in jobs
        ],
    }
