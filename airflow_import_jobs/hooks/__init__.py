"""Hooks for the three import-job APIs, and :func:`get_import_hook` to pick one by connection type."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from airflow_import_jobs._compat import AirflowNotFoundException
from airflow_import_jobs.client.policy import RetryPolicy
from airflow_import_jobs.exceptions import ConfigurationError
from airflow_import_jobs.hooks.base import ImportJobHook
from airflow_import_jobs.hooks.egain import EgainImportHook
from airflow_import_jobs.hooks.milvus import MilvusImportHook
from airflow_import_jobs.hooks.zilliz import ZillizCloudImportHook

HOOKS: dict[str, type[ImportJobHook]] = {
    hook.conn_type: hook for hook in (MilvusImportHook, ZillizCloudImportHook, EgainImportHook)
}


def hook_class_for(conn: Any) -> type[ImportJobHook]:
    """The hook class for a connection's type, or a clear error naming the valid types."""
    hook_class = HOOKS.get(conn.conn_type)
    if hook_class is None:
        raise ConfigurationError(
            f"Connection {conn.conn_id!r} has type {conn.conn_type!r}; import jobs need one of: "
            f"{', '.join(sorted(HOOKS))}."
        )
    return hook_class


def hook_for_connection(conn: Any, *, retry: RetryPolicy | None = None) -> ImportJobHook:
    """The hook for an already fetched Airflow connection, configured from it."""
    hook = hook_class_for(conn)(conn_id=conn.conn_id, retry=retry)
    hook.use_connection(conn)
    return hook


def _missing(conn_id: str) -> ConfigurationError:
    return ConfigurationError(
        f"Connection {conn_id!r} is not defined: create it in the Airflow UI (Admin > Connections) or set "
        f"AIRFLOW_CONN_{conn_id.upper()}."
    )


def get_import_hook(conn_id: str, *, retry: RetryPolicy | None = None) -> ImportJobHook:
    """The right hook for a connection, chosen by its type (``milvus``, ``zilliz_cloud``, ``egain``).

    :raises ConfigurationError: the connection does not exist or its type is not one of ours.
    """
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise _missing(conn_id) from None
    return hook_for_connection(conn, retry=retry)


async def aget_import_hook(conn_id: str, *, retry: RetryPolicy | None = None) -> ImportJobHook:
    """Async twin of :func:`get_import_hook` (one asynchronous connection lookup)."""
    try:
        conn = await BaseHook.aget_connection(conn_id)
    except AirflowNotFoundException:
        raise _missing(conn_id) from None
    hook = hook_class_for(conn)(conn_id=conn.conn_id, retry=retry)
    await hook.ause_connection(conn)
    return hook


__all__ = [
    "HOOKS",
    "EgainImportHook",
    "ImportJobHook",
    "MilvusImportHook",
    "ZillizCloudImportHook",
    "aget_import_hook",
    "get_import_hook",
    "hook_class_for",
    "hook_for_connection",
]
