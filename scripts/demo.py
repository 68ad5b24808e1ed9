"""Run the example DAGs through a real local Airflow against the bundled API simulator.

    uv run python scripts/demo.py                  # run every DAG tagged "example", report, stop
    uv run python scripts/demo.py --keep-running   # then keep Airflow up (UI address printed) until Ctrl-C

Starts the simulator and Airflow (api-server, scheduler, dag-processor, triggerer) on 127.0.0.1
only, with ``milvus_default``, ``zilliz_cloud_default`` and ``egain_default`` pointing at the
simulator; triggers every DAG whose tags include "example"; prints each run's tasks with their
outcome, duration and the progress lines they logged; stops everything. Exits 1 if a DAG failed.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

from airflow_import_jobs.testing.local_airflow import LocalAirflow, LocalAirflowError, local_stack

ROOT = Path(__file__).resolve().parent.parent
CONNECTIONS = {"milvus": "milvus_default", "zilliz": "zilliz_cloud_default", "egain": "egain_default"}
# Object-storage keys the examples' create requests need; they live in the connections' extras.
STORAGE_EXTRAS = {"storage_access_key": "AKIA-DEMO", "storage_secret_key": "demo-storage-secret"}
MAX_PROGRESS_LINES = 6


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dags-folder", type=Path, default=ROOT / "example_dags", help="default: example_dags/")
    parser.add_argument("--tag", default="example", help='trigger the DAGs with this tag (default "example")')
    parser.add_argument("--keep-running", action="store_true", help="after the runs, keep Airflow up until Ctrl-C")
    parser.add_argument("--job-duration", type=float, default=8.0, help="seconds a simulated job takes (default 8)")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds to wait for all runs (default 240)")
    parser.add_argument("--port", type=int, default=None, help="api-server/UI port (default: 8080 with --keep-running)")
    parser.add_argument("--keep-state", action="store_true", help="keep the temp dir (logs, DB) after a success")
    return parser.parse_args(argv)


def _ui_port(preferred: int = 8080) -> int | None:
    """8080 if it is free on loopback, else None (any free port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds it
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            return None
    return preferred


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _clock(timestamp: Any) -> str:
    text = str(timestamp or "")
    return text[11:19] if len(text) >= 19 else text


def progress_lines(records: list[dict[str, Any]]) -> list[str]:
    """The task's own lines that report progress (they carry a "%"), deduplicated, capped."""
    lines: list[str] = []
    for record in records:
        event, logger = str(record.get("event", "")), str(record.get("logger", ""))
        if "%" in event and ("airflow_import_jobs" in logger or logger.startswith("airflow.task.operators")):
            line = f"{_clock(record.get('timestamp'))} {event}".replace("\n", "\n               ")
            if not lines or lines[-1].split(" ", 1)[1] != event:
                lines.append(line)
    if len(lines) > MAX_PROGRESS_LINES:
        hidden = len(lines) - MAX_PROGRESS_LINES + 1
        lines = [*lines[:2], f"... {hidden} more ...", *lines[-(MAX_PROGRESS_LINES - 3) :]]
    return lines


def failure_lines(records: list[dict[str, Any]]) -> list[str]:
    """The task's error lines with the exception message (why it failed)."""
    out = []
    for record in records:
        if record.get("level") not in ("error", "critical"):
            continue
        for error in record.get("error_detail") or []:
            if isinstance(error, dict):
                out.append(f"{error.get('exc_type')}: {error.get('exc_value')}")
        if not record.get("error_detail"):
            out.append(str(record.get("event", "")))
    return out[-3:]


def _duration(value: Any) -> str:
    return f"{value:6.1f}s" if isinstance(value, (int, float)) else "     -"


def report(airflow: LocalAirflow, dag_id: str, run_id: str, state: str, elapsed: float) -> None:
    print(f"\n{dag_id}  {state.upper()}  ({elapsed:.1f}s from trigger)  run {run_id}")
    tis = sorted(airflow.task_instances(dag_id, run_id), key=lambda t: (t.get("start_date") or "~", t["map_index"]))
    for ti in tis:
        name = ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else "")
        print(f"  {name:<28} {ti['state']!s:<16} {_duration(ti.get('duration'))}  try {ti['try_number']}")
        if ti["try_number"] < 1:
            continue
        try:
            records = airflow.task_log_records(dag_id, run_id, ti["task_id"], ti["try_number"], ti["map_index"])
        except LocalAirflowError as error:
            print(f"      (log unavailable: {error})")
            continue
        for line in progress_lines(records):
            print(f"      {line}")
        if ti["state"] not in ("success", "skipped"):
            for line in failure_lines(records):
                print(f"      ! {line}")


def run_demo(args: argparse.Namespace, workdir: Path) -> int:
    started = time.monotonic()
    dags_folder = args.dags_folder.resolve()
    if not dags_folder.is_dir():
        print(f"no DAGs folder at {dags_folder}", file=sys.stderr)
        return 2
    port = args.port or (_ui_port() if args.keep_running else None)
    print(f"Starting the simulator and Airflow 3 on 127.0.0.1 (state in {workdir}) ...", flush=True)
    with local_stack(
        workdir,
        dags_folder,
        CONNECTIONS,
        job_duration=args.job_duration,
        conn_extra=STORAGE_EXTRAS,
        port=port,
        admin_password="admin" if args.keep_running else None,
    ) as (sim, airflow):
        print(f"Airflow healthy at {airflow.url} after {time.monotonic() - started:.1f}s; simulator at {sim.url}")
        for conn_id, fields in airflow.env_connections().items():
            airflow.create_connection(conn_id, fields)  # listed in the UI, with a working Test button
        dags, errors = airflow.wait_for_dag_files()
        for error in errors:
            print(f"IMPORT ERROR in {error['filename']}:\n{error['stack_trace']}", file=sys.stderr)
        selected = sorted(d["dag_id"] for d in dags if args.tag in {t["name"] for t in d.get("tags", [])})
        print(f"Parsed {len(dags)} DAG(s) after {time.monotonic() - started:.1f}s; triggering {len(selected)}:")
        for dag_id in selected:
            print(f"  - {dag_id}")
        runs = {dag_id: (airflow.trigger(dag_id), time.monotonic()) for dag_id in selected}
        deadline = time.monotonic() + args.timeout
        failed: list[str] = []
        pending = dict(runs)
        while pending:
            for dag_id, (run_id, triggered) in list(pending.items()):
                state = airflow.run(dag_id, run_id)["state"]
                if state in ("success", "failed"):
                    del pending[dag_id]
                    if state != "success":
                        failed.append(dag_id)
                    report(airflow, dag_id, run_id, state, time.monotonic() - triggered)
            if pending and time.monotonic() > deadline:
                for dag_id, (run_id, _) in pending.items():
                    failed.append(dag_id)
                    report(airflow, dag_id, run_id, f"timed out after {args.timeout:.0f}s", args.timeout)
                break
            if pending:
                airflow.check_alive()
                time.sleep(1)
        ok = not failed and not errors and bool(selected)
        print(
            f"\n{len(selected) - len(failed)}/{len(selected)} DAG run(s) succeeded"
            + (f"; failed: {', '.join(failed)}" if failed else "")
            + (f"; {len(errors)} import error(s)" if errors else "")
            + (f"; no DAG tagged {args.tag!r} found" if not selected else "")
        )
        print(f"Demo took {time.monotonic() - started:.1f}s (start-up, runs and report).", flush=True)
        if args.keep_running:
            print(f"\nAirflow UI: {airflow.url}  (login {airflow.admin_user} / {airflow.admin_password})")
            print(f"Simulator: {sim.url}  (control API {sim.url}/_sim/health)")
            print(f"Component logs: {airflow.log_dir}")
            print("Press Ctrl-C to stop.", flush=True)
            try:
                while True:
                    airflow.check_alive()
                    time.sleep(2)
            except KeyboardInterrupt:
                print("\nStopping ...", flush=True)
    print(f"Stopped; total {time.monotonic() - started:.1f}s.")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    # Ctrl-C stops everything cleanly, even when started from a shell that ignores SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    workdir = Path(tempfile.mkdtemp(prefix="aij-demo-"))
    code = 1
    try:
        code = run_demo(args, workdir)
    except LocalAirflowError as error:
        print(f"\nDEMO FAILED: {error}", file=sys.stderr)
    finally:
        if code == 0 and not args.keep_state:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"Logs and state kept in {workdir}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
