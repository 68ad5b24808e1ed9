"""Imports whose home moved between Airflow 3.1 and the newest 3.x release."""

from __future__ import annotations

from typing import Any

try:  # Airflow >= 3.2: the Task SDK owns the exception hierarchy.
    from airflow.sdk.exceptions import AirflowException
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.exceptions import AirflowException  # type: ignore[attr-defined,unused-ignore]

try:
    from airflow.sdk.log import mask_secret as _mask_secret
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.sdk.execution_time.secrets_masker import mask_secret as _mask_secret  # type: ignore[no-redef]


def mask_secret(value: Any, name: str | None = None) -> None:
    """Register ``value`` with Airflow's secrets masker so it is redacted from every log line."""
    if value:
        _mask_secret(value, name)


__all__ = ["AirflowException", "mask_secret"]
