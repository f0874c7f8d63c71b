"""How big each benchmark runs: the full figures for README, or a smoke run for the test suite."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import requests

from bench import REPO


@dataclass(frozen=True)
class Size:
    name: str
    token_calls: int
    warmup: int
    stampede_threads: int
    stampede_processes: int
    process_start_s: float
    token_delay_ms: int
    runs: int
    small_tables: tuple[int, int, int]  # authorizations, definitions, runs
    large_tables: tuple[int, int, int]
    deep_page: int
    page_repeats: int
    import_pages: int
    page_bytes: int
    hang_seconds: float  # how long the token endpoint hangs while other writes are measured
    hang_writes: int
    # Background runs (bench/background.py)
    hang_runs: int  # runs queued through the web form that hang, all at once
    hang_endpoint_s: float  # how long their endpoint takes to answer
    hang_sample_s: float  # how long /healthz is sampled, with and without the hang
    health_samples: int
    latency_runs: int  # runs submitted one at a time to one idle worker
    throughput_runs: int  # runs inline, and queued for throughput_workers workers
    throughput_workers: int
    throughput_rounds: int  # inline then queued, this many times: the median round is reported
    api_delay_ms: int  # the API's answer time in the second throughput figure
    slow_api_runs: int  # runs inline, and queued, against that API


FULL = Size(
    name="full",
    token_calls=5000,
    warmup=200,
    stampede_threads=50,
    stampede_processes=4,
    process_start_s=5,
    token_delay_ms=200,
    runs=1000,
    small_tables=(1000, 100, 10000),
    large_tables=(10000, 1000, 100000),
    deep_page=500,
    page_repeats=15,
    import_pages=200,
    page_bytes=512 * 1024,
    hang_seconds=5,
    hang_writes=50,
    hang_runs=20,
    hang_endpoint_s=20,  # within a definition's default 30 s timeout: the runs succeed
    hang_sample_s=10,
    health_samples=400,
    latency_runs=100,
    throughput_runs=1000,
    throughput_workers=2,
    throughput_rounds=5,  # the machine's speed swings within a round: a median of five
    api_delay_ms=50,
    slow_api_runs=400,
)

SMOKE = Size(
    name="smoke",
    token_calls=50,
    warmup=10,
    stampede_threads=5,
    stampede_processes=2,
    process_start_s=4,
    token_delay_ms=100,
    runs=20,
    small_tables=(30, 5, 80),
    large_tables=(90, 15, 300),
    deep_page=2,
    page_repeats=1,
    import_pages=4,
    page_bytes=16 * 1024,
    hang_seconds=1,
    hang_writes=6,
    hang_runs=3,
    hang_endpoint_s=3,
    hang_sample_s=1,
    health_samples=25,
    latency_runs=3,
    throughput_runs=20,
    throughput_workers=2,
    throughput_rounds=1,
    api_delay_ms=20,
    slow_api_runs=10,
)


def get(name: str) -> Size:
    return {"full": FULL, "smoke": SMOKE}[name]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def local_server(size: Size) -> Iterator[str]:
    """The bench HTTP server (token endpoint, API, import pages) in its own process."""
    port = free_port()
    args = [str(port), str(size.token_delay_ms), str(size.page_bytes), str(size.import_pages)]
    process = subprocess.Popen([sys.executable, "-m", "bench.server", *args], cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(f"{url}/stats", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)
