"""Real servers for the tests: ``python -m service`` on a free 127.0.0.1 port.

Each server writes its output to a log file, counts as ready once ``/readyz`` answers 200,
and is stopped with SIGTERM (SIGKILL if it has not exited 30 s later).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
"""The repository: where the servers start, and where the committed files are."""
READY_SECONDS = 30


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(url: str, process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    """Poll `url` until it answers 200; fail the test (with `log`) if `process` exits first
    or `READY_SECONDS` pass."""
    deadline = time.monotonic() + READY_SECONDS
    while True:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}:\n{_read(log)}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{what} was not ready within {READY_SECONDS} s:\n{_read(log)}")
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM (if still running), then the exit status; SIGKILL if it does not stop in time
    (the status is then -9, which no test takes for a clean exit)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def _read(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")


class Server:
    """A started ``python -m service``: its process, port, URL and log file (stdout and stderr)."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self.url = f"http://{self.address}"
        self.log = log

    def log_text(self) -> str:
        """Everything the server wrote so far."""
        return _read(self.log)

    def wait_ready(self) -> None:
        wait_ready(f"{self.url}/readyz", self.process, f"server {self.address}", self.log)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then the exit status (see `stop`)."""
        return stop(self.process, timeout)


def start_server(log_dir: Path, env: dict[str, str] | None = None, **settings: str) -> Server:
    """Start ``python -m service`` without waiting for it: one worker, no API keys, no CORS,
    info logs, ``GDS_<NAME>=value`` for each of `settings`, then `env` on top. The log goes to
    ``log_dir/server-<port>.log``. An inherited PROMETHEUS_MULTIPROC_DIR is dropped unless
    `env` sets it."""
    port = free_port()
    environment = {
        **os.environ,
        "GDS_HOST": "127.0.0.1",
        "GDS_PORT": str(port),
        "GDS_WORKERS": "1",
        "GDS_API_KEYS": "",
        "GDS_CORS_ORIGINS": "",
        "GDS_LOG_LEVEL": "info",
        **{f"GDS_{name.upper()}": value for name, value in settings.items()},
        **(env or {}),
    }
    if env is None or "PROMETHEUS_MULTIPROC_DIR" not in env:
        environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = log_dir / f"server-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "service"], cwd=ROOT, env=environment, stdout=sink, stderr=sink
        )
    return Server(process, port, log)


@contextmanager
def running_server(
    log_dir: Path, env: dict[str, str] | None = None, **settings: str
) -> Iterator[Server]:
    """`start_server`, wait until ``/readyz`` answers 200, and stop it (SIGTERM) afterwards."""
    server = start_server(log_dir, env, **settings)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def nginx_binary() -> str:
    """The path of nginx, or a skip (a failure under CI=true, where .ci/run installs it)."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is required in CI (.ci/run installs Debian's package)")
        pytest.skip("nginx is not installed on this machine (apt-get install nginx; CI has it)")
    return found
