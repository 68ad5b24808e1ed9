"""Hook for Zilliz Cloud import jobs (control-plane API)."""

from __future__ import annotations

from airflow_import_jobs.connections.settings import ZILLIZ_CLOUD, ConnectionSettings
from airflow_import_jobs.hooks.base import ImportJobHook
from airflow_import_jobs.protocol.zilliz import ZillizCloudProtocol


class ZillizCloudImportHook(ImportJobHook):
    """Start, list and follow Zilliz Cloud bulk-import jobs.

    Connection type ``zilliz_cloud``: Host (default ``https://api.cloud.zilliz.com``), the API key in
    the password field, and a ``cluster_id`` extra. A process-wide client-side limit of
    ``max_requests_per_second`` (default 20, Zilliz Cloud's published limit) applies per endpoint.

    :param conn_id: The Airflow connection ID (default ``zilliz_cloud_default``).
    """

    conn_type = ZILLIZ_CLOUD.conn_type
    default_conn_name = ZILLIZ_CLOUD.default_conn_id
    hook_name = ZILLIZ_CLOUD.hook_name
    connection_type = ZILLIZ_CLOUD
    api = "Zilliz Cloud"

    def build_protocol(self, settings: ConnectionSettings) -> ZillizCloudProtocol:
        return ZillizCloudProtocol(
            cluster_id=settings.cluster_id,
            db_name=settings.db_name or None,
            storage_credentials=settings.storage_credentials,
        )
