"""Smoke run of the triggerer-scale benchmark (``benchmarks/``), so it never rots.

Runs ``python -m benchmarks.run --quick`` (every scenario, N=20, 0.2 s polls) into a temporary
directory and checks that the results are complete and that no wait of ours lost its completion.
No timing assertions: this machine's speed is not under test here, ``make bench`` measures it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent

METRICS = (
    "requests_per_interval",
    "requests_per_interval_max",
    "requests_total",
    "cpu_s",
    "cpu_pct_core",
    "cpu_s_per_1k_wait_min",
    "cpu_ms_per_request",
    "rss_per_wait_kb",
    "lag_p50_ms",
    "lag_p99_ms",
    "burst_lag_max_ms",
    "burst_lag_p99_ms",
    "latency_p50_s",
    "latency_p99_s",
    "latency_max_s",
    "max_requests_per_second_by_endpoint",
    "status_429",
    "events",
    "lost",
)
SCENARIOS = {
    ("milvus", "ours", "waits"),
    ("milvus", "http_event", "waits"),
    ("milvus", "per_poll_session", "waits"),
    ("egain", "ours", "waits"),
    ("egain", "ours_httpx", "waits"),
    ("egain", "http_event", "waits"),
    ("zilliz", "ours", "waits"),
    ("milvus", "ours", "large_db"),
}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("bench")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    command = [
        sys.executable,
        "-m",
        "benchmarks.run",
        "--quick",
        "--out-dir",
        str(out),
        "--md",
        str(out / "BENCHMARKS.md"),
        "--png",
        str(out / "benchmark.png"),
    ]
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((out / "results.json").read_text()), out


def test_every_scenario_has_every_metric(quick_run: tuple[dict[str, Any], Path]) -> None:
    results, _ = quick_run
    seen = {(s["backend"], s["impl"], s["kind"]) for s in results["scenarios"]}
    assert seen == SCENARIOS
    for scenario in results["scenarios"]:
        missing = [m for m in METRICS if scenario.get(m) is None]
        assert not missing, f"{scenario['name']} lacks {missing}"
        assert scenario["requests_total"] > 0
    for key in ("cpu_model", "cores", "python", "airflow", "httpx"):
        assert results["machine"][key]


def test_no_wait_of_ours_loses_its_completion(quick_run: tuple[dict[str, Any], Path]) -> None:
    results, _ = quick_run
    for scenario in results["scenarios"]:
        if scenario["impl"].startswith("ours"):
            assert scenario["lost"] == 0, scenario["name"]
            assert scenario["events"] == scenario["n"]
            assert scenario["event_status"] == {"success": scenario["n"]}, scenario["name"]


def test_the_report_and_chart_are_written(quick_run: tuple[dict[str, Any], Path]) -> None:
    _, out = quick_run
    report = (out / "BENCHMARKS.md").read_text()
    assert "## Targets" in report
    assert "## Milvus, N = 20 waits" in report
    assert "HttpEventTrigger / ours" in report
    assert "ours on plain httpx / ours" in report
    assert "one wait on a database with 2,000 finished jobs" in report
    assert "Zilliz Cloud, 20 waits: requests per poll interval" in report
    # Every target row says met or missed.
    rows = [line for line in report.split("## Targets")[1].split("\n## ")[0].splitlines() if line.startswith("| ")]
    verdicts = [row.rsplit("|", 2)[-2].strip() for row in rows[1:] if not row.startswith("|   (")]
    assert verdicts
    assert all(v.startswith(("**met**", "**missed**")) for v in verdicts), verdicts
    assert (out / "benchmark.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
