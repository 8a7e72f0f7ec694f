"""deploy/nginx.conf in front of a real replica: what a client sees and what the service logs.

nginx runs the committed file with only its upstream ``server`` line and ``listen`` line
replaced (as tests/deploy/test_replicas.py does), its pid, logs and temporary files in a
scratch folder. The client connects from 127.0.0.2, so its address differs from nginx's
(127.0.0.1): the service's access line must name 127.0.0.2 (nginx's X-Forwarded-For,
trusted from GDS_FORWARDED_ALLOW_IPS), never nginx's address nor a forged header.
Without nginx on the machine the tests skip, except under CI=true, where .ci/run installs it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.helpers.servers import ROOT, Server, free_port, nginx_binary, start_server, stop

pytestmark = pytest.mark.slow

NGINX_CONF = ROOT / "deploy" / "nginx.conf"
FIT = {"x": [1.0, 2.0, 3.0], "y": [2.0, 4.0, 6.5], "epochs": 100}
CLIENT_ADDRESS = "127.0.0.2"


@dataclass
class Proxy:
    url: str
    replica: Server


@pytest.fixture(scope="module")
def proxy() -> Iterator[Proxy]:
    nginx = nginx_binary()
    # Not pytest's tmp_path: nginx's workers (user nobody when run as root) must reach it.
    scratch = Path(tempfile.mkdtemp(prefix="gds-proxy-"))
    scratch.chmod(0o755)
    replica = start_server(scratch, log_format="json", forwarded_allow_ips="127.0.0.1")
    process = None
    try:
        replica.wait_ready()
        port = free_port()
        text = NGINX_CONF.read_text(encoding="utf-8")
        text, servers = re.subn(
            r"^(\s*)server\s+api:8000(\s[^;]*)?;",
            rf"\g<1>server {replica.address}\g<2>;",
            text,
            flags=re.MULTILINE,
        )
        text, listens = re.subn(
            r"^(\s*)listen\s+8000;", rf"\g<1>listen 127.0.0.1:{port};", text, flags=re.MULTILINE
        )
        assert servers == 1 and listens == 1
        (scratch / "logs").mkdir()
        (scratch / "nginx.conf").write_text(text, encoding="utf-8")
        command = [nginx, "-p", str(scratch), "-c", str(scratch / "nginx.conf")]
        # In the foreground (daemon off), so that stopping the process stops nginx.
        command += ["-g", f"daemon off; pid {scratch / 'nginx.pid'};"]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        with (scratch / "nginx.out").open("wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=out)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/nginx-health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, (scratch / "nginx.out").read_text()
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)
        yield Proxy(url, replica)
    finally:
        if process is not None:
            stop(process)
        replica.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def access_line(replica: Server, request_id: str) -> dict[str, object]:
    """The replica's JSON access line for `request_id` (waiting a moment for it)."""
    deadline = time.monotonic() + 10
    while True:
        for line in replica.log_text().splitlines():
            if request_id in line and line.startswith("{"):
                record: dict[str, object] = json.loads(line)
                if record.get("logger") == "service.access":
                    return record
        assert time.monotonic() < deadline, f"no access line for {request_id}"
        time.sleep(0.05)


def test_client_address_is_logged_behind_nginx_and_cannot_be_forged(proxy: Proxy) -> None:
    transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS)
    with httpx.Client(transport=transport, base_url=proxy.url, timeout=30) as client:
        response = client.post("/fit", json=FIT, headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 200, response.text
    record = access_line(proxy.replica, response.headers["x-request-id"])
    assert record["client"] == CLIENT_ADDRESS


def test_answers_name_no_internal_address_nor_nginx_version(proxy: Proxy) -> None:
    with httpx.Client(base_url=proxy.url, timeout=30) as client:
        answers = [client.post("/fit", json=FIT), client.get("/healthz"), client.get("/nope")]
    for response in answers:
        assert "x-upstream" not in response.headers
        assert proxy.replica.address not in str(response.headers)
        assert response.headers.get("server", "nginx") == "nginx"  # no version
        assert proxy.replica.address not in response.text


def test_nginx_answers_its_own_health_check(proxy: Proxy) -> None:
    response = httpx.get(proxy.url + "/nginx-health", timeout=10)
    assert response.status_code == 200 and response.text == "ok\n"
