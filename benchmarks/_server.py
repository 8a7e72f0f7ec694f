"""A real server for the HTTP benchmarks: ``python -m service`` on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_server(
    env: Mapping[str, str] | None = None,
    argv: list[str] | None = None,
    quiet: bool = False,
    ready_path: str = "/readyz",
) -> Iterator[tuple[str, int]]:
    """Start the service (one worker, warning logs), yield ``(url, pid)`` once `ready_path`
    answers 200, stop it with SIGTERM (SIGKILL after 30 s).

    `env` goes on top of those settings (e.g. ``{"GDS_WORKERS": "2"}``); `argv` replaces
    ``python -m service`` (e.g. to run a variant of the app; ``{port}`` in it is replaced by
    the port); `quiet` discards its output.
    """
    port = free_port()
    if argv is not None:
        argv = [part.replace("{port}", str(port)) for part in argv]
    full_env = {
        **os.environ,
        "GDS_HOST": "127.0.0.1",
        "GDS_PORT": str(port),
        "GDS_WORKERS": "1",
        "GDS_LOG_LEVEL": "warning",
        "GDS_API_KEYS": "",
        **(env or {}),
    }
    output = subprocess.DEVNULL if quiet else None
    process = subprocess.Popen(
        argv or [sys.executable, "-m", "service"],
        cwd=ROOT,
        env=full_env,
        stdout=output,
        stderr=output,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with status {process.returncode}")
            try:
                if httpx.get(f"{url}{ready_path}", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready within 60 s")
            time.sleep(0.05)
        yield url, process.pid
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident set size so far (``VmHWM`` of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/<pid>/status (Linux only)")
