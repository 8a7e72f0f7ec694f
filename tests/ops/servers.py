"""A real server (`python -m service`) on a free loopback port, for the operations tests."""

from __future__ import annotations

import os
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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """A running ``python -m service``: its process, URL and log file (stderr and stdout)."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def log_text(self) -> str:
        """Everything the server wrote so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait for the exit status (killing it if it does not stop in time)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


@contextmanager
def running_server(
    tmp_path: Path, env: dict[str, str] | None = None, **settings: str
) -> Iterator[Server]:
    """Start ``python -m service`` with ``GDS_<NAME>=value`` for each setting (and `env`),
    wait until ``/readyz`` answers 200, and stop it (SIGTERM) afterwards."""
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
    log = tmp_path / f"server-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "service"], cwd=ROOT, env=environment, stdout=sink, stderr=sink
        )
    server = Server(process, port, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited with {process.returncode}:\n{server.log_text()}")
            try:
                if httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server not ready within 30 s:\n{server.log_text()}")
            time.sleep(0.05)
        yield server
    finally:
        if process.poll() is None:
            server.stop()
