"""Logs (GDS_LOG_FORMAT, GDS_LOG_LEVEL): one JSON object per line (the server's own lines too)
or one text line ending with the request id; one access line per request, never the request
body; tracebacks in the log, never in the answer."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from service.logs import JsonFormatter, TextFormatter, log_config
from service.settings import Settings
from tests.helpers.apps import app_with, serve
from tests.helpers.servers import running_server

SECRET = 2.987654321
"""A number sent in request bodies: it must never appear in a log."""


TEXT_ACCESS_LINE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO service\.access: "
    r"GET /healthz 200 \d+\.\d\d ms \[text-1\]"
)
"""What a text access line looks like: time, level, logger, message, then the request id."""


@contextmanager
def service_log(log_format: str) -> Iterator[io.StringIO]:
    """The service's log configuration (level info), writing to a buffer instead of stderr."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logging.config.dictConfig(log_config(Settings(log_format=log_format, log_level="info")))
    buffer = io.StringIO()
    (handler,) = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The service's JSON log, in a buffer."""
    with service_log("json") as buffer:
        yield buffer


def lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_json_formatter_writes_request_fields_and_traceback_on_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("service.x").makeRecord(
            "service.x",
            logging.ERROR,
            __file__,
            1,
            "failed %s",
            ("here",),
            exc_info=sys.exc_info(),
            extra={"request_id": "r-1", "method": "POST", "path": "/fit", "status": 500},
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["time"].endswith("+00:00")
    assert entry | {"time": "t", "exception": "e"} == {
        "time": "t",
        "level": "error",
        "logger": "service.x",
        "message": "failed here",
        "request_id": "r-1",
        "method": "POST",
        "path": "/fit",
        "status": 500,
        "exception": "e",
    }
    assert "Traceback" in entry["exception"] and "ValueError: boom" in entry["exception"]


@pytest.mark.parametrize(("level", "want"), [("warning", "WARNING"), ("trace", "DEBUG")])
def test_log_level_applies_to_every_logger(level: str, want: str) -> None:
    config = log_config(Settings(log_level=level))
    assert config["root"]["level"] == want
    levels = {name: logger["level"] for name, logger in config["loggers"].items()}
    assert levels == dict.fromkeys(["uvicorn", "uvicorn.error", "service"], want)
    assert config["formatters"]["default"]["class"] == "service.logs.TextFormatter"
    assert log_config(Settings(log_format="json"))["formatters"]["default"] == {"()": JsonFormatter}


def test_text_formatter_appends_the_request_id() -> None:
    record = logging.makeLogRecord({"name": "service.access", "msg": "GET /healthz 200"})
    record.request_id = "abc"
    assert TextFormatter("%(name)s: %(message)s").format(record) == (
        "service.access: GET /healthz 200 [abc]"
    )


@pytest.mark.anyio
async def test_one_access_line_per_request_without_the_body(json_log: io.StringIO) -> None:
    async with serve(app_with()) as client:
        body = {"x": [0, 1, 2, SECRET], "y": [1, 3, 5, 7]}
        await client.post("/fit?token=q", json=body, headers={"X-Request-ID": "req-1"})
        await client.get("/healthz", headers={"X-Request-ID": "req-2"})
    access = [entry for entry in lines(json_log) if entry["logger"] == "service.access"]
    assert [entry["request_id"] for entry in access] == ["req-1", "req-2"]
    first = access[0]
    # The message's duration is the unrounded one to 2 decimals, the field's rounded to 3:
    # they agree within a rounding of each (0.6749 ms reads 0.67 beside a field of 0.675).
    stated = re.fullmatch(r"POST /fit 200 (\d+\.\d\d) ms", str(first["message"]))
    assert stated is not None, first["message"]
    assert abs(float(stated[1]) - first["duration_ms"]) <= 0.0051
    assert first | {"time": "t", "duration_ms": 1.0, "message": "m"} == {
        "time": "t",
        "level": "info",
        "logger": "service.access",
        "message": "m",
        "request_id": "req-1",
        "method": "POST",
        "path": "/fit",
        "route": "/fit",
        "status": 200,
        "duration_ms": 1.0,
        "client": "127.0.0.1",
    }
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] > 0
    ours = [entry for entry in lines(json_log) if str(entry["logger"]).startswith("service")]
    assert str(SECRET) not in json.dumps(ours)
    assert "token" not in json.dumps(ours)


@pytest.mark.anyio
async def test_text_access_line_ends_with_the_request_id() -> None:
    with service_log("text") as buffer:
        async with serve(app_with()) as client:
            assert (await client.get("/healthz", headers={"X-Request-ID": "text-1"})).is_success
    (line,) = [line for line in buffer.getvalue().splitlines() if "service.access" in line]
    assert TEXT_ACCESS_LINE.fullmatch(line), line


@pytest.mark.anyio
async def test_unexpected_error_traceback_in_log_not_in_answer(json_log: io.StringIO) -> None:
    app = app_with()

    def explode() -> None:
        raise RuntimeError("secret internals at /srv/app.py")

    app.add_api_route("/explode", explode)
    async with serve(app) as client:
        response = await client.get("/explode", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error", "request_id": "req-500"}
    assert response.headers["x-request-id"] == "req-500"
    assert "secret" not in response.text and "Traceback" not in response.text
    entries = lines(json_log)
    (error,) = [entry for entry in entries if entry["logger"] == "service.errors"]
    assert error["request_id"] == "req-500"
    assert "Traceback" in str(error["exception"])
    assert "RuntimeError: secret internals" in str(error["exception"])
    (access,) = [entry for entry in entries if entry["logger"] == "service.access"]
    assert (access["status"], access["request_id"]) == (500, "req-500")


@pytest.mark.anyio
async def test_a_library_warning_is_a_json_log_line(json_log: io.StringIO) -> None:
    """A warning (say NumPy's RuntimeWarning) while the app runs goes through the log's
    handler, one JSON object, not raw text on stderr."""
    logging.captureWarnings(False)  # an earlier lifespan in this process already set it
    with warnings.catch_warnings():  # restores warnings.showwarning afterwards
        warnings.simplefilter("always")
        try:
            async with serve(app_with()) as client:
                assert (await client.get("/healthz")).is_success
                warnings.warn("overflow encountered in multiply", RuntimeWarning, stacklevel=1)
        finally:
            logging.captureWarnings(False)
    (entry,) = [entry for entry in lines(json_log) if entry["logger"] == "py.warnings"]
    assert "RuntimeWarning: overflow encountered in multiply" in str(entry["message"])
    assert entry["level"] == "warning"


@pytest.mark.slow
def test_real_server_writes_only_json_lines(tmp_path: Path) -> None:
    with running_server(tmp_path, log_format="json") as server:
        with httpx.Client(base_url=server.url) as client:
            body = {"x": [0, 1, 2, SECRET], "y": [1, 3, 5, 7]}
            assert client.post("/fit", json=body, headers={"X-Request-ID": "e2e-1"}).is_success
        assert server.stop() == 0
        text = server.log_text()
    entries = [json.loads(line) for line in text.splitlines()]  # every line is one object
    loggers = {entry["logger"] for entry in entries}
    assert {"uvicorn.error", "service.access"} <= loggers
    assert "uvicorn.access" not in loggers
    assert any("Started server process" in str(entry["message"]) for entry in entries)
    (fit,) = [entry for entry in entries if entry.get("request_id") == "e2e-1"]
    assert (fit["method"], fit["path"], fit["status"]) == ("POST", "/fit", 200)
    assert str(SECRET) not in text


@pytest.mark.slow
def test_real_server_text_logs(tmp_path: Path) -> None:
    with running_server(tmp_path, log_format="text") as server:
        assert httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": "text-1"}).is_success
        assert server.stop() == 0
    text = server.log_text()
    (line,) = [line for line in text.splitlines() if "/healthz" in line]
    assert TEXT_ACCESS_LINE.fullmatch(line), line
    assert "Started server process" in text
