"""Hooks for the three import-job APIs, and :func:`get_import_hook` to pick one by connection type."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from airflow_import_jobs.exceptions import ConfigurationError
from airflow_import_jobs.hooks.base import ImportJobHook
from airflow_import_jobs.hooks.egain import EgainImportHook
from airflow_import_jobs.hooks.milvus import MilvusImportHook
from airflow_import_jobs.hooks.zilliz import ZillizCloudImportHook

HOOKS: dict[str, type[ImportJobHook]] = {
    hook.conn_type: hook for hook in (MilvusImportHook, ZillizCloudImportHook, EgainImportHook)
}


def hook_for_connection(conn: Any) -> ImportJobHook:
    """The hook for an already fetched Airflow connection, configured from it."""
    hook_class = HOOKS.get(conn.conn_type)
    if hook_class is None:
        raise ConfigurationError(
            f"Connection {conn.conn_id!r} has type {conn.conn_type!r}; import jobs need one of: "
            f"{', '.join(sorted(HOOKS))}."
        )
    hook = hook_class(conn_id=conn.conn_id)
    hook.use_connection(conn)
    return hook


def get_import_hook(conn_id: str) -> ImportJobHook:
    """The right hook for a connection, chosen by its type (``milvus``, ``zilliz_cloud``, ``egain``).

    :raises ConfigurationError: the connection's type is not one of ours.
    """
    return hook_for_connection(BaseHook.get_connection(conn_id))


async def aget_import_hook(conn_id: str) -> ImportJobHook:
    """Async twin of :func:`get_import_hook` (one asynchronous connection lookup)."""
    return hook_for_connection(await BaseHook.aget_connection(conn_id))


__all__ = [
    "HOOKS",
    "EgainImportHook",
    "ImportJobHook",
    "MilvusImportHook",
    "ZillizCloudImportHook",
    "aget_import_hook",
    "get_import_hook",
    "hook_for_connection",
]
