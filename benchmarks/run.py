"""Run the triggerer-scale benchmark: ``python -m benchmarks.run`` (``make bench``).

Starts the simulator in its own process (loopback only), points ``AIRFLOW_CONN_*`` connections at
it, runs every scenario in a fresh process (``benchmarks.scenario``) one after the other, then
writes ``benchmarks/results.json``, ``BENCHMARKS.md`` and ``docs/img/benchmark.png``.

Scenarios (full run):

* Milvus, N = 100, 1,000, 10,000 waits, each as ``ours`` (``ImportJobTrigger``), ``http_event``
  (the http provider's ``HttpEventTrigger`` with a response check) and ``per_poll_session``
  (dbt-cloud style: a new aiohttp session per poll);
* eGain, 1,000 waits, ``ours``, ``ours_httpx`` (ours with the async client on httpx's own
  transport instead of aiohttp: the measurement behind that choice) and ``http_event`` (per-job
  polls on every side: CPU per poll);
* Zilliz Cloud, 1,000 waits on one org, ``ours`` (the simulator enforces 20 requests/s per endpoint),
  completions spread like the largest Milvus run;
* ``large_db``: one Milvus wait on a database that also holds 50,000 finished jobs (``--large-db-jobs``).

``--quick`` runs every scenario small and fast (the smoke test in ``make test``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.scenario import Spec

REPO = Path(__file__).resolve().parent.parent
IMPLS = ("ours", "http_event", "per_poll_session")
#: Ours with the async client on httpx's own transport (the eGain comparison of the two).
HTTPX_PATCH = {"airflow_import_jobs.client.transport:ASYNC_HTTP": "httpx"}
CONN_IDS = {
    ("milvus", "ours"): "bench_milvus",
    ("zilliz", "ours"): "bench_zilliz",
    ("egain", "ours"): "bench_egain",
    ("milvus", "peer"): "bench_http_milvus",
    ("egain", "peer"): "bench_http_egain",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small and fast: N=20, 0.2 s polls (smoke test)")
    parser.add_argument("--ns", default=None, help="Milvus wait counts, comma-separated (default 100,1000,10000)")
    parser.add_argument("--poll-interval", type=float, default=None, help="seconds between polls (default 30)")
    parser.add_argument(
        "--finish-min", type=float, default=None, help="first job finishes this many s after the waits start (35)"
    )
    parser.add_argument(
        "--finish-max", type=float, default=None, help="last job finishes after this many s, largest N (155)"
    )
    parser.add_argument(
        "--finish-max-small",
        type=float,
        default=None,
        help="last job finishes after this many s, the other Ns, eGain and Zilliz Cloud (65)",
    )
    parser.add_argument("--egain-n", type=int, default=None, help="eGain waits (default 1000)")
    parser.add_argument("--zilliz-n", type=int, default=None, help="Zilliz Cloud waits (default 1000)")
    parser.add_argument("--large-db-jobs", type=int, default=None, help="finished jobs beside the one wait (50000)")
    parser.add_argument("--only", default="milvus,egain,zilliz,large_db", help="scenario groups to run (default all)")
    parser.add_argument(
        "--impls",
        default=",".join(IMPLS),
        help="implementations to run (default all; eGain runs no per_poll_session, Zilliz Cloud only ours)",
    )
    parser.add_argument("--out-dir", type=Path, default=REPO / "benchmarks", help="where results.json goes")
    parser.add_argument("--md", type=Path, default=None, help="report path (default BENCHMARKS.md)")
    parser.add_argument("--png", type=Path, default=None, help="chart path (default docs/img/benchmark.png)")
    parser.add_argument(
        "--patch",
        action="append",
        default=[],
        metavar="MODULE:ATTR=JSON",
        help="set a module attribute in every scenario process (to measure a proposed change), e.g. "
        "airflow_import_jobs.waiting.feed:MAX_CONCURRENT_REQUESTS=8",
    )
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="what-if: gc.freeze() after the warm-up, as a triggerer could once started (not this provider's call)",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the scenario logs (in --out-dir/logs)")
    return parser


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """The run's parameters: the full defaults, or the quick ones, overridden by flags."""
    if args.quick:
        base: dict[str, Any] = {
            "ns": [20],
            "poll_interval": 0.2,
            "finish_min": 0.3,
            "finish_max": 1.0,
            "finish_max_small": 1.0,
            "egain_n": 20,
            "zilliz_n": 20,
            "large_db_jobs": 2000,
            "groups": 4,
            "burst_window": 0.5,
        }
    else:
        base = {
            "ns": [100, 1000, 10000],
            "poll_interval": 30.0,
            # The first job finishes after the second poll: that interval shows the steady cost.
            "finish_min": 35.0,
            # 10,000 jobs finish over two minutes (about 2,500 per poll interval) ...
            "finish_max": 155.0,
            # ... the smaller runs, eGain and Zilliz Cloud over 30 s (to fit the run in ~25 minutes).
            "finish_max_small": 65.0,
            "egain_n": 1000,
            "zilliz_n": 1000,
            "large_db_jobs": 50000,
            "groups": 30,
            "burst_window": 10.0,
        }
    if args.ns:
        base["ns"] = [int(x) for x in args.ns.split(",") if x.strip()]
    names = ("poll_interval", "finish_min", "finish_max", "finish_max_small", "egain_n", "zilliz_n", "large_db_jobs")
    for name in names:
        value = getattr(args, name)
        if value is not None:
            base[name] = value
    base["quick"] = bool(args.quick)
    base["gc_freeze"] = bool(args.gc_freeze)
    base["patches"] = {}
    for item in args.patch:
        target, _, raw = item.partition("=")
        base["patches"][target] = json.loads(raw)
    return base


# -- the simulator ------------------------------------------------------------------------


class SimulatorProcess:
    """``benchmarks.simserver`` in a subprocess; stopped by its PID."""

    def __init__(self, log_path: Path, env: dict[str, str]) -> None:
        self.log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.simserver", "--port", "0"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError(f"the simulator did not start; see {log_path}")
        self.info: dict[str, Any] = json.loads(line)
        self.url: str = self.info["url"]
        self.control = self.info["control"]
        # A spare control call proves it answers.
        deadline = time.monotonic() + 20
        while True:
            try:
                call(f"{self.control}/health")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM to this PID only
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()

    def cpu_seconds(self) -> float:
        """User + system CPU the simulator process has used so far (from /proc)."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            return 0.0


def call(url: str, payload: dict[str, Any] | None = None, *, form: dict[str, str] | None = None) -> Any:
    if form is not None:
        data: bytes | None = urllib.parse.urlencode(form).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
    else:
        data = None if payload is None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - loopback simulator
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        return json.loads(response.read())


def connections(sim: SimulatorProcess, egain_token: str | None) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` JSON connections pointing at the simulator."""
    info = sim.info
    conns: dict[str, dict[str, Any]] = {
        "bench_milvus": {
            "conn_type": "milvus",
            "host": info["milvus"]["url"],
            "login": "root",
            "password": "Milvus",
            "extra": {"timeout": 30},
        },
        "bench_zilliz": {
            # max_requests_per_second is left to its default (20 per endpoint), as the target says.
            "conn_type": "zilliz_cloud",
            "host": info["zilliz"]["url"],
            "password": info["zilliz"]["api_key"],
            "extra": {"cluster_id": info["zilliz"]["cluster_id"], "timeout": 30},
        },
        "bench_egain": {
            "conn_type": "egain",
            "host": info["egain"]["url"],
            "login": info["egain"]["client_id"],
            "password": info["egain"]["client_secret"],
            "extra": {"token_url": info["egain"]["token_url"], "scope": "knowledge.contentmgr.manage", "timeout": 30},
        },
        # The peers: plain http connections; the http hook sends the extras as headers.
        "bench_http_milvus": {
            "conn_type": "http",
            "host": info["milvus"]["url"],
            "extra": {"Authorization": f"Bearer {info['milvus']['token']}", "Content-Type": "application/json"},
        },
        "bench_http_egain": {
            "conn_type": "http",
            "host": info["egain"]["url"],
            "extra": {"Authorization": f"Bearer {egain_token or 'none'}", "Accept": "application/json"},
        },
    }
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(fields) for conn_id, fields in conns.items()}


def egain_token(sim: SimulatorProcess) -> str:
    """One access token for the http peer (the http provider has no OAuth client-credentials flow)."""
    egain = sim.info["egain"]
    token = call(
        egain["token_url"],
        form={
            "grant_type": "client_credentials",
            "client_id": egain["client_id"],
            "client_secret": egain["client_secret"],
            "scope": "knowledge.contentmgr.manage",
        },
    )
    return str(token["access_token"])


# -- machine --------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "airflow": version("apache-airflow"),
        "httpx": version("httpx"),
        "httpcore": version("httpcore"),
        "aiohttp": version("aiohttp"),
        "apache_airflow_providers_http": version("apache-airflow-providers-http"),
        "uvicorn": version("uvicorn"),
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- running ----------------------------------------------------------------------------------


def plan(conf: dict[str, Any], only: set[str], impls: list[str]) -> list[dict[str, Any]]:
    """The scenarios to run, in order: backend, impl, n, finish_max (and patches, seeded jobs, kind)."""
    scenarios: list[dict[str, Any]] = []
    largest = max(conf["ns"], default=0)
    small = conf["finish_max_small"]

    def add(backend: str, impl: str, n: int, finish_max: float, **extra: Any) -> None:
        scenarios.append({"backend": backend, "impl": impl, "n": n, "finish_max": finish_max, **extra})

    if "milvus" in only:
        for n in conf["ns"]:
            finish_max = conf["finish_max"] if n == largest else small
            for impl in impls:
                add("milvus", impl, n, finish_max)
    if "egain" in only:
        for impl in ("ours", "ours_httpx", "http_event"):
            if impl in impls or (impl == "ours_httpx" and "ours" in impls):
                add("egain", impl, conf["egain_n"], small)
    if "zilliz" in only and "ours" in impls:
        # Spread like the largest Milvus run: each finished job needs its getProgress at <= 20/s.
        add("zilliz", "ours", conf["zilliz_n"], conf["finish_max"])
    if "large_db" in only and "ours" in impls:
        add("milvus", "ours", 1, small, seed_jobs=conf["large_db_jobs"], kind="large_db")
    return scenarios


def scenario_name(item: dict[str, Any]) -> str:
    name = f"{item['backend']}-{item['impl']}-{item['n']}"
    return name + (f"-db{item['seed_jobs']}" if item.get("seed_jobs") else "")


def run_scenario(
    item: dict[str, Any], conf: dict[str, Any], sim: SimulatorProcess, base_env: dict[str, str], work: Path
) -> dict[str, Any]:
    backend, impl, n = item["backend"], item["impl"], item["n"]
    name = scenario_name(item)
    call(f"{sim.control}/reset", {})
    token = egain_token(sim) if backend == "egain" and impl != "ours" else None
    env = {**base_env, **connections(sim, token)}
    conn_id = CONN_IDS[(backend, "ours" if impl.startswith("ours") else "peer")]
    p = conf["poll_interval"]
    finish_min = min(conf["finish_min"], item["finish_max"])
    spec = Spec(
        name=name,
        backend=backend,
        impl=impl,
        n=n,
        poll_interval=p,
        finish_min=finish_min,
        finish_max=item["finish_max"],
        control_url=sim.control,
        conn_id=conn_id,
        out=str(work / f"{name}.json"),
        groups=conf["groups"],
        cap_seconds=item["finish_max"] + 2 * p + (2.0 if conf["quick"] else 30.0),
        burst_window=conf["burst_window"],
        patches={**conf["patches"], **(HTTPX_PATCH if impl == "ours_httpx" else {})},
        seed_jobs=item.get("seed_jobs", 0),
        gc_freeze=conf.get("gc_freeze", False),
    )
    spec_path = work / f"{name}.spec.json"
    spec_path.write_text(json.dumps(asdict(spec)))
    log_path = work / f"{name}.log"
    sim_cpu0 = sim.cpu_seconds()
    started = time.time()
    with open(log_path, "w") as log:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.scenario", str(spec_path)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=spec.cap_seconds + 600,
            check=False,
        )
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-30:]
        raise RuntimeError(f"scenario {name} failed (exit {proc.returncode}):\n" + "\n".join(tail))
    result: dict[str, Any] = json.loads(Path(spec.out).read_text())
    result["name"] = name
    result["backend"] = backend
    result["impl"] = impl
    result["kind"] = item.get("kind", "waits")
    result["process_s"] = round(time.time() - started, 1)
    result["simulator_cpu_s"] = round(sim.cpu_seconds() - sim_cpu0, 2)
    print(
        f"{name}: {result['events']}/{n} events, {result['requests_per_interval']:,.1f} requests/interval, "
        f"CPU {result['cpu_s']:.1f} s ({result['cpu_ms_per_request'] or 0:.2f} ms/request), "
        f"lag p99 {result['lag_p99_ms']:.0f} ms, completion->event max {result['latency_max_s']:.1f} s "
        f"[{result['process_s']:.0f} s]",
        flush=True,
    )
    return result


def command(argv: list[str]) -> str:
    """How the report says it was made."""
    return "make bench" if not argv else "python -m benchmarks.run " + " ".join(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    conf = settings(args)
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    impls = [x.strip() for x in args.impls.split(",") if x.strip()]
    out_dir: Path = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path: Path = args.md or REPO / "BENCHMARKS.md"
    png_path: Path = args.png or REPO / "docs" / "img" / "benchmark.png"

    work = Path(tempfile.mkdtemp(prefix="aij-bench-"))
    home = work / "airflow-home"
    home.mkdir()
    base_env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
    }
    started = time.time()
    load_before = load_average()
    results: list[dict[str, Any]] = []
    sim = SimulatorProcess(work / "simulator.log", base_env)
    try:
        print(f"simulator on {sim.url} (PID {sim.proc.pid}); load average {load_before}", flush=True)
        for item in plan(conf, only, impls):
            results.append(run_scenario(item, conf, sim, base_env, work))
    finally:
        sim.stop()
        if args.keep_logs:
            logs = out_dir / "logs"
            logs.mkdir(exist_ok=True)
            for log in work.glob("*.log"):
                shutil.copy(log, logs / log.name)
        shutil.rmtree(work, ignore_errors=True)
    finished = time.time()
    report: dict[str, Any] = {
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command(sys.argv[1:] if argv is None else argv),
        "duration_s": round(finished - started, 1),
        "load_before": load_before,
        "load_after": load_average(),
        "machine": machine(),
        "config": conf,
        "scenarios": results,
    }
    results_path = out_dir / "results.json"
    results_path.write_text(json.dumps(report, indent=1) + "\n")

    from benchmarks.report import render_chart, render_markdown

    png_path.parent.mkdir(parents=True, exist_ok=True)
    render_chart(report, png_path)
    md_path.write_text(render_markdown(report, png_path=png_path, md_path=md_path))
    print(f"wrote {results_path}, {md_path}, {png_path} in {report['duration_s']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
