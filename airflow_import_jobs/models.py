"""The normalized job model shared by all three APIs.

Milvus, Zilliz Cloud and eGain each describe an import job in their own wire format; the
protocol modules translate each of them into :class:`ImportJob`, so sensors, triggers and
operators decide on one model. The XCom form of a job is ``job.model_dump(mode="json")``.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Backend = Literal["milvus", "zilliz_cloud", "egain"]
BACKENDS: tuple[Backend, ...] = ("milvus", "zilliz_cloud", "egain")


class JobState(str, enum.Enum):
    """The normalized state of an import job.

    Every vendor spelling maps to one of these (see ``protocol/states.py``); a spelling we have
    never seen maps to ``UNKNOWN``, which is never terminal, so an unexpected value keeps a wait
    going instead of ending it wrongly.
    """

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        """True for states a job never leaves: completed, failed and cancelled."""
        return self in _TERMINAL

    def __str__(self) -> str:
        return self.value


_TERMINAL = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})


def _as_utc(value: datetime | None) -> datetime | None:
    # APIs send naive or zoned timestamps; the contract is timezone-aware UTC.
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FileProgress(_Model):
    """Progress of one file (Milvus and Zilliz Cloud report it per file)."""

    file_name: str | None = None
    file_size: int | None = None
    state: JobState = JobState.UNKNOWN
    progress: int | None = Field(default=None, ge=0, le=100)
    reason: str | None = None
    imported_rows: int | None = None
    total_rows: int | None = None
    completed_at: datetime | None = None

    @field_validator("completed_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return _as_utc(value)


class JobResults(_Model):
    """eGain's outcome counts: items imported, items with warnings, items with errors."""

    successful: int = 0
    warnings: int = 0
    errors: int = 0


class ImportJob(_Model):
    """One import (or eGain validation) job, normalized across the three APIs.

    ``raw`` keeps the API's own record unmodified, for anything the normalized fields do not
    carry. Job IDs are always strings: Milvus IDs exceed 2**53 and must never pass through float.
    """

    job_id: str
    backend: Backend
    state: JobState
    progress: int = Field(default=0, ge=0, le=100)
    collection_name: str | None = None
    reason: str | None = None
    total_rows: int | None = None
    imported_rows: int | None = None
    files: list[FileProgress] = Field(default_factory=list)
    created_at: datetime | None = None
    completed_at: datetime | None = None
    job_type: Literal["import", "validation"] | None = None
    results: JobResults | None = None
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)

    @field_validator("created_at", "completed_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return _as_utc(value)

    @property
    def files_done(self) -> int:
        """How many files reached a terminal state."""
        return sum(1 for f in self.files if f.state.is_terminal)

    def failing_file_reasons(self) -> list[str]:
        """``"<file>: <reason>"`` for each file that failed, in order."""
        return [
            f"{f.file_name or '?'}: {(f.reason or 'no reason given').rstrip('.')}"
            for f in self.files
            if f.state is JobState.FAILED
        ]
