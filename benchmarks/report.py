"""Render ``results.json`` as ``BENCHMARKS.md`` and a PNG chart (matplotlib, Agg backend)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

LABELS = {
    "ours": "ours (ImportJobTrigger)",
    "ours_httpx": "ours, async client on httpx's own transport",
    "http_event": "http provider HttpEventTrigger",
    "per_poll_session": "per-poll session (dbt-cloud style)",
}
X = "\u00d7"  # multiplication sign
SHORT = {
    "ours": "ours",
    "ours_httpx": "ours on plain httpx",
    "http_event": "HttpEventTrigger",
    "per_poll_session": "per-poll session",
}
IMPLS = ["ours", "ours_httpx", "http_event", "per_poll_session"]
#: Zilliz Cloud's rate limit per endpoint, and the share of it our limiter uses.
ZILLIZ_RATE = 20.0
LIMITER_SHARE = 0.9
#: The feed's progress refreshes per tick: a quarter of the rate budget (waiting.feed.REFRESH_SHARE).
REFRESH_SHARE = 0.25

# (key, label, format, lower is better)
ROWS: list[tuple[str, str, str]] = [
    ("requests_per_interval", "HTTP requests per poll interval (mean)", "{:,.1f}"),
    ("requests_per_interval_max", "HTTP requests in the busiest poll interval", "{:,.0f}"),
    ("requests_steady_interval", "HTTP requests in the steady interval (no completions)", "{:,.0f}"),
    ("requests_total", "HTTP requests, whole run", "{:,.0f}"),
    ("cpu_s_per_1k_wait_min", "client CPU s per 1,000 wait-minutes", "{:,.2f}"),
    ("cpu_pct_core", "client CPU, % of one core (run average)", "{:,.1f}"),
    ("cpu_steady_pct_core", "client CPU, % of one core (steady interval, no completions)", "{:,.2f}"),
    ("cpu_ms_per_request", "client CPU ms per request (poll)", "{:,.2f}"),
    ("rss_per_wait_kb", "resident memory growth per wait, KB", "{:,.1f}"),
    ("lag_p50_ms", "event-loop lag p50, ms", "{:,.1f}"),
    ("lag_p99_ms", "event-loop lag p99, ms", "{:,.1f}"),
    ("lag_max_ms", "event-loop lag max, ms", "{:,.0f}"),
    ("burst_lag_p99_ms", "loop lag p99 while all N start, ms", "{:,.1f}"),
    ("burst_lag_max_ms", "loop stall (max lag) while all N start, ms", "{:,.0f}"),
    ("latency_p50_s", "completion → event p50, s", "{:,.1f}"),
    ("latency_p99_s", "completion → event p99, s", "{:,.1f}"),
    ("latency_max_s", "completion → event max, s", "{:,.1f}"),
    ("events", "events received / waits", "{:,.0f}"),
    ("wall_s", "run length, s (start → last event or cap)", "{:,.0f}"),
]


def _fmt(value: Any, fmt: str) -> str:
    if value is None:
        return "—"
    return fmt.format(value)


def _ratio(peer: Any, ours: Any) -> str:
    if peer is None or ours is None:
        return "—"
    if ours == 0:
        return "∞" if peer else "—"
    ratio = peer / ours
    return f"{ratio:,.1f}{X}" if ratio < 100 else f"{ratio:,.0f}{X}"


def _by(scenarios: list[dict[str, Any]], backend: str, impl: str, n: int, kind: str = "waits") -> dict[str, Any] | None:
    for s in scenarios:
        if s["backend"] == backend and s["impl"] == impl and s["n"] == n and s.get("kind", "waits") == kind:
            return s
    return None


def _kind(scenarios: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((s for s in scenarios if s.get("kind", "waits") == kind), None)


def _events_cell(s: dict[str, Any]) -> str:
    text = f"{s['events']:,}/{s['n']:,}"
    if s.get("capped"):
        text += " (capped)"
    return text


def comparison_table(
    scenarios: list[dict[str, Any]], backend: str, n: int, impls: list[str], kind: str = "waits"
) -> list[str]:
    """Metrics as rows; ours, then each peer with its peer/ours ratio."""
    present: list[tuple[str, dict[str, Any]]] = []
    for impl in impls:
        found = _by(scenarios, backend, impl, n, kind)
        if found is not None:
            present.append((impl, found))
    ours = dict(present).get("ours")
    header = ["metric"]
    for impl, _ in present:
        header.append(SHORT[impl])
        if impl != "ours" and ours is not None:
            header.append(f"{SHORT[impl]} / ours")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, label, fmt in ROWS:
        row = [label]
        for impl, s in present:
            row.append(_events_cell(s) if key == "events" else _fmt(s.get(key), fmt))
            if impl != "ours" and ours is not None:
                row.append("" if key in ("events", "wall_s") else _ratio(s.get(key), ours.get(key)))
        lines.append("| " + " | ".join(row) + " |")
    return lines


# -- targets ----------------------------------------------------------------------------------


def _target(name: str, measured: str, met: bool | None, miss: str = "") -> dict[str, Any]:
    return {"target": name, "measured": measured, "met": met, "miss": miss}


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue with what this run measured."""
    scenarios = report["scenarios"]
    conf = report["config"]
    p = conf["poll_interval"]
    n_head = max(conf["ns"]) if conf["ns"] else 0
    out: list[dict[str, Any]] = []
    ours = _by(scenarios, "milvus", "ours", n_head)
    if ours is not None:
        intervals = ours["wall_s"] / p if p else 0
        overhead = (ours["requests_total"] - ours["events"]) / intervals if intervals else 0.0
        out.append(
            _target(
                f"Milvus, {n_head:,} waits: requests per poll interval ≤ 2 + jobs finished in it",
                f"{ours['requests_per_interval']:,.1f} per interval on average, of which "
                f"{overhead:.2f} are not the one describe per finished job "
                f"({ours['requests_by_endpoint']})",
                overhead <= 2.0,
                f"{overhead - 2:.2f} requests per interval over",
            )
        )
        for impl in ("http_event", "per_poll_session"):
            peer = _by(scenarios, "milvus", impl, n_head)
            if peer is not None:
                out.append(
                    _target(
                        f"  (peer {SHORT[impl]}, same N: requests per interval)",
                        f"{peer['requests_per_interval']:,.0f} (busiest {peer['requests_per_interval_max']:,}) — "
                        f"{_ratio(peer['requests_per_interval'], ours['requests_per_interval'])} ours",
                        None,
                    )
                )
        cpu = ours["cpu_pct_core"]
        out.append(
            _target(
                f"Milvus, {n_head:,} waits: client CPU < 5% of one core on average",
                f"{cpu:.1f}% over the run ({ours['cpu_s']:.1f} s CPU in {ours['wall_s']:.0f} s, "
                f"{ours['events']:,} completions); {_fmt(ours.get('cpu_steady_pct_core'), '{:.2f}')}% in the "
                "steady interval with no completion",
                cpu < 5.0,
                f"{cpu / 5.0:.1f}{X} the budget",
            )
        )
        mem = ours["rss_per_wait_kb"]
        out.append(
            _target(
                f"Milvus, {n_head:,} waits: memory growth < 10 KB per wait",
                f"{mem:.1f} KB per wait (RSS {ours['rss_baseline_mb']:.0f} → {ours['rss_peak_mb']:.0f} MB peak)",
                mem < 10.0,
                f"{mem - 10:.1f} KB per wait over",
            )
        )
        lag = ours["lag_p99_ms"]
        out.append(
            _target(
                f"Milvus, {n_head:,} waits: event-loop lag p99 < 100 ms",
                f"p99 {lag:.0f} ms (p50 {ours['lag_p50_ms']:.0f}, max {ours['lag_max_ms']:.0f})",
                lag < 100.0,
                f"{lag - 100:.0f} ms over",
            )
        )
        burst = ours["burst_lag_p99_ms"]
        window = conf["burst_window"]
        # Full collections in the window: they, not our code, are the stalls when they line up with them.
        full = [f"{ms:.0f}" for at, gen, ms in ours.get("gc_top", []) if gen == 2 and at <= window]
        collections = f"; full garbage collections in it: {', '.join(full)} ms" if full else ""
        out.append(
            _target(
                f"Milvus, {n_head:,} waits: lag p99 < 100 ms while all start at once",
                f"p99 {burst:.0f} ms, max {ours['burst_lag_max_ms']:.0f} ms in the first "
                f"{window:g} s ({n_head:,} triggers created in {ours['create_s']:.2f} s{collections})",
                burst < 100.0,
                f"{burst - 100:.0f} ms over",
            )
        )
        latency = ours["latency_max_s"]
        out.append(
            _target(
                f"Milvus, {n_head:,} waits: a completed job's event within poll interval + 1 s ({p + 1:g} s)",
                f"max {latency:.1f} s (p50 {ours['latency_p50_s']:.1f}, p99 {ours['latency_p99_s']:.1f})",
                latency <= p + 1,
                f"{latency - p - 1:.1f} s late at worst",
            )
        )
    zilliz = next((s for s in scenarios if s["backend"] == "zilliz" and s["impl"] == "ours"), None)
    if zilliz is not None:
        out += zilliz_targets(zilliz, p)
    large = _kind(scenarios, "large_db")
    if large is not None:
        out += large_db_targets(large, p)
    e_ours = next((s for s in scenarios if s["backend"] == "egain" and s["impl"] == "ours"), None)
    e_peer = next((s for s in scenarios if s["backend"] == "egain" and s["impl"] == "http_event"), None)
    e_httpx = next((s for s in scenarios if s["backend"] == "egain" and s["impl"] == "ours_httpx"), None)
    if e_ours is not None and e_peer is not None and e_ours["cpu_ms_per_request"] and e_peer["cpu_ms_per_request"]:
        ratio = e_peer["cpu_ms_per_request"] / e_ours["cpu_ms_per_request"]
        out.append(
            _target(
                f"eGain, {e_ours['n']:,} waits: ≥ 2{X} less client CPU per poll than HttpEventTrigger",
                f"ours {e_ours['cpu_ms_per_request']:.2f} ms vs HttpEventTrigger "
                f"{e_peer['cpu_ms_per_request']:.2f} ms per poll: {ratio:.2f}{X}",
                ratio >= 2.0,
                f"{ratio:.2f}{X} instead of 2{X}",
            )
        )
    if e_ours is not None and e_httpx is not None and e_ours["cpu_ms_per_request"] and e_httpx["cpu_ms_per_request"]:
        gain = e_httpx["cpu_ms_per_request"] / e_ours["cpu_ms_per_request"]
        out.append(
            _target(
                f"eGain, {e_ours['n']:,} waits: the async path on aiohttp earns its place: "
                "less CPU per poll than on httpx's own async client",
                f"aiohttp {e_ours['cpu_ms_per_request']:.2f} ms vs httpx {e_httpx['cpu_ms_per_request']:.2f} ms "
                f"per poll: {gain:.2f}{X} less; whole run {e_ours['cpu_s']:.1f} s vs {e_httpx['cpu_s']:.1f} s CPU",
                gain > 1.0,
                f"{gain:.2f}{X}: not worth a dependency",
            )
        )
    return out


def zilliz_targets(zilliz: dict[str, Any], p: float) -> list[dict[str, Any]]:
    """Rate limit, requests per tick and completion → event for the Zilliz Cloud waits."""
    n = zilliz["n"]
    out: list[dict[str, Any]] = []
    per_second = max(zilliz["max_requests_per_second_by_endpoint"].values(), default=0)
    out.append(
        _target(
            f"Zilliz Cloud, {n:,} waits on one org: ≤ 20 requests/s per endpoint, no 429",
            f"max {per_second} requests in any 1 s per endpoint "
            f"({zilliz['max_requests_per_second_by_endpoint']}), {zilliz['status_429']} {X} 429",
            per_second <= 20 and zilliz["status_429"] == 0,
            f"{per_second} requests/s, {zilliz['status_429']} {X} 429",
        )
    )
    pages = -(-n // 100)
    refreshes = int(REFRESH_SHARE * ZILLIZ_RATE * p)
    bound = pages + refreshes
    excess = zilliz["requests_minus_events_max"]
    out.append(
        _target(
            f"Zilliz Cloud, {n:,} waits: requests per poll interval ≤ list pages ({pages}) + jobs finished in it "
            f"+ progress refreshes (≤ {refreshes}, a quarter of the rate budget): ≤ {bound} + finished "
            f"(one getProgress per wait before: {n:,})",
            f"{zilliz['requests_per_interval']:,.1f} per interval on average, busiest "
            f"{zilliz['requests_per_interval_max']:,}, at most {excess:,} beyond the finished jobs "
            f"({zilliz['requests_by_endpoint']})",
            excess <= bound,
            f"{excess - bound:,} over",
        )
    )
    busiest = max((w["events"] for w in zilliz["windows"] if w["full"]), default=0)
    limit = p + 1 + busiest / (LIMITER_SHARE * ZILLIZ_RATE)
    latency = zilliz["latency_max_s"]
    out.append(
        _target(
            f"Zilliz Cloud, {n:,} waits: a completed job's event within poll interval + 1 s + the getProgress "
            f"of each job finished in the tick at the rate limit ({busiest:,} in the busiest interval at "
            f"{LIMITER_SHARE * ZILLIZ_RATE:g}/s: {limit:.1f} s)",
            f"max {latency:.1f} s (p50 {zilliz['latency_p50_s']:.1f}, p99 {zilliz['latency_p99_s']:.1f}); "
            f"poll interval + 1 s would be {p + 1:g} s",
            latency <= limit,
            f"{latency - limit:.1f} s late at worst",
        )
    )
    return out


def large_db_targets(large: dict[str, Any], p: float) -> list[dict[str, Any]]:
    """One wait on a database with many retained jobs: no download of them every interval."""
    seeded = large["spec"].get("seed_jobs", 0)
    by_endpoint = large["requests_by_endpoint"]
    lists = by_endpoint.get("milvus.list", 0)
    intervals = large["wall_s"] / p if p else 0.0
    allowed = 1 + int(intervals // 20)
    return [
        _target(
            f"Milvus, one wait on a database with {seeded:,} finished jobs: the list is walked at most once "
            "per 20 poll intervals (the first walk measures it)",
            f"{lists} list call(s) in {intervals:.1f} poll intervals ({by_endpoint}); client CPU "
            f"{large['cpu_s']:.2f} s, completion → event {large['latency_max_s']:.1f} s",
            lists <= allowed,
            f"{lists} lists instead of ≤ {allowed}",
        )
    ]


# -- markdown -----------------------------------------------------------------------------------


def render_markdown(report: dict[str, Any], *, png_path: Path, md_path: Path) -> str:
    m = report["machine"]
    conf = report["config"]
    scenarios = report["scenarios"]
    p = conf["poll_interval"]
    lines: list[str] = [
        "# Benchmarks: waiting on import jobs at triggerer scale",
        "",
        f"Produced by `{report['command']}` on {report['generated']} in {report['duration_s'] / 60:.1f} minutes "
        "(raw numbers: `benchmarks/results.json`). Do not edit by hand: run `make bench` again.",
        "",
        f"![requests and CPU per wait vs N]({os.path.relpath(png_path, md_path.parent)})",
        "",
        "## Setup",
        "",
        "One asyncio loop like the triggerer's runs N concurrent waits against the bundled simulator in a "
        "separate process on the same machine (loopback HTTP). Each scenario runs in a fresh Python process: "
        "a warm-up wait on an already finished job first (imports, connection, token, HTTP client), then N "
        "jobs are created on the simulator finishing at spread-out times, then N triggers are created the "
        "way the triggerer's `create_triggers` does (`await asyncio.sleep(0)` between two, each `run()` "
        "consumed by its own task) and the run lasts until every wait got its event (or a cap).",
        "",
        f"* Poll interval {p:g} s. Jobs finish at evenly spaced times in {conf['groups']} groups: for the "
        f"largest N between {conf['finish_min']:g} s and {conf['finish_max']:g} s after the waits start, for "
        f"the other Ns, eGain and Zilliz Cloud between {conf['finish_min']:g} s and "
        f"{conf['finish_max_small']:g} s (to keep `make bench` near 25 minutes). No job finishes before the "
        "second poll, so the second poll interval shows the steady cost of N waits.",
        "* **ours**: `ImportJobTrigger(conn_id=..., job_ids=[id], poll_interval=..., end_time=...)`, one trigger "
        "per job, as `ImportJobSensor(deferrable=True)` defers (`end_time` from the sensor's default 7-day timeout).",
        "* **HttpEventTrigger**: the http provider's `HttpEventTrigger` (POST `/describe` for Milvus, GET "
        "`/status` for eGain) with an async response check that passes once the job is terminal. "
        "`HttpSensorTrigger` fires on the first 2xx — both APIs answer 200 for a running job — so it cannot "
        'express "wait until the job is done" and is not used. The eGain peer gets one static Bearer token '
        "fetched from the simulator's token endpoint beforehand (the http hook has no client-credentials flow).",
        "* **per-poll session**: a trigger in the style of the dbt-cloud provider's (connection read once, a "
        "new `aiohttp.ClientSession` per poll, one request per wait per poll); it keeps polling after an error.",
        "",
        "What is measured, per scenario:",
        "",
        "* *HTTP requests per poll interval*: API requests the simulator received during the run "
        "(its counters; a request log in the simulator process gives the per-interval and per-second "
        "counts) divided by the run length in poll intervals.",
        "* *client CPU*: `time.process_time()` of the waiting process from the first trigger to the last "
        "event; per 1,000 wait-minutes (a wait counts from the start until its event) and as % of one core.",
        "* *memory per wait*: peak RSS during the run minus RSS after the warm-up, divided by N.",
        "* *event-loop lag*: a 0.1 s watchdog like the triggerer's `block_watchdog` (sleep 0.1 s, record how "
        f"late it wakes); *while all N start*: the samples of the first {conf['burst_window']:g} s.",
        "* *completion → event*: the time a job's event came minus the time the simulator completed it "
        "(its creation time + its scripted duration).",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {m['cpu_model']}, {m['cores']} cores |",
        f"| memory | {m['memory_gb']} GB |",
        f"| kernel | Linux {m['kernel']} |",
        f"| Python | {m['python']} |",
        f"| Airflow | {m['airflow']} (apache-airflow-providers-http {m['apache_airflow_providers_http']}) |",
        f"| HTTP | httpx {m['httpx']} / httpcore {m['httpcore']}; aiohttp {m['aiohttp']}; "
        f"simulator on uvicorn {m['uvicorn']} |",
        f"| load average (1, 5, 15 min) | before {report['load_before']}, after {report['load_after']} |",
        "",
    ]
    if max(report["load_before"][0], report["load_after"][0]) > 0.5 * (m["cores"] or 1):
        lines += [
            f"**The machine was busy**: other work was running during this benchmark (load average up to "
            f"{max(report['load_before'][0], report['load_after'][0]):.1f} on {m['cores']} cores). CPU seconds "
            "and request counts hold up under contention; wall-clock figures (loop lag, completion → event "
            "latency) are pessimistic.",
            "",
        ]
    lines += ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for t in targets(report):
        if t["met"] is None:
            verdict = ""
        elif t["met"]:
            verdict = "**met**"
        else:
            verdict = f"**missed** ({t['miss']})"
        lines.append(f"| {t['target']} | {t['measured']} | {verdict} |")
    lines.append("")
    notes = Path(__file__).with_name("NOTES.md")
    if notes.exists():
        lines += [notes.read_text().strip(), ""]

    impls = IMPLS
    for n in conf["ns"]:
        if not any(s["backend"] == "milvus" and s["n"] == n for s in scenarios):
            continue
        lines += [f"## Milvus, N = {n:,} waits", ""]
        lines += comparison_table(scenarios, "milvus", n, impls)
        capped = [s for s in scenarios if _by(scenarios, "milvus", s["impl"], n) is s and s.get("capped")]
        for s in capped:
            lines += [
                "",
                f"*{SHORT[s['impl']]} was capped at {s['spec']['cap_seconds']:.0f} s with "
                f"{s['n'] - s['events']:,} waits still open: its figures cover what ran until then.*",
            ]
        lines.append("")
    for backend, title in (("egain", "eGain"), ("zilliz", "Zilliz Cloud")):
        present = sorted({s["n"] for s in scenarios if s["backend"] == backend and s.get("kind", "waits") == "waits"})
        for n in present:
            lines += [f"## {title}, N = {n:,} waits", ""]
            lines += comparison_table(scenarios, backend, n, impls)
            if backend == "zilliz":
                s = _by(scenarios, "zilliz", "ours", n)
                if s is not None:
                    lines += [
                        "",
                        f"Most requests in any 1 s window, per endpoint: {s['max_requests_per_second_by_endpoint']}; "
                        f"HTTP statuses: {s['http_status']}.",
                    ]
            lines.append("")
    large = _kind(scenarios, "large_db")
    if large is not None:
        seeded = large["spec"].get("seed_jobs", 0)
        lines += [f"## Milvus, one wait on a database with {seeded:,} finished jobs", ""]
        lines += comparison_table([large], "milvus", 1, ["ours"], kind="large_db")
        lines.append("")
    lines += [
        "## Per-interval request counts",
        "",
        "Requests the simulator received in consecutive poll-interval windows (the first one opens just "
        "before the first poll), and the events the waits received in the same window.",
        "",
        "| scenario | requests per window | events per window |",
        "|---|---|---|",
    ]
    for s in scenarios:
        windows = s["windows"]
        lines.append(
            f"| {s['name']} | {', '.join(str(w['requests']) for w in windows)} | "
            f"{', '.join(str(w['events']) for w in windows)} |"
        )
    lines += [
        "",
        "## Reproduce",
        "",
        "`make bench` (about 25 minutes: every scenario runs for real time at a 30 s poll interval). "
        "`python -m benchmarks.run --help` lists the knobs (`--ns`, `--poll-interval`, `--only`, ...); "
        "`python -m benchmarks.run --quick` is the smoke run `make test` does.",
        "",
    ]
    return "\n".join(lines)


# -- chart ---------------------------------------------------------------------------------------


def render_chart(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = [s for s in report["scenarios"] if s["backend"] == "milvus"]
    p = report["config"]["poll_interval"]
    panels = [
        ("requests_per_interval", "HTTP requests per poll interval", None),
        ("cpu_s_per_1k_wait_min", "client CPU s per 1,000 wait-minutes", None),
        ("lag_p99_ms", "event-loop lag p99, ms (target < 100)", 100.0),
        ("latency_max_s", f"completion → event, max s (target ≤ {p + 1:g})", p + 1),
    ]
    styles = {"ours": ("tab:green", "o"), "http_event": ("tab:red", "s"), "per_poll_session": ("tab:orange", "^")}
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for ax, (key, title, target) in zip(axes.flat, panels, strict=False):
        for impl in ("ours", "http_event", "per_poll_session"):
            points = sorted(
                (s["n"], s[key])
                for s in scenarios
                if s["impl"] == impl and s.get(key) is not None and s.get("kind", "waits") == "waits"
            )
            if not points:
                continue
            color, marker = styles[impl]
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, [max(y, 1e-3) for y in ys], marker=marker, color=color, label=LABELS[impl])
        if target is not None:
            ax.axhline(target, color="grey", linestyle="--", linewidth=1)
        ax.set_xscale("log")
        ax.set_yscale("log" if key != "latency_max_s" else "linear")
        ax.set_xlabel("concurrent waits (N)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    if axes.flat[0].get_legend_handles_labels()[0]:
        axes.flat[0].legend(fontsize=8)
    fig.suptitle(f"Milvus waits, {p:g} s poll interval — {report['machine']['cores']} cores, {report['generated']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Re-render the report and chart from an existing ``results.json`` (no measuring)."""
    import argparse
    import json

    repo = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=main.__doc__)
    parser.add_argument("--results", type=Path, default=repo / "benchmarks" / "results.json")
    parser.add_argument("--md", type=Path, default=repo / "BENCHMARKS.md")
    parser.add_argument("--png", type=Path, default=repo / "docs" / "img" / "benchmark.png")
    args = parser.parse_args(argv)
    report = json.loads(args.results.read_text())
    args.png.parent.mkdir(parents=True, exist_ok=True)
    render_chart(report, args.png)
    args.md.write_text(render_markdown(report, png_path=args.png, md_path=args.md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
