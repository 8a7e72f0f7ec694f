"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis, in
process over ASGI): bounded and derandomized, so every run sends the same requests.

No answer may be a 5xx, and every answer must conform to the document: a documented status
code and content type, headers and a body matching the documented schema. Arrow IPC bodies,
which schemathesis cannot make from a schema, are real streams of generated columns (x, y and
sometimes a weight column), or junk. And the three encodings of the same generated points
(JSON, CSV, Arrow) get the same status and the same answer, byte for byte.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation.case import Case

from service.app import create_app
from service.settings import Settings

ARROW = "application/vnd.apache.arrow.stream"


def arrow_stream(columns: dict[str, list[float]]) -> bytes:
    """An Arrow IPC stream of one record batch with these columns."""
    import pyarrow as pa

    table = pa.table(columns)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:  # pragma: no cover - the arrow extra is not installed
        return False
    return True


def _columns(rows: list[tuple[float, float, float]], weighted: bool) -> dict[str, list[float]]:
    columns = {"x": [row[0] for row in rows], "y": [row[1] for row in rows]}
    if weighted:
        columns["weight"] = [row[2] for row in rows]
    return columns


def arrow_bodies() -> st.SearchStrategy[bytes]:
    """Streams of x, y and perhaps weight columns (any float64, NaN and infinities too), or
    junk bytes."""
    junk = st.binary(max_size=64)
    if not _has_pyarrow():  # pragma: no cover - the arrow extra is not installed
        return junk
    rows = st.lists(st.tuples(st.floats(), st.floats(), st.floats()), max_size=12)
    streams = st.builds(lambda r, w: arrow_stream(_columns(r, w)), rows, st.booleans())
    return st.one_of(streams, junk)


schemathesis.openapi.media_type(ARROW, arrow_bodies())

# Small limits keep each generated fit cheap; answers over them are documented 422s.
APP = create_app(Settings(max_epochs=100_000, max_history_points=500, max_points=10_000))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
# from_asgi starts the app's lifespan and never stops it, so the lifespan's gc.freeze() would
# stay in force, and Hypothesis' register_random (6.130) cannot see frozen referrers.
gc.unfreeze()

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@schema.parametrize()
@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case: Case) -> None:
    case.call_and_validate(checks=CHECKS)


@pytest.mark.anyio
async def test_junk_arrow_body_is_a_422(client: httpx.AsyncClient) -> None:
    for junk in (b"\x00\x00\x00\xff", b"junk", b""):
        response = await client.post("/fit", content=junk, headers={"Content-Type": ARROW})
        assert response.status_code == 422, (junk, response.text)
        assert response.json()["detail"][0]["type"] == "arrow_invalid"


FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)
TABLE_QUERY = "epochs=500&learning_rate=0.01&history_points=3"


@given(
    rows=st.lists(
        st.tuples(FINITE, FINITE, st.one_of(st.just(1.0), st.floats(-1.0, 1e6))),
        min_size=0,
        max_size=20,
    ),
    weighted=st.booleans(),
)
@settings(max_examples=60, derandomize=True, deadline=None, database=None)
def test_json_csv_and_arrow_answer_alike(
    rows: list[tuple[float, float, float]], weighted: bool
) -> None:
    """Any finite points (weights too, negative ones included): the same status and the
    same bytes whichever encoding carried them."""
    columns = _columns(rows, weighted)
    body: dict[str, Any] = {"x": columns["x"], "y": columns["y"]}
    if weighted:
        body["weights"] = columns["weight"]
    names = list(columns)
    lines = [",".join(names)] + [
        ",".join(repr(columns[name][i]) for name in names) for i in range(len(rows))
    ]
    json_body = orjson.dumps({**body, "epochs": 500, "learning_rate": 0.01, "history_points": 3})
    tables = [(("\n".join(lines) + "\n").encode(), "text/csv")]
    if _has_pyarrow():
        tables.append((arrow_stream(columns), ARROW))

    async def post_all() -> tuple[httpx.Response, list[httpx.Response]]:
        transport = httpx.ASGITransport(app=APP)
        async with httpx.AsyncClient(transport=transport, base_url="http://fuzz") as client:
            by_json = await client.post(
                "/fit", content=json_body, headers={"Content-Type": "application/json"}
            )
            answers = [
                await client.post(
                    f"/fit?{TABLE_QUERY}", content=content, headers={"Content-Type": media}
                )
                for content, media in tables
            ]
        return by_json, answers

    by_json, answers = asyncio.run(post_all())
    assert by_json.status_code in (200, 422)
    for answer in answers:
        assert answer.status_code == by_json.status_code
        if by_json.status_code == 200:
            assert answer.content == by_json.content
