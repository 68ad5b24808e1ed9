"""Serve the import-job API simulator from the command line, until SIGTERM or SIGINT::

    python -m airflow_import_jobs.testing.simulator --host 127.0.0.1 --port 8123

Prints the base URLs and the (simulated) credentials; ``--json`` prints them as one JSON line for
scripts. Jobs created through the APIs follow ``--advance time`` over ``--duration`` seconds by
default, so a demo moves by itself; the control API under ``/_sim`` changes anything else.
"""

from __future__ import annotations

import argparse
import json
import signal
from types import FrameType
from typing import Any

from airflow_import_jobs.testing.simulator.server import SimulatorServer, is_loopback
from airflow_import_jobs.testing.simulator.state import Simulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_import_jobs.testing.simulator",
        description="Local simulator of the Milvus, Zilliz Cloud and eGain import-job APIs.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8123, help="port to bind; 0 picks a free one (default 8123)")
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow a non-loopback --host (the simulator has no real security)"
    )
    parser.add_argument(
        "--advance", choices=("time", "reads"), default="time", help="how created jobs progress (default time)"
    )
    parser.add_argument("--duration", type=float, default=30.0, help="seconds a time-driven job takes (default 30)")
    parser.add_argument("--steps", type=int, default=3, help="reads a read-driven job takes (default 3)")
    parser.add_argument("--seed", type=int, default=None, help="seed for generated IDs and tokens")
    parser.add_argument(
        "--collection",
        action="append",
        default=[],
        metavar="[DB.]NAME",
        help="a collection that exists on Milvus and Zilliz Cloud besides quick_setup, medium_articles and docs "
        "(repeatable; creates naming any other are refused, as the servers refuse them)",
    )
    parser.add_argument("--json", action="store_true", help="print the endpoints as one JSON line")
    return parser


def describe(server: SimulatorServer) -> dict[str, Any]:
    """Endpoints and credentials of a running server."""
    sim = server.sim
    return {
        "url": server.url,
        "control": server.url + "/_sim",
        "milvus": {
            "url": server.milvus_url,
            "token": f"{sim.milvus_user}:{sim.milvus_password}",
            "api_key": sim.milvus_api_key,
        },
        "zilliz": {"url": server.zilliz_url, "api_key": sim.zilliz_api_key, "cluster_id": sim.zilliz_cluster_id},
        "egain": {
            "url": server.egain_url,
            "token_url": server.egain_token_url,
            "client_id": sim.egain_client_id,
            "client_secret": sim.egain_client_secret,
            "scopes": sorted(sim.egain_scopes),
        },
    }


def _print(info: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(info), flush=True)
        return
    milvus, zilliz, egain = info["milvus"], info["zilliz"], info["egain"]
    lines = [
        f"Import-job API simulator on {info['url']} (SIGINT/SIGTERM stops it)",
        f"  Milvus REST v2  {milvus['url']}",
        f"                  Authorization: Bearer {milvus['token']}  (or Bearer {milvus['api_key']})",
        f"  Zilliz Cloud    {zilliz['url']}",
        f"                  Authorization: Bearer {zilliz['api_key']}  clusterId: {zilliz['cluster_id']}",
        f"  eGain v4        {egain['url']}",
        f"                  token URL: {egain['token_url']}",
        f"                  client_id: {egain['client_id']}  client_secret: {egain['client_secret']}"
        f"  scope: {' '.join(egain['scopes'])}",
        f"  Control API     {info['control']}/health",
    ]
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.allow_remote and not is_loopback(args.host):
        parser.error(f"refusing to serve on non-loopback host {args.host!r}; add --allow-remote to mean it")
    lifecycle = {"advance": args.advance, "duration": args.duration, "steps": args.steps}
    config: dict[str, Any] = {"default_lifecycle": lifecycle}
    if args.collection:
        catalogue = {db: set(names) for db, names in Simulator.milvus_collections.items()}
        for spec in args.collection:
            db, _, name = spec.rpartition(".")
            catalogue.setdefault(db or "default", set()).add(name)
        config["milvus_collections"] = config["zilliz_collections"] = {k: sorted(v) for k, v in catalogue.items()}
    sim = Simulator(seed=args.seed, config=config)
    server = SimulatorServer(sim, args.host, args.port, allow_remote=args.allow_remote)
    # uvicorn shuts down gracefully on these, then re-raises them into the previous handlers:
    # exit 0 there instead of dying by the signal, so scripts can tell a clean stop.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _exit_cleanly)
    server.run(ready=lambda s: _print(describe(s), args.json))
    return 0


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
