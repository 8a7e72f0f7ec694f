"""python -m service: logging configuration from GDS_LOG_FORMAT / GDS_LOG_LEVEL."""

from __future__ import annotations

import json
import logging
import logging.config

from service.__main__ import JsonFormatter, log_config
from service.settings import Settings


def test_json_log_lines_are_json_objects() -> None:
    config = log_config(Settings(log_format="json", log_level="warning"))
    assert config["formatters"]["default"] == {"()": JsonFormatter}
    assert config["loggers"]["uvicorn"]["level"] == "WARNING"
    record = logging.LogRecord("service", logging.ERROR, __file__, 1, "boom %s", ("x",), None)
    record.request_id = "r-1"
    line = JsonFormatter().format(record)
    assert json.loads(line) | {"time": "t"} == {
        "time": "t",
        "level": "error",
        "logger": "service",
        "message": "boom x",
        "request_id": "r-1",
    }


def test_text_log_format() -> None:
    config = log_config(Settings(log_format="text"))
    assert "format" in config["formatters"]["default"]
