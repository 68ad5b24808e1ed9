"""One benchmark scenario in a fresh process: N concurrent waits on one asyncio loop, like a triggerer.

``python -m benchmarks.scenario SPEC.json`` reads the scenario (see :class:`Spec`), runs it and
writes its measurements as JSON to ``spec.out``. The simulator runs in another process
(``benchmarks.simserver``); connections come from ``AIRFLOW_CONN_*`` variables set by
``benchmarks.run``.

What one run does:

1. warm up: one wait of the same kind on an already finished job (imports, first connection read,
   token, HTTP client), so the memory baseline holds the process, not its first use;
2. create N jobs on the simulator, finishing at spread-out times (``finish_min``..``finish_max``
   seconds from now, in ``groups`` steps), and note each one's completion time;
3. start a 0.1 s watchdog like the triggerer's (``block_watchdog``) and an RSS sampler;
4. create the N triggers the way the triggerer's ``create_triggers`` does (``await asyncio.sleep(0)``
   between two, each trigger's ``run()`` consumed by its own task) and wait for every event, or
   until ``cap_seconds``;
5. read the simulator's counters and request log, and compute the metrics.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Spec:
    """A scenario: which waits, how many, against which jobs."""

    name: str
    backend: str  # milvus | zilliz | egain
    impl: str  # ours | ours_httpx | http_event | per_poll_session
    n: int
    poll_interval: float
    finish_min: float
    finish_max: float
    control_url: str
    conn_id: str
    out: str
    groups: int = 30
    cap_seconds: float = 0.0  # 0: finish_max + 2 poll intervals + 30 s
    burst_window: float = 10.0
    #: ``{"module:attribute": value}`` set before the run: to measure a proposed change without editing src.
    patches: dict[str, Any] = field(default_factory=dict)
    #: Finished jobs created first in the same database and collection (retained history the list returns).
    seed_jobs: int = 0
    #: What-if: move the warmed-up heap (Airflow, the provider, the HTTP client) out of the collector's
    #: reach before the waits start, so a full collection walks only what the waits add.
    gc_freeze: bool = False


@dataclass
class Wait:
    job_id: str
    completes_at: float
    event_at: float | None = None
    status: str | None = None


@dataclass
class Probe:
    """What the watchdog and the RSS sampler saw."""

    lags: list[tuple[float, float]] = field(default_factory=list)
    cpu: list[tuple[float, float]] = field(default_factory=list)
    gc_pauses: list[tuple[int, float, float]] = field(default_factory=list)  # (generation, seconds, wall end)
    _gc_started: float = 0.0

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        """``gc.callbacks`` hook: how long each collection held the loop."""
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            pause = time.perf_counter() - self._gc_started
            self.gc_pauses.append((int(info.get("generation", -1)), pause, time.time()))

    rss: list[tuple[float, int]] = field(default_factory=list)


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def control(url: str, payload: dict[str, Any] | None = None) -> Any:
    """A request to the simulator's control API (urllib: no part of the measured clients)."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
        return json.loads(response.read())


def create_jobs(spec: Spec, n: int, finish_min: float, finish_max: float, groups: int) -> tuple[list[Wait], float]:
    """N jobs finishing between ``finish_min`` and ``finish_max`` s from now; (waits, creation skew s)."""
    backend = {"milvus": "milvus", "zilliz": "zilliz", "egain": "egain"}[spec.backend]
    groups = max(1, min(groups, n))
    waits: list[Wait] = []
    skew = 0.0
    for g in range(groups):
        count = n // groups + (1 if g < n % groups else 0)
        if count == 0:
            continue
        duration = finish_min if groups == 1 else finish_min + (finish_max - finish_min) * g / (groups - 1)
        lifecycle = {"advance": "time", "duration": duration, "outcome": "completed"}
        ids = control(f"{spec.control_url}/jobs", {"backend": backend, "count": count, "lifecycle": lifecycle})[
            "job_ids"
        ]
        first = control(f"{spec.control_url}/jobs/{ids[0]}")
        last = control(f"{spec.control_url}/jobs/{ids[-1]}")
        skew = max(skew, last["created_wall"] - first["created_wall"])
        # The group's first creation time: a job's completion is never earlier than this says,
        # so the completion-to-event latency is, if anything, over-stated (by at most ``skew``).
        completes_at = first["created_wall"] + duration
        waits.extend(Wait(job_id, completes_at) for job_id in ids)
    return waits, skew


#: ``BaseSensorOperator``'s default ``timeout`` (7 days): the deadline the sensor's triggers carry.
SENSOR_TIMEOUT = 7 * 24 * 3600.0


def trigger_factory(spec: Spec) -> Callable[[str, float], Any]:
    """Builds the trigger one wait runs: ``make(job_id, poll_interval)``."""
    if spec.impl in ("ours", "ours_httpx"):  # ours_httpx: the same trigger, patched (run.HTTPX_PATCH)
        from airflow_import_jobs.triggers.import_job import ImportJobTrigger

        def ours(job_id: str, poll_interval: float) -> Any:
            # As the deferrable sensor defers: with the deadline of its default 7-day ``timeout``.
            deadline = time.time() + SENSOR_TIMEOUT
            return ImportJobTrigger(
                conn_id=spec.conn_id, job_ids=[job_id], poll_interval=poll_interval, end_time=deadline
            )

        return ours
    if spec.impl == "http_event":
        from benchmarks.peers import http_event_trigger

        def http_event(job_id: str, poll_interval: float) -> Any:
            return http_event_trigger(spec.backend, spec.conn_id, job_id, poll_interval)

        return http_event
    if spec.impl == "per_poll_session":
        from benchmarks.peers import PerPollSessionTrigger

        def per_poll(job_id: str, poll_interval: float) -> Any:
            return PerPollSessionTrigger(
                backend=spec.backend, conn_id=spec.conn_id, job_id=job_id, poll_interval=poll_interval
            )

        return per_poll
    raise ValueError(f"unknown impl {spec.impl!r}")


def event_status(payload: Any) -> str:
    if isinstance(payload, dict):
        return str(payload.get("status"))
    return str(payload)


async def run_trigger(trigger: Any, wait: Wait) -> None:
    """Consume the trigger's ``run()`` as the triggerer does, noting when its (first) event came."""
    async for event in trigger.run():
        wait.event_at = time.time()
        wait.status = event_status(event.payload)
        break


async def watchdog(probe: Probe, stop: asyncio.Event) -> None:
    """The triggerer's ``block_watchdog``: sleep 0.1 s, see how late the wake-up is."""
    while not stop.is_set():
        last = time.monotonic()
        await asyncio.sleep(0.1)
        now = time.time()
        probe.lags.append((now, time.monotonic() - last - 0.1))
        probe.cpu.append((now, time.process_time()))


async def rss_sampler(probe: Probe, stop: asyncio.Event) -> None:
    while not stop.is_set():
        probe.rss.append((time.time(), rss_bytes()))
        await asyncio.sleep(0.5)


async def warm_up(spec: Spec, make: Callable[[str, float], Any]) -> None:
    # A short interval: our feed polls first one interval after a wait subscribes.
    waits, _ = create_jobs(spec, 1, 0.0, 0.0, 1)
    await asyncio.wait_for(run_trigger(make(waits[0].job_id, 0.1), waits[0]), timeout=60.0)
    if waits[0].event_at is None:
        raise RuntimeError("the warm-up wait got no event")


def apply_patches(patches: dict[str, Any]) -> None:
    import importlib

    for target, value in patches.items():
        module, _, attribute = target.partition(":")
        setattr(importlib.import_module(module), attribute, value)


async def scenario(spec: Spec) -> dict[str, Any]:
    make = trigger_factory(spec)
    apply_patches(spec.patches)
    await warm_up(spec, make)
    await asyncio.sleep(0.2)  # let the warm-up's feed and client close
    if spec.seed_jobs:
        finished = {"advance": "time", "duration": 0.0, "outcome": "completed"}
        control(f"{spec.control_url}/jobs", {"backend": spec.backend, "count": spec.seed_jobs, "lifecycle": finished})
    waits, skew = create_jobs(spec, spec.n, spec.finish_min, spec.finish_max, spec.groups)
    gc.collect()
    if spec.gc_freeze:
        gc.freeze()
    root = spec.control_url.rsplit("/_sim", 1)[0]
    control(f"{root}/_bench/reset", {})
    counters0 = control(f"{spec.control_url}/counters")
    rss0 = rss_bytes()

    probe = Probe()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    helpers = [loop.create_task(watchdog(probe, stop)), loop.create_task(rss_sampler(probe, stop))]
    cap = spec.cap_seconds or spec.finish_max + 2 * spec.poll_interval + 30.0

    gc.callbacks.append(probe.on_gc)
    cpu0 = time.process_time()
    t0 = time.time()
    tasks = []
    for wait in waits:  # like TriggerRunner.create_triggers
        await asyncio.sleep(0)
        tasks.append(loop.create_task(run_trigger(make(wait.job_id, spec.poll_interval), wait)))
    created = time.time()
    _, pending = await asyncio.wait(tasks, timeout=max(0.0, cap - (time.time() - t0)))
    t_end = time.time()
    cpu = time.process_time() - cpu0
    gc.callbacks.remove(probe.on_gc)
    capped = bool(pending)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=30)
    rss_end = rss_bytes()
    stop.set()
    await asyncio.gather(*helpers)
    probe.rss.append((time.time(), rss_end))
    counters1 = control(f"{spec.control_url}/counters")
    log = control(f"{root}/_bench/log?since=0")
    return measure(spec, waits, probe, log, counters0, counters1, t0, created, t_end, cpu0, cpu, rss0, skew, capped)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def max_in_window(times: list[float], width: float) -> int:
    """Most entries of a sorted list within any half-open window of ``width`` seconds."""
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= width:
            start += 1
        best = max(best, end - start + 1)
    return best


def measure(
    spec: Spec,
    waits: list[Wait],
    probe: Probe,
    log: dict[str, Any],
    counters0: dict[str, int],
    counters1: dict[str, int],
    t0: float,
    created: float,
    t_end: float,
    cpu0: float,
    cpu: float,
    rss0: int,
    skew: float,
    capped: bool,
) -> dict[str, Any]:
    wall = t_end - t0
    p = spec.poll_interval
    times: list[float] = log["t"]
    keys: list[str] = log["k"]
    statuses: list[int] = log["s"]
    in_run = [i for i, t in enumerate(times) if t0 <= t <= t_end]
    requests = len(in_run)
    counter_delta = {
        k: counters1.get(k, 0) - counters0.get(k, 0)
        for k in counters1
        if counters1.get(k, 0) != counters0.get(k, 0) and k != "total"
    }
    by_endpoint: dict[str, int] = {}
    for i in in_run:
        by_endpoint[keys[i]] = by_endpoint.get(keys[i], 0) + 1

    # Requests per poll interval: consecutive windows of one poll interval from the start, each
    # beginning a little before a tick of a feed started at t0 (so each window holds one tick).
    events = sorted(w.event_at for w in waits if w.event_at is not None)
    windows = []
    start = t0 - min(1.0, p / 10)
    cpu_at = [(t0, cpu0), *((t, c) for t, c in probe.cpu if t0 < t < t_end), (t_end, cpu0 + cpu)]

    def cpu_until(moment: float) -> float:
        before = [c for t, c in cpu_at if t <= moment]
        return before[-1] if before else cpu0

    while start < t_end:
        end = start + p
        reqs = sum(1 for i in in_run if start <= times[i] < end)
        done = sum(1 for e in events if start <= e < end)
        full = end <= t_end
        used = cpu_until(min(end, t_end)) - cpu_until(max(start, t0))
        windows.append(
            {"start": round(start - t0, 3), "requests": reqs, "events": done, "full": full, "cpu_s": round(used, 3)}
        )
        start = end
    # Steady state: the second window holds the second poll and, when the first job finishes after
    # it, no completion — what N waits cost per interval while nothing finishes.
    steady = windows[1] if len(windows) > 2 and windows[1]["events"] == 0 and windows[1]["full"] else None
    full_windows = [w for w in windows if w["full"]] or windows
    per_interval = requests / (wall / p) if wall > 0 else 0.0
    excess = max((w["requests"] - w["events"] for w in full_windows), default=0)

    lags = [lag for _, lag in probe.lags]
    burst = [lag for t, lag in probe.lags if t <= t0 + spec.burst_window]
    latencies = [w.event_at - w.completes_at for w in waits if w.event_at is not None]
    # The wait's lifetime: from the start of the run until its event (or the end of the run).
    wait_minutes = sum(((w.event_at or t_end) - t0) for w in waits) / 60.0
    rss_peak = max([rss for _, rss in probe.rss] + [rss0])
    by_status: dict[str, int] = {}
    for w in waits:
        key = w.status or "none"
        by_status[key] = by_status.get(key, 0) + 1

    per_second: dict[str, int] = {}
    for key in sorted(set(keys[i] for i in in_run)):
        per_second[key] = max_in_window([times[i] for i in in_run if keys[i] == key], 1.0)
    status_counts: dict[str, int] = {}
    for i in in_run:
        status_counts[str(statuses[i])] = status_counts.get(str(statuses[i]), 0) + 1

    return {
        "spec": asdict(spec),
        "n": spec.n,
        "events": len(latencies),
        "lost": spec.n - len(latencies),
        "event_status": by_status,
        "capped": capped,
        "wall_s": round(wall, 3),
        "create_s": round(created - t0, 3),
        "requests_total": requests,
        "requests_by_endpoint": by_endpoint,
        "counters_delta": counter_delta,
        "http_status": status_counts,
        "status_429": status_counts.get("429", 0),
        "requests_per_interval": round(per_interval, 2),
        "requests_per_interval_max": max((w["requests"] for w in full_windows), default=0),
        "requests_minus_events_max": excess,
        "windows": windows,
        "max_requests_per_second_by_endpoint": per_second,
        "cpu_s": round(cpu, 3),
        "cpu_pct_core": round(100.0 * cpu / wall, 2) if wall > 0 else None,
        "cpu_steady_pct_core": round(100.0 * steady["cpu_s"] / p, 2) if steady else None,
        "requests_steady_interval": steady["requests"] if steady else None,
        "wait_minutes": round(wait_minutes, 2),
        "cpu_s_per_1k_wait_min": round(cpu / (wait_minutes / 1000.0), 4) if wait_minutes > 0 else None,
        "cpu_ms_per_request": round(1000.0 * cpu / requests, 4) if requests else None,
        "rss_baseline_mb": round(rss0 / 2**20, 2),
        "rss_peak_mb": round(rss_peak / 2**20, 2),
        "rss_per_wait_kb": round((rss_peak - rss0) / spec.n / 1024, 2),
        "rss_peak_at_s": round(max([*probe.rss, (t0, rss0)], key=lambda x: x[1])[0] - t0, 1),
        "lag_p50_ms": round(1000 * (percentile(lags, 50) or 0.0), 2),
        "lag_p99_ms": round(1000 * (percentile(lags, 99) or 0.0), 2),
        "lag_max_ms": round(1000 * max(lags, default=0.0), 2),
        "lag_samples": len(lags),
        "lag_top": [[round(t - t0, 2), round(1000 * lag, 1)] for t, lag in sorted(probe.lags, key=lambda x: -x[1])[:8]],
        "gc_collections": len(probe.gc_pauses),
        "gc_full_collections": sum(1 for g, _, _ in probe.gc_pauses if g == 2),
        "gc_pause_max_ms": round(1000 * max((d for _, d, _ in probe.gc_pauses), default=0.0), 1),
        "gc_pause_total_s": round(sum(d for _, d, _ in probe.gc_pauses), 3),
        # [seconds since the first trigger, generation, pause ms]: tells a collector stall from our own work
        "gc_top": [
            [round(at - t0, 2), g, round(1000 * d, 1)] for g, d, at in sorted(probe.gc_pauses, key=lambda x: -x[1])[:8]
        ],
        "burst_lag_max_ms": round(1000 * max(burst, default=0.0), 2),
        "burst_lag_p99_ms": round(1000 * (percentile(burst, 99) or 0.0), 2),
        "latency_p50_s": round(percentile(latencies, 50) or 0.0, 3),
        "latency_p99_s": round(percentile(latencies, 99) or 0.0, 3),
        "latency_max_s": round(max(latencies, default=0.0), 3),
        "latency_min_s": round(min(latencies, default=0.0), 3),
        "latency_mean_s": round(statistics.fmean(latencies), 3) if latencies else None,
        "completion_skew_s": round(skew, 4),
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    with open(args[0]) as f:
        spec = Spec(**json.load(f))
    profile_to = os.environ.get("BENCH_PROFILE")  # a directory: write <scenario>.prof (cProfile)
    if profile_to:
        import cProfile

        profiler = cProfile.Profile()
        result = profiler.runcall(asyncio.run, scenario(spec))
        profiler.dump_stats(os.path.join(profile_to, f"{spec.name}.prof"))
    else:
        result = asyncio.run(scenario(spec))
    with open(spec.out, "w") as f:
        json.dump(result, f, indent=1)
    print(
        f"{spec.name}: {result['events']}/{spec.n} events in {result['wall_s']:.0f} s, "
        f"{result['requests_per_interval']:.1f} requests/interval, cpu {result['cpu_s']:.1f} s, "
        f"lag p99 {result['lag_p99_ms']:.0f} ms, latency max {result['latency_max_s']:.1f} s",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
