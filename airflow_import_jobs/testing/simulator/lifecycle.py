"""How a simulated job moves from start to finish, independent of any API.

A :class:`Lifecycle` is a script; :func:`position` turns "how far along is it" into a number in
``[0, 1]`` (1 = the script's end); :func:`phase_at` names the phase. Each API module maps phases to
its own state spellings and progress numbers.

Reads mode, ``steps = n``: the first read shows the initial phase (Pending / Scheduled), the n-th
read shows the outcome, reads in between are spread evenly over the running phase. ``steps = 1``
finishes on the first read, ``steps = 0`` is finished before any read.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from typing import Any

OUTCOMES = frozenset({"completed", "failed", "cancelled", "uncommitted", "stall"})
ADVANCES = frozenset({"reads", "time"})
DEFAULT_REASON = "failed to read import file: The specified key does not exist."


@dataclass(frozen=True)
class Lifecycle:
    """The script one simulated job follows.

    :param outcome: ``completed``, ``failed``, ``cancelled`` (eGain only), ``uncommitted`` (Milvus
        two-phase import: waits in ``Uncommitted`` until ``/commit``) or ``stall`` (progress stops at
        ``stall_at`` forever).
    :param steps: reads until the outcome shows (``advance="reads"``).
    :param advance: ``reads`` (each read of the job advances it one step: deterministic tests) or
        ``time`` (wall clock over ``duration`` seconds: demos, benchmarks).
    :param duration: seconds from start to outcome in time mode.
    :param stall_at: percentage where a ``stall`` job stops (80: Milvus waiting for an index build).
    :param reason: failure reason, job level and file level.
    :param total_rows: rows (Milvus, Zilliz) or content items (eGain) in the job.
    :param errors: eGain ``results.errors`` of a Successful job.
    :param warnings: eGain ``results.warnings`` of a Successful job.
    :param raw_states: state spellings to send instead of the current ones: first = initial, last =
        terminal, any between spread over the running phase; one entry replaces only the terminal.
    :param retryable: eGain ``retryable`` of a Failed job.
    """

    outcome: str = "completed"
    steps: int = 3
    advance: str = "reads"
    duration: float = 60.0
    stall_at: int = 80
    reason: str = DEFAULT_REASON
    total_rows: int = 1000
    errors: int = 0
    warnings: int = 0
    raw_states: tuple[str, ...] | None = None
    retryable: bool = False

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}, not {self.outcome!r}")
        if self.advance not in ADVANCES:
            raise ValueError(f"advance must be one of {sorted(ADVANCES)}, not {self.advance!r}")
        if self.steps < 0 or self.duration < 0 or self.total_rows < 0:
            raise ValueError("steps, duration and total_rows must not be negative")
        if not 0 <= self.stall_at <= 100:
            raise ValueError("stall_at is a percentage: 0..100")
        if self.errors < 0 or self.warnings < 0 or self.errors + self.warnings > self.total_rows:
            raise ValueError("errors and warnings must be >= 0 and fit in total_rows")
        if self.raw_states is not None and (
            not isinstance(self.raw_states, tuple)
            or not self.raw_states
            or not all(isinstance(s, str) for s in self.raw_states)
        ):
            raise ValueError("raw_states must be a non-empty tuple of strings")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Lifecycle:
        """Build from JSON (the control API): lists become tuples, unknown keys are refused."""
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown Lifecycle fields: {sorted(unknown)}")
        clean = dict(values)
        if isinstance(clean.get("raw_states"), list):
            clean["raw_states"] = tuple(clean["raw_states"])
        return cls(**clean)


class Phase(enum.Enum):
    """Where a job is in its script, before any API names it."""

    INITIAL = "initial"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNCOMMITTED = "uncommitted"


_OUTCOME_PHASE = {
    "completed": Phase.SUCCEEDED,
    "failed": Phase.FAILED,
    "cancelled": Phase.CANCELLED,
    "uncommitted": Phase.UNCOMMITTED,
    "stall": Phase.RUNNING,
}


def position(lifecycle: Lifecycle, reads: int, elapsed: float) -> float:
    """How far along the script is, 0..1; ``elapsed`` is seconds since the job started running."""
    if lifecycle.advance == "time":
        if elapsed <= 0:
            return 0.0
        if lifecycle.duration <= 0:
            return 1.0
        return min(1.0, elapsed / lifecycle.duration)
    if lifecycle.steps == 0:
        return 1.0
    if reads <= 0:
        return 0.0
    if lifecycle.steps == 1:
        return 1.0
    return min(1.0, (reads - 1) / (lifecycle.steps - 1))


def phase_at(lifecycle: Lifecycle, pos: float) -> Phase:
    """The phase at a position; a stalled job never leaves RUNNING."""
    if pos >= 1.0:
        return _OUTCOME_PHASE[lifecycle.outcome]
    if pos <= 0.0:
        return Phase.INITIAL
    return Phase.RUNNING


def percent(lifecycle: Lifecycle, pos: float, low: int, high: int) -> int:
    """Progress between ``low`` and ``high`` at a running position, capped for stalled jobs."""
    value = low + int((high - low) * pos)
    if lifecycle.outcome == "stall":
        value = min(value, lifecycle.stall_at)
    return value


def spelling(lifecycle: Lifecycle, phase: Phase, pos: float, canonical: str) -> str:
    """The state string to send: ``raw_states`` when the test asked for legacy spellings."""
    raw = lifecycle.raw_states
    if raw is None or phase is Phase.UNCOMMITTED:
        return canonical
    if phase in (Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED):
        return raw[-1]
    if len(raw) == 1:
        return canonical
    if len(raw) == 2 or phase is Phase.INITIAL:
        return raw[0]
    # Running: spread the middle spellings over the running positions.
    middle = raw[1:-1]
    return middle[min(len(middle) - 1, int(pos * len(middle)))]
