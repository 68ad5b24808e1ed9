"""Imports whose home moved between Airflow 3.1 and the newest 3.x release."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

try:  # Airflow >= 3.2
    from airflow.sdk import conf
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.configuration import conf  # type: ignore[attr-defined,no-redef,assignment,unused-ignore]


def _exception(name: str) -> Any:
    # Airflow >= 3.2: the Task SDK owns the exception hierarchy; 3.1 keeps it in airflow.exceptions.
    for module in ("airflow.sdk.exceptions", "airflow.exceptions"):
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"Airflow provides no {name}")  # pragma: no cover


if TYPE_CHECKING:  # type-check against the newest layout
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSensorTimeout,
        AirflowSkipException,
        AirflowTaskTimeout,
        TaskDeferred,
    )
else:
    AirflowException = _exception("AirflowException")
    AirflowFailException = _exception("AirflowFailException")
    AirflowNotFoundException = _exception("AirflowNotFoundException")
    AirflowSensorTimeout = _exception("AirflowSensorTimeout")
    AirflowSkipException = _exception("AirflowSkipException")
    AirflowTaskTimeout = _exception("AirflowTaskTimeout")
    TaskDeferred = _exception("TaskDeferred")

try:
    from airflow.sdk.log import mask_secret as _mask_secret
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.sdk.execution_time.secrets_masker import mask_secret as _mask_secret  # type: ignore[no-redef]

try:
    from airflow.sdk.log import amask_secret as _amask_secret
except ImportError:  # pragma: no cover - Airflow < 3.3
    _amask_secret = None  # type: ignore[assignment]

try:  # registers with this process's masker only: no message to a supervisor
    from airflow.sdk._shared.secrets_masker.secrets_masker import mask_secret as _mask_locally
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.sdk.execution_time.secrets_masker import mask_secret as _mask_locally  # type: ignore[no-redef]


def mask_secrets(values: Iterable[Any]) -> None:
    """Register secrets with Airflow's masker, so they are redacted from every log line (sync code)."""
    for value in values:
        if value:
            _mask_secret(value)


async def amask_secrets(values: Iterable[Any]) -> None:
    """Async twin of :func:`mask_secrets`: never blocks the event loop on the supervisor channel."""
    for value in values:
        if not value:
            continue
        if _amask_secret is not None:
            await _amask_secret(value)
        else:  # pragma: no cover - Airflow < 3.3: register in this process only
            _mask_locally(value)


def mask_locally(value: str) -> None:
    """Register a secret born in this process (an OAuth token) with this process's masker only."""
    if value:
        _mask_locally(value)


__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirflowTaskTimeout",
    "TaskDeferred",
    "amask_secrets",
    "conf",
    "mask_locally",
    "mask_secrets",
]
