"""Hook for eGain Knowledge content import and validation jobs (Content Manager API v4)."""

from __future__ import annotations

from airflow_import_jobs.connections.settings import EGAIN, ConnectionSettings
from airflow_import_jobs.hooks.base import ImportJobHook
from airflow_import_jobs.protocol.egain import EgainProtocol


class EgainImportHook(ImportJobHook):
    """Start, validate, follow and cancel eGain Knowledge content import jobs.

    Connection type ``egain``: Host = API domain (e.g. ``api.ai.egain.cloud``) or full URL, Client
    ID/Client Secret for OAuth client credentials with the ``token_url`` and ``scope`` extras, or
    an ``access_token`` extra. Tokens are cached per connection and renewed before expiry.

    :param conn_id: The Airflow connection ID (default ``egain_default``).
    """

    conn_type = EGAIN.conn_type
    default_conn_name = EGAIN.default_conn_id
    hook_name = EGAIN.hook_name
    connection_type = EGAIN
    api = "eGain"

    def build_protocol(self, settings: ConnectionSettings) -> EgainProtocol:
        return EgainProtocol(storage_credentials=settings.storage_credentials)
