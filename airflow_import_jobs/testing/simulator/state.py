"""All simulator state in one object: configuration, jobs, faults, tokens, counters, the request log.

Pure Python, no HTTP. uvicorn serves requests in its own thread while a test reads and changes the
state from another, so everything goes through one re-entrant lock (``Simulator.lock``); the API
handlers hold it for the whole of a request.
"""

from __future__ import annotations

import copy
import itertools
import random
import string
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar

from airflow_import_jobs.testing.simulator.faults import Fault, FaultQueue
from airflow_import_jobs.testing.simulator.jobs import EgainJob, Job, MilvusJob, ZillizJob, make_files
from airflow_import_jobs.testing.simulator.lifecycle import Lifecycle
from airflow_import_jobs.testing.simulator.wire import RecordedRequest, SimRequest

#: First Milvus job ID: above 2**53, so a client that passes it through a float breaks visibly. Shaped
#: like a real one (a hybrid timestamp: 2026-01-01 in milliseconds, shifted 18 bits, plus a counter)
#: and unlike any ID in the vendors' docs, so "a job that does not exist" in a test stays one.
MILVUS_ID_BASE = (1_767_225_600_000 << 18) + 1
#: Job IDs printed in the vendors' docs, the reference and this project's docs and recorded answers:
#: no generated ID is ever one of these (case-insensitive).
DOC_EXAMPLE_IDS = frozenset(
    {
        "448761313698322011",
        "448707763884413158",
        "453240863839750922",
        "job-0123456789abcdefghijk",
        "job-xxxxxxxxxxxxxxxxxxxxx",
        "7a84b875-6f75-4c7b-b137-0632b62db0bd",
        "9d0bc230-6b99-4739-a872-0b91cfe2515a",
        "53632e6c-c078-4476-b840-10c4793d9c08",
        "1e27a1c0-8a6a-43ec-a4ed-e6a46b4cb242",
        "00000000-0000-4000-8000-000000000000",
    }
)
REQUEST_LOG_SIZE = 10_000
JOB_BACKENDS = ("milvus", "zilliz", "egain")
_OUTCOMES = {
    "milvus": frozenset({"completed", "failed", "uncommitted", "stall"}),
    "zilliz": frozenset({"completed", "failed", "stall"}),
    "egain": frozenset({"completed", "failed", "cancelled", "stall"}),
}
_ZILLIZ_ID_CHARS = string.ascii_lowercase + string.digits
#: The collections of the ``default`` database on a fresh simulator (Milvus and Zilliz Cloud).
DEFAULT_COLLECTIONS = ("quick_setup", "medium_articles", "docs")


@dataclass
class EgainToken:
    """An issued eGain access token."""

    expires: float
    scopes: frozenset[str]


def _as_str_set(value: Any) -> set[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValueError("expected a list of strings")
    items = list(value)
    if not all(isinstance(v, str) for v in items):
        raise ValueError("expected a list of strings")
    return set(items)


def _as_collections(value: Any) -> dict[str, set[str]]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError("expected an object of database name -> list of collection names")
    return {db: _as_str_set(names) for db, names in value.items()}


def _typed(kind: type | tuple[type, ...], *, optional: bool = False) -> Callable[[Any], Any]:
    def coerce(value: Any) -> Any:
        if value is None and optional:
            return None
        # bool is an int in Python; do not let True pass as a job limit.
        if isinstance(value, bool) and kind is not bool:
            raise ValueError(f"expected {kind}, got a bool")
        if not isinstance(value, kind):
            raise ValueError(f"expected {kind}, got {type(value).__name__}")
        return value

    return coerce


def _choice(*allowed: str) -> Callable[[Any], Any]:
    def coerce(value: Any) -> Any:
        if value not in allowed:
            raise ValueError(f"expected one of {list(allowed)}")
        return value

    return coerce


def _lifecycle(value: Any) -> Lifecycle:
    if isinstance(value, Lifecycle):
        return value
    if not isinstance(value, dict):
        raise ValueError("expected a Lifecycle or an object of its fields")
    return Lifecycle.from_dict(value)


_NUMBER = (int, float)
_COERCE: dict[str, Callable[[Any], Any]] = {
    "milvus_user": _typed(str),
    "milvus_password": _typed(str),
    "milvus_api_key": _typed(str),
    "milvus_auth_required": _typed(bool),
    "zilliz_api_key": _typed(str),
    "zilliz_cluster_id": _typed(str),
    "egain_client_id": _typed(str),
    "egain_client_secret": _typed(str),
    "egain_tenant": _typed(str),
    "egain_scopes": _as_str_set,
    "egain_token_ttl": _typed(_NUMBER),
    "milvus_success_code": _typed(int),
    "milvus_has_describe": _typed(bool),
    "milvus_has_commit_abort": _typed(bool),
    "milvus_job_limit": _typed(int),
    "milvus_max_files": _typed(int),
    "milvus_retention_s": _typed(_NUMBER),
    "milvus_collections": _as_collections,
    "milvus_partitions": _as_str_set,
    "milvus_restricted_dbs": _as_str_set,
    "zilliz_collections": _as_collections,
    "zilliz_partitions": _as_str_set,
    "zilliz_rate_limit": _typed(_NUMBER, optional=True),
    "zilliz_running_state": _typed(str),
    "zilliz_count_is_total": _typed(bool),
    "zilliz_auth_error_status": _typed(int),
    "egain_location_style": _choice("relative", "legacy"),
    "egain_results_spelling": _choice("successful", "succesfull"),
    "default_lifecycle": _lifecycle,
}


class Simulator:
    """State of the three simulated import-job APIs (Milvus REST v2, Zilliz Cloud, eGain v4).

    Configuration is plain attributes (class-level defaults, restored by :meth:`reset`); set them
    directly in tests or through :meth:`configure` (validated, as the control API does). Jobs are
    created with ``add_*_job`` or through the APIs' own create endpoints, and read back with
    :meth:`job`. Faults are queued with :meth:`inject`. :meth:`counters` and :attr:`requests` show
    what the client sent.

    :param seed: seed for generated IDs and tokens (Zilliz/eGain IDs repeat from run to run).
    :param clock: monotonic clock in seconds; a test may pass its own to move time-based
        lifecycles and token expiry without sleeping.
    :param config: configuration that :meth:`reset` restores instead of the class defaults (the
        CLI's ``--advance time``, a benchmark's rate limit), applied with :meth:`configure`.
    """

    # Credentials.
    milvus_user: str = "root"
    milvus_password: str = "Milvus"
    milvus_api_key: str = "milvus-api-key"
    milvus_auth_required: bool = True
    zilliz_api_key: str = "zilliz-api-key"
    zilliz_cluster_id: str = "in01-sim0000000000000"
    egain_client_id: str = "egain-client"
    egain_client_secret: str = "egain-secret"
    egain_tenant: str = "SIMTENANT-U"
    egain_scopes: set[str] = {"knowledge.contentmgr.manage", "app.knowledge.contentmgr.manage"}
    egain_token_ttl: float = 3600.0
    # Milvus quirks.
    milvus_success_code: int = 0
    milvus_has_describe: bool = True
    milvus_has_commit_abort: bool = True
    milvus_job_limit: int = 1024
    milvus_max_files: int = 1024
    milvus_retention_s: float = 3 * 3600.0
    # The databases, their collections, and the partitions every collection has: creates (and
    # lists) naming anything else are refused as the server refuses them (800, 100, 200).
    milvus_collections: dict[str, set[str]] = {"default": set(DEFAULT_COLLECTIONS)}
    milvus_partitions: set[str] = {"_default"}
    milvus_restricted_dbs: set[str] = set()
    # Zilliz quirks.
    zilliz_collections: dict[str, set[str]] = {"default": set(DEFAULT_COLLECTIONS)}
    zilliz_partitions: set[str] = {"_default"}
    zilliz_rate_limit: float | None = 20.0
    zilliz_running_state: str = "Importing"
    zilliz_count_is_total: bool = True
    zilliz_auth_error_status: int = 200
    # eGain quirks.
    egain_location_style: str = "relative"
    egain_results_spelling: str = "successful"
    # Jobs created through the APIs' create endpoints follow this unless one is queued.
    default_lifecycle: Lifecycle = Lifecycle()

    CONFIG_KEYS: ClassVar[tuple[str, ...]] = tuple(_COERCE)

    def __init__(
        self,
        *,
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        config: dict[str, Any] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self._base_config = dict(config or {})
        self._clock = clock
        self._mono0 = clock()
        self._wall0 = time.time()
        self._rng = random.Random(seed)
        # Never restarts, so an ID from before a reset cannot find a new job by accident.
        self._milvus_seq = itertools.count()
        self.milvus_jobs: dict[str, MilvusJob] = {}
        self.zilliz_jobs: dict[str, ZillizJob] = {}
        self.egain_jobs: dict[str, EgainJob] = {}
        self.zilliz_clusters: set[str] = set()
        self.faults = FaultQueue()
        self._counters: Counter[str] = Counter()
        self._requests: deque[RecordedRequest] = deque(maxlen=REQUEST_LOG_SIZE)
        self._tokens: dict[str, EgainToken] = {}
        self._queued_lifecycles: dict[str, deque[Lifecycle]] = {b: deque() for b in JOB_BACKENDS}
        self._zilliz_windows: dict[str, deque[float]] = {}
        #: Bumped by every reset, so a request still waiting out a delay cannot touch new state.
        self.generation = 0
        self.reset()

    # -- configuration -------------------------------------------------------------------------

    def reset(self) -> None:
        """Drop jobs, faults, counters, the request log and tokens; restore the default config."""
        with self.lock:
            self.generation += 1
            for name in self.CONFIG_KEYS:
                setattr(self, name, copy.deepcopy(getattr(type(self), name)))
            self.configure(**self._base_config)
            self.milvus_jobs.clear()
            self.zilliz_jobs.clear()
            self.egain_jobs.clear()
            self.zilliz_clusters.clear()
            self.faults.clear()
            self._counters.clear()
            self._requests.clear()
            self._tokens.clear()
            for queue in self._queued_lifecycles.values():
                queue.clear()
            self._zilliz_windows.clear()

    def configure(self, **values: Any) -> None:
        """Set configuration attributes, checking names and types (JSON lists become sets)."""
        unknown = set(values) - set(self.CONFIG_KEYS)
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        coerced = {}
        for name, value in values.items():
            try:
                coerced[name] = _COERCE[name](value)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from exc
        with self.lock:
            for name, value in coerced.items():
                setattr(self, name, value)

    def config(self) -> dict[str, Any]:
        """The configuration as JSON values."""
        with self.lock:
            out: dict[str, Any] = {}
            for name in self.CONFIG_KEYS:
                value = getattr(self, name)
                if isinstance(value, set):
                    value = sorted(value)
                elif isinstance(value, dict):
                    value = {k: sorted(v) for k, v in value.items()}
                elif isinstance(value, Lifecycle):
                    value = asdict(value)
                out[name] = value
            return out

    # -- time ----------------------------------------------------------------------------------

    def now(self) -> float:
        """Monotonic seconds (the clock given at construction)."""
        return self._clock()

    def wall(self, mono: float | None = None) -> float:
        """Unix time of a monotonic instant (now by default), consistent with a test clock."""
        return self._wall0 + ((self.now() if mono is None else mono) - self._mono0)

    # -- jobs ----------------------------------------------------------------------------------

    def queue_lifecycle(self, backend: str, lifecycle: Lifecycle, *, count: int = 1) -> None:
        """Give the next ``count`` jobs created through ``backend``'s API this lifecycle."""
        self._check_outcome(backend, lifecycle)
        with self.lock:
            self._queued_lifecycles[backend].extend([lifecycle] * count)

    def lifecycle_for_created(self, backend: str) -> Lifecycle:
        """The lifecycle of a job a create endpoint is making now (handlers' use)."""
        queue = self._queued_lifecycles[backend]
        if queue:
            return queue.popleft()
        lifecycle = self.default_lifecycle
        if lifecycle.outcome not in _OUTCOMES[backend]:
            # A default meant for another API (e.g. "cancelled") falls back to plain success here.
            return replace(lifecycle, outcome="completed")
        return lifecycle

    def _check_outcome(self, backend: str, lifecycle: Lifecycle) -> None:
        if backend not in _OUTCOMES:
            raise ValueError(f"backend must be one of {JOB_BACKENDS}, not {backend!r}")
        if lifecycle.outcome not in _OUTCOMES[backend]:
            raise ValueError(
                f"outcome {lifecycle.outcome!r} does not exist on {backend}; use one of {sorted(_OUTCOMES[backend])}"
            )

    def add_milvus_job(
        self,
        collection_name: str = "quick_setup",
        db_name: str = "default",
        lifecycle: Lifecycle | None = None,
        job_id: str | None = None,
        files: list[list[str]] | None = None,
        *,
        partition_name: str | None = None,
        options: dict[str, str] | None = None,
        request_body: dict[str, Any] | None = None,
    ) -> str:
        """Create a Milvus job directly; returns its ID (a decimal string above 2**53)."""
        lifecycle = lifecycle or self.default_lifecycle
        self._check_outcome("milvus", lifecycle)
        if job_id is not None and not job_id.isdigit():
            raise ValueError("a Milvus job ID is a decimal int64 string")
        with self.lock:
            if job_id is None:
                job_id = self._fresh(lambda: str(MILVUS_ID_BASE + next(self._milvus_seq)))
            if job_id in self.milvus_jobs:
                raise ValueError(f"Milvus job {job_id} exists")
            self.milvus_jobs[job_id] = MilvusJob(
                **self._new_job(job_id, lifecycle, request_body),
                collection_name=collection_name,
                db_name=db_name,
                partition_name=partition_name,
                files=make_files(files if files is not None else [["a.parquet"]], lifecycle.total_rows),
                options=dict(options or {}),
            )
            return job_id

    def add_zilliz_job(
        self,
        collection_name: str = "medium_articles",
        lifecycle: Lifecycle | None = None,
        cluster_id: str | None = None,
        *,
        job_id: str | None = None,
        files: list[list[str]] | None = None,
        request_body: dict[str, Any] | None = None,
        db_name: str = "default",
        partition_name: str | None = None,
    ) -> str:
        """Create a Zilliz Cloud job directly; returns its ID (``job-`` + 21 characters).

        A ``cluster_id`` other than :attr:`zilliz_cluster_id` becomes a known cluster too.
        """
        lifecycle = lifecycle or self.default_lifecycle
        self._check_outcome("zilliz", lifecycle)
        with self.lock:
            if job_id is None:
                job_id = self._fresh(lambda: "job-" + "".join(self._rng.choices(_ZILLIZ_ID_CHARS, k=21)))
            if job_id in self.zilliz_jobs:
                raise ValueError(f"Zilliz job {job_id} exists")
            cluster = cluster_id or self.zilliz_cluster_id
            self.zilliz_clusters.add(cluster)
            self.zilliz_jobs[job_id] = ZillizJob(
                **self._new_job(job_id, lifecycle, request_body),
                cluster_id=cluster,
                collection_name=collection_name,
                db_name=db_name,
                partition_name=partition_name,
                files=make_files(
                    files if files is not None else [["medium_articles_2020_dpr.json"]], lifecycle.total_rows
                ),
            )
            return job_id

    def add_egain_job(
        self,
        job_type: str = "Import",
        lifecycle: Lifecycle | None = None,
        *,
        job_id: str | None = None,
        request_body: dict[str, Any] | None = None,
        log_location: str | None = None,
        start_delay: float = 0.0,
    ) -> str:
        """Create an eGain job directly; returns its ID (an upper-case UUID v4).

        ``start_delay`` keeps a time-driven job ``Scheduled`` that many seconds (``scheduleTime``).
        """
        if job_type not in ("Import", "Validation"):
            raise ValueError("job_type must be 'Import' or 'Validation'")
        lifecycle = lifecycle or self.default_lifecycle
        self._check_outcome("egain", lifecycle)
        with self.lock:
            if job_id is None:
                job_id = self._fresh(lambda: str(uuid.UUID(int=self._rng.getrandbits(128), version=4)))
            key = job_id.upper()
            if key in self.egain_jobs:
                raise ValueError(f"eGain job {job_id} exists")
            self.egain_jobs[key] = EgainJob(
                **self._new_job(key, lifecycle, request_body, start_delay=start_delay),
                job_type=job_type,
                log_location=log_location or f"s3://sim-bucket/logs/import-logs-{key}.txt",
            )
            return key

    @staticmethod
    def _fresh(generate: Callable[[], str]) -> str:
        """A generated job ID that is not one of the docs' examples."""
        while True:
            job_id = generate()
            if job_id.lower() not in DOC_EXAMPLE_IDS:
                return job_id

    def add_collections(
        self, backend: str, names: Iterable[str], *, db_name: str = "default", partitions: Iterable[str] = ()
    ) -> None:
        """Make collections (and the database, and partitions of every collection) exist on
        ``backend`` (``milvus`` or ``zilliz``), so creates naming them are accepted."""
        if backend not in ("milvus", "zilliz"):
            raise ValueError("backend must be milvus or zilliz")
        names, partitions = _as_str_set(names), _as_str_set(partitions)
        with self.lock:
            collections: dict[str, set[str]] = getattr(self, f"{backend}_collections")
            collections.setdefault(db_name, set()).update(names)
            getattr(self, f"{backend}_partitions").update(partitions)

    def _new_job(
        self, job_id: str, lifecycle: Lifecycle, request_body: dict[str, Any] | None, *, start_delay: float = 0.0
    ) -> dict[str, Any]:
        """The fields every simulated job starts with: identity, script and clock readings."""
        now = self.now()
        return {
            "job_id": job_id,
            "lifecycle": lifecycle,
            "created": now,
            "created_wall": self.wall(now),
            "started": now + max(0.0, start_delay),
            "request_body": request_body,
        }

    def job(self, job_id: str) -> Job:
        """The job with this ID, on any API (eGain IDs in any case); KeyError if there is none."""
        with self.lock:
            found = self.milvus_jobs.get(job_id) or self.zilliz_jobs.get(job_id) or self.egain_jobs.get(job_id.upper())
            if found is None:
                raise KeyError(job_id)
            return found

    def jobs(self, backend: str | None = None) -> list[Job]:
        """All jobs, or one API's, in creation order."""
        with self.lock:
            stores: dict[str, dict[str, Any]] = {
                "milvus": self.milvus_jobs,
                "zilliz": self.zilliz_jobs,
                "egain": self.egain_jobs,
            }
            chosen = [stores[backend]] if backend else list(stores.values())
            return [job for store in chosen for job in store.values()]

    # -- faults, counters, request log -------------------------------------------------------------

    def inject(self, backend: str, fault: Fault, *, count: int = 1, endpoint: str | None = None) -> None:
        """Queue ``fault`` for the next ``count`` requests to ``backend`` (``milvus``, ``zilliz``,
        ``egain``, ``egain_token``), only to ``endpoint`` (last path word) when given."""
        with self.lock:
            self.faults.add(backend, fault, count, endpoint)

    def counters(self) -> dict[str, int]:
        """Requests received per ``backend.endpoint`` (faulted ones too), plus ``total``."""
        with self.lock:
            out = dict(self._counters)
            out["total"] = sum(self._counters.values())
            return out

    @property
    def requests(self) -> list[RecordedRequest]:
        """The last 10,000 API requests: (backend, endpoint, method, path, headers, body), secrets
        masked and ``Authorization`` left out."""
        with self.lock:
            return list(self._requests)

    def record(self, backend: str, endpoint: str, request: SimRequest) -> None:
        """Count and log one request (handlers' use)."""
        headers = {k: v for k, v in request.headers.items() if k != "authorization"}
        with self.lock:
            self._counters[f"{backend}.{endpoint}"] += 1
            self._requests.append(
                RecordedRequest(backend, endpoint, request.method, request.path, headers, request.recorded_body())
            )

    # -- eGain tokens ----------------------------------------------------------------------------

    def issue_egain_token(self, scopes: frozenset[str]) -> str:
        """A new access token living :attr:`egain_token_ttl` seconds."""
        with self.lock:
            token = f"sim-{self._rng.getrandbits(160):040x}"
            self._tokens[token] = EgainToken(self.now() + self.egain_token_ttl, scopes)
            return token

    def egain_token(self, token: str) -> EgainToken | None:
        """What the simulator knows of a token."""
        with self.lock:
            return self._tokens.get(token)

    def expire_egain_tokens(self) -> None:
        """Make every issued token expired now (tests of renewal without waiting)."""
        with self.lock:
            for token in self._tokens.values():
                token.expires = float("-inf")

    # -- Zilliz rate limit ------------------------------------------------------------------------

    def zilliz_allow(self, endpoint: str) -> bool:
        """Whether one more request to this endpoint fits the sliding one-second window."""
        limit = self.zilliz_rate_limit
        if limit is None:
            return True
        now = self.now()
        with self.lock:
            window = self._zilliz_windows.setdefault(endpoint, deque())
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= limit:
                return False
            window.append(now)
            return True
