"""The OpenAPI document: the committed openapi/openapi.json is the app's (regenerate with
`make openapi`), every field is described and has an example, the example is the article's
data and runs; /docs and /redoc show it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from service.__main__ import main, openapi_json
from service.examples import ARTICLE_X, ARTICLE_Y
from tests.helpers.apps import app_with
from tests.helpers.fits import core_answer
from tests.helpers.servers import ROOT

OPENAPI = ROOT / "openapi" / "openapi.json"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    """The document of the app built with default settings."""
    return app_with().openapi()


def test_committed_openapi_matches_the_app(schema: dict[str, Any]) -> None:
    committed = json.loads(OPENAPI.read_text(encoding="utf-8"))
    assert committed == schema, "openapi/openapi.json is stale: run `make openapi` and commit it"


def test_openapi_file_is_byte_for_byte_the_export() -> None:
    assert OPENAPI.read_text(encoding="utf-8") == openapi_json()


def test_openapi_does_not_depend_on_settings(schema: dict[str, Any]) -> None:
    custom = app_with(max_points=5, api_keys=["k"], cors_origins=["https://example.org"])
    assert custom.openapi() == schema


def test_main_prints_openapi(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["openapi"]) == 0
    assert capsys.readouterr().out == openapi_json()
    assert main(["bogus"]) == 2


def test_openapi_documents_every_field(schema: dict[str, Any]) -> None:
    schemas = schema["components"]["schemas"]
    ours = [
        "FitRequest",
        "FitResponse",
        "Moments",
        "Optimum",
        "History",
        "BatchFitRequest",
        "BatchFitResponse",
        "Info",
        "Limits",
    ]
    for name in ours:
        for field, spec in schemas[name]["properties"].items():
            assert spec.get("description"), f"{name}.{field} has no description"
    for name in ("FitRequest", "FitResponse", "Moments", "BatchFitRequest", "Info", "Health"):
        for field, spec in schemas[name]["properties"].items():
            assert "examples" in spec, f"{name}.{field} has no example"


def test_operation_ids(schema: dict[str, Any]) -> None:
    paths = schema["paths"]
    assert paths["/fit"]["post"]["operationId"] == "fit"
    assert paths["/fit/batch"]["post"]["operationId"] == "fit_batch"
    assert paths["/fit/plot"]["post"]["operationId"] == "fit_plot"


def test_plot_is_documented_with_both_image_types(schema: dict[str, Any]) -> None:
    operation = schema["paths"]["/fit/plot"]["post"]
    assert set(operation["responses"]["200"]["content"]) == {"image/png", "image/svg+xml"}
    assert {"422", "501"} <= set(operation["responses"])
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/FitRequest"}
    assert "/" not in schema["paths"]  # the playground page is not part of the API


@pytest.mark.anyio
async def test_openapi_example_is_the_article_data_and_runs(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    (example,) = schema["components"]["schemas"]["FitRequest"]["examples"]
    assert example["x"] == ARTICLE_X and example["y"] == ARTICLE_Y
    assert len(ARTICLE_X) == 100
    response = await client.post("/fit", json=example)
    assert response.status_code == 200
    options = {"learning_rate" if k == "lr" else k: v for k, v in example.items()}
    del options["x"], options["y"]
    assert response.json() == core_answer(ARTICLE_X, ARTICLE_Y, **options)


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_docs_pages(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text
