"""Hostile bodies against a real server: each is answered with a 4xx and a JSON body within a
bounded time, and the server stays healthy."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.helpers.servers import Server

pytestmark = pytest.mark.slow

JSON = {"Content-Type": "application/json"}
POINTS = ', "y": [1, 2, 3]}'

HOSTILE: dict[str, tuple[str, bytes, dict[str, str]]] = {
    "deep nesting": ("/fit", b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + POINTS.encode(), JSON),
    "deep nesting, top level": ("/fit", b"[" * 200_000, JSON),
    "1e308 numbers": ("/fit", b'{"x": [1e308, -1e308, 1e308], "y": [1e308, 0, -1e308]}', JSON),
    "literal 1e400": ("/fit", b'{"x": [1e400, 1, 2], "y": [1, 2, 3]}', JSON),
    "10,000-digit number": (
        "/fit",
        b'{"x": [' + b"9" * 10_000 + b", 1, 2]" + POINTS.encode(),
        JSON,
    ),
    "long array of strings": (
        "/fit",
        json.dumps({"x": ["a"] * 50_000, "y": ["b"] * 50_000}).encode(),
        JSON,
    ),
    "null items": ("/fit", b'{"x": [1, null, 3], "y": [null, 2, 3]}', JSON),
    "NaN and Infinity literals": ("/fit", b'{"x": [NaN, 1, 2], "y": [Infinity, 2, 3]}', JSON),
    "text/plain": ("/fit", b'{"x": [1, 2, 3], "y": [1, 2, 3]}', {"Content-Type": "text/plain"}),
    "form": ("/fit", b"x=1&x=2&y=1&y=2", {"Content-Type": "application/x-www-form-urlencoded"}),
    "no content type": ("/fit", b'{"x": [1, 2, 3], "y": [1, 2, 3]}', {}),
    "duplicate keys": ("/fit", b'{"x": [1, 2, 3], "y": [1, 2, 3], "x": [1, 2]}', JSON),
    "truncated JSON": ("/fit", b'{"x": [1, 2, 3], "y": [1, 2', JSON),
    "invalid UTF-8": ("/fit", b'{"x": [1, 2, 3], "y": [1, 2, 3], "\xff\xfe": 1}', JSON),
    "invalid UTF-8, plot": ("/fit/plot", b'{"x": [1, 2], "y": [1, 2\xff]}', JSON),
    "invalid UTF-8, batch": ("/fit/batch", b'{"fits": [\xc3\x28]}', JSON),
    "empty body": ("/fit", b"", JSON),
    "null body": ("/fit", b"null", JSON),
    "array body": ("/fit", b"[1, 2, 3]", JSON),
    "huge key": ("/fit", b'{"' + b"k" * 1_000_000 + b'": 1}', JSON),
    "batch of junk": ("/fit/batch", json.dumps({"fits": [None, 1, "a", [], {}]}).encode(), JSON),
    "negative and boolean epochs": ("/fit", b'{"x": [1, 2], "y": [1, 2], "epochs": true}', JSON),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_body_is_a_4xx_with_a_json_body(live_server: Server, name: str) -> None:
    route, body, headers = HOSTILE[name]
    response = httpx.post(f"{live_server.url}{route}", content=body, headers=headers, timeout=5)
    assert response.status_code in (400, 413, 415, 422), (response.status_code, response.text[:300])
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert detail and isinstance(detail, (str, list)), detail
    if response.status_code == 422:  # the validation errors, each with its place and message
        assert all({"type", "loc", "msg"} <= set(item) for item in detail), detail
    assert httpx.get(f"{live_server.url}/healthz", timeout=5).status_code == 200


def test_server_healthy_after_the_hostile_bodies(live_server: Server) -> None:
    assert httpx.get(f"{live_server.url}/healthz", timeout=5).status_code == 200
    assert httpx.get(f"{live_server.url}/readyz", timeout=5).status_code == 200
    assert "Traceback" not in live_server.log_text()


def test_a_long_array_of_bad_items_lists_a_few_and_counts_the_rest(live_server: Server) -> None:
    body = {"x": ["a"] * 50_000, "y": [1.0] * 49_999 + [None], "epochs": "many"}
    response = httpx.post(f"{live_server.url}/fit", json=body, timeout=5)
    assert response.status_code == 422
    detail = response.json()["detail"]
    by_field: dict[str, list[dict[str, object]]] = {}
    for item in detail:
        by_field.setdefault(str(item["loc"][1]), []).append(item)
    assert sorted(by_field) == ["epochs", "x", "y"]  # every bad field is reported
    assert len(by_field["x"]) == 21
    assert by_field["x"][-1] == {
        "type": "too_many_errors",
        "loc": ["body", "x"],
        "msg": "49980 more invalid items in x are not listed (at most 20 are)",
        "ctx": {"omitted": 49980, "listed": 20},
    }
    assert [item["loc"] for item in by_field["y"]] == [["body", "y", 49_999]]
