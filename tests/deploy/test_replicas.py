"""Two replicas behind nginx, with the committed deploy/nginx.conf: the file agrees with
docker-compose.yml; requests spread over both replicas, and none fails when one replica is
killed mid-run (the slow tests).

The replicas are ``python -m service`` on free loopback ports; nginx runs the committed file
with only the upstream's ``server`` line and the ``listen`` line replaced, its pid, logs and
temporary files in a scratch folder (``-p``). Without nginx on the machine the tests skip,
except under CI=true, where .ci/run installs it.
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from service.client import Client, FitServiceError
from service.examples import ARTICLE_X, ARTICLE_Y
from tests.helpers.servers import ROOT, free_port, nginx_binary, start_server, stop, wait_ready

NGINX_CONF = ROOT / "deploy" / "nginx.conf"
FIT: dict[str, Any] = {"x": ARTICLE_X, "y": ARTICLE_Y, "learning_rate": 0.01, "epochs": 10_000}
SERVER_LINE = re.compile(r"^(\s*)server\s+api:8000(\s[^;]*)?;", re.MULTILINE)
LISTEN_LINE = re.compile(r"^(\s*)listen\s+8000;", re.MULTILINE)


def render_conf(upstreams: list[str], listen: str) -> str:
    """The committed config with the replicas' addresses and the listen address put in."""
    text = NGINX_CONF.read_text(encoding="utf-8")
    match = SERVER_LINE.search(text)
    assert match is not None, "deploy/nginx.conf has no `server api:8000 ...;` upstream line"
    indent, params = match.group(1), match.group(2) or ""
    servers = "\n".join(f"{indent}server {address}{params};" for address in upstreams)
    text, count = SERVER_LINE.subn(servers.strip(), text)
    assert count == 1
    text, count = LISTEN_LINE.subn(rf"\g<1>listen {listen};", text)
    assert count == 1, "deploy/nginx.conf has no `listen 8000;` line"
    return text


ACCESS_LINE = re.compile(r" upstream=(?P<upstream>.*) upstream_status=.* request_id=(?P<id>\S+)$")


@dataclass
class Cluster:
    url: str
    replicas: dict[str, subprocess.Popen[bytes]]
    """Each replica's process by its address (what nginx's access log names as upstream)."""
    access_log: Path
    """nginx's standard output: its access log, one ``gds`` line per request."""

    def upstreams(self) -> dict[str, str]:
        """The upstream of each request logged so far, by request id: the replicas nginx
        tried, in order (``a, b`` when it retried on the other), the last one answered."""
        lines = self.access_log.read_text(encoding="utf-8").splitlines()
        found = (ACCESS_LINE.search(line) for line in lines)
        return {match["id"]: match["upstream"] for match in found if match}


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    nginx = nginx_binary()
    # Not pytest's tmp_path: nginx's workers (user nobody when run as root) must reach it.
    scratch = Path(tempfile.mkdtemp(prefix="gds-nginx-"))
    scratch.chmod(0o755)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        started = [start_server(scratch, log_level="warning") for _ in range(2)]
        processes.extend(server.process for server in started)
        replicas = {server.address: server.process for server in started}
        for server in started:
            server.wait_ready()
        port = free_port()
        conf = scratch / "nginx.conf"
        conf.write_text(render_conf(list(replicas), f"127.0.0.1:{port}"), encoding="utf-8")
        nginx_log, access_log = scratch / "nginx.log", scratch / "access.log"
        with nginx_log.open("wb") as log, access_log.open("wb") as access:
            proxy = subprocess.Popen(
                [nginx, "-p", str(scratch), "-c", str(conf), "-e", "stderr"]
                + ["-g", f"daemon off; pid {scratch / 'nginx.pid'};"],
                stdout=access,
                stderr=log,
            )
        processes.append(proxy)
        url = f"http://127.0.0.1:{port}"
        wait_ready(f"{url}/healthz", proxy, "nginx", nginx_log)
        yield Cluster(url, replicas, access_log)
    finally:
        for process in reversed(processes):
            stop(process)
        shutil.rmtree(scratch, ignore_errors=True)


def test_committed_config_matches_compose() -> None:
    """The body limit agrees with the replicas' GDS_MAX_BODY_BYTES; the retry rule is on."""
    text = NGINX_CONF.read_text(encoding="utf-8")
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    limit = int(compose["services"]["api"]["environment"]["GDS_MAX_BODY_BYTES"])
    size = re.search(r"client_max_body_size\s+(\d+)([kKmM]?);", text)
    assert size is not None
    scale = {"": 1, "k": 1024, "m": 1024 * 1024}[size.group(2).lower()]
    assert int(size.group(1)) * scale == limit
    assert re.search(r"proxy_next_upstream\s[^;]*\berror\b[^;]*\bnon_idempotent\b", text)
    assert re.search(r"^\s*keepalive\s+\d+;", text, re.MULTILINE)
    volumes = compose["services"]["nginx"]["volumes"]
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in volumes


@pytest.mark.slow
def test_requests_spread_over_both_replicas(cluster: Cluster) -> None:
    with httpx.Client(base_url=cluster.url, timeout=30) as client:
        for i in range(12):
            response = client.post("/fit", json=FIT, headers={"X-Request-ID": f"spread-{i}"})
            assert response.status_code == 200
            assert response.json()["n"] == 100
            assert "x-upstream" not in response.headers  # internal addresses stay internal
    upstreams = cluster.upstreams()
    served = [upstreams[f"spread-{i}"] for i in range(12)]
    assert set(served) == set(cluster.replicas)


@pytest.mark.slow
def test_no_request_fails_when_a_replica_is_killed(cluster: Cluster) -> None:
    """nginx retries every request that had no answer yet on the other replica; an answer
    already under way when its replica died cannot be retried by nginx, and the service's
    client sends such a request again (it is pure)."""
    victim, survivor = list(cluster.replicas)
    answers: list[tuple[int, str]] = []  # every answer's status and request id, retries included
    failures: list[BaseException] = []
    stop_sending = threading.Event()
    ids = itertools.count()

    def tag(request: httpx.Request) -> None:
        request.headers["X-Request-ID"] = f"kill-{next(ids)}"

    def record(response: httpx.Response) -> None:
        answers.append((response.status_code, response.request.headers["x-request-id"]))

    def send() -> None:
        with Client(cluster.url, timeout=30) as client:
            client._http.event_hooks["request"].append(tag)
            client._http.event_hooks["response"].append(record)
            while not stop_sending.is_set():
                try:
                    assert client.fit(**FIT).n == 100
                except (FitServiceError, AssertionError) as error:
                    failures.append(error)
                    return

    senders = [threading.Thread(target=send) for _ in range(4)]
    for sender in senders:
        sender.start()
    try:
        deadline = time.monotonic() + 20
        while len(answers) < 40 and time.monotonic() < deadline:
            time.sleep(0.01)
        cluster.replicas[victim].kill()  # SIGKILL: no graceful drain, connections just drop
        cluster.replicas[victim].wait()
        killed_at = len(answers)
        while len(answers) < killed_at + 60 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop_sending.set()
        for sender in senders:
            sender.join(timeout=30)
    assert failures == []
    assert len(answers) >= killed_at + 60
    assert [status for status, _ in answers if status != 200] == []
    upstreams = cluster.upstreams()
    served = [upstreams[request_id] for _, request_id in answers]
    assert set(served[:killed_at]) >= {victim, survivor}
    # After the kill, every answer came from the survivor (possibly after trying the victim).
    assert all(upstream.endswith(survivor) for upstream in served[killed_at + 8 :])
