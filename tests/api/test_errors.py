"""Core errors as HTTP (service/errors.py), 413 before parsing, and no 500 with internals."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import numpy as np
import pytest

from service import core
from service.errors import error_detail

pytestmark = pytest.mark.anyio

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
LINE = {"x": [0, 1, 2, 3], "y": [1, 3, 5, 7]}


async def test_fit_diverged_is_422_with_epoch_and_bound(client: httpx.AsyncClient) -> None:
    response = await client.post("/fit", json={**LINE, "learning_rate": 5})
    assert response.status_code == 422
    # Simultaneous GD is stable below 2 / (largest eigenvalue of the MSE's Hessian).
    hessian = 2 * np.array([[3.5, 1.5], [1.5, 1.0]])  # 2 [[E x^2, E x], [E x, 1]], x = 0..3
    bound = 2 / float(np.linalg.eigvalsh(hessian).max())
    body = response.json()
    (item,) = body["detail"]
    assert item["ctx"]["max_stable_learning_rate"] == pytest.approx(bound, rel=1e-3)
    epoch = item["ctx"]["epoch"]
    assert body == {
        "detail": [
            {
                "type": "diverged",
                "loc": ["body", "learning_rate"],
                "msg": (
                    f"the descent diverged at epoch {epoch}: learning_rate 5 is too large for "
                    f"this data; the largest stable learning rate is "
                    f"{item['ctx']['max_stable_learning_rate']:.6g}"
                ),
                "ctx": {"epoch": epoch, "max_stable_learning_rate": pytest.approx(bound, 1e-3)},
            }
        ]
    }
    assert response.headers["x-request-id"]
    assert response.headers["server-timing"].startswith("fit;dur=")


_CASES = [
    pytest.param(
        core.DataError("y values are too large", field="y"),
        {"type": "data_error", "loc": ["body", "y"], "msg": "y values are too large"},
        id="data",
    ),
    pytest.param(
        core.ParameterError("epochs must be at least 1", field="epochs"),
        {"type": "parameter_error", "loc": ["body", "epochs"], "msg": "epochs must be at least 1"},
        id="parameter",
    ),
    pytest.param(
        core.DivergedError(epoch=3, learning_rate=2.0, max_stable_learning_rate=0.5),
        {
            "type": "diverged",
            "loc": ["body", "learning_rate"],
            "msg": (
                "the descent diverged at epoch 3: learning_rate 2 is too large for this "
                "data; the largest stable learning rate is 0.5"
            ),
            "ctx": {"epoch": 3, "max_stable_learning_rate": 0.5},
        },
        id="diverged",
    ),
]


@pytest.mark.parametrize(("error", "detail"), _CASES)
async def test_core_errors_map_to_422(
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    error: core.FitError,
    detail: dict[str, Any],
) -> None:
    def refuse(*args: object) -> core.FitResult:
        raise error

    monkeypatch.setattr(core, "fit_moments", refuse)
    response = await client.post("/fit", json=LINE)
    assert response.status_code == 422
    assert response.json() == {"detail": [detail]}
    assert error_detail(error) == detail


def test_the_parametrized_cases_cover_every_core_error_class() -> None:
    # A new FitError subclass must get a case in test_core_errors_map_to_422 above.
    covered = {type(case.values[0]) for case in _CASES}
    assert covered == set(core.FitError.__subclasses__())


async def test_unexpected_error_is_500_without_internals(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def crash(*args: object) -> core.FitResult:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(core, "fit_moments", crash)
    response = await client.post("/fit", json=LINE, headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error", "request_id": "req-500"}
    assert response.headers["x-request-id"] == "req-500"
    assert re.fullmatch(r"fit;dur=\d+\.\d{3}", response.headers["server-timing"])
    assert "secret" not in response.text
    assert any("req-500" in record.getMessage() for record in caplog.records)


TOO_LARGE = "the request body is larger than the limit of 100 bytes (max_body_bytes)"
"""The one 413 body, whether the body announced its length or was streamed."""


async def test_body_over_limit_is_413_before_parsing(make_client: ClientFactory) -> None:
    async with make_client(max_body_bytes=100) as client:
        response = await client.post(
            "/fit", content=b"{" + b" " * 200 + b"}", headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413
    assert response.json() == {"detail": TOO_LARGE}
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_chunked_body_over_limit_is_413(make_client: ClientFactory) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"x": ['
        for _ in range(100):
            yield b"1.0, "
        yield b'2.0], "y": [1, 2]}'

    async with make_client(max_body_bytes=100) as client:
        response = await client.post(
            "/fit", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413
    assert response.json() == {"detail": TOO_LARGE}
    assert response.headers["connection"] == "close"


async def test_body_at_limit_is_accepted(make_client: ClientFactory) -> None:
    body = b'{"x": [0, 1], "y": [0, 1]}'
    async with make_client(max_body_bytes=len(body)) as client:
        response = await client.post(
            "/fit", content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 200
