"""Core errors as HTTP answers (service/errors.py): every core error class is mapped to its
422, and an unexpected error is a 500 without internals. Validation 422s: test_validation.py;
the 413: tests/ops/test_body_limit.py."""

from __future__ import annotations

import re
from typing import Any

import httpx
import numpy as np
import pytest

from service import core
from service.errors import error_detail
from tests.helpers.fits import LINE

pytestmark = pytest.mark.anyio


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
    monkeypatch.setattr(core, "fit_points", refuse)
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
    monkeypatch.setattr(core, "fit_points", crash)
    response = await client.post("/fit", json=LINE, headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error", "request_id": "req-500"}
    assert response.headers["x-request-id"] == "req-500"
    assert re.fullmatch(r"fit;dur=\d+\.\d{3}", response.headers["server-timing"])
    assert "secret" not in response.text
    assert any("req-500" in record.getMessage() for record in caplog.records)


async def test_inconsistent_moments_are_the_cores_data_error(client: httpx.AsyncClient) -> None:
    moments = {"n": 4, "mean_x": 0, "mean_y": 0, "sxx": 1, "sxy": 5, "syy": 1}
    single = await client.post("/fit", json={"moments": moments})
    batch = await client.post("/fit/batch", json={"fits": [LINE, {"moments": moments}]})
    assert single.status_code == batch.status_code == 422
    (item,) = single.json()["detail"]
    assert (item["type"], item["loc"]) == ("data_error", ["body", "moments"])
    assert "Cauchy-Schwarz" in item["msg"]
    # In a batch the same error fails the whole request, at the item's place.
    assert batch.json()["detail"] == [{**item, "loc": ["body", "fits", 1, "moments"]}]
