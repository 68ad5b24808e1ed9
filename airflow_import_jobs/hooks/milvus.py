"""Hook for self-hosted Milvus import jobs (REST API v2)."""

from __future__ import annotations

from airflow_import_jobs.connections.settings import MILVUS, ConnectionSettings
from airflow_import_jobs.hooks.base import ImportJobHook
from airflow_import_jobs.protocol.milvus import MilvusProtocol


class MilvusImportHook(ImportJobHook):
    """Start, list, describe and abort Milvus bulk-import jobs.

    Connection type ``milvus``: Host (name or full URL), Port (19530), User/Password sent as
    ``Bearer user:password``, or a ``token`` extra; ``db_name`` (default ``default``) is sent as
    the ``DB-Name`` header on every call.

    :param conn_id: The Airflow connection ID (default ``milvus_default``).
    """

    conn_type = MILVUS.conn_type
    default_conn_name = MILVUS.default_conn_id
    hook_name = MILVUS.hook_name
    connection_type = MILVUS
    api = "Milvus"

    def build_protocol(self, settings: ConnectionSettings) -> MilvusProtocol:
        return MilvusProtocol(db_name=settings.db_name)

    def commit_job(self, job_id: str) -> None:
        """Commit a two-phase import (created with ``options.auto_commit = "false"``); newest servers only.

        :raises UnsupportedOperationError: the server has no ``/commit`` endpoint.
        """
        self._run(lambda p: _milvus(p).commit_job(job_id))

    async def acommit_job(self, job_id: str) -> None:
        """Async twin of :meth:`commit_job`."""
        await self._arun(lambda p: _milvus(p).commit_job(job_id))


def _milvus(protocol: object) -> MilvusProtocol:
    assert isinstance(protocol, MilvusProtocol)  # build_protocol above always makes one
    return protocol
