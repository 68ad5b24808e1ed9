"""Every vendor state spelling, and the normalized state it means.

All that decides a job's state lives in these tables. Lookup ignores case, spaces, hyphens and
underscores (``In Progress``, ``InProgress`` and ``in_progress`` are one spelling). A spelling
not in a table maps to ``UNKNOWN`` — never terminal, so the wait goes on — and is logged once.
"""

from __future__ import annotations

import logging
import threading

from airflow_import_jobs.models import Backend, JobState

log = logging.getLogger(__name__)

P, R, C, F, X = JobState.PENDING, JobState.RUNNING, JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED

#: Milvus and Zilliz Cloud job-level states: one vocabulary, because Zilliz Cloud runs Milvus and a
#: spelling either API has ever sent can come from both. Current Milvus states, the two-phase ones,
#: the pre-2.4 ``Import*`` family, Zilliz's ``InProgress`` and its legacy v1 ``ImportRunning``.
MILVUS_STATES: dict[str, JobState] = {
    "Pending": P,
    "PreImporting": R,
    "Importing": R,
    "InProgress": R,
    "Sorting": R,
    "IndexBuilding": R,
    # Two-phase import (auto_commit = "false"): the data is staged, waiting for /commit.
    "Uncommitted": R,
    "Committing": R,
    "Completed": C,
    "Failed": F,
    "None": JobState.UNKNOWN,
    "ImportPending": P,
    "ImportStarted": R,
    "ImportRunning": R,
    "ImportPersisted": R,
    "ImportFlushed": R,
    "ImportCompleted": C,
    "ImportFailed": F,
    "ImportFailedAndCleaned": F,
}

#: Zilliz Cloud job states: the same table as Milvus (not a copy, so the two cannot drift apart).
ZILLIZ_STATES: dict[str, JobState] = MILVUS_STATES

#: Milvus and Zilliz per-file states (``details[].state``): a vocabulary of its own.
FILE_STATES: dict[str, JobState] = {
    "Pending": P,
    "InProgress": R,
    "Importing": R,
    "Retry": R,
    "Completed": C,
    "Failed": F,
}

#: eGain Knowledge: ``In Progress`` has a space; the prose also says ``Completed``.
EGAIN_STATES: dict[str, JobState] = {
    "Scheduled": P,
    "Pending": P,
    "In Progress": R,
    "Successful": C,
    "Completed": C,
    "Failed": F,
    "Cancelled": X,
    "Canceled": X,
}

JOB_STATES: dict[Backend, dict[str, JobState]] = {
    "milvus": MILVUS_STATES,
    "zilliz_cloud": ZILLIZ_STATES,
    "egain": EGAIN_STATES,
}


def _fold(spelling: str) -> str:
    return "".join(ch for ch in spelling.lower() if ch.isalnum())


_FOLDED: dict[int, dict[str, JobState]] = {
    id(table): {_fold(k): v for k, v in table.items()} for table in (*JOB_STATES.values(), FILE_STATES)
}
_unknown_seen: set[tuple[str, str]] = set()
_unknown_lock = threading.Lock()


def map_state(table: dict[str, JobState], spelling: object, *, api: str) -> JobState:
    """The normalized state for ``spelling`` in ``table``; UNKNOWN (logged once) if unmapped."""
    if isinstance(spelling, str):
        state = _FOLDED[id(table)].get(_fold(spelling))
        if state is not None:
            return state
    shown = repr(spelling)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."  # a hostile value must not flood the log
    key = (api, shown)
    with _unknown_lock:
        first_time = key not in _unknown_seen
        if first_time and len(_unknown_seen) < 1000:
            _unknown_seen.add(key)
    if first_time:
        log.warning(
            "%s sent job state %s, which this provider does not know; treating it as 'unknown' "
            "(not terminal) and waiting on. Please report it.",
            api,
            shown,
        )
    return JobState.UNKNOWN
