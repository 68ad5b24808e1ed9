"""The client: turns a sans-IO protocol flow into authenticated, rate-limited, retried HTTP.

``engine`` decides (auth, pacing, retries) without I/O, ``policy`` holds the retry and rate-limit rules,
and ``transport`` is the only module that talks HTTP (httpx, sync and async).
"""
