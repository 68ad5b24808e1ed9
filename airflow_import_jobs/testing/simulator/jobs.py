"""The simulated jobs: plain records that tests read for assertions (``Simulator.job(id)``).

Only the fields live here; each API module decides what a job looks like on its wire.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

from airflow_import_jobs.testing.simulator.lifecycle import Lifecycle, Phase, phase_at, position


@dataclass(kw_only=True)
class Job:
    """What every simulated job has.

    ``reads`` counts the requests that read the job; ``started`` is the monotonic time it started
    running (later than creation for a scheduled eGain job); ``finished`` is the monotonic time the
    simulator first saw it finished (Milvus retention counts from there).
    """

    job_id: str
    lifecycle: Lifecycle
    created: float
    created_wall: float
    started: float
    request_body: dict[str, Any] | None = None
    reads: int = 0
    finished: float | None = None
    finished_wall: float | None = None

    def position(self, now: float) -> float:
        """How far along its lifecycle, 0..1."""
        return position(self.lifecycle, self.reads, now - self.started)

    def phase(self, now: float) -> Phase:
        """The lifecycle phase, before API-specific flags (abort, commit, cancel) apply."""
        return phase_at(self.lifecycle, self.position(now))

    def mark_finished(self, now: float, wall: float) -> None:
        """Remember when the job was first seen finished."""
        if self.finished is None:
            self.finished = now
            self.finished_wall = wall


@dataclass(frozen=True)
class ImportFile:
    """One entry of a job's ``details[]``: an inner file list of the create request."""

    name: str
    size: int
    rows: int


def make_files(groups: list[list[str]], total_rows: int) -> tuple[ImportFile, ...]:
    """Files with stable sizes and the job's rows spread over them (Milvus joins a group's paths)."""
    count = max(1, len(groups))
    files = []
    for i, group in enumerate(groups or [["data.parquet"]]):
        name = ",".join(group)
        rows = total_rows // count + (total_rows % count if i == count - 1 else 0)
        size = 1_048_576 + zlib.crc32(name.encode()) % (64 * 1_048_576)
        files.append(ImportFile(name, size, rows))
    return tuple(files)


@dataclass(kw_only=True)
class MilvusJob(Job):
    """A Milvus import job. ``committed``/``aborted`` are set by ``/commit`` and ``/abort``."""

    collection_name: str
    db_name: str = "default"
    partition_name: str | None = None
    files: tuple[ImportFile, ...] = ()
    options: dict[str, str] = field(default_factory=dict)
    committed: bool = False
    committed_at: float | None = None
    reads_since_commit: int = 0
    aborted: bool = False


@dataclass(kw_only=True)
class ZillizJob(Job):
    """A Zilliz Cloud import job; ``request_body`` keeps any ``accessKey``/``secretKey``/``token``."""

    cluster_id: str
    collection_name: str
    db_name: str = "default"
    partition_name: str | None = None
    files: tuple[ImportFile, ...] = ()


@dataclass(kw_only=True)
class EgainJob(Job):
    """An eGain import or validation job. ``cancelled`` is set by ``/cancel``."""

    job_type: str = "Import"
    log_location: str = ""
    cancelled: bool = False
    cancelled_percent: int = 0
