"""Objects the garbage collector tracks per waiting trigger, by type (the figure in NOTES.md).

    python -m benchmarks.objects [--n 2000] [--no-deadline]

Starts the bench's simulator, creates N Milvus jobs, starts N triggers the way the benchmark does
(with the deadline the deferrable sensor sets, unless ``--no-deadline``), lets them subscribe, and
counts ``gc.get_objects()`` against the count before. Every full collection walks these objects.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks import scenario
from benchmarks.run import SimulatorProcess, connections


async def count(spec: scenario.Spec, deadline: bool) -> tuple[int, float, Counter[str]]:
    from airflow_import_jobs.triggers.import_job import ImportJobTrigger

    def make(job_id: str, poll_interval: float) -> Any:
        end_time = time.time() + scenario.SENSOR_TIMEOUT if deadline else None
        return ImportJobTrigger(conn_id=spec.conn_id, job_ids=[job_id], poll_interval=poll_interval, end_time=end_time)

    await scenario.warm_up(spec, make)
    await asyncio.sleep(0.2)  # let the warm-up's feed and client close
    waits, _ = scenario.create_jobs(spec, spec.n, spec.finish_min, spec.finish_max, 1)
    gc.collect()
    before_types = Counter(type(o).__name__ for o in gc.get_objects())
    before = len(gc.get_objects())
    loop = asyncio.get_running_loop()
    tasks = []
    for wait in waits:  # like TriggerRunner.create_triggers
        await asyncio.sleep(0)
        tasks.append(loop.create_task(scenario.run_trigger(make(wait.job_id, spec.poll_interval), wait)))
    for _ in range(5):  # every trigger reaches its first await on the feed
        await asyncio.sleep(0.05)
    gc.collect()
    after_types = Counter(type(o).__name__ for o in gc.get_objects())
    per_wait = (len(gc.get_objects()) - before) / spec.n
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return before, per_wait, after_types - before_types


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.objects", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="triggers to start (default 2000)")
    parser.add_argument("--no-deadline", action="store_true", help="triggers without end_time")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aij-objects-") as work:
        sim = SimulatorProcess(Path(work) / "simulator.log", dict(os.environ))
        try:
            os.environ.update(connections(sim, None))
            spec = scenario.Spec(
                name="objects",
                backend="milvus",
                impl="ours",
                n=args.n,
                poll_interval=30.0,
                finish_min=600.0,
                finish_max=600.0,
                control_url=sim.control,
                conn_id="bench_milvus",
                out=str(Path(work) / "objects.json"),
            )
            baseline, per_wait, by_type = asyncio.run(count(spec, deadline=not args.no_deadline))
        finally:
            sim.stop()
    print(f"tracked objects before the waits: {baseline:,}; per waiting trigger: {per_wait:.1f}")
    for name, number in by_type.most_common(20):
        print(f"  {name:28s} {number / args.n:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
